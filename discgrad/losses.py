"""Losses on solver outputs.

The Fenchel-Young loss of Berthet et al. (2020) lives with its estimator:
:class:`discgrad.FenchelYoungLoss` (in :mod:`discgrad.estimators.perturbed`). It is not
imported here, so this module stays free of the estimators.

Book: chapter 2 (the baseline zoo) and the experiment chapters.
"""
from __future__ import annotations

import math

import torch

from discgrad.solvers.base import ArgumentTypeError, check_finite, check_tensor

__all__ = ["hamming_loss", "reduce_batch"]


REDUCTIONS = ("mean", "sum", "none")


def reduce_batch(per_instance: torch.Tensor, reduction: str) -> torch.Tensor:
    """``per_instance`` losses ``(B,)`` averaged (``"mean"``), summed (``"sum"``) or kept (``"none"``).

    Example:
        >>> reduce_batch(torch.tensor([1.0, 3.0]), "sum"), reduce_batch(torch.tensor([1.0, 3.0]), "none")
        (tensor(4.), tensor([1., 3.]))
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if reduction == "mean":
        return per_instance.mean()
    return per_instance.sum() if reduction == "sum" else per_instance


def _pair(y_pred, y_true, pred: str = "y_pred", true: str = "y_true", ndim: int | None = None,
          rule: str = "(B, *shape)") -> None:
    """Check a prediction and its target: dense tensors with values, the same shape
    ``(B, *shape)`` (``ndim`` dimensions if given), none empty, the prediction floating,
    both finite. Raises ``ValueError`` (``TypeError`` for a wrong type) naming the argument."""
    check_tensor(y_pred, pred)
    check_tensor(y_true, true)
    if y_pred.shape != y_true.shape or (ndim is not None and y_pred.dim() != ndim):
        raise ValueError(f"{pred} and {true} must both be of the same shape {rule}, "
                         f"got {tuple(y_pred.shape)} and {tuple(y_true.shape)}")
    if y_pred.dim() < 2:
        raise ValueError(f"{pred} must be a batch of shape (B, *shape), got {tuple(y_pred.shape)}")
    if not y_pred.is_floating_point():
        raise ArgumentTypeError(f"{pred} must be a floating-point tensor, got dtype {y_pred.dtype}")
    if y_true.is_complex():
        raise ArgumentTypeError(f"{true} must be real, got dtype {y_true.dtype}")
    check_finite(y_pred, pred)
    check_finite(y_true, true)


def hamming_loss(y_pred: torch.Tensor, y_true: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Normalised Hamming distance between 0/1 indicators, averaged over the batch.

    .. math:: \\ell(y, t) = \\frac{1}{n} \\sum_i \\big( y_i (1 - t_i) + (1 - y_i) t_i \\big)

    The formula is linear in each argument, so it is differentiable and, on 0/1 inputs,
    counts the entries that differ; ``dl/dy = (1 - 2t) / n``. Used with shortest paths
    (Vlastelica et al. 2020) and in the Identity experiments.

    Args:
        y_pred: predicted indicators, shape ``(B, *shape)``.
        y_true: target indicators, the same shape.
        reduction: ``"mean"`` over the batch (default), ``"sum"``, or ``"none"`` (shape ``(B,)``).

    Returns:
        a scalar: the mean over the batch of the per-instance normalised distance.

    Example:
        >>> hamming_loss(torch.tensor([[1.0, 0.0, 1.0, 0.0]]), torch.tensor([[1.0, 1.0, 0.0, 0.0]]))
        tensor(0.5000)
    """
    _pair(y_pred, y_true)
    y_true = y_true.to(y_pred.dtype)
    per_entry = y_pred * (1 - y_true) + (1 - y_pred) * y_true
    return reduce_batch(per_entry.flatten(1).mean(dim=1), reduction)


__all__ += ["absolute_loss"]


def absolute_loss(y_pred: torch.Tensor, y_true: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The mean absolute difference per instance, averaged over the batch.

    .. math:: \\ell(y, t) = \\frac{1}{n} \\sum_i |y_i - t_i|, \\qquad
              \\frac{\\partial \\ell}{\\partial y_i} = \\frac{\\operatorname{sign}(y_i - t_i)}{n}

    On 0/1 indicators it has the value of :func:`hamming_loss`, but its gradient is zero on
    every entry the prediction gets right: it depends on the solver's output, so an
    estimator that passes ``dl/dy`` back as it is (Identity) stops where the answer is
    right, and a margin can act (book chapter 8). The linear Hamming formula's gradient
    ``(1 - 2t) / n`` ignores the output.

    Args:
        y_pred: predictions, shape ``(B, *shape)``.
        y_true: targets, the same shape.
        reduction: ``"mean"`` over the batch (default), ``"sum"``, or ``"none"`` (shape ``(B,)``).

    Returns:
        a scalar: the mean over the batch of the per-instance mean absolute difference.

    Example:
        >>> y = torch.tensor([[1.0, 0.0, 1.0, 0.0]], requires_grad=True)
        >>> loss = absolute_loss(y, torch.tensor([[1.0, 1.0, 0.0, 0.0]]))
        >>> loss.backward(); loss, y.grad
        (tensor(0.5000, grad_fn=<MeanBackward0>), tensor([[ 0.0000, -0.2500,  0.2500,  0.0000]]))
    """
    _pair(y_pred, y_true)
    return reduce_batch((y_pred - y_true.to(y_pred.dtype)).abs().flatten(1).mean(dim=1), reduction)


# --- N-ELBO pieces of a discrete VAE (chapter 6) --------------------------------------------

__all__ += ["bernoulli_reconstruction", "kl_softmax_uniform"]


def bernoulli_reconstruction(logits: torch.Tensor, x: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """Negative log-likelihood of 0/1 data under independent Bernoullis, per instance.

    .. math:: -\\log p(x \\mid z) = \\sum_j \\mathrm{BCE}\\big(\\sigma(\\ell_j), x_j\\big)
              = \\sum_j \\big(\\log(1 + e^{\\ell_j}) - x_j \\ell_j\\big)

    The reconstruction term of the N-ELBO of a discrete VAE (Jang et al. 2017; Niepert et
    al. 2021; Sahoo et al. 2023, sec. 4.1); computed from logits, which is stable.

    Args:
        logits: the decoder's logits ``(B, *shape)``.
        x: the data, 0/1 (or in ``[0, 1]``), the same shape.

        reduction: ``"none"`` (default: shape ``(B,)``), ``"mean"`` or ``"sum"`` over the batch.

    Returns:
        a tensor ``(B,)``: the sum over each instance's entries (average it over the batch).

    Example:
        >>> bernoulli_reconstruction(torch.zeros(2, 3), torch.ones(2, 3))  # 3 log 2 each
        tensor([2.0794, 2.0794])
    """
    _pair(logits, x, "logits", "x")
    per_entry = torch.nn.functional.binary_cross_entropy_with_logits(logits, x.to(logits.dtype), reduction="none")
    return reduce_batch(per_entry.flatten(1).sum(dim=1), reduction)


def kl_softmax_uniform(logits: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """KL divergence of ``softmax(logits)`` to the uniform distribution, summed over groups.

    .. math:: \\mathrm{KL}(q \\,\\|\\, u) = \\sum_{m=1}^{M} \\sum_{i=1}^{N} q_{mi} \\log(N q_{mi}),
              \\qquad q_{m\\cdot} = \\mathrm{softmax}(\\text{logits}_{m\\cdot})

    The prior term of the N-ELBO used for discrete VAEs with categorical and k-subset
    latents in the experiments of Niepert et al. (2021) and Sahoo et al. (2023, sec. 4.1):
    each group of ``N`` logits is a softmax, compared with the uniform prior ``1/N``.

    Args:
        logits: ``(B, M, N)`` (``M`` groups of ``N`` categories) or ``(B, N)`` (one group);
            more leading group dimensions are summed over too.
        reduction: ``"none"`` (default: shape ``(B,)``), ``"mean"`` or ``"sum"`` over the batch.

    Returns:
        a tensor ``(B,)``, ``>= 0``, zero exactly when every group is uniform.

    Example:
        >>> kl_softmax_uniform(torch.zeros(2, 3, 4))
        tensor([0., 0.])
        >>> kl_softmax_uniform(torch.tensor([[0.0, 1e4]]))  # one-hot q: KL = log N
        tensor([0.6931])
    """
    check_tensor(logits, "logits")
    if logits.dim() < 2:
        raise ValueError(f"logits must have shape (B, ..., N), got {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise ArgumentTypeError(f"logits must be a floating-point tensor, got dtype {logits.dtype}")
    check_finite(logits, "logits")
    log_q = torch.log_softmax(logits, dim=-1)
    n = logits.shape[-1]
    per_group = (log_q.exp() * (log_q + math.log(n))).sum(dim=-1)  # (B, ...)
    return reduce_batch(per_group.reshape(len(per_group), -1).sum(dim=1), reduction)


# --- the recall loss of rank-based retrieval (chapter 9) ------------------------------------

__all__ += ["recall_loss"]


def recall_loss(ranks: torch.Tensor, positive: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """The "loglog" recall loss of Rolinek et al. (2020) on the ranks of a query's items.

    For a query with items ranked ``r`` (rank 1 the most similar) and positives ``P``, a
    positive ``p`` has ``r(p) - r^+(p)`` negatives ranked above it, where ``r^+(p)`` is its
    rank among the positives alone. Recall@K is 1 as soon as some positive has fewer than
    ``K`` negatives above it; the loss pushes every positive up, with a doubly
    logarithmic weight that cares most about the first few places:

    .. math:: \\ell(r) = \\frac{1}{|P|} \\sum_{p \\in P} \\log\\big(1 + \\log(1 + r(p) - r^+(p))\\big)

    (Rolinek et al. 2020, the recall loss; Sahoo et al. 2023, sec. 4.3.) ``r^+`` is
    piecewise constant in the ranks and is computed without gradient; the gradient flows
    through ``r(p)`` only, so ``dl/dr`` is zero on every negative item: with the Identity
    estimator only the positives' scores receive a gradient.

    Args:
        ranks: ranks ``1..n`` of each query's items, ``(Q, n)`` (from
            :class:`~discgrad.solvers.Ranking`, through an estimator).
        positive: 0/1 indicators of the positives, ``(Q, n)``.
        reduction: ``"none"`` (default: shape ``(Q,)``), ``"mean"`` or ``"sum"`` over the queries.

    Returns:
        a tensor ``(Q,)``: the loss of each query (0 for a query without positives).
        The experiments sum it over queries: each query is one solver instance.

    Example:
        >>> r = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
        >>> recall_loss(r, torch.tensor([[1.0, 1.0, 0.0, 0.0]]))  # no negative above a positive
        tensor([0.])
        >>> recall_loss(r, torch.tensor([[0.0, 0.0, 1.0, 0.0]]))  # two negatives above: log(1 + log 3)
        tensor([0.7413])
    """
    _pair(ranks, positive, "ranks", "positive", ndim=2, rule="(Q, n)")
    positive = positive.to(ranks.dtype)
    with torch.no_grad():  # r+(p): the positives ranked at or above p
        r_plus = ((ranks[:, None, :] <= ranks[:, :, None]) * positive[:, None, :]).sum(-1)
    above = (ranks - r_plus).clamp_min(0)
    per_item = torch.log1p(torch.log1p(above)) * positive
    return reduce_batch(per_item.sum(1) / positive.sum(1).clamp_min(1), reduction)

"""Gumbel-softmax / Concrete relaxation (Jang et al. 2017; Maddison et al. 2017), and its
top-k version by successive softmaxes (Xie and Ermon 2019).

Book: chapter 2.
"""
from __future__ import annotations

import torch
from torch import nn

from discgrad.estimators._base import (ArgumentTypeError, check_count, check_finite, check_generator, check_input,
                                       check_positive, check_tensor, straight_through)
from discgrad.noise import gumbel_noise


def relaxed_top_k(scores: torch.Tensor, k: int, tau: float) -> torch.Tensor:
    """A continuous k-hot vector from ``k`` successive softmaxes over the last dimension.

    .. math:: a^{(1)} = \\mathrm{softmax}(s / \\tau), \\quad s \\leftarrow s + \\log(1 - a^{(j)}),
              \\quad a^{(j+1)} = \\mathrm{softmax}(s / \\tau), \\qquad r = \\sum_{j=1}^k a^{(j)}

    Each step softly removes the item just chosen (Xie and Ermon 2019); ``r`` sums
    to ``k`` and tends to the k-hot top-k of ``scores`` as ``tau -> 0``. ``k = 1`` is the
    plain softmax. ``k`` must be an integer ``>= 1`` and ``tau`` a finite number ``> 0``.
    """
    check_tensor(scores, "scores", min_dim=1, floating=True)
    k, tau = check_count(k, "k"), check_positive("tau", tau)
    tiny = torch.finfo(scores.dtype).tiny
    total = torch.zeros_like(scores)
    for j in range(k):
        a = torch.softmax(scores / tau, dim=-1)
        total = total + a
        if j + 1 < k:
            # log(1 - a) = -inf once an item is taken for sure: clamp to keep it finite
            scores = scores + torch.log((1 - a).clamp_min(tiny))
    return total


def top_k_hot(scores: torch.Tensor, k: int) -> torch.Tensor:
    """The k-hot indicator of the ``k`` largest entries along the last dimension."""
    check_tensor(scores, "scores", min_dim=1)
    k = check_count(k, "k")
    if k > scores.shape[-1]:
        raise ValueError(f"k must be in 1..n where n = scores.shape[-1] = {scores.shape[-1]}, got k={k}")
    return torch.zeros_like(scores).scatter(-1, scores.topk(k, dim=-1).indices, 1.0)


class GumbelSoftmax(nn.Module):
    """Sample a relaxed one-hot (or k-hot) vector from logits (a sampler, not a solver wrapper).

    In training, with standard Gumbel noise ``G`` (Jang et al. 2017, eq. 1-2):

    .. math:: y = \\mathrm{softmax}\\big((\\text{logits} + G) / \\tau\\big)

    and, for ``k > 1``, ``relaxed_top_k`` of ``logits + G`` (Xie and Ermon 2019).
    ``hard=True`` returns the exact one-hot / k-hot of ``top-k(logits + G)`` (a sample of
    the categorical distribution, or of a k-subset without replacement) with the relaxed
    sample's gradient: the straight-through Gumbel-softmax.

    In eval mode no noise is drawn: ``hard=True`` gives the top-k of the logits,
    ``hard=False`` the noiseless relaxation. A noise tensor passed to ``forward`` is used
    as ``G`` in either mode (for reproducible or gradchecked computations).

    Args:
        tau: temperature ``> 0``.
        hard: return exact k-hot vectors with the relaxed gradient.
        k: the number of items chosen, ``1 <= k <= n``.
        generator: an optional ``torch.Generator``; the last draw is kept in ``last_noise``.

    Shape:
        ``logits``: ``(B, ..., n)``, categories along the last dimension; output the same.

    ``solver_calls`` counts hard top-k evaluations (1 per forward when ``hard=True``).

    Example:
        >>> import torch
        >>> from discgrad.estimators import GumbelSoftmax
        >>> layer = GumbelSoftmax(tau=0.5, k=2, generator=torch.Generator().manual_seed(0))
        >>> y = layer(torch.zeros(3, 5))
        >>> y.sum(dim=-1)
        tensor([2.0000, 2.0000, 2.0000])
    """

    def __init__(self, tau: float = 1.0, hard: bool = False, k: int = 1,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.tau = check_positive("tau", tau)
        if not isinstance(hard, bool):
            raise ArgumentTypeError(f"hard must be True or False, got {hard!r}")
        self.hard = hard
        self.k = check_count(k, "k")
        self.generator = check_generator(generator)
        self.solver_calls = 0
        self.last_noise: torch.Tensor | None = None

    def forward(self, logits: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        logits = check_input(logits, "logits")
        if self.k > logits.shape[-1]:
            raise ValueError(f"k={self.k} exceeds the number of categories {logits.shape[-1]}")
        if noise is not None:
            check_tensor(noise, "noise", floating=True)
            if noise.shape != logits.shape:
                raise ValueError(
                    f"noise has shape {tuple(noise.shape)} but logits have shape {tuple(logits.shape)}"
                )
            check_finite(noise, "noise")
        elif self.training:
            noise = gumbel_noise(logits.shape, device=logits.device, dtype=logits.dtype,
                                 generator=self.generator)
        if noise is not None:
            self.last_noise = noise
            scores = logits + noise.to(logits)
        else:
            scores = logits
        soft = relaxed_top_k(scores, self.k, self.tau)
        if not self.hard:
            return soft
        self.solver_calls += 1
        return straight_through(soft, top_k_hot(scores.detach(), self.k))

    def extra_repr(self) -> str:
        return f"tau={self.tau}, hard={self.hard}, k={self.k}"

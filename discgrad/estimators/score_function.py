"""The score-function (REINFORCE) estimator with a baseline (Williams 1992).

Book: chapter 2.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from discgrad.estimators._base import (check_finite, check_generator, check_input, check_n_samples, check_real,
                                       check_tensor)
from discgrad.noise import _draw_dtype, gumbel_noise

BASELINES = ("none", "mean", "loo")
DISTRIBUTIONS = ("categorical", "bernoulli")


class ScoreFunction(nn.Module):
    """Unbiased gradients of ``E_{z ~ p(z | logits)}[f(z)]`` from samples and their log-probabilities.

    .. math:: \\nabla_\\theta \\mathbb{E}[f(z)] = \\mathbb{E}\\big[(f(z) - b)\\, \\nabla_\\theta \\log p_\\theta(z)\\big]

    (Williams 1992); any baseline ``b`` that does not depend on ``z`` keeps it unbiased.
    Two steps, because ``f`` is yours:

    1. ``z = sf(logits)`` draws ``n_samples`` samples, shape ``(n_samples, *logits.shape)``,
       without gradient;
    2. ``loss = sf.surrogate(logits, z, f)``, with ``f`` the per-sample losses of shape
       ``(n_samples, B)``, returns a scalar whose VALUE is ``f.mean()`` and whose GRADIENT is
       the REINFORCE estimate for ``logits`` plus the ordinary gradient of ``f`` for
       everything ``f`` depends on (a decoder, say):
       ``mean[(f - b).detach() * (log p - log p.detach()) + f]``.

    Baselines: ``"none"``; ``"mean"``: an exponential moving average of past batch-mean
    losses (``momentum``), updated in training, 0 at the first call; ``"loo"``: the
    leave-one-out mean of the other samples of the same instance, ``b_s = (sum_t f_t -
    f_s) / (S - 1)`` (needs ``n_samples >= 2``).

    Args:
        n_samples: samples per instance ``S >= 1``.
        baseline: ``"none"``, ``"mean"`` or ``"loo"``.
        distribution: ``"categorical"`` (one-hot along the last dimension, drawn by the
            Gumbel-max trick; several independent categoricals for ``(B, m, n)`` logits)
            or ``"bernoulli"`` (independent bits, ``p = sigmoid(logits)``).
        momentum: the moving-average factor of the ``"mean"`` baseline, in ``[0, 1)``.
        generator: an optional ``torch.Generator``.

    ``solver_calls`` counts samples drawn (``n_samples`` per forward): each costs one
    evaluation of ``f``.

    Example:
        >>> import torch
        >>> from discgrad.estimators import ScoreFunction
        >>> sf = ScoreFunction(n_samples=4, baseline="loo", generator=torch.Generator().manual_seed(0))
        >>> logits = torch.zeros(2, 3, requires_grad=True)
        >>> z = sf(logits)                                   # (4, 2, 3) one-hot samples
        >>> f = (z * torch.tensor([1.0, 2.0, 3.0])).sum(-1)  # per-sample losses, (4, 2)
        >>> loss = sf.surrogate(logits, z, f)
        >>> torch.allclose(loss, f.mean())
        True
        >>> loss.backward()
        >>> logits.grad.shape
        torch.Size([2, 3])
    """

    def __init__(self, n_samples: int = 1, baseline: str = "mean", distribution: str = "categorical",
                 momentum: float = 0.9, generator: torch.Generator | None = None):
        super().__init__()
        self.n_samples = check_n_samples(n_samples)
        if not isinstance(baseline, str) or baseline not in BASELINES:
            raise ValueError(f"unknown baseline {baseline!r}: use one of {BASELINES}")
        if baseline == "loo" and n_samples < 2:
            raise ValueError(f"the leave-one-out baseline needs n_samples >= 2, got {n_samples}")
        if not isinstance(distribution, str) or distribution not in DISTRIBUTIONS:
            raise ValueError(f"unknown distribution {distribution!r}: use one of {DISTRIBUTIONS}")
        momentum = check_real(momentum, "momentum", low=0)
        if not momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.baseline, self.distribution, self.momentum = baseline, distribution, momentum
        self.generator = check_generator(generator)
        self.solver_calls = 0
        self.running_loss: float | None = None

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        logits = check_input(logits, "logits").detach()
        shape = (self.n_samples, *logits.shape)
        self.solver_calls += self.n_samples
        if self.distribution == "categorical":
            g = gumbel_noise(shape, device=logits.device, dtype=logits.dtype, generator=self.generator)
            return F.one_hot((logits + g).argmax(-1), logits.shape[-1]).to(logits.dtype)
        at = self.generator.device if self.generator is not None else logits.device
        work = _draw_dtype(logits.dtype)  # a bfloat16 uniform has 8 bits: compare in float32
        u = torch.rand(shape, device=at, dtype=work, generator=self.generator).to(logits.device)
        return (u < torch.sigmoid(logits.to(work))).to(logits.dtype)

    def log_prob(self, logits: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``log p(z | logits)`` summed over each instance's dimensions: shape ``(S, B)``."""
        if self.distribution == "categorical":
            per_entry = z * torch.log_softmax(logits, dim=-1)
        else:
            per_entry = -F.binary_cross_entropy_with_logits(logits.expand_as(z), z, reduction="none")
        return per_entry.flatten(2).sum(dim=2)

    def surrogate(self, logits: torch.Tensor, z: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """The scalar to backpropagate: value ``f.mean()``, gradient REINFORCE + pathwise.

        ``logits`` and the samples ``z`` must be the forward pass's, ``f`` finite per-sample
        losses ``(n_samples, B)``; bad input raises ``ValueError`` naming the argument.
        """
        logits = check_input(logits, "logits")
        check_tensor(z, "z")
        check_tensor(f, "f", floating=True)
        if z.shape[1:] != logits.shape or z.shape[0] != self.n_samples:
            raise ValueError(
                f"samples must have shape {(self.n_samples, *logits.shape)}, got {tuple(z.shape)}"
            )
        if f.shape != z.shape[:2]:
            raise ValueError(f"f (the per-sample losses) must have shape {tuple(z.shape[:2])}, got {tuple(f.shape)}")
        check_finite(z, "z")
        f_const = check_finite(f, "f (the per-sample losses)").detach()
        if self.baseline == "loo":
            b = (f_const.sum(dim=0, keepdim=True) - f_const) / (self.n_samples - 1)
        elif self.baseline == "mean":
            b = 0.0 if self.running_loss is None else self.running_loss
            if self.training:
                m = float(f_const.mean())
                self.running_loss = m if self.running_loss is None else (
                    self.momentum * self.running_loss + (1 - self.momentum) * m)
        else:
            b = 0.0
        logp = self.log_prob(logits, z)
        return ((f_const - b) * (logp - logp.detach()) + f).mean()

    def extra_repr(self) -> str:
        return f"n_samples={self.n_samples}, baseline={self.baseline!r}, distribution={self.distribution!r}"

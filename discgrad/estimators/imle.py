"""Implicit maximum-likelihood estimation, I-MLE (Niepert et al. 2021, NeurIPS).

Book: chapter 2.
"""
from __future__ import annotations

import torch

from discgrad.estimators._base import SolverLayer, check_count, check_input, check_positive
from discgrad.estimators.blackbox import _Interpolate
from discgrad.noise import gumbel_noise, sum_of_gamma_noise

NOISES = ("sog", "gumbel")


class IMLE(SolverLayer):
    """Perturb-and-MAP forward, and the difference of two MAP states as the gradient.

    Stated for a max (MAP) solver with scores ``theta = w``. Forward, in training:
    ``eps`` is drawn, ``z = MAP(w + eps)`` is returned (a perturb-and-MAP sample).
    Backward, with ``g = dL/dz``: the target scores ``w' = w - lam * g`` are perturbed by
    the same ``eps`` and

    .. math:: \\frac{dL}{dw} \\approx \\frac{1}{\\lambda}\\big(\\mathrm{MAP}(w + \\epsilon) - \\mathrm{MAP}(w - \\lambda g + \\epsilon)\\big)

    (Niepert et al. 2021, the perturbation-based implicit differentiation algorithm; the
    ``1/lam`` makes it a finite difference, as in Blackbox, and a learning rate absorbs it
    where implementations leave it out).

    Min solver: a min solver on ``w`` is a max solver on ``-w``. Substituting, the
    solver sees ``u = w - eps`` (so that with Gumbel noise ``argmin(w - eps)`` samples the
    softmin of ``w``), the target is ``u' = u + lam * g``, and
    ``dL/dw = -(y(u) - y(u')) / lam``. In general ``u = w + sign * eps``,
    ``u' = u - sign * lam * g``, ``dL/dw = sign * (y(u) - y(u')) / lam``: Blackbox's
    formula at the perturbed costs (with ``eps = 0`` the two coincide).

    In eval mode no noise is drawn: the forward is the exact ``solver(w)`` (MAP), and the
    backward is the formula with ``eps = 0``.

    Args:
        solver: a solver with ``sense`` in ``{"min", "max"}``, returning the costs' shape.
        lam: the target strength ``lambda > 0``.
        noise: ``"sog"`` (Sum-of-Gamma, :func:`~discgrad.noise.sum_of_gamma_noise`) or
            ``"gumbel"`` (``tau`` times standard Gumbel).
        k: the subset size the Sum-of-Gamma noise is designed for (e.g. the ``k`` of ``TopK``),
            an integer ``>= 1``.
        tau: the noise temperature ``> 0``.
        s: the number of Gamma terms of the Sum-of-Gamma noise, an integer ``>= 1``.
        generator: an optional ``torch.Generator``; the last draw is kept in ``last_noise``
            (``eps``, before the sign flip).

    Shape:
        ``w``: ``(B, *shape)``; output ``(B, *shape)``.

    Extra solver calls: 1 per backward (1 in forward, 1 in backward).

    Example:
        >>> import torch
        >>> from discgrad.solvers import TopK
        >>> from discgrad.estimators import IMLE
        >>> top2 = TopK(2)
        >>> layer = IMLE(top2, lam=10.0, k=2, generator=torch.Generator().manual_seed(0))
        >>> w = torch.tensor([[0.5, 2.0, 1.0, -1.0]], requires_grad=True)
        >>> z = layer(w)
        >>> z.sum().item()
        2.0
        >>> z.sum().backward()
        >>> layer.solver_calls
        2
    """

    def __init__(self, solver, lam: float, noise: str = "sog", k: int = 1, tau: float = 1.0, s: int = 10,
                 generator: torch.Generator | None = None):
        super().__init__(solver, generator)
        self.lam = check_positive("lam", lam)
        if not isinstance(noise, str) or noise not in NOISES:
            raise ValueError(f"unknown noise {noise!r}: use one of {NOISES}")
        self.noise = noise
        self.k, self.tau, self.s = check_count(k, "k"), check_positive("tau", tau), check_count(s, "s")

    def sample_noise(self, shape, device=None, dtype=None) -> torch.Tensor:
        """One draw of ``eps`` with this layer's law and generator."""
        if self.noise == "sog":
            return sum_of_gamma_noise(shape, self.k, self.tau, self.s, device=device, dtype=dtype,
                                      generator=self.generator)
        return self.tau * gumbel_noise(shape, device=device, dtype=dtype, generator=self.generator)

    def forward(self, w: torch.Tensor, **context) -> torch.Tensor:
        w = check_input(w)
        self.context = context
        if self.training:
            eps = self.sample_noise(w.shape, device=w.device, dtype=w.dtype)
            self.last_noise = eps
            w = w + self.sign * eps
        return _Interpolate.apply(w, self)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, lam={self.lam}, noise={self.noise!r}, k={self.k}, tau={self.tau}, s={self.s}"

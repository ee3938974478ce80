"""Identity with projection (Sahoo et al. 2023, ICLR): the solver as a negative identity.

Book: chapter 3.
"""
from __future__ import annotations

import torch

from discgrad.estimators._base import UPSTREAM, SolverLayer, check_finite, check_input, check_real
from discgrad.noise import margin_noise
from discgrad.projections import get_projection


class _SignedIdentity(torch.autograd.Function):
    """Forward: the solver. Backward: ``sign * dL/dy`` (negative identity for min)."""

    @staticmethod
    def forward(ctx, costs, layer):
        ctx.sign = layer.sign
        return layer._solve(costs)

    @staticmethod
    def backward(ctx, grad_y):
        return ctx.sign * check_finite(grad_y, UPSTREAM), None


class Identity(SolverLayer):
    """Backpropagate through a solver as if it were the (negative) identity map.

    Forward: ``y = solver(P(w) + xi)``, the solver's exact output on the projected (and,
    in training, noised) costs. Backward, with ``g = dL/dy``:

    .. math:: \\frac{dL}{dw} = -P'(w)^\\top g \\ \\text{(min solver)}, \\qquad +P'(w)^\\top g \\ \\text{(max solver)}

    The projection ``P`` is applied in the forward graph, so autograd supplies ``P'(w)^T``;
    the solver's own Jacobian is replaced by ``-I`` (min: raising a cost should lower that
    entry of the solution) or ``+I`` (max). Sahoo et al. 2023: the projections are
    sec. 3.4, the noise margin against cost collapse sec. 3.6.

    Args:
        solver: a solver with ``sense`` in ``{"min", "max"}``; it must return a tensor of
            the costs' shape.
        projection: ``None``, ``"mean"`` (:func:`~discgrad.projections.P_mean`),
            ``"norm"`` (:func:`~discgrad.projections.P_norm`), ``"std"``
            (:func:`~discgrad.projections.P_std`), or any shape-preserving callable.
        noise: the margin ``alpha >= 0``; in training mode ``xi ~ U{-alpha/2, +alpha/2}^n``
            (independent signs, see :func:`~discgrad.noise.margin_noise`) is added to the
            projected costs; never in eval mode. The last draw is kept in ``last_noise``.
        generator: an optional ``torch.Generator`` for the noise.

    Shape:
        ``w``: ``(B, *shape)``; output: the solver's output, ``(B, *shape)``.

    Extra solver calls: 0 (``solver_calls`` grows by 1 per forward, nothing in backward).

    Example:
        >>> import torch
        >>> from discgrad.solvers import TopK
        >>> from discgrad.estimators import Identity
        >>> argmax = TopK(1)  # one-hot argmax, a max solver
        >>> layer = Identity(argmax, projection="mean")
        >>> w = torch.tensor([[1.0, 3.0, 2.0]], requires_grad=True)
        >>> y = layer(w)
        >>> y
        tensor([[0., 1., 0.]], grad_fn=<_SignedIdentityBackward>)
        >>> (y * torch.tensor([[0.0, 1.0, 0.0]])).sum().backward()
        >>> w.grad  # +g for a max solver, then through P_mean: g - mean(g)
        tensor([[-0.3333,  0.6667, -0.3333]])
    """

    def __init__(self, solver, projection=None, noise: float = 0.0, generator: torch.Generator | None = None):
        super().__init__(solver, generator)
        self.projection = get_projection(projection)
        self.projection_name = projection if isinstance(projection, str) or projection is None else getattr(
            projection, "__name__", type(projection).__name__)
        self.noise = check_real(noise, "noise", low=0)

    def forward(self, w: torch.Tensor, **context) -> torch.Tensor:
        w = check_input(w)
        self.context = context
        costs = w if self.projection is None else self.projection(w)
        if not isinstance(costs, torch.Tensor) or costs.shape != w.shape:
            got = tuple(costs.shape) if isinstance(costs, torch.Tensor) else type(costs).__name__
            raise ValueError(f"the projection returned shape {got} for costs of shape {tuple(w.shape)}")
        if self.training and self.noise > 0:
            xi = margin_noise(costs.shape, self.noise, device=costs.device, dtype=costs.dtype,
                              generator=self.generator)
            self.last_noise = xi
            costs = costs + xi
        return _SignedIdentity.apply(costs, self)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, projection={self.projection_name!r}, noise={self.noise}"

"""Blackbox differentiation of combinatorial solvers (Vlastelica et al. 2020, ICLR).

Book: chapter 2.
"""
from __future__ import annotations

import torch

from discgrad.estimators._base import UPSTREAM, SolverLayer, check_finite, check_input, check_positive


class _Interpolate(torch.autograd.Function):
    """Forward: the solver. Backward: one more solver call at the shifted costs."""

    @staticmethod
    def forward(ctx, costs, layer):
        y = layer._solve(costs)
        ctx.layer, ctx.context = layer, layer.context
        ctx.save_for_backward(costs, y)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        costs, y = ctx.saved_tensors
        layer = ctx.layer
        check_finite(grad_y, UPSTREAM)  # else the shifted costs w' would take the blame
        s, lam = layer.sign, layer.lam
        shifted = costs - s * lam * grad_y
        y_shifted = layer._solve(shifted, context=ctx.context)  # the forward call's context
        return s * (y - y_shifted) / lam, None


class Blackbox(SolverLayer):
    """The gradient of a piecewise-linear interpolation of the loss (Vlastelica et al. 2020).

    Forward: ``y = solver(w)``, exact. Backward, with ``g = dL/dy``, for a min solver
    (Vlastelica et al. 2020, Algorithm 1):

    .. math:: w' = w + \\lambda g, \\qquad \\frac{dL}{dw} = -\\frac{1}{\\lambda}\\big(y(w) - y(w')\\big)

    A max solver on ``w`` is a min solver on ``-w``; substituting gives
    ``w' = w - lam * g`` and ``dL/dw = +(y(w) - y(w')) / lam``. Both read
    ``w' = w - sign * lam * g``, ``dL/dw = sign * (y(w) - y(w')) / lam`` with
    ``sign = +1`` (max) or ``-1`` (min). ``lam`` trades the informativeness of the gradient
    (large) against faithfulness to the true loss (small).

    Args:
        solver: a solver with ``sense`` in ``{"min", "max"}``, returning the costs' shape.
        lam: the interpolation strength ``lambda > 0``.

    Shape:
        ``w``: ``(B, *shape)``; output ``(B, *shape)``.

    Extra solver calls: 1 per backward (``solver_calls`` grows by 1 in forward, 1 in backward).
    Bad input: ``w`` and the upstream gradient ``dL/dy`` must be finite; a NaN or inf in
    either raises ``ValueError`` naming that tensor.
    The shifted costs ``w'`` can leave the solver's domain (e.g. negative costs for a
    shortest-path solver); wrap such a solver so that it accepts them if needed.

    Example:
        >>> import torch
        >>> from discgrad.solvers import TopK
        >>> from discgrad.estimators import Blackbox
        >>> argmax = TopK(1)  # one-hot argmax, a max solver
        >>> layer = Blackbox(argmax, lam=10.0)
        >>> w = torch.tensor([[1.0, 3.0, 2.0]], requires_grad=True)
        >>> y = layer(w)
        >>> (y * torch.tensor([[0.0, 0.0, -1.0]])).sum().backward()  # the loss wants item 2
        >>> w.grad  # w' = w + 10 e_2 picks item 2, so dL/dw = (e_1 - e_2) / 10
        tensor([[ 0.0000,  0.1000, -0.1000]])
        >>> layer.solver_calls
        2
    """

    def __init__(self, solver, lam: float):
        super().__init__(solver)
        self.lam = check_positive("lam", lam)

    def forward(self, w: torch.Tensor, **context) -> torch.Tensor:
        self.context = context
        return _Interpolate.apply(check_input(w), self)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, lam={self.lam}"

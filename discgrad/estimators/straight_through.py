"""The straight-through estimator (Bengio, Leonard and Courville 2013).

Book: chapter 2.
"""
from __future__ import annotations

import torch

from discgrad.estimators._base import ArgumentTypeError, SolverLayer, check_input, check_positive, straight_through
from discgrad.solvers.base import Solver


def _unchanged(w: torch.Tensor) -> torch.Tensor:
    """The surrogate ``r(w) = w`` of an element-wise hard function (gradient passed unchanged)."""
    return w


class StraightThrough(SolverLayer):
    """Exact solver output forward; the gradient of a differentiable surrogate backward.

    .. math:: y = \\mathrm{solver}(w), \\qquad \\frac{dL}{dw} = \\Big(\\frac{\\partial r(w)}{\\partial w}\\Big)^{\\!\\top} \\frac{dL}{dy}

    The default surrogate is ``r(w) = softmax(sign * w / tau)`` over the last dimension
    (softmax for a max solver, softmin for a min solver): the straight-through
    estimator for categorical choices, the one-hot argmax being its ``tau -> 0`` limit.
    Bengio et al. (2013) pass the gradient "straight through" a hard threshold; for other
    solutions (k-hot, paths, matchings) pass the relaxation that fits, e.g.
    ``relaxation=lambda w: torch.sigmoid(w)`` for independent bits, or ``lambda w: -w``
    for a min solver's negative identity (which is :class:`Identity`).

    A plain function with no ``sense`` (``torch.round``, ``torch.sign``, a threshold) is taken
    as an element-wise hard function, and the default surrogate is then ``r(w) = w``: the
    gradient passes through unchanged, the straight-through estimator of Bengio et al.
    (2013) for thresholds and rounding.

    Args:
        solver: a solver with ``sense`` in ``{"min", "max"}``, returning the costs' shape,
            or an element-wise function with no ``sense`` (see above).
        relaxation: ``None`` (the softmax above, or ``r(w) = w`` for a function with no
            ``sense``) or a differentiable callable ``w -> r(w)`` returning the solver's
            output shape.
        tau: the softmax temperature ``> 0`` (unused with a custom relaxation).

    Shape:
        ``w``: ``(B, *shape)``; output ``(B, *shape)``.

    Extra solver calls: 0 (1 per forward).

    Example:
        >>> import torch
        >>> from discgrad.solvers import TopK
        >>> from discgrad.estimators import StraightThrough
        >>> argmax = TopK(1)  # one-hot argmax, a max solver
        >>> w = torch.tensor([[0.0, 0.0]], requires_grad=True)
        >>> y = StraightThrough(argmax)(w)
        >>> y
        tensor([[1., 0.]], grad_fn=<_ReplaceValueBackward>)
        >>> y[:, 0].sum().backward()
        >>> w.grad  # the softmax Jacobian at p = (1/2, 1/2)
        tensor([[ 0.2500, -0.2500]])
        >>> x = torch.tensor([[0.3, 1.6]], requires_grad=True)
        >>> StraightThrough(torch.round)(x).sum().backward()  # no sense needed: r(w) = w
        >>> x.grad
        tensor([[1., 1.]])
    """

    def __init__(self, solver, relaxation=None, tau: float = 1.0):
        if callable(solver) and getattr(solver, "sense", None) is None:
            # an element-wise function: the sense is never used (the surrogate is r(w) = w)
            solver = Solver(solver, sense="max", name=getattr(solver, "__name__", type(solver).__name__))
            relaxation = _unchanged if relaxation is None else relaxation
        super().__init__(solver)
        if relaxation is not None and not callable(relaxation):
            raise ArgumentTypeError(f"relaxation must be None or callable, got {type(relaxation).__name__}")
        self.relaxation = relaxation
        self.tau = check_positive("tau", tau)

    def surrogate(self, w: torch.Tensor) -> torch.Tensor:
        """The relaxation ``r(w)`` whose Jacobian the backward pass uses."""
        if self.relaxation is not None:
            return self.relaxation(w)
        return torch.softmax(self.sign * w / self.tau, dim=-1)

    def forward(self, w: torch.Tensor, **context) -> torch.Tensor:
        w = check_input(w)
        self.context = context
        y = self._solve(w)
        if not (torch.is_grad_enabled() and w.requires_grad):
            return y
        return straight_through(self.surrogate(w), y)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, relaxation={self.relaxation!r}, tau={self.tau}"

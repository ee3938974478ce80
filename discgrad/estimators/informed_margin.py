"""The informed margin of Rolinek et al. (2020): the true solution must win by ``alpha``.

Book: chapter 8.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from discgrad.estimators._base import ArgumentTypeError, check_finite, check_input, check_tensor
from discgrad.projections import get_projection


class InformedMargin(nn.Module):
    """Wrap an estimator so that, in training, the true solution's costs are made worse by ``alpha``.

    Forward in training, for a min solver (Rolinek et al. 2020, sec. 3.3; Sahoo et al. 2023,
    sec. 3.6 and table 4):

    .. math:: y = \\text{estimator}\\big(P(w) + \\alpha\\, y^*\\big)

    and ``P(w) - alpha y*`` for a max solver: the solver still returns a true entry only if
    the network preferred it to every competitor by more than ``alpha``, so the learner
    must overshoot the decision boundary. Subtracting ``alpha`` from a min solver's true
    costs would make them look *better* and reward stopping short of it (book chapter 8).
    The backward pass is the wrapped estimator's, through the projection ``P`` by autograd.
    In eval mode no margin is added and no target is needed.

    Args:
        estimator: a solver layer with ``sign`` (``Identity(solver)`` without projection,
            ``Blackbox(solver, lam)``).
        alpha: the margin ``>= 0``, in the units of the projected costs.
        projection: applied before the margin, as in :class:`~discgrad.Identity`.

    Shape:
        ``w`` and ``target``: ``(B, *shape)``; output: the estimator's, ``(B, *shape)``.

    Example:
        >>> import torch
        >>> from discgrad.estimators import Identity
        >>> from discgrad.solvers import Assignment
        >>> layer = InformedMargin(Identity(Assignment()), alpha=0.5)
        >>> costs, truth = torch.tensor([[[0.0, 0.3], [0.3, 0.0]]]), torch.eye(2)[None]
        >>> layer(costs, truth)  # the truth wins by 0.3 < 0.5: lost in training
        tensor([[[0., 1.],
                 [1., 0.]]])
        >>> layer.eval()(costs)
        tensor([[[1., 0.],
                 [0., 1.]]])
    """

    #: :class:`discgrad.experiments.methods.MethodLayer` passes the target in training
    takes_target = True

    def __init__(self, estimator: nn.Module, alpha: float, projection=None):
        super().__init__()
        if not isinstance(estimator, nn.Module) or getattr(estimator, "sign", None) not in (1, -1):
            raise ArgumentTypeError(f"estimator must be a solver layer (an nn.Module with sign +1 or -1), "
                                    f"got {type(estimator).__name__}")
        if isinstance(alpha, (bool, str)):
            raise ArgumentTypeError(f"alpha must be a finite number >= 0, got {alpha!r}")
        try:
            alpha = float(alpha)
        except (TypeError, ValueError):
            raise ValueError(f"alpha must be a number >= 0, got {alpha!r}") from None
        if not (alpha >= 0 and math.isfinite(alpha)):
            raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
        self.estimator, self.alpha, self.projection = estimator, alpha, get_projection(projection)

    @property
    def solver_calls(self) -> int:
        return self.estimator.solver_calls

    def forward(self, w: torch.Tensor, target: torch.Tensor | None = None, **context) -> torch.Tensor:
        w = check_input(w)
        costs = w if self.projection is None else self.projection(w)
        if not self.training:
            return self.estimator(costs, **context)  # eval() reached the estimator too
        if not isinstance(target, torch.Tensor) or target.shape != w.shape:
            got = tuple(target.shape) if isinstance(target, torch.Tensor) else type(target).__name__
            raise ValueError(f"the informed margin needs the true solution in training, of the costs' shape "
                             f"{tuple(w.shape)}; got {got}")
        check_finite(check_tensor(target, "target"), "target")
        # a min solver (sign -1) must find the true entries worse, a max solver (+1) less good
        return self.estimator(costs - self.estimator.sign * self.alpha * target.to(costs.dtype), **context)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"

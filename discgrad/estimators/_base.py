"""What every estimator shares: the sign of a solver's sense, argument checks, and
solver calls that are counted and shape-checked.

Sign convention used throughout the package: ``sign = +1`` for a max solver and ``-1`` for
a min solver. A min solver on ``w`` is a max solver on ``-w``, so every formula is written
once for max (as in the papers on MAP inference) and flipped by ``sign`` for min.
"""
from __future__ import annotations

import torch
from torch import nn

from discgrad.solvers.base import (SENSES, ArgumentTypeError, check_count, check_finite, check_real,
                                   check_tensor)

#: how the upstream gradient is named in errors: a NaN in it is the caller's, not the costs'
UPSTREAM = "the upstream gradient dL/dy"


def solver_sign(solver) -> int:
    """``+1`` for a max solver, ``-1`` for a min solver; ``ValueError`` otherwise."""
    if not callable(solver):
        raise ArgumentTypeError(f"solver must be callable, got {type(solver).__name__}")
    sense = getattr(solver, "sense", None)
    if sense not in SENSES:
        raise ValueError(
            f"solver must have a sense attribute 'min' or 'max', got {sense!r}; "
            "wrap a plain function with discgrad.solvers.Solver(fn, sense)"
        )
    return 1 if sense == "max" else -1


def check_positive(name: str, value) -> float:
    """Return ``float(value)`` if it is a finite real number ``> 0`` (``bool`` is not one);
    a wrong type raises ``ArgumentTypeError``, any other bad value ``ValueError``."""
    return check_real(value, name, low=0, strict=True)


def check_n_samples(n_samples) -> int:
    """Return ``n_samples`` as an ``int`` if it is an integer (``numbers.Integral``) ``>= 1``."""
    return check_count(n_samples, "n_samples")


def check_generator(generator) -> torch.Generator | None:
    """Return ``generator`` if it is ``None`` or a ``torch.Generator``."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ArgumentTypeError(f"generator must be None or a torch.Generator, got {type(generator).__name__}")
    return generator


def check_input(w, name: str = "w") -> torch.Tensor:
    """A dense floating tensor of shape ``(B, *shape)``, no dimension empty, all values finite.

    Raises ``ArgumentTypeError`` (a ``TypeError``) for a non-tensor or a non-floating
    dtype, ``ValueError`` naming ``name`` and the rule otherwise (meta device, sparse,
    fewer than 2 dimensions, an empty dimension, NaN or inf). The solver checks its domain.
    """
    check_tensor(w, name)
    if w.dim() < 2:
        raise ValueError(f"{name} must have shape (B, *shape) with at least 2 dims, got {tuple(w.shape)}")
    if not w.is_floating_point():
        raise ArgumentTypeError(f"{name} must be a floating-point tensor, got dtype {w.dtype}")
    return check_finite(w, name)


class SolverLayer(nn.Module):
    """Base class: holds the solver, its ``sign``, and the ``solver_calls`` counter.

    ``solver_calls`` counts solver invocations on a batch: one call on ``(B, *shape)``
    counts 1, and one call on ``n`` stacked copies ``(n * B, *shape)`` counts ``n``, so the
    number compares the cost of estimators independently of how they batch. Reset it by
    assigning 0.

    Per-instance data the solver needs besides the costs (a capacity, a graph, a source)
    passes through every estimator: ``layer(w, capacity=c)`` calls ``solver(costs,
    capacity=c)`` each time the estimator solves. A tensor whose first dimension is the
    batch's ``B`` is per instance: where an estimator stacks ``n`` noisy copies of the batch
    into one call, it is repeated ``n`` times to match; anything else is passed as it is.
    """

    def __init__(self, solver, generator: torch.Generator | None = None):
        super().__init__()
        self.sign = solver_sign(solver)
        self.solver = solver
        self.generator = check_generator(generator)
        self.solver_calls = 0
        self.last_noise: torch.Tensor | None = None
        self.context: dict = {}

    def _solve(self, w: torch.Tensor, copies: int = 1, context: dict | None = None) -> torch.Tensor:
        """Call the solver on (detached) ``w`` with the forward call's context (or ``context``),
        check the shape, follow ``w``'s dtype."""
        context = self.context if context is None else context
        y = self.solver(w.detach(), **tile_context(context, copies, w.shape[0])) if context else self.solver(w.detach())
        if not isinstance(y, torch.Tensor) or y.shape != w.shape:
            got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ValueError(
                f"the solver returned shape {got} for costs of shape {tuple(w.shape)}; "
                "this estimator needs a solution of the same shape as the costs"
            )
        self.solver_calls += copies
        return y.detach().to(device=w.device, dtype=w.dtype)

    def extra_repr(self) -> str:
        return f"sense={'max' if self.sign > 0 else 'min'!r}"


def tile_context(context: dict, copies: int, rows: int) -> dict:
    """``context`` for a solver call on ``copies`` stacked copies of a batch (``rows`` rows in
    all): every tensor whose first dimension is the batch's, ``rows // copies``, is repeated
    ``copies`` times along it; anything else is passed as it is.

    Example:
        >>> tile_context({"capacity": torch.tensor([3, 5]), "graph": "g"}, copies=2, rows=4)
        {'capacity': tensor([3, 5, 3, 5]), 'graph': 'g'}
    """
    if copies == 1:
        return context
    batch = rows // copies
    return {k: v.repeat(copies, *([1] * (v.dim() - 1))) if isinstance(v, torch.Tensor) and v.dim() >= 1
            and v.shape[0] == batch else v for k, v in context.items()}


class _ReplaceValue(torch.autograd.Function):
    """Value of ``hard``, gradient of ``soft``: the straight-through composition."""

    @staticmethod
    def forward(ctx, soft, hard):
        return hard.clone()

    @staticmethod
    def backward(ctx, grad):
        return check_finite(grad, UPSTREAM), None


def straight_through(soft: torch.Tensor, hard: torch.Tensor) -> torch.Tensor:
    """Return exactly ``hard`` in the forward pass and route the gradient to ``soft``.

    (``soft + (hard - soft).detach()`` is the usual idiom, but it is ``hard`` only up to
    rounding; this returns ``hard`` bit for bit.)
    """
    if soft.shape != hard.shape:
        raise ValueError(
            f"the relaxation has shape {tuple(soft.shape)} but the hard output has shape {tuple(hard.shape)}"
        )
    return _ReplaceValue.apply(soft, hard.to(dtype=soft.dtype, device=soft.device))

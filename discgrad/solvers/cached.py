"""A solution cache in front of an expensive solver (Mulamba et al. 2021; PyEPO's ``solve_ratio``)."""
from __future__ import annotations

import torch

from .base import ArgumentTypeError, Solver, check_costs, check_real


class CachedSolver(Solver):
    r"""Solve only a share of the instances; answer the rest from a pool of past solutions.

    Every solution the wrapped solver returns joins a pool. On a call, each instance is
    solved exactly with probability ``solve_ratio``; any other instance gets the pool's best
    solution for its costs, :math:`\arg\min_{y \in \text{pool}} \langle w, y \rangle` (max for a
    max solver), found with one matrix product. The pool's solutions are feasible, so the
    answer is feasible, but it is optimal only when the pool holds an optimum: it trades
    exactness for solver calls (Mulamba et al. 2021, "Contrastive losses and solution caching
    for predict-and-optimize", IJCAI, sec. 4; PyEPO's ``solve_ratio``). The feasible set must
    not change between calls (no per-instance context). ``solve_ratio=1`` is the solver itself.

    Args:
        solver: the exact solver.
        solve_ratio: the probability in ``[0, 1]`` that an instance is solved exactly; with an
            empty pool, every instance is.
        generator: a ``torch.Generator`` for the coin flips (default: torch's global one).
        max_pool: keep at most this many distinct solutions (once full, new ones are not added).

    Attributes:
        exact_calls: how many instances the wrapped solver has solved.

    Example:
        >>> from discgrad.solvers import TopK
        >>> cached = CachedSolver(TopK(1), solve_ratio=0.0)
        >>> cached(torch.tensor([[3.0, 1.0, 2.0]]))  # empty pool: solved exactly
        tensor([[1., 0., 0.]])
        >>> cached(torch.tensor([[0.0, 5.0, 1.0]]))  # from the pool: its only solution
        tensor([[1., 0., 0.]])
        >>> cached.exact_calls
        1
    """

    def __init__(self, solver, solve_ratio: float, generator: torch.Generator | None = None, max_pool: int = 100_000):
        sense = getattr(solver, "sense", None)
        if not callable(solver) or sense not in ("min", "max"):
            raise ArgumentTypeError("solver must be a solver with sense 'min' or 'max'")
        self.solver, self.sense = solver, sense
        self.solve_ratio = check_real(solve_ratio, "solve_ratio", low=0.0)
        if self.solve_ratio > 1:
            raise ValueError(f"solve_ratio must be in [0, 1], got {solve_ratio}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ArgumentTypeError(f"generator must be None or a torch.Generator, got {type(generator).__name__}")
        self.generator, self.max_pool = generator, int(max_pool)
        self.pool: torch.Tensor | None = None  # (P, n): distinct solutions, flattened
        self.exact_calls = 0
        self.name = f"CachedSolver({getattr(solver, 'name', type(solver).__name__)}, solve_ratio={self.solve_ratio})"

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        w = check_costs(w).detach()
        B = w.shape[0]
        if self.pool is None:
            exact = torch.ones(B, dtype=torch.bool)
        else:
            exact = torch.rand(B, generator=self.generator) < self.solve_ratio
        y = torch.empty_like(w)
        if bool(exact.any()):
            index = exact.nonzero().flatten().to(w.device)
            solved = self.solver(w[index])
            y[index] = solved.to(w.dtype)
            self.exact_calls += len(index)
            self._add(solved.flatten(1))
        if not bool(exact.all()):
            index = (~exact).nonzero().flatten().to(w.device)
            pool = self.pool.to(device=w.device, dtype=w.dtype)
            scores = w[index].flatten(1) @ pool.T  # (b, P): every pooled solution's objective
            best = scores.argmin(1) if self.sense == "min" else scores.argmax(1)
            y[index] = pool[best].view(len(index), *w.shape[1:])
        return y

    def _add(self, solutions: torch.Tensor) -> None:
        if self.pool is not None and len(self.pool) >= self.max_pool:
            return
        solutions = solutions.detach().cpu().double()
        pool = solutions if self.pool is None else torch.cat([self.pool, solutions])
        self.pool = torch.unique(pool, dim=0)[: self.max_pool]

    def __repr__(self) -> str:
        return self.name

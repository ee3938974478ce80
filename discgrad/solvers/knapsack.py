"""The 0/1 knapsack, solved exactly by dynamic programming over the capacity, batched."""
from __future__ import annotations

import torch

from .base import ArgumentTypeError, Solver, check_costs, check_count


class Knapsack(Solver):
    r"""The most valuable subset of items whose total weight fits the capacity, as a 0/1 vector.

    Computes :math:`y(w) = \arg\max \{\langle w, y \rangle : y \in \{0, 1\}^n,\ \langle a, y
    \rangle \le C\}` (``sense = "max"``): ``w`` are the items' values (predicted, in a
    predict-then-optimize model), ``a`` their integer weights and ``C`` the capacity, shared
    by the batch. An item of negative value is never taken.

    Exact dynamic programming over the capacity, ``O(n C)`` per instance, vectorised over the
    batch and the capacities: ``best[c]`` is the largest value within capacity ``c`` using the
    items seen so far; the take-or-skip decisions are kept and read back from ``C``. Ties go
    to leaving the later item out.

    Args:
        weights: ``(n,)`` non-negative integer weights of the items.
        capacity: the integer capacity ``C >= 0``.

    Shape: ``w`` is ``(B, n)``; the output is the ``(B, n)`` 0/1 selection on ``w``'s device
    with ``w``'s floating dtype.

    Example:
        >>> import torch
        >>> knapsack = Knapsack(weights=[3, 4, 2], capacity=5)
        >>> knapsack(torch.tensor([[4.0, 5.0, 3.0], [1.0, 5.0, -1.0]]))
        tensor([[1., 0., 1.],
                [0., 1., 0.]])

    Reference: Bellman 1957, "Dynamic programming" (Princeton University Press); the knapsack benchmark of PyEPO (Tang and
    Khalil 2022). Book: chapter 1 (the solver contract).
    """

    sense = "max"

    def __init__(self, weights, capacity: int):
        weights = torch.as_tensor(weights)
        if weights.dtype.is_floating_point or weights.dtype == torch.bool or weights.dim() != 1:
            raise ArgumentTypeError(f"weights must be a 1-d integer tensor, got dtype {weights.dtype} "
                                    f"and shape {tuple(weights.shape)}")
        if weights.numel() == 0:
            raise ValueError("weights is empty: the knapsack needs at least one item")
        if int(weights.min()) < 0:
            raise ValueError(f"weights must be >= 0, got {int(weights.min())}")
        self.weights = weights.long().cpu()
        self.capacity = check_count(capacity, "capacity", low=0)
        self.name = "Knapsack"

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        w = check_costs(w, ndim=2)
        n = self.weights.numel()
        if w.shape[1] != n:
            raise ValueError(f"w must be (B, n) item values with n = {n} items, got shape {tuple(w.shape)}")
        values = w.detach()
        if values.dtype not in (torch.float32, torch.float64):
            values = values.float()
        B, C = values.shape[0], self.capacity
        best = values.new_zeros((B, C + 1))  # best[:, c]: the best value within capacity c
        take = torch.zeros((n, B, C + 1), dtype=torch.bool, device=values.device)
        for i, a in enumerate(self.weights.tolist()):
            if a > C:
                continue
            with_item = best.new_full((B, C + 1), float("-inf"))
            with_item[:, a:] = best[:, : C + 1 - a] + values[:, i : i + 1]
            take[i] = with_item > best
            best = torch.maximum(best, with_item)
        y = torch.zeros((B, n), dtype=w.dtype, device=values.device)
        room = torch.full((B,), C, dtype=torch.long, device=values.device)
        rows = torch.arange(B, device=values.device)
        for i in range(n - 1, -1, -1):  # read the decisions back from the full capacity
            taken = take[i, rows, room]
            y[:, i] = taken.to(w.dtype)
            room = room - taken.long() * int(self.weights[i])
        return y

    def __repr__(self) -> str:
        return f"Knapsack({self.weights.numel()} items, capacity={self.capacity})"

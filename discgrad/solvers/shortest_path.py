"""Shortest paths on vertex-weighted grids, batched on the device (the Warcraft solver)."""
from __future__ import annotations

import torch

from .base import ArgumentTypeError, Solver, check_costs, check_count

# The fixed neighbour order (row, column offsets) that breaks the last ties in the trace-back.
NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


class ShortestPath(Solver):
    r"""The cheapest 8-connected path from the top-left to the bottom-right cell of a grid.

    Computes :math:`Y(W) = \arg\min_{Y \in \mathcal P} \langle W, Y \rangle`
    (``sense = "min"``), where :math:`\mathcal P` holds the 0/1 masks of the paths that
    start in cell ``(0, 0)``, end in cell ``(H-1, W-1)`` and step to one of the 8 neighbours
    of a cell: the cost of a path is the sum of the costs of all its cells, both end cells
    included (the Warcraft convention of Vlastelica et al. 2020).

    The whole batch is solved at once on ``w``'s device, with no per-instance loop:
    Bellman-Ford relaxation of all distance maps together (a 3x3 min-filter of the
    distances plus the cell costs, until no distance decreases), then a trace-back in which
    all instances step back together. Distances accumulate in ``w``'s dtype (at least
    float32). Ties are broken deterministically: from each cell the trace-back steps to the
    neighbour with the smallest distance; among equal distances, to the one whose distance
    stopped decreasing earliest in the relaxation (this keeps zero-cost cells from causing
    cycles); then to the first in the order up-left, up, up-right, left, right, down-left,
    down, down-right.

    Shape: ``w`` is ``(B, H, W)`` with costs ``>= 0``; the output is the ``(B, H, W)``
    0/1 path mask on ``w``'s device with ``w``'s floating dtype.

    Args:
        check_every: test for convergence every this many iterations. A test synchronises
            with a GPU, and costs next to nothing on the CPU. Default: ``None``, which means
            4 on a GPU and 1 on the CPU.
        clamp: accept negative costs and solve on ``max(w, 0)`` (a negative cell costs
            nothing). Training makes costs negative when a projection (``P_mean``,
            ``P_std``) or margin noise acts on them; without ``clamp`` such costs raise.

    Example:
        >>> import torch
        >>> costs = torch.tensor([[[1.0, 9.0, 9.0],
        ...                        [9.0, 1.0, 9.0],
        ...                        [1.0, 1.0, 1.0]]])
        >>> ShortestPath()(costs)
        tensor([[[1., 0., 0.],
                 [0., 1., 0.],
                 [0., 0., 1.]]])

    Reference: Vlastelica et al. 2020, "Differentiation of blackbox combinatorial solvers",
    ICLR (the Warcraft shortest-path task); Sahoo et al. 2023, ICLR. Book: chapter 1.
    """

    sense = "min"

    def __init__(self, check_every: int | None = None, *, clamp: bool = False):
        if not isinstance(clamp, bool):
            raise ArgumentTypeError(f"clamp must be True or False, got {clamp!r}")
        self.clamp = clamp
        if check_every is not None:
            try:
                check_every = check_count(check_every, "check_every")
            except ValueError as err:  # also the type error, which is a ValueError too
                raise type(err)(f"check_every must be None or an integer >= 1, got {check_every!r}") from None
        self.check_every = check_every
        self.name = "ShortestPath(clamp=True)" if clamp else "ShortestPath"

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        w = check_costs(w, ndim=3)  # also refuses H = 0 or W = 0
        costs = w.detach()
        if self.clamp:
            costs = costs.clamp_min(0)
        elif (lowest := costs.amin()) < 0:
            raise ValueError(f"w (vertex costs) must be >= 0, got a minimum of {lowest.item():g}; a projection "
                             "or noise can make costs negative: use ShortestPath(clamp=True) (or "
                             "discgrad.solvers.clamped_shortest_path()), which solves on max(w, 0)")
        if costs.dtype not in (torch.float32, torch.float64):
            costs = costs.float()  # half precision would lose whole path lengths
        check_every = self.check_every or (1 if costs.device.type == "cpu" else 4)
        dist, settled = _relax(costs, check_every)
        if not bool(torch.isfinite(dist[:, -2, -2]).all()):
            raise ValueError(f"w: path costs overflow {costs.dtype}; scale the costs down")
        return _trace_back(dist, settled, check_every).to(w.dtype)

    def __repr__(self) -> str:
        args = (["clamp=True"] if self.clamp else []) + (
            [] if self.check_every is None else [f"check_every={self.check_every}"])
        return f"ShortestPath({', '.join(args)})"


def _relax(costs: torch.Tensor, check_every: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Jacobi Bellman-Ford on all maps at once.

    Returns the distance maps padded with a border of ``inf`` and, padded the same way, the
    iteration at which each distance last strictly decreased (0 for the start cell).
    """
    B, H, W = costs.shape
    Hp, Wp = H + 2, W + 2
    inf = float("inf")
    # Work on the padded maps flattened to (B, Hp * Wp): the 8 neighbours of a cell are then
    # plain offsets, and every operand is a slice with unit inner stride. Border cells cost
    # inf, so they stay at inf, and they absorb the row wrap-around of the flat offsets.
    cost_pad = costs.new_full((B, Hp, Wp), inf)
    cost_pad[:, 1:-1, 1:-1] = costs
    dist = costs.new_full((B, Hp * Wp), inf)
    dist[:, Wp + 1] = costs[:, 0, 0]
    settled = torch.zeros((B, Hp * Wp), dtype=torch.int32, device=costs.device)
    lo, hi = Wp + 1, Hp * Wp - Wp - 1  # the flat range holding every interior cell
    cost, now, when = cost_pad.view(B, -1)[:, lo:hi], dist[:, lo:hi], settled[:, lo:hi]
    row_min = costs.new_empty((B, hi - lo + 2 * Wp))  # the same range widened by one row each side
    best = costs.new_empty((B, hi - lo))
    improved = torch.empty((B, hi - lo), dtype=torch.bool, device=costs.device)
    # The far corner needs max(H, W) - 1 iterations to become finite: no need to test before.
    first_check = max(H, W)
    for it in range(1, H * W + 2):  # Bellman-Ford converges within H*W - 1 iterations
        # After `it` iterations only rows 0..it can be reached: relax just that flat prefix.
        n = min(hi, (it + 2) * Wp) - lo
        rows, now_n, improved_n = row_min[:, : n + 2 * Wp], now[:, :n], improved[:, :n]
        # The min over the 3x3 window is separable: 4 elementwise minima instead of 8.
        # The window includes the cell itself, which never strictly improves its own distance.
        torch.minimum(dist[:, : n + 2 * Wp], dist[:, 1 : n + 2 * Wp + 1], out=rows)
        torch.minimum(rows, dist[:, 2 : n + 2 * Wp + 2], out=rows)
        best_n = torch.minimum(rows[:, :n], rows[:, Wp : Wp + n], out=best[:, :n])
        torch.minimum(best_n, rows[:, 2 * Wp :], out=best_n)
        best_n += cost[:, :n]
        torch.lt(best_n, now_n, out=improved_n)
        # All distances update together from the previous iteration's values (Jacobi): the
        # iteration numbers in `settled` then order the cells so that trace-back cannot cycle.
        torch.minimum(now_n, best_n, out=now_n)
        when[:, :n].masked_fill_(improved_n, it)
        if it >= first_check and (it - first_check) % check_every == 0 and not bool(improved_n.any()):
            break
    return dist.view(B, Hp, Wp), settled.view(B, Hp, Wp)


def _trace_back(dist_pad: torch.Tensor, settled_pad: torch.Tensor, check_every: int) -> torch.Tensor:
    """Walk back from the bottom-right cell to the top-left one, all instances together.

    Each step goes to the neighbour that is smallest in (distance, iteration it settled,
    neighbour order). Along the walk that key strictly decreases, so it never revisits a
    cell and reaches the start cell, the only cell with no smaller neighbour.
    """
    B, Hp, Wp = dist_pad.shape
    H, W = Hp - 2, Wp - 2
    dist, settled = dist_pad.reshape(B, -1), settled_pad.reshape(B, -1)
    # The cell itself is a 9th candidate: it loses to a neighbour everywhere but at the
    # start cell, so instances that are home stay there without a test.
    steps = [di * Wp + dj for di, dj in NEIGHBOURS] + [0]
    offsets = torch.tensor(steps, device=dist.device)
    start, goal = Wp + 1, H * Wp + W
    never = torch.iinfo(torch.int32).max
    pos = torch.full((B, 1), goal, dtype=torch.long, device=dist.device)
    on_path = torch.zeros((B, Hp * Wp), dtype=torch.bool, device=dist.device)
    on_path.scatter_(1, pos, True)
    min_steps = max(H, W) - 1
    for step in range(1, H * W):  # a path has at most H*W cells
        nbrs = pos + offsets
        nbr_dist = dist.gather(1, nbrs)
        nearest = nbr_dist == nbr_dist.amin(1, keepdim=True)
        key = torch.where(nearest, settled.gather(1, nbrs), never)
        pos = nbrs.gather(1, key.argmin(1, keepdim=True))  # argmin takes the first of equal keys
        on_path.scatter_(1, pos, True)
        if step >= min_steps and (step - min_steps) % check_every == 0 and bool((pos == start).all()):
            break
    return on_path.view(B, Hp, Wp)[:, 1:-1, 1:-1]

"""The travelling salesman problem, solved exactly by Held-Karp dynamic programming."""
from __future__ import annotations

from math import comb

import torch

from .base import ArgumentTypeError, Solver, check_costs

MAX_CITIES = 12
# Elements of the largest intermediate tensor per chunk of the batch (about 32 MB in float64).
_CHUNK_ELEMENTS = 1 << 22


class TSP(Solver):
    r"""The shortest round trip through ``n`` cities, ``3 <= n <= 12``, as a 0/1 adjacency.

    Computes :math:`Y(D) = \arg\min_{Y \in \mathcal T_n} \langle D, Y \rangle`
    (``sense = "min"``), where :math:`\mathcal T_n` holds the symmetric 0/1 adjacency
    matrices of the Hamiltonian cycles on ``n`` cities; :math:`\langle D, Y \rangle` is
    twice the tour length. The diagonal of ``D`` is ignored.

    Exact Held-Karp dynamic programming over subsets of cities, in ``O(2^n n^2)`` time,
    vectorised over the batch, the subsets of each size and the last city (large batches
    run in chunks to bound memory). Ties are broken deterministically: the DP keeps the
    lowest-numbered predecessor city among equal partial tours, and the lowest-numbered
    last city among equal tours.

    Shape: ``w`` is ``(B, n, n)``, symmetric (up to rounding: ``rtol=1e-5, atol=1e-8``;
    it is symmetrised), or any square matrix with ``symmetrize=True``; the output is the ``(B, n, n)`` symmetric 0/1 adjacency of an
    optimal tour (every city has degree 2) on ``w``'s device with ``w``'s floating dtype.

    Args:
        symmetrize: accept asymmetric distances and solve on ``(w + w^T) / 2``. A tour's
            adjacency ``y`` is symmetric, so ``<w, y> = <(w + w^T) / 2, y>``: every tour keeps
            its cost, and so does the optimum. Noise drawn per entry (a margin, a
            perturbation) makes ``w`` asymmetric; without ``symmetrize`` that raises.

    Example:
        >>> import torch
        >>> points = torch.tensor([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
        >>> TSP()(torch.cdist(points, points)[None])  # the square, not the crossed tour
        tensor([[[0., 0., 1., 1.],
                 [0., 0., 1., 1.],
                 [1., 1., 0., 0.],
                 [1., 1., 0., 0.]]])

    References: Held and Karp 1962, "A dynamic programming approach to sequencing
    problems"; Vlastelica et al. 2020 and Sahoo et al. 2023, ICLR (the globe TSP task).
    Book: Part III experiments.
    """

    sense = "min"

    def __init__(self, symmetrize: bool = False):
        if not isinstance(symmetrize, bool):
            raise ArgumentTypeError(f"symmetrize must be True or False, got {symmetrize!r}")
        self.symmetrize = symmetrize
        self.name = "TSP(symmetrize=True)" if symmetrize else "TSP"

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        w = check_costs(w, ndim=3)
        B, n, m = w.shape
        if n != m:
            raise ValueError(f"w must be square (B, n, n) distances, got shape {tuple(w.shape)}")
        if not 3 <= n <= MAX_CITIES:
            raise ValueError(f"w must have 3 <= n <= {MAX_CITIES} cities, got n={n}")
        dist = w.detach()
        if dist.dtype not in (torch.float32, torch.float64):
            dist = dist.float()
        if not self.symmetrize and not torch.allclose(dist, dist.transpose(1, 2), rtol=1e-5, atol=1e-8):
            raise ValueError("w must be symmetric (w[b, i, j] == w[b, j, i]); noise or a learned cost can "
                             "break the symmetry: use TSP(symmetrize=True) (or discgrad.solvers.symmetric_tsp()), "
                             "which solves on (w + w^T) / 2")
        dist = (dist + dist.transpose(1, 2)) / 2
        # The widest DP level, subsets of (n - 1) // 2 cities, sets the memory per instance.
        chunk = max(1, _CHUNK_ELEMENTS // (comb(n - 1, (n - 1) // 2) * (n - 1) ** 2))
        tours = [_held_karp(part) for part in dist.split(chunk)]
        return torch.cat(tours).to(w.dtype)

    def __repr__(self) -> str:
        return "TSP(symmetrize=True)" if self.symmetrize else "TSP()"


def _held_karp(dist: torch.Tensor) -> torch.Tensor:
    """Held-Karp on a batch of ``(B, n, n)`` symmetric distances; returns tour adjacencies.

    City 0 is the start. ``best[b, S, j]`` is the length of the shortest path that leaves
    city 0, visits exactly the cities in the bitmask ``S`` over cities ``1..n-1`` (bit
    ``j`` stands for city ``j + 1``) and ends in city ``j + 1``.
    """
    B, n, _ = dist.shape
    m, device = n - 1, dist.device
    bits = torch.arange(m, device=device)
    single = 1 << bits
    subsets = torch.arange(1 << m, device=device)
    size = ((subsets[:, None] >> bits) & 1).sum(1)
    inner = dist[:, 1:, 1:].transpose(1, 2)  # inner[b, j, k] = distance from city k+1 to j+1

    best = dist.new_full((B, 1 << m, m), float("inf"))
    came_from = torch.zeros((B, 1 << m, m), dtype=torch.long, device=device)
    best[:, single, bits] = dist[:, 0, 1:]
    for s in range(2, m + 1):
        level = subsets[size == s]
        # Dropping j from S gives the subset the path visited before j. For j outside S the
        # "dropped" subset is larger, not yet computed, so still inf: no mask is needed.
        before = level[:, None] ^ single  # (M, m)
        lengths = best[:, before] + inner[:, None]  # (B, M, j, k)
        best[:, level], came_from[:, level] = lengths.min(-1)  # min takes the first of ties

    full = (1 << m) - 1
    batch = torch.arange(B, device=device)
    last = (best[:, full] + dist[:, 1:, 0]).argmin(-1)  # (B,) index j of the last city
    tour = torch.zeros_like(dist)
    tour[batch, 0, last + 1] = 1
    visited = torch.full((B,), full, dtype=torch.long, device=device)
    for _ in range(m - 1):
        prev = came_from[batch, visited, last]
        tour[batch, prev + 1, last + 1] = 1
        visited = visited ^ (1 << last)
        last = prev
    tour[batch, 0, last + 1] = 1
    return ((tour + tour.transpose(1, 2)) > 0).to(dist.dtype)

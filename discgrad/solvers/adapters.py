"""Adapters that widen a solver's domain to the costs the estimators feed it.

Training perturbs or transforms the costs before the solver sees them: a projection
(``P_mean``, ``P_std``) or margin noise makes some vertex costs negative, which
:class:`~discgrad.solvers.ShortestPath` refuses; noise drawn per entry makes a distance
matrix asymmetric, which :class:`~discgrad.solvers.TSP` refuses. These adapters map such
costs back into the solver's domain first. Book: chapters 10 and 11.
"""
from __future__ import annotations

from .shortest_path import ShortestPath
from .tsp import TSP


def clamped_shortest_path() -> ShortestPath:
    """:class:`ShortestPath` on ``max(w, 0)``: accepts negative vertex costs (the same as
    ``ShortestPath(clamp=True)``).

    Use it when costs can dip below zero during training: a projection such as ``P_mean``
    or ``P_std``, or margin noise on small costs. A negative cell costs 0, as if it were
    free; the returned path is the optimal path of the clamped costs (``sense = "min"``).

    Shape: ``(B, H, W)`` vertex costs -> ``(B, H, W)`` 0/1 path mask.

    Example:
        >>> import torch
        >>> solver = clamped_shortest_path()
        >>> solver(torch.tensor([[[1.0, -5.0], [9.0, 1.0]]]))
        tensor([[[1., 0.],
                 [0., 1.]]])
    """
    return ShortestPath(clamp=True)


def symmetric_tsp() -> TSP:
    """The exact :class:`TSP` on ``(w + w^T) / 2``: accepts asymmetric distance matrices
    (the same as ``TSP(symmetrize=True)``).

    Use it when the distances of a tour are noisy per entry (margin noise, perturbations),
    so that ``w[i, j] != w[j, i]``. A tour's adjacency ``y`` is symmetric, so
    ``<w, y> = <(w + w^T) / 2, y>``: averaging keeps every tour's cost and the optimum, and
    an edge's noise becomes the mean of two draws (``sense = "min"``).

    Shape: ``(B, n, n)`` distances, ``3 <= n <= 12`` -> ``(B, n, n)`` 0/1 adjacency of a tour.

    Example:
        >>> import torch
        >>> w = torch.tensor([[[0.0, 1.0, 2.0, 1.0], [1.0, 0.0, 1.0, 2.0],
        ...                    [2.0, 1.0, 0.0, 1.0], [1.5, 2.0, 1.0, 0.0]]])
        >>> symmetric_tsp()(w)[0]
        tensor([[0., 1., 0., 1.],
                [1., 0., 1., 0.],
                [0., 1., 0., 1.],
                [1., 0., 1., 0.]])
    """
    return TSP(symmetrize=True)

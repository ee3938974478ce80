"""Batched combinatorial solvers: a tensor of costs in, a tensor of solutions out.

A solver is a callable ``y = solver(w)`` on a batch ``w`` of shape ``(B, *shape)``; ``y``
has the same batch size, lies on ``w``'s device and has ``w``'s floating dtype (integer
costs are converted to the default float dtype). It carries ``sense = "min"`` or
``"max"``: ``y`` is argmin (or argmax) of the linear objective ``<w, y>`` over the
solver's feasible set. Solvers are not differentiable (they work on ``w.detach()``); the
estimators of ``discgrad.estimators`` define their gradients. Bad input (NaN or inf,
wrong shape, empty batch, out-of-range arguments) raises ``ValueError`` naming the rule.

* ``TopK(k)``, max: ``(B, n)`` scores -> k-hot mask; ``TopK(1)`` is the one-hot argmax.
* ``Ranking()``, min: ``(B, n)`` scores -> ranks 1..n, rank 1 for the largest score.
* ``ShortestPath()``, min: ``(B, H, W)`` vertex costs >= 0 -> 0/1 mask of the cheapest
  8-connected path from the top-left to the bottom-right cell.
* ``Assignment()``, min: ``(B, n, m)`` costs, ``n <= m`` -> 0/1 matching matrix.
* ``TSP()``, min: ``(B, n, n)`` symmetric distances, ``3 <= n <= 12`` -> 0/1 adjacency of
  an optimal tour.
* ``Signum()``, max: ``(B, *)`` -> ``{-1, +1}`` entries, ``+1`` where ``w >= 0``;
  ``TernarySignum(dead_zone)`` -> ``{-1, 0, +1}``; ``Heaviside()`` -> ``1[w > 0]``.
* ``ShortestPath(clamp=True)`` and ``TSP(symmetrize=True)`` (also ``clamped_shortest_path()``
  and ``symmetric_tsp()``): ``ShortestPath`` on ``max(w, 0)`` and ``TSP`` on ``(w + w^T) / 2``,
  for noisy or projected costs outside their domains.
* ``GraphShortestPath(edges, source, target)``, min: ``(B, E)`` edge costs on a fixed directed
  graph -> 0/1 edge indicator of the cheapest path (``GraphShortestPath.grid(5, 5)``: PyEPO's
  benchmark grid).
* ``CachedSolver(solver, solve_ratio)``: solves a share of the instances, answers the rest
  from a pool of past solutions (fewer calls to an expensive solver).
* ``Knapsack(weights, capacity)``, max: ``(B, n)`` item values -> 0/1 selection of the most
  valuable items that fit.

Your own algorithm plugs in through :class:`Solver`: ``Solver(fn, sense)`` wraps any
function ``fn(w) -> y`` on a batch (or, with ``per_instance=True``, a numpy solver of one
instance, optionally spread over worker ``processes``), checks its input and output, and
works with every estimator; :func:`check_solver` tests its ``sense`` and shapes, and
:func:`from_pyepo` wraps a PyEPO ``optModel``::

    >>> import torch
    >>> from discgrad.solvers import Solver
    >>> argmin = Solver(lambda w: torch.nn.functional.one_hot(w.argmin(-1), w.shape[-1]),
    ...                 sense="min")
    >>> argmin(torch.tensor([[3.0, 1.0, 2.0]]))
    tensor([[0., 1., 0.]])

:func:`check_costs` and :func:`check_sense` are the input checks the solvers share; use
them in your own solvers too. Book: chapter 1 (the solver contract, ``TopK``,
``ShortestPath``); Part III experiments (``Ranking``, ``Assignment``, ``TSP``, the signums,
the adapters).
"""
from .adapters import clamped_shortest_path, symmetric_tsp
from .assignment import Assignment
from .base import Solver, check_costs, check_sense, check_solver
from .cached import CachedSolver
from .graph_shortest_path import GraphShortestPath
from .knapsack import Knapsack
from .pyepo_model import from_pyepo
from .ranking import Ranking
from .shortest_path import ShortestPath
from .signum import Heaviside, Signum, TernarySignum
from .topk import TopK
from .tsp import TSP

__all__ = ["Solver", "TopK", "Ranking", "ShortestPath", "Assignment", "TSP", "GraphShortestPath", "Knapsack",
           "Signum", "TernarySignum", "Heaviside", "clamped_shortest_path", "symmetric_tsp", "check_costs",
           "check_sense", "check_solver", "from_pyepo", "CachedSolver"]

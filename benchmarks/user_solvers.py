"""Time the general-graph solvers against a per-instance loop over the usual libraries.

    python benchmarks/user_solvers.py [--repeats 11] [--batches 1 32 256 1024] [--out results/bench/user_solvers.json] [--threads N] [--clock cpu|wall]

What is timed (the median over ``--repeats`` rounds after one warm-up call of the ``--clock``;
each round calls every contender once in turn; see ``discgrad.timing.race``):

* ``GraphShortestPath.grid(5, 5)`` (PyEPO's shortest-path benchmark: 25 nodes, 40 edges going
  right and down) on B random edge-cost vectors (``U(0, 1) + 0.1``, float64), the whole call,
  against ``networkx_loop``: per instance, a ``networkx.DiGraph`` whose weights are set from
  the costs (the graph is built once beforehand, not timed), ``networkx.shortest_path`` with
  Dijkstra, and the path turned into the same 0/1 edge vector; the vectors stacked into one
  tensor. Both must give the same path cost on every instance.
* ``Knapsack`` (n = 20 items, integer weights in 1..10, capacity 40) on B random value vectors
  against ``python_dp_loop``: the same dynamic program written per instance in plain Python
  lists, as course code writes it. Both must give the same value on every instance.
* Where PyEPO and OR-Tools are installed (optional: ``pip install pyepo ortools``), also
  ``pyepo_ortools``: PyEPO's own OR-Tools model of the same problem (``shortestPathModel((5, 5))``
  with its edge order, ``knapsackModel``) called per instance through
  ``discgrad.solvers.from_pyepo``, as a PyEPO user solves a batch; it must give the same
  objectives. Skipped (and recorded as absent) without them.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import networkx as nx
import numpy as np
import torch

try:
    import discgrad  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from discgrad.results import results_root  # noqa: E402
from discgrad.solvers import GraphShortestPath, Knapsack, from_pyepo  # noqa: E402


def pyepo_ortools():
    """PyEPO's OR-Tools models module, or None where PyEPO or OR-Tools is missing."""
    try:
        import pyepo.model.ort as ort
    except ImportError:
        return None
    return ort
from discgrad.timing import add_common_arguments, begin, race, write_record  # noqa: E402


def networkx_loop(solver: GraphShortestPath, graph: nx.DiGraph, index: dict, costs: torch.Tensor) -> torch.Tensor:
    """Per-instance Dijkstra with networkx, returned as the (B, E) edge indicator."""
    out = np.zeros(tuple(costs.shape))
    for b, row in enumerate(costs.tolist()):
        for (u, v), c in zip(graph.edges, (row[index[e]] for e in graph.edges)):
            graph[u][v]["weight"] = c
        path = nx.shortest_path(graph, solver.source, solver.target, weight="weight", method="dijkstra")
        for u, v in zip(path, path[1:]):
            out[b, index[(u, v)]] = 1.0
    return torch.from_numpy(out)


def python_dp_loop(weights: list, capacity: int, values: torch.Tensor) -> torch.Tensor:
    """The 0/1 knapsack DP per instance in plain Python lists."""
    out = []
    for row in values.tolist():
        table = [[0.0] * (capacity + 1)]  # table[i][c]: the best value of the first i items within c
        for a, v in zip(weights, row):
            prev = table[-1]
            table.append([max(prev[c], prev[c - a] + v) if c >= a else prev[c] for c in range(capacity + 1)])
        y, c = [0.0] * len(weights), capacity
        for i in range(len(weights), 0, -1):
            if table[i][c] != table[i - 1][c]:
                y[i - 1], c = 1.0, c - weights[i - 1]
        out.append(y)
    return torch.tensor(out, dtype=values.dtype)


def bench_graph_shortest_path(batches, repeats: int, clock: str) -> list[dict]:
    ort = pyepo_ortools()
    # the 5x5 grid in PyEPO's edge order where PyEPO is here (the same graph as .grid(5, 5))
    solver = GraphShortestPath(ort.shortestPathModel((5, 5)).arcs, 0, 24) if ort else GraphShortestPath.grid(5, 5)
    graph = nx.DiGraph()
    edges = [tuple(e) for e in solver.edges.tolist()]
    graph.add_edges_from(edges)
    index = {e: i for i, e in enumerate(edges)}
    rows = []
    for batch in batches:
        costs = torch.rand(batch, len(edges), generator=torch.Generator().manual_seed(batch), dtype=torch.float64) + 0.1
        contenders = {"discgrad": lambda: solver(costs),
                      "networkx_loop": lambda: networkx_loop(solver, graph, index, costs)}
        if ort:
            pyepo_solver = from_pyepo(ort.shortestPathModel((5, 5)))
            contenders["pyepo_ortools"] = lambda: pyepo_solver(costs)
        seconds, fastest, outputs, wall = race(contenders, repeats, clock)
        lengths = {m: (costs * y).sum(1) for m, y in outputs.items()}
        if not all(torch.allclose(lengths["discgrad"], v) for v in lengths.values()):
            raise AssertionError(f"GraphShortestPath and {sorted(lengths)} disagree at B = {batch}")
        rows.append({"batch": batch, "seconds": seconds, "min_seconds": fastest, "wall_seconds": wall,
                     "speedup": seconds["networkx_loop"] / seconds["discgrad"],
                     "speedup_vs_pyepo": seconds["pyepo_ortools"] / seconds["discgrad"] if ort else None})
        print(f"graph shortest path B={batch}: {rows[-1]['speedup']:.1f}x networkx, "
              f"{rows[-1]['speedup_vs_pyepo'] or float('nan'):.1f}x PyEPO")
    return rows


def bench_knapsack(batches, repeats: int, clock: str) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    weights = torch.randint(1, 11, (20,), generator=g).tolist()
    capacity = 40
    solver = Knapsack(weights, capacity)
    rows = []
    for batch in batches:
        values = torch.rand(batch, 20, generator=torch.Generator().manual_seed(batch), dtype=torch.float64)
        contenders = {"discgrad": lambda: solver(values),
                      "python_dp_loop": lambda: python_dp_loop(weights, capacity, values)}
        ort = pyepo_ortools()
        if ort:
            pyepo_solver = from_pyepo(ort.knapsackModel(weights=[weights], capacity=[capacity]))
            contenders["pyepo_ortools"] = lambda: pyepo_solver(values)
        seconds, fastest, outputs, wall = race(contenders, repeats, clock)
        totals = {m: (values * y).sum(1) for m, y in outputs.items()}
        if not all(torch.allclose(totals["discgrad"], v, atol=1e-6) for v in totals.values()):
            raise AssertionError(f"Knapsack and {sorted(totals)} disagree at B = {batch}")
        rows.append({"batch": batch, "seconds": seconds, "min_seconds": fastest, "wall_seconds": wall,
                     "speedup": seconds["python_dp_loop"] / seconds["discgrad"],
                     "speedup_vs_pyepo": seconds["pyepo_ortools"] / seconds["discgrad"] if ort else None})
        print(f"knapsack B={batch}: {rows[-1]['speedup']:.1f}x Python DP, "
              f"{rows[-1]['speedup_vs_pyepo'] or float('nan'):.1f}x PyEPO")
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=11, help="timed rounds per measurement (median)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32, 256, 1024], help="instances per batch")
    parser.add_argument("--out", default=str(results_root() / "bench" / "user_solvers.json"))
    add_common_arguments(parser)
    args, load_before, start = begin(parser, argv)
    results = {"graph_shortest_path": bench_graph_shortest_path(args.batches, args.repeats, args.clock),
               "knapsack": bench_knapsack(args.batches, args.repeats, args.clock),
               "pyepo": None}
    if pyepo_ortools():
        import ortools
        import pyepo
        results["pyepo"] = {"pyepo_version": getattr(pyepo, "__version__", "unknown"), "ortools_version": ortools.__version__}
    return write_record("user_solvers", __doc__, results, time.perf_counter() - start, __file__, argv, load_before,
                        args.clock, args.out, repeats=args.repeats)


if __name__ == "__main__":
    main()

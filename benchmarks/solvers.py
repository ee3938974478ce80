"""Time discgrad's solvers against the usual baselines, on the same inputs, in one run.

    python benchmarks/solvers.py [--repeats 11] [--out results/bench/solvers.json] [--threads N] [--clock cpu|wall]
                                 [--sizes 12 18 24 30] [--batches 1 32 256 1024] [--dijkstra-max 256]

What is timed (the median over ``--repeats`` rounds after one warm-up call of the
``--clock``: the process's CPU time on a shared machine, the wall time on a quiet one, with
the median wall time beside it; each round calls every contender once in turn, so that load
changes hit them alike; speed-ups are ratios of ``seconds``: see ``discgrad.timing.race``):

* ``ShortestPath`` on B = 1, 32, 256, 1024 random maps (costs ``U(0, 1) + 0.1``, float64) of
  12x12 ... 30x30,
  the whole call (input checks, relaxation, trace-back, mask), against
  (a) ``python_dijkstra``: a plain heapq Dijkstra per instance, as course code and the
  blackbox-backprop repository write it: tensor -> nested lists, Dijkstra stopping at the
  goal, path from the predecessor dict, the masks stacked back into one tensor;
  (b) ``scipy_dijkstra``: one ``scipy.sparse.csgraph.dijkstra`` call on a block-diagonal
  graph holding all B instances (``min_only=True`` from the B start cells), timed from
  the cost tensor: the edge weights gathered into a CSR matrix whose index structure is
  built once per size beforehand (not timed: it does not depend on the costs), the call,
  and the vectorised path extraction from the predecessors into a mask tensor.
  All three must give the same path cost on every map. ``ShortestPath`` on the float32 copy
  of the same maps is reported too. Where B exceeds ``--dijkstra-max``, the Python Dijkstra
  runs on the first ``--dijkstra-max`` maps only and its time is scaled by
  ``B / dijkstra-max`` (it is a loop of independent instances, so its time is linear in B;
  the row records ``python_dijkstra_instances_timed``). The growth exponent ``p`` of
  ``seconds ~ cells ** p`` (cells = H * W) is fitted per method and batch size.
* ``TopK(k)`` and ``Ranking()`` on (1024, 100) and (1024, 1000) against bare ``torch.topk`` /
  ``torch.argsort``, alone and followed by the ``scatter_`` that turns them into the same
  output (k-hot mask, ranks). The solvers also check the input (one ``aminmax`` pass) and
  break ties deterministically.
* ``TSP`` (n = 5 ... 10) on a batch of 64 against a loop calling it on one instance at a
  time (Held-Karp's cost grows like ``2^n n^2``: the growth factor per added city is fitted),
  and ``Assignment`` on 256 instances of 10x10 ... 80x80 against a bare Python loop over
  ``scipy.optimize.linear_sum_assignment`` (informational: the solver is that loop).
"""
from __future__ import annotations

import argparse
import heapq
import math
import os
import sys
import time

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

try:
    import discgrad  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from discgrad.results import results_root  # noqa: E402
from discgrad.solvers import TSP, Assignment, Ranking, ShortestPath, TopK  # noqa: E402
from discgrad.solvers.shortest_path import NEIGHBOURS  # noqa: E402
from discgrad.timing import add_common_arguments, begin, growth_exponent, race, write_record  # noqa: E402


# ------------------------------------------------------------------ shortest-path baselines
def python_dijkstra(costs: torch.Tensor) -> torch.Tensor:
    """Per-instance heapq Dijkstra on the vertex-weighted 8-neighbour grid; returns masks."""
    masks = []
    for grid in costs.tolist():
        H, W = len(grid), len(grid[0])
        goal = (H - 1, W - 1)
        dist, prev, done = {(0, 0): grid[0][0]}, {}, set()
        heap = [(grid[0][0], (0, 0))]
        while heap:
            d, (i, j) = heapq.heappop(heap)
            if (i, j) in done:
                continue
            done.add((i, j))
            if (i, j) == goal:
                break
            for di, dj in NEIGHBOURS:
                a, b = i + di, j + dj
                if 0 <= a < H and 0 <= b < W and (a, b) not in done:
                    nd = d + grid[a][b]
                    if nd < dist.get((a, b), float("inf")):
                        dist[(a, b)], prev[(a, b)] = nd, (i, j)
                        heapq.heappush(heap, (nd, (a, b)))
        mask = np.zeros((H, W))
        cell = goal
        while True:
            mask[cell] = 1
            if cell == (0, 0):
                break
            cell = prev[cell]
        masks.append(mask)
    return torch.from_numpy(np.stack(masks)).to(costs.dtype)


class ScipyBlockDijkstra:
    """One csgraph Dijkstra call on the block-diagonal graph of all B grids.

    The CSR index structure depends only on (B, H, W) and is built in ``__init__``;
    ``__call__`` is what the benchmark times.
    """

    def __init__(self, B: int, H: int, W: int):
        cells = np.arange(H * W).reshape(H, W)
        rows, cols = [], []
        for di, dj in NEIGHBOURS:
            src = cells[max(0, -di):H - max(0, di), max(0, -dj):W - max(0, dj)]
            rows.append(src.ravel())
            cols.append((src + di * W + dj).ravel())
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        order = np.lexsort((cols, rows))
        rows, cols = rows[order], cols[order]
        offsets = np.repeat(np.arange(B) * H * W, len(rows))
        self.heads = np.tile(cols, B) + offsets  # the head cell of every edge, all instances
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(np.tile(rows, B) + offsets, minlength=B * H * W))])
        self.shape, self.starts, self.goals = (B, H, W), np.arange(B) * H * W, np.arange(1, B + 1) * H * W - 1

    def __call__(self, costs: torch.Tensor) -> torch.Tensor:
        B, H, W = self.shape
        flat = costs.detach().cpu().numpy().astype(np.float64).ravel()
        # An edge into a cell weighs that cell's cost; the start cell's cost is on every path.
        graph = csr_matrix((flat[self.heads], self.heads, self.indptr), shape=(B * H * W,) * 2)
        _, pred, _ = dijkstra(graph, directed=True, indices=self.starts, min_only=True, return_predecessors=True)
        mask = np.zeros(B * H * W)
        cell = self.goals.copy()
        mask[cell] = 1
        while (cell != self.starts).any():  # all instances step back together
            cell = np.where(cell == self.starts, cell, pred[cell])
            mask[cell] = 1
        return torch.from_numpy(mask.reshape(B, H, W)).to(costs.dtype)


def path_cost(costs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (costs.double() * mask.double()).sum((1, 2))


# ------------------------------------------------------------------------------ sections
def bench_shortest_path(sizes, batches, repeats: int, dijkstra_max: int = 256, clock: str = "cpu") -> list[dict]:
    solver = ShortestPath()
    rows = []
    for batch in batches:
        for size in sizes:
            g = torch.Generator().manual_seed(size)
            costs = torch.rand(batch, size, size, generator=g, dtype=torch.float64) + 0.1
            scipy_solver = ScipyBlockDijkstra(batch, size, size)
            costs32 = costs.float()
            timed = min(batch, dijkstra_max)  # the per-instance loop runs on this many maps
            subset = costs[:timed]
            seconds, fastest, outputs, wall = race({
                "ShortestPath": lambda: solver(costs),
                "ShortestPath_float32": lambda: solver(costs32),
                "python_dijkstra": lambda: python_dijkstra(subset),
                "scipy_dijkstra": lambda: scipy_solver(costs),
            }, repeats, clock)
            for table in (seconds, fastest, wall):  # a loop over independent instances: linear in B
                table["python_dijkstra"] *= batch / timed
            t_ours, t_python, t_scipy = (seconds[k] for k in ("ShortestPath", "python_dijkstra", "scipy_dijkstra"))
            y_ours, y_ours32, y_python, y_scipy = outputs.values()
            reference = path_cost(costs, y_scipy)
            for name, c, y, rtol in (("ShortestPath", costs, y_ours, 1e-12),
                                     ("python_dijkstra", subset, y_python, 1e-12),
                                     ("ShortestPath float32", costs, y_ours32, 1e-5)):
                if not torch.allclose(path_cost(c, y), reference[:len(c)], rtol=rtol):
                    raise AssertionError(f"{name} disagrees with scipy on the path cost at {size}x{size}")
            rows.append({
                "size": f"{size}x{size}", "grid": size, "cells": size * size, "batch": batch,
                "seconds": seconds, "seconds_min": fastest, "seconds_wall": wall,
                "python_dijkstra_instances_timed": timed,
                "speedup_vs_python_dijkstra": t_python / t_ours,
                "speedup_vs_scipy_dijkstra": t_scipy / t_ours,
                "same_path_cost": True,
            })
            print(f"ShortestPath {size}x{size} B={batch}: ours {1e3 * t_ours:.1f} ms"
                  f" (float32 {1e3 * seconds['ShortestPath_float32']:.1f}),"
                  f" python {1e3 * t_python:.1f} ms ({t_python / t_ours:.0f}x; {timed} maps timed),"
                  f" scipy {1e3 * t_scipy:.1f} ms ({t_scipy / t_ours:.1f}x)", flush=True)
    return rows


def shortest_path_growth(rows: list[dict]) -> dict:
    """The exponent ``p`` of ``seconds ~ cells ** p`` per method and batch size."""
    out = {}
    for batch in sorted({r["batch"] for r in rows}):
        mine = [r for r in rows if r["batch"] == batch]
        if len(mine) >= 2:
            out[str(batch)] = {m: growth_exponent([r["cells"] for r in mine], [r["seconds"][m] for r in mine])
                               for m in mine[0]["seconds"]}
    return out


def bench_topk_ranking(repeats: int, shapes=((1024, 100), (1024, 1000)), k: int = 10, clock: str = "cpu") -> list[dict]:
    repeats = max(repeats, 50)  # sub-millisecond calls: more repeats for a stable median
    rows = []
    for shape in shapes:
        w = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
        arange = torch.arange(1, shape[1] + 1, dtype=w.dtype).expand_as(w)
        cases = {
            f"TopK({k})": (lambda: TopK(k)(w), {
                "torch.topk": lambda: torch.topk(w, k, dim=-1),
                "torch.topk+scatter": lambda: torch.zeros_like(w).scatter_(
                    -1, torch.topk(w, k, dim=-1).indices, 1.0),
            }),
            "Ranking()": (lambda: Ranking()(w), {
                "torch.argsort": lambda: torch.argsort(w, dim=-1, descending=True),
                "torch.argsort+scatter": lambda: torch.empty_like(w).scatter_(
                    -1, torch.argsort(w, dim=-1, descending=True), arange),
            }),
        }
        for name, (ours, baselines) in cases.items():
            seconds, fastest, _, wall = race({name: ours, **baselines}, repeats, clock)
            ratios = {base: seconds[name] / seconds[base] for base in baselines}
            rows.append({"solver": name, "shape": list(shape), "seconds": seconds, "seconds_min": fastest,
                         "seconds_wall": wall,
                         "ratio_to": ratios})
            print(f"{name} {tuple(shape)}: {1e6 * seconds[name]:.0f} us; ratio "
                  + ", ".join(f"{b} {r:.2f}" for b, r in ratios.items()), flush=True)
    return rows


def bench_tsp(repeats: int, batch: int = 64, ns=(5, 6, 7, 8, 9, 10), clock: str = "cpu") -> list[dict]:
    solver, rows = TSP(), []
    for n in ns:
        points = torch.rand(batch, n, 2, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
        dist = torch.cdist(points, points)
        seconds, fastest, outputs, wall = race({"batched": lambda: solver(dist),
                                          "per_instance_loop": lambda: torch.cat([solver(d[None]) for d in dist])},
                                         repeats, clock)
        t_batched, t_loop = seconds.values()
        assert torch.equal(*outputs.values())
        rows.append({"n": n, "batch": batch, "seconds": seconds, "seconds_min": fastest, "seconds_wall": wall,
                     "speedup": t_loop / t_batched})
        print(f"TSP n={n} B={batch}: batched {1e3 * t_batched:.1f} ms, loop {1e3 * t_loop:.1f} ms"
              f" ({t_loop / t_batched:.1f}x)", flush=True)
    return rows


def tsp_growth(rows: list[dict]) -> dict:
    """The factor by which the time grows per added city (a fit of log seconds against n)."""
    ns = [r["n"] for r in rows]
    return {m: float(math.exp(np.polyfit(ns, np.log([r["seconds"][m] for r in rows]), 1)[0]))
            for m in rows[0]["seconds"]} if len(rows) >= 2 else {}


def bench_assignment(repeats: int, batch: int = 256, ns=(10, 20, 40, 80), clock: str = "cpu") -> list[dict]:
    rows = []
    for n in ns:
        costs = torch.rand(batch, n, n, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

        def scipy_loop():
            out = np.zeros((batch, n, n))
            for b, c in enumerate(costs.numpy()):
                out[b, np.arange(n), linear_sum_assignment(c)[1]] = 1
            return torch.from_numpy(out)

        seconds, fastest, outputs, wall = race({"Assignment": lambda: Assignment()(costs), "scipy_loop": scipy_loop},
                                         repeats, clock)
        t_ours, t_loop = seconds.values()
        assert torch.equal(*outputs.values())
        print(f"Assignment {n}x{n} B={batch}: solver {1e3 * t_ours:.1f} ms, scipy loop {1e3 * t_loop:.1f} ms",
              flush=True)
        rows.append({"n": n, "shape": [batch, n, n], "seconds": seconds, "seconds_min": fastest, "seconds_wall": wall,
                     "ratio": t_ours / t_loop})
    return rows


# What chapter 16 states about the file: discgrad.findings.bench_solvers.


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=11, help="timed rounds per measurement (median)")
    parser.add_argument("--out", default=str(results_root() / "bench" / "solvers.json"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[12, 18, 24, 30], help="grid sizes")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32, 256, 1024],
                        help="maps per ShortestPath batch")
    parser.add_argument("--dijkstra-max", type=int, default=256,
                        help="time the per-instance Python Dijkstra on at most this many maps and scale")
    add_common_arguments(parser)
    args, load_before, start = begin(parser, argv)
    shortest = bench_shortest_path(args.sizes, args.batches, args.repeats, args.dijkstra_max, args.clock)
    tsp = bench_tsp(args.repeats, clock=args.clock)
    assignment = bench_assignment(args.repeats, clock=args.clock)
    results = {
        "shortest_path": shortest,
        "shortest_path_growth_exponent": shortest_path_growth(shortest),
        "topk_ranking": bench_topk_ranking(args.repeats, clock=args.clock),
        "tsp": tsp,
        "tsp_growth_factor_per_city": tsp_growth(tsp),
        "assignment": assignment,
        "assignment_growth_exponent": {
            m: growth_exponent([r["n"] for r in assignment], [r["seconds"][m] for r in assignment])
            for m in assignment[0]["seconds"]} if len(assignment) >= 2 else {},
    }
    wall = time.perf_counter() - start
    return write_record("solvers", __doc__, results, wall, __file__, argv, load_before, args.clock, args.out,
                        repeats=args.repeats, dijkstra_max=args.dijkstra_max)


if __name__ == "__main__":
    main()

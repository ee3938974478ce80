"""Time each estimator's forward and backward pass against the forward solve alone.

    python benchmarks/estimators.py [--repeats 11] [--out results/bench/estimators.json] [--threads N] [--clock cpu|wall]

What is timed (the median over ``--repeats`` rounds after one warm-up call of the
``--clock``: the process's CPU time on a shared machine, the wall time on a quiet one, with
the median wall time beside it; each round calls every contender of a solver once in turn,
so that load changes hit them alike; ratios are of ``seconds``: see ``discgrad.timing.race``):

* per solver, ``solve``: the solver called on the costs, nothing else; and for each
  estimator (training mode), the costs as a fresh leaf tensor, the layer's forward and
  the backward pass from ``dL/dy = g``, a fixed random tensor (for DAB together with its
  bridge loss). The table holds each time divided by ``solve``'s. Also ``autograd_floor``:
  the same forward and backward through a custom autograd function that computes nothing
  and passes the gradient on, the least any such layer costs.
* estimators: Identity (no projection, no noise), Blackbox (``lambda = 20``), IMLE
  (``lambda = 20``, Gumbel noise), Perturbed (``sigma = 1``, normal noise,
  ``n = 1, 10, 100``: its ``n`` noisy copies are solved in ONE batched call), DAB (bridge:
  an MLP flatten -> 256 -> ReLU -> flatten, the bridge loss included).
* solvers and sizes: ``ShortestPath`` on 50 maps of 12x12 (clamped at 0, as in the Warcraft
  experiment, since the shifted and noisy costs can be negative), ``TSP`` on 64 instances of
  8 cities (symmetrised, as in the globe TSP), ``Assignment`` on 256 of 10x10,
  ``TopK(10)`` on (1024, 100), ``Ranking`` on (256, 100).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch
from torch import nn

try:
    import discgrad  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from discgrad.estimators import DAB, IMLE, Blackbox, Identity, Perturbed  # noqa: E402
from discgrad.findings.bench_estimators import SAMPLES  # noqa: E402
from discgrad.results import results_root  # noqa: E402
from discgrad.solvers import (Assignment, Ranking, TopK, clamped_shortest_path,  # noqa: E402
                              symmetric_tsp)
from discgrad.timing import add_common_arguments, begin, race, write_record  # noqa: E402


def cases() -> dict:
    """``name -> (solver, costs)``: the solvers and the inputs they are timed on."""
    g = torch.Generator().manual_seed(0)
    points = torch.rand(64, 8, 2, generator=g)
    return {
        "ShortestPath": (clamped_shortest_path(), torch.rand(50, 12, 12, generator=g) + 0.1),
        "TSP": (symmetric_tsp(), torch.cdist(points, points)),
        "Assignment": (Assignment(), torch.rand(256, 10, 10, generator=g)),
        "TopK": (TopK(10), torch.randn(1024, 100, generator=g)),
        "Ranking": (Ranking(), torch.randn(256, 100, generator=g)),
    }


def layers(solver, shape) -> dict:
    """The estimators of one solver, in training mode."""
    d = int(torch.tensor(shape[1:]).prod())
    bridge = nn.Sequential(nn.Flatten(), nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, d),
                           nn.Unflatten(1, tuple(shape[1:])))
    out = {"Identity": Identity(solver), "Blackbox": Blackbox(solver, lam=20.0),
           "IMLE": IMLE(solver, lam=20.0, noise="gumbel")}
    out.update({f"Perturbed(n={n})": Perturbed(solver, sigma=1.0, n_samples=n) for n in SAMPLES})
    out["DAB"] = DAB(solver, bridge, weight=1.0)
    return {name: layer.train() for name, layer in out.items()}


def forward_backward(layer, w: torch.Tensor, grad: torch.Tensor):
    """One training pass of ``layer``: forward, then backward from ``dL/dy = grad``.

    ``w`` is detached into a fresh leaf (no copy); the backward starts at ``y`` with the
    given gradient (no loss operation is timed); DAB's bridge loss is back-propagated in the
    same call, as in training.
    """
    x = w.detach().requires_grad_()
    y = layer(x)
    if isinstance(layer, DAB):
        torch.autograd.backward([y, layer.bridge_loss], [grad, None])
    else:
        y.backward(grad)
    return x.grad


class _PassThrough(torch.autograd.Function):
    """The least a custom autograd function can cost: no solve, the gradient passed on."""

    @staticmethod
    def forward(ctx, x):
        return torch.zeros_like(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


def autograd_floor(w: torch.Tensor, grad: torch.Tensor):
    """Forward and backward of :class:`_PassThrough` on a fresh leaf, as for the estimators."""
    x = w.detach().requires_grad_()
    _PassThrough.apply(x).backward(grad)
    return x.grad


def bench(repeats: int, solvers: dict | None = None, clock: str = "cpu") -> dict:
    """Time every estimator of every solver of ``solvers`` (default: :func:`cases`)."""
    results = {}
    for name, (solver, w) in (cases() if solvers is None else solvers).items():
        grad = torch.randn(w.shape, generator=torch.Generator().manual_seed(1))
        contenders = {"solve": lambda: solver(w), "autograd_floor": lambda: autograd_floor(w, grad)}
        estimators = layers(solver, w.shape)
        contenders.update({k: (lambda layer=layer: forward_backward(layer, w, grad)) for k, layer in estimators.items()})
        for layer in estimators.values():
            layer.solver_calls = 0
        seconds, fastest, _, wall = race(contenders, repeats, clock)
        calls = {k: layer.solver_calls / (repeats + 1) for k, layer in estimators.items()}
        ratios = {k: seconds[k] / seconds["solve"] for k in estimators}
        results[name] = {"shape": list(w.shape), "seconds": seconds, "seconds_min": fastest, "seconds_wall": wall,
                         "ratio_to_solve": ratios,
                         "ratio_to_solve_wall": {k: wall[k] / wall["solve"] for k in estimators}, "solver_calls_per_pass": calls}
        print(f"{name} {tuple(w.shape)}: solve {1e3 * seconds['solve']:.2f} ms; "
              + ", ".join(f"{k} {r:.2f}x" for k, r in ratios.items()), flush=True)
    return results


# What chapter 16 states about the file: discgrad.findings.bench_estimators.


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=11, help="timed rounds per measurement (median)")
    parser.add_argument("--out", default=str(results_root() / "bench" / "estimators.json"))
    add_common_arguments(parser)
    args, load_before, start = begin(parser, argv)
    results = bench(args.repeats, clock=args.clock)
    wall = time.perf_counter() - start
    return write_record("estimators", __doc__, results, wall, __file__, argv, load_before, args.clock, args.out,
                        repeats=args.repeats)


if __name__ == "__main__":
    main()

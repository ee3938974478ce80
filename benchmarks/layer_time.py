"""Time one forward and backward pass of each method's TSP layer at n = 10 (the paper's table 8).

    python benchmarks/layer_time.py [--repeats 21] [--n 10] [--batch 50] [--out results/bench/layer_time.json] [--threads 1] [--clock cpu|wall]

What is timed (the median over ``--repeats`` rounds after one warm-up call, on the
``--clock``: the process's CPU time on a shared machine, the wall time on a quiet one,
with the median wall time beside it; each round calls every contender once in turn, so
that load changes hit them alike; see ``discgrad.timing.race``): on one fixed batch of
``--batch`` instances of ``--n`` random points on the unit sphere (seed 0), with their
chordal distances ``w`` as the costs and the optimal tours of other random points as the
labels, one pass of each method's layer around ``symmetric_tsp()`` (exact Held-Karp, where
the solver dominates a training step of the globe TSP): the forward pass, the loss
(``mean |Y - Y*|`` per instance summed over the batch; the Fenchel-Young loss for
Perturbed) and the backward pass to ``w``. The contenders: Identity with P_std (1 solver
call), Blackbox (``lambda = 10``, 2 calls), Perturbed with the Fenchel-Young loss
(``sigma = 0.3``, 3 and 10 samples: 3 and 10 calls), DAB with a dense bridge of width 128
(1 call, and the bridge's forward and backward), and the bare solver call. The network
that makes the costs is left out: chapter 10 times the layer, the part the estimators
change. Ratios are the medians divided by Identity's.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

try:
    import discgrad  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from discgrad.bridges import bridge_of_kind  # noqa: E402
from discgrad.data import chordal_distances  # noqa: E402
from discgrad.estimators import DAB, Blackbox, FenchelYoungLoss, Identity  # noqa: E402
from discgrad.losses import absolute_loss  # noqa: E402
from discgrad.results import results_root  # noqa: E402
from discgrad.solvers import symmetric_tsp  # noqa: E402
from discgrad.timing import add_common_arguments, begin, race, write_record  # noqa: E402


def layers(n: int) -> dict:
    """The contenders: ``name -> (layer, is_loss)``; a loss layer takes ``(w, target)``."""
    return {
        "identity": (Identity(symmetric_tsp(), projection="std"), False),
        "blackbox": (Blackbox(symmetric_tsp(), lam=10.0), False),
        "perturbed_3": (FenchelYoungLoss(symmetric_tsp(), sigma=0.3, n_samples=3), True),
        "perturbed_10": (FenchelYoungLoss(symmetric_tsp(), sigma=0.3, n_samples=10), True),
        "dab": (DAB(symmetric_tsp(), bridge_of_kind("dense", (n, n), 128)), False),
    }


def instance(n: int, batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Costs ``(batch, n, n)``: the chordal distances of random points on the sphere, and the
    optimal tours of other random points (the labels)."""
    g = torch.Generator().manual_seed(seed)
    points = torch.nn.functional.normalize(torch.randn(2, batch, n, 3, generator=g), dim=-1)
    w = chordal_distances(points[0])
    return w, symmetric_tsp()(chordal_distances(points[1]))


def one_pass(layer, is_loss: bool, w0: torch.Tensor, target: torch.Tensor):
    """Forward, loss and backward to the costs; returns the costs' gradient."""
    w = w0.clone().requires_grad_()
    if is_loss:
        loss = layer(w, target) * len(w)
    else:
        loss = absolute_loss(layer(w), target) * len(w)
        loss = loss + getattr(layer, "bridge_loss", 0.0)
    loss.backward()
    return w.grad


def bench(n: int, batch: int, repeats: int, clock: str) -> dict:
    w, target = instance(n, batch)
    contenders = layers(n)
    solver = symmetric_tsp()
    fns = {name: (lambda l=layer, s=is_loss: one_pass(l, s, w, target)) for name, (layer, is_loss) in contenders.items()}
    fns["solver"] = lambda: solver(w)
    for layer, _ in contenders.values():
        layer.solver_calls = 0
    seconds, seconds_min, _, wall = race(fns, repeats, clock)
    passes = repeats + 1  # the warm-up call, then one per round
    calls = {name: layer.solver_calls / passes for name, (layer, _) in contenders.items()}
    out = {"n": n, "batch": batch, "seconds": seconds, "seconds_min": seconds_min, "seconds_wall": wall,
           "solver_calls_per_pass": calls,
           "ratio_to_identity": {name: seconds[name] / seconds["identity"] for name in seconds}}
    print(", ".join(f"{m} {t * 1e3:.1f} ms ({out['ratio_to_identity'][m]:.2f}x)" for m, t in seconds.items()),
          flush=True)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=21, help="timed rounds (median)")
    parser.add_argument("--n", type=int, default=10, help="cities per instance")
    parser.add_argument("--batch", type=int, default=50, help="instances per batch")
    parser.add_argument("--out", default=str(results_root() / "bench" / "layer_time.json"))
    add_common_arguments(parser)
    args, load_before, start = begin(parser, argv)
    results = bench(args.n, args.batch, args.repeats, args.clock)
    wall = time.perf_counter() - start
    return write_record("layer_time", __doc__, results, wall, __file__, argv, load_before, args.clock, args.out,
                        repeats=args.repeats)


if __name__ == "__main__":
    main()

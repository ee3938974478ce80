"""Time one training epoch of the Warcraft and globe TSP experiments, per method.

    python benchmarks/training.py [--rounds 5] [--scale cpu] [--out results/bench/training.json] [--threads 1]

What is timed: for each experiment (``warcraft`` on 12x12 maps, ``globe_tsp`` with k = 5
countries, both at the ``--scale`` config) and each method of the module's ``METHODS``
(read when the script runs, so new methods are picked up), ``run(method, seed=0,
max_steps=S)`` (a method with a grid runs its first variant) with ``S`` the number of steps of one epoch (``ceil(n_train /
batch_size)``). The time is the one the run records itself: ``discgrad.train.fit`` keeps
per epoch the wall time of the optimisation steps (forward, loss, backward, optimiser
update, and drawing the batches) in ``history["epoch_time_s"]``; the per-epoch
evaluation, data generation and model set-up are left out. It is wall time, so run the
script on a quiet machine. ``--rounds`` rounds each run every method once in turn (so
that load changes hit them alike); the table holds the median over rounds of the epoch's
time, and the solver calls per step that the estimator's counter reports. One warm-up run
(one step) per experiment builds the cached data sets first.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

import torch

try:
    import discgrad  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from discgrad.experiments import globe_tsp, warcraft  # noqa: E402
from discgrad.results import results_root  # noqa: E402
from discgrad.scale import pick  # noqa: E402
from discgrad.timing import write_record  # noqa: E402

EXPERIMENTS = {"warcraft": warcraft, "globe_tsp": globe_tsp}


def reference_methods(module) -> tuple[str, str]:
    """The plain Identity and plain Blackbox methods of an experiment (the first of each)."""
    def family(spec):  # a Method (the comparison protocol's experiments) or a dict of settings
        return getattr(spec, "family", None) or spec["estimator"]

    identity = next(m for m, s in module.METHODS.items() if family(s) == "identity")
    blackbox = next(m for m, s in module.METHODS.items() if family(s) == "blackbox")
    return identity, blackbox


def timed_epoch(module, method: str, scale: str, steps: int) -> tuple[float, float]:
    """Wall seconds that ``module.run`` spent in ``steps`` optimisation steps, and solver calls per step.

    The seconds are the run's own record, ``history["epoch_time_s"]`` summed over its epochs
    (one epoch when ``steps`` is an epoch's worth).
    """
    record = module.run(method, scale, seed=0, max_steps=steps)
    recorded = record["settings"].get("steps", steps)
    if recorded != steps:
        raise AssertionError(f"{module.NAME} {method}: ran {recorded} steps, expected {steps}")
    return sum(record["history"]["epoch_time_s"]), record["metrics"]["solver_calls_per_step"]


def bench(scale: str, rounds: int) -> dict:
    out = {}
    for name, module in EXPERIMENTS.items():
        config = pick(module.CONFIGS, scale)
        steps = math.ceil(config["n_train"] / config["batch_size"])
        methods = list(module.METHODS)
        timed_epoch(module, methods[0], scale, 1)  # warm-up: builds the cached data sets
        seconds = {m: [] for m in methods}
        calls = {}
        for _ in range(rounds):
            for m in methods:
                t, calls[m] = timed_epoch(module, m, scale, steps)
                seconds[m].append(t)
        median = {m: statistics.median(t) for m, t in seconds.items()}
        identity, blackbox = reference_methods(module)
        out[name] = {"steps": steps, "batch_size": config["batch_size"], "scale": scale,
                     "train_seconds": median, "train_seconds_all": seconds, "solver_calls_per_step": calls,
                     "identity_method": identity, "blackbox_method": blackbox,
                     "ratio_to_blackbox": {m: median[m] / median[blackbox] for m in methods}}
        print(f"{name} ({steps} steps): " + ", ".join(
            f"{m} {t:.2f} s ({calls[m]:g} calls/step)" for m, t in median.items()), flush=True)
    return out


# What chapter 16 states about the file: discgrad.findings.bench_training.


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="epochs per method (median), interleaved")
    parser.add_argument("--scale", default="cpu", choices=["smoke", "cpu", "gpu"], help="the experiments' config")
    parser.add_argument("--out", default=str(results_root() / "bench" / "training.json"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the experiments' runner uses 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("DISCGRAD_PROGRESS", "0")
    load_before = os.getloadavg()
    start = time.perf_counter()
    results = bench(args.scale, args.rounds)
    wall = time.perf_counter() - start
    return write_record("training", __doc__, results, wall, __file__, argv, load_before, "wall", args.out,
                        rounds=args.rounds)


if __name__ == "__main__":
    main()

"""Train the same linear model through discgrad and through PyEPO, on the same data: regret and time.

    python benchmarks/pyepo_comparison.py [--epochs 2] [--seeds 0 1] [--out results/bench/own_solver_pyepo.json] [--threads 1] [--clock cpu|wall]

Needs PyEPO 2.2.7 and OR-Tools (``pip install pyepo==2.2.7 ortools``); chapter 18 reads the file
this writes and does not need them.

What is measured, for each problem of chapter 18 (``discgrad.experiments.own_solver``: the
shortest path on PyEPO's 5x5 grid and the 20-item knapsack, on the chapter's cpu-scale data:
1000 training and 1000 test instances, costs a noisy polynomial of degree 4 of 5 features):

* solving the 1000 training instances once: discgrad's ``SolvedDataset`` with the batched
  solver (``GraphShortestPath``, ``Knapsack``) against PyEPO's ``optDataset`` with its OR-Tools
  model (``pyepo.model.ort.shortestPathModel``, GLOP's linear program; ``knapsackModel``, SCIP's
  integer program), one instance at a time;
* training the linear model ``nn.Linear(5, d)`` with Adam (learning rate 0.01, batches of 64,
  ``--epochs`` epochs) through three methods that both libraries have, each pair with the same
  initialisation, the same batches and the same loss: negative identity (discgrad's
  ``Identity``, PyEPO's ``negativeIdentity``) and the perturbed optimizer (``Perturbed`` and
  ``perturbedOpt``, 10 normal samples, sigma 0.3 on the path and 1 on the knapsack), both on
  the absolute loss ``|y - y*|`` summed over the batch, and the SPO+ loss (``spo_plus_loss``
  and ``SPOPlus``, summed). ``perturbedOpt`` subtracts a leave-one-out baseline from its
  samples in the backward pass by default (``variance_reduction=True``), which discgrad's
  ``Perturbed`` does not; ``pyepo_plain`` is ``perturbedOpt`` without it. Per seed: the test
  normalised regret after training (computed alike for all, with discgrad's
  ``normalised_regret``), and the median time of one training epoch (forward, solver calls,
  backward and update; no evaluation) on ``--clock``.

The path's edges are numbered differently in the two libraries: PyEPO's model gets the
costs, the predictions and the solutions permuted into its order, so both solve the same
instances. Identity and SPO+ are deterministic given the solutions, so the two libraries
train the same model wherever their solvers return the same solutions; ``max_abs_regret_gap``
says how close they came.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

try:
    import discgrad  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from discgrad import Identity, Perturbed  # noqa: E402
from discgrad.experiments.own_solver import CONFIGS, make_solver, make_splits  # noqa: E402
from discgrad.losses import absolute_loss  # noqa: E402
from discgrad.predict_then_optimize import SolvedDataset, normalised_regret, spo_plus_loss  # noqa: E402
from discgrad.results import results_root  # noqa: E402
from discgrad.timing import add_common_arguments, write_record  # noqa: E402
from discgrad.train import seed_everything  # noqa: E402

#: The perturbed optimizer's noise scale per problem (the middle of chapter 18's Fenchel-Young grids).
SIGMA = {"path": 0.3, "knapsack": 1.0}
N_SAMPLES, LR, BATCH = 10, 0.01, 64
METHODS = ("identity", "perturbed", "spo_plus")


def pyepo_model(problem: str):
    """PyEPO's OR-Tools model of the problem, and the permutation from discgrad's cost order to PyEPO's."""
    from pyepo.model.ort import knapsackModel, shortestPathModel

    solver = make_solver(problem)
    if problem == "path":
        model = shortestPathModel((5, 5))
        index = {tuple(e): i for i, e in enumerate(solver.edges.tolist())}
        return model, torch.tensor([index[tuple(arc)] for arc in model.arcs])
    model = knapsackModel(weights=solver.weights.numpy()[None].astype(float), capacity=[float(solver.capacity)])
    return model, torch.arange(solver.weights.numel())


def clock_now(clock: str) -> float:
    return time.process_time() if clock == "cpu" else time.perf_counter()


def train(problem: str, method: str, library: str, splits, seed: int, epochs: int, clock: str) -> dict:
    """One training run; returns the test normalised regret and the epochs' times."""
    solver = make_solver(problem)
    train_split = splits.train
    d = train_split.costs.shape[1]
    if library == "discgrad":
        perm = torch.arange(d)
        layer = {"identity": lambda: Identity(solver), "perturbed": lambda: Perturbed(solver, SIGMA[problem], N_SAMPLES),
                 "spo_plus": lambda: None}[method]()
    else:
        from pyepo.func import SPOPlus, negativeIdentity, perturbedOpt

        optmodel, perm = pyepo_model(problem)
        baseline = library == "pyepo"  # "pyepo_plain": perturbedOpt without its variance reduction
        layer = {"identity": lambda: negativeIdentity(optmodel),
                 "perturbed": lambda: perturbedOpt(optmodel, n_samples=N_SAMPLES, sigma=SIGMA[problem], seed=seed,
                                                   variance_reduction=baseline),
                 "spo_plus": lambda: SPOPlus(optmodel, reduction="sum")}[method]()
    seed_everything(seed)
    model = torch.nn.Linear(train_split.features.shape[1], d)
    optimiser = torch.optim.Adam(model.parameters(), lr=LR)
    order = torch.Generator().manual_seed(seed)
    times = []
    for _ in range(epochs):
        start = clock_now(clock)
        for index in torch.randperm(len(train_split), generator=order).split(BATCH):
            batch = train_split[index]
            c_hat = model(batch.features)[:, perm]
            costs, y_star = batch.costs[:, perm], batch.solutions[:, perm]
            if method == "spo_plus":
                loss = (spo_plus_loss(solver, c_hat, costs, y_star, reduction="sum") if library == "discgrad"
                        else layer(c_hat, costs, y_star, batch.objectives[:, None]))
            else:
                loss = absolute_loss(layer(c_hat), y_star, reduction="sum")
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        times.append(clock_now(clock) - start)
    with torch.no_grad():
        test = splits.test
        score = float(normalised_regret(solver, model(test.features), test.costs, test.objectives))
    return {"test_normalised_regret": score, "epoch_s": statistics.median(times)}


def solve_once(problem: str, splits, clock: str) -> dict:
    """Seconds to solve the training instances once: SolvedDataset against optDataset."""
    from pyepo.data.dataset import optDataset

    train_split = splits.train
    solver = make_solver(problem)
    optmodel, perm = pyepo_model(problem)
    start = clock_now(clock)
    ours = SolvedDataset(solver, train_split.features, train_split.costs)
    mid = clock_now(clock)
    theirs = optDataset(optmodel, train_split.features.numpy(), train_split.costs[:, perm].numpy())
    end = clock_now(clock)
    gap = float((ours.objectives - theirs.objs.squeeze(1).to(ours.objectives.dtype)).abs().max())
    if gap > 1e-4 * float(ours.objectives.abs().max()):
        raise AssertionError(f"{problem}: SolvedDataset and optDataset disagree on the optimal objectives by {gap}")
    return {"instances": len(train_split), "discgrad_s": mid - start, "pyepo_s": end - mid,
            "max_abs_objective_gap": gap}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2, help="training epochs per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds (initialisation and batches)")
    parser.add_argument("--scale", default="cpu", choices=sorted(CONFIGS), help="chapter 18's data of this scale")
    parser.add_argument("--out", default=str(results_root() / "bench" / "own_solver_pyepo.json"))
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import pyepo

    load_before = os.getloadavg()
    start = time.perf_counter()
    config = CONFIGS[args.scale]
    results = {"scale": args.scale, "epochs": args.epochs, "seeds": args.seeds, "batch_size": BATCH, "lr": LR,
               "n_samples": N_SAMPLES, "sigma": SIGMA, "problems": {}}
    for problem in ("path", "knapsack"):
        splits = make_splits(config, problem)
        row = {"solve_training_set": solve_once(problem, splits, args.clock), "methods": {}}
        for method in METHODS:
            libraries = ("discgrad", "pyepo", "pyepo_plain") if method == "perturbed" else ("discgrad", "pyepo")
            runs = {lib: [train(problem, method, lib, splits, s, args.epochs, args.clock) for s in args.seeds]
                    for lib in libraries}
            entry = {lib: {"test_normalised_regret": [r["test_normalised_regret"] for r in rs],
                           "epoch_s": [r["epoch_s"] for r in rs]} for lib, rs in runs.items()}
            entry["max_abs_regret_gap"] = max(abs(a - b) for a, b in zip(entry["discgrad"]["test_normalised_regret"],
                                                                           entry["pyepo"]["test_normalised_regret"]))
            entry["speedup"] = statistics.median(entry["pyepo"]["epoch_s"]) / statistics.median(
                entry["discgrad"]["epoch_s"])
            row["methods"][method] = entry
            print(f"{problem} {method}: regret discgrad {np.mean(entry['discgrad']['test_normalised_regret']):.4f} "
                  f"pyepo {np.mean(entry['pyepo']['test_normalised_regret']):.4f}; epoch {entry['speedup']:.1f}x faster",
                  flush=True)
        results["problems"][problem] = row
    return write_record("own_solver_pyepo", __doc__, results, time.perf_counter() - start, __file__, argv, load_before,
                        args.clock, args.out, pyepo_version=pyepo.__version__,
                        ortools_version=__import__("ortools").__version__)


if __name__ == "__main__":
    main()

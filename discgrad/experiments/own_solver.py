"""Predict-then-optimize with a user's solver: a linear model of the costs of two problems.

The setting of Elmachtoub and Grigas (2022, "Smart predict, then optimize") and of the PyEPO
benchmarks (Tang and Khalil 2024): a linear model ``c_hat = W x + b`` predicts the costs of
an optimisation problem from 5 features; what counts is the decision ``y(c_hat)`` under the
true costs, measured by the **normalised regret** on held-out instances
(:func:`discgrad.predict_then_optimize.normalised_regret`: the summed regret over the summed
optimal objectives; 0 is perfect). The costs are a noisy polynomial of degree 4 of the
features (:mod:`discgrad.data.pto`, half-width 0.5 of the multiplicative noise), so a linear
model of the costs is misspecified, which is where training on the decision is expected to
help. Two problems, each a solver of the package:

* ``path``: the shortest path on PyEPO's 5x5 grid (:meth:`discgrad.solvers.GraphShortestPath.grid`,
  40 edge costs, a min problem; every path has 8 edges, so a shift of all costs changes no
  decision and P_mean and P_std apply); costs about 0.76 on average, spread (the standard
  deviation of an instance's costs) about 0.49;
* ``knapsack``: 20 items of integer weights 3 to 7 and a capacity of a quarter of their
  total (:class:`~discgrad.solvers.Knapsack`, a max problem; a shift of the values changes
  the decision, so only scale projections apply); values 5 times the polynomial, about 3.7
  on average, spread about 2.4.

Training splits, validation and test (data seeds 1, 3, 2; the cost map and the knapsack are
fixed per problem). The methods, each a family with a grid over its own knob (design
section 11), per problem:

* ``identity``: Identity (Sahoo et al. 2023) on the absolute loss ``mean |y - y*|`` against
  the true solution; the grid is the projection times the noise margin ``alpha`` (0 or 1, in
  units of the projected costs' root mean square entry for P_norm and P_std, in cost units
  without; :func:`~discgrad.experiments.methods.margin_in_cost_units`). The path's
  projections are none, P_norm and P_std (P_mean is left out: as every path has 8 edges, it
  changes neither the decision nor, with this loss, Identity's gradient; tested), the
  knapsack's none and P_norm;
* ``blackbox``: Blackbox (Vlastelica et al. 2020) on the same loss. Each instance's loss
  has the gradient ``+-1/d`` on a wrong entry (``d`` = 40 edges or 20 items; the per-instance
  losses are summed over the batch), so lambda = 2, 20 and 200 (path) shift such a cost by
  0.05, 0.5 and 5, and lambda = 5, 50 and 500 (knapsack) by 0.25, 2.5 and 25: from a tenth of
  the costs' spread to ten times it (PyEPO recommends 10 to 20, in its own loss's units);
* ``fenchel_young``: the perturbed optimizer of Berthet et al. (2020) trained with its
  Fenchel-Young loss, 10 normal samples, sigma around the costs' spread: 0.1, 0.3, 1 (path),
  0.3, 1, 3 (knapsack), each widened once, on validation, where a two-seed pilot chose an
  edge (1 on the path, 0.3 on the knapsack): both grids are now 0.1, 0.3, 1 and 3;
* ``spo_plus``: the SPO+ loss of Elmachtoub and Grigas (2022, eq. 5;
  :func:`~discgrad.predict_then_optimize.spo_plus_loss`), one solver call per step, no knob;
* ``two_stage``: the two-stage baseline, the mean squared error of the predicted costs, no
  solver in training and no knob.

Every run also records the regret of the untrained model (``untrained_test_*``).

Run from the command line (10 seeds: a run takes 1 to 3 s)::

    python -m discgrad.experiments.own_solver --scale cpu --seeds 0 1 2 3 4 5 6 7 8 9 --workers 2 --out results/cpu/own_solver.json

Book: chapter 18 (your own solver).
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from discgrad.data.pto import cost_map, knapsack_instance, make_pto_data
from discgrad.losses import absolute_loss
from discgrad.predict_then_optimize import SolvedDataset, regret, spo_plus_loss
from discgrad.solvers import GraphShortestPath, Knapsack

from .methods import Method
from .runner import main
from .task import Splits, Task

NAME = "own_solver"

#: The two problems: their solver's size and the scale of their costs.
PROBLEMS = ("path", "knapsack")

#: Knapsack items; the grid is PyEPO's 5x5.
N_ITEMS, GRID = 20, (5, 5)


class CostLoss(nn.Module):
    """A family whose loss is computed from the predicted and the true costs (SPO+, the
    two-stage mean squared error): in training :class:`~discgrad.experiments.methods.MethodLayer`
    returns the exact solution, and :meth:`OwnSolver.loss` computes the loss. It counts the
    solver calls of SPO+ (one per step; the two-stage loss makes none)."""

    is_loss = True

    def __init__(self, solver, calls_per_step: int):
        super().__init__()
        self.solver, self.calls_per_step, self.solver_calls = solver, calls_per_step, 0


def _methods(problem: str, lams, sigmas, identity_grid) -> dict[str, Method]:
    setting = {"problem": problem}
    return {
        f"{problem}_identity": Method("identity", grid=identity_grid, setting=setting),
        f"{problem}_blackbox": Method("blackbox", grid={"lam": lams}, setting=setting),
        f"{problem}_fenchel_young": Method("fenchel_young", fixed={"n_samples": 10}, grid={"sigma": sigmas},
                                           setting=setting),
        f"{problem}_spo_plus": Method("spo_plus", setting=setting),
        f"{problem}_two_stage": Method("two_stage", setting=setting),
    }


#: The methods of both problems (see the module docstring); a method's ``setting`` names its problem.
METHODS: dict[str, Method] = {
    **_methods("path", lams=[2.0, 20.0, 200.0], sigmas=[0.1, 0.3, 1.0, 3.0],
               identity_grid={"projection": [None, "norm", "std"], "alpha": [0.0, 1.0]}),
    **_methods("knapsack", lams=[5.0, 50.0, 500.0], sigmas=[0.1, 0.3, 1.0, 3.0],
               identity_grid={"projection": [None, "norm"], "alpha": [0.0, 1.0]}),
}

#: One config per scale (design section 3): PyEPO's sizes (5 features, 1000 training
#: instances, degree 4, noise half-width 0.5). The cpu budget, 20 epochs of 16 steps, is where
#: a pilot's validation curves had flattened (the findings check it for every chosen variant).
CONFIGS: dict[str, dict] = {
    "smoke": {"n_features": 5, "deg": 4, "noise_width": 0.5, "n_train": 200, "n_val": 100, "n_test": 200,
              "batch_size": 32, "epochs": 2, "lr": 0.01},
    "cpu": {"n_features": 5, "deg": 4, "noise_width": 0.5, "n_train": 1000, "n_val": 250, "n_test": 1000,
            "batch_size": 64, "epochs": 20, "lr": 0.01},
    "gpu": {"n_features": 5, "deg": 4, "noise_width": 0.5, "n_train": 5000, "n_val": 1000, "n_test": 5000,
            "batch_size": 64, "epochs": 30, "lr": 0.01},
}

#: Each split's data seed; each problem's seed of its cost map (and of the knapsack).
SPLIT_SEEDS = {"train": 1, "val": 3, "test": 2}
PROBLEM_SEEDS = {"path": 0, "knapsack": 1}


def make_solver(problem: str):
    """The problem's solver: PyEPO's 5x5 grid shortest path, or the 20-item knapsack.

    Example:
        >>> make_solver("path"), make_solver("knapsack")
        (GraphShortestPath(40 edges, 25 nodes, source=0, target=24), Knapsack(20 items, capacity=26))
    """
    if problem == "path":
        return GraphShortestPath.grid(*GRID)
    if problem == "knapsack":
        return Knapsack(*knapsack_instance(N_ITEMS, seed=PROBLEM_SEEDS["knapsack"]))
    raise ValueError(f"unknown problem {problem!r}: use one of {PROBLEMS}")


def make_splits(config: Mapping, problem: str, device=None) -> Splits:
    """The problem's train / validation / test :class:`~discgrad.predict_then_optimize.SolvedDataset`
    (features, true costs, and their solutions and objectives, solved once).

    Example:
        >>> splits = make_splits(CONFIGS["smoke"], "knapsack")
        >>> len(splits.train), splits.train.costs.shape, splits.test.solutions.shape
        (200, torch.Size([200, 20]), torch.Size([200, 20]))
    """
    solver = make_solver(problem)
    size = solver.edges.shape[0] if problem == "path" else N_ITEMS
    B = cost_map(config["n_features"], size, seed=PROBLEM_SEEDS[problem])
    scale = 5.0 if problem == "knapsack" else 1.0
    out = []
    for name in ("train", "val", "test"):
        data = make_pto_data(config[f"n_{name}"], B, config["deg"], config["noise_width"], SPLIT_SEEDS[name], scale)
        out.append(SolvedDataset(solver, data.features.to(device), data.costs.to(device)))
    return Splits(*out)


class OwnSolver(Task):
    """The task: linear model -> a problem's solver, trained by each method's loss (see the module docstring)."""

    name, configs, methods = NAME, CONFIGS, METHODS
    metric, higher_is_better, variant_keys = "normalised_regret", False, ("problem",)
    families = {"spo_plus": lambda solver, context: CostLoss(solver, 1),
                "two_stage": lambda solver, context: CostLoss(solver, 0)}

    def variants(self, config: Mapping) -> list[dict]:
        return [{"problem": "path"}]  # each method's setting names its problem

    def data(self, config: Mapping, device, problem: str) -> Splits:
        return make_splits(config, problem, device)

    def model(self, config: Mapping, problem: str) -> nn.Module:
        size = GRID[0] * (GRID[1] - 1) * 2 if problem == "path" else N_ITEMS
        return nn.Linear(config["n_features"], size)

    def solver(self, config: Mapping, problem: str):
        return make_solver(problem)

    def context(self, config: Mapping, problem: str) -> dict:
        return {"size": GRID[0] * (GRID[1] - 1) * 2 if problem == "path" else N_ITEMS}

    def loss(self, model, layer, batch, config: Mapping, problem: str) -> torch.Tensor:
        c_hat = model(batch.features)
        family = layer.method.family
        if family == "two_stage":
            return ((c_hat - batch.costs) ** 2).mean(1).sum()
        if family == "spo_plus":
            layer.estimator.solver_calls += 1
            return spo_plus_loss(layer.solver, c_hat, batch.costs, batch.solutions, reduction="sum")
        # each instance is one solver instance: the per-instance losses are summed over the batch
        return layer.loss(c_hat, batch.solutions, lambda y, t: absolute_loss(y, t, reduction="sum"))

    def evaluate(self, model, layer, split: SolvedDataset, config: Mapping, problem: str) -> dict[str, float]:
        c_hat = model(split.features)
        per_instance = regret(layer.solver, c_hat, split.costs, split.objectives, reduction="none")
        # the normalised regret of :func:`~discgrad.predict_then_optimize.normalised_regret`, from one solver call
        return {"normalised_regret": float(per_instance.sum() / split.objectives.abs().sum()),
                "regret": float(per_instance.mean()), "cost_mse": float(((c_hat - split.costs) ** 2).mean())}


TASK = OwnSolver()
EXPERIMENT = TASK.experiment()


if __name__ == "__main__":
    main(EXPERIMENT)

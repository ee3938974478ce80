"""Warcraft shortest paths: read terrain costs off a map image, learn through a path solver.

The experiment of Vlastelica et al. (2020) that Sahoo et al. (2023, appendix, table 7)
rerun with identity backpropagation, at reduced scale and on procedural terrain maps
(:mod:`discgrad.data.terrain`): a small ResNet-like trunk with a softplus output
(:class:`discgrad.models.ResNetTrunk`) maps the image of a ``grid x grid`` map to a grid of
positive cell costs; :class:`discgrad.solvers.ShortestPath` returns the cheapest
8-connected path from the top-left to the bottom-right cell; the loss is the Hamming
distance to the true path, summed over the cells and averaged over the batch,

.. math:: L = \\frac{1}{B} \\sum_b \\sum_{ij} \\big| Y(w_b)_{ij} - Y^*_{b,ij} \\big| .

Methods (:data:`METHODS`): Identity without projection, with P_norm, and without
projection but with the noise margin 0.2; Blackbox with ``lambda = 20``; and two methods
from outside the paper (issue 11): the perturbed optimizer of Berthet et al. (2020) trained
with its Fenchel-Young loss (normal noise, ``sigma = 1``, 10 samples: the defaults of
PyEPO's ``perturbedFenchelYoung``; 10 solver calls per step, no unperturbed one), and DAB
(Ramapuram and Webb 2019) with a small convolutional bridge (:class:`ConvBridge`) that
learns to imitate the path masks from the costs, its loss added to the Hamming loss with
weight 1 (one solver call per step). Every method trains for the same epochs and steps.

``ShortestPath`` refuses negative costs. The network's costs are positive (softplus), but
the margin noise (``+-0.1``) and Blackbox's shifted costs ``w + lambda dL/dy`` can go below
zero; every method therefore solves with :func:`discgrad.solvers.clamped_shortest_path`, which clamps the
costs at 0 first (a cell that would have a negative cost becomes free; on costs that are
already ``>= 0`` the clamp changes nothing).

Metrics on the test maps: the cost ratio ``100 <c, Y(w)> / <c, Y(c)>`` (the true cost
of the predicted path over the optimal cost, times 100; lower is better, 100 is optimal:
the measure of the paper's table 7), the exact-path accuracy, and the training wall time
per step of each method.

Run from the command line::

    python -m discgrad.experiments.warcraft --scale cpu --seeds 0 1 2 --out results/cpu/warcraft.json

Book: chapter 11 (Warcraft shortest paths).
"""
from __future__ import annotations

import functools
import time
from typing import Mapping

import torch
from torch import nn

from discgrad.data.terrain import make_terrain_maps
from discgrad.estimators import DAB, Blackbox, FenchelYoungLoss, Identity
from discgrad.models import ResNetTrunk
from discgrad.scale import get_device, resolve_config
from discgrad.solvers import ShortestPath, clamped_shortest_path
from discgrad.train import fit, seed_everything

from .runner import Experiment, ShuffledBatches, main

NAME = "warcraft"

#: The methods, as in the paper's table 7.
METHODS: dict[str, dict] = {
    "identity": {"estimator": "identity", "projection": None, "noise": 0.0},
    "identity_norm": {"estimator": "identity", "projection": "norm", "noise": 0.0},
    "identity_noise": {"estimator": "identity", "projection": None, "noise": 0.2},
    "blackbox": {"estimator": "blackbox", "lam": 20.0},
    # not in the paper (issue 11); settings fixed before any run
    "perturbed": {"estimator": "perturbed", "loss": "fenchel_young", "sigma": 1.0, "n_samples": 10},
    "dab": {"estimator": "dab", "bridge": "conv", "bridge_width": 16, "bridge_weight": 1.0},
}

#: One config per scale (design section 3); nothing else changes between scales. ``grids``
#: are the map sizes (a variant each); ``cell`` the pixels per cell side.
CONFIGS: dict[str, dict] = {
    "smoke": {"grids": [6], "cell": 4, "n_train": 100, "n_test": 50, "width": 8, "blocks": 1,
              "epochs": 2, "batch_size": 50, "lr": 1e-3},
    "cpu": {"grids": [12], "cell": 4, "n_train": 1000, "n_test": 200, "width": 16, "blocks": 1,
            "epochs": 20, "batch_size": 50, "lr": 1e-3},
    "gpu": {"grids": [12, 18, 24, 30], "cell": 6, "n_train": 10000, "n_test": 1000, "width": 64, "blocks": 2,
            "epochs": 30, "batch_size": 70, "lr": 1e-3},
}


class ConvBridge(nn.Module):
    """DAB's bridge for the grid: costs ``(B, H, W)`` -> an imitation of the path mask.

    Four convolutions (3x3 with dilations 1, 2, 4, then 1x1) and ReLUs: translation
    equivariant like the solver's local moves, few parameters, and a receptive field of
    15 cells, which covers the 12x12 maps of the cpu scale (a path depends on the whole
    map). The output is linear (no squashing), so the bridge's Jacobian never saturates.
    """

    def __init__(self, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=4, dilation=4), nn.ReLU(),
            nn.Conv2d(width, 1, 1))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.net(w.unsqueeze(1)).squeeze(1)


class PathLayer(nn.Module):
    """The shortest-path layer of one method: costs ``(B, H, W)`` -> path mask ``(B, H, W)``.

    ``loss(w, target)`` is the training loss of the method: the Hamming loss of the layer's
    output, plus the bridge loss for DAB; for ``perturbed`` the Fenchel-Young loss, whose
    layer has no hard forward output: ``forward`` then returns the exact path (used to
    evaluate).
    """

    def __init__(self, method: str):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}: use one of {list(METHODS)}")
        spec = METHODS[method]
        self.method, self.estimator = method, spec["estimator"]
        if self.estimator == "identity":
            self.layer = Identity(clamped_shortest_path(), projection=spec["projection"], noise=spec["noise"])
        elif self.estimator == "blackbox":
            self.layer = Blackbox(clamped_shortest_path(), lam=spec["lam"])
        elif self.estimator == "perturbed":
            self.layer = FenchelYoungLoss(clamped_shortest_path(), sigma=spec["sigma"], n_samples=spec["n_samples"])
            self.solver = clamped_shortest_path()
        else:
            self.layer = DAB(clamped_shortest_path(), ConvBridge(spec["bridge_width"]), weight=spec["bridge_weight"])

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if self.estimator == "perturbed":
            with torch.no_grad():
                return self.solver(w.detach()).to(w.dtype)
        return self.layer(w)

    def loss(self, w: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The training loss of the method on costs ``w`` and true paths ``target``."""
        if self.estimator == "perturbed":
            return self.layer(w, target)
        loss = hamming(self.layer(w), target)
        if self.estimator == "dab":
            loss = loss + self.layer.bridge_loss
        return loss


def hamming(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The number of cells where the paths differ, averaged over the batch."""
    return (y * (1 - target) + (1 - y) * target).flatten(1).sum(1).mean()


def cost_ratio(costs: torch.Tensor, path: torch.Tensor, optimal: torch.Tensor) -> torch.Tensor:
    """``100 <c, path> / <c, optimal>`` per map: 100 when the path is optimal, more otherwise.

    Example:
        >>> c = torch.tensor([[[1.0, 3.0], [1.0, 1.0]]])
        >>> cost_ratio(c, torch.tensor([[[1.0, 1.0], [0.0, 1.0]]]), torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]))
        tensor([250.])
    """
    return 100 * (costs * path).flatten(1).sum(1) / (costs * optimal).flatten(1).sum(1)


def layer_time_s(method: str, w: torch.Tensor, grad: torch.Tensor, repeats: int = 21) -> float:
    """The median time of one forward and backward pass of the path layer alone, in seconds.

    The training step also runs the network, whose cost is the same for every method; this
    isolates what the estimator costs (Identity: one solver call; Blackbox: two; Perturbed:
    ``n_samples`` in one batched call, with the Fenchel-Young loss against the exact paths
    of ``w``; DAB: one, plus the bridge's forward and backward and its loss).
    """
    layer = PathLayer(method).train()
    target = ShortestPath()(w.detach().clamp_min(0)).to(w.dtype)
    times = []
    for _ in range(repeats):
        x = w.detach().clone().requires_grad_()
        tick = time.perf_counter()
        if layer.estimator == "perturbed":
            layer.loss(x, target).backward()
        elif layer.estimator == "dab":
            ((layer(x) * grad).sum() + layer.layer.bridge_loss).backward()
        else:
            layer(x).backward(grad)
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - tick)
    return sorted(times)[len(times) // 2]


@functools.lru_cache(maxsize=4)
def make_data(grid: int, cell: int, n_train: int, n_test: int, device: str = "cpu"):
    """The training (seed 1) and test (seed 2) maps of a config; cached across methods and seeds."""
    return (make_terrain_maps(n_train, grid, cell, seed=1, device=device),
            make_terrain_maps(n_test, grid, cell, seed=2, device=device))


def variants(config: Mapping) -> list[dict]:
    """One setting per map size of the config."""
    return [{"grid": g} for g in config["grids"]]


def run(method: str, config: Mapping | str | None = None, seed: int = 0, grid: int | None = None,
        max_steps: int | None = None) -> dict:
    """Train the cost network through the path layer of ``method`` and return the record.

    Args:
        method: a key of :data:`METHODS`.
        config: the config (a mapping, e.g. a chapter's), or the scale whose config to use
            (default: the active scale's).
        seed: the seed of the initialisation, the batches and the margin noise (the maps
            are fixed: training seed 1, test seed 2).
        grid: the map size; default the config's first.
        max_steps: stop after this many optimisation steps (a dry run of a config).

    Returns:
        the arguments of :func:`discgrad.results.record_run`; ``history`` holds per epoch
        ``train_loss``, ``train_step_time_s``, ``test_cost_ratio``, ``test_accuracy``,
        ``test_hamming`` and ``epoch_time_s``.
    """
    config = resolve_config(CONFIGS, config)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {list(METHODS)}")
    grid = config["grids"][0] if grid is None else int(grid)
    device = get_device()
    start = time.perf_counter()
    train, test = make_data(grid, config["cell"], config["n_train"], config["n_test"], str(device))
    seed_everything(seed)
    model = ResNetTrunk(3, config["width"], config["blocks"], grid, stride=2).to(device)
    layer = PathLayer(method)
    # DAB's bridge trains with the network, in the same optimiser (no extra steps)
    optimiser = torch.optim.Adam([*model.parameters(), *layer.parameters()], lr=config["lr"])
    shuffled = ShuffledBatches(config["n_train"], config["batch_size"], config["epochs"], max_steps, device)
    epochs = shuffled.epochs
    train_calls = 0

    def batches(epoch):
        return ((train.images[idx], train.paths[idx]) for idx in shuffled(epoch))

    def step(batch):
        nonlocal train_calls
        images, target = batch
        calls, tick = layer.layer.solver_calls, time.perf_counter()
        optimiser.zero_grad()
        loss = layer.loss(model(images), target)
        loss.backward()
        optimiser.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_calls += layer.layer.solver_calls - calls
        return {"loss": float(loss.detach()), "step_time_s": time.perf_counter() - tick}

    def evaluate():
        w = model(test.images)
        y = layer(w)
        out = {"test_cost_ratio": float(cost_ratio(test.costs, y, test.paths).mean()),
               "test_accuracy": float((y == test.paths).flatten(1).all(1).to(w.dtype).mean()),
               "test_hamming": float(hamming(y, test.paths)),
               "test_cost_norm": float(w.flatten(1).norm(dim=1).mean())}
        if layer.estimator == "dab":  # how well the bridge imitates the solver (rounded at 0.5)
            out["test_bridge_hamming"] = float(hamming((layer.layer.bridge(w) > 0.5).to(w.dtype), y))
        return out

    history = dict(fit(step, batches, epochs, evaluate, modules=[model, layer],
                       desc=f"warcraft {method} {grid}x{grid} seed {seed}"))
    model.eval()
    with torch.no_grad():
        w = model(test.images[:config["batch_size"]])
    layer_time = layer_time_s(method, w, torch.ones_like(w))
    metrics = {"test_cost_ratio": history["test_cost_ratio"][-1], "test_accuracy": history["test_accuracy"][-1],
               "test_hamming": history["test_hamming"][-1], "train_loss": history["train_loss"][-1],
               "step_time_s": sum(history["train_step_time_s"]) / len(history["train_step_time_s"]),
               "train_time_s": sum(history["epoch_time_s"]),
               "solver_calls_per_step": train_calls / max(shuffled.steps, 1), "layer_time_s": layer_time,
               "test_cost_norm": history["test_cost_norm"][-1]}
    if "test_bridge_hamming" in history:
        metrics["test_bridge_hamming"] = history["test_bridge_hamming"][-1]
    settings = {**{n: v for n, v in config.items() if n != "grids"}, "grid": grid, **METHODS[method],
                "steps": shuffled.steps}
    return {"experiment": NAME, "method": method, "settings": settings, "seed": seed, "metrics": metrics,
            "history": history, "wall_time_s": time.perf_counter() - start, "device": str(device)}


EXPERIMENT = Experiment(name=NAME, methods=tuple(METHODS), configs=CONFIGS, run=run, variants=variants,
                        variant_keys=("grid",), metrics=("test_cost_ratio", "test_accuracy", "step_time_s"))


if __name__ == "__main__":
    main(EXPERIMENT)

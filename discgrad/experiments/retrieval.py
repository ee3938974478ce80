"""Image retrieval with a recall loss through a ranking layer, on scikit-learn's digits.

The retrieval experiment of Sahoo et al. (2023, sec. 4.3, table 5), after Rolinek et al.
(2020, "Optimizing rank-based metrics with blackbox differentiation"), at reduced scale:
CUB-200 cannot be downloaded here, so the 8x8 digits of scikit-learn stand in, with the
same protocol of *disjoint* classes: the embedding is trained on the digits 0-4 and
retrieval is evaluated on the digits 5-9, which it never saw. To keep the task from being
trivial (nearest neighbours in raw pixels already find a same-class digit almost always)
every image is shifted by up to one pixel in each direction and covered with Gaussian
pixel noise, once, with a fixed seed (:func:`load_retrieval_digits`).

An MLP embeds each image on the unit sphere; in a batch, each image is a query and the
cosine similarities to the other images of the batch are its scores; the
:class:`~discgrad.solvers.Ranking` solver ranks them, through an estimator, and the
recall loss :func:`discgrad.losses.recall_loss` ("loglog") of Rolinek et al. (2020) scores
the ranks of the query's positives (same class). Metric: Recall@K (K = 1, 2, 4, 8) on the
test classes, each test image a query against all other test images.

Run from the command line::

    python -m discgrad.experiments.retrieval --scale cpu --seeds 0 1 2 --out results/cpu/retrieval.json

Book: chapter 9 (image retrieval with a recall loss).
"""
from __future__ import annotations

import math
import time
from typing import Mapping, Sequence

import torch
from torch import nn

from discgrad.bridges import imitation_error, make_bridge
from discgrad.data.digits import load_retrieval_digits
from discgrad.estimators import DAB, Blackbox, Identity
from discgrad.losses import recall_loss
from discgrad.models import MLP
from discgrad.scale import get_device, resolve_config
from discgrad.solvers import Ranking
from discgrad.train import fit, seed_everything

from .runner import Experiment, main

NAME = "retrieval"
TRAIN_CLASSES = (0, 1, 2, 3, 4)
TEST_CLASSES = (5, 6, 7, 8, 9)
KS = (1, 2, 4, 8)

#: The noise margin of each projection, fixed before any run, as 0.1 in the units of the
#: projected scores: P_std gives scores of standard deviation 1 (margin 0.1); P_norm a unit
#: vector of n scores, of root mean square 1/sqrt(n) (margin 0.1/sqrt(n), see
#: :func:`margin_for`); without projection and with P_mean the scores are cosine
#: similarities in [-1, 1] (margin 0.1).
MARGIN = 0.1

#: The methods: Identity with each projection, without (``identity_<p>``) and with the noise
#: margin (``identity_<p>_margin``), Blackbox with lambda = 0.2 (Sahoo et al. 2023, table 5),
#: and DAB (Ramapuram and Webb 2019): the exact ranks forward, backward through a bridge that
#: imitates the ranking of one query's ``n`` scores (:func:`discgrad.bridges.make_bridge`,
#: ``n -> 128 -> 128 -> n``, tanh), trained online by its own loss.
METHODS: dict[str, dict] = {
    **{f"identity_{p}{m}": {"estimator": "identity", "projection": None if p == "none" else p,
                            "margin": bool(m)}
       for p in ("none", "mean", "norm", "std") for m in ("", "_margin")},
    "blackbox": {"estimator": "blackbox", "lam": 0.2, "margin": False},
    "dab": {"estimator": "dab", "bridge_hidden": [128, 128], "bridge_weight": 1.0, "margin": False},
}

#: Test batches (of the training batch's shape, on the test classes) on which the bridge's
#: imitation of the ranking is measured after every epoch.
BRIDGE_TEST_BATCHES = 10

#: One config per scale (design section 3); nothing else changes between scales.
CONFIGS: dict[str, dict] = {
    "smoke": {"hidden": [64], "embed_dim": 16, "per_class": 6, "steps_per_epoch": 5, "epochs": 2,
              "lr": 1e-3, "shift": 1, "pixel_noise": 0.35},
    "cpu": {"hidden": [128], "embed_dim": 16, "per_class": 8, "steps_per_epoch": 25, "epochs": 12,
            "lr": 1e-3, "shift": 1, "pixel_noise": 0.35},
    "gpu": {"hidden": [512, 512], "embed_dim": 64, "per_class": 16, "steps_per_epoch": 100, "epochs": 60,
            "lr": 1e-3, "shift": 1, "pixel_noise": 0.35},
}


class Embedder(nn.Module):
    """A small CNN onto the unit sphere: ``(N, 64) -> (N, embed_dim)`` with unit-norm rows.

    Two 3x3 convolutions (16 and 32 channels, ReLU) on the 8x8 image, a 2x2 average pool,
    then an MLP with the ``hidden`` widths on the 512 pooled features.
    """

    def __init__(self, hidden: Sequence[int], embed_dim: int):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2))
        self.head = MLP(32 * 16, list(hidden), embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.reshape(-1, 1, 8, 8)).flatten(1)
        return nn.functional.normalize(self.head(h), dim=-1)


def batch_scores(z: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image of the batch as a query: its cosine similarities to the *other* images.

    Args:
        z: unit-norm embeddings ``(N, e)``; labels ``(N,)``.

    Returns:
        ``scores (N, N - 1)`` (row ``i``: the similarities of image ``i`` to every ``j != i``,
        in order) and the 0/1 matrix ``positive (N, N - 1)`` of same-class pairs.

    Example:
        >>> z = torch.eye(3)
        >>> s, pos = batch_scores(z, torch.tensor([0, 0, 1]))
        >>> s.shape, pos.tolist()
        (torch.Size([3, 2]), [[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    """
    n = len(z)
    off = ~torch.eye(n, dtype=torch.bool, device=z.device)
    sim = z @ z.T
    same = (labels[:, None] == labels[None, :]).to(z.dtype)
    return sim[off].reshape(n, n - 1), same[off].reshape(n, n - 1)


def margin_for(projection: str | None, n: int) -> float:
    """The noise margin of :data:`MARGIN` in the units of ``projection``'s scores (n per query).

    Example:
        >>> margin_for("std", 100), margin_for("norm", 100), margin_for(None, 100)
        (0.1, 0.01, 0.1)
    """
    return MARGIN / math.sqrt(n) if projection == "norm" else MARGIN


def make_layer(method: str, n: int) -> nn.Module:
    """The ranking layer of ``method`` for queries with ``n`` scores each."""
    spec = METHODS[method]
    if spec["estimator"] == "blackbox":
        return Blackbox(Ranking(), lam=spec["lam"])
    if spec["estimator"] == "dab":
        return DAB(Ranking(), make_bridge(n, n, spec["bridge_hidden"]), weight=spec["bridge_weight"])
    noise = margin_for(spec["projection"], n) if spec["margin"] else 0.0
    return Identity(Ranking(), projection=spec["projection"], noise=noise)


def recall_at(z: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = KS) -> dict[str, float]:
    """Recall@K: the share of queries with a same-class image among their K nearest others.

    Every image is a query against all other images (cosine similarity of unit-norm ``z``).

    Example:
        >>> z = torch.nn.functional.normalize(torch.tensor([[1.0, 0], [1, 0.1], [0, 1], [0.1, 1]]), dim=1)
        >>> recall_at(z, torch.tensor([0, 0, 1, 1]), ks=(1,))
        {'recall@1': 1.0}
        >>> recall_at(z, torch.tensor([0, 1, 0, 1]), ks=(1, 2))
        {'recall@1': 0.0, 'recall@2': 0.5}
    """
    sim = z @ z.T
    sim.fill_diagonal_(-float("inf"))
    top = sim.topk(min(max(ks), len(z) - 1), dim=1).indices  # K >= n - 1: every other image
    hit = (labels[top] == labels[:, None])
    return {f"recall@{k}": float(hit[:, :k].any(1).float().mean()) for k in ks}


def spearman(fit: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
    """Mean over rows of the rank correlation between a bridge's output and the true ranks.

    The bridge's output is read as ranks (small = first): its own ranking is
    ``Ranking()(-fit)``, compared with ``ranks`` by Pearson's correlation, row by row.

    Example:
        >>> ranks = torch.tensor([[1.0, 2.0, 3.0]])
        >>> round(float(spearman(torch.tensor([[0.9, 2.5, 2.4]]), ranks)), 4), round(float(spearman(-ranks, ranks)), 4)
        (0.5, -1.0)
    """
    own = Ranking()(-fit)
    a, b = own - own.mean(-1, keepdim=True), ranks - ranks.mean(-1, keepdim=True)
    return ((a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))).mean()


def class_batch(y: torch.Tensor, per_class: int, generator: torch.Generator) -> torch.Tensor:
    """Indices of a batch with ``per_class`` random images of every class in ``y``."""
    parts = []
    for c in y.unique():
        members = (y == c).nonzero().squeeze(1)
        pick_ = torch.randperm(len(members), generator=generator)[:per_class]
        parts.append(members[pick_.to(members.device)])
    return torch.cat(parts)


def run(method: str, config: Mapping | str | None = None, seed: int = 0, max_steps: int | None = None) -> dict:
    """Train the embedding with ``method`` on the classes 0-4 and evaluate on 5-9.

    Args:
        method: a key of :data:`METHODS`.
        config: the config (a mapping, e.g. a chapter's), or the scale whose config to use
            (default: the active scale's).
        seed: the seed of the initialisation, the batches and the margin noise (the data
            and their corruption are fixed).
        max_steps: stop after this many optimisation steps (a dry run of a config).

    Returns:
        the arguments of :func:`discgrad.results.record_run`; ``history`` holds per epoch
        ``train_loss``, ``train_grad_density`` (the share of score entries that receive a
        nonzero gradient), ``train_grad_negative_share`` (the share of the gradient's
        absolute mass on negative items), the test ``recall@K`` and ``epoch_time_s``; for
        DAB also ``train_bridge_error`` and, on :data:`BRIDGE_TEST_BATCHES` fixed batches of
        the test classes, ``test_bridge_error`` (:func:`~discgrad.bridges.imitation_error`)
        and ``test_bridge_spearman`` (:func:`spearman`).
    """
    config = resolve_config(CONFIGS, config)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {list(METHODS)}")
    device = get_device()
    start = time.perf_counter()
    data = load_retrieval_digits(config["shift"], config["pixel_noise"], device=device)
    generator = seed_everything(seed)
    model = Embedder(config["hidden"], config["embed_dim"]).to(device)
    n_batch = config["per_class"] * len(TRAIN_CLASSES)
    layer = make_layer(method, n_batch - 1)
    # the bridge (DAB only; the other layers have no parameters) trains with the model
    optimiser = torch.optim.Adam([*model.parameters(), *layer.parameters()], lr=config["lr"])
    dab = METHODS[method]["estimator"] == "dab"
    if dab:  # fixed test batches for the bridge, drawn without touching the training generator
        test_gen = torch.Generator().manual_seed(10_000 + seed)
        bridge_test = [class_batch(data.y_test, config["per_class"], test_gen) for _ in range(BRIDGE_TEST_BATCHES)]
    epochs, per_epoch = config["epochs"], config["steps_per_epoch"]
    if max_steps is not None:
        epochs = min(epochs, math.ceil(max_steps / per_epoch))
    steps_done = 0

    def batches(epoch):
        nonlocal steps_done
        for _ in range(per_epoch):
            if max_steps is not None and steps_done >= max_steps:
                return
            steps_done += 1
            yield class_batch(data.y_train, config["per_class"], generator)

    def step(idx):
        optimiser.zero_grad()
        scores, positive = batch_scores(model(data.x_train[idx]), data.y_train[idx])
        scores.retain_grad()
        ranks = layer(scores)
        # one query = one solver instance: sum over queries (see recall_loss)
        loss = recall_loss(ranks, positive).sum()
        report = {"loss": float(loss.detach()) / len(idx)}
        if dab:  # the bridge learns only from its own loss
            loss = loss + layer.bridge_loss
            with torch.no_grad():
                report["bridge_error"] = float(imitation_error(layer.bridge(scores), ranks))
        loss.backward()
        optimiser.step()
        g = scores.grad
        density = float((g != 0).float().mean())
        mass = g.abs().sum()
        negative_share = float((g.abs() * (1 - positive)).sum() / mass) if mass > 0 else 0.0
        return {**report, "grad_density": density, "grad_negative_share": negative_share}

    def evaluate():
        out = recall_at(model(data.x_test), data.y_test)
        if dab:  # how well the bridge imitates the ranking on batches of the test classes
            scores = torch.cat([batch_scores(model(data.x_test[i]), data.y_test[i])[0] for i in bridge_test])
            fit_, ranks = layer.bridge(scores), Ranking()(scores)
            out["test_bridge_error"] = float(imitation_error(fit_, ranks))
            out["test_bridge_spearman"] = float(spearman(fit_, ranks))
        return out

    history = dict(fit(step, batches, epochs, evaluate, modules=[model, layer],
                       desc=f"retrieval {method} seed {seed}"))
    metrics = {name: history[name][-1] for name in (*(f"recall@{k}" for k in KS), "train_loss",
                                                    "train_grad_density", "train_grad_negative_share",
                                                    "train_bridge_error", "test_bridge_error",
                                                    "test_bridge_spearman") if name in history}
    settings = {**config, **METHODS[method], "steps": steps_done, "batch_size": n_batch,
                "noise": getattr(layer, "noise", 0.0)}
    return {"experiment": NAME, "method": method, "settings": settings, "seed": seed, "metrics": metrics,
            "history": history, "wall_time_s": time.perf_counter() - start, "device": str(device)}


EXPERIMENT = Experiment(name=NAME, methods=tuple(METHODS), configs=CONFIGS, run=run,
                        metrics=("recall@1", "recall@2", "recall@4", "recall@8"))


if __name__ == "__main__":
    main(EXPERIMENT)

"""Digit classification through a top-k layer (the DAB paper's sort non-linearity, reduced).

Ramapuram and Webb (2019, arXiv:1905.03658) classify images with a sort non-linearity at
an intermediate layer of the network and compare differentiable approximation bridges
(DAB) with the straight-through estimator. We rerun the idea at reduced scale on the 8x8
digits (:func:`discgrad.data.digits.load_binary_digits`) with a top-k layer, the sort's
thresholded form: a tanh MLP maps an image to ``hidden`` scores ``w``, the layer keeps
the ``k`` largest,

.. math:: y(w) = \\arg\\max_{y \\in \\{0,1\\}^n,\\ \\sum_i y_i = k} \\langle w, y \\rangle ,

(:class:`discgrad.solvers.TopK`, a linear-objective max solver, so Identity applies as
is), and a tanh layer and a linear head map the k-hot code to 10 class logits; the loss
is the cross-entropy.

Methods (:data:`METHODS`):

* ``dab``: :class:`discgrad.DAB` with the bridge of every DAB run of Part III
  (:func:`discgrad.bridges.make_bridge`), its ``bridge_loss`` added to the loss;
* ``straight_through``: :class:`discgrad.StraightThrough` with the threshold-unit
  surrogate :func:`soft_topk`, ``sigmoid((w - t) / tau)`` with ``t`` the midpoint of the
  k-th and (k+1)-th largest score (tau = 1);
* ``identity``: :class:`discgrad.Identity` on ``TopK(k)`` (no projection);
* ``tanh``: no hard function, ``tanh(w)`` in place of top-k (the ceiling).

Metrics: test accuracy after every epoch; for ``dab`` the bridge's imitation error
(:func:`discgrad.bridges.imitation_error`) and the share of test images whose
top-k the bridge's output reproduces exactly.

Run from the command line::

    python -m discgrad.experiments.dab_classification --scale cpu --seeds 0 1 2 --out results/cpu/dab_classification.json

Book: chapter 13 (DAB: classification through a top-k layer).
"""
from __future__ import annotations

import functools
import time
from typing import Mapping

import torch
from torch import nn

from discgrad.bridges import imitation_error, make_bridge
from discgrad.data.digits import load_binary_digits
from discgrad.estimators import DAB, Identity, StraightThrough
from discgrad.scale import get_device, resolve_config
from discgrad.solvers import TopK
from discgrad.train import fit, seed_everything

from .runner import Experiment, ShuffledBatches, main

NAME = "dab_classification"

#: The methods: how the top-k layer is differentiated (``tanh``: no top-k at all).
METHODS: dict[str, dict] = {
    "dab": {"estimator": "dab", "bridge_hidden": [128, 128], "bridge_weight": 1.0},
    "straight_through": {"estimator": "straight_through", "surrogate": "sigmoid", "tau": 1.0},
    "identity": {"estimator": "identity", "projection": None},
    "tanh": {"estimator": "none"},
}

#: One config per scale (design section 3): ``hidden`` scores, of which ``k`` are kept.
CONFIGS: dict[str, dict] = {
    "smoke": {"hidden": 16, "k": 4, "epochs": 2, "batch_size": 100, "lr": 1e-3},
    "cpu": {"hidden": 64, "k": 16, "epochs": 40, "batch_size": 50, "lr": 1e-3},
    "gpu": {"hidden": 256, "k": 64, "epochs": 200, "batch_size": 50, "lr": 1e-3},
}


def soft_topk(w: torch.Tensor, k: int, tau: float = 1.0) -> torch.Tensor:
    """``sigmoid((w - t) / tau)``, ``t`` the midpoint of the k-th and (k+1)-th largest entry.

    The straight-through surrogate of the top-k layer: top-k is the threshold unit
    ``1[w > t]``, and this is its sigmoid, as Bengio et al. (2013) relax a threshold. ``t``
    is held fixed (no gradient through the order statistics).

    Example:
        >>> soft_topk(torch.tensor([[3.0, 1.0, 2.0, 0.0]]), k=2).round(decimals=3)
        tensor([[0.8180, 0.3780, 0.6220, 0.1820]])
    """
    top = torch.topk(w.detach(), k + 1, dim=-1).values
    t = 0.5 * (top[..., k - 1:k] + top[..., k:k + 1])
    return torch.sigmoid((w - t) / tau)


class TopKLayer(nn.Module):
    """The hard layer of one method: scores ``(B, n)`` -> k-hot ``(B, n)`` (or tanh)."""

    def __init__(self, method: str, n: int, k: int):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}: use one of {list(METHODS)}")
        spec = METHODS[method]
        self.method, self.estimator, self.k = method, spec["estimator"], k
        if self.estimator == "dab":
            self.layer = DAB(TopK(k), make_bridge(n, n, spec["bridge_hidden"]), weight=spec["bridge_weight"])
        elif self.estimator == "straight_through":
            tau = spec["tau"]
            self.layer = StraightThrough(TopK(k), relaxation=lambda w: soft_topk(w, k, tau))
        elif self.estimator == "identity":
            self.layer = Identity(TopK(k), projection=spec["projection"])
        else:
            self.layer = nn.Tanh()

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.layer(w)


class TopKNet(nn.Module):
    """``x (B, 64)`` -> tanh MLP -> scores ``w`` -> hard layer -> tanh -> 10 logits."""

    def __init__(self, method: str, pixels: int, hidden: int, k: int, classes: int = 10):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(pixels, hidden), nn.Tanh(), nn.Linear(hidden, hidden))
        self.hard = TopKLayer(method, hidden, k)
        self.decoder = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.hard(self.encoder(x)))


@functools.lru_cache(maxsize=2)
def make_data(device: str = "cpu"):
    """The binarised digits with their fixed split (1438 training, 359 test images)."""
    return load_binary_digits(device=device)


def run(method: str, config: Mapping | str | None = None, seed: int = 0, max_steps: int | None = None) -> dict:
    """Train the classifier of ``method`` and return the record of :func:`discgrad.results.record_run`.

    Args:
        method: a key of :data:`METHODS`.
        config: the config (a mapping, e.g. a chapter's), or the scale whose config to use
            (default: the active scale's).
        seed: the seed of the initialisation and the batches (the split is fixed).
        max_steps: stop after this many optimisation steps (a dry run of a config).

    Returns:
        ``history`` holds per epoch ``train_loss``, ``test_accuracy``, ``test_loss``,
        ``epoch_time_s``; for ``dab`` also ``train_bridge_error``, ``test_bridge_error``
        and ``test_bridge_topk_match``.
    """
    config = resolve_config(CONFIGS, config)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {list(METHODS)}")
    device = get_device()
    start = time.perf_counter()
    data = make_data(str(device))
    seed_everything(seed)
    k = config["k"]
    model = TopKNet(method, data.x_train.shape[1], config["hidden"], k).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config["lr"])
    shuffled = ShuffledBatches(len(data.x_train), config["batch_size"], config["epochs"], max_steps, device)
    is_dab = METHODS[method]["estimator"] == "dab"
    topk = TopK(k)

    def batches(epoch):
        return ((data.x_train[idx], data.y_train[idx]) for idx in shuffled(epoch))

    def step(batch):
        x, y = batch
        optimiser.zero_grad()
        w = model.encoder(x)
        loss = nn.functional.cross_entropy(model.decoder(model.hard(w)), y)
        report = {"loss": float(loss.detach())}
        if is_dab:  # the bridge learns only from its own loss
            (loss + model.hard.layer.bridge_loss).backward()
            with torch.no_grad():
                report["bridge_error"] = float(imitation_error(model.hard.layer.bridge(w), topk(w)))
        else:
            loss.backward()
        optimiser.step()
        return report

    def evaluate():
        w = model.encoder(data.x_test)
        logits = model.decoder(model.hard(w))
        out = {"test_accuracy": float((logits.argmax(-1) == data.y_test).double().mean()),
               "test_loss": float(nn.functional.cross_entropy(logits, data.y_test))}
        if is_dab:  # how well the bridge imitates top-k on the test scores
            fit_w, hard = model.hard.layer.bridge(w), topk(w)
            out["test_bridge_error"] = float(imitation_error(fit_w, hard))
            out["test_bridge_topk_match"] = float((topk(fit_w) == hard).all(-1).double().mean())
        return out

    history = dict(fit(step, batches, shuffled.epochs, evaluate, modules=[model],
                       desc=f"dab_classification {method} seed {seed}"))
    metrics = {name: history[name][-1] for name in ("test_accuracy", "test_loss", "train_loss")}
    metrics["best_test_accuracy"] = max(history["test_accuracy"])
    if is_dab:
        metrics.update(test_bridge_error=history["test_bridge_error"][-1],
                       test_bridge_topk_match=history["test_bridge_topk_match"][-1])
    metrics["train_time_s"] = sum(history["epoch_time_s"])
    settings = {**config, **METHODS[method], "steps": shuffled.steps}
    return {"experiment": NAME, "method": method, "settings": settings, "seed": seed, "metrics": metrics,
            "history": history, "wall_time_s": time.perf_counter() - start, "device": str(device)}


EXPERIMENT = Experiment(name=NAME, methods=tuple(METHODS), configs=CONFIGS, run=run,
                        metrics=("test_accuracy", "best_test_accuracy", "test_bridge_error"))


if __name__ == "__main__":
    main(EXPERIMENT)

"""Neural sequence sorting through a signum layer (Ramapuram and Webb 2019, at reduced scale).

The sequence-sorting experiment of the DAB paper (Ramapuram and Webb 2019,
arXiv:1905.03658): a network reads a sequence ``x ~ U(0, 1)^L`` and predicts the
permutation that sorts it. The network (:class:`SortNet`) is an MLP with tanh hidden
layers with a hard non-linearity at an intermediate layer: the pre-activation
``h`` (``hidden`` units) goes through the signum

.. math:: \\mathrm{sgn}(h)_i = \\begin{cases} +1 & h_i \\ge 0 \\\\ -1 & h_i < 0 \\end{cases}
          \\;=\\; \\arg\\max_{y \\in \\{-1, +1\\}^n} \\langle h, y \\rangle ,

then a tanh layer and a linear head to ``L x L`` logits: row ``i`` scores which element of
``x`` goes to sorted position ``i``. The loss is the cross-entropy per position, averaged
over the ``L`` positions and the batch.

Methods (:data:`METHODS`) differ only in how the signum layer is differentiated:

* ``dab``: :class:`discgrad.DAB` with the bridge of every DAB run of Part III
  (:func:`discgrad.bridges.make_bridge`, two tanh layers of 128), its
  ``bridge_loss`` added to the loss;
* ``straight_through``: :class:`discgrad.StraightThrough` with the saturated identity
  ``clamp(h, -1, 1)`` as surrogate (the straight-through estimator of binary networks:
  the gradient passes where ``|h| <= 1`` and is zero elsewhere);
* ``identity``: :class:`discgrad.Identity` on signum as a max solver
  (:class:`discgrad.solvers.Signum`): the gradient passes unchanged everywhere;
* ``tanh``: no hard function, ``tanh(h)`` in place of the signum (the ceiling).

Metrics on held-out sequences: all-or-none accuracy (the whole permutation right),
per-position accuracy, the test cross-entropy; for ``dab`` also the bridge's imitation
error (:func:`discgrad.bridges.imitation_error`) and the share of units whose
sign the bridge gets wrong, after every epoch.

Run from the command line::

    python -m discgrad.experiments.sorting --scale cpu --seeds 0 1 2 --out results/cpu/sorting.json

Book: chapter 12 (DAB: sequence sorting).
"""
from __future__ import annotations

import functools
import time
from typing import Mapping

import torch
from torch import nn

from discgrad.bridges import imitation_error, make_bridge
from discgrad.data.sequences import make_sequences
from discgrad.estimators import DAB, Identity, StraightThrough
from discgrad.scale import get_device, resolve_config
from discgrad.solvers import Signum
from discgrad.train import fit, seed_everything

from .runner import Experiment, ShuffledBatches, main

NAME = "sorting"

#: The methods: how the signum layer is differentiated (``tanh``: no signum at all).
METHODS: dict[str, dict] = {
    "dab": {"estimator": "dab", "bridge_hidden": [128, 128], "bridge_weight": 1.0},
    "straight_through": {"estimator": "straight_through", "surrogate": "hardtanh"},
    "identity": {"estimator": "identity", "projection": None},
    "tanh": {"estimator": "none"},
}

#: One config per scale (design section 3). ``lengths`` are the sequence lengths (a
#: variant each); ``hidden`` the width of every hidden layer, the signum layer included.
CONFIGS: dict[str, dict] = {
    "smoke": {"lengths": [4], "n_train": 500, "n_test": 200, "hidden": 16, "epochs": 2,
              "batch_size": 100, "lr": 1e-3},
    "cpu": {"lengths": [5], "n_train": 10000, "n_test": 2000, "hidden": 64, "epochs": 20,
            "batch_size": 100, "lr": 1e-3},
    "gpu": {"lengths": [5, 10], "n_train": 100000, "n_test": 10000, "hidden": 256, "epochs": 50,
            "batch_size": 200, "lr": 1e-3},
}


#: The hard layer: signum, the max solver of the linear objective ``<h, y>`` over ``{-1, +1}^n``.
SIGNUM = Signum()


class SignumLayer(nn.Module):
    """The hard layer of one method: pre-activations ``(B, n)`` -> ``{-1, +1}^n`` (or tanh)."""

    def __init__(self, method: str, n: int):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}: use one of {list(METHODS)}")
        spec = METHODS[method]
        self.method, self.estimator = method, spec["estimator"]
        if self.estimator == "dab":
            self.layer = DAB(SIGNUM, make_bridge(n, n, spec["bridge_hidden"]), weight=spec["bridge_weight"])
        elif self.estimator == "straight_through":
            self.layer = StraightThrough(SIGNUM, relaxation=lambda h: h.clamp(-1, 1))
        elif self.estimator == "identity":
            self.layer = Identity(SIGNUM, projection=spec["projection"])
        else:
            self.layer = nn.Tanh()

    @property
    def bridge_loss(self):
        return self.layer.bridge_loss if self.estimator == "dab" else None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.layer(h)


class SortNet(nn.Module):
    """``x (B, L)`` -> tanh MLP -> pre-activation ``h`` -> hard layer -> tanh -> logits ``(B, L, L)``.

    ``logits[b, i, j]`` scores that element ``j`` of ``x[b]`` is the ``i``-th smallest.
    """

    def __init__(self, method: str, length: int, hidden: int):
        super().__init__()
        self.length = length
        self.encoder = nn.Sequential(nn.Linear(length, hidden), nn.Tanh(), nn.Linear(hidden, hidden))
        self.hard = SignumLayer(method, hidden)
        self.decoder = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, length * length))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.hard(self.encoder(x))).reshape(-1, self.length, self.length)


def sort_loss(logits: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """The cross-entropy per position, averaged over the positions and the batch."""
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), perm.reshape(-1))


def accuracies(logits: torch.Tensor, perm: torch.Tensor) -> tuple[float, float]:
    """(all-or-none accuracy, per-position accuracy) of the row-wise argmax of ``logits``.

    Example:
        >>> perm = torch.tensor([[0, 1, 2], [2, 0, 1]])
        >>> logits = torch.nn.functional.one_hot(torch.tensor([[0, 1, 2], [2, 1, 1]]), 3).float()
        >>> accuracies(logits, perm)
        (0.5, 0.8333333333333334)
    """
    right = logits.argmax(-1) == perm
    return float(right.all(-1).double().mean()), float(right.double().mean())


@functools.lru_cache(maxsize=4)
def make_data(length: int, n_train: int, n_test: int, device: str = "cpu"):
    """The training (seed 1) and test (seed 2) sequences of a config; cached across runs."""
    return make_sequences(n_train, length, seed=1, device=device), make_sequences(n_test, length, seed=2, device=device)


def variants(config: Mapping) -> list[dict]:
    """One setting per sequence length of the config."""
    return [{"length": n} for n in config["lengths"]]


def run(method: str, config: Mapping | str | None = None, seed: int = 0, length: int | None = None,
        max_steps: int | None = None) -> dict:
    """Train the sorting network of ``method`` and return the record of :func:`discgrad.results.record_run`.

    Args:
        method: a key of :data:`METHODS`.
        config: the config (a mapping, e.g. a chapter's), or the scale whose config to use
            (default: the active scale's).
        seed: the seed of the initialisation and the batches (the sequences are fixed:
            training seed 1, test seed 2).
        length: the sequence length; default the config's first.
        max_steps: stop after this many optimisation steps (a dry run of a config).

    Returns:
        ``history`` holds per epoch ``train_loss``, ``test_accuracy`` (all-or-none),
        ``test_position_accuracy``, ``test_loss``, ``test_saturated`` (the share of
        pre-activations with ``|h| > 1``, where straight-through passes no gradient),
        ``epoch_time_s``; for ``dab`` also
        ``train_bridge_error``, ``test_bridge_error`` and ``test_bridge_sign_error``.
    """
    config = resolve_config(CONFIGS, config)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {list(METHODS)}")
    length = config["lengths"][0] if length is None else int(length)
    device = get_device()
    start = time.perf_counter()
    train, test = make_data(length, config["n_train"], config["n_test"], str(device))
    seed_everything(seed)
    model = SortNet(method, length, config["hidden"]).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config["lr"])
    shuffled = ShuffledBatches(config["n_train"], config["batch_size"], config["epochs"], max_steps, device)
    is_dab = METHODS[method]["estimator"] == "dab"

    def batches(epoch):
        return ((train.x[idx], train.perm[idx]) for idx in shuffled(epoch))

    def step(batch):
        x, perm = batch
        optimiser.zero_grad()
        h = model.encoder(x)
        logits = model.decoder(model.hard(h)).reshape(-1, length, length)
        loss = sort_loss(logits, perm)
        report = {"loss": float(loss.detach())}
        if is_dab:  # the bridge learns only from its own loss
            (loss + model.hard.bridge_loss).backward()
            with torch.no_grad():
                report["bridge_error"] = float(imitation_error(model.hard.layer.bridge(h), SIGNUM(h)))
        else:
            loss.backward()
        optimiser.step()
        return report

    def evaluate():
        h = model.encoder(test.x)
        logits = model.decoder(model.hard(h)).reshape(-1, length, length)
        exact, position = accuracies(logits, test.perm)
        out = {"test_accuracy": exact, "test_position_accuracy": position,
               "test_loss": float(sort_loss(logits, test.perm)),
               "test_saturated": float((h.abs() > 1).double().mean())}
        if is_dab:  # how well the bridge imitates signum on the test pre-activations
            fit_h, hard = model.hard.layer.bridge(h), SIGNUM(h)
            out["test_bridge_error"] = float(imitation_error(fit_h, hard))
            out["test_bridge_sign_error"] = float((SIGNUM(fit_h) != hard).double().mean())
        return out

    history = dict(fit(step, batches, shuffled.epochs, evaluate, modules=[model],
                       desc=f"sorting {method} L={length} seed {seed}"))
    metrics = {name: history[name][-1] for name in
               ("test_accuracy", "test_position_accuracy", "test_loss", "train_loss",
                                                  "test_saturated")}
    if is_dab:
        metrics.update(test_bridge_error=history["test_bridge_error"][-1],
                       test_bridge_sign_error=history["test_bridge_sign_error"][-1])
    metrics["train_time_s"] = sum(history["epoch_time_s"])
    settings = {**{n: v for n, v in config.items() if n != "lengths"}, "length": length, **METHODS[method],
                "steps": shuffled.steps}
    return {"experiment": NAME, "method": method, "settings": settings, "seed": seed, "metrics": metrics,
            "history": history, "wall_time_s": time.perf_counter() - start, "device": str(device)}


EXPERIMENT = Experiment(name=NAME, methods=tuple(METHODS), configs=CONFIGS, run=run, variants=variants,
                        variant_keys=("length",),
                        metrics=("test_accuracy", "test_position_accuracy", "test_bridge_error"))


if __name__ == "__main__":
    main(EXPERIMENT)

"""Neural sequence sorting through a signum layer (Ramapuram and Webb 2019, at reduced scale).

The sequence-sorting experiment of the DAB paper (Ramapuram and Webb 2019,
arXiv:1905.03658, sec. 4.1): a network reads a sequence ``x ~ U(0, 1)^L`` and predicts the
permutation that sorts it, with a hard function at an intermediate layer. Row ``i`` of the
``L x L`` logits scores which element of ``x`` is the ``i``-th smallest; the loss is the
cross-entropy per position, averaged over the positions and the batch; the metric is the
all-or-none accuracy (the whole permutation right) on held-out sequences.

Two networks (the task setting ``network``; :class:`SortNet`), both with ``hidden`` units
at the hard layer:

* ``"plain"``, the book's: ``Linear, tanh, Linear`` to unbounded pre-activations ``h``, the
  signum ``sgn(h) = argmax_{y in {-1, +1}^n} <h, y>`` (:class:`~discgrad.solvers.Signum`),
  then ``Linear, tanh, Linear`` to the logits;
* ``"bounded"``, after the authors' code (apple/ml-dab, ``main.py``): three ``Linear, tanh``
  layers, so ``h`` lies in ``(-1, 1)``, the ternary signum with a dead zone of 0.5
  (:class:`~discgrad.solvers.TernarySignum`), and a linear head. Two differences from their
  code, both stated in chapter 12: the sizes are ours, and their bridge loss also reaches the
  encoder (``h`` is not detached), where :class:`~discgrad.DAB` trains the bridge only.

Both are the same stack of seven layers, ``Linear, tanh, Linear, tanh, Linear, tanh,
Linear``; the hard layer sits before the middle tanh (plain) or after the third (bounded).
The methods differ only in the backward pass through the hard layer (``hard="exact"``);
the ``tanh`` row puts ``tanh(h)`` in place of the plain network's signum
(``hard="smooth"``), the smooth network the hard ones are measured against. The bounded
network without its hard layer is that same network, layer for layer (a pilot run gave
identical numbers), so one smooth row serves both. The grids, fixed before any run, in
the units of ``h``:

* ``dab``: :class:`~discgrad.DAB`, the bridge designed from the hard function: the hard
  function acts entry by entry, so next to the ``dense`` bridge of Part III (two tanh layers
  on all ``n`` units; :func:`~discgrad.bridges.make_bridge`) runs the ``elementwise`` one
  (one scalar network shared by the units, diagonal Jacobian;
  :class:`~discgrad.bridges.ElementwiseBridge`), each of width 32 or 128 (4 variants);
* ``straight_through``: :class:`~discgrad.StraightThrough` with the saturated identity
  ``clamp(h, -1, 1)`` as surrogate, no knob (1 variant); on the bounded network it is the
  plain identity, since ``|h| < 1`` there;
* ``identity``: :class:`~discgrad.Identity` on the signum as a max solver, with no
  projection or ``P_norm`` (2 variants: the only projections that keep the signum's output,
  ``P_mean`` and ``P_std`` shift ``h`` and change its signs); not run on the bounded
  network, where it coincides with straight-through;
* ``tanh``: no knob (1 variant).

The widths and the budget were set before the first run; a pilot run (2 seeds) checked only
that every variant runs and how long it takes.

Every run records per epoch, on the validation split, the accuracy, the bridge's imitation
error (:func:`~discgrad.bridges.imitation_error`) and the cosine between the method's input
gradient and straight-through's on one fixed validation batch (:func:`gradient_cosine`).

Run from the command line (65 runs; 5 seeds, since the slowest variant, the element-wise
bridge of width 128, takes longer than 15 s)::

    python -m discgrad.experiments.sorting --scale cpu --seeds 0 1 2 3 4 --workers 2 --out results/cpu/sorting.json

Book: chapter 12 (DAB: sequence sorting).
"""
from __future__ import annotations

import functools
from typing import Mapping

import torch
from torch import nn

from discgrad.bridges import imitation_error
from discgrad.data.sequences import make_sequences
from discgrad.estimators import StraightThrough
from discgrad.solvers import Signum, TernarySignum

from .methods import Method
from .runner import main
from .task import Splits, Task

NAME = "sorting"

#: The networks (see the module docstring) and the dead zone of the bounded one's ternary signum.
NETWORKS = ("plain", "bounded")
DEAD_ZONE = 0.5
_BOUNDED = {"network": "bounded"}
_DAB_GRID = {"bridge": ["dense", "elementwise"], "width": [32, 128]}

#: The methods and the grid over each family's own knob (see the module docstring).
METHODS: dict[str, Method] = {
    "dab": Method("dab", fixed={"weight": 1.0}, grid=_DAB_GRID),
    "straight_through": Method("straight_through_clamp"),
    "identity": Method("identity", grid={"projection": [None, "norm"]}),
    "tanh": Method("smooth", setting={"hard": "smooth"}),
    "dab_bounded": Method("dab", fixed={"weight": 1.0}, grid=_DAB_GRID, setting=_BOUNDED),
    "straight_through_bounded": Method("straight_through_clamp", setting=_BOUNDED),
}

#: One config per scale (design section 3): sequences of 5 at cpu scale, of 10 at gpu scale.
#: ``hidden`` is the width of every hidden layer, the hard layer's included.
CONFIGS: dict[str, dict] = {
    "smoke": {"length": 4, "n_train": 500, "n_val": 200, "n_test": 200, "hidden": 16, "epochs": 2,
              "batch_size": 100, "lr": 1e-3},
    "cpu": {"length": 5, "n_train": 10000, "n_val": 2000, "n_test": 2000, "hidden": 64, "epochs": 40,
            "batch_size": 100, "lr": 1e-3},
    "gpu": {"length": 10, "n_train": 100000, "n_val": 10000, "n_test": 10000, "hidden": 256, "epochs": 50,
            "batch_size": 200, "lr": 1e-3},
}


def clamp_surrogate(h: torch.Tensor) -> torch.Tensor:
    """Straight-through's surrogate for a signum: ``clamp(h, -1, 1)``, whose gradient passes
    where ``|h| <= 1`` and is zero elsewhere (the straight-through estimator of binary units)."""
    return h.clamp(-1.0, 1.0)


#: This task's own families: straight-through with the saturated identity, and the smooth
#: network, whose "solver" is the smooth function itself.
FAMILIES = {
    "straight_through_clamp": lambda solver, context: StraightThrough(solver, relaxation=clamp_surrogate),
    "smooth": lambda solver, context: solver,
}


def hard_function(network: str, hard: str = "exact"):
    """The function at the hard layer: signum (plain), the ternary signum (bounded), or their
    smooth stand-in (``tanh`` on the plain network, nothing on the bounded one)."""
    if network not in NETWORKS:
        raise ValueError(f"unknown network {network!r}: use one of {list(NETWORKS)}")
    if hard == "exact":
        return Signum() if network == "plain" else TernarySignum(DEAD_ZONE)
    if hard == "smooth":
        return nn.Tanh() if network == "plain" else nn.Identity()  # the bounded encoder ends in tanh
    raise ValueError(f"unknown hard {hard!r}: use 'exact' or 'smooth'")


class SortNet(nn.Module):
    """``x (B, L)`` -> ``encoder`` -> ``h (B, hidden)`` -> hard layer -> ``head`` -> logits ``(B, L, L)``.

    ``logits[b, i, j]`` scores that element ``j`` of ``x[b]`` is the ``i``-th smallest. The hard
    layer is passed to :meth:`forward`; ``network`` picks the plain or the bounded network
    (module docstring).
    """

    def __init__(self, network: str, length: int, hidden: int):
        super().__init__()
        if network not in NETWORKS:
            raise ValueError(f"unknown network {network!r}: use one of {list(NETWORKS)}")
        self.length = length
        if network == "plain":
            self.encoder = nn.Sequential(nn.Linear(length, hidden), nn.Tanh(), nn.Linear(hidden, hidden))
            self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, length * length))
        else:
            self.encoder = nn.Sequential(nn.Linear(length, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                         nn.Linear(hidden, hidden), nn.Tanh())
            self.head = nn.Linear(hidden, length * length)

    def logits(self, code: torch.Tensor) -> torch.Tensor:
        """The head: the hard layer's output -> logits ``(B, L, L)``."""
        return self.head(code).reshape(-1, self.length, self.length)

    def forward(self, x: torch.Tensor, hard_layer) -> torch.Tensor:
        return self.logits(hard_layer(self.encoder(x)))


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


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """The cosine of two tensors as flat vectors (0 when either is zero).

    Example:
        >>> cosine(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])), cosine(torch.ones(2), torch.zeros(2))
        (0.7071067690849304, 0.0)
    """
    a, b = a.reshape(-1), b.reshape(-1)
    norm = a.norm() * b.norm()
    return float(a @ b / norm) if norm > 0 else 0.0


def gradient_cosine(model: SortNet, estimator: nn.Module, solver, x: torch.Tensor, perm: torch.Tensor) -> float:
    """The cosine between ``estimator``'s gradient on ``h`` and straight-through's, on one batch.

    Both backpropagate the same task gradient ``g = dL/dy`` at the exact output ``y = solver(h)``
    (``L`` the sorting loss through the head); straight-through's is ``g`` where ``|h| <= 1``
    and 0 elsewhere. No parameter's ``.grad`` is touched, and the estimator's solver-call
    count is left as it was (the diagnostic is not training).
    """
    calls = getattr(estimator, "solver_calls", None)
    with torch.enable_grad():
        h = model.encoder(x).detach()
        y = solver(h).detach().requires_grad_()
        (g,) = torch.autograd.grad(sort_loss(model.logits(y), perm), y)
        h_in = h.clone().requires_grad_()
        (mine,) = torch.autograd.grad((estimator(h_in) * g).sum(), h_in)
    if calls is not None:
        estimator.solver_calls = calls
    return cosine(mine, g * (h.abs() <= 1))


@functools.lru_cache(maxsize=4)
def make_splits(length: int, n_train: int, n_val: int, n_test: int, device: str = "cpu") -> Splits:
    """The training (data seed 1), validation (3) and test (2) sequences; cached across runs."""
    return Splits(make_sequences(n_train, length, seed=1, device=device),
                  make_sequences(n_val, length, seed=3, device=device),
                  make_sequences(n_test, length, seed=2, device=device))


class Sorting(Task):
    """The task: a sorting network with a hard layer (see the module docstring)."""

    name, configs, methods, families = NAME, CONFIGS, METHODS, FAMILIES
    metric, higher_is_better, variant_keys = "accuracy", True, ("network", "hard")

    def variants(self, config: Mapping) -> list[dict]:
        return [{"network": "plain", "hard": "exact"}]

    def data(self, config: Mapping, device, network: str, hard: str) -> Splits:
        return make_splits(config["length"], config["n_train"], config["n_val"], config["n_test"], str(device))

    def size(self, split) -> int:
        return len(split.x)

    def batch(self, split, index):
        return type(split)(split.x[index], split.perm[index])

    def model(self, config: Mapping, network: str, hard: str) -> SortNet:
        return SortNet(network, config["length"], config["hidden"])

    def solver(self, config: Mapping, network: str, hard: str):
        return hard_function(network, hard)

    def context(self, config: Mapping, network: str, hard: str) -> dict:
        return {"size": config["hidden"]}

    def loss(self, model, layer, batch, config: Mapping, network: str, hard: str) -> torch.Tensor:
        return sort_loss(model(batch.x, layer), batch.perm)

    def evaluate(self, model, layer, split, config: Mapping, network: str, hard: str) -> dict[str, float]:
        h = model.encoder(split.x)
        y = layer(h)  # eval mode: the exact hard function (or the smooth one)
        logits = model.logits(y)
        exact, position = accuracies(logits, split.perm)
        out = {"accuracy": exact, "position_accuracy": position, "loss": float(sort_loss(logits, split.perm)),
               "saturated": float((h.abs() > 1).double().mean())}
        if layer.method.family == "dab":  # how well the bridge imitates the hard function
            fit = layer.estimator.bridge(h)
            out["bridge_error"] = float(imitation_error(fit, y))
            out["bridge_wrong"] = float((layer.solver(fit) != y).double().mean())
        if hard == "exact":  # one fixed batch: the gradient's direction against straight-through's
            n = config["batch_size"]
            out["cosine_st"] = gradient_cosine(model, layer.estimator, layer.solver, split.x[:n], split.perm[:n])
        return out


TASK = Sorting()
EXPERIMENT = TASK.experiment()


if __name__ == "__main__":
    main(EXPERIMENT)

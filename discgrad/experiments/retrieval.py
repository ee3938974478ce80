"""Image retrieval with a recall loss through a ranking layer, on scikit-learn's digits.

The retrieval experiment of Sahoo et al. (2023, sec. 4.3, table 5), after Rolinek et al.
(2020, "Optimizing rank-based metrics with blackbox differentiation"), at reduced scale:
CUB-200 cannot be downloaded here, so the 8x8 digits of scikit-learn stand in. To keep the
task from being trivial every image is shifted by up to one pixel in each direction and
covered with Gaussian pixel noise, once, with a fixed seed
(:func:`discgrad.data.digits.corrupted_digits`).

**The split.** CUB's protocol trains on 100 bird species and tests on 100 others. With the
ten digits that protocol could not show learning: trained on the digits 0-4 and tested on
5-9, the untrained network already scored Recall@1 0.40 ± 0.05, raw pixels 0.69, and no
estimator lifted the embedding clearly above the untrained one (the best, 0.46; Blackbox and
Identity without projection fell below it), and more steps only fit the five training
classes better. Five classes are too few for a similarity to transfer. So the splits here
share the ten classes and hold out *images*: per class 30 test and 30 validation images, the
rest (about 120) for training (:func:`discgrad.data.digits.load_retrieval_splits`). The test
then measures what the chapter is about, how well each estimator trains an embedding through
a ranking, and an embedding that does not learn cannot hide behind the untrained one.

An :class:`Embedder` (a small CNN) maps each image onto the unit sphere. A training batch
holds ``per_class`` images of every class (:class:`ClassBalancedBatches`); each image is a
query and the cosine similarities to the other ``n = 10 per_class - 1`` images of the batch
are its scores (:func:`batch_scores`). The :class:`~discgrad.solvers.Ranking` solver ranks
them through a method's estimator, and the recall loss :func:`discgrad.losses.recall_loss`
("loglog") of Rolinek et al. (2020) scores the ranks of the query's positives (same class),
summed over the queries (each is one solver instance). Metric: Recall@K (K = 1, 2, 4, 8) of a
split, each of its images a query against all its other images (:func:`recall_at`).

Under the comparison protocol (design section 11), every method's grid is run for 10 seeds
and the variant is chosen per method on the validation Recall@1. The grids, fixed before the
protocol's runs:

* ``identity``: the projection, none, P_mean, P_norm or P_std (no margin);
* ``identity_noise``: P_std and the noise margin of Sahoo et al. (2023, sec. 3.6), ``alpha``
  in units of the projected scores' root mean square entry (``1 / sqrt(n)`` for P_std's
  unit vector of ``n`` scores; :func:`~discgrad.experiments.methods.margin_in_cost_units`);
* ``blackbox``: lambda, on the raw cosine scores (the paper's first Blackbox row). At
  initialisation a query's scores spread (standard deviation) by 0.006 to 0.008 and the
  recall loss's gradient on a positive's rank has a mean of about 0.005 (median 0.0006;
  tests/test_retrieval.py measures both), so ``lambda * |dL/dr|`` shifts a positive's score by
  about 0.7 lambda spreads: lambda = 0.01, 0.1 and 1 would span the 0.01 to 1 spreads the
  protocol starts from. On a seed-0 pilot every lambda from 0.1 to 1000 left the embedding
  below the untrained one and the best validation Recall@1 was at lambda = 0.01, the grid's
  edge, so the grid was moved down once, on validation, to 0.003, 0.01 and 0.1 (shifts of
  about 0.002, 0.007 and 0.07 spreads);
* ``blackbox_std``: Blackbox on the P_std-projected scores (the paper applies every
  projection to Blackbox too; :class:`Projected`), lambda = 0.2, 2 and 20. P_std's scores
  spread by ``1 / sqrt(n)``, about 0.1, so these shift a positive's score by about 0.01, 0.1
  and 1 times the spread; the paper's 0.2 is the first;
* ``dab``: differentiable approximation bridges (Ramapuram and Webb 2019) trained online to
  imitate a query's ranks, of width 32: dense (``n -> 32 -> 32 -> n``, tanh), one small
  network on every raw score (:class:`~discgrad.bridges.ElementwiseBridge`), or one on every
  standardised score (:class:`~discgrad.bridges.StandardisedBridge`, which, like the
  ranking, ignores a shift and a positive scaling of the scores).

The cpu budget, 40 epochs of 11 class-balanced batches of 100 images, is where a seed-0
pilot's validation curves of the variants that learn had flattened (the findings check it for
every chosen variant); a run takes about 6 s on one core, so 160 runs (16 variants x 10
seeds) take about 8 minutes on two.

Every run also records the Recall@K of the raw pixels of the test split
(``test_pixels_recall@K``, :func:`pixel_recall`), the baseline an embedding should beat, next
to the untrained network's (``untrained_test_recall@K``).

Run from the command line::

    python -m discgrad.experiments.retrieval --scale cpu --seeds 0 1 2 3 4 5 6 7 8 9 --workers 2 --out results/cpu/retrieval.json

Book: chapter 9 (image retrieval with a recall loss).
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch
from torch import nn

from discgrad.bridges import imitation_error
from discgrad.data.digits import LabelledImages, load_retrieval_splits
from discgrad.losses import recall_loss
from discgrad.estimators import Blackbox
from discgrad.models import MLP
from discgrad.projections import get_projection
from discgrad.solvers import Ranking

from .methods import Method
from .runner import main
from .task import Splits, Task

NAME = "retrieval"
KS = (1, 2, 4, 8)
N_CLASSES = 10

#: The margins' grid, in units of the projected scores' root mean square entry.
ALPHAS = [0.1, 0.3, 1.0]

#: The methods and the grid over each family's own knob (see the module docstring).
METHODS: dict[str, Method] = {
    "identity": Method("identity", grid={"projection": [None, "mean", "norm", "std"]}),
    "identity_noise": Method("identity", fixed={"projection": "std"}, grid={"alpha": ALPHAS}),
    "blackbox": Method("blackbox", grid={"lam": [0.003, 0.01, 0.1]}),
    "blackbox_std": Method("blackbox_projected", fixed={"projection": "std"}, grid={"lam": [0.2, 2.0, 20.0]}),
    "dab": Method("dab", fixed={"weight": 1.0, "width": 32}, grid={"bridge": ["dense", "elementwise", "standardised"]}),
}

#: Batches of the evaluated split (of the training batch's shape) on which DAB's imitation
#: of the ranking is measured.
BRIDGE_BATCHES = 3

#: One config per scale (design section 3); nothing else changes between scales. A training
#: batch holds ``per_class`` images of each of the ten classes; an epoch is one pass over the
#: training images. The cpu budget is where a pilot's validation curves had flattened (the
#: findings check it for every chosen variant).
CONFIGS: dict[str, dict] = {
    "smoke": {"hidden": [64], "embed_dim": 16, "per_class": 4, "epochs": 2, "lr": 1e-3,
              "shift": 1, "pixel_noise": 0.35, "val_per_class": 30, "test_per_class": 30},
    "cpu": {"hidden": [128], "embed_dim": 16, "per_class": 10, "epochs": 40, "lr": 1e-3,
            "shift": 1, "pixel_noise": 0.35, "val_per_class": 30, "test_per_class": 30},
    "gpu": {"hidden": [512, 512], "embed_dim": 64, "per_class": 16, "epochs": 60, "lr": 1e-3,
            "shift": 1, "pixel_noise": 0.35, "val_per_class": 30, "test_per_class": 30},
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


def score_spread(z: torch.Tensor) -> float:
    """The median over queries of the standard deviation of a query's cosine similarities to
    all other images: how far apart the embedding keeps the images (ranks ignore it; a
    collapsing embedding shrinks it).

    Example:
        >>> score_spread(torch.eye(3))
        0.0
    """
    n = len(z)
    sim = (z @ z.T)[~torch.eye(n, dtype=torch.bool, device=z.device)].reshape(n, n - 1)
    return float(sim.std(1).median())


def pixel_recall(split: LabelledImages, ks: Sequence[int] = KS) -> dict[str, float]:
    """Recall@K of the raw pixels: :func:`recall_at` on the images as unit vectors."""
    return recall_at(nn.functional.normalize(split.x, dim=1), split.y, ks)


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


class ClassBalancedBatches:
    """Class-balanced training batches for :func:`discgrad.train.fit`, within a step budget.

    Each epoch puts every class's images in a fresh random order and cuts them into groups of
    ``per_class``; batch ``b`` holds group ``b`` of every class, in random order. An epoch
    therefore has ``min_c floor(n_c / per_class)`` batches of ``per_class * classes`` images
    and uses each image at most once. ``epochs`` and ``steps`` are as in
    :class:`~discgrad.experiments.runner.ShuffledBatches`; the permutations come from torch's
    global generator.

    Example:
        >>> labels = torch.tensor([0, 0, 0, 1, 1, 1, 1])
        >>> batches = ClassBalancedBatches(labels, per_class=1, epochs=2, max_steps=4)
        >>> [sorted(labels[b].tolist()) for b in batches(0)]
        [[0, 1], [0, 1], [0, 1]]
        >>> batches.epochs, len(list(batches(1))), batches.steps
        (2, 1, 4)
    """

    def __init__(self, labels: torch.Tensor, per_class: int, epochs: int, max_steps: int | None = None):
        self.members = [(labels == c).nonzero().squeeze(1) for c in labels.unique()]
        self.per_class, self.max_steps = per_class, max_steps
        self.per_epoch = min(len(m) for m in self.members) // per_class
        if self.per_epoch < 1:
            raise ValueError(f"a class has fewer than per_class = {per_class} images")
        self.epochs = epochs if max_steps is None else min(epochs, math.ceil(max_steps / self.per_epoch))
        self.steps = 0

    def __call__(self, epoch: int):
        orders = [m[torch.randperm(len(m), device=m.device)] for m in self.members]
        size = self.per_class * len(self.members)
        for b in range(self.per_epoch):
            if self.max_steps is not None and self.steps >= self.max_steps:
                return
            self.steps += 1
            batch = torch.cat([o[b * self.per_class:(b + 1) * self.per_class] for o in orders])
            yield batch[torch.randperm(size, device=batch.device)]


def eval_batches(split: LabelledImages, per_class: int, count: int = BRIDGE_BATCHES) -> list[torch.Tensor]:
    """``count`` fixed class-balanced batches of ``split`` (of the training batch's shape), drawn
    with their own generator, for measuring a bridge's imitation."""
    g = torch.Generator().manual_seed(10_000)
    out = []
    for _ in range(count):
        parts = []
        for c in split.y.unique():
            members = (split.y == c).nonzero().squeeze(1)
            parts.append(members[torch.randperm(len(members), generator=g)[:per_class].to(members.device)])
        out.append(torch.cat(parts))
    return out


class Projected(nn.Module):
    """An estimator on projected scores, ``estimator(P(w))``: Sahoo et al. (2023, table 5)
    apply each projection to Blackbox too. The backward pass goes through ``P`` by autograd.

    Example:
        >>> layer = Projected(Blackbox(Ranking(), lam=1.0), "std")
        >>> layer(torch.tensor([[0.1, 0.3, 0.2]])), layer.solver_calls
        (tensor([[3., 1., 2.]]), 1)
    """

    def __init__(self, estimator: nn.Module, projection):
        super().__init__()
        self.estimator, self.projection = estimator, get_projection(projection)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.estimator(w if self.projection is None else self.projection(w))

    @property
    def solver_calls(self) -> int:
        return self.estimator.solver_calls


class Retrieval(Task):
    """The task: embedder -> batch scores -> ranking -> recall loss (see the module docstring)."""

    name, configs, methods = NAME, CONFIGS, METHODS
    metric, higher_is_better = "recall@1", True
    families = {"blackbox_projected": lambda solver, context, lam, projection=None: Projected(
        Blackbox(solver, lam=lam), projection)}

    def data(self, config: Mapping, device) -> Splits:
        return Splits(*load_retrieval_splits(config["shift"], config["pixel_noise"], config["val_per_class"],
                                             config["test_per_class"], device=device))

    def size(self, split: LabelledImages) -> int:
        return len(split.y)

    def batch(self, split: LabelledImages, index: torch.Tensor) -> LabelledImages:
        return LabelledImages(split.x[index], split.y[index])

    def batches(self, split: LabelledImages, config: Mapping, max_steps, device) -> ClassBalancedBatches:
        return ClassBalancedBatches(split.y, config["per_class"], config["epochs"], max_steps)

    def model(self, config: Mapping) -> nn.Module:
        return Embedder(config["hidden"], config["embed_dim"])

    def solver(self, config: Mapping) -> Ranking:
        return Ranking()

    def context(self, config: Mapping) -> dict:
        return {"size": config["per_class"] * N_CLASSES - 1}  # the scores of one query

    def loss(self, model, layer, batch: LabelledImages, config: Mapping) -> torch.Tensor:
        scores, positive = batch_scores(model(batch.x), batch.y)
        # one query = one solver instance: the per-query losses are summed over the batch
        return recall_loss(layer(scores), positive).sum()

    def evaluate(self, model, layer, split: LabelledImages, config: Mapping) -> dict[str, float]:
        z = model(split.x)
        out = recall_at(z, split.y)
        out["score_spread"] = score_spread(z)
        if layer.method.family == "dab":  # how well the bridge imitates the ranking
            scores = torch.cat([batch_scores(z[i], split.y[i])[0]
                                for i in eval_batches(split, config["per_class"])])
            fit_, ranks = layer.estimator.bridge(scores), layer.solver(scores)
            out["bridge_error"] = float(imitation_error(fit_, ranks))
            out["bridge_spearman"] = float(spearman(fit_, ranks))
        return out

    def run(self, method: str, config: Mapping | str | None = None, seed: int = 0,
            max_steps: int | None = None, variant: Mapping | None = None, **setting) -> dict:
        """:meth:`Task.run`, and the Recall@K of the test split's raw pixels
        (``test_pixels_recall@K``, the same for every run of a config)."""
        result = super().run(method, config, seed, max_steps, variant, **setting)
        test = self.data(result["settings"], "cpu").test
        result["metrics"].update({f"test_pixels_{k}": v for k, v in pixel_recall(test).items()})
        return result


TASK = Retrieval()
EXPERIMENT = TASK.experiment()


if __name__ == "__main__":
    main(EXPERIMENT)

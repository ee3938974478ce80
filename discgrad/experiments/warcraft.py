"""Warcraft shortest paths: read terrain costs off a map image, learn through a path solver.

The experiment of Vlastelica et al. (2020) that Sahoo et al. (2023, appendix B.5, table 7)
rerun with identity backpropagation, at reduced scale and on procedural terrain maps
(:func:`discgrad.data.terrain.make_terrain_maps`): a network (:class:`CellTrunk`) maps the
image of a ``grid x grid`` map to a grid of positive cell costs;
:class:`~discgrad.solvers.ShortestPath` returns the cheapest 8-connected path from the
top-left to the bottom-right cell. Metric: the cost ratio ``100 <c, Y(w)> / <c, Y*>``
(:func:`cost_ratio`; the true cost of the predicted path over the optimal cost, lower is
better, 100 is optimal: the measure of the paper's table 7), and the exact-path accuracy.

**The network.** The trunk of the first version of this chapter (a strided convolution,
one residual block, a max-pool to the cells) saw 13 pixels, about three cells, per cost,
while the label it learns from, the path, depends on the whole map. :class:`CellTrunk` reads each cell's pixels with a strided convolution and a
max-pool to one feature vector per cell, then runs residual blocks of dilated convolutions
at the cell resolution; :func:`receptive_field` gives the pixels one cost depends on (117
pixels, 29 cells, at the cpu scale: the whole 12 x 12 map).

**The loss** is ``mean |Y - Y*|`` per map (:func:`discgrad.losses.absolute_loss`), summed
over the maps of a batch. The linear Hamming formula ``Y(1 - Y*) + (1 - Y)Y*``
(:func:`discgrad.losses.hamming_loss`, the original code's loss) has the same value on a
0/1 path, but its gradient ``(1 - 2Y*) / n`` ignores the solver's output, so Identity's
update is the label alone and no margin can change it; the ``*_linear`` methods train on it.

**Valid costs.** ``ShortestPath`` refuses negative costs. The network's are positive
(softplus), but P_std, the noise margin, Blackbox's ``w + lambda dL/dY`` and the perturbed
costs of Fenchel-Young can go below zero: every method solves with
:func:`discgrad.solvers.clamped_shortest_path` (a negative cell costs 0; on costs ``>= 0``
it changes nothing).

Under the comparison protocol (design section 11): training, validation and test maps
(map seeds 1, 3, 2); every method's grid is run for 10 seeds; the variant is chosen per
method on the validation cost ratio. The grids, fixed before the protocol's runs (those of
the noise margin, Blackbox and Fenchel-Young widened once, by alpha = 0.03, lambda = 1500 and
sigma = 0.03, on the validation cost ratio of a two-seed pilot, where the best point lay at
an edge):

* ``identity``: the projection, none, P_norm or P_std (no margin; P_std's negative costs are
  clamped, so it trains on another problem than the one evaluated);
* ``identity_noise``: P_norm and the noise margin of Sahoo et al. (2023, sec. 3.6), ``alpha``
  in 0.03, 0.1, 0.3 and 1 in units of the projected costs' root mean square entry
  (``1 / grid`` for P_norm's unit vector of ``grid^2`` costs;
  :func:`~discgrad.experiments.methods.margin_in_cost_units`). The paper's ``xi = 0.2`` is
  in the units of its network's costs, without projection;
* ``blackbox``: lambda. The loss gradient on a wrong cell is ``1 / grid^2`` (1/144 at cpu
  scale), so Blackbox solves again with each wrong cell's cost moved by ``lambda / 144``.
  At initialisation a predicted path gets 18 cells wrong and the median gap between the
  costs of the true and the predicted path, under the network's costs, is about 2 (1.7 to
  2.8 over three initialisations; tests/test_warcraft.py and the chapter measure both):
  lambda = 1.5, 15 and 150 move the two paths' costs apart by about 0.1, 1 and 10 times
  that gap; 1500 by 100 times;
* ``fenchel_young``: the perturbed optimizer of Berthet et al. (2020) trained with its
  Fenchel-Young loss, normal noise, 10 samples (one batched solver call on 10 copies; the
  solver is cheap next to the network), sigma = 0.03, 0.1, 0.3 and 1 against initial costs
  whose root mean square entry is 0.6 to 0.9;
* ``dab``: differentiable approximation bridges (Ramapuram and Webb 2019), trained online
  to imitate the path: a dense bridge on the flattened grid
  (:class:`~discgrad.bridges.FlatBridge`) or a convolutional one (:class:`ConvBridge`), of
  width 8 or 32; each run records the bridge's imitation error (``bridge_error``,
  :func:`~discgrad.bridges.imitation_error`);
* ``identity_linear``, ``identity_noise_linear``: the two Identity families on the linear
  loss (the margin's grid without the widening: the linear loss makes it a no-op).

The cpu budget (300 training maps, 20 epochs of 12 batches of 25) is where a pilot's
validation curves of the variants that learn had flattened (the findings check it for every
chosen variant). A run takes about 5 s on one quiet core, so the 250 runs (25 variants x 10
seeds) take about 10 minutes on two.

Run from the command line::

    python -m discgrad.experiments.warcraft --scale cpu --seeds 0 1 2 3 4 5 6 7 8 9 --workers 2 --out results/cpu/warcraft.json

Book: chapter 11 (Warcraft shortest paths).
"""
from __future__ import annotations

import functools
from typing import Mapping, Sequence

import torch
from torch import nn

from discgrad.bridges import bridge_of_kind, imitation_error
from discgrad.data.terrain import TerrainMaps, make_terrain_maps
from discgrad.estimators import DAB
from discgrad.losses import absolute_loss, hamming_loss
from discgrad.solvers import clamped_shortest_path

from .methods import Method
from .runner import main
from .task import Splits, Task

NAME = "warcraft"

#: The training losses: the main one, and the original code's linear Hamming formula.
LOSSES = {"absolute": absolute_loss, "linear": hamming_loss}

#: The margins' grid, in units of the projected costs' root mean square entry.
ALPHAS = [0.1, 0.3, 1.0]
_LINEAR = {"loss": "linear"}

#: The methods and the grid over each family's own knob (see the module docstring).
METHODS: dict[str, Method] = {
    "identity": Method("identity", grid={"projection": [None, "norm", "std"]}),
    "identity_noise": Method("identity", fixed={"projection": "norm"}, grid={"alpha": [0.03, *ALPHAS]}),
    "blackbox": Method("blackbox", grid={"lam": [1.5, 15.0, 150.0, 1500.0]}),
    "fenchel_young": Method("fenchel_young", fixed={"n_samples": 10}, grid={"sigma": [0.03, 0.1, 0.3, 1.0]}),
    "dab": Method("dab", fixed={"weight": 1.0}, grid={"bridge": ["dense", "conv"], "width": [8, 32]}),
    # the original code's loss: Identity's gradient is the label alone
    "identity_linear": Method("identity", grid={"projection": [None, "norm", "std"]}, setting=_LINEAR),
    "identity_noise_linear": Method("identity", fixed={"projection": "norm"}, grid={"alpha": ALPHAS},
                                    setting=_LINEAR),
}

#: One config per scale (design section 3); nothing else changes between scales. ``cell``
#: is the pixels per cell side; ``dilations`` those of :class:`CellTrunk`'s blocks.
CONFIGS: dict[str, dict] = {
    "smoke": {"grid": 6, "cell": 4, "n_train": 100, "n_val": 50, "n_test": 50, "width": 8, "dilations": [1, 2],
              "epochs": 2, "batch_size": 25, "lr": 3e-3},
    "cpu": {"grid": 12, "cell": 4, "n_train": 300, "n_val": 200, "n_test": 200, "width": 8,
            "dilations": [1, 2, 4], "epochs": 20, "batch_size": 25, "lr": 3e-3},
    "gpu": {"grid": 30, "cell": 6, "n_train": 10000, "n_val": 1000, "n_test": 1000, "width": 64,
            "dilations": [1, 2, 4, 8], "epochs": 30, "batch_size": 70, "lr": 3e-3},
}


def receptive_field(layers: Sequence[tuple[int, int, int]]) -> int:
    """The side, in input pixels, of the window one output entry of a stack of layers depends on.

    ``layers`` lists ``(kernel, stride, dilation)`` in order; the standard recursion
    ``r += (kernel - 1) * dilation * jump``, ``jump *= stride``. A residual connection adds no
    pixels (its identity path sees less than the convolutions beside it).

    Example:
        >>> # the first trunk of this chapter: a strided 3x3 stem, one block of two 3x3
        >>> # convolutions, a 2x2 max-pool to the cells
        >>> receptive_field([(3, 2, 1), (3, 1, 1), (3, 1, 1), (2, 2, 1)])
        13
    """
    size, jump = 1, 1
    for kernel, stride, dilation in layers:
        size += (kernel - 1) * dilation * jump
        jump *= stride
    return size


class DilatedBlock(nn.Module):
    """``relu(x + BN(conv_d(relu(BN(conv_d(x))))))`` with 3x3 convolutions of dilation ``d``."""

    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.dilation = dilation
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation, bias=False), nn.BatchNorm2d(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class CellTrunk(nn.Module):
    """Map image ``(B, 3, grid * cell, grid * cell)`` -> positive cell costs ``(B, grid, grid)``.

    In the spirit of the truncated ResNet18 of Vlastelica et al. (2020), at the size of a
    laptop: a strided 3x3 convolution (BatchNorm, ReLU) reads the pixels, a max-pool keeps
    one feature vector per cell, residual blocks of dilated 3x3 convolutions
    (:class:`DilatedBlock`, one per entry of ``dilations``) work at the cell resolution, so
    the receptive field grows by ``4 d`` cells per block at the cost of a 12 x 12 feature
    map, and a 1x1 convolution with a softplus gives every cell a positive cost.

    Example:
        >>> net = CellTrunk(width=8, dilations=[1, 2], grid=6, cell=4)
        >>> out = net(torch.zeros(2, 3, 24, 24))
        >>> tuple(out.shape), bool((out > 0).all()), net.receptive_field
        ((2, 6, 6), True, 53)
    """

    def __init__(self, width: int, dilations: Sequence[int], grid: int, cell: int, stride: int = 2):
        super().__init__()
        if cell % stride:
            raise ValueError(f"the cell side ({cell} pixels) must be a multiple of the stem's stride {stride}")
        self.pool_size = cell // stride
        self.dilations = list(dilations)
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, stride=stride, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        self.pool = nn.AdaptiveMaxPool2d(grid)
        self.blocks = nn.Sequential(*[DilatedBlock(width, d) for d in self.dilations])
        self.head = nn.Conv2d(width, 1, 1)
        self._layers = [(3, stride, 1), (self.pool_size, self.pool_size, 1)]
        self._layers += [(3, 1, d) for d in self.dilations for _ in range(2)]

    @property
    def receptive_field(self) -> int:
        """The side, in pixels, of the image window one cell's cost depends on."""
        return receptive_field(self._layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.pool(self.stem(x)))
        return nn.functional.softplus(self.head(h)).squeeze(1)


class ConvBridge(nn.Module):
    """DAB's convolutional bridge for the grid: costs ``(B, H, W)`` -> an imitation of the path mask.

    Four convolutions (3x3 with dilations 1, 2, 4, then 1x1) and ReLUs: translation
    equivariant like the solver's local moves, few parameters, and a receptive field of 15
    cells, which covers the 12 x 12 maps of the cpu scale (a path depends on the whole map).
    The output is linear (no squashing), so the bridge's Jacobian never saturates.
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


def _dab(solver, context, bridge: str = "conv", width: int = 16, weight: float = 1.0) -> DAB:
    """DAB with a bridge by name: ``"conv"`` (:class:`ConvBridge`) or a kind of
    :func:`~discgrad.bridges.bridge_of_kind` on the ``grid x grid`` instance."""
    net = ConvBridge(width) if bridge == "conv" else bridge_of_kind(bridge, context["shape"], width)
    return DAB(solver, net, weight=weight)


def cost_ratio(costs: torch.Tensor, path: torch.Tensor, optimal: torch.Tensor) -> torch.Tensor:
    """``100 <c, path> / <c, optimal>`` per map: 100 when the path is optimal, more otherwise.

    Example:
        >>> c = torch.tensor([[[1.0, 3.0], [1.0, 1.0]]])
        >>> cost_ratio(c, torch.tensor([[[1.0, 1.0], [0.0, 1.0]]]), torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]))
        tensor([250.])
    """
    return 100 * (costs * path).flatten(1).sum(1) / (costs * optimal).flatten(1).sum(1)


@functools.lru_cache(maxsize=4)
def make_data(grid: int, cell: int, n_train: int, n_val: int, n_test: int, device: str = "cpu") -> Splits:
    """The training (seed 1), validation (seed 3) and test (seed 2) maps; cached across runs."""
    return Splits(*(make_terrain_maps(n, grid, cell, seed=seed, device=device)
                    for n, seed in ((n_train, 1), (n_val, 3), (n_test, 2))))


class Warcraft(Task):
    """The task: map image -> :class:`CellTrunk` -> cell costs -> shortest path (see the module docstring)."""

    name, configs, methods = NAME, CONFIGS, METHODS
    metric, higher_is_better, variant_keys = "cost_ratio", False, ("loss",)
    families = {"dab": _dab}

    def variants(self, config: Mapping) -> list[dict]:
        return [{"loss": "absolute"}]

    def data(self, config: Mapping, device, loss: str) -> Splits:
        return make_data(config["grid"], config["cell"], config["n_train"], config["n_val"], config["n_test"],
                         str(device))

    def size(self, split: TerrainMaps) -> int:
        return len(split.paths)

    def batch(self, split: TerrainMaps, index) -> TerrainMaps:
        return TerrainMaps(*(field[index] for field in split))

    def model(self, config: Mapping, loss: str) -> nn.Module:
        return CellTrunk(config["width"], config["dilations"], config["grid"], config["cell"])

    def solver(self, config: Mapping, loss: str):
        return clamped_shortest_path()

    def context(self, config: Mapping, loss: str) -> dict:
        return {"size": config["grid"] ** 2, "shape": (config["grid"], config["grid"])}

    def loss(self, model, layer, batch: TerrainMaps, config: Mapping, loss: str) -> torch.Tensor:
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}: use one of {list(LOSSES)}")
        costs = model(batch.images)
        # each map is one solver instance: the per-map losses are summed over the batch
        return layer.loss(costs, batch.paths, LOSSES[loss]) * len(costs)

    def evaluate(self, model, layer, split: TerrainMaps, config: Mapping, loss: str) -> dict[str, float]:
        costs = model(split.images)
        y = layer(costs)  # eval mode: the exact path of the network's costs, no margin
        out = {"cost_ratio": float(cost_ratio(split.costs, y, split.paths).mean()),
               "accuracy": float((y == split.paths).flatten(1).all(1).to(costs.dtype).mean()),
               "cost_rms": float(costs.pow(2).mean().sqrt())}
        if layer.method.family == "dab":  # how well the bridge imitates the solver
            out["bridge_error"] = float(imitation_error(layer.estimator.bridge(costs), y))
        return out


TASK = Warcraft()
EXPERIMENT = TASK.experiment()
#: ``run(method, config, seed, max_steps, variant)``: one run (:meth:`Warcraft.run`).
run = TASK.run


if __name__ == "__main__":
    main(EXPERIMENT)

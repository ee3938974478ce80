"""An autoencoder with a discrete bottleneck on binarised digits (Ramapuram and Webb 2019).

The discrete-representation experiment of the DAB paper (arXiv:1905.03658), at reduced
scale: an MLP encoder maps an image to logits ``w``; a hard, non-differentiable function
turns them into a discrete code ``z``; an MLP decoder maps ``z`` back to pixel logits and
the loss is the Bernoulli reconstruction error ``-log p(x | z)`` (nats per image). The kind
of code is a setting of the task (:meth:`DiscreteAutoencoder.variants`), and every method
runs on both:

* ``binary``: ``z = signum(w) in {-1, +1}^n``, the argmax over ``{-1, +1}^n`` of ``<w, z>``;
* ``onehot``: ``G`` groups of ``C`` logits, ``z_g = onehot(argmax w_g)``, the top-1 of each
  group (the solver sees ``(B, G, C)``).

Both carry the same number of bits at a scale (``n = G log2 C``). The methods differ only in
the backward pass through the hard function.

Under the comparison protocol (design section 11): the 1438 training digits of
:func:`~discgrad.data.load_binary_digits` are split once into 1150 for training and 288 for
validation (as in chapter 6); its 359 test digits are the test split. Every method's grid is
run for 10 seeds on each code; the variant is chosen per method and code on the validation
reconstruction error of the exact (noise-free) codes. Two test metrics: the reconstruction
error, and the *posterior linear separability*: the test accuracy of a multinomial logistic
regression fitted on the exact codes of the training images (:func:`linear_separability`).
The paper names the metric but, in what we could read of it, not the classifier's protocol;
ours is stated here and in the chapter. Units: the logits of the untrained encoder have a
standard deviation of about 0.1 to 0.2 (tests/test_dab_autoencoder.py measures it), and the
standard Gumbel noise has a standard deviation of 1.28. The grids:

* ``dab``: differentiable approximation bridges, the bridge loss of weight 1 added to the
  reconstruction. The bridge is ``dense`` (``D -> width -> width -> D``, tanh, on the
  unnormalised logits: every entry of the code depends on every logit) or ``structured``
  (one small network shared by the code's variables, whose Jacobian has the hard function's
  structure: :class:`~discgrad.bridges.ElementwiseBridge` for the signs,
  :class:`~discgrad.bridges.GroupwiseBridge` for the one-hot groups), of width 16 or 128;
* ``gumbel_st``: straight-through Gumbel-softmax, temperature 0.3, 1 or 3 (from a third of
  the noise's spread to twice it). A binary unit is a two-category Gumbel-softmax on the
  scores ``(-w, +w)``, a binary Concrete sample, ``P(z = +1) = sigmoid(2 w)``;
* ``straight_through``: the exact code forward, the Jacobian of ``tanh(w / tau)`` (signs) or
  of ``softmax(w_g / tau)`` (one-hot groups) backward, tau 0.3, 1 or 3;
* ``identity``: the code as a max solver of the projected logits, ``z = h(P(w))``, backward
  ``+P'(w)^T g``, the projection none, P_norm or P_std (over the whole code), no margin. A
  sign ignores a positive scale, an argmax also a shift: so for the one-hot groups both
  projections leave the code unchanged, and for the signs P_norm does; P_std's shift does
  not, and in training that variant thresholds each sign at the code's mean (evaluation
  takes the exact ``signum(w)``, as for every method). Validation decides.

DAB runs also record the bridge's imitation error on the split
(:func:`~discgrad.bridges.imitation_error`) and, per epoch on a fixed validation batch, the
cosine between the gradient the bridge sends to the logits and the one straight-through (tau
1) would send for the same ``dL/dz`` (:func:`gradient_cosine`).

Run from the command line (10 seeds: one run takes well under 15 s)::

    python -m discgrad.experiments.dab_autoencoder --scale cpu --seeds 0 1 2 3 4 5 6 7 8 9 --workers 2 --out results/cpu/dab_autoencoder.json

Book: chapter 14 (discrete representations with DAB).
"""
from __future__ import annotations

import warnings
from typing import Mapping, NamedTuple, Optional

import torch
from torch import nn

from discgrad.bridges import bridge_of_kind, imitation_error, make_bridge
from discgrad.data.digits import load_binary_digits
from discgrad.estimators import DAB, GumbelSoftmax, StraightThrough
from discgrad.losses import bernoulli_reconstruction
from discgrad.models import MLP
from discgrad.solvers import Signum, TopK

from .methods import Method
from .runner import main
from .task import Splits, Task

NAME = "dab_autoencoder"
CODES = ("binary", "onehot")

#: The relaxations' temperatures, in units of the logits (see the module docstring).
TAUS = [0.3, 1.0, 3.0]

#: The methods and the grid over each family's own knob (see the module docstring).
METHODS: dict[str, Method] = {
    "dab": Method("dab", fixed={"weight": 1.0}, grid={"bridge": ["dense", "structured"], "width": [16, 128]}),
    "gumbel_st": Method("gumbel_st", grid={"tau": TAUS}),
    "straight_through": Method("straight_through", grid={"tau": TAUS}),
    "identity": Method("identity", grid={"projection": [None, "norm", "std"]}),
}

#: One config per scale; the two codes carry the same number of bits: ``bits`` signs, or
#: ``groups`` one-hot codes of ``categories`` entries (``groups * log2(categories) = bits``).
#: 32 bits at cpu scale: half the 64 pixels, a real bottleneck, and far more than the
#: log2(10) bits the class needs. ``n_val``: validation images taken from the training
#: digits; ``n_probe``: the validation images of the fixed batch :func:`gradient_cosine`
#: uses. The classifier is scikit-learn's logistic regression with fixed settings
#: (``clf_C``, ``clf_max_iter``) on the raw codes.
CONFIGS: dict[str, dict] = {
    "smoke": {"bits": 16, "groups": 4, "categories": 16, "hidden": [32], "epochs": 2, "n_val": 288,
              "n_probe": 100, "batch_size": 100, "lr": 1e-3, "clf_C": 1.0, "clf_max_iter": 200},
    "cpu": {"bits": 32, "groups": 8, "categories": 16, "hidden": [256], "epochs": 50, "n_val": 288,
            "n_probe": 100, "batch_size": 100, "lr": 1e-3, "clf_C": 1.0, "clf_max_iter": 1000},
    "gpu": {"bits": 64, "groups": 16, "categories": 16, "hidden": [512, 256], "epochs": 200, "n_val": 288,
            "n_probe": 100, "batch_size": 100, "lr": 1e-3, "clf_C": 1.0, "clf_max_iter": 1000},
}

#: The seed of the split of the training digits into training and validation (chapter 6's).
SPLIT_SEED = 1


class Images(NamedTuple):
    """Binary digits ``x`` ``(n, 64)`` with labels ``y``; ``fit``: the labelled images the
    linear classifier is fitted on when this split's codes are scored (``None``: not scored)."""

    x: torch.Tensor
    y: torch.Tensor
    fit: Optional["Images"] = None


def code_shape(code: str, config: Mapping) -> tuple[int, ...]:
    """The shape of one code as the solver sees it: ``(bits,)`` or ``(groups, categories)``.

    Example:
        >>> code_shape("onehot", CONFIGS["cpu"]), code_shape("binary", CONFIGS["cpu"])
        ((8, 16), (32,))
    """
    if code == "binary":
        return (config["bits"],)
    if code == "onehot":
        return (config["groups"], config["categories"])
    raise ValueError(f"unknown code {code!r}: use one of {list(CODES)}")


def code_size(code: str, config: Mapping) -> int:
    """The length of the flat code: ``bits`` (binary) or ``groups * categories`` (one-hot)."""
    size = 1
    for s in code_shape(code, config):
        size *= s
    return size


def hard_code(code: str):
    """The code's hard function on ``(B, *code_shape)`` logits: signum, or top-1 per group."""
    if code not in CODES:
        raise ValueError(f"unknown code {code!r}: use one of {list(CODES)}")
    return Signum() if code == "binary" else TopK(1)


def relaxation(code: str, tau: float):
    """The smooth function whose limit the code is: ``tanh(w / tau)`` for signs, the softmax
    of ``w_g / tau`` over each group's categories for one-hot groups (straight-through)."""
    if code == "binary":
        return lambda w: torch.tanh(w / tau)
    return lambda w: torch.softmax(w / tau, dim=-1)


class DenseBridge(nn.Module):
    """A dense tanh bridge (:func:`~discgrad.bridges.make_bridge`, two hidden layers of
    ``width``) on the flattened code: every output depends on every logit.

    Example:
        >>> DenseBridge((4, 3), 8)(torch.zeros(2, 4, 3)).shape
        torch.Size([2, 4, 3])
    """

    def __init__(self, shape: tuple[int, ...], width: int):
        super().__init__()
        size = 1
        for s in shape:
            size *= s
        self.net = make_bridge(size, size, [width, width])

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.net(w.flatten(1)).view(w.shape)


def code_bridge(code: str, shape: tuple[int, ...], bridge: str, width: int) -> nn.Module:
    """DAB's bridge by name: ``"dense"`` (:class:`DenseBridge`) or ``"structured"``, one
    network per code variable, :func:`~discgrad.bridges.bridge_of_kind` ``"elementwise"``
    for signs and ``"groupwise"`` over the ``(groups, categories)`` rows for one-hot groups."""
    if bridge == "dense":
        return DenseBridge(shape, width)
    if bridge == "structured":
        return bridge_of_kind("elementwise" if code == "binary" else "groupwise", shape, width)
    raise ValueError(f"unknown bridge {bridge!r}: use 'dense' or 'structured'")


class BinaryGumbel(nn.Module):
    """Straight-through Gumbel-softmax for signs: each sign a choice between the two
    categories ``(-1, +1)`` with scores ``(-w, +w)``, so ``P(z = +1) = sigmoid(2 w)``."""

    def __init__(self, tau: float):
        super().__init__()
        self.gumbel = GumbelSoftmax(tau=tau, hard=True)

    @property
    def solver_calls(self) -> int:
        return self.gumbel.solver_calls

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        onehot = self.gumbel(torch.stack([-w, w], dim=-1))
        return onehot[..., 1] - onehot[..., 0]


def _gumbel(solver, context, tau):
    return BinaryGumbel(tau) if context["code"] == "binary" else GumbelSoftmax(tau=tau, hard=True)


#: The families whose builders depend on the code (they replace the shared ones).
CODE_FAMILIES = {
    "dab": lambda solver, context, bridge, width, weight=1.0: DAB(
        solver, code_bridge(context["code"], context["shape"], bridge, width), weight=weight),
    "gumbel_st": _gumbel,
    "straight_through": lambda solver, context, tau: StraightThrough(solver, relaxation(context["code"], tau)),
}


class Autoencoder(nn.Module):
    """MLP encoder to the code's logits ``(B, *code_shape)``, MLP decoder from the flat code.

    Shape: ``encode``: ``(B, pixels) -> (B, *shape)``; ``decode``: ``(B, *shape) -> (B, pixels)``
    (logits of the pixels).
    """

    def __init__(self, shape: tuple[int, ...], hidden, pixels: int = 64):
        super().__init__()
        self.shape = tuple(shape)
        size = 1
        for s in shape:
            size *= s
        self.encoder = MLP(pixels, list(hidden), size)
        self.decoder = MLP(size, list(hidden)[::-1], pixels)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).view(len(x), *self.shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z.flatten(1))


def linear_separability(z_train: torch.Tensor, y_train: torch.Tensor, z_test: torch.Tensor,
                        y_test: torch.Tensor, C: float = 1.0, max_iter: int = 1000) -> float:
    """Test accuracy of a multinomial logistic regression (scikit-learn, L-BFGS, fixed
    ``C`` and ``max_iter``) fitted on the training codes, flattened.

    Example:
        >>> z = torch.tensor([[1.0, -1.0], [-1.0, 1.0]] * 10)
        >>> y = torch.tensor([0, 1] * 10)
        >>> linear_separability(z, y, z, y)
        1.0
    """
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    # one BLAS thread: on two cores the threaded fit took 30 times longer (it waits on the other)
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")  # a convergence warning at max_iter does not change the rule
        clf = LogisticRegression(C=C, max_iter=max_iter)
        clf.fit(z_train.flatten(1).cpu().double().numpy(), y_train.cpu().numpy())
    return float(clf.score(z_test.flatten(1).cpu().double().numpy(), y_test.cpu().numpy()))


def gradient_cosine(bridge: nn.Module, w: torch.Tensor, g: torch.Tensor, code: str) -> float:
    """The cosine between the gradient DAB's bridge sends to the logits ``w`` for the
    downstream gradient ``g = dL/dz`` and the one straight-through (tau 1) sends, over the
    whole batch flattened: ``cos(J_b(w)^T g, J_r(w)^T g)``.

    Example:
        >>> w, g = torch.randn(3, 5), torch.randn(3, 5)
        >>> round(gradient_cosine(lambda v: torch.tanh(v), w, g, "binary"), 6)
        1.0
    """
    with torch.enable_grad():
        w = w.detach().requires_grad_()
        u = torch.autograd.grad(bridge(w), w, g)[0]
        v = torch.autograd.grad(relaxation(code, 1.0)(w), w, g)[0]
    return float(torch.nn.functional.cosine_similarity(u.flatten(), v.flatten(), dim=0))


class DiscreteAutoencoder(Task):
    """The task: encoder -> discrete code -> decoder, trained on the reconstruction error
    (see the module docstring); the kind of code is the task's setting."""

    name, configs, methods = NAME, CONFIGS, METHODS
    metric, higher_is_better, variant_keys = "reconstruction", False, ("code",)
    families = CODE_FAMILIES

    def variants(self, config: Mapping) -> list[dict]:
        return [{"code": c} for c in CODES]

    def data(self, config: Mapping, device, code: str) -> Splits:
        digits = load_binary_digits(device=device)
        order = torch.randperm(len(digits.x_train), generator=torch.Generator().manual_seed(SPLIT_SEED))
        val, train = order[:config["n_val"]].to(device), order[config["n_val"]:].to(device)
        train_split = Images(digits.x_train[train], digits.y_train[train])
        return Splits(train_split, Images(digits.x_train[val], digits.y_train[val]),
                      Images(digits.x_test, digits.y_test, fit=train_split))

    def size(self, split: Images) -> int:
        return len(split.x)

    def batch(self, split: Images, index: torch.Tensor) -> torch.Tensor:
        return split.x[index]

    def model(self, config: Mapping, code: str) -> nn.Module:
        return Autoencoder(code_shape(code, config), config["hidden"])

    def solver(self, config: Mapping, code: str):
        return hard_code(code)

    def context(self, config: Mapping, code: str) -> dict:
        return {"code": code, "shape": code_shape(code, config), "size": code_size(code, config)}

    def loss(self, model, layer, x, config: Mapping, code: str) -> torch.Tensor:
        return bernoulli_reconstruction(model.decode(layer(model.encode(x))), x).mean()

    def evaluate(self, model, layer, split: Images, config: Mapping, code: str) -> dict[str, float]:
        w = model.encode(split.x)
        z = layer(w)  # eval mode: the exact code, no noise
        logits_x = model.decode(z)
        out = {"reconstruction": float(bernoulli_reconstruction(logits_x, split.x).mean()),
               "pixel_error": float(((logits_x > 0).to(split.x.dtype) != split.x).double().mean())}
        if split.fit is not None:  # the posterior linear separability of this split's codes
            fit_codes = layer(model.encode(split.fit.x))
            out["linear_accuracy"] = linear_separability(fit_codes, split.fit.y, z, split.y,
                                                         config["clf_C"], config["clf_max_iter"])
        if layer.method.family == "dab":
            bridge = layer.estimator.bridge
            out["bridge_error"] = float(imitation_error(bridge(w), z))
            out["grad_cosine"] = self.probe_cosine(model, bridge, split, config, code)
        return out

    def probe_cosine(self, model, bridge, split: Images, config: Mapping, code: str) -> float:
        """:func:`gradient_cosine` on the split's first ``n_probe`` images, for ``dL/dz`` of
        the mean reconstruction error at the exact code."""
        x = split.x[:config["n_probe"]]
        with torch.enable_grad():
            w = model.encode(x).detach()
            z = hard_code(code)(w).requires_grad_()
            g = torch.autograd.grad(bernoulli_reconstruction(model.decode(z), x).mean(), z)[0]
        return gradient_cosine(bridge, w, g, code)


TASK = DiscreteAutoencoder()
EXPERIMENT = TASK.experiment()


if __name__ == "__main__":
    main(EXPERIMENT)

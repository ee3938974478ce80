"""An autoencoder with a discrete bottleneck on binarised digits (Ramapuram and Webb 2019).

The discrete-representation experiment of the DAB paper (arXiv:1905.03658), at reduced
scale: an MLP encoder maps an image to logits ``w``; a hard, non-differentiable function
turns them into a discrete code ``z``; an MLP decoder maps ``z`` back to pixel logits and
the loss is the Bernoulli reconstruction error ``-log p(x | z)``. Two kinds of code
(the variants of the experiment):

* ``binary``: ``z = signum(w) in {-1, +1}^n``, the argmax over ``{-1, +1}^n`` of ``<w, z>``;
* ``onehot``: ``G`` groups of ``C`` logits, ``z_g = onehot(argmax w_g)``, the top-1 of each group.

Both carry the same number of bits at a scale (``n = G log2 C``). The methods differ only in
the backward pass through the hard function (see :data:`METHODS`). After training, two test
metrics: the reconstruction error of the (deterministic) test codes, and the accuracy of a
logistic-regression classifier trained on the codes of the training images and scored on
those of the test images (the *posterior linear separability* of the paper).

Run from the command line::

    python -m discgrad.experiments.dab_autoencoder --scale cpu --seeds 0 1 2 --out results/cpu/dab_autoencoder.json

Book: Part III (discrete representations with DAB).
"""
from __future__ import annotations

import time
import warnings
from typing import Mapping

import torch
from torch import nn

from discgrad.data.digits import load_binary_digits
from discgrad.estimators import DAB, GumbelSoftmax, Identity, StraightThrough
from discgrad.losses import bernoulli_reconstruction
from discgrad.models import MLP
from discgrad.scale import get_device, resolve_config
from discgrad.solvers import Signum, TopK
from discgrad.train import fit, seed_everything

from .runner import Experiment, ShuffledBatches, main

NAME = "dab_autoencoder"
CODES = ("binary", "onehot")

#: The methods and their settings, decided before any run. ``dab``: the exact code forward,
#: the gradient of a learned bridge MLP backward, its loss (weight 1) added to the task
#: loss; ``gumbel_st``: straight-through Gumbel-softmax at temperature 1 (a binary unit is
#: a two-category Gumbel-softmax on the scores ``(-w, +w)``, i.e. a binary Concrete
#: sample); ``straight_through``: the exact code forward, the Jacobian of its smooth
#: relaxation backward (``tanh`` for signum, ``softmax`` for argmax, temperature 1);
#: ``identity``: the code as a linear-objective solver (max), backward ``+P'(w)^T g``
#: with the projection that respects the solver's invariances (signum ignores a positive
#: scale: ``P_norm``; argmax also a shift: ``P_std``), no noise.
METHODS: dict[str, dict] = {
    "dab": {"estimator": "dab", "bridge_weight": 1.0},
    "gumbel_st": {"estimator": "gumbel_st", "tau": 1.0},
    "straight_through": {"estimator": "straight_through", "tau": 1.0},
    "identity": {"estimator": "identity", "projection": {"binary": "norm", "onehot": "std"}},
}

#: One config per scale; the two codes carry the same number of bits: ``bits`` signs, or
#: ``groups`` one-hot codes of ``categories`` entries (``groups * log2(categories) = bits``).
#: 32 bits at cpu scale: half the 64 pixels, a real bottleneck, and far more than the
#: log2(10) bits the class needs. The classifier is scikit-learn's logistic regression with
#: fixed settings (``C``, ``max_iter``) on the raw codes.
CONFIGS: dict[str, dict] = {
    "smoke": {"bits": 16, "groups": 4, "categories": 16, "hidden": [32], "bridge_hidden": [32],
              "epochs": 2, "batch_size": 100, "lr": 1e-3, "clf_C": 1.0, "clf_max_iter": 200},
    "cpu": {"bits": 32, "groups": 8, "categories": 16, "hidden": [256], "bridge_hidden": [128],
            "epochs": 50, "batch_size": 100, "lr": 1e-3, "clf_C": 1.0, "clf_max_iter": 2000},
    "gpu": {"bits": 64, "groups": 16, "categories": 16, "hidden": [512, 256], "bridge_hidden": [256],
            "epochs": 200, "batch_size": 100, "lr": 1e-3, "clf_C": 1.0, "clf_max_iter": 2000},
}


def code_size(code: str, config: Mapping) -> int:
    """The length of the flat code: ``bits`` (binary) or ``groups * categories`` (one-hot)."""
    if code == "binary":
        return config["bits"]
    if code == "onehot":
        return config["groups"] * config["categories"]
    raise ValueError(f"unknown code {code!r}: use one of {list(CODES)}")


class CodeLayer(nn.Module):
    """The discrete bottleneck of one method: flat logits ``(B, D)`` -> flat code ``(B, D)``.

    Forward: the exact code, ``signum(w)`` or the one-hot argmax of each group of
    ``categories`` logits (:meth:`hard`); in training Gumbel-softmax draws a sample instead
    (the argmax of ``w`` plus Gumbel noise), the other methods never add noise. Under
    ``torch.no_grad`` every method returns :meth:`hard` (no bridge, no noise). The backward
    pass is the method's (see :data:`METHODS`). ``bridge_loss`` (DAB only, else ``None``)
    holds the last training forward's bridge loss, to add to the task loss.

    Example:
        >>> layer = CodeLayer("identity", "onehot", {"groups": 2, "categories": 3})
        >>> w = torch.tensor([[0.1, 2.0, -1.0, 5.0, 0.0, 1.0]], requires_grad=True)
        >>> layer(w).tolist()
        [[0.0, 1.0, 0.0, 1.0, 0.0, 0.0]]
    """

    def __init__(self, method: str, code: str, config: Mapping):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}: use one of {list(METHODS)}")
        self.method, self.code, spec = method, code, METHODS[method]
        self.size = code_size(code, config)
        self.groups = config["groups"] if code == "onehot" else self.size
        self.categories = config["categories"] if code == "onehot" else 2
        if spec["estimator"] == "dab":
            bridge = MLP(self.size, config["bridge_hidden"], self.size, activation=nn.Tanh)
            self.layer = DAB(self.hard, bridge, weight=spec["bridge_weight"])
        elif spec["estimator"] == "gumbel_st":
            self.layer = GumbelSoftmax(tau=spec["tau"], hard=True)
        elif spec["estimator"] == "straight_through":
            if code == "binary":
                tau = spec["tau"]
                self.layer = StraightThrough(Signum(),
                                             relaxation=lambda w: torch.tanh(w / tau))
            else:
                self.layer = StraightThrough(TopK(1), tau=spec["tau"])
        else:
            solver = Signum() if code == "binary" else TopK(1)
            self.layer = Identity(solver, projection=spec["projection"][code])

    def hard(self, w: torch.Tensor) -> torch.Tensor:
        """The exact code of flat logits ``(B, D)``, no gradient."""
        if self.code == "binary":
            return Signum()(w)
        return TopK(1)(w.reshape(len(w), self.groups, self.categories)).reshape(w.shape)

    @property
    def bridge_loss(self) -> torch.Tensor | None:
        return self.layer.bridge_loss if isinstance(self.layer, DAB) else None

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():  # evaluation: the exact code, no bridge, no noise
            return self.hard(w)
        if isinstance(self.layer, DAB):
            return self.layer(w)
        if self.code == "binary":
            if isinstance(self.layer, GumbelSoftmax):  # two categories: -1 and +1
                onehot = self.layer(torch.stack([-w, w], dim=-1))
                return onehot[..., 1] - onehot[..., 0]
            return self.layer(w)
        grouped = w.reshape(len(w), self.groups, self.categories)
        return self.layer(grouped).reshape(w.shape)


class DiscreteAutoencoder(nn.Module):
    """MLP encoder -> :class:`CodeLayer` -> MLP decoder (pixel logits).

    Shape: ``encode``: ``(B, pixels) -> (B, D)`` exact codes; ``forward``: ``(B, pixels) ->
    (pixel logits (B, pixels), code (B, D))``.
    """

    def __init__(self, method: str, code: str, config: Mapping, pixels: int = 64):
        super().__init__()
        self.bottleneck = CodeLayer(method, code, config)
        size = self.bottleneck.size
        self.encoder = MLP(pixels, config["hidden"], size)
        self.decoder = MLP(size, list(config["hidden"])[::-1], pixels)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The exact (deterministic) code of ``x``, no gradient: what the classifier sees."""
        with torch.no_grad():
            return self.bottleneck.hard(self.encoder(x))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.bottleneck(self.encoder(x))
        return self.decoder(z), z


def linear_separability(z_train: torch.Tensor, y_train: torch.Tensor, z_test: torch.Tensor,
                        y_test: torch.Tensor, C: float = 1.0, max_iter: int = 2000) -> float:
    """Test accuracy of logistic regression trained on the training codes (fixed settings).

    Example:
        >>> z = torch.tensor([[1.0, -1.0], [-1.0, 1.0]] * 10)
        >>> y = torch.tensor([0, 1] * 10)
        >>> linear_separability(z, y, z, y)
        1.0
    """
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a convergence warning at max_iter does not change the rule
        clf = LogisticRegression(C=C, max_iter=max_iter)
        clf.fit(z_train.cpu().double().numpy(), y_train.cpu().numpy())
    return float(clf.score(z_test.cpu().double().numpy(), y_test.cpu().numpy()))


def run(method: str, config: Mapping | str | None = None, seed: int = 0, max_steps: int | None = None,
        code: str = "binary") -> dict:
    """Train the autoencoder with ``method`` and ``code``; return the run's record.

    Returns:
        the arguments of :func:`discgrad.results.record_run`. ``history`` holds per epoch
        ``train_loss`` (reconstruction), ``test_reconstruction``, ``test_pixel_error``,
        ``epoch_time_s`` and, for DAB, ``train_bridge_error``: the bridge's mean squared
        imitation error per code entry over the epoch. ``metrics`` holds the final test
        values and ``linear_accuracy``.
    """
    config = resolve_config(CONFIGS, config)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {list(METHODS)}")
    if code not in CODES:
        raise ValueError(f"unknown code {code!r}: use one of {list(CODES)}")
    device = get_device()
    start = time.perf_counter()
    seed_everything(seed)
    data = load_binary_digits(device=device)
    model = DiscreteAutoencoder(method, code, config, data.x_train.shape[1]).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config["lr"])
    shuffled = ShuffledBatches(len(data.x_train), config["batch_size"], config["epochs"], max_steps, device)

    def batches(epoch):
        return (data.x_train[idx] for idx in shuffled(epoch))

    def step(x):
        optimiser.zero_grad()
        logits_x, _ = model(x)
        recon = bernoulli_reconstruction(logits_x, x).mean()
        loss, report = recon, {"loss": float(recon.detach())}
        bridge_loss = model.bottleneck.bridge_loss
        if bridge_loss is not None:
            loss = loss + bridge_loss
            weight = METHODS[method]["bridge_weight"]
            report["bridge_error"] = float(bridge_loss.detach()) / weight / model.bottleneck.size
        loss.backward()
        optimiser.step()
        return report

    def evaluate():
        logits_x = model.decoder(model.encode(data.x_test))
        return {"test_reconstruction": float(bernoulli_reconstruction(logits_x, data.x_test).mean()),
                "test_pixel_error": float(((logits_x > 0).float() != data.x_test).float().mean())}

    history = dict(fit(step, batches, shuffled.epochs, evaluate, modules=[model],
                       desc=f"{NAME} {method} {code} seed {seed}"))
    model.eval()
    accuracy = linear_separability(model.encode(data.x_train), data.y_train, model.encode(data.x_test),
                                   data.y_test, config["clf_C"], config["clf_max_iter"])
    metrics = {"test_reconstruction": history["test_reconstruction"][-1],
               "test_pixel_error": history["test_pixel_error"][-1],
               "train_loss": history["train_loss"][-1], "linear_accuracy": accuracy}
    if "train_bridge_error" in history:
        metrics["bridge_error"] = history["train_bridge_error"][-1]
    spec = {k: (v[code] if isinstance(v, dict) else v) for k, v in METHODS[method].items()}
    settings = {**config, **spec, "code": code, "code_size": model.bottleneck.size, "steps": shuffled.steps}
    return {"experiment": NAME, "method": method, "settings": settings, "seed": seed, "metrics": metrics,
            "history": history, "wall_time_s": time.perf_counter() - start, "device": str(device)}


def _variants(config: Mapping) -> list[dict]:
    return [{"code": c} for c in CODES]


EXPERIMENT = Experiment(name=NAME, methods=tuple(METHODS), configs=CONFIGS, run=run, variants=_variants,
                        variant_keys=("code",), metrics=("test_reconstruction", "linear_accuracy"))


if __name__ == "__main__":
    main(EXPERIMENT)

"""Density estimation with Bernoulli latents: DAB against REINFORCE, RELAX and Gumbel-softmax.

The density-estimation experiment of Ramapuram and Webb (2019), at reduced scale and on the
binarised 8x8 digits (:func:`discgrad.data.digits.load_binary_digits`): an MLP encoder maps
an image ``x`` to ``D`` logits ``l``; the latent code is ``D`` independent bits
``b ~ Bernoulli(sigmoid(l))``, drawn as ``b = 1[l + logit(u) > 0]`` with ``u ~ U(0, 1)``
(logistic noise, then :class:`~discgrad.solvers.Heaviside`); an MLP decoder maps ``b`` back
to pixel logits. The loss is the negative evidence lower bound with a uniform Bernoulli prior,

.. math:: \\mathcal{L}(x) = \\underbrace{-\\log p(x \\mid b)}_{f(b)} + \\sum_{d=1}^{D}
          \\mathrm{KL}\\big(\\mathrm{Bernoulli}(\\sigma(l_d)) \\,\\|\\, \\mathrm{Bernoulli}(\\tfrac12)\\big),

with :func:`discgrad.losses.bernoulli_reconstruction` and the KL in closed form
(:func:`kl_bernoulli_uniform`). The methods differ only in the gradient that reaches ``l``
through the sample. Metric: the N-ELBO (nats per image, lower is better) of a split,
averaged over ``eval_samples`` codes per image drawn with noise fixed per split (the same for
every run, so the methods are evaluated alike).

Under the comparison protocol (design section 11): the 1438 training images of
``load_binary_digits`` are cut once (a fixed permutation) into ``1 - val_fraction`` for
training and ``val_fraction`` for validation; its 359 test images are the test split. Every
method's grid is run for every seed; the variant is chosen per method on the validation
N-ELBO. The untrained networks' N-ELBO (``untrained_test_nelbo``) is the baseline training
must beat. The grids, fixed before the protocol's runs:

* ``dab``: the bridge kind and width (Ramapuram and Webb 2019): ``dense``
  (:func:`~discgrad.bridges.make_bridge`, ``D -> width -> width -> D``, tanh, on the noisy
  logits as they are, the kind of this chapter's earlier single bridge) or ``elementwise``
  (:class:`~discgrad.bridges.ElementwiseBridge`, one ``1 -> width -> 1`` network shared by
  every bit: a threshold acts on each bit alone, so its Jacobian is diagonal), each of width
  8, 32 or 128; bridge loss weight 1. The bridge's input, a noisy logit, is logistic with
  scale 1 around ``l``, so its step at ``z = 0`` is a few units wide in the inputs the bridge
  sees; the widths span a bridge that can barely bend to one that can follow a step. A
  two-seed pilot's validation N-ELBO chose 128, the grid's edge, for both kinds, by less than
  the spread over seeds; the grid was not widened (a wider bridge costs the budget more than
  the pilot's differences promised), and the chapter states where the choice fell;
* ``gumbel_st``: the straight-through Gumbel-softmax (binary Concrete): the exact bit
  forward, the gradient of ``sigmoid(z / tau)`` backward, ``tau`` in 0.5, 1 and 2. ``tau`` is
  in units of the noisy logit ``z``, whose logistic noise has scale 1: ``tau = 1`` matches the
  noise's own width, 0.5 and 2 halve and double it. A two-seed pilot's validation N-ELBO chose
  0.5, the grid's edge, so the grid was widened once, on validation, to 0.25;
* ``reinforce``: :class:`~discgrad.ScoreFunction`, one sample, the moving-average baseline
  (momentum 0.9, the default). One variant: its other knob, the number of samples, changes
  the decoder evaluations per step and so the budget, not the estimator;
* ``relax``: :class:`~discgrad.estimators.RELAX`, one sample, with the control variate
  :class:`RebarControl` (REBAR's term plus an MLP, Grathwohl et al. 2018). One variant: its
  knobs (the temperature, the REBAR scale and the MLP) are learned by minimising the
  gradient's variance, which is the point of the method.

For DAB every validation pass also records how the bridge behaves on the validation split,
with its fixed noise: ``bridge_error`` (:func:`~discgrad.bridges.imitation_error` of the
bridge against the bits; 1 is no better than predicting the mean bit) and the cosine
between the gradient DAB sends to the noisy logits and two references, per image and
averaged (:func:`gradient_cosines`): straight-through's (``cosine_st``, the upstream gradient
``dL/db`` itself) and the binary Concrete's at ``tau = 1`` (``cosine_gumbel``,
``dL/db * sigmoid'(z)``).

The cpu budget, 200 epochs of 12 steps, is where a two-seed pilot's validation curves had
left the collapsed plateau (the first epochs, in which the code carries less than a nat per
image: about 30 epochs for RELAX and the Gumbel-softmax, 70 for REINFORCE) and flattened
after it; the findings check both for every chosen variant (:mod:`discgrad.findings.dab_vae`).
A run takes 4 to 20 s on one core (about 11 s on average; the 12 variants of one seed about
0.6 s of CPU per epoch together), so the 120 runs of 10 seeds take about 11 minutes on two.

Run from the command line (10 seeds: a run takes under 15 s)::

    python -m discgrad.experiments.dab_vae --scale cpu --seeds 0 1 2 3 4 5 6 7 8 9 --workers 2 --out results/cpu/dab_vae.json

Book: chapter 15 (density estimation with Bernoulli latents).
"""
from __future__ import annotations

import functools
from typing import Mapping, NamedTuple, Sequence

import torch
from torch import nn
from torch.func import functional_call

from discgrad.bridges import imitation_error
from discgrad.data.digits import load_binary_digits
from discgrad.estimators import RELAX, ScoreFunction, StraightThrough
from discgrad.losses import bernoulli_reconstruction, kl_softmax_uniform
from discgrad.models import MLP
from discgrad.solvers import Heaviside

from .methods import Method
from .runner import main
from .task import Splits, Task

NAME = "dab_vae"

#: The bridges' widths (DAB's grid, with the kind).
WIDTHS = [8, 32, 128]

#: The methods and the grid over each family's own knob (see the module docstring).
METHODS: dict[str, Method] = {
    "dab": Method("dab", fixed={"weight": 1.0}, grid={"bridge": ["dense", "elementwise"], "width": WIDTHS},
                  noisy_input=True),
    "reinforce": Method("reinforce", fixed={"momentum": 0.9}),
    "relax": Method("relax", fixed={"tau0": 0.5}),
    "gumbel_st": Method("gumbel_st", grid={"tau": [0.25, 0.5, 1.0, 2.0]}, noisy_input=True),
}

#: One config per scale (design section 3). ``hidden``: the encoder's hidden widths (the
#: decoder mirrors them); ``control_hidden``: the hidden widths of RELAX's MLP ``r``;
#: ``eval_samples``: codes per image in the evaluation; ``val_fraction``: the share of the
#: training images held out for validation. The bridge, the control variate and the model are
#: trained with one Adam optimiser.
CONFIGS: dict[str, dict] = {
    "smoke": {"latents": 8, "hidden": [32], "control_hidden": [16], "epochs": 2, "batch_size": 100,
              "lr": 1e-3, "eval_samples": 2, "val_fraction": 0.2},
    "cpu": {"latents": 32, "hidden": [128], "control_hidden": [64], "epochs": 200, "batch_size": 100,
            "lr": 1e-3, "eval_samples": 8, "val_fraction": 0.2},
    "gpu": {"latents": 200, "hidden": [512, 256], "control_hidden": [256], "epochs": 200, "batch_size": 100,
            "lr": 1e-3, "eval_samples": 32, "val_fraction": 0.2},
}

#: The seeds of each split's fixed evaluation noise.
NOISE_SEEDS = {"train": 10_000, "val": 10_001, "test": 10_002}


class Images(NamedTuple):
    """One split: 0/1 images ``x (N, 64)`` and the logistic noise ``(S, N, D)`` its
    evaluation draws the codes with (fixed, so every run is evaluated alike)."""

    x: torch.Tensor
    noise: torch.Tensor


class BernoulliVAE(nn.Module):
    """MLP encoder to ``latents`` logits, MLP decoder from the bits.

    Shape: ``encode``: ``(B, pixels) -> (B, latents)``; ``decode``: ``(..., latents) ->
    (..., pixels)`` (logits of the pixels).
    """

    def __init__(self, pixels: int, latents: int, hidden: Sequence[int]):
        super().__init__()
        self.latents = latents
        self.encoder = MLP(pixels, hidden, latents)
        self.decoder = MLP(latents, list(hidden)[::-1], pixels)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, b: torch.Tensor) -> torch.Tensor:
        return self.decoder(b)


def reconstruction(decoder: nn.Module, b: torch.Tensor, x: torch.Tensor, params=None) -> torch.Tensor:
    """``-log p(x | b)`` for codes ``(..., B, D)`` and images ``(B, P)``: shape ``(..., B)``.

    ``params``: optional parameters for ``decoder`` (detached ones, for a control variate).
    """
    logits_x = decoder(b) if params is None else functional_call(decoder, params, (b,))
    pixels = logits_x.shape[-1]
    flat = bernoulli_reconstruction(logits_x.reshape(-1, pixels), x.expand_as(logits_x).reshape(-1, pixels))
    return flat.reshape(logits_x.shape[:-1])


def kl_bernoulli_uniform(logits: torch.Tensor) -> torch.Tensor:
    """``KL(Bernoulli(sigmoid(l)) || Bernoulli(1/2))`` summed over the latents: ``(B, D) -> (B,)``.

    Computed by :func:`~discgrad.losses.kl_softmax_uniform` on the two-category logits
    ``(l, 0)``, whose softmax is ``(sigmoid(l), 1 - sigmoid(l))``.

    Example:
        >>> float(kl_bernoulli_uniform(torch.zeros(1, 3)))
        0.0
    """
    return kl_softmax_uniform(torch.stack([logits, torch.zeros_like(logits)], dim=-1))


def logistic_noise(shape, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """``logit(u)``, ``u ~ U(0, 1)``: with it ``1[l + noise > 0]`` is ``Bernoulli(sigmoid(l))``."""
    u = torch.rand(shape, generator=generator).clamp(1e-6, 1 - 1e-6).to(device)
    return torch.log(u) - torch.log1p(-u)


def binary_concrete(z: torch.Tensor, tau: float) -> torch.Tensor:
    """``sigmoid(z / tau)``: the binary Concrete relaxation of ``1[z > 0]`` for a noisy logit
    ``z`` (Maddison et al. 2017; a two-category Gumbel-softmax on ``(l, 0)``)."""
    return torch.sigmoid(z / tau)


class RebarControl(nn.Module):
    """RELAX's control variate for a VAE: ``c(z) = eta f(sigmoid(z / tau)) + r(z)``.

    ``f`` is the decoder's reconstruction loss of the current batch ``x`` (call
    :meth:`bind` before each use), evaluated with the decoder's parameters DETACHED, so the
    variance loss trains only ``eta``, ``tau`` and ``r``. Input ``(S, B, D)``, output
    ``(S, B)``.
    """

    def __init__(self, latents: int, hidden: Sequence[int], tau0: float = 0.5):
        super().__init__()
        self.log_tau = nn.Parameter(torch.tensor(float(tau0)).log())
        self.eta = nn.Parameter(torch.tensor(1.0))
        self.r = MLP(latents, hidden, 1)
        self._decoder: list[nn.Module] = []  # a reference, not a submodule: its parameters are not ours
        self.x: torch.Tensor | None = None

    def bind(self, decoder: nn.Module, x: torch.Tensor) -> None:
        """The decoder and the batch whose reconstruction loss ``f`` the REBAR term uses."""
        self._decoder, self.x = [decoder], x

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if not self._decoder or self.x is None:
            raise ValueError("call bind(decoder, x) before using the control variate")
        decoder = self._decoder[0]
        frozen = {name: p.detach() for name, p in decoder.named_parameters()}
        relaxed = torch.sigmoid(z / self.log_tau.exp())
        return self.eta * reconstruction(decoder, relaxed, self.x, frozen) + self.r(z).squeeze(-1)


def gradient_cosines(bridge: nn.Module, decoder: nn.Module, z: torch.Tensor, x: torch.Tensor) -> dict[str, float]:
    """How DAB's gradient points, against straight-through's and the binary Concrete's.

    For noisy logits ``z (B, D)``, bits ``b = 1[z > 0]`` and the upstream gradient
    ``g = d f(b) / d b`` of the reconstruction loss, DAB sends ``J_bridge(z)^T g`` to ``z``;
    straight-through sends ``g``, the binary Concrete at ``tau = 1`` sends
    ``g * sigmoid'(z)``. Returns the cosines of DAB's with each, per image, averaged:
    ``{"cosine_st": ..., "cosine_gumbel": ...}``.

    Example:
        >>> _ = torch.manual_seed(0); dec = nn.Linear(3, 4)
        >>> out = gradient_cosines(nn.Identity(), dec, torch.randn(5, 3), torch.ones(5, 4))
        >>> round(out["cosine_st"], 6)  # an identity bridge is straight-through
        1.0
    """
    with torch.enable_grad():
        b = (z > 0).to(z.dtype).requires_grad_(True)
        (g,) = torch.autograd.grad(reconstruction(decoder, b, x).sum(), b)
        z_ = z.detach().requires_grad_(True)
        (dab,) = torch.autograd.grad((bridge(z_) * g).sum(), z_)
    s = torch.sigmoid(z)
    refs = {"cosine_st": g, "cosine_gumbel": g * s * (1 - s)}
    return {name: float(nn.functional.cosine_similarity(dab, ref, dim=-1, eps=1e-12).mean())
            for name, ref in refs.items()}


def _score_function(solver, context, momentum=0.9):
    return ScoreFunction(n_samples=1, baseline="mean", distribution="bernoulli", momentum=momentum)


def _relax(solver, context, tau0=0.5):
    return RELAX(RebarControl(context["size"], context["control_hidden"], tau0), n_samples=1)


def _gumbel_st(solver, context, tau):
    return StraightThrough(solver, relaxation=functools.partial(binary_concrete, tau=tau))


class BernoulliDensity(Task):
    """The task: encoder -> noisy logits -> bits -> decoder, trained on the N-ELBO (see the
    module docstring)."""

    name, configs, methods = NAME, CONFIGS, METHODS
    metric, higher_is_better = "nelbo", False
    families = {"reinforce": _score_function, "relax": _relax, "gumbel_st": _gumbel_st}

    def data(self, config: Mapping, device) -> Splits:
        digits = load_binary_digits(device=device)
        order = torch.randperm(len(digits.x_train), generator=torch.Generator().manual_seed(0)).to(device)
        n_val = int(round(config["val_fraction"] * len(order)))
        parts = {"train": digits.x_train[order[n_val:]], "val": digits.x_train[order[:n_val]],
                 "test": digits.x_test}
        shape = lambda x: (config["eval_samples"], len(x), config["latents"])  # noqa: E731
        return Splits(*(Images(x, logistic_noise(shape(x), device, torch.Generator().manual_seed(NOISE_SEEDS[name])))
                        for name, x in parts.items()))

    def size(self, split: Images) -> int:
        return len(split.x)

    def batch(self, split: Images, index: torch.Tensor) -> torch.Tensor:
        return split.x[index]

    def model(self, config: Mapping) -> nn.Module:
        return BernoulliVAE(64, config["latents"], config["hidden"])

    def solver(self, config: Mapping) -> Heaviside:
        return Heaviside()

    def context(self, config: Mapping) -> dict:
        return {"size": config["latents"], "control_hidden": config["control_hidden"]}

    def perturb(self, config: Mapping):
        return lambda w: logistic_noise(w.shape, w.device)

    def loss(self, model, layer, x: torch.Tensor, config: Mapping) -> torch.Tensor:
        """The N-ELBO of the batch (its value); its gradient is the method's."""
        logits = model.encode(x)
        kl = kl_bernoulli_uniform(logits).mean()
        family = layer.method.family
        if family in ("reinforce", "relax"):
            estimator = layer.estimator
            if family == "relax":
                estimator.control.bind(model.decoder, x)
            b = layer(logits)                              # (S, B, D) bits
            recon = reconstruction(model.decoder, b, x)    # (S, B)
            loss = estimator.surrogate(logits, b, recon) + kl
            if family == "relax":  # trains the control variate; adds nothing to the value
                loss = loss + (estimator.variance_loss - estimator.variance_loss.detach())
            return loss
        b = layer(logits)  # dab, gumbel_st: the task's logistic noise is added, then the threshold
        return reconstruction(model.decoder, b, x).mean() + kl

    def evaluate(self, model, layer, split: Images, config: Mapping) -> dict[str, float]:
        logits = model.encode(split.x)
        z = logits + split.noise
        recon = reconstruction(model.decoder, layer.solver(z), split.x).mean(0)
        kl = kl_bernoulli_uniform(logits)
        out = {"nelbo": float((recon + kl).mean()), "reconstruction": float(recon.mean()), "kl": float(kl.mean())}
        if layer.method.family == "dab":  # how the bridge imitates the bits, and where its gradient points
            bridge = layer.estimator.bridge
            out["bridge_error"] = float(imitation_error(bridge(z[0]), layer.solver(z[0])))
            out.update(gradient_cosines(bridge, model.decoder, z[0], split.x))
        return out


TASK = BernoulliDensity()
EXPERIMENT = TASK.experiment()
run = TASK.run


if __name__ == "__main__":
    main(EXPERIMENT)

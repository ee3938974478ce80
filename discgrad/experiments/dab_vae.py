"""Density estimation with Bernoulli latents: DAB against REINFORCE and RELAX.

The density-estimation experiment of Ramapuram and Webb (2019), at reduced scale and on the
binarised 8x8 digits (:func:`discgrad.data.digits.load_binary_digits`): an MLP encoder maps
an image ``x`` to ``D`` logits ``l``; the latent code is ``D`` independent bits
``b ~ Bernoulli(sigmoid(l))``, drawn as ``b = 1[l + logit(u) > 0]`` with ``u ~ U(0, 1)``
(logistic noise, then a threshold); an MLP decoder maps ``b`` back to pixel logits. The loss
is the negative evidence lower bound with a uniform Bernoulli prior,

.. math:: \\mathcal{L}(x) = \\underbrace{-\\log p(x \\mid b)}_{f(b)} + \\sum_{d=1}^{D}
          \\mathrm{KL}\\big(\\mathrm{Bernoulli}(\\sigma(l_d)) \\,\\|\\, \\mathrm{Bernoulli}(\\tfrac12)\\big),

with :func:`discgrad.losses.bernoulli_reconstruction` and the KL computed in closed form by
:func:`discgrad.losses.kl_softmax_uniform` on the two-category logits ``(l, 0)`` (whose
softmax is ``(sigma(l), 1 - sigma(l))``). The methods differ only in the gradient that
reaches ``l`` through the sample (see :data:`METHODS`).

The test N-ELBO (lower is better; the test ELBO is its negative) is estimated with
``test_samples`` samples per test image, drawn from the same Bernoulli posterior for every
method with a fixed generator, so the methods are evaluated alike.

Run from the command line::

    python -m discgrad.experiments.dab_vae --scale cpu --seeds 0 1 2 --out results/cpu/dab_vae.json

Book: chapter 15 (density estimation with Bernoulli latents).
"""
from __future__ import annotations

import time
from typing import Mapping, Sequence

import torch
from torch import nn
from torch.func import functional_call

from discgrad.data.digits import load_binary_digits
from discgrad.estimators import DAB, RELAX, GumbelSoftmax, ScoreFunction
from discgrad.losses import bernoulli_reconstruction, kl_softmax_uniform
from discgrad.models import MLP
from discgrad.scale import get_device, resolve_config
from discgrad.solvers import Heaviside
from discgrad.train import fit, seed_everything

from .runner import Experiment, ShuffledBatches, main

NAME = "dab_vae"

#: The methods. ``dab``: the threshold ``1[z > 0]`` of the logistic-noised logits inside a
#: DAB layer whose bridge (an MLP, ``D -> bridge_hidden -> D``) learns to imitate it, bridge
#: loss weight 1; ``reinforce``: :class:`discgrad.ScoreFunction` with one sample and the
#: moving-average baseline; ``relax``: :class:`discgrad.estimators.RELAX` with one sample
#: and a control variate after Grathwohl et al. (2018) for discrete latents, with REBAR's
#: scale ``eta``: ``c(z) = eta f(sigmoid(z / tau)) + r(z)`` (the decoder's loss on a relaxed code, with
#: ``eta``, ``tau`` and the MLP ``r`` learned to minimise the gradient variance; ``tau``
#: starts at 0.5, ``eta`` at 1); ``gumbel_st``: the straight-through Gumbel-softmax (binary
#: Concrete) with temperature 1, a biased reference.
METHODS: dict[str, dict] = {
    "dab": {"estimator": "dab", "bridge_weight": 1.0},
    "reinforce": {"estimator": "score_function", "n_samples": 1, "baseline": "mean"},
    "relax": {"estimator": "relax", "n_samples": 1, "tau0": 0.5},
    "gumbel_st": {"estimator": "gumbel_st", "tau": 1.0},
}

#: One config per scale (design section 3). ``hidden``: the encoder's hidden widths (the
#: decoder mirrors them); ``aux_hidden``: the hidden widths of DAB's bridge and of RELAX's
#: ``r``; both are trained with Adam at the same learning rate as the model.
CONFIGS: dict[str, dict] = {
    "smoke": {"latents": 8, "hidden": [32], "aux_hidden": [16], "epochs": 2, "batch_size": 100,
              "lr": 1e-3, "test_samples": 2},
    "cpu": {"latents": 32, "hidden": [128], "aux_hidden": [64], "epochs": 80, "batch_size": 100,
            "lr": 1e-3, "test_samples": 8},
    "gpu": {"latents": 200, "hidden": [512, 256], "aux_hidden": [256], "epochs": 200, "batch_size": 100,
            "lr": 1e-3, "test_samples": 32},
}


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
    """``KL(Bernoulli(sigmoid(l)) || Bernoulli(1/2))`` summed over the latents: ``(B, D) -> (B,)``."""
    return kl_softmax_uniform(torch.stack([logits, torch.zeros_like(logits)], dim=-1))


def logistic_noise(shape, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """``logit(u)``, ``u ~ U(0, 1)``: with it ``1[l + noise > 0]`` is ``Bernoulli(sigmoid(l))``."""
    u = torch.rand(shape, generator=generator).clamp(1e-6, 1 - 1e-6).to(device)
    return torch.log(u) - torch.log1p(-u)


class RebarControl(nn.Module):
    """RELAX's control variate for a VAE: ``c(z) = eta f(sigmoid(z / tau)) + r(z)``.

    ``f`` is the decoder's reconstruction loss of the current batch ``x`` (set
    ``control.x`` before each use), evaluated with the decoder's parameters DETACHED, so
    the variance loss trains only ``eta``, ``tau`` and ``r``. Input ``(S, B, D)``, output
    ``(S, B)``.
    """

    def __init__(self, decoder: nn.Module, latents: int, hidden: Sequence[int], tau0: float = 0.5):
        super().__init__()
        self._decoder = [decoder]  # a reference, not a submodule: its parameters are not ours
        self.log_tau = nn.Parameter(torch.tensor(float(tau0)).log())
        self.eta = nn.Parameter(torch.tensor(1.0))
        self.r = MLP(latents, hidden, 1)
        self.x: torch.Tensor | None = None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        decoder = self._decoder[0]
        frozen = {name: p.detach() for name, p in decoder.named_parameters()}
        relaxed = torch.sigmoid(z / self.log_tau.exp())
        return self.eta * reconstruction(decoder, relaxed, self.x, frozen) + self.r(z).squeeze(-1)


def run(method: str, config: Mapping | str | None = None, seed: int = 0, max_steps: int | None = None) -> dict:
    """Train the Bernoulli VAE with ``method`` and return the run's record.

    Args:
        method: a key of :data:`METHODS`.
        config: the config (a mapping, e.g. a chapter's), or the scale whose config to use
            (default: the active scale's).
        seed: the seed of the initialisation, the batches and the noise.
        max_steps: stop after this many optimisation steps (a dry run of a config).

    Returns:
        the arguments of :func:`discgrad.results.record_run`. ``history`` holds per epoch
        ``train_loss`` (the N-ELBO of the training batches), ``test_nelbo``,
        ``test_reconstruction``, ``test_kl``, ``epoch_time_s``; for ``dab`` also
        ``train_bridge_error``: the bridge's mean squared error per bit, ``||b_phi(z) -
        1[z > 0]||^2 / D`` averaged over the epoch's batches (0.25 is the error of
        answering 1/2 everywhere); for ``relax`` also ``train_grad_sq``: RELAX's
        ``variance_loss`` (``E||g||^2`` per instance), averaged over the epoch.
    """
    config = resolve_config(CONFIGS, config)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {list(METHODS)}")
    spec = METHODS[method]
    device = get_device()
    start = time.perf_counter()
    seed_everything(seed)
    data = load_binary_digits(device=device)
    d = config["latents"]
    model = BernoulliVAE(data.x_train.shape[1], d, config["hidden"]).to(device)
    aux: nn.Module | None = None
    if spec["estimator"] == "dab":
        aux = layer = DAB(Heaviside(), MLP(d, config["aux_hidden"], d), weight=spec["bridge_weight"])
    elif spec["estimator"] == "score_function":
        layer = ScoreFunction(n_samples=spec["n_samples"], baseline=spec["baseline"], distribution="bernoulli")
    elif spec["estimator"] == "relax":
        control = RebarControl(model.decoder, d, config["aux_hidden"], spec["tau0"])
        aux = layer = RELAX(control, n_samples=spec["n_samples"])
    else:
        layer = GumbelSoftmax(tau=spec["tau"], hard=True)
    layer.to(device)
    params = list(model.parameters()) + (list(aux.parameters()) if aux is not None else [])
    optimiser = torch.optim.Adam(params, lr=config["lr"])
    shuffled = ShuffledBatches(len(data.x_train), config["batch_size"], config["epochs"], max_steps, device)

    def batches(epoch):
        return (data.x_train[idx] for idx in shuffled(epoch))

    def step(x):
        optimiser.zero_grad()
        logits = model.encode(x)
        kl = kl_bernoulli_uniform(logits)
        report = {}
        if spec["estimator"] in ("score_function", "relax"):
            if spec["estimator"] == "relax":
                layer.control.x = x
            b = layer(logits)                              # (S, B, D) bits
            recon = reconstruction(model.decoder, b, x)    # (S, B)
            loss = layer.surrogate(logits, b, recon) + kl.mean()
            if spec["estimator"] == "relax":
                report["grad_sq"] = float(layer.variance_loss.detach())
                loss = loss + layer.variance_loss
            nelbo = recon.mean() + kl.mean()
        elif spec["estimator"] == "dab":
            z = logits + logistic_noise(logits.shape, device)
            b = layer(z)
            nelbo = (reconstruction(model.decoder, b, x) + kl).mean()
            loss = nelbo + layer.bridge_loss
            report["bridge_error"] = float(layer.bridge_loss.detach()) / (layer.weight * d)
        else:
            two = torch.stack([logits, torch.zeros_like(logits)], dim=-1)  # binary Concrete
            b = layer(two)[..., 0]
            nelbo = (reconstruction(model.decoder, b, x) + kl).mean()
            loss = nelbo
        loss.backward()
        optimiser.step()
        report["loss"] = float(nelbo.detach())
        return report

    # the same test noise every epoch, so the test curve moves only with the model
    test_noise = logistic_noise((config["test_samples"], len(data.x_test), d), device,
                                torch.Generator().manual_seed(10_000 + seed))

    def evaluate():
        logits = model.encode(data.x_test)
        b = Heaviside()(logits + test_noise)
        recon, kl = reconstruction(model.decoder, b, data.x_test).mean(0), kl_bernoulli_uniform(logits)
        return {"test_nelbo": float((recon + kl).mean()), "test_reconstruction": float(recon.mean()),
                "test_kl": float(kl.mean())}

    history = dict(fit(step, batches, shuffled.epochs, evaluate, modules=[model, layer],
                       desc=f"dab_vae {method} seed {seed}"))
    metrics = {"test_nelbo": history["test_nelbo"][-1], "test_elbo": -history["test_nelbo"][-1],
               "test_reconstruction": history["test_reconstruction"][-1], "test_kl": history["test_kl"][-1],
               "train_loss": history["train_loss"][-1]}
    if "train_bridge_error" in history:
        metrics["bridge_error"] = history["train_bridge_error"][-1]
    settings = {**config, **spec, "steps": shuffled.steps}
    return {"experiment": NAME, "method": method, "settings": settings, "seed": seed, "metrics": metrics,
            "history": history, "wall_time_s": time.perf_counter() - start, "device": str(device)}


EXPERIMENT = Experiment(name=NAME, methods=tuple(METHODS), configs=CONFIGS, run=run,
                        metrics=("test_nelbo", "bridge_error"))


if __name__ == "__main__":
    main(EXPERIMENT)

"""A discrete VAE with a top-k (k-subset) sampler on binarised digits.

The sampler experiment of Sahoo et al. (2023, sec. 4.1), after Niepert et al. (2021), at
reduced scale: an MLP encoder maps an image to ``M`` groups of ``N`` logits; each group
is perturbed with noise and its top-``k`` taken (a perturb-and-MAP sample of a k-subset);
an MLP decoder maps the ``M x N`` code back to pixel logits. The loss is the N-ELBO,

.. math:: \\mathcal{L}(x) = -\\log p(x \\mid z) + \\mathrm{KL}\\big(\\mathrm{softmax}(\\ell) \\,\\|\\, \\mathrm{uniform}\\big),

with :func:`discgrad.losses.bernoulli_reconstruction` and
:func:`discgrad.losses.kl_softmax_uniform`. The methods differ only in how the top-k
sampler is differentiated (see :data:`METHODS`). The test N-ELBO is estimated with one
sample per test image, drawn with the method's own noise law and a fixed test generator.

Run from the command line::

    python -m discgrad.experiments.dvae --scale cpu --seeds 0 1 2 --out results/cpu/dvae.json

Book: chapter 6 (the discrete VAE).
"""
from __future__ import annotations

import math
import time
from typing import Mapping, Sequence

import torch
from torch import nn

from discgrad.bridges import imitation_error, make_bridge
from discgrad.data.digits import load_binary_digits
from discgrad.estimators import DAB, IMLE, GumbelSoftmax, Identity, ScoreFunction
from discgrad.estimators._base import check_input
from discgrad.losses import bernoulli_reconstruction, kl_softmax_uniform
from discgrad.models import MLP
from discgrad.noise import gumbel_noise, sum_of_gamma_noise
from discgrad.scale import get_device, resolve_config
from discgrad.solvers import TopK
from discgrad.train import fit, seed_everything

from .runner import Experiment, ShuffledBatches, main

NAME = "dvae"

#: The methods and their settings. ``identity*``: Identity with projection None / P_mean /
#: P_norm / P_std on Sum-of-Gamma-perturbed logits; ``imle``: I-MLE (lambda = 10) with the
#: same noise; ``gumbel_st``: the relaxed top-k of Xie and Ermon (2019) with exact k-hot
#: samples forward (straight-through Gumbel); ``score_function``: REINFORCE on the
#: k-subset drawn by Gumbel top-k, with a leave-one-out baseline over 4 samples; ``dab``:
#: differentiable approximation bridges (Ramapuram and Webb 2019) on the same
#: Sum-of-Gamma-perturbed logits: the exact top-k forward, backward through a bridge that
#: imitates top-k on each group (see :func:`discgrad.bridges.make_bridge`), trained online by its own loss.
METHODS: dict[str, dict] = {
    "identity": {"estimator": "identity", "projection": None, "noise": "sog"},
    "identity_mean": {"estimator": "identity", "projection": "mean", "noise": "sog"},
    "identity_norm": {"estimator": "identity", "projection": "norm", "noise": "sog"},
    "identity_std": {"estimator": "identity", "projection": "std", "noise": "sog"},
    "imle": {"estimator": "imle", "lam": 10.0, "noise": "sog"},
    "gumbel_st": {"estimator": "gumbel_st", "tau": 1.0, "noise": "gumbel"},
    "score_function": {"estimator": "score_function", "n_samples": 4, "baseline": "loo", "noise": "gumbel"},
    "dab": {"estimator": "dab", "bridge_hidden": [128, 128], "bridge_weight": 1.0, "noise": "sog"},
}


#: One config per scale (design section 3); nothing else changes between scales. The gpu
#: config uses the latent and encoder of the authors' public notebook (20 groups of 20,
#: k = 10, hidden layers 512-256), on digits instead of MNIST. Their notebook perturbs with
#: Sum-of-Gamma temperature 10; we use 1 at every scale, the scale of the Gumbel noise under
#: which softmax(logits), the posterior the KL term assumes, is the law of a one-item
#: sample (chapter 6, exercise 1 tries 10).
CONFIGS: dict[str, dict] = {
    "smoke": {"groups": 4, "categories": 6, "k": 3, "hidden": [32], "epochs": 3,
              "batch_size": 100, "lr": 1e-3, "sog_tau": 1.0, "sog_terms": 10},
    "cpu": {"groups": 8, "categories": 8, "k": 4, "hidden": [128], "epochs": 40,
            "batch_size": 100, "lr": 1e-3, "sog_tau": 1.0, "sog_terms": 10},
    "gpu": {"groups": 20, "categories": 20, "k": 10, "hidden": [512, 256], "epochs": 200,
            "batch_size": 100, "lr": 1e-3, "sog_tau": 1.0, "sog_terms": 10},
}


class DiscreteVAE(nn.Module):
    """MLP encoder to ``groups x categories`` logits, MLP decoder from the ``k``-hot code.

    Shape: ``encode``: ``(B, pixels) -> (B, groups, categories)``; ``decode``:
    ``(..., groups, categories) -> (..., pixels)`` (logits of the pixels).
    """

    def __init__(self, pixels: int, groups: int, categories: int, hidden: Sequence[int]):
        super().__init__()
        self.groups, self.categories = groups, categories
        self.encoder = MLP(pixels, hidden, groups * categories)
        self.decoder = MLP(groups * categories, list(hidden)[::-1], pixels)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).reshape(*x.shape[:-1], self.groups, self.categories)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z.flatten(-2))


class SubsetScoreFunction(ScoreFunction):
    """REINFORCE for a k-subset drawn without replacement from ``softmax(logits)``.

    The Gumbel top-k trick draws the ``k`` items in order, a Plackett-Luce sequence, whose
    log-probability is

    .. math:: \\log p(i_1, \\dots, i_k) = \\sum_{j=1}^{k} \\Big(\\ell_{i_j} - \\log \\sum_{i \\notin \\{i_1..i_{j-1}\\}} e^{\\ell_i}\\Big).

    The loss depends only on the set, so REINFORCE with the sequence's log-probability is
    unbiased for the gradient of the expected loss. A sample is coded as the rank of each
    chosen item (1..k, 0 elsewhere); ``sample > 0`` is the k-hot subset. Everything else
    (baselines, the surrogate) is :class:`discgrad.ScoreFunction`'s.

    Args:
        k: the subset size.
        n_samples, baseline, generator: as in :class:`discgrad.ScoreFunction`.
    """

    def __init__(self, k: int, n_samples: int = 4, baseline: str = "loo", generator=None):
        super().__init__(n_samples=n_samples, baseline=baseline, distribution="categorical",
                         generator=generator)
        self.k = k

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        logits = check_input(logits, "logits").detach()
        shape = (self.n_samples, *logits.shape)
        self.solver_calls += self.n_samples
        g = gumbel_noise(shape, device=logits.device, dtype=logits.dtype, generator=self.generator)
        order = (logits + g).topk(self.k, dim=-1).indices  # sorted: the draw order
        ranks = torch.arange(1, self.k + 1, device=logits.device, dtype=logits.dtype).expand_as(order)
        return torch.zeros(shape, device=logits.device, dtype=logits.dtype).scatter(-1, order, ranks)

    def log_prob(self, logits: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        logits = logits.expand_as(z)
        total = torch.zeros(z.shape[:-1], device=z.device, dtype=logits.dtype)
        for j in range(1, self.k + 1):
            remaining = (z == 0) | (z >= j)
            chosen = (logits * (z == j)).sum(-1)
            total = total + chosen - torch.logsumexp(logits.masked_fill(~remaining, -math.inf), dim=-1)
        return total.reshape(*total.shape[:2], -1).sum(dim=2)  # summed over the groups: (S, B)


def perturbation(config: Mapping, law: str, shape, device, generator=None) -> torch.Tensor:
    """One draw of the sampler's noise: Sum-of-Gamma (``"sog"``) or standard Gumbel."""
    if law == "sog":
        return sum_of_gamma_noise(shape, config["k"], config["sog_tau"], config["sog_terms"],
                                  device=device, generator=generator)
    return gumbel_noise(shape, device=device, generator=generator)


class TopKSampler(nn.Module):
    """The differentiable top-k sampler of one method, on logits ``(B, M, N)``.

    ``forward`` returns the ``k``-hot sample per group (training: with noise; the estimator
    defines the backward pass). For Identity the noise is added before the projection, as
    in the authors' code; I-MLE draws its own noise. ``last_grads`` holds, after a backward
    pass, ``{"z": dL/dz, "w": dL/dw}`` for the groups, ``(B * M, N)``: the downstream
    gradient and the update the method sends to the (noisy) logits ``w``, kept in
    ``last_w``; :func:`cosine` is computed from the two.
    """

    def __init__(self, method: str, config: Mapping):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}: use one of {list(METHODS)}")
        self.method, self.config, spec = method, dict(config), METHODS[method]
        self.estimator = spec["estimator"]
        k = config["k"]
        if self.estimator == "identity":
            self.layer = Identity(TopK(k), projection=spec["projection"])
        elif self.estimator == "imle":
            self.layer = IMLE(TopK(k), lam=spec["lam"], noise="sog", k=k, tau=config["sog_tau"],
                              s=config["sog_terms"])
        elif self.estimator == "gumbel_st":
            self.layer = GumbelSoftmax(tau=spec["tau"], hard=True, k=k)
        elif self.estimator == "dab":
            n = config["categories"]
            self.layer = DAB(TopK(k), make_bridge(n, n, spec["bridge_hidden"]), weight=spec["bridge_weight"])
        else:
            self.layer = SubsetScoreFunction(k, spec["n_samples"], spec["baseline"])
        self.last_grads: dict[str, torch.Tensor] = {}
        self.last_w: torch.Tensor | None = None

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        shape, n = logits.shape, logits.shape[-1]
        w = logits.reshape(-1, n)  # one row per group: (B * M, N)
        if self.estimator in ("identity", "dab") and self.training:
            eps = perturbation(self.config, "sog", w.shape, w.device)
            w = w + eps.to(w.dtype)  # noise before the projection
        self.last_w = w.detach()
        z = self.layer(w)  # Identity(TopK(k), P), IMLE, GumbelSoftmax, DAB or SF
        if torch.is_grad_enabled() and w.requires_grad:
            w.register_hook(lambda grad: self._keep("w", grad))
            z.register_hook(lambda grad: self._keep("z", grad))
        return z.reshape(shape)

    def _keep(self, name: str, grad: torch.Tensor) -> None:
        self.last_grads[name] = grad.detach()

    def noise(self, shape, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw of the method's noise law (Sum-of-Gamma or Gumbel), for evaluation."""
        return perturbation(self.config, METHODS[self.method]["noise"], shape, device, generator)

    def sample(self, logits: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The k-hot perturb-and-MAP sample ``top-k(logits + noise)`` per group, no gradient."""
        n = logits.shape[-1]
        return TopK(self.config["k"])((logits + noise.to(logits.dtype)).reshape(-1, n)).reshape(logits.shape)


def cosine(g: torch.Tensor, u: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Mean over rows of ``cos(g_i, u_i)``: how well the update ``u`` follows ``g``.

    Rows with ``g_i = 0`` (no downstream signal) are skipped; a row with ``u_i = 0`` (the
    method sends no update, as I-MLE does when the target's top-k equals the sample's)
    counts as 0. Returns 0 when every ``g_i`` is zero.

    Example:
        >>> g = torch.tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
        >>> u = torch.tensor([[1.0, 1.0], [2.0, 2.0], [0.0, 0.0], [1.0, 0.0]])
        >>> cosine(g, u)  # (0.7071 + 1 + 0) / 3
        tensor(0.5690)
    """
    gn, un = g.norm(dim=-1), u.norm(dim=-1)
    ok = gn > eps
    if not bool(ok.any()):
        return torch.zeros((), dtype=g.dtype)
    cos = (g * u).sum(-1) / (gn * un.clamp_min(eps))
    return torch.where(un > eps, cos, torch.zeros_like(cos))[ok].mean()


def reconstruction(model: DiscreteVAE, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``-log p(x | z)`` for codes ``z`` of shape ``(..., B, M, N)`` and images ``(B, P)``: shape ``(..., B)``."""
    logits_x = model.decode(z)
    pixels = logits_x.shape[-1]
    flat = bernoulli_reconstruction(logits_x.reshape(-1, pixels), x.expand_as(logits_x).reshape(-1, pixels))
    return flat.reshape(logits_x.shape[:-1])


def run(method: str, config: Mapping | str | None = None, seed: int = 0, max_steps: int | None = None) -> dict:
    """Train the discrete VAE with ``method`` and return the run's record.

    Args:
        method: a key of :data:`METHODS`.
        config: the config (a mapping, e.g. a chapter's), or the scale whose config to use
            (default: the active scale's).
        seed: the seed of the initialisation, the batches and the noise.
        max_steps: stop after this many optimisation steps (a dry run of a config).

    Returns:
        the arguments of :func:`discgrad.results.record_run`: ``experiment, method,
        settings, seed, metrics, history, wall_time_s, device``. ``history`` holds per epoch
        ``train_loss``, ``test_nelbo``, ``test_reconstruction``, ``test_kl``, ``epoch_time_s``
        and (all but the score function) ``train_cosine``: the mean cosine between
        ``dL/dz`` and the update sent to the logits.
    """
    config = resolve_config(CONFIGS, config)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {list(METHODS)}")
    device = get_device()
    start = time.perf_counter()
    seed_everything(seed)
    data = load_binary_digits(device=device)
    model = DiscreteVAE(data.x_train.shape[1], config["groups"], config["categories"], config["hidden"]).to(device)
    sampler = TopKSampler(method, config)
    # the bridge (DAB only; the other samplers have no parameters) trains with the model
    optimiser = torch.optim.Adam([*model.parameters(), *sampler.parameters()], lr=config["lr"])
    shuffled = ShuffledBatches(len(data.x_train), config["batch_size"], config["epochs"], max_steps, device)
    epochs = shuffled.epochs

    def batches(epoch):
        return (data.x_train[idx] for idx in shuffled(epoch))

    def step(x):
        optimiser.zero_grad()
        logits = model.encode(x)
        kl = kl_softmax_uniform(logits)
        if sampler.estimator == "score_function":
            z = sampler.layer(logits)                                   # (S, B, M, N) ranks
            recon = reconstruction(model, (z > 0).to(logits.dtype), x)  # (S, B)
            loss = sampler.layer.surrogate(logits, z, recon) + kl.mean()
            report = {"loss": float((recon.mean() + kl.mean()).detach())}
        else:
            z = sampler(logits)
            recon = bernoulli_reconstruction(model.decode(z), x)
            loss = (recon + kl).mean()
            report = {"loss": float(loss.detach())}
            if sampler.estimator == "dab":  # the bridge learns only from its own loss
                loss = loss + sampler.layer.bridge_loss
                with torch.no_grad():
                    w = sampler.last_w
                    report["bridge_error"] = float(imitation_error(sampler.layer.bridge(w), TopK(config["k"])(w)))
        loss.backward()
        optimiser.step()
        if sampler.last_grads:
            report["cosine"] = float(cosine(sampler.last_grads["z"], sampler.last_grads["w"]))
            sampler.last_grads.clear()
        return report

    # the same test noise every epoch, so the test curve moves only with the model
    test_shape = (len(data.x_test), config["groups"], config["categories"])
    test_noise = sampler.noise(test_shape, device, torch.Generator().manual_seed(10_000 + seed))

    def evaluate():
        logits = model.encode(data.x_test)
        z = sampler.sample(logits, test_noise)
        recon, kl = reconstruction(model, z, data.x_test), kl_softmax_uniform(logits)
        out = {"test_nelbo": float((recon + kl).mean()), "test_reconstruction": float(recon.mean()),
               "test_kl": float(kl.mean())}
        if sampler.estimator == "dab":  # how well the bridge imitates top-k on test inputs
            n = config["categories"]
            w = (logits + test_noise).reshape(-1, n)
            fit_w, hard = sampler.layer.bridge(w), z.reshape(-1, n)
            out["test_bridge_error"] = float(imitation_error(fit_w, hard))
            k = config["k"]
            out["test_bridge_topk_match"] = float((TopK(k)(fit_w) == hard).all(-1).double().mean())
        return out

    history = fit(step, batches, epochs, evaluate, modules=[model, sampler], desc=f"dvae {method} seed {seed}")
    history = dict(history)
    metrics = {"test_nelbo": history["test_nelbo"][-1], "test_reconstruction": history["test_reconstruction"][-1],
               "test_kl": history["test_kl"][-1], "train_loss": history["train_loss"][-1]}
    if "train_cosine" in history:
        metrics["train_cosine"] = sum(history["train_cosine"]) / len(history["train_cosine"])
    for name in ("test_bridge_error", "test_bridge_topk_match", "train_bridge_error"):
        if name in history:
            metrics[name] = history[name][-1]
    settings = {**config, **{k: v for k, v in METHODS[method].items()}, "steps": shuffled.steps}
    return {"experiment": NAME, "method": method, "settings": settings, "seed": seed, "metrics": metrics,
            "history": history, "wall_time_s": time.perf_counter() - start, "device": str(device)}


EXPERIMENT = Experiment(name=NAME, methods=tuple(METHODS), configs=CONFIGS, run=run,
                        metrics=("test_nelbo", "train_cosine"))


if __name__ == "__main__":
    main(EXPERIMENT)

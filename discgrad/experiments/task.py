"""The shape every experiment under the comparison protocol shares: a :class:`Task` holds
only what is its own, and one :meth:`Task.run` trains and evaluates any method on it.

A task subclass defines, d2l- and Lightning-style:

* ``name``, ``configs`` (one per scale), ``methods`` (:class:`~discgrad.experiments.methods.Method`
  per method name, each with its grid), ``metric`` and ``higher_is_better`` (the headline
  metric the variants are chosen on and the tables report);
* :meth:`Task.data`: the train / validation / test :class:`Splits`;
* optionally :meth:`Task.batches` (the training batches; default: shuffled minibatches);
* :meth:`Task.model`, :meth:`Task.solver`, :meth:`Task.loss`, :meth:`Task.evaluate`;
* optionally :meth:`Task.variants` (settings of the task itself, e.g. the subset size k),
  :meth:`Task.context` and :meth:`Task.perturb` (the sampler's noise), and ``families``
  (estimators of its own, such as a relaxation only this task uses).

:meth:`Task.run` then seeds, builds, trains with Adam for the config's epochs, evaluates on
the validation split after every epoch (``val_<metric>``) and on the test split once, at the
end (``test_<metric>``), and returns the record :func:`discgrad.experiments.runner.run_all`
writes; :meth:`Task.experiment` is what the runner and the command line take. Book: "How to use this book" and Part III.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping, NamedTuple

import torch
from torch import nn

from discgrad.scale import get_device, resolve_config
from discgrad.train import fit, seed_everything

from .methods import Method, MethodLayer
from .runner import Experiment, ShuffledBatches


class Splits(NamedTuple):
    """A task's data: what it trains on, chooses variants on, and reports."""

    train: Any
    val: Any
    test: Any


class Task:
    """One experiment's own pieces; see the module docstring for the hooks."""

    name: str = ""
    configs: Mapping[str, Mapping] = {}
    methods: Mapping[str, Method] = {}
    metric: str = ""
    higher_is_better: bool = True
    variant_keys: tuple[str, ...] = ()
    families: Mapping[str, Callable[..., nn.Module]] = {}

    # --- the hooks -----------------------------------------------------------------------------

    def variants(self, config: Mapping) -> list[dict]:
        """The task's own settings, each run separately (default: one)."""
        return [{}]

    def data(self, config: Mapping, device: torch.device, **setting) -> Splits:
        raise NotImplementedError

    def size(self, split: Any) -> int:
        """The number of training examples in ``split``."""
        return len(split)

    def batch(self, split: Any, index: torch.Tensor) -> Any:
        """The examples ``index`` of ``split``."""
        return split[index]

    def batches(self, split: Any, config: Mapping, max_steps: int | None, device: torch.device,
                **setting) -> ShuffledBatches:
        """The training batches of ``split``: called with the epoch, it yields the index
        tensors of that epoch's steps; ``epochs`` is the number of epochs the budget needs and
        ``steps`` counts the steps taken (stopping after ``max_steps``). Default: shuffled
        minibatches of ``config["batch_size"]`` (:class:`~discgrad.experiments.runner.ShuffledBatches`);
        a task overrides it for batches of another shape (class-balanced ones, say)."""
        return ShuffledBatches(self.size(split), config["batch_size"], config["epochs"], max_steps, device)

    def model(self, config: Mapping, **setting) -> nn.Module:
        raise NotImplementedError

    def solver(self, config: Mapping, **setting):
        raise NotImplementedError

    def context(self, config: Mapping, **setting) -> dict:
        """What the estimator builders need (``size``, I-MLE's noise ...); default none."""
        return {}

    def perturb(self, config: Mapping, **setting) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The sampler's noise ``w -> noise`` for methods with ``noisy_input``; default none."""
        return None

    def loss(self, model: nn.Module, layer: MethodLayer, batch: Any, config: Mapping, **setting) -> torch.Tensor:
        raise NotImplementedError

    def evaluate(self, model: nn.Module, layer: MethodLayer, split: Any, config: Mapping,
                 **setting) -> dict[str, float]:
        """Metrics on one split, without the split's prefix (``{"mse": ...}``)."""
        raise NotImplementedError

    # --- shared --------------------------------------------------------------------------------

    def method_variants(self, method: str) -> list[dict]:
        """The runner's jobs for one method: ``[{"variant": knobs, **setting}, ...]`` over its
        grid, with the task settings the method fixes (``Method.setting``)."""
        spec = self.methods[method]
        return [{"variant": v, **spec.setting} for v in spec.variants()]

    def layer(self, method: str, variant: Mapping, config: Mapping, **setting) -> MethodLayer:
        """``method``'s layer around the task's solver."""
        return MethodLayer(self.methods[method], variant, self.solver(config, **setting),
                           self.context(config, **setting), self.perturb(config, **setting), self.families)

    def run(self, method: str, config: Mapping | str | None = None, seed: int = 0,
            max_steps: int | None = None, variant: Mapping | None = None, **setting) -> dict:
        """Train and evaluate ``method`` (one variant of its grid) and return the run's record.

        Args:
            method: a key of ``methods``.
            config: the config, or a scale whose config to use (default: the active scale's).
            seed: seeds the initialisation, the batches and the noise (the data are fixed by
                the config).
            max_steps: stop after this many optimisation steps (a dry run of a config).
            variant: the values of the method's knobs (default: its grid's first variant).
            setting: the task's own settings (see ``variants``; default: the first, with
                what the method fixes, ``Method.setting``).

        Returns:
            the arguments of :func:`discgrad.record_run`: ``metrics`` holds the final
            ``val_*`` and ``test_*`` metrics, ``train_loss``, the same metrics of the
            untrained networks (``untrained_val_*``, ``untrained_test_*``: the baseline
            training must beat) and ``solver_calls_per_step``; ``history`` the training
            loss and the validation metrics per epoch; ``settings`` the config, the
            setting, the family, the fixed arguments, ``variant`` and ``steps``.
        """
        config = resolve_config(self.configs, config)
        if method not in self.methods:
            raise ValueError(f"unknown method {method!r} for {self.name}: use one of {list(self.methods)}")
        spec = self.methods[method]
        variant = dict(spec.variants()[0] if variant is None else variant)
        setting = {**self.variants(config)[0], **spec.setting, **setting}
        device = get_device()
        start = time.perf_counter()
        data = self.data(config, device, **setting)
        seed_everything(seed)
        model = self.model(config, **setting).to(device)
        layer = self.layer(method, variant, config, **setting).to(device)
        optimiser = torch.optim.Adam([*model.parameters(), *layer.parameters()], lr=config["lr"])
        shuffled = self.batches(data.train, config, max_steps, device, **setting)

        def step(index):
            optimiser.zero_grad()
            loss = self.loss(model, layer, self.batch(data.train, index), config, **setting)
            (loss + layer.extra_loss()).backward()
            optimiser.step()
            return {"loss": float(loss.detach())}

        def evaluate(*names):
            out = {}
            for name in names:
                split = getattr(data, name)
                out.update({f"{name}_{k}": v for k, v in self.evaluate(model, layer, split, config, **setting).items()})
            return out

        model.eval()
        layer.eval()
        with torch.no_grad():  # the untrained baseline training must beat
            untrained = {f"untrained_{k}": v for k, v in evaluate("val", "test").items()}
        # every epoch on validation only: the test split is looked at once, at the end
        history = dict(fit(step, shuffled, shuffled.epochs, lambda: evaluate("val"), modules=[model, layer],
                           desc=f"{self.name} {method} {variant} seed {seed}"))
        with torch.no_grad():  # fit's last evaluation left both modules in eval mode
            metrics = {k: v[-1] for k, v in history.items() if k.startswith(("val_", "train_"))}
            metrics.update(evaluate("test"))
        metrics.update(untrained)
        metrics["solver_calls_per_step"] = layer.solver_calls / max(shuffled.steps, 1)
        settings = {**config, **setting,
                    "family": spec.family, **spec.fixed, "variant": variant, "steps": shuffled.steps}
        return {"experiment": self.name, "method": method, "settings": settings, "seed": seed,
                "metrics": metrics, "history": history, "wall_time_s": time.perf_counter() - start,
                "device": str(device)}

    def experiment(self) -> Experiment:
        """The task as the runner and the command line take it."""
        return Experiment(name=self.name, methods=tuple(self.methods), configs=self.configs, run=self.run,
                          variants=self.variants, variant_keys=self.variant_keys,
                          metrics=(f"val_{self.metric}", f"test_{self.metric}"),
                          method_variants=self.method_variants)

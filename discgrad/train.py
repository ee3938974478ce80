"""The one training loop every experiment shares: seeding, device, progress, history.

Book: "How to use this book" (scales and devices) and every experiment chapter.
"""
from __future__ import annotations

import os
import random
import time
from collections import defaultdict
from typing import Callable, Iterable, Mapping

import numpy as np
import torch
from tqdm import tqdm


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) and return a torch generator seeded alike.

    Example:
        >>> g = seed_everything(0); a = torch.rand(2)
        >>> g = seed_everything(0); torch.equal(a, torch.rand(2))
        True
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def progress_enabled() -> bool:
    """Progress bars show unless ``CI`` is set or ``DISCGRAD_PROGRESS=0`` (as in the book build)."""
    if os.environ.get("DISCGRAD_PROGRESS") is not None:
        return os.environ["DISCGRAD_PROGRESS"] not in ("0", "false", "False", "")
    return not os.environ.get("CI")


class History(dict):
    """Per-epoch metrics: ``history["train_loss"][e]`` is the value after epoch ``e``."""

    def last(self) -> dict:
        """The final value of every metric."""
        return {name: values[-1] for name, values in self.items() if values}


def fit(step: Callable[[object], Mapping[str, torch.Tensor | float]],
        batches: Callable[[int], Iterable],
        epochs: int,
        evaluate: Callable[[], Mapping[str, float]] | None = None,
        modules: Iterable[torch.nn.Module] = (),
        desc: str = "training") -> History:
    """Run ``epochs`` epochs of ``step`` over ``batches(epoch)`` and return the history.

    The loop is deliberately thin: ``step(batch)`` does the forward pass, the backward pass and
    the optimiser update, and returns a mapping of numbers to average over the epoch (for
    example ``{"loss": loss.item()}``); ``evaluate()`` runs after every epoch and returns
    held-out metrics. ``modules`` are switched to training mode for the steps and to eval
    mode for ``evaluate``, so noise and dropout are only on while training.

    Args:
        step: one optimisation step on one batch.
        batches: ``batches(epoch)`` yields the batches of that epoch.
        epochs: the number of epochs, >= 1.
        evaluate: optional held-out evaluation, called after every epoch under ``torch.no_grad``.
        modules: the modules whose train/eval mode the loop sets.
        desc: the progress bar's label.

    Returns:
        History: ``{"train_<name>": [...], "<eval name>": [...], "epoch_time_s": [...]}``;
        ``epoch_time_s`` is the wall time of the epoch's steps (drawing the batches included,
        ``evaluate`` not).

    Example:
        >>> w = torch.zeros(1, requires_grad=True); opt = torch.optim.SGD([w], lr=0.5)
        >>> def step(target):
        ...     opt.zero_grad(); loss = (w - target).pow(2).sum(); loss.backward(); opt.step()
        ...     return {"loss": loss.item()}
        >>> h = fit(step, lambda epoch: [torch.ones(1)] * 4, epochs=3)
        >>> round(h["train_loss"][-1], 4) < h["train_loss"][0]
        True
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    modules = list(modules)
    history = History()
    bar = tqdm(range(epochs), desc=desc, disable=not progress_enabled(), leave=False)
    for epoch in bar:
        start = time.perf_counter()
        for m in modules:
            m.train()
        sums, count = defaultdict(float), 0
        for batch in batches(epoch):
            for name, value in step(batch).items():
                sums[name] += float(value)
            count += 1
        if count == 0:
            raise ValueError(f"batches({epoch}) yielded no batch")
        # the training part of the epoch only: the held-out evaluation is not training time
        history.setdefault("epoch_time_s", []).append(time.perf_counter() - start)
        for name, total in sums.items():
            history.setdefault(f"train_{name}", []).append(total / count)
        if evaluate is not None:
            for m in modules:
                m.eval()
            with torch.no_grad():
                for name, value in evaluate().items():
                    history.setdefault(name, []).append(float(value))
        bar.set_postfix({k: f"{v[-1]:.4g}" for k, v in history.items() if k != "epoch_time_s"})
    return history

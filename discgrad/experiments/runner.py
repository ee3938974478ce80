"""What every experiment module shares: run methods x seeds, record them, the CLI, summaries.

An experiment module (``discgrad.experiments.dvae``, say) defines its data, its model, one
config per scale and ``run(method, scale, seed, **variant) -> dict``, and describes itself
with an :class:`Experiment`. This module then gives it, without further code:

* :func:`run_all`: every method x variant x seed at one scale, each run recorded with
  :func:`discgrad.results.record_run` (provenance included);
* :func:`main`: the command line
  ``python -m discgrad.experiments.<name> --scale cpu --seeds 0 1 2 --out results/cpu/<name>.json``;
* :func:`summarize` and :func:`mean_curves`: the mean and standard deviation over seeds of
  a final metric, and the mean learning curve, grouped by method and variant: the tables and
  figures of the chapters are built from these, never typed by hand.

A result of ``run`` is a dict with the keys ``experiment, method, settings, seed, metrics,
history, wall_time_s, device`` (the arguments of ``record_run``).

Book: Part III (the experiment chapters) and "How to use this book" (results).
"""
from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import torch
from tqdm import tqdm

from discgrad.results import load_results, record_run, results_path
from discgrad.scale import SCALES, get_scale, pick
from discgrad.train import progress_enabled

from .summary import format_table, summarize

RESULT_FIELDS = ("experiment", "method", "settings", "seed", "metrics", "history", "wall_time_s", "device")


def _no_variants(config: Mapping) -> list[dict]:
    return [{}]


@dataclass(frozen=True)
class Experiment:
    """An experiment as the runner sees it.

    Attributes:
        name: the results file's name, ``results/<scale>/<name>.json``.
        methods: the method names ``run`` accepts, in the order of the chapter's tables.
        configs: one config per scale (``smoke``, ``cpu``, ``gpu``).
        run: ``run(method, scale, seed, max_steps=None, **variant) -> dict``.
        variants: ``variants(config) -> [dict, ...]``: keyword arguments of ``run`` that
            make separate settings (for example ``[{"k": 5}, {"k": 10}]``); default one.
        variant_keys: the names of those keyword arguments (``("k",)``), which
            :func:`summarize` groups by next to the method.
        metrics: the final metrics the command line prints a table of.
    """

    name: str
    methods: tuple[str, ...]
    configs: Mapping[str, Mapping]
    run: Callable[..., dict]
    variants: Callable[[Mapping], list[dict]] = field(default=_no_variants)
    variant_keys: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()

    def config(self, scale: str | None = None) -> Mapping:
        """The config of ``scale`` (default: the active scale)."""
        return pick(self.configs, scale)


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with ``torch.set_num_threads(n)`` and restore the old value after.

    Small networks run fastest on one thread; ``None`` leaves the setting alone.
    """
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class ShuffledBatches:
    """Shuffled minibatch indices for :func:`discgrad.train.fit`, within a step budget.

    ``batches(epoch)`` yields index tensors of a fresh permutation of ``range(n)`` each
    epoch and stops for good after ``max_steps`` steps in all (a dry run of a config);
    ``epochs`` is the number of epochs that budget needs and ``steps`` counts the steps
    taken. One permutation per epoch, drawn from torch's global generator.

    Example:
        >>> batches = ShuffledBatches(10, 4, epochs=5, max_steps=4)
        >>> batches.epochs, [len(list(batches(e))) for e in range(batches.epochs)], batches.steps
        (2, [3, 1], 4)
    """

    def __init__(self, n: int, batch_size: int, epochs: int, max_steps: int | None = None,
                 device: torch.device | str = "cpu"):
        self.n, self.batch_size, self.max_steps, self.device = n, batch_size, max_steps, device
        self.epochs = epochs if max_steps is None else min(epochs, math.ceil(max_steps / math.ceil(n / batch_size)))
        self.steps = 0

    def __call__(self, epoch: int):
        order = torch.randperm(self.n, device=self.device)
        for i in range(0, self.n, self.batch_size):
            if self.max_steps is not None and self.steps >= self.max_steps:
                return
            self.steps += 1
            yield order[i:i + self.batch_size]


def record(result: Mapping, scale: str, root: Path | str | None = None, command: str | None = None) -> Path:
    """Add one result of ``run`` to ``<root>/<scale>/<experiment>.json`` and return the path."""
    missing = [f for f in RESULT_FIELDS if f not in result]
    if missing:
        raise ValueError(f"a run's result lacks the fields {missing}")
    return record_run(result["experiment"], result["method"], result["settings"], result["seed"],
                      result["metrics"], result["history"], result["wall_time_s"], command=command,
                      scale=scale, device=result["device"], root=root)


def _job(run: Callable[..., dict], method: str, scale: str, seed: int, max_steps: int | None,
         variant: Mapping, threads: int | None) -> dict:
    with torch_threads(threads):
        return run(method, scale, seed, max_steps=max_steps, **variant)


def run_all(experiment: Experiment, scale: str | None = None, seeds: Iterable[int] = (0, 1, 2),
            methods: Sequence[str] | None = None, root: Path | str | None = None,
            command: str | None = None, max_steps: int | None = None, threads: int | None = 1,
            fresh: bool = False, workers: int = 1) -> Path:
    """Run every method x variant x seed of ``experiment`` at ``scale`` and record each run.

    Args:
        experiment: the experiment.
        scale: ``smoke``, ``cpu`` or ``gpu`` (default: the active scale).
        seeds: the seeds.
        methods: a subset of ``experiment.methods`` (default: all).
        root: the results root; runs go to ``<root>/<scale>/<name>.json`` (default: the
            book's ``results/``). Chapters pass a temporary folder, so that executing a
            chapter never rewrites the committed results.
        command: the command recorded in the provenance (default: this process's).
        max_steps: stop each run after this many optimisation steps (a dry run).
        threads: torch threads while running (default 1: the networks are small).
        fresh: delete the results file first, so it holds exactly this invocation's runs.
        workers: runs at a time, each in its own process (``1``: in this process). The
            runs are recorded in the same order either way, and each run's numbers do not
            depend on ``workers``.

    Returns:
        the path of the results file.
    """
    scale = scale or get_scale()
    methods = list(methods or experiment.methods)
    unknown = [m for m in methods if m not in experiment.methods]
    if unknown:
        raise ValueError(f"unknown methods {unknown} for {experiment.name}: use {list(experiment.methods)}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("give at least one seed")
    path = results_path(experiment.name, scale, root)
    if fresh and path.exists():
        path.unlink()
    jobs = [(v, m, s) for v in experiment.variants(experiment.config(scale)) for m in methods for s in seeds]
    bar = tqdm(total=len(jobs), desc=experiment.name, disable=not progress_enabled())
    if workers <= 1:
        results = []
        for variant, method, seed in jobs:
            bar.set_postfix(method=method, seed=seed, **variant)
            results.append(_job(experiment.run, method, scale, seed, max_steps, variant, threads))
            bar.update()
    else:
        # "spawn": a fresh interpreter per worker, safe with torch's threads and in notebooks
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(_job, experiment.run, m, scale, s, max_steps, v, threads) for v, m, s in jobs]
            for future in futures:
                future.add_done_callback(lambda _: bar.update())
            results = [f.result() for f in futures]
    bar.close()
    for result in results:
        path = record(result, scale, root, command)
    return path


def main(experiment: Experiment, argv: Sequence[str] | None = None) -> Path:
    """The command line of an experiment module; returns the results file's path.

    ``python -m discgrad.experiments.<name> --scale cpu --seeds 0 1 2 --out results/cpu/<name>.json``
    """
    parser = argparse.ArgumentParser(prog=f"python -m discgrad.experiments.{experiment.name}",
                                     description=f"Run the {experiment.name} experiment and record its runs.")
    parser.add_argument("--scale", choices=SCALES, default=None, help="default: DISCGRAD_SCALE or the device's")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", choices=experiment.methods, default=None)
    parser.add_argument("--out", type=Path, default=None,
                        help="the results file, <root>/<scale>/<name>.json (default: results/<scale>/<name>.json)")
    parser.add_argument("--max-steps", type=int, default=None, help="stop each run after this many steps")
    parser.add_argument("--fresh", action="store_true", help="delete the results file before running")
    parser.add_argument("--workers", type=int, default=1, help="runs at a time, one process each")
    args = parser.parse_args(argv)
    scale = args.scale or get_scale()
    root = None
    if args.out is not None:
        out = args.out
        if out.name != f"{experiment.name}.json" or out.parent.name != scale:
            parser.error(f"--out must name <root>/{scale}/{experiment.name}.json, got {out}")
        root = out.parent.parent
    words = ["python", "-m", f"discgrad.experiments.{experiment.name}", *(sys.argv[1:] if argv is None else argv)]
    path = run_all(experiment, scale, args.seeds, args.methods, root=root, command=shlex.join(words),
                   max_steps=args.max_steps, fresh=args.fresh, workers=args.workers)
    print(f"wrote {path}")
    runs = load_results(path)["runs"]
    for line in format_table(summarize(runs, experiment.metrics or None, experiment.variant_keys)):
        print(line)
    return path

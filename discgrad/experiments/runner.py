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
import json
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
import shlex
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import torch
from tqdm import tqdm

from discgrad.results import check_clean_tree, load_results, record_run, results_path, results_root
from discgrad.scale import SCALES, get_scale, pick
from discgrad.train import progress_enabled

from .summary import format_table, summarize

RESULT_FIELDS = ("experiment", "method", "settings", "seed", "metrics", "history", "wall_time_s", "device")


def _no_variants(*args) -> list[dict]:
    return [{}]


@dataclass(frozen=True)
class Experiment:
    """An experiment as the runner sees it.

    Attributes:
        name: the results file's name, ``results/<scale>/<name>.json``.
        methods: the method names ``run`` accepts, in the order of the chapter's tables.
        configs: one config per scale (``smoke``, ``cpu``, ``gpu``).
        run: ``run(method, config, seed, max_steps=None, **variant) -> dict``.
        variants: ``variants(config) -> [dict, ...]``: keyword arguments of ``run`` that
            make separate settings of the task (for example ``[{"k": 5}, {"k": 10}]``);
            default one.
        variant_keys: the names of those keyword arguments (``("k",)``), which
            :func:`summarize` groups by next to the method.
        metrics: the final metrics the command line prints a table of.
        method_variants: ``method_variants(method) -> [dict, ...]``: the variants of one
            method's own knobs (its family's grid, :mod:`discgrad.experiments.methods`),
            passed to ``run`` next to the task's; default one.
    """

    name: str
    methods: tuple[str, ...]
    configs: Mapping[str, Mapping]
    run: Callable[..., dict]
    variants: Callable[[Mapping], list[dict]] = field(default=_no_variants)
    variant_keys: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    method_variants: Callable[[str], list[dict]] = field(default=_no_variants)

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


def _job(run: Callable[..., dict], method: str, config: Mapping, seed: int, max_steps: int | None,
         variant: Mapping, threads: int | None) -> dict:
    with torch_threads(threads):
        return run(method, config, seed, max_steps=max_steps, **variant)


def _same(value) -> str:
    return json.dumps(value, sort_keys=True)


def job_key(method: str, seed: int, variant: Mapping) -> tuple:
    """What identifies a job of :func:`run_all`: the method, the seed and the variant's items."""
    return (method, int(seed), tuple(sorted((k, _same(v)) for k, v in variant.items())))


def recorded_key(run: Mapping, variant_names: Iterable[str]) -> tuple:
    """:func:`job_key` of a recorded run, reading the variant's values from its settings."""
    return (run["method"], int(run["seed"]),
            tuple(sorted((k, _same(run["settings"].get(k))) for k in variant_names)))


def run_all(experiment: Experiment, scale: str | None = None, seeds: Iterable[int] = (0, 1, 2),
            methods: Sequence[str] | None = None, root: Path | str | None = None,
            command: str | None = None, max_steps: int | None = None, threads: int | None = 1,
            fresh: bool = False, workers: int = 1, config: Mapping | None = None,
            resume: bool = False, method_variants: Mapping[str, Sequence[Mapping]] | None = None) -> Path:
    """Run every method x variant x seed of ``experiment`` and record each run as it ends.

    Args:
        experiment: the experiment.
        scale: ``smoke``, ``cpu`` or ``gpu`` (default: the active scale); recorded in the
            provenance, and picks the config unless ``config`` is given.
        seeds: the seeds (integers >= 0).
        methods: a subset of ``experiment.methods`` (default: all).
        root: the results root; runs go to ``<root>/<scale>/<name>.json`` (default: the
            book's ``results/``). Chapters pass a temporary folder, so that executing a
            chapter never rewrites the committed results.
        command: the command recorded in the provenance (default: this process's).
        max_steps: stop each run after this many optimisation steps (a dry run).
        threads: torch threads while running (default 1: the networks are small).
        fresh: delete the results file first, so it holds exactly this invocation's runs.
        workers: runs at a time, each in its own process (``1``: in this process). Each
            run's numbers do not depend on ``workers``.
        config: the config to run (default: ``experiment.config(scale)``): a chapter passes
            its parameters cell's, so that editing it changes what runs.
        resume: skip the jobs already recorded in the results file.
        method_variants: ``{method: [variant, ...]}`` to run instead of the method's whole
            grid (a chapter reruns the variants chosen on validation, say).

    Every run is written to the results file as soon as it finishes, so a failure later
    loses nothing; with ``resume`` a rerun then does only what is missing.

    Returns:
        the path of the results file.
    """
    scale = scale or get_scale()
    config = experiment.config(scale) if config is None else config
    methods = list(methods or experiment.methods)
    unknown = [m for m in methods if m not in experiment.methods]
    if unknown:
        raise ValueError(f"unknown methods {unknown} for {experiment.name}: use {list(experiment.methods)}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("give at least one seed")
    if any(s < 0 for s in seeds):
        raise ValueError(f"seeds must be >= 0, got {seeds}")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    path = results_path(experiment.name, scale, root)
    if fresh and path.exists():
        path.unlink()
    own_variants = {m: experiment.method_variants(m) for m in methods}
    own_variants.update(method_variants or {})
    jobs = [({**task, **own}, m, s) for task in experiment.variants(config) for m in methods
            for own in own_variants[m] for s in seeds]
    if resume and path.exists():
        runs = load_results(path)["runs"]
        names = {tuple(sorted(v)) for v, _, _ in jobs}  # the variant keys the jobs use
        done = {recorded_key(run, n) for run in runs for n in names}
        jobs = [(v, m, s) for v, m, s in jobs if job_key(m, s, v) not in done]
    bar = tqdm(total=len(jobs), desc=experiment.name, disable=not progress_enabled())
    if workers <= 1 or len(jobs) <= 1:
        for variant, method, seed in jobs:
            bar.set_postfix(method=method, seed=seed)
            path = record(_job(experiment.run, method, config, seed, max_steps, variant, threads),
                          scale, root, command)
            bar.update()
    else:
        # "spawn": a fresh interpreter per worker, safe with torch's threads and in notebooks
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(_job, experiment.run, m, config, s, max_steps, v, threads) for v, m, s in jobs]
            for future in as_completed(futures):
                path = record(future.result(), scale, root, command)
                bar.update()
    bar.close()
    return path


def _seed(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"seeds must be >= 0, got {value}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(experiment: Experiment, argv: Sequence[str] | None = None) -> Path:
    """The command line of an experiment module; returns the results file's path.

    ``python -m discgrad.experiments.<name> --scale cpu --seeds 0 1 2 --out results/cpu/<name>.json``

    Every argument is checked before the first run. Recording into the book's ``results/``
    from a checkout with uncommitted changes is refused unless ``--allow-dirty`` is given;
    every run's provenance stores the commit, whether the tree was dirty and a hash of the diff.
    """
    parser = argparse.ArgumentParser(prog=f"python -m discgrad.experiments.{experiment.name}",
                                     description=f"Run the {experiment.name} experiment and record its runs.")
    parser.add_argument("--scale", choices=SCALES, default=None, help="default: DISCGRAD_SCALE or the device's")
    parser.add_argument("--seeds", type=_seed, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", choices=experiment.methods, default=None)
    parser.add_argument("--out", type=Path, default=None,
                        help="the results file, <root>/<scale>/<name>.json (default: results/<scale>/<name>.json)")
    parser.add_argument("--max-steps", type=_positive, default=None, help="stop each run after this many steps")
    parser.add_argument("--fresh", action="store_true", help="delete the results file before running")
    parser.add_argument("--resume", action="store_true", help="skip the runs the results file already holds")
    parser.add_argument("--workers", type=_positive, default=1, help="runs at a time, one process each")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="record from a checkout with uncommitted changes (a hash of the diff is stored)")
    args = parser.parse_args(argv)
    if args.fresh and args.resume:
        parser.error("--fresh and --resume exclude each other")
    scale = args.scale or get_scale()
    root = None
    if args.out is not None:
        out = args.out
        if out.name != f"{experiment.name}.json" or out.parent.name != scale:
            parser.error(f"--out must name <root>/{scale}/{experiment.name}.json, got {out}")
        root = out.parent.parent
    target = results_path(experiment.name, scale, root).parent
    try:  # really try: a permission bit says nothing to root, nor about a file in the path
        target.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=target).close()
    except OSError as err:
        parser.error(f"cannot write into {target}: {err.strerror or err}")
    if target.resolve().parent == results_root().resolve():  # the book's own results/
        try:
            check_clean_tree(args.allow_dirty)
        except ValueError as err:
            parser.error(str(err))
    words = ["python", "-m", f"discgrad.experiments.{experiment.name}", *(sys.argv[1:] if argv is None else argv)]
    path = run_all(experiment, scale, args.seeds, args.methods, root=root, command=shlex.join(words),
                   max_steps=args.max_steps, fresh=args.fresh, workers=args.workers, resume=args.resume)
    print(f"wrote {path}")
    runs = load_results(path)["runs"]
    for line in format_table(summarize(runs, experiment.metrics or None, experiment.variant_keys)):
        print(line)
    return path

"""Timing code fairly, and recording it: what the benchmark scripts and chapter 16 share.

Every script in the repository's ``benchmarks/`` times its contenders with :func:`race`
(median of rounds that call every contender once in turn, so that a change of load on a
shared machine hits them alike) and writes ``results/bench/<name>.json`` with
:func:`write_record`, whose block is :func:`bench_provenance` (the fields of
:func:`discgrad.results.provenance`, scale ``"bench"``, plus threads, cores and the load
average before and after the run). What chapter 16 states about those files lives in
``discgrad.findings.bench_<name>``. Book: chapter 16, "Performance".
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import scipy
import torch

from discgrad.results import provenance, write_json

__all__ = ["CLOCKS", "CLOCK_DOC", "race", "growth_exponent", "add_common_arguments", "command_line",
           "bench_provenance", "write_record"]

#: The clocks :func:`race` can read.
CLOCKS = ("cpu", "wall")

#: What each clock measures, as a benchmark file states it.
CLOCK_DOC = {"cpu": "process CPU time (time.process_time), median over the rounds",
             "wall": "wall time (time.perf_counter), median over the rounds"}


def race(fns: Mapping[str, Callable[[], object]], repeats: int, clock: str = "cpu") -> tuple[dict, dict, dict, dict]:
    """Median and minimum time in seconds of each function on ``clock``, its output, and its median wall time.

    One warm-up call each, then ``repeats`` rounds that call every function once in turn,
    so that a change of load on a shared machine hits all contenders alike.

    ``clock="cpu"`` measures the CPU time (:func:`time.process_time`: the CPU seconds of
    this process, all its threads added), for a machine shared with other processes: there
    the scheduler suspends a call that outlasts its time slice, which inflates the wall
    time of long calls much more than that of short ones and so distorts the ratios between
    them; the CPU time does not count the suspension. Use it with one thread
    (``--threads 1``): with more, it adds the threads' times up. ``clock="wall"``
    (:func:`time.perf_counter`) is the right measure on a quiet machine, with any number of
    threads. The median wall time is returned in either case.

    Example:
        >>> cpu, cpu_min, outputs, wall = race({"a": lambda: 1, "b": lambda: 2}, repeats=3)
        >>> sorted(cpu), outputs
        (['a', 'b'], {'a': 1, 'b': 2})
        >>> all(cpu_min[k] <= cpu[k] for k in cpu) and sorted(wall) == ['a', 'b']
        True
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {CLOCKS}, got {clock!r}")
    outputs = {name: fn() for name, fn in fns.items()}
    cpu = {name: [] for name in fns}
    wall = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            cpu[name].append(time.process_time() - start_cpu)
            wall[name].append(time.perf_counter() - start)
    main = cpu if clock == "cpu" else wall
    return ({name: statistics.median(t) for name, t in main.items()}, {name: min(t) for name, t in main.items()},
            outputs, {name: statistics.median(t) for name, t in wall.items()})


def growth_exponent(sizes: Sequence[float], seconds: Sequence[float]) -> float:
    """The slope ``p`` of the least-squares line through ``(log size, log seconds)``.

    ``seconds ~ size ** p``: ``p = 1`` is linear growth, ``p = 2`` quadratic.

    Example:
        >>> round(growth_exponent([10, 20, 40], [1.0, 4.0, 16.0]), 6)
        2.0
    """
    if len(sizes) != len(seconds) or len(sizes) < 2:
        raise ValueError("need at least two (size, seconds) pairs of equal length")
    x, y = np.log(np.asarray(sizes, float)), np.log(np.asarray(seconds, float))
    return float(np.polyfit(x, y, 1)[0])


def add_common_arguments(parser) -> None:
    """``--threads`` and ``--clock``, the same in every benchmark script."""
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--clock", choices=CLOCKS, default="cpu",
                        help="cpu: process CPU time, for a shared machine, with --threads 1; "
                             "wall: wall time, for a quiet machine")


def begin(parser, argv: Sequence[str] | None) -> tuple:
    """Parse a benchmark script's arguments, apply ``--threads`` to torch, and note the load
    and the start time: ``args, load_before, start``, what :func:`write_record` needs.

    Example:
        >>> import argparse
        >>> parser = argparse.ArgumentParser(); add_common_arguments(parser)
        >>> args, load, start = begin(parser, ["--clock", "wall"])
        >>> args.clock, len(load)
        ('wall', 3)
    """
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    return args, os.getloadavg(), time.perf_counter()


def command_line(script: str, argv: Sequence[str] | None) -> str:
    """``python benchmarks/<script> <args>``: the command that reproduces a file.

    ``script`` is the path of a script in the repository's ``benchmarks/`` folder; it is
    named relative to the repository (the folder above).

    Example:
        >>> command_line("/repo/benchmarks/solvers.py", ["--repeats", "3"])
        'python benchmarks/solvers.py --repeats 3'
    """
    args = list(argv) if argv is not None else sys.argv[1:]
    path = Path(script)
    return " ".join(["python", f"{path.parent.name}/{path.name}", *args])


def bench_provenance(wall_time_s: float, command: str, load_before: Sequence[float], clock: str = "cpu",
                     **extra) -> dict:
    """The provenance block of a benchmark file: who, where, with what, under which load.

    ``load_before`` is :func:`os.getloadavg` taken when the run started; the 1-minute load
    average before and after tells a reader how busy the machine was (on ``cpu_count``
    cores, a load near the core count means the timings are inflated).
    """
    return {
        **provenance(wall_time_s, command=command, scale="bench", device="cpu"),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "clock": clock,
        "clock_meaning": CLOCK_DOC[clock],
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        **extra,
    }


def write_record(name: str, doc: str, results: dict, wall_time_s: float, script: str,
                 argv: Sequence[str] | None, load_before: Sequence[float], clock: str, out, **extra) -> dict:
    """Write ``results/bench/<name>.json`` (at ``out``): the results, what is timed (the
    script's docstring after its usage paragraph) and the provenance block; return the record."""
    record = {"benchmark": name, "what_is_timed": doc.split("\n\n", 2)[2].strip(), "results": results,
              "provenance": bench_provenance(wall_time_s, command_line(script, argv), load_before, clock, **extra)}
    write_json(out, record)
    print(f"wrote {out} ({wall_time_s:.0f} s)")
    return record

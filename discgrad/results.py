"""Results files with provenance: every number in the book comes from one of these.

An experiment's runs live in ``results/<scale>/<experiment>.json``::

    {"experiment": "warcraft", "scale": "cpu", "runs": [run, ...]}

and each run records what was run and how::

    {"experiment": ..., "method": "identity", "settings": {...}, "seed": 0,
     "metrics": {"test_accuracy": 0.91},                # final values
     "history": {"test_accuracy": [0.5, 0.8, 0.91]},    # per epoch
     "provenance": {"command": ..., "scale": ..., "device": ..., "torch_version": ...,
                    "git_commit": ..., "date": ..., "wall_time_s": ...}}

Benchmarks write ``results/bench/<name>.json`` with a top-level ``provenance`` block of the
same fields. :func:`load_results` refuses a file whose runs lack a field, naming it.
Book: "How to use this book", section on results.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

import torch

from .scale import SCALES, device_name, get_device, get_scale

PROVENANCE_FIELDS = ("command", "scale", "device", "torch_version", "git_commit", "date", "wall_time_s")
RUN_FIELDS = ("experiment", "method", "settings", "seed", "metrics", "history", "provenance")
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def results_root() -> Path:
    """The ``results/`` folder: ``DISCGRAD_RESULTS`` if set, else the book's, else ``./results``."""
    if os.environ.get("DISCGRAD_RESULTS"):
        return Path(os.environ["DISCGRAD_RESULTS"])
    if (_PACKAGE_ROOT / "_config.yml").exists():
        return _PACKAGE_ROOT / "results"
    return Path.cwd() / "results"


def git_commit() -> str:
    """The commit of the book's checkout, with ``+dirty`` when it has uncommitted changes."""
    try:
        run = lambda *args: subprocess.run(  # noqa: E731
            ["git", *args], cwd=_PACKAGE_ROOT, capture_output=True, text=True, timeout=10
        )
        head = run("rev-parse", "HEAD")
        if head.returncode != 0:
            return "unknown (not a git checkout)"
        dirty = run("status", "--porcelain", "--untracked-files=no").stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown (git not available)"


def provenance(wall_time_s: float, command: str | None = None, scale: str | None = None,
               device: torch.device | str | None = None) -> dict:
    """The provenance block of a run: command, scale, device, versions, commit, date, wall time.

    Args:
        wall_time_s: how long the run took, in seconds.
        command: the command that made it (default: this process's command line).
        scale: the scale it ran at (default: the active scale).
        device: the device it ran on (default: the active device).

    Example:
        >>> p = provenance(1.5, command="python -m discgrad.experiments.demo")
        >>> sorted(p) == sorted(PROVENANCE_FIELDS + ("python_version", "platform"))
        True
    """
    device = torch.device(device) if device is not None else get_device()
    return {
        "command": command if command is not None else " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "scale": scale or get_scale(),
        "device": device_name(device),
        "torch_version": torch.__version__,
        "git_commit": git_commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(float(wall_time_s), 3),
        "python_version": platform.python_version(),
        "platform": platform.platform(),
    }


def check_provenance(block: Any, where: str) -> None:
    """Raise ``ValueError`` naming ``where`` and the field when a provenance block is incomplete."""
    if not isinstance(block, Mapping):
        raise ValueError(f"{where}: 'provenance' must be an object, got {type(block).__name__}")
    for field in PROVENANCE_FIELDS:
        if field not in block:
            raise ValueError(f"{where}: provenance lacks the field {field!r}")
    if block["scale"] not in SCALES + ("bench",):
        raise ValueError(
            f"{where}: provenance field 'scale' is {block['scale']!r}, not one of {SCALES + ('bench',)}"
        )
    wall = block["wall_time_s"]
    if not isinstance(wall, (int, float)) or not math.isfinite(wall) or wall < 0:
        raise ValueError(f"{where}: provenance field 'wall_time_s' must be a number >= 0, got {wall!r}")


def check_run(run: Any, where: str) -> None:
    """Raise ``ValueError`` naming ``where`` and the field when a run record is malformed."""
    if not isinstance(run, Mapping):
        raise ValueError(f"{where}: a run must be an object, got {type(run).__name__}")
    for field in RUN_FIELDS:
        if field not in run:
            raise ValueError(f"{where}: run lacks the field {field!r}")
    for field in ("settings", "metrics", "history"):
        if not isinstance(run[field], Mapping):
            raise ValueError(f"{where}: field {field!r} must be an object, got {type(run[field]).__name__}")
    if not isinstance(run["seed"], int):
        raise ValueError(f"{where}: field 'seed' must be an integer, got {run['seed']!r}")
    for name, value in run["metrics"].items():
        if not isinstance(value, (int, float)):
            raise ValueError(f"{where}: metric {name!r} must be a number, got {value!r}")
    for name, values in run["history"].items():
        if not isinstance(values, list):
            raise ValueError(f"{where}: history {name!r} must be a list (one value per epoch)")
    check_provenance(run["provenance"], where)


def results_path(experiment: str, scale: str | None = None, root: Path | str | None = None) -> Path:
    """``<root>/<scale>/<experiment>.json``."""
    return Path(root or results_root()) / (scale or get_scale()) / f"{experiment}.json"


def record_run(experiment: str, method: str, settings: Mapping, seed: int, metrics: Mapping,
               history: Mapping, wall_time_s: float, *, command: str | None = None,
               scale: str | None = None, device: torch.device | str | None = None,
               root: Path | str | None = None) -> Path:
    """Add one run to ``results/<scale>/<experiment>.json`` and return the path.

    A run with the same method, settings and seed replaces the older one, so rerunning an
    experiment updates its file instead of piling up duplicates.

    Example:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> path = record_run("demo", "identity", {"lr": 0.1}, seed=0, metrics={"accuracy": 0.9},
        ...                   history={"accuracy": [0.5, 0.9]}, wall_time_s=1.0, scale="smoke", root=root)
        >>> load_results(path)["runs"][0]["metrics"]
        {'accuracy': 0.9}
    """
    scale = scale or get_scale()
    run = {
        "experiment": experiment,
        "method": method,
        "settings": dict(settings),
        "seed": int(seed),
        "metrics": {k: float(v) for k, v in metrics.items()},
        "history": {k: [float(x) for x in v] for k, v in history.items()},
        "provenance": provenance(wall_time_s, command=command, scale=scale, device=device),
    }
    path = results_path(experiment, scale, root)
    data = load_results(path) if path.exists() else {"experiment": experiment, "scale": scale, "runs": []}
    same = lambda r: (r["method"], r["settings"], r["seed"]) == (method, run["settings"], run["seed"])  # noqa: E731
    data["runs"] = [r for r in data["runs"] if not same(r)] + [run]
    write_json(path, data)
    return path


def write_json(path: Path | str, data: Mapping) -> Path:
    """Write ``data`` as indented JSON, creating folders, through a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    tmp.replace(path)
    return path


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def load_results(path: Path | str) -> dict:
    """Read and validate an experiment's results file; every run must carry its provenance.

    Raises:
        ValueError: naming the file, the run and the missing or malformed field.

    Example:
        >>> import json, tempfile, pathlib
        >>> bad = pathlib.Path(tempfile.mkdtemp()) / "bad.json"
        >>> _ = bad.write_text(json.dumps({"experiment": "x", "scale": "cpu", "runs": [{"method": "m"}]}))
        >>> load_results(bad)
        Traceback (most recent call last):
        ...
        ValueError: ...bad.json run 0: run lacks the field 'experiment'
    """
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: the top level must be an object")
    for field in ("experiment", "scale", "runs"):
        if field not in data:
            raise ValueError(f"{path}: lacks the top-level field {field!r}")
    if not isinstance(data["runs"], list):
        raise ValueError(f"{path}: field 'runs' must be a list")
    for i, run in enumerate(data["runs"]):
        check_run(run, f"{path} run {i}")
    return dict(data)


def load_benchmark(path: Path | str) -> dict:
    """Read a ``results/bench/<name>.json`` file and check its provenance block."""
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, Mapping) or "provenance" not in data:
        raise ValueError(f"{path}: lacks the top-level field 'provenance'")
    check_provenance(data["provenance"], str(path))
    return dict(data)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def chapter_cost(notebook: str, root: Path | str | None = None) -> str:
    """One line with a chapter's recorded execution time at each scale, for its first page.

    The times come from ``results/bench/notebooks.json``, written by
    ``python benchmarks/notebooks.py --scale <scale>`` (chapter 16), which executes every
    chapter from a fresh kernel and records the wall time with the machine it ran on.

    Args:
        notebook: the chapter's file stem, e.g. ``"06_discrete_vae"``.
        root: the results root (default :func:`results_root`).

    Example:
        >>> import json, tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> (root / "bench").mkdir()
        >>> entry = {"notebook": "notebooks/06_vae", "scale": "cpu", "seconds": 125.4, "cpu_count": 2}
        >>> _ = (root / "bench" / "notebooks.json").write_text(json.dumps({"entries": [entry]}))
        >>> print(chapter_cost("06_vae", root))
        recorded run time of this chapter (2 CPU cores, chapter 16):
          2 min 05 s at cpu scale
        >>> chapter_cost("07_other", root)
        'no recorded run time for 07_other in results/bench/notebooks.json'
    """
    path = Path(root or results_root()) / "bench" / "notebooks.json"
    if not path.exists():
        return "no recorded run times here (results/bench/notebooks.json comes with the book's repository)"
    entries = [e for e in _read_json(path).get("entries", []) if e.get("notebook", "").endswith("/" + notebook)]
    by_scale = {e["scale"]: e for e in entries}
    parts = [f"{_duration(by_scale[s]['seconds'])} at {s} scale" for s in SCALES if s in by_scale]
    if not parts:
        return f"no recorded run time for {notebook} in results/bench/notebooks.json"
    cores = sorted({e.get("cpu_count") for e in entries if e.get("cpu_count")})
    machine = f"{'/'.join(str(c) for c in cores)} CPU cores, " if cores else ""
    return f"recorded run time of this chapter ({machine}chapter 16):\n  {', '.join(parts)}"

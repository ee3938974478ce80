"""Results files with provenance: every number in the book comes from one of these.

An experiment's runs live in ``results/<scale>/<experiment>.json``::

    {"experiment": "warcraft", "scale": "cpu", "runs": [run, ...]}

and each run records what was run and how::

    {"experiment": ..., "method": "identity", "settings": {...}, "seed": 0,
     "metrics": {"test_accuracy": 0.91},                # final values
     "history": {"test_accuracy": [0.5, 0.8, 0.91]},    # per epoch
     "provenance": {"command": ..., "scale": ..., "device": ..., "torch_version": ...,
                    "git_commit": ..., "date": ..., "wall_time_s": ...,      # required
                    "numpy_version": ..., "scipy_version": ..., "discgrad_version": ...,
                    "git_dirty": false, "git_diff_sha256": null, ...}}

Two roots, one for each direction:

* :func:`results_root` / :func:`results_path`: where runs are **written** (``record_run``,
  the experiments' command line, the benchmark scripts): ``DISCGRAD_RESULTS``, else the
  checkout's ``results/``, else ``./results``; never into an installed package.
* :func:`recorded_root` / :func:`recorded_path`: where the book's **recorded** results are
  **read** (the chapters, :mod:`discgrad.findings`): ``DISCGRAD_RESULTS``, else the
  checkout's ``results/``, else the copy that ships inside the installed package
  (``discgrad/_recorded``, made by ``setup.py`` from ``results/cpu``, ``results/gpu`` and
  ``results/bench`` when the wheel is built), else ``./results``.

``git_commit`` is the bare commit; a run recorded from a checkout with uncommitted changes
says so in ``git_dirty`` and stores the SHA-256 of ``git diff HEAD`` in ``git_diff_sha256``
(:func:`working_tree`, :func:`check_clean_tree`). Benchmarks write
``results/bench/<name>.json`` with a top-level ``provenance`` block of the same fields.
:func:`load_results` refuses a file whose runs lack a field, carry a non-finite number or
repeat each other, naming the run and the field.
Book: "How to use this book", section on results.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

import torch

from . import __version__
from .scale import SCALES, device_name, get_device, get_scale

# required in every provenance block; newer blocks add versions and the working tree's state
PROVENANCE_FIELDS = ("command", "scale", "device", "torch_version", "git_commit", "date", "wall_time_s")
RUN_FIELDS = ("experiment", "method", "settings", "seed", "metrics", "history", "provenance")
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
#: the recorded results inside an installed package (absent in a checkout: setup.py's build_py copies them)
RECORDED_PACKAGE_DIR = Path(__file__).resolve().parent / "_recorded"


def results_root() -> Path:
    """Where runs are WRITTEN: ``DISCGRAD_RESULTS`` if set, else the book's ``results/``, else ``./results``.

    The book's ``results/`` is the checkout's (the folder beside ``_config.yml``). An
    installed package is never written into: there a user's own runs go to ``./results``.
    To read the book's recorded results use :func:`recorded_root`.
    """
    if os.environ.get("DISCGRAD_RESULTS"):
        return Path(os.environ["DISCGRAD_RESULTS"])
    if (_PACKAGE_ROOT / "_config.yml").exists():
        return _PACKAGE_ROOT / "results"
    return Path.cwd() / "results"


def recorded_root() -> Path:
    """Where the book's recorded results are READ: the root the chapters and findings use.

    ``DISCGRAD_RESULTS`` if set; else the checkout's ``results/`` (as :func:`results_root`
    finds it); else the copy inside the installed package, ``discgrad/_recorded`` (the
    wheel's package data: ``results/cpu``, ``results/gpu`` and ``results/bench``), when
    present; else ``./results``. Runs are written under :func:`results_root`, never here.

    Example:
        >>> (recorded_root() / "cpu").name
        'cpu'
    """
    if os.environ.get("DISCGRAD_RESULTS") or (_PACKAGE_ROOT / "_config.yml").exists():
        return results_root()
    if RECORDED_PACKAGE_DIR.is_dir():
        return RECORDED_PACKAGE_DIR
    return Path.cwd() / "results"


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=_PACKAGE_ROOT, capture_output=True, timeout=30)


def working_tree() -> dict:
    """The state of the book's checkout: ``{"commit", "dirty", "diff_sha256"}``.

    ``dirty`` says whether tracked files differ from the commit (staged or not; untracked
    files do not count), leaving out ``results/``: the runs write their own results there,
    and those are outputs, not the code that made them. ``diff_sha256`` is the SHA-256 of
    that ``git diff HEAD`` when dirty, else ``None``, so a run recorded from uncommitted code
    still names the code it ran. Outside
    a git checkout (an installed package) the commit is ``"unknown (...)"`` and the tree
    counts as clean. Book: "How to use this book", section on results.

    Example:
        >>> sorted(working_tree())
        ['commit', 'diff_sha256', 'dirty']
    """
    unknown = lambda why: {"commit": f"unknown ({why})", "dirty": False, "diff_sha256": None}  # noqa: E731
    try:
        top = _git("rev-parse", "--show-toplevel")
        if top.returncode != 0 or Path(top.stdout.decode().strip()).resolve() != _PACKAGE_ROOT:
            return unknown("not a git checkout")
        head = _git("rev-parse", "HEAD")
        diff = _git("diff", "HEAD", "--no-ext-diff", "--no-color", "--binary", "--", ".", ":(exclude)results")
        if head.returncode != 0 or diff.returncode != 0:
            return unknown("not a git checkout")
    except (OSError, subprocess.SubprocessError):
        return unknown("git not available")
    dirty = bool(diff.stdout)
    return {"commit": head.stdout.decode().strip(), "dirty": dirty,
            "diff_sha256": hashlib.sha256(diff.stdout).hexdigest() if dirty else None}


def check_clean_tree(allow_dirty: bool) -> dict:
    """Return :func:`working_tree`; raise ``ValueError`` if it is dirty and ``allow_dirty`` is false.

    The experiments' command line calls this before recording, so that a committed
    results file names the code that made it.
    """
    state = working_tree()
    if state["dirty"] and not allow_dirty:
        raise ValueError("the working tree has uncommitted changes; commit them, "
                         "or pass --allow-dirty to record a hash of the diff")
    return state


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
        >>> set(PROVENANCE_FIELDS) <= set(p) and p["discgrad_version"] == __version__
        True
    """
    import numpy
    import scipy

    device = torch.device(device) if device is not None else get_device()
    tree = working_tree()
    return {
        "command": command if command is not None else " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "scale": scale or get_scale(),
        "device": device_name(device),
        "torch_version": torch.__version__,
        "git_commit": tree["commit"],
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(float(wall_time_s), 3),
        "numpy_version": numpy.__version__,
        "scipy_version": scipy.__version__,
        "discgrad_version": __version__,
        "git_dirty": tree["dirty"],
        "git_diff_sha256": tree["diff_sha256"],
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
    seed = run["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"{where}: field 'seed' must be an integer >= 0, got {seed!r}")
    for name, value in run["metrics"].items():
        if not _is_number(value):
            raise ValueError(f"{where}: metric {name!r} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{where}: metric {name!r} is not finite ({value!r})")
    for name, values in run["history"].items():
        if not isinstance(values, list):
            raise ValueError(f"{where}: history {name!r} must be a list (one value per epoch)")
        for epoch, value in enumerate(values):
            if not _is_number(value) or not math.isfinite(value):
                raise ValueError(f"{where}: history {name!r} at epoch index {epoch} must be a "
                                 f"finite number, got {value!r}")
    check_provenance(run["provenance"], where)


def _is_number(value: Any) -> bool:
    # bool is a subclass of int, but True is no metric
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def results_path(experiment: str, scale: str | None = None, root: Path | str | None = None) -> Path:
    """``<root>/<scale>/<experiment>.json``, where a run is WRITTEN (default root: :func:`results_root`)."""
    return Path(root or results_root()) / (scale or get_scale()) / f"{experiment}.json"


def recorded_path(experiment: str, scale: str | None = None) -> Path:
    """``<recorded_root()>/<scale>/<experiment>.json``: the book's recorded file, to READ.

    Example:
        >>> recorded_path("warcraft", "cpu").relative_to(recorded_root()).as_posix()
        'cpu/warcraft.json'
    """
    return recorded_root() / (scale or get_scale()) / f"{experiment}.json"


def record_run(experiment: str, method: str, settings: Mapping, seed: int, metrics: Mapping,
               history: Mapping, wall_time_s: float, *, command: str | None = None,
               scale: str | None = None, device: torch.device | str | None = None,
               root: Path | str | None = None) -> Path:
    """Add one run to ``results/<scale>/<experiment>.json`` and return the path.

    A run with the same method, settings and seed replaces the older one, so rerunning an
    experiment updates its file instead of piling up duplicates. The final ``metrics`` are
    stored in full; the per-epoch ``history`` (curves for figures) to 6 significant digits.

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
        "history": {k: [float(f"{float(x):.6g}") for x in v] for k, v in history.items()},
        "provenance": provenance(wall_time_s, command=command, scale=scale, device=device),
    }
    path = results_path(experiment, scale, root)
    data = load_results(path) if path.exists() else {"experiment": experiment, "scale": scale, "runs": []}
    same = lambda r: (r["method"], r["settings"], r["seed"]) == (method, run["settings"], run["seed"])  # noqa: E731
    data["runs"] = [r for r in data["runs"] if not same(r)] + [run]
    write_json(path, data)
    return path


def write_json(path: Path | str, data: Mapping) -> Path:
    """Write ``data`` as indented JSON, creating folders, through a temporary file.

    A list of numbers or strings (a learning curve, say) stays on one line, so a file of
    hundreds of runs stays readable and small.

    Example:
        >>> import tempfile, pathlib
        >>> path = write_json(pathlib.Path(tempfile.mkdtemp()) / "x.json", {"curve": [1, 2.5], "n": 3})
        >>> print(path.read_text(), end="")
        {
         "curve": [1, 2.5],
         "n": 3
        }
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(_dumps(data, 0) + "\n")
    tmp.replace(path)
    return path


def _dumps(value: Any, level: int) -> str:
    """JSON with one space of indent per level, and flat lists on one line."""
    pad, inner = " " * level, " " * (level + 1)
    if isinstance(value, Mapping) and value:
        items = [f"{inner}{json.dumps(str(k))}: {_dumps(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, (list, tuple)) and any(isinstance(v, (Mapping, list, tuple)) for v in value):
        return "[\n" + ",\n".join(inner + _dumps(v, level + 1) for v in value) + "\n" + pad + "]"
    return json.dumps(value)


def read_json(path: Path | str) -> Any:
    """Read a JSON file; ``ValueError`` naming the file if it is not valid JSON."""
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def load_results(path: Path | str) -> dict:
    """Read and validate an experiment's results file; every run must carry its provenance.

    Raises:
        ValueError: naming the file, the run and the missing or malformed field; also for
            two runs with the same method, seed and settings, and for a file at
            ``<root>/<scale>/<experiment>.json`` whose own scale or experiment differ.

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
    data = read_json(path)
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: the top level must be an object")
    for field in ("experiment", "scale", "runs"):
        if field not in data:
            raise ValueError(f"{path}: lacks the top-level field {field!r}")
    if not isinstance(data["runs"], list):
        raise ValueError(f"{path}: field 'runs' must be a list")
    if path.parent.name in SCALES and (data["scale"] != path.parent.name or data["experiment"] != path.stem):
        raise ValueError(f"{path}: the file says experiment {data['experiment']!r} at scale "
                         f"{data['scale']!r}, but its path says {path.stem!r} at {path.parent.name!r}")
    seen: dict[tuple, list[tuple[int, Any]]] = {}
    for i, run in enumerate(data["runs"]):
        check_run(run, f"{path} run {i}")
        same_seed = seen.setdefault((run["method"], run["seed"]), [])
        for j, settings in same_seed:
            if settings == run["settings"]:
                raise ValueError(f"{path}: runs {j} and {i} repeat each other (method {run['method']!r}, "
                                 f"seed {run['seed']}, the same settings)")
        same_seed.append((i, run["settings"]))
    return dict(data)


def load_benchmark(path: Path | str) -> dict:
    """Read a ``results/bench/<name>.json`` file and check its provenance block."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, Mapping) or "provenance" not in data:
        raise ValueError(f"{path}: lacks the top-level field 'provenance'")
    check_provenance(data["provenance"], str(path))
    return dict(data)


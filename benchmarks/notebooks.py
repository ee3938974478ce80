"""Time every chapter notebook of the book at a given scale, so a reader knows its cost.

    python benchmarks/notebooks.py --scale smoke [--only 01_zero_gradients ...] [--out results/bench/notebooks.json]
    python benchmarks/notebooks.py --scale cpu --from-cache _build/.jupyter_cache

What is timed: each notebook listed in ``_toc.yml`` (``--only`` picks some by stem),
executed from a fresh kernel by ``nbclient`` with the kernel of the Python that runs this
script, in the notebook's folder, with ``DISCGRAD_SCALE`` set to ``--scale`` and
``DISCGRAD_PROGRESS=0``: the wall time from kernel start to the end of the last cell.
Notebooks run one after another; the file keeps one entry per (notebook, scale), so smoke
and cpu entries live side by side and a new run replaces only the entries it measured.

``--from-cache DIR`` records instead the ``execution_seconds`` that jupyter-cache (which
Jupyter Book uses with ``execute_notebooks: cache``) stored for each notebook in a book
build, for those cached records that match the notebook as it is now; the cache does not
record the scale, so ``--scale`` must say what the build ran at.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import yaml

try:
    import discgrad  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from discgrad.results import read_json, results_root, write_json  # noqa: E402
from discgrad.timing import bench_provenance, command_line  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent  # the checkout: _toc.yml and the notebooks


def toc_notebooks(root: Path = ROOT) -> list[str]:
    """The notebooks the toc lists, as ``notebooks/<stem>``, in book order."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node and (root / f"{node[key]}.ipynb").exists():
                    found.append(node[key])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load((root / "_toc.yml").read_text()))
    return found


def execute(name: str, scale: str, timeout: int = 600) -> float:
    """Run ``<name>.ipynb`` from a fresh kernel at ``scale``; return the wall time in seconds."""
    import nbclient
    import nbformat

    path = ROOT / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    env = {"DISCGRAD_SCALE": scale, "DISCGRAD_PROGRESS": "0"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                         resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        client.execute()
        return time.perf_counter() - start
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def from_cache(cache_dir: Path, names: list[str]) -> dict[str, tuple[float, str]]:
    """``(execution_seconds, when executed)`` of jupyter-cache's record per notebook that matches it now."""
    import nbformat
    from jupyter_cache import get_cache

    cache = get_cache(str(cache_dir))
    out = {}
    for name in names:
        nb = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
        try:
            record = cache.match_cache_notebook(nb)
        except KeyError:  # no cached execution of the notebook as it is now
            continue
        seconds = (record.data or {}).get("execution_seconds")
        if seconds is not None:
            out[name] = (float(seconds), record.created.isoformat(timespec="seconds"))
    return out


def merge(path: Path, new: list[dict]) -> list[dict]:
    """The entries of ``path`` with those of ``new`` replacing the same (notebook, scale)."""
    old = read_json(path).get("entries", []) if path.exists() else []
    keys = {(e["notebook"], e["scale"]) for e in new}
    return [e for e in old if (e["notebook"], e["scale"]) not in keys] + new


# The chapters' totals and targets: discgrad.findings.bench_notebooks.


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", required=True, choices=["smoke", "cpu", "gpu"])
    parser.add_argument("--only", nargs="+", default=None, help="notebook stems (default: all in _toc.yml)")
    parser.add_argument("--from-cache", default=None, help="a jupyter-cache folder of a book build")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--out", default=str(results_root() / "bench" / "notebooks.json"))
    args = parser.parse_args(argv)
    names = toc_notebooks()
    if args.only:
        names = [n for n in names if Path(n).name in args.only]
        missing = set(args.only) - {Path(n).name for n in names}
        if missing:
            raise SystemExit(f"not in _toc.yml: {sorted(missing)}")
    load_before = os.getloadavg()
    start = time.perf_counter()
    command = command_line(__file__, argv)
    if args.from_cache:
        # executed by a book build: its date is the cache record's, its load was not recorded
        measured, source = from_cache(Path(args.from_cache), names), "jupyter-cache"
        block = bench_provenance(time.perf_counter() - start, command, load_before, "wall")
        when = {n: d for n, (_, d) in measured.items()}
        measured = {n: s for n, (s, _) in measured.items()}
        load = None
    else:
        measured, source = {}, "nbclient"
        for name in names:
            measured[name] = execute(name, args.scale, args.timeout)
            print(f"{name} at {args.scale}: {measured[name]:.1f} s", flush=True)
        block = bench_provenance(time.perf_counter() - start, command, load_before, "wall")
        when = {n: block["date"] for n in measured}
        load = block["load_average_1min_before_after"]
    entries = [{"notebook": n, "scale": args.scale, "seconds": round(s, 2), "source": source,
                "date": when[n], "git_commit": block["git_commit"],
                "git_dirty": block.get("git_dirty"), "command": command,
                "load_average_1min_before_after": load,
                "cpu_count": block["cpu_count"]} for n, s in measured.items()]
    out = Path(args.out)
    record = {"benchmark": "notebooks", "what_is_timed": __doc__.split("\n\n", 2)[2].strip(),
              "entries": merge(out, entries), "provenance": block}
    write_json(out, record)
    print(f"wrote {out}: {len(entries)} entries from {source} ({block['wall_time_s']:.0f} s)")
    return record


if __name__ == "__main__":
    main()

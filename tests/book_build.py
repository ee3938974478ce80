"""Build the book with execution off into a folder, for the build and browser tests."""
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def build_without_execution(out: Path, *flags: str, execute: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``jupyter-book build`` of the repository into ``out`` with notebook execution off.

    The configuration is copied with ``execute_notebooks: off``; with ``execute`` (notebook
    stems, e.g. ``("17_results_and_guide",)``) those chapters alone are executed, at the
    environment's scale (smoke under pytest), so that their outputs are on the pages.
    """
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    if execute:
        others = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb") if p.stem not in execute)
        config["execute"]["execute_notebooks"] = "force"
        config["execute"]["exclude_patterns"] = [f"*{name}" for name in others]
    else:
        config["execute"]["execute_notebooks"] = "off"
    (out / "_config.yml").write_text(yaml.safe_dump(config))
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    return subprocess.run([str(jupyter_book), "build", str(ROOT), "--config", str(out / "_config.yml"),
                           "--path-output", str(out), "--builder", "html", *flags],
                          capture_output=True, text=True, cwd=ROOT)

"""Each chapter's setup cell works where discgrad is missing, as on Colab.

A fresh virtual environment sees the pinned toolchain (torch, IPython, ...) of the test
environment but not discgrad. The repository is simulated by a clone of this checkout with
the release tag, so the cell's ``pip install "discgrad @ git+<repository>@v<version>"`` runs
for real, against a local address instead of GitHub.
"""
import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import yaml

import discgrad

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _setup_cell(path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    source = cells[0]["source"]
    return "".join(source) if isinstance(source, list) else source


def _run(args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_setup_cells_install_discgrad_in_a_fresh_environment(tmp_path):
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    tag = f"v{discgrad.__version__}"
    # The "repository": a clone of this checkout's HEAD, tagged with the release.
    repo = tmp_path / "repository"
    _run(["git", "clone", "--quiet", str(ROOT), str(repo)])
    _run(["git", "-C", str(repo), "tag", "--force", tag])
    # The "Colab runtime": a fresh venv that sees the toolchain but not discgrad.
    venv = tmp_path / "colab"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip()
    Path(site, "toolchain.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["MPLBACKEND"] = "Agg"
    missing = subprocess.run([str(python), "-c", "import discgrad"], capture_output=True, cwd=tmp_path, env=env)
    assert missing.returncode != 0, "discgrad must be missing before the setup cell runs"

    for i, path in enumerate(NOTEBOOKS):
        cell = _setup_cell(path).replace(f"git+{url}@{tag}", f"git+file://localhost{repo}@{tag}")
        assert f"git+file://localhost{repo}@{tag}" in cell, f"{path.name}: setup cell does not install {url}@{tag}"
        runner = textwrap.dedent(f"""
            from IPython.core.interactiveshell import InteractiveShell
            shell = InteractiveShell.instance()
            result = shell.run_cell({cell!r})
            assert result.success, result.error_in_exec or result.error_before_exec
            import discgrad
            print("FROM", discgrad.__file__)
        """)
        out = _run([str(python), "-c", runner], cwd=tmp_path, env=env)
        assert "scale=" in out and "device=" in out, f"{path.name}: the setup cell printed {out!r}"
        assert f"FROM {site}" in out, f"{path.name}: discgrad was not installed into the fresh environment"


def test_readme_pins_the_release_the_setup_cells_install():
    """The README's install line takes the same release as every chapter's setup cell, after the CPU torch."""
    readme = (ROOT / "README.md").read_text()
    tag = f"v{discgrad.__version__}"
    assert f'pip install "discgrad @ git+https://github.com/discgrad/discgrad@{tag}"' in readme
    assert "--index-url https://download.pytorch.org/whl/cpu" in readme
    assert all(f"discgrad@{tag}" in _setup_cell(p) for p in NOTEBOOKS)

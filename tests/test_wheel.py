"""Every chapter runs from the installed package, as on Colab: the wheel test.

The wheel is built from a copy of this checkout by ``pip wheel`` (what ``pip install .``
does), and installed with ``--no-deps`` into a fresh virtual environment that sees the pinned
toolchain of the test environment (torch, ipykernel, nbclient, ...) but neither discgrad nor
the checkout. Every notebook then runs at the smoke scale from a temporary folder outside
the repository, with a kernel of that environment, and must pass, import discgrad from the
environment and find the recorded results that ship in the wheel (``discgrad/_recorded``).

It takes a few minutes, so it is marked ``wheel``: ``make test`` leaves it out and
``make test-wheel`` runs it; ``.ci/run`` runs both.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: what a chapter prints when it cannot find the recorded cpu results or run times
MISSING = re.compile(r"no committed cpu results|no cpu run recorded|no recorded run time", re.IGNORECASE)
#: folders of a checkout that are not part of it (environments, build outputs, caches)
SKIP = shutil.ignore_patterns(".git", ".venv", "_build", "build", "dist", "*.egg-info", "__pycache__",
                              ".pytest_cache", ".jupyter_cache", ".ipynb_checkpoints", "shared")

DRIVER = textwrap.dedent(r'''
    """Execute notebooks from fresh kernels; write {stem: {seconds, error, stdout}} as JSON."""
    import json, re, sys, time
    from pathlib import Path

    import nbclient
    import nbformat

    out = {}
    for path in map(Path, sys.argv[2:]):
        nb = nbformat.read(path, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell("import discgrad\nprint('DISCGRAD_FILE', discgrad.__file__)"))
        start, error = time.perf_counter(), None
        try:
            nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                    resources={"metadata": {"path": str(path.parent)}}).execute()
        except Exception as err:  # the chapter failed: keep its message, go on with the next
            error = re.sub(r"\x1b\[[0-9;]*m", "", f"{type(err).__name__}: {err}")[-4000:]  # no colours
        stdout = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                         for o in c.get("outputs", []) if o.get("output_type") == "stream")
        out[path.stem] = {"seconds": round(time.perf_counter() - start, 1), "error": error, "stdout": stdout}
        print(f"{path.stem}: {out[path.stem]['seconds']} s{' FAILED' if error else ''}", flush=True)
    Path(sys.argv[1]).write_text(json.dumps(out, indent=1))
''')


def _run(args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Build the wheel, install it in a fresh venv; return its paths and the kernel's environment."""
    tmp = tmp_path_factory.mktemp("wheel")
    checkout = tmp / "checkout"  # not "src": setuptools mistakes a folder of that name for a layout
    shutil.copytree(ROOT, checkout, ignore=SKIP)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp / "dist"), str(checkout)],
         cwd=tmp)
    (wheel,) = (tmp / "dist").glob("discgrad-*.whl")
    venv = tmp / "colab"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    # the toolchain, without the checkout's editable discgrad (its .pth is not processed from here)
    (site / "toolchain.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", str(wheel)])
    _run([str(python), "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3"])
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "DISCGRAD_RESULTS", "JUPYTER_PATH")}
    env.update(DISCGRAD_SCALE="smoke", DISCGRAD_PROGRESS="0", MPLBACKEND="Agg",
               JUPYTER_PATH=str(venv / "share" / "jupyter"), IPYTHONDIR=str(tmp / "ipython"),
               PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    work = tmp / "work"  # the reader's folder, outside the repository
    work.mkdir()
    return {"wheel": wheel, "python": python, "site": site, "env": env, "work": work}


@pytest.fixture(scope="module")
def executed(installed):
    """Every notebook, executed from the installed package: ``{stem: {seconds, error, stdout}}``."""
    folder = installed["work"] / "notebooks"
    folder.mkdir()
    copies = [Path(shutil.copy(path, folder)) for path in NOTEBOOKS]
    (installed["work"] / "driver.py").write_text(DRIVER)
    report = installed["work"] / "executed.json"
    _run([str(installed["python"]), "driver.py", str(report), *map(str, copies)],
         cwd=installed["work"], env=installed["env"])
    return json.loads(report.read_text())


def test_the_wheel_ships_every_recorded_result(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    recorded = sorted(p.relative_to(ROOT / "results").as_posix()
                      for kind in ("cpu", "gpu", "bench") for p in (ROOT / "results" / kind).glob("*.json"))
    assert recorded and all(f"discgrad/_recorded/{name}" in names for name in recorded), sorted(names)


def test_installed_package_reads_its_recorded_results_and_writes_to_the_working_folder(installed):
    code = ("import discgrad.results as r\n"
            "print(r.recorded_root()); print(r.results_root()); print(r.recorded_path('warcraft', 'cpu').is_file())")
    recorded, written, found = _run([str(installed["python"]), "-c", code], cwd=installed["work"],
                                    env=installed["env"]).split()
    assert Path(recorded) == installed["site"] / "discgrad" / "_recorded"
    assert Path(written) == installed["work"] / "results"   # never into site-packages
    assert found == "True"


@pytest.mark.parametrize("name", [p.stem for p in NOTEBOOKS])
def test_every_chapter_runs_from_the_installed_package(executed, installed, name):
    result = executed[name]
    if result["error"]:
        pytest.fail(f"{name} failed from the installed wheel:\n{result['error']}", pytrace=False)
    assert f"DISCGRAD_FILE {installed['site'] / 'discgrad'}" in result["stdout"], (
        f"{name} did not import discgrad from the fresh environment")
    missing = [line for line in result["stdout"].splitlines() if MISSING.search(line)]
    assert not missing, f"{name} did not find the recorded results in the installed package: {missing}"

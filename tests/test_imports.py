"""The package's import layering (DESIGN.md sec. 10): light modules stay light.

Each check runs in a fresh interpreter, so what other tests imported does not count.
"""
import ast
import json
import subprocess
import sys
from pathlib import Path

import discgrad

EXPERIMENTS = Path(discgrad.__file__).parent / "experiments"
# what the experiments share; every other module in experiments/ is an experiment
SHARED = {"__init__", "runner", "summary", "methods", "task"}


def loaded_after(statement: str) -> set:
    """The module names in ``sys.modules`` after running ``statement`` in a fresh interpreter."""
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_solvers_load_no_plotting_estimators_or_experiments():
    loaded = loaded_after("import discgrad.solvers")
    for heavy in ("matplotlib", "discgrad.estimators", "discgrad.experiments", "discgrad.plot",
                  "discgrad.results"):
        assert heavy not in loaded, f"import discgrad.solvers loads {heavy}"


def test_top_level_names_are_lazy_and_complete():
    loaded = loaded_after("import discgrad")
    assert "matplotlib" not in loaded and "discgrad.estimators" not in loaded
    assert set(discgrad.__all__) <= set(dir(discgrad))
    for name in discgrad.__all__:
        assert getattr(discgrad, name) is not None, name
    from discgrad import DAB
    from discgrad.estimators import DAB as dab

    assert DAB is dab and discgrad.Identity.__module__ == "discgrad.estimators.identity"


def test_summary_imports_no_experiment():
    experiments = {p.stem for p in EXPERIMENTS.glob("*.py")} - SHARED
    assert experiments, "no experiment modules found"
    loaded = loaded_after("import discgrad.experiments.summary")
    wrong = sorted(f"discgrad.experiments.{name}" for name in experiments
                   if f"discgrad.experiments.{name}" in loaded)
    assert not wrong, f"import discgrad.experiments.summary loads {wrong}"


def imported_modules(module: str) -> set:
    """Every ``discgrad`` module that ``discgrad/<module>.py`` imports, at any depth of its code."""
    tree = ast.parse((Path(discgrad.__file__).parent / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            parent = ".".join(filter(None, ["discgrad" if node.level else "", node.module]))
            names.add(parent)
            names.update(f"{parent}.{alias.name}" for alias in node.names)  # from . import results
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_scale_and_results_do_not_import_each_other():
    # results may read the scale, never the other way round; chapter.py reads both
    assert not {"discgrad.results", "discgrad.chapter"} & imported_modules("scale")
    assert "discgrad.chapter" not in imported_modules("results")
    assert "discgrad.results" not in loaded_after("import discgrad.scale")


def test_no_experiment_imports_the_findings():
    # the chapters' claims (discgrad.findings) sit above the experiments, never below them
    for path in sorted(EXPERIMENTS.glob("*.py")):
        wrong = sorted(m for m in imported_modules(f"experiments/{path.stem}")
                       if m == "discgrad.findings" or m.startswith("discgrad.findings."))
        assert not wrong, f"discgrad.experiments.{path.stem} imports {wrong}"

"""The overview of chapter 17: built from results/ only, and loud about a missing source."""
import json
import shutil
from pathlib import Path

import pytest

from discgrad.findings.overview import (COLUMNS, TASKS, Cell, Task, best_columns, cost_overview,
                                        html_cost, html_overview, overview, task_cells)
from discgrad.results import results_root

ROOT = results_root()


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.experiment)
def test_every_cell_of_the_committed_cpu_table_has_a_source_with_provenance(task):
    cells = task_cells(task, "cpu")
    assert cells, f"{task.label}: no cell filled"
    for column, cell in cells.items():
        assert cell.source == ROOT / "cpu" / f"{task.experiment}.json"
        assert cell.seeds >= 3, f"{task.label} / {column}: only {cell.seeds} seeds"
        runs = [r for r in json.loads(cell.source.read_text())["runs"] if r["method"] == cell.method]
        assert runs and all(r["provenance"]["git_commit"] and r["provenance"]["command"] for r in runs)


def test_every_experiment_with_committed_cpu_results_is_a_row():
    rows = {t.experiment for t in TASKS}
    committed = {p.stem for p in (ROOT / "cpu").glob("*.json")}
    assert committed <= rows, f"results without a row in the overview: {sorted(committed - rows)}"


def _copy(tmp_path, name):
    (tmp_path / "cpu").mkdir(exist_ok=True)
    shutil.copy(ROOT / "cpu" / f"{name}.json", tmp_path / "cpu" / f"{name}.json")
    return tmp_path / "cpu" / f"{name}.json"


def test_a_missing_results_file_fails_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="warcraft.json is missing"):
        task_cells(next(t for t in TASKS if t.experiment == "warcraft"), "cpu", tmp_path)


def test_a_run_without_provenance_fails_naming_it(tmp_path):
    task = next(t for t in TASKS if t.experiment == "warcraft")
    path = _copy(tmp_path, "warcraft")
    data = json.loads(path.read_text())
    del data["runs"][2]["provenance"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="run 2: run lacks the field 'provenance'"):
        task_cells(task, "cpu", tmp_path)


def test_a_method_the_file_does_not_hold_fails(tmp_path):
    _copy(tmp_path, "warcraft")
    task = Task("w", "warcraft", "test_cost_ratio", True, {"Blackbox": ("blackbox_typo",)})
    with pytest.raises(ValueError, match="no run of method 'blackbox_typo'"):
        task_cells(task, "cpu", tmp_path)


def test_an_unknown_column_is_refused():
    with pytest.raises(ValueError, match="unknown columns"):
        Task("t", "x", "m", True, {"Idnetity": ("a",)})


def test_the_best_of_several_methods_fills_a_column_in_the_metric_direction(tmp_path):
    _copy(tmp_path, "warcraft")
    lower = Task("w", "warcraft", "test_cost_ratio", True,
                 {"Identity, no projection": ("identity", "identity_noise")})
    higher = Task("w", "warcraft", "test_accuracy", False,
                  {"Identity, no projection": ("identity", "identity_noise")})
    runs = json.loads((tmp_path / "cpu" / "warcraft.json").read_text())["runs"]

    def mean(method, metric):
        values = [r["metrics"][metric] for r in runs if r["method"] == method]
        return sum(values) / len(values)

    low = task_cells(lower, "cpu", tmp_path)["Identity, no projection"]
    assert low.mean == pytest.approx(min(mean(m, "test_cost_ratio") for m in ("identity", "identity_noise")))
    high = task_cells(higher, "cpu", tmp_path)["Identity, no projection"]
    assert high.mean == pytest.approx(max(mean(m, "test_accuracy") for m in ("identity", "identity_noise")))


def test_best_is_marked_and_tables_render():
    table = overview(TASKS)
    page = html_overview(TASKS, table)
    assert page.count("<tr>") == len(TASKS) + 1
    for task in TASKS:
        for column in best_columns(task, table[task.label]):
            cell = table[task.label][column]
            assert f"<b>{cell.mean:.3g}<br>±" in page
    costs = cost_overview(TASKS, table)
    assert all(costs[t.label]["Identity, best projection"][1] == pytest.approx(1.0) for t in TASKS
               if "Identity, best projection" in costs[t.label])
    assert html_cost(TASKS, costs).count("<tr>") == len(TASKS) + 1
    assert len(COLUMNS) == 8


def test_best_columns_keeps_exact_ties():
    task = Task("t", "x", "acc", False, {"Blackbox": ("b",), "DAB": ("d",)})
    cell = Cell("m", 0.5, 0.0, 3, 1.0, None, Path("x"))
    assert best_columns(task, {"Blackbox": cell, "DAB": cell}) == ["Blackbox", "DAB"]


def test_findings_of_the_committed_cpu_table_are_what_chapter_17_states():
    from discgrad.findings.overview import FINDINGS, findings

    assert findings(TASKS, overview(TASKS, "cpu")) == FINDINGS["cpu"]


def test_findings_change_when_the_results_do(tmp_path):
    from discgrad.findings.overview import FINDINGS, findings

    for name in {t.experiment for t in TASKS}:
        _copy(tmp_path, name)
    path = tmp_path / "cpu" / "warcraft.json"
    data = json.loads(path.read_text())
    for run in data["runs"]:  # make DAB the best on Warcraft
        if run["method"] == "dab":
            run["metrics"]["test_cost_ratio"] = 100.0
    path.write_text(json.dumps(data))
    found = findings(TASKS, overview(TASKS, "cpu", tmp_path))
    assert found["dab_best_nowhere"] is False and found["perturbed_best_where_it_ran"] is False
    assert found != FINDINGS["cpu"]


def test_a_protocol_row_chooses_on_validation_and_compares_paired(tmp_path):
    from discgrad.findings.overview import _compare, cell_note

    _copy(tmp_path, "l2x")
    path = tmp_path / "cpu" / "l2x.json"
    data = json.loads(path.read_text())
    for run in data["runs"]:  # make I-MLE's worst validation variant its best on test
        if run["method"] == "imle" and run["settings"]["variant"]["lam"] == 10000.0:
            run["metrics"]["test_mse"] = 0.0
    path.write_text(json.dumps(data))
    task = Task("l", "l2x", "test_mse", True, {
        "I-MLE": ("imle",), "Identity, best projection": (("identity", {"projection": "std"}),)},
        where={"k": 10})
    cells = task_cells(task, "cpu", tmp_path)
    imle = cells["I-MLE"]
    assert imle.chosen_on == "validation" and imle.variant == {"lam": 1000.0} and imle.n_variants == 3
    assert cell_note(imle) == "imle (lam=1000.0); 1 of 3, val."
    assert cells["Identity, best projection"].n_variants == 1 and len(imle.by_seed) == 10
    # the paired verdict: one seed's gain flips nothing that the pairing does not see
    assert _compare(task, cells, "Identity, best projection", "I-MLE") == "on par"


def test_a_row_without_the_protocol_still_says_it_chose_on_test():
    cells = task_cells(next(t for t in TASKS if t.experiment == "warcraft"), "cpu")
    assert {c.chosen_on for c in cells.values()} == {"test"}


def test_command_line_prints_the_table(capsys):
    from discgrad.findings import overview as module

    with pytest.raises(SystemExit) as done:
        module.main(["--help"])
    assert done.value.code == 0 and "chapter 17" in capsys.readouterr().out
    table = module.main([])
    out = capsys.readouterr().out
    assert all(task.label in out for task in module.TASKS) and set(table) == {t.label for t in module.TASKS}

"""The overview of chapter 17: built from results/ only, under the comparison protocol, and loud
about a missing source."""
import json
import shutil
from pathlib import Path

import pytest

from discgrad.chapter import DISPLAY_NAMES
from discgrad.experiments.summary import mean_std, paired_difference
from discgrad.findings import protocol
from discgrad.findings.overview import (COLUMNS, FINDINGS, PAIRS, TASKS, Cell, Task, against_best,
                                        best_columns, cell_note, cost_overview, decimals, findings,
                                        html_cost, html_overview, is_official, method_name, overview,
                                        plot_guide, plot_overview, provenance_line, task_cells, versus)
from discgrad.results import load_results, recorded_root

ROOT = recorded_root()


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.label)
def test_every_cell_of_the_committed_cpu_table_has_a_source_with_provenance(task):
    cells = task_cells(task, "cpu")
    assert cells, f"{task.label}: no cell filled"
    for column, cell in cells.items():
        assert cell.source == ROOT / "cpu" / f"{task.experiment}.json"
        assert cell.seeds >= 5, f"{task.label} / {column}: only {cell.seeds} seeds (the protocol asks for 5)"
        runs = [r for r in json.loads(cell.source.read_text())["runs"] if r["method"] == cell.method]
        assert runs and all(r["provenance"]["git_commit"] and r["provenance"]["command"] for r in runs)
        assert all("variant" in r["settings"] for r in runs)


def test_every_experiment_with_committed_cpu_results_is_a_row():
    rows = {t.experiment for t in TASKS}
    committed = {p.stem for p in (ROOT / "cpu").glob("*.json")}
    assert committed <= rows, f"results without a row in the overview: {sorted(committed - rows)}"


def _copy(tmp_path, name):
    (tmp_path / "cpu").mkdir(exist_ok=True)
    shutil.copy(ROOT / "cpu" / f"{name}.json", tmp_path / "cpu" / f"{name}.json")
    return tmp_path / "cpu" / f"{name}.json"


def _warcraft():
    return next(t for t in TASKS if t.experiment == "warcraft")


def test_a_missing_results_file_fails_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="warcraft.json is missing"):
        task_cells(_warcraft(), "cpu", tmp_path)


def test_a_run_without_provenance_fails_naming_it(tmp_path):
    path = _copy(tmp_path, "warcraft")
    data = json.loads(path.read_text())
    del data["runs"][2]["provenance"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="run 2: run lacks the field 'provenance'"):
        task_cells(_warcraft(), "cpu", tmp_path)


def test_a_file_recorded_before_the_protocol_fails_naming_it(tmp_path):
    path = _copy(tmp_path, "warcraft")
    data = json.loads(path.read_text())
    first = next(r["settings"]["variant"] for r in data["runs"] if r["method"] == "blackbox")
    data["runs"] = [r for r in data["runs"] if r["method"] != "blackbox" or r["settings"]["variant"] == first]
    for run in data["runs"]:  # one blackbox variant, as a file from before the protocol had
        if run["method"] == "blackbox":
            del run["settings"]["variant"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"not recorded under the comparison protocol .*\['blackbox'\]"):
        task_cells(_warcraft(), "cpu", tmp_path)


def test_a_method_the_file_does_not_hold_fails(tmp_path):
    _copy(tmp_path, "warcraft")
    task = Task("w", "warcraft", "test_cost_ratio", True, {"Blackbox": ("blackbox_typo",)})
    with pytest.raises(ValueError, match="no run of method 'blackbox_typo'"):
        task_cells(task, "cpu", tmp_path)


def test_an_unknown_column_or_a_metric_of_no_split_is_refused():
    with pytest.raises(ValueError, match="unknown columns"):
        Task("t", "x", "test_m", True, {"Idnetity": ("a",)})
    with pytest.raises(ValueError, match="must be a test metric"):
        Task("t", "x", "accuracy", True, {})


def _variant_means(runs, method, metric, where):
    groups = {}
    for r in runs:
        if r["method"] == method and all(r["settings"].get(k) == v for k, v in where.items()):
            groups.setdefault(repr(sorted(r["settings"]["variant"].items())), []).append(r)
    return {key: (mean_std([r["metrics"][f"val_{metric}"] for r in members])[0],
                  mean_std([r["metrics"][f"test_{metric}"] for r in members])[0]) for key, members in groups.items()}


@pytest.mark.parametrize("metric, lower", [("cost_ratio", True), ("accuracy", False)])
def test_the_best_validation_candidate_fills_a_column_in_the_metric_direction(tmp_path, metric, lower):
    _copy(tmp_path, "warcraft")
    task = Task("w", "warcraft", f"test_{metric}", lower,
                {"Identity, best projection": ("identity", "identity_noise")}, where={"loss": "absolute"})
    runs = json.loads((tmp_path / "cpu" / "warcraft.json").read_text())["runs"]
    candidates = [v for m in ("identity", "identity_noise")
                  for v in _variant_means(runs, m, metric, task.where).values()]
    pick = (min if lower else max)(candidates, key=lambda vt: vt[0])
    cell = task_cells(task, "cpu", tmp_path)["Identity, best projection"]
    assert cell.mean == pytest.approx(pick[1]) and cell.n_variants == len(candidates)


def test_a_protocol_row_chooses_on_validation_and_compares_paired(tmp_path):
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
    assert imle.variant == {"lam": 1000.0} and imle.n_variants == 3
    assert cell_note(task, imle) == "I-MLE (lam=1000); 1 of 3"
    assert cells["Identity, best projection"].n_variants == 1 and len(imle.by_seed) == 10
    expected = paired_difference(cells["Identity, best projection"].by_seed, imle.by_seed, False).verdict
    assert versus(task, cells, "Identity, best projection", "I-MLE") == expected
    assert versus(task, cells, "Identity, best projection", "DAB") is None


def test_a_cell_flags_a_curve_still_moving_and_a_loss_to_the_untrained_network(tmp_path):
    path = _copy(tmp_path, "warcraft")
    task = Task("w", "warcraft", "test_cost_ratio", True, {"Blackbox": ("blackbox",)}, where={"loss": "absolute"})
    cell = task_cells(task, "cpu", tmp_path)["Blackbox"]
    runs = [r for r in load_results(path)["runs"] if r["method"] == "blackbox" and r["settings"]["variant"] == cell.variant]
    assert cell.still_moving == protocol.still_moving(runs, "cost_ratio")
    assert cell.beats_untrained == protocol.beats_untrained(runs, "cost_ratio", higher_is_better=False)
    data = json.loads(path.read_text())
    for run in data["runs"]:  # every blackbox curve falls steadily to the end, and ends above the untrained
        if run["method"] == "blackbox":
            run["history"]["val_cost_ratio"] = [200.0 - e for e in range(len(run["history"]["val_cost_ratio"]))]
            run["metrics"]["test_cost_ratio"] = run["metrics"]["untrained_test_cost_ratio"] + 1.0 + run["seed"] / 10
    path.write_text(json.dumps(data))
    moved = task_cells(task, "cpu", tmp_path)["Blackbox"]
    assert moved.still_moving and not moved.beats_untrained


def test_best_is_marked_and_tables_render_with_one_precision_per_row():
    table = overview(TASKS)
    page = html_overview(TASKS, table, "Table 17.1.")
    assert page.count("<tr>") == len(TASKS) + 1 and "overflow-x: auto" in page and "Table 17.1." in page
    for task in TASKS:
        digits = decimals(table[task.label])
        for column in best_columns(task, table[task.label]):
            cell = table[task.label][column]
            assert f"<b>{cell.mean:.{digits}f}<br>± {cell.std:.{digits}f}</b>" in page
    costs = cost_overview(TASKS, table)
    assert all(costs[t.label]["Identity, best projection"][1] == pytest.approx(1.0) for t in TASKS
               if "Identity, best projection" in costs[t.label])
    assert html_cost(TASKS, costs).count("<tr>") == len(TASKS) + 1
    assert len(COLUMNS) == 8


def test_every_chosen_method_has_a_display_name():
    table = overview(TASKS)
    for task in TASKS:
        for cell in table[task.label].values():
            assert method_name(task, cell.method) in DISPLAY_NAMES.values(), (task.label, cell.method)


def test_best_columns_keeps_exact_ties():
    task = Task("t", "x", "test_acc", False, {"Blackbox": ("b",), "DAB": ("d",)})
    cell = Cell("m", 0.5, 0.0, 3, 1.0, None, Path("x"))
    assert best_columns(task, {"Blackbox": cell, "DAB": cell}) == ["Blackbox", "DAB"]


def test_against_best_reads_the_paired_interval():
    task = Task("t", "x", "test_acc", False, {c: ("m",) for c in ("Blackbox", "DAB", "I-MLE")})

    def cell(values):
        return Cell("m", sum(values) / len(values), 0.0, len(values), 1.0, None, Path("x"),
                    by_seed=dict(enumerate(values)))

    cells = {"Blackbox": cell([0.9, 0.8, 0.85]), "DAB": cell([0.5, 0.6, 0.55]), "I-MLE": cell([0.95, 0.5, 0.8])}
    assert against_best(task, cells) == {"Blackbox": "best", "I-MLE": "on par", "DAB": "worse"}


def test_findings_of_the_committed_cpu_table_are_what_chapter_17_states():
    assert findings(TASKS, overview(TASKS, "cpu")) == FINDINGS["cpu"]
    assert set(FINDINGS["gpu"]) <= set(FINDINGS["cpu"]) and FINDINGS["gpu"]
    assert set(PAIRS) <= set(FINDINGS["cpu"])


def test_findings_change_when_the_results_do(tmp_path):
    for name in {t.experiment for t in TASKS}:
        _copy(tmp_path, name)
    path = tmp_path / "cpu" / "warcraft.json"
    data = json.loads(path.read_text())
    for run in data["runs"]:  # make DAB the best on Warcraft
        if run["method"] == "dab":
            run["metrics"]["test_cost_ratio"] = 1.0 + run["seed"] / 100
    path.write_text(json.dumps(data))
    found = findings(TASKS, overview(TASKS, "cpu", tmp_path))
    assert found["best_column"][_warcraft().label] == "DAB"
    assert found["against_best"][_warcraft().label]["DAB"] == "best"
    assert found["identity_vs_dab"][_warcraft().label] == "worse"
    assert found != FINDINGS["cpu"]


def test_the_figures_draw_what_findings_read():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = overview(TASKS)
    fig, ax = plt.subplots()
    drawn = plot_overview(ax, TASKS, table)
    assert drawn == {(label, column): verdict for label, row in findings(TASKS, table)["against_best"].items()
                     for column, verdict in row.items()}
    assert len(ax.texts) == len(drawn)
    fig2, ax2 = plt.subplots()
    assert plot_guide(ax2, [("question?", "answer")], "else") == ["question?", "answer", "else"]
    plt.close(fig)
    plt.close(fig2)


def test_provenance_is_one_line_per_file():
    path = ROOT / "cpu" / "l2x.json"
    line = provenance_line(path)
    runs = load_results(path)["runs"]
    assert "\n" not in line and line.startswith(f"l2x.json: {len(runs)} runs, 10 seeds")
    assert is_official(path) == ("pilot" not in line)


def test_command_line_prints_the_table(capsys):
    from discgrad.findings import overview as module

    with pytest.raises(SystemExit) as done:
        module.main(["--help"])
    assert done.value.code == 0 and "chapter 17" in capsys.readouterr().out
    table = module.main([])
    out = capsys.readouterr().out
    assert all(task.label in out for task in module.TASKS) and set(table) == {t.label for t in module.TASKS}

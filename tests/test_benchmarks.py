"""The benchmark scripts: their parts on tiny inputs, and the claims on the committed files.

The scripts in ``benchmarks/`` are command-line programs; what they share (``discgrad.timing``)
and what chapter 16 states about their files (``discgrad.findings.bench_*``) is in the package.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import estimators  # noqa: E402
import notebooks  # noqa: E402
import solvers  # noqa: E402
import training  # noqa: E402

from discgrad import timing  # noqa: E402
from discgrad.experiments import warcraft  # noqa: E402
from discgrad.findings import bench_estimators, bench_notebooks, bench_solvers, bench_training  # noqa: E402
from discgrad.results import load_benchmark  # noqa: E402
from discgrad.solvers import TopK  # noqa: E402

BENCH = ROOT / "results" / "bench"


def test_race_times_every_contender_and_returns_its_output():
    for clock in timing.CLOCKS:
        medians, mins, outputs, wall = timing.race({"a": lambda: 1, "b": lambda: sum(range(1000))}, 3, clock)
        assert outputs == {"a": 1, "b": 499500}
        assert all(0 <= mins[k] <= medians[k] for k in medians) and set(wall) == {"a", "b"}
    with pytest.raises(ValueError):
        timing.race({"a": lambda: 1}, repeats=0)
    with pytest.raises(ValueError):
        timing.race({"a": lambda: 1}, repeats=1, clock="gpu")


def test_growth_exponent_recovers_a_power_law():
    assert timing.growth_exponent([1, 2, 4, 8], [3 * x ** 1.5 for x in (1, 2, 4, 8)]) == pytest.approx(1.5)
    assert timing.growth_exponent([1, 2, 4, 8], [3 * x for x in (1, 2, 4, 8)]) != pytest.approx(1.5)


def test_shortest_path_section_scales_the_dijkstra_subset():
    rows = solvers.bench_shortest_path([6], [1, 5], repeats=1, dijkstra_max=2)
    assert [(r["batch"], r["python_dijkstra_instances_timed"]) for r in rows] == [(1, 1), (5, 2)]
    assert all(r["same_path_cost"] for r in rows)
    rows += solvers.bench_shortest_path([8], [1, 5], repeats=1, dijkstra_max=2)
    growth = solvers.shortest_path_growth(rows)
    assert set(growth) == {"1", "5"} and set(growth["5"]) == set(rows[0]["seconds"])


def test_small_solver_sections_agree_with_their_baselines():
    assert len(solvers.bench_tsp(1, batch=3, ns=(4, 5))) == 2          # asserts equal tours inside
    assert solvers.bench_assignment(1, batch=3, ns=(3, 4))[1]["n"] == 4  # asserts equal matchings
    rows = solvers.bench_topk_ranking(1, shapes=((4, 20),), k=3)
    assert [r["solver"] for r in rows] == ["TopK(3)", "Ranking()"]


def test_estimator_bench_counts_the_documented_solver_calls():
    tiny = {"TopK": (TopK(2), torch.randn(4, 6))}
    res = estimators.bench(1, tiny)["TopK"]
    assert res["solver_calls_per_pass"] == {"Identity": 1, "Blackbox": 2, "IMLE": 2, "Perturbed(n=1)": 1,
                                            "Perturbed(n=10)": 10, "Perturbed(n=100)": 100, "DAB": 1}
    assert res["ratio_to_solve"]["Identity"] == res["seconds"]["Identity"] / res["seconds"]["solve"]


def test_training_timer_counts_steps_and_solver_calls(monkeypatch):
    monkeypatch.setenv("DISCGRAD_PROGRESS", "0")
    identity, blackbox = training.reference_methods(warcraft)
    assert (identity, blackbox) == ("identity", "blackbox")
    seconds, calls = training.timed_epoch(warcraft, blackbox, "smoke", 2)
    assert seconds > 0 and calls == 2


def test_notebook_bookkeeping(tmp_path):
    names = notebooks.toc_notebooks()
    assert names[0] == "notebooks/01_zero_gradients" and all((ROOT / f"{n}.ipynb").exists() for n in names)
    out = tmp_path / "nb.json"
    out.write_text(json.dumps({"entries": [{"notebook": "a", "scale": "smoke", "seconds": 1.0},
                                           {"notebook": "a", "scale": "cpu", "seconds": 9.0}]}))
    merged = notebooks.merge(out, [{"notebook": "a", "scale": "smoke", "seconds": 2.0}])
    assert sorted((e["scale"], e["seconds"]) for e in merged) == [("cpu", 9.0), ("smoke", 2.0)]
    t = bench_notebooks.totals({"entries": merged}, ["a"])
    assert t["smoke"]["complete"] and t["smoke"]["under_target"] and t["cpu"]["seconds"] == 9.0
    assert notebooks.from_cache(tmp_path / "empty_cache", names[:1]) == {}


def test_the_package_lists_the_chapters_of_the_toc():
    assert list(bench_notebooks.NOTEBOOKS) == notebooks.toc_notebooks(), (
        "discgrad.findings.bench_notebooks.NOTEBOOKS must list the notebooks of _toc.yml, in order")


@pytest.mark.parametrize("module", [bench_solvers, bench_estimators, bench_training],
                         ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_committed_benchmark_matches_the_chapter(module):
    name = module.__name__.rsplit(".bench_", 1)[-1]
    record = load_benchmark(BENCH / f"{name}.json")
    assert module.findings(record) == module.FINDINGS


def test_the_scripts_name_themselves_in_the_command_they_record():
    assert timing.command_line(str(ROOT / "benchmarks" / "solvers.py"), ["--repeats", "3"]) == (
        "python benchmarks/solvers.py --repeats 3")


@pytest.mark.parametrize("script", ["estimators", "notebooks", "solvers", "training"])
def test_the_scripts_run_from_the_command_line(script):
    out = subprocess.run([sys.executable, f"benchmarks/{script}.py", "--help"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0 and "usage:" in out.stdout, out.stderr


def test_committed_notebook_times_have_provenance():
    record = load_benchmark(BENCH / "notebooks.json")
    names = set(bench_notebooks.NOTEBOOKS)
    assert record["entries"] and all(e["scale"] in ("smoke", "cpu", "gpu") and e["seconds"] > 0
                                     and e["notebook"] in names for e in record["entries"])


def test_user_solver_sections_agree_with_their_baselines():
    import user_solvers  # noqa: E402  (benchmarks/user_solvers.py; asserts equal objectives inside)

    assert [r["batch"] for r in user_solvers.bench_graph_shortest_path([1, 4], 1, "cpu")] == [1, 4]
    assert [r["batch"] for r in user_solvers.bench_knapsack([3], 1, "cpu")] == [3]


def test_recorded_graph_shortest_path_is_ten_times_a_networkx_loop_at_256():
    """Issue 20's bar: batched GraphShortestPath >= 10x a per-instance networkx loop at B = 256
    on PyEPO's 5x5 grid (the script asserts both give the same path costs)."""
    record = load_benchmark(BENCH / "user_solvers.json")
    row = next(r for r in record["results"]["graph_shortest_path"] if r["batch"] == 256)
    assert row["speedup"] >= 10, row
    assert not record["provenance"]["git_dirty"]

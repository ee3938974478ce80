import json
import re

import pytest

from discgrad import results
from discgrad.results import (PROVENANCE_FIELDS, load_benchmark, load_results, provenance,
                              record_run, results_path)


def _record(tmp_path, **overrides):
    args = dict(experiment="demo", method="identity", settings={"lr": 0.1}, seed=0,
                metrics={"accuracy": 0.9}, history={"accuracy": [0.5, 0.9]}, wall_time_s=1.25,
                command="python -m demo", scale="smoke", root=tmp_path)
    args.update(overrides)
    return record_run(**args)


def test_record_and_load_round_trip(tmp_path):
    path = _record(tmp_path)
    assert path == results_path("demo", "smoke", tmp_path)
    data = load_results(path)
    (run,) = data["runs"]
    assert run["method"] == "identity" and run["metrics"] == {"accuracy": 0.9}
    assert run["history"]["accuracy"] == [0.5, 0.9]
    for field in PROVENANCE_FIELDS:
        assert field in run["provenance"]
    assert run["provenance"]["command"] == "python -m demo"
    assert run["provenance"]["scale"] == "smoke"
    assert run["provenance"]["wall_time_s"] == 1.25


def test_rerun_replaces_the_same_run_and_keeps_others(tmp_path):
    _record(tmp_path)
    _record(tmp_path, metrics={"accuracy": 0.95})
    path = _record(tmp_path, seed=1)
    runs = load_results(path)["runs"]
    assert [(r["seed"], r["metrics"]["accuracy"]) for r in runs] == [(0, 0.95), (1, 0.9)]


@pytest.mark.parametrize("field", ["method", "seed", "metrics", "provenance"])
def test_missing_run_field_is_named(tmp_path, field):
    path = _record(tmp_path)
    data = json.loads(path.read_text())
    del data["runs"][0][field]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=f"run 0: run lacks the field '{field}'"):
        load_results(path)


@pytest.mark.parametrize("field", PROVENANCE_FIELDS)
def test_missing_provenance_field_is_named(tmp_path, field):
    path = _record(tmp_path)
    data = json.loads(path.read_text())
    del data["runs"][0]["provenance"][field]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=f"provenance lacks the field '{field}'"):
        load_results(path)


def test_malformed_values_are_named(tmp_path):
    path = _record(tmp_path)
    data = json.loads(path.read_text())
    data["runs"][0]["metrics"]["accuracy"] = "high"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="metric 'accuracy' must be a number"):
        load_results(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_results(path)
    data["runs"][0]["metrics"]["accuracy"] = 0.5
    data["runs"][0]["provenance"]["scale"] = "huge"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="provenance field 'scale' is 'huge'"):
        load_results(path)


def test_benchmark_files_need_provenance(tmp_path):
    good = tmp_path / "bench.json"
    good.write_text(json.dumps({"provenance": provenance(2.0, command="x", scale="bench"), "timings": {}}))
    assert load_benchmark(good)["provenance"]["scale"] == "bench"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"timings": {}}))
    with pytest.raises(ValueError, match="lacks the top-level field 'provenance'"):
        load_benchmark(bad)


def test_committed_results_files_are_valid():
    """Every file under results/ must load: a table cell never comes from a broken file."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "results"
    paths = sorted(root.glob("*/*.json"))
    folders = {path.parent.name for path in paths}
    assert {"cpu", "bench"} <= folders, f"no results file in {root}/{{cpu,bench}}: found only {sorted(folders)}"
    for path in paths:
        if path.parent.name == "bench":
            load_benchmark(path)
        else:
            load_results(path)


def _rewrite(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def test_provenance_records_versions_and_the_working_tree():
    import numpy
    import scipy

    import discgrad

    p = provenance(1.0, command="x", scale="smoke")
    assert (p["numpy_version"], p["scipy_version"]) == (numpy.__version__, scipy.__version__)
    assert p["discgrad_version"] == discgrad.__version__
    assert "+" not in p["git_commit"] and isinstance(p["git_dirty"], bool)
    assert (p["git_diff_sha256"] is None) == (not p["git_dirty"])


def test_files_without_the_newer_provenance_fields_still_load(tmp_path):
    path = _rewrite(_record(tmp_path), lambda d: d["runs"][0].update(
        provenance={k: d["runs"][0]["provenance"][k] for k in PROVENANCE_FIELDS}))
    assert load_results(path)["runs"][0]["provenance"].keys() == set(PROVENANCE_FIELDS)


def _git(root, *args):
    import subprocess

    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True,
                   capture_output=True)


def test_working_tree_hashes_the_diff_and_dirty_trees_are_refused(tmp_path, monkeypatch):
    import hashlib
    import subprocess

    root = tmp_path.resolve()
    monkeypatch.setattr(results, "_PACKAGE_ROOT", root)
    (root / "a.txt").write_text("one\n")
    (root / "results" / "cpu").mkdir(parents=True)
    (root / "results" / "cpu" / "x.json").write_text("{}\n")
    _git(root, "init", "-q")
    _git(root, "add", "a.txt", "results")
    _git(root, "commit", "-q", "-m", "first")
    clean = results.working_tree()
    assert len(clean["commit"]) == 40 and clean["dirty"] is False and clean["diff_sha256"] is None
    assert results.check_clean_tree(False) == clean
    (root / "untracked.txt").write_text("not part of the code\n")
    assert results.working_tree()["dirty"] is False   # untracked files do not count
    (root / "results" / "cpu" / "x.json").write_text('{"runs": []}\n')
    assert results.working_tree()["dirty"] is False   # nor the results the runs write
    (root / "a.txt").write_text("two\n")
    dirty = results.working_tree()
    diff = subprocess.run(["git", "diff", "HEAD", "--no-ext-diff", "--no-color", "--binary", "--", "a.txt"],
                          cwd=root, capture_output=True, check=True).stdout
    assert dirty == {"commit": clean["commit"], "dirty": True, "diff_sha256": hashlib.sha256(diff).hexdigest()}
    with pytest.raises(ValueError, match="uncommitted changes; commit them, or pass --allow-dirty"):
        results.check_clean_tree(False)
    assert results.check_clean_tree(True) == dirty
    p = provenance(1.0, command="x", scale="smoke")
    assert (p["git_commit"], p["git_dirty"], p["git_diff_sha256"]) == (clean["commit"], True, dirty["diff_sha256"])


def test_outside_a_git_checkout_the_commit_is_unknown_and_the_tree_passes(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "_PACKAGE_ROOT", tmp_path.resolve())
    state = results.working_tree()
    assert state["commit"].startswith("unknown (") and state["dirty"] is False
    assert results.check_clean_tree(False) == state


@pytest.mark.parametrize("change,message", [
    (lambda r: r["metrics"].update(accuracy=float("nan")), "metric 'accuracy' is not finite"),
    (lambda r: r["metrics"].update(accuracy=float("inf")), "metric 'accuracy' is not finite"),
    (lambda r: r["metrics"].update(accuracy=True), "metric 'accuracy' must be a number, got True"),
    (lambda r: r.update(seed=True), "field 'seed' must be an integer >= 0, got True"),
    (lambda r: r.update(seed=-1), "field 'seed' must be an integer >= 0, got -1"),
    (lambda r: r["history"].update(accuracy=[0.5, "0.9"]),
     "history 'accuracy' at epoch index 1 must be a finite number, got '0.9'"),
    (lambda r: r["history"].update(accuracy=[float("nan"), 0.9]),
     "history 'accuracy' at epoch index 0 must be a finite number, got nan"),
    (lambda r: r["history"].update(accuracy=[0.5, None]),
     "history 'accuracy' at epoch index 1 must be a finite number, got None"),
    (lambda r: r["history"].update(accuracy=[0.5, False]),
     "history 'accuracy' at epoch index 1 must be a finite number, got False"),
], ids=["nan", "inf", "bool-metric", "bool-seed", "negative-seed", "string", "nan-history", "null", "bool-history"])
def test_bad_numbers_are_refused_by_name(tmp_path, change, message):
    path = _rewrite(_record(tmp_path), lambda d: change(d["runs"][0]))
    with pytest.raises(ValueError, match="run 0: " + re.escape(message)):
        load_results(path)


def test_duplicate_runs_are_refused_naming_both(tmp_path):
    _record(tmp_path, seed=1)
    path = _rewrite(_record(tmp_path), lambda d: d["runs"].append(d["runs"][1]))
    with pytest.raises(ValueError, match=r"runs 1 and 2 repeat each other \(method 'identity', seed 0"):
        load_results(path)
    # the same method and seed with other settings is another run
    _rewrite(path, lambda d: d["runs"][2]["settings"].update(lr=0.2))
    assert len(load_results(path)["runs"]) == 3


def test_a_file_must_agree_with_its_path(tmp_path):
    path = _record(tmp_path)   # <root>/smoke/demo.json
    moved = tmp_path / "cpu" / "demo.json"
    moved.parent.mkdir()
    moved.write_text(path.read_text())
    with pytest.raises(ValueError, match="says experiment 'demo' at scale 'smoke', but its path says 'demo' at 'cpu'"):
        load_results(moved)
    renamed = path.with_name("other.json")
    renamed.write_text(path.read_text())
    with pytest.raises(ValueError, match="but its path says 'other' at 'smoke'"):
        load_results(renamed)
    elsewhere = tmp_path / "copy.json"   # not under a scale folder: no rule about the name
    elsewhere.write_text(path.read_text())
    assert load_results(elsewhere)["experiment"] == "demo"


def test_read_json_is_public_and_names_the_file(tmp_path):
    assert not hasattr(results, "_read_json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        results.read_json(bad)


def test_runs_are_written_and_recorded_results_read_from_the_right_root(tmp_path, monkeypatch):
    checkout, site, work = tmp_path / "checkout", tmp_path / "site-packages", tmp_path / "work"
    for folder in (checkout, site / "discgrad" / "_recorded", work):
        folder.mkdir(parents=True)
    (checkout / "_config.yml").write_text("title: x\n")
    monkeypatch.chdir(work)
    monkeypatch.delenv("DISCGRAD_RESULTS", raising=False)
    # a checkout: both are its results/
    monkeypatch.setattr(results, "_PACKAGE_ROOT", checkout)
    assert results.results_root() == results.recorded_root() == checkout / "results"
    # an installed package: read its copy, write into the working folder, never into site-packages
    monkeypatch.setattr(results, "_PACKAGE_ROOT", site)
    monkeypatch.setattr(results, "RECORDED_PACKAGE_DIR", site / "discgrad" / "_recorded")
    assert results.recorded_root() == site / "discgrad" / "_recorded"
    assert results.recorded_path("warcraft", "cpu") == site / "discgrad" / "_recorded" / "cpu" / "warcraft.json"
    assert results.results_root() == work / "results"
    assert results_path("warcraft", "cpu") == work / "results" / "cpu" / "warcraft.json"
    # installed without the copy: the working folder's results/
    monkeypatch.setattr(results, "RECORDED_PACKAGE_DIR", site / "absent")
    assert results.recorded_root() == work / "results"
    # DISCGRAD_RESULTS wins for both
    monkeypatch.setenv("DISCGRAD_RESULTS", str(tmp_path / "mine"))
    assert results.results_root() == results.recorded_root() == tmp_path / "mine"

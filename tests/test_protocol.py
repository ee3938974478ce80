"""The comparison protocol (design section 11): paired differences, validation selection,
runs recorded as they end, resume, the command line's checks, methods and the Task shape."""
import math

import pytest
import torch
from scipy import stats

from discgrad.experiments import l2x, runner, summary
from discgrad.experiments.methods import Method, MethodLayer
from discgrad.results import load_results, results_path
from discgrad.scale import SCALES
from discgrad.solvers import TopK

# --- the paired comparison -----------------------------------------------------------------


def test_paired_t_interval_matches_scipy():
    a = {s: v for s, v in enumerate([0.91, 0.88, 0.93, 0.90, 0.87])}
    b = {s: v for s, v in enumerate([0.89, 0.87, 0.90, 0.90, 0.85])}
    d = summary.paired_difference(a, b, higher_is_better=True)
    diffs = [a[s] - b[s] for s in a]
    low, high = stats.ttest_1samp(diffs, 0.0).confidence_interval(0.95)
    assert math.isclose(d.low, low, rel_tol=1e-9) and math.isclose(d.high, high, rel_tol=1e-9)
    assert d.verdict == "better" and d.n == 5 and d.method == "paired t"
    # the same numbers read for a loss: a is worse
    assert summary.paired_difference(a, b, higher_is_better=False).verdict == "worse"


def test_pairing_finds_what_the_unpaired_rule_misses():
    # one bad seed for both methods: the spread hides a consistent gain of 0.01
    base = [0.50, 0.90, 0.91, 0.89, 0.92]
    a = {s: v + 0.01 for s, v in enumerate(base)}
    b = dict(enumerate(base))
    unpaired = summary.compare((*summary.mean_std(a.values()), 5), (*summary.mean_std(b.values()), 5),
                               lower_is_better=False)
    assert unpaired == "on par"
    assert summary.paired_difference(a, b, True).verdict == "better"
    assert summary.paired_difference(a, b, True, method="bootstrap").verdict == "better"


def test_on_par_when_the_interval_contains_zero_and_errors():
    a, b = {0: 1.0, 1: 2.0, 2: 1.5}, {0: 1.5, 1: 1.5, 2: 1.5}
    assert summary.paired_difference(a, b, True).verdict == "on par"
    assert summary.paired_difference(a, b, True, method="bootstrap").verdict == "on par"
    with pytest.raises(ValueError, match="NaN or inf"):
        summary.paired_difference({0: float("nan"), 1: 1.0}, {0: 1.0, 1: 1.0}, True)
    with pytest.raises(ValueError, match="at least 2 shared seeds"):
        summary.paired_difference({0: 1.0, 1: 2.0}, {1: 1.0, 2: 2.0}, True)
    with pytest.raises(ValueError, match="'t' or 'bootstrap'"):
        summary.paired_difference(a, b, True, method="z")


def test_summaries_refuse_nan():
    runs = [{"method": "m", "settings": {}, "seed": 0, "metrics": {"acc": float("nan")}}]
    with pytest.raises(ValueError, match="NaN or inf"):
        summary.summarize(runs)
    with pytest.raises(ValueError, match="NaN or inf"):
        summary.compare((float("nan"), 0.1, 3), (0.5, 0.1, 3))


def _run(method, seed, variant, val, test, k=1):
    return {"method": method, "seed": seed, "settings": {"k": k, "variant": variant},
            "metrics": {"val_acc": val, "test_acc": test}}


def test_selection_uses_validation_never_test():
    runs = [_run("m", s, {"lam": 1}, val=0.8, test=0.1) for s in range(3)]  # best on validation
    runs += [_run("m", s, {"lam": 10}, val=0.7, test=0.9) for s in range(3)]  # best on test
    runs += [_run("m", s, {"lam": 1}, val=0.1, test=0.1, k=2) for s in range(3)]
    sel = summary.select_variants(runs, "acc", higher_is_better=True, within={"k": 1})["m"]
    assert sel.variant == {"lam": 1} and sel.n_variants == 2 and len(sel.runs) == 3
    low = summary.select_variants(runs, "acc", higher_is_better=False, within={"k": 1})["m"]
    assert low.variant == {"lam": 10}
    with pytest.raises(ValueError, match="not recorded under the comparison protocol"):
        summary.select_variants([{"method": "m", "seed": 0, "settings": {}, "metrics": {}}], "acc", True)
    with pytest.raises(ValueError, match="seed 0 appears twice"):
        summary.by_seed([_run("m", 0, {}, 1, 1), _run("m", 0, {}, 1, 1)], "test_acc")


# --- the runner ------------------------------------------------------------------------------

def _fake(method, config, seed, max_steps=None, k=1):
    if method == "boom" and seed == 1:
        raise RuntimeError("late failure")
    return {"experiment": "fake", "method": method, "settings": {"k": k}, "seed": seed,
            "metrics": {"loss": float(seed)}, "history": {"loss": [float(seed)]}, "wall_time_s": 0.0,
            "device": "cpu"}


FAKE = runner.Experiment(name="fake", methods=("a", "boom"), configs={s: {} for s in SCALES}, run=_fake)


def test_runs_are_recorded_as_they_end_and_resume_skips_them(tmp_path):
    with pytest.raises(RuntimeError, match="late failure"):
        runner.run_all(FAKE, "smoke", seeds=[0, 1], root=tmp_path)
    path = results_path("fake", "smoke", tmp_path)
    done = [(r["method"], r["seed"]) for r in load_results(path)["runs"]]
    assert done == [("a", 0), ("a", 1), ("boom", 0)]  # nothing finished was lost
    calls = []
    counting = runner.Experiment(name="fake", methods=("a", "boom"), configs=FAKE.configs,
                                 run=lambda m, c, s, **kw: calls.append((m, s)) or _fake(m, c, s, **kw))
    runner.run_all(counting, "smoke", seeds=[0, 1, 2], methods=["a"], root=tmp_path, resume=True)
    assert calls == [("a", 2)]


def test_run_all_checks_its_arguments(tmp_path):
    for kwargs, message in (({"seeds": [-1]}, "seeds must be >= 0"), ({"max_steps": 0}, "max_steps"),
                            ({"workers": 0}, "workers"), ({"seeds": []}, "at least one seed")):
        with pytest.raises(ValueError, match=message):
            runner.run_all(FAKE, "smoke", root=tmp_path, **{"seeds": [0], **kwargs})


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "-2"], "seeds must be >= 0"),
    (["--max-steps", "0"], "must be >= 1"),
    (["--workers", "0"], "must be >= 1"),
    (["--seeds", "x"], "invalid _seed value"),
    (["--fresh", "--resume"], "exclude each other"),
])
def test_command_line_refuses_bad_arguments_before_running(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit):
        runner.main(FAKE, ["--scale", "smoke", "--out", str(tmp_path / "smoke" / "fake.json"), *argv])
    assert message in capsys.readouterr().err


def test_command_line_refuses_a_folder_it_cannot_write_into(capsys, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder\n")  # no folder can be made below a file, even by root
    with pytest.raises(SystemExit):
        runner.main(FAKE, ["--scale", "smoke", "--out", str(blocker / "smoke" / "fake.json")])
    assert "cannot write into" in capsys.readouterr().err
    assert not results_path("fake", "smoke", blocker).exists()


# --- methods and the Task shape ----------------------------------------------------------------

def test_method_layer_is_exact_in_eval_and_checks_its_knobs():
    layer = MethodLayer(Method("identity", grid={"projection": [None, "std"]}), {"projection": "std"}, TopK(2))
    w = torch.randn(4, 6)
    assert torch.equal(layer.eval()(w), TopK(2)(w))
    with pytest.raises(ValueError, match="not knobs"):
        MethodLayer(Method("identity"), {"lam": 1.0}, TopK(2))
    with pytest.raises(ValueError, match="unknown method family"):
        MethodLayer(Method("nope"), {}, TopK(2))
    with pytest.raises(ValueError, match="no perturb"):
        MethodLayer(Method("identity", noisy_input=True), {}, TopK(2))


def test_each_l2x_family_has_a_grid_of_at_least_three():
    assert all(len(m.variants()) >= 3 for m in l2x.METHODS.values())


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("method", l2x.METHODS)
def test_l2x_every_method_variant_and_config_runs_one_step(method, scale, tmp_path):
    # the gpu config is exercised here on the CPU: no GPU run has been made in this project
    k = l2x.CONFIGS[scale]["ks"][-1]
    variants = l2x.METHODS[method].variants()
    for variant in variants if scale == "smoke" else variants[-1:]:  # every knob once, each config once
        result = l2x.TASK.run(method, scale, seed=0, k=k, max_steps=1, variant=variant)
        assert result["settings"]["k"] == k and result["settings"]["variant"] == variant
        assert result["settings"]["steps"] == 1
        assert all(math.isfinite(v) for v in result["metrics"].values())
        assert {"val_mse", "test_mse", "val_precision", "test_precision"} <= set(result["metrics"])
        load_results(runner.record(result, scale, tmp_path))


def test_a_config_passed_down_is_the_config_that_runs():
    config = {**l2x.CONFIGS["smoke"], "epochs": 2, "n_val": 50}
    result = l2x.TASK.run("identity", config, seed=0)
    assert len(result["history"]["val_mse"]) == 2 and result["settings"]["n_val"] == 50


def test_l2x_runs_are_reproducible_and_seeds_differ():
    a, b = (l2x.TASK.run("imle", "smoke", seed=1, max_steps=3) for _ in range(2))
    assert a["metrics"] == b["metrics"]
    assert l2x.TASK.run("imle", "smoke", seed=2, max_steps=3)["metrics"] != a["metrics"]
    with pytest.raises(ValueError, match="unknown method"):
        l2x.TASK.run("blackbox", "smoke")

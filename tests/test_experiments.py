"""The experiments of Part III: the runner (with the discrete VAE of chapter 6 as its test
subject) and one config per scale. The pieces of each experiment have their own test file
(tests/test_dvae.py, tests/test_l2x.py, ...)."""
import itertools
import math

import pytest
import torch

from discgrad.experiments import dvae, l2x, runner, summary
from discgrad.results import load_results, results_path
from discgrad.scale import SCALES

EXPERIMENTS = {"dvae": dvae, "l2x": l2x}


# --- the runner ------------------------------------------------------------------------------

def _fake_run(method, scale, seed, max_steps=None, k=1):
    return {"experiment": "fake", "method": method, "settings": {"k": k, "scale": scale}, "seed": seed,
            "metrics": {"loss": float(seed + k + (method == "b"))}, "history": {"loss": [9.0, float(seed)]},
            "wall_time_s": 0.01, "device": "cpu"}


FAKE = runner.Experiment(name="fake", methods=("a", "b"), configs={s: {"ks": [1, 2]} for s in SCALES},
                         run=_fake_run, variants=lambda c: [{"k": k} for k in c["ks"]], variant_keys=("k",),
                         metrics=("loss",))


def test_run_all_records_every_method_variant_and_seed_with_provenance(tmp_path):
    path = runner.run_all(FAKE, "smoke", seeds=[0, 1], root=tmp_path, command="cmd")
    assert path == results_path("fake", "smoke", tmp_path)
    runs = load_results(path)["runs"]
    assert [(r["settings"]["k"], r["method"], r["seed"]) for r in runs] == list(
        itertools.product([1, 2], ["a", "b"], [0, 1]))
    assert all(r["provenance"]["command"] == "cmd" and r["provenance"]["scale"] == "smoke" for r in runs)
    # rerunning replaces the same runs; fresh starts the file over
    runner.run_all(FAKE, "smoke", seeds=[0], root=tmp_path, methods=["a"])
    assert len(load_results(path)["runs"]) == 8
    runner.run_all(FAKE, "smoke", seeds=[0], root=tmp_path, methods=["a"], fresh=True)
    assert len(load_results(path)["runs"]) == 2
    with pytest.raises(ValueError, match="unknown methods"):
        runner.run_all(FAKE, "smoke", methods=["c"], root=tmp_path)


def test_summaries_group_by_method_and_variant(tmp_path):
    runs = load_results(runner.run_all(FAKE, "cpu", seeds=[0, 1, 2], root=tmp_path))["runs"]
    table = summary.summarize(runs, ["loss"], variant_keys=("k",))
    assert list(table) == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert table[("b", 2)]["loss"] == (4.0, 1.0, 3)  # seeds 0, 1, 2 give 3, 4, 5
    assert summary.mean_curves(runs, "loss", ("k",))[("a", 1)] == [9.0, 1.0]
    md = summary.markdown_table(table, {"loss": "loss"}, ("method", "k"))
    assert md.splitlines()[2] == "| a | 1 | 2 ± 1 | 3 |"
    assert "b 2: loss=4 ± 1 (n=3)" in summary.format_table(table)
    assert math.isnan(summary.mean_std([1.0])[1])


def test_compare_uses_the_seed_spread():
    assert summary.compare((1.0, 0.1, 3), (1.5, 0.1, 3)) == "better"
    assert summary.compare((1.5, 0.1, 3), (1.0, 0.1, 3)) == "worse"
    assert summary.compare((1.0, 0.3, 3), (1.5, 0.3, 3)) == "on par"
    assert summary.compare((1.0, float("nan"), 1), (1.5, float("nan"), 1)) == "better"
    assert summary.compare((0.8, 0.1, 3), (0.5, 0.1, 3), lower_is_better=False) == "better"


def test_torch_threads_restores_the_setting():
    before = torch.get_num_threads()
    with runner.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_command_line_checks_out_and_records(tmp_path, capsys):
    with pytest.raises(SystemExit):
        runner.main(dvae.EXPERIMENT, ["--scale", "smoke", "--out", str(tmp_path / "cpu" / "dvae.json")])
    out = tmp_path / "smoke" / "dvae.json"
    path = runner.main(dvae.EXPERIMENT, ["--scale", "smoke", "--seeds", "3", "--methods", "imle",
                                         "--max-steps", "1", "--out", str(out)])
    assert path == out
    runs = load_results(out)["runs"]  # one run per variant of the grid
    assert [r["settings"]["variant"] for r in runs] == dvae.METHODS["imle"].variants()
    assert all(r["seed"] == 3 and r["settings"]["steps"] == 1 for r in runs)
    assert runs[0]["provenance"]["command"].startswith("python -m discgrad.experiments.dvae --scale smoke")
    assert "test_nelbo=" in capsys.readouterr().out


def test_workers_give_the_same_runs_as_one_process(tmp_path):
    kwargs = dict(scale="smoke", seeds=[0], methods=["identity", "score_function"], max_steps=2)
    one = load_results(runner.run_all(dvae.EXPERIMENT, root=tmp_path / "one", **kwargs))["runs"]
    two = load_results(runner.run_all(dvae.EXPERIMENT, root=tmp_path / "two", workers=2, **kwargs))["runs"]
    assert len(one) == len(two) == len(dvae.METHODS["identity"].variants()) + 1
    # runs are recorded as they end, so the order may differ; the numbers may not
    def key(r):
        return r["method"], str(r["settings"]["variant"]), r["seed"]
    assert [r["metrics"] for r in sorted(one, key=key)] == [r["metrics"] for r in sorted(two, key=key)]


# --- one config per scale --------------------------------------------------------------------

@pytest.mark.parametrize("name", EXPERIMENTS)
def test_each_scale_has_one_config_with_the_same_keys(name):
    configs = EXPERIMENTS[name].CONFIGS
    assert set(configs) == set(SCALES)
    assert len({tuple(sorted(c)) for c in configs.values()}) == 1

"""Sequence sorting through a signum layer (chapter 12): the data, the layers, every config
for one step (the gpu config included, run on the CPU), and the committed results."""
import itertools
import json
import math
from pathlib import Path

import pytest
import torch

from discgrad.data import make_sequences
from discgrad.experiments import runner, sorting
from discgrad.findings import sorting as sorting_findings
from discgrad.results import load_results
from discgrad.scale import SCALES

ROOT = Path(__file__).resolve().parent.parent


def test_sequences_are_deterministic_and_perm_sorts_them():
    a, b = make_sequences(50, 6, seed=3), make_sequences(50, 6, seed=3)
    assert torch.equal(a.x, b.x) and torch.equal(a.perm, b.perm)
    assert ((a.x >= 0) & (a.x < 1)).all()
    assert torch.equal(a.x.gather(1, a.perm), a.x.sort(dim=1).values)
    assert not torch.equal(a.x, make_sequences(50, 6, seed=4).x)
    with pytest.raises(ValueError):
        make_sequences(5, 1, seed=0)


def test_signum_is_the_argmax_of_a_linear_objective_over_the_cube():
    torch.manual_seed(0)
    h = torch.randn(20, 4)
    cube = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=4)))  # (16, 4)
    best = cube[(h @ cube.T).argmax(1)]
    assert torch.equal(sorting.SIGNUM(h), best) and sorting.SIGNUM.sense == "max"
    assert torch.equal(sorting.SIGNUM(torch.zeros(1, 3)), torch.ones(1, 3))


def test_layers_follow_the_method():
    torch.manual_seed(0)
    h = 2 * torch.randn(8, 6)
    g = torch.randn_like(h)
    for method, spec in sorting.METHODS.items():
        layer = sorting.SignumLayer(method, 6)
        x = h.clone().requires_grad_()
        y = layer(x)
        if spec["estimator"] == "none":
            torch.testing.assert_close(y, torch.tanh(h))
            assert layer.bridge_loss is None
            continue
        assert torch.equal(y.detach(), sorting.SIGNUM(h))
        (y * g).sum().backward()
        if spec["estimator"] == "identity":
            torch.testing.assert_close(x.grad, g)
        elif spec["estimator"] == "straight_through":  # zero where |h| > 1
            torch.testing.assert_close(x.grad, g * (h.abs() <= 1))
            assert (h.abs() > 1).any()
        else:  # DAB: the bridge's vector-Jacobian product, and a bridge loss
            assert layer.bridge_loss is not None and layer.bridge_loss > 0
            assert not torch.allclose(x.grad, g) and torch.isfinite(x.grad).all()
    with pytest.raises(ValueError, match="unknown method"):
        sorting.SignumLayer("gumbel", 4)


def test_loss_and_accuracies():
    perm = torch.tensor([[0, 1, 2], [2, 0, 1]])
    perfect = 10 * torch.nn.functional.one_hot(perm, 3).float()
    assert sorting.accuracies(perfect, perm) == (1.0, 1.0)
    assert float(sorting.sort_loss(perfect, perm)) < 1e-3
    assert abs(float(sorting.sort_loss(torch.zeros(2, 3, 3), perm)) - math.log(3)) < 1e-6
    assert sorting_findings.relative_gain(0.5, 0.25) == 1.0


def test_each_scale_has_one_config_with_the_same_keys():
    assert set(sorting.CONFIGS) == set(SCALES)
    assert len({tuple(sorted(c)) for c in sorting.CONFIGS.values()}) == 1
    assert sorting.CONFIGS["cpu"]["lengths"] == [5] and sorting.CONFIGS["gpu"]["lengths"] == [5, 10]


@pytest.mark.parametrize("method", sorting.METHODS)
def test_every_method_runs_one_step_at_smoke_scale(method, tmp_path):
    result = sorting.run(method, "smoke", seed=0, max_steps=1)
    assert result["settings"]["steps"] == 1
    assert all(math.isfinite(v) for v in result["metrics"].values())
    assert ("test_bridge_error" in result["history"]) == (method == "dab")
    load_results(runner.record(result, "smoke", tmp_path))


@pytest.mark.parametrize("method", ["dab", "tanh"])
def test_gpu_config_runs_one_step_on_the_cpu(method, monkeypatch):
    # no GPU run has been made for this chapter: the gpu config (width 256, sequences of
    # 10) is exercised here on the CPU, with fewer sequences
    config = sorting.CONFIGS["gpu"]
    monkeypatch.setitem(config, "n_train", 400)
    monkeypatch.setitem(config, "n_test", 100)
    result = sorting.run(method, "gpu", seed=0, length=10, max_steps=1)
    assert result["settings"]["length"] == 10 and result["settings"]["hidden"] == 256
    assert result["settings"]["steps"] == 1
    assert all(math.isfinite(v) for v in result["metrics"].values())


def test_findings_reject_incomplete_results_and_can_fail():
    with pytest.raises(ValueError, match="lack the"):
        sorting_findings.findings([])
    runs = load_results(ROOT / "results" / "cpu" / "sorting.json")["runs"]
    changed = json.loads(json.dumps(runs))
    for run in changed:
        if run["method"] == "dab":
            run["metrics"]["test_accuracy"] = 0.0
    found = sorting_findings.findings(changed)
    assert found["dab_better_than_straight_through"] is False and found["dab_gain_77pct"] is False
    for run in changed:
        if run["method"] == "dab":
            run["history"]["test_bridge_error"][-1] = 10.0
    assert sorting_findings.findings(changed)["bridge_learns"] is False

"""Digit classification through a top-k layer (chapter 13): the layers, every config for one
step (the gpu config included, run on the CPU), and the committed results."""
import json
import math
from pathlib import Path

import pytest
import torch

from discgrad.experiments import dab_classification as dc
from discgrad.experiments import runner
from discgrad.findings import dab_classification as dc_findings
from discgrad.results import load_results
from discgrad.scale import SCALES
from discgrad.solvers import TopK

ROOT = Path(__file__).resolve().parent.parent


def test_soft_topk_is_centred_on_the_topk_threshold():
    torch.manual_seed(0)
    w = torch.randn(30, 12)
    s = dc.soft_topk(w, 4)
    assert torch.equal(s > 0.5, TopK(4)(w).bool())  # above 1/2 exactly on the top 4
    assert ((s > 0) & (s < 1)).all()
    # the threshold carries no gradient: d s_i / d w_i = s_i (1 - s_i), nothing across
    x = w[:1].clone().requires_grad_()
    dc.soft_topk(x, 4)[0, 0].backward()
    expected = torch.zeros(12)
    expected[0] = s[0, 0] * (1 - s[0, 0])
    torch.testing.assert_close(x.grad[0], expected)


def test_layers_follow_the_method():
    torch.manual_seed(0)
    w = torch.randn(8, 10)
    g = torch.randn_like(w)
    for method, spec in dc.METHODS.items():
        layer = dc.TopKLayer(method, 10, 3)
        x = w.clone().requires_grad_()
        y = layer(x)
        if spec["estimator"] == "none":
            torch.testing.assert_close(y, torch.tanh(w))
            continue
        assert torch.equal(y.detach(), TopK(3)(w))
        (y * g).sum().backward()
        if spec["estimator"] == "identity":  # TopK is a max solver: +g
            torch.testing.assert_close(x.grad, g)
        elif spec["estimator"] == "straight_through":
            s = dc.soft_topk(w, 3)
            torch.testing.assert_close(x.grad, g * s * (1 - s))
        else:
            assert layer.layer.bridge_loss is not None and layer.layer.bridge_loss > 0
            assert torch.isfinite(x.grad).all() and not torch.allclose(x.grad, g)
    with pytest.raises(ValueError, match="unknown method"):
        dc.TopKLayer("gumbel", 10, 3)


def test_each_scale_has_one_config_with_the_same_keys():
    assert set(dc.CONFIGS) == set(SCALES)
    assert len({tuple(sorted(c)) for c in dc.CONFIGS.values()}) == 1


@pytest.mark.parametrize("method", dc.METHODS)
def test_every_method_runs_one_step_at_smoke_scale(method, tmp_path):
    result = dc.run(method, "smoke", seed=0, max_steps=1)
    assert result["settings"]["steps"] == 1
    assert all(math.isfinite(v) for v in result["metrics"].values())
    assert ("test_bridge_error" in result["history"]) == (method == "dab")
    load_results(runner.record(result, "smoke", tmp_path))


@pytest.mark.parametrize("method", ["dab", "straight_through"])
def test_gpu_config_runs_one_step_on_the_cpu(method):
    # no GPU run has been made for this chapter: the gpu config is exercised on the CPU
    result = dc.run(method, "gpu", seed=0, max_steps=1)
    assert result["settings"]["hidden"] == 256 and result["settings"]["k"] == 64
    assert result["settings"]["steps"] == 1
    assert all(math.isfinite(v) for v in result["metrics"].values())


def test_findings_reject_incomplete_results_and_can_fail():
    with pytest.raises(ValueError, match="lack the"):
        dc_findings.findings([])
    runs = load_results(ROOT / "results" / "cpu" / "dab_classification.json")["runs"]
    changed = json.loads(json.dumps(runs))
    for run in changed:
        if run["method"] == "straight_through":
            run["metrics"]["test_accuracy"] = 0.5
    found = dc_findings.findings(changed)
    assert found["dab_better_than_straight_through"] is True and found["all_learn"] is False
    assert found["dab_gain_25pct"] is True

"""Chapter 9's experiment: the recall loss, the batch scores, Recall@K, every config for
one step (the gpu config included, run on the CPU), and the committed cpu results."""
import json
import math
from pathlib import Path

import pytest
import torch

from discgrad import Blackbox, Identity
from discgrad.data import load_retrieval_digits
from discgrad.experiments import retrieval, runner
from discgrad.findings import retrieval as retrieval_findings
from discgrad.losses import recall_loss
from discgrad.results import load_results
from discgrad.scale import SCALES
from discgrad.solvers import Ranking

ROOT = Path(__file__).resolve().parent.parent


def test_recall_loss_counts_negatives_above_each_positive():
    torch.manual_seed(0)
    scores = torch.randn(50, 12)
    positive = (torch.rand(50, 12) < 0.3).float()
    ranks = Ranking()(scores)
    loss = recall_loss(ranks, positive)
    # brute force: for each positive, the negatives with a higher score
    for q in range(50):
        terms = [math.log1p(math.log1p(float(((scores[q] > scores[q, p]) & (positive[q] == 0)).sum())))
                 for p in range(12) if positive[q, p] == 1]
        expected = sum(terms) / len(terms) if terms else 0.0
        assert float(loss[q]) == pytest.approx(expected, abs=1e-6)
    # zero exactly when every positive is ranked above every negative
    perfect = torch.where(positive.bool(), scores + 100, scores)
    assert float(recall_loss(Ranking()(perfect), positive).abs().max()) == 0.0
    with pytest.raises(ValueError, match="must both be"):
        recall_loss(ranks, positive[:, :3])


def test_identity_without_projection_sends_gradient_to_positives_only():
    torch.manual_seed(1)
    scores = torch.randn(8, 10, requires_grad=True)
    positive = (torch.rand(8, 10) < 0.4).float()
    recall_loss(Identity(Ranking())(scores), positive).sum().backward()
    assert (scores.grad[positive == 0] == 0).all()
    # a positive with negatives above it is pushed up: its score's gradient is negative
    assert (scores.grad[positive == 1] <= 0).all() and (scores.grad < 0).any()
    scores.grad = None
    recall_loss(Blackbox(Ranking(), lam=5.0)(scores), positive).sum().backward()
    assert (scores.grad[positive == 0] != 0).any()  # Blackbox also moves negatives


def test_dab_layer_sends_the_bridge_vjp_and_reports_its_imitation(tmp_path):
    torch.manual_seed(2)
    layer = retrieval.make_layer("dab", 10)
    scores = torch.randn(8, 10, requires_grad=True)
    positive = (torch.rand(8, 10) < 0.4).float()
    ranks = layer(scores)
    assert torch.equal(ranks, Ranking()(scores))  # the exact ranks forward
    recall_loss(ranks, positive).sum().backward()
    g = torch.autograd.grad(recall_loss(Identity(Ranking())(scores), positive).sum(), scores)[0]
    s_ = scores.detach().clone().requires_grad_(True)
    expected, = torch.autograd.grad(layer.bridge(s_), s_, -g)  # dL/dranks = -dL/dscores for Identity
    torch.testing.assert_close(scores.grad, expected)
    assert (scores.grad[positive == 0] != 0).any()  # dense: negatives move too
    assert all(p.grad is None for p in layer.parameters())
    layer.bridge_loss.backward()
    assert all(p.grad is not None for p in layer.parameters())
    # the rank correlation of a bridge output: 1 for the ranks themselves, -1 reversed
    r = Ranking()(scores.detach())
    assert float(retrieval.spearman(r, r)) == pytest.approx(1.0)
    assert float(retrieval.spearman(-r, r)) == pytest.approx(-1.0)
    result = retrieval.run("dab", "smoke", seed=0, max_steps=2)
    assert {"test_bridge_error", "test_bridge_spearman", "train_bridge_error"} <= set(result["metrics"])
    # the untrained embedding of a run's seed is the one run() starts from
    assert retrieval_findings.untrained_recall([result])[2] == 1


def test_batch_scores_and_recall_at_k():
    z = torch.nn.functional.normalize(torch.randn(6, 4), dim=1)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    scores, positive = retrieval.batch_scores(z, labels)
    assert scores.shape == (6, 5) and positive.sum(1).tolist() == [1.0] * 6
    torch.testing.assert_close(scores[0], (z[1:] @ z[0]))
    r = retrieval.recall_at(z, labels)
    assert list(r) == ["recall@1", "recall@2", "recall@4", "recall@8"]
    assert r["recall@8"] == 1.0 and all(0 <= v <= 1 for v in r.values())
    assert [r[f"recall@{k}"] for k in (1, 2, 4)] == sorted(r[f"recall@{k}"] for k in (1, 2, 4))


def test_data_split_has_disjoint_classes():
    d = load_retrieval_digits()
    assert set(d.y_train.tolist()) == set(retrieval.TRAIN_CLASSES)
    assert set(d.y_test.tolist()) == set(retrieval.TEST_CLASSES)
    assert len(d.x_train) + len(d.x_test) == 1797
    assert torch.equal(d.x_test, load_retrieval_digits().x_test)  # fixed corruption


def test_each_scale_has_one_config_with_the_same_keys():
    assert set(retrieval.CONFIGS) == set(SCALES)
    assert len({tuple(sorted(c)) for c in retrieval.CONFIGS.values()}) == 1


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("method", ["identity_none", "identity_norm_margin", "blackbox", "dab"])
def test_every_config_runs_one_step(method, scale, tmp_path):
    # the gpu config is exercised here on the CPU: no GPU run has been made for chapter 9
    result = retrieval.run(method, scale, seed=0, max_steps=1)
    assert result["settings"]["steps"] == 1
    assert all(math.isfinite(v) for v in result["metrics"].values())
    load_results(runner.record(result, scale, tmp_path))


def test_every_method_runs_and_is_reproducible():
    for method in retrieval.METHODS:
        a = retrieval.run(method, "smoke", seed=1, max_steps=2)
        assert all(math.isfinite(v) for v in a["metrics"].values())
    b = retrieval.run(method, "smoke", seed=1, max_steps=2)
    assert a["metrics"] == b["metrics"]
    with pytest.raises(ValueError, match="unknown method"):
        retrieval.run("perturbed", "smoke")


def test_findings_reject_incomplete_results_and_can_fail():
    runs = load_results(ROOT / "results" / "cpu" / "retrieval.json")["runs"]
    # a flipped result flips a finding: the check can fail
    swapped = json.loads(json.dumps(runs))
    for run in swapped:
        if run["method"] == "identity_none":
            run["metrics"]["recall@1"] = 0.9
    assert retrieval_findings.findings(swapped)["none_below_every_projection"] is False
    for run in swapped:
        if run["method"] == "dab":
            run["metrics"]["test_bridge_spearman"] = 0.8
    assert retrieval_findings.findings(swapped)["dab_bridge_fails_to_rank"] is False
    with pytest.raises(ValueError, match="lack the methods"):
        retrieval_findings.findings([])

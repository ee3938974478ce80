"""Chapter 8's experiment: the keypoint pairs, the graph network, the margins, every config
for one step (the gpu config included, run on the CPU), and the committed cpu results."""
import json
import math
from pathlib import Path

import pytest
import torch

from discgrad.data import make_keypoint_pairs
from discgrad.experiments import graph_matching as gm
from discgrad.experiments import runner
from discgrad.findings import graph_matching as gm_findings
from discgrad.losses import hamming_loss
from discgrad.models import MessagePassing, knn_graph
from discgrad.results import load_results
from discgrad.scale import SCALES
from discgrad.solvers import Assignment

ROOT = Path(__file__).resolve().parent.parent


def test_pairs_hide_a_permutation_of_an_affine_image():
    p = make_keypoint_pairs(64, n_points=6, outliers=3, jitter=0.0, seed=3)
    assert p.matching.shape == (64, 6, 9)
    assert torch.equal(p.matching.sum(2), torch.ones(64, 6)) and p.matching.sum(1).max() == 1
    # without jitter the matched target points are an exact affine image of the source
    matched = p.matching @ p.tgt_pos                                   # (N, 6, 2)
    ones = torch.ones(64, 6, 1)
    sol = torch.linalg.lstsq(torch.cat([p.src_pos, ones], -1), matched).solution
    residual = torch.cat([p.src_pos, ones], -1) @ sol - matched
    assert residual.abs().max() < 1e-4
    # the descriptors of true partners are closer than those of other pairs, on average
    d = torch.cdist(p.src_feat, p.tgt_feat)
    assert (d * p.matching).sum() / p.matching.sum() < (d * (1 - p.matching)).sum() / (1 - p.matching).sum()
    # fixed by the seed; a different seed gives other pairs
    assert torch.equal(p.tgt_pos, make_keypoint_pairs(64, n_points=6, outliers=3, jitter=0.0, seed=3).tgt_pos)
    assert not torch.equal(p.matching, make_keypoint_pairs(64, n_points=6, outliers=3, seed=4).matching)


def test_message_passing_is_invariant_to_order_translation_and_scale():
    torch.manual_seed(0)
    net = MessagePassing(5, 16, layers=2, k=3)
    x, pos = torch.randn(2, 7, 5), torch.randn(2, 7, 2)
    h = net(x, pos)
    perm = torch.randperm(7)
    torch.testing.assert_close(net(x[:, perm], pos[:, perm]), h[:, perm])
    torch.testing.assert_close(net(x, 3 * pos + 1.5), h, atol=1e-5, rtol=1e-5)
    nb = knn_graph(pos, 2)
    for b in range(2):
        for i in range(7):
            dist = (pos[b] - pos[b, i]).norm(dim=1)
            dist[i] = float("inf")
            assert set(nb[b, i].tolist()) == set(dist.argsort()[:2].tolist())


def test_informed_margin_makes_true_matches_look_worse():
    costs = torch.tensor([[[0.0, 0.3], [0.3, 0.0]]])  # the diagonal wins by 0.3
    truth = torch.eye(2)[None]
    for alpha, solved in [(0.2, truth), (0.5, 1 - truth)]:
        layer = gm.MatchingLayer("identity_none_informed", 2, 2)
        layer.alpha = alpha
        assert torch.equal(layer(costs, truth), solved)  # a win by less than alpha is lost
        layer.eval()
        assert torch.equal(layer(costs), truth)          # no margin at test time
    with pytest.raises(ValueError, match="needs the true matching"):
        gm.MatchingLayer("identity_norm_informed", 2, 2)(costs)


def test_identity_gradient_with_hamming_loss_ignores_the_solution():
    # the Hamming loss is linear in y, so Identity's gradient does not depend on y: margins
    # (which only change y) cannot change training
    torch.manual_seed(0)
    w = torch.randn(3, 4, 5)
    truth = Assignment()(torch.randn(3, 4, 5))
    grads = []
    for method in ("identity_norm", "identity_norm_noise0.5", "identity_norm_informed"):
        x = w.clone().requires_grad_()
        hamming_loss(gm.MatchingLayer(method, 4, 5)(x, truth), truth).backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[0], grads[1])
    torch.testing.assert_close(grads[0], grads[2])
    x = w.clone().requires_grad_()  # Blackbox's gradient does depend on the solution
    hamming_loss(gm.MatchingLayer("blackbox", 4, 5)(x, truth), truth).backward()
    assert not torch.allclose(x.grad, grads[0])


def test_each_scale_has_one_config_with_the_same_keys():
    assert set(gm.CONFIGS) == set(SCALES)
    assert len({tuple(sorted(c)) for c in gm.CONFIGS.values()}) == 1


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("method", ["identity_none_noise0.1", "identity_norm_informed", "blackbox", "perturbed", "dab"])
def test_every_config_runs_one_step(method, scale, tmp_path):
    # the gpu config is exercised here on the CPU: no GPU run has been made for chapter 8
    result = gm.run(method, scale, seed=0, max_steps=1)
    assert result["settings"]["steps"] == 1
    assert all(math.isfinite(v) for v in result["metrics"].values())
    assert 0 <= result["metrics"]["test_accuracy"] <= 1
    load_results(runner.record(result, scale, tmp_path))


def test_every_method_runs_and_is_reproducible():
    for method in gm.METHODS:
        a = gm.run(method, "smoke", seed=1, max_steps=2)
        assert all(math.isfinite(v) for v in a["metrics"].values())
    timeless = lambda metrics: {k: v for k, v in metrics.items() if k != "train_time_s"}  # noqa: E731
    assert timeless(gm.run(method, "smoke", seed=1, max_steps=2)["metrics"]) == timeless(a["metrics"])
    with pytest.raises(ValueError, match="unknown method"):
        gm.run("nonexistent", "smoke")


def test_perturbed_trains_with_the_fenchel_young_loss_and_dab_with_its_bridge():
    torch.manual_seed(0)
    costs = torch.randn(4, 5, 7)
    truth = gm.Assignment()(torch.randn(4, 5, 7))
    layer = gm.MatchingLayer("perturbed", 5, 7)
    assert (layer.spec["sigma"], layer.spec["n_samples"]) == (1.0, 10)
    w = costs.clone().requires_grad_()
    loss, y = layer.loss(w, truth)
    loss.backward()
    assert layer.solver_calls == 10 and torch.equal(y, gm.Assignment()(costs))
    # the FY gradient of a min solver, summed over the pairs: y* - mean_s y(w - sigma Z_s)
    z = layer.layer.last_noise
    y_s = gm.Assignment()((costs - z).flatten(0, 1)).view(z.shape)
    torch.testing.assert_close(w.grad, truth - y_s.mean(0))
    assert torch.equal(layer(costs), gm.Assignment()(costs))  # forward: the exact matching
    dab = gm.MatchingLayer("dab", 5, 7)
    w = costs.clone().requires_grad_()
    loss, y = dab.loss(w, truth)
    hard = gm.Assignment()(costs)
    bridge = dab.layer.bridge(costs)
    expected = 4 * (hamming_loss(hard, truth) + ((bridge - hard) ** 2).flatten(1).sum(1).mean())
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert dab.solver_calls == 1 and torch.equal(y, hard) and w.grad.abs().sum() > 0
    assert all(p.grad is not None for p in dab.parameters())
    informed = gm.MatchingLayer("identity_norm_informed", 5, 7)
    informed.loss(costs.clone().requires_grad_(), truth)[0].backward()
    assert informed.solver_calls == 1


def test_findings_reject_incomplete_results_and_can_fail():
    runs = load_results(ROOT / "results" / "cpu" / "graph_matching.json")["runs"]
    swapped = json.loads(json.dumps(runs))  # a changed curve breaks a finding
    for run in swapped:
        if run["method"] == "identity_norm_informed":
            run["history"]["test_accuracy"][-1] += 0.01
    assert gm_findings.findings(swapped)["margin_size_irrelevant"] is False
    with pytest.raises(ValueError, match="lack the methods"):
        gm_findings.findings([])

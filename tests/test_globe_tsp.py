"""The globe TSP (chapter 10): the procedural flags, the pieces of the experiment, every
config for one step (the gpu config included, run on the CPU), and the committed results."""
import itertools
import json
import math
from pathlib import Path

import pytest
import torch

from discgrad.data import chordal_distances, make_globe, make_tours
from discgrad.data.flags import LAYOUTS
from discgrad.experiments import globe_tsp, runner
from discgrad.findings import globe_tsp as tsp_findings
from discgrad.projections import P_std
from discgrad.results import load_results
from discgrad.scale import SCALES
from discgrad.solvers import TSP, symmetric_tsp

ROOT = Path(__file__).resolve().parent.parent


def _tour_length(dist, order):
    return sum(float(dist[a, b]) for a, b in zip(order, order[1:] + order[:1]))


def test_globe_is_deterministic_with_distinct_flags_on_the_sphere():
    a, b = make_globe(100), make_globe(100)
    for u, v in zip(a, b):
        assert torch.equal(u, v)
    assert a.flags.shape == (100, 3, 8, 12) and ((a.flags >= 0) & (a.flags <= 1)).all()
    torch.testing.assert_close(a.points.norm(dim=1), torch.ones(100))
    flat = a.flags.flatten(1)
    assert len({tuple(f.tolist()) for f in flat}) == 100  # no two countries share a flag
    assert set(a.layouts.tolist()) == set(range(len(LAYOUTS)))
    assert not torch.equal(make_globe(100, seed=1).points, a.points)
    with pytest.raises(ValueError, match="n_countries"):
        make_globe(1)
    with pytest.raises(ValueError, match="height"):
        make_globe(10, height=4)


def test_tours_are_the_optimal_round_trips_on_the_chordal_distances():
    globe = make_globe(30)
    data = make_tours(globe, n=20, k=5, seed=3)
    torch.testing.assert_close(data.distances, torch.cdist(globe.points[data.countries],
                                                           globe.points[data.countries]), atol=1e-5, rtol=0)
    assert all(len(set(c.tolist())) == 5 for c in data.countries)
    assert torch.equal(data.tours.sum(-1), torch.full((20, 5), 2.0))
    for dist, tour in zip(data.distances, data.tours):
        best = min(_tour_length(dist, [0, *p]) for p in itertools.permutations(range(1, 5)))
        assert (dist * tour).sum() / 2 == pytest.approx(best, abs=1e-5)
    # the images are the flags plus pixel noise of the given size
    noise = data.images - globe.flags[data.countries]
    assert 0.04 < float(noise.std()) < 0.06
    clean = make_tours(globe, n=20, k=5, seed=3, pixel_noise=0.0)
    assert torch.equal(clean.images, globe.flags[clean.countries]) and torch.equal(clean.tours, data.tours)
    with pytest.raises(ValueError, match="k must be"):
        make_tours(globe, n=2, k=13)


def test_chordal_distances_have_finite_gradients_on_the_diagonal():
    p = torch.nn.functional.normalize(torch.randn(2, 4, 3, dtype=torch.float64), dim=-1).requires_grad_()
    d = chordal_distances(p)
    off = ~torch.eye(4, dtype=torch.bool)
    torch.testing.assert_close(d[:, off], torch.cdist(p, p)[:, off])
    d.sum().backward()
    assert torch.isfinite(p.grad).all()


def test_symmetric_tsp_accepts_noisy_costs_and_the_layer_follows_the_method():
    torch.manual_seed(0)
    w = chordal_distances(torch.nn.functional.normalize(torch.randn(8, 5, 3), dim=-1))
    noisy = w + 0.1 * torch.randn_like(w)  # asymmetric: the plain TSP refuses it
    with pytest.raises(ValueError, match="symmetric"):
        TSP()(noisy)
    y = symmetric_tsp()(noisy)
    assert torch.equal(y, TSP()((noisy + noisy.transpose(1, 2)) / 2))
    # Identity with P_std: dL/dw = -P_std'(w)^T dL/dy, one solver call per step
    layer = globe_tsp.TourLayer("identity_0")
    w1 = w.clone().requires_grad_()
    g = torch.randn_like(w)
    (layer(w1) * g).sum().backward()
    expected = -torch.autograd.functional.vjp(P_std, w, g)[1]
    torch.testing.assert_close(w1.grad, expected)
    assert layer.layer.solver_calls == 1
    # the margin is on in training, off in eval and after margin_off
    layer = globe_tsp.TourLayer("identity_0.5")
    layer(w)
    assert layer.layer.last_noise.abs().unique().tolist() == [0.25]
    layer.margin_off()
    assert layer.layer.noise == 0.0 and layer.margin == 0.0
    # Blackbox: two solver calls per step; with the margin its costs are noised in training only
    bb = globe_tsp.TourLayer("blackbox_0.5")
    w2 = w.clone().requires_grad_()
    (bb(w2) * g).sum().backward()
    assert bb.layer.solver_calls == 2 and bb.layer.lam == 20.0
    bb.eval()
    assert torch.equal(bb(w), TSP()(w))
    with pytest.raises(ValueError, match="unknown method"):
        globe_tsp.TourLayer("nonexistent")


def test_perturbed_trains_with_the_fenchel_young_loss_and_dab_with_its_bridge():
    torch.manual_seed(0)
    w = chordal_distances(torch.nn.functional.normalize(torch.randn(8, 5, 3), dim=-1))
    target = TSP()(chordal_distances(torch.nn.functional.normalize(torch.randn(8, 5, 3), dim=-1)))
    layer = globe_tsp.TourLayer("perturbed")
    spec = globe_tsp.METHODS["perturbed"]
    assert (spec["sigma"], spec["n_samples"], spec["margin"]) == (1.0, 10, 0.0)
    w1 = w.clone().requires_grad_()
    loss, y = layer.loss(w1, target)
    loss.backward()
    assert y is None and layer.layer.solver_calls == 10
    # FY gradient of a min solver: (y* - mean_s y(w - sigma Z_s)) / B, on the symmetrised costs
    z = layer.layer.last_noise
    y_s = symmetric_tsp()((w - z).flatten(0, 1)).view(z.shape)
    torch.testing.assert_close(w1.grad, (target - y_s.mean(0)) / 8)
    assert torch.equal(layer(w), TSP()(w))  # forward: the exact tour
    dab = globe_tsp.TourLayer("dab")
    w2 = w.clone().requires_grad_()
    loss, y = dab.loss(w2, target)
    assert torch.equal(y, TSP()(w)) and dab.layer.solver_calls == 1
    hard = TSP()(w)
    bridge = dab.layer.bridge(w)
    torch.testing.assert_close(loss, globe_tsp.l1_loss(hard, target)
                               + ((bridge - hard) ** 2).flatten(1).sum(1).mean())
    loss.backward()
    assert w2.grad.abs().sum() > 0 and all(p.grad is not None for p in dab.parameters())


def test_flipped_labels_are_other_tours():
    data = make_tours(make_globe(30), n=200, k=5, seed=0)
    flipped, mask = globe_tsp.flip_tours(data.tours, 0.3, torch.Generator().manual_seed(0))
    assert 30 < mask.sum() < 90
    changed = (flipped != data.tours).flatten(1).any(1).to(mask.dtype)
    assert torch.equal(changed, mask)  # exactly the flipped instances change ...
    assert torch.equal(flipped.sum(-1), torch.full((200, 5), 2.0))  # ... into tours
    torch.testing.assert_close(flipped, flipped.transpose(1, 2))


def test_l1_loss_counts_the_differing_entries():
    y = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
    assert float(globe_tsp.l1_loss(y, 1 - y)) == 4.0


def test_each_scale_has_one_config_with_the_same_keys():
    assert set(globe_tsp.CONFIGS) == set(SCALES)
    assert len({tuple(sorted(c)) for c in globe_tsp.CONFIGS.values()}) == 1


@pytest.mark.parametrize("method", globe_tsp.METHODS)
def test_every_method_runs_one_step_at_smoke_scale(method, tmp_path):
    result = globe_tsp.run(method, "smoke", seed=0, max_steps=1)
    assert result["settings"]["steps"] == 1
    assert all(math.isfinite(v) for v in result["metrics"].values())
    assert 0 <= result["metrics"]["test_accuracy"] <= 1
    calls = {"blackbox": 2, "perturbed": 10}.get(globe_tsp.METHODS[method]["estimator"], 1)
    assert result["metrics"]["solver_calls_per_step"] == calls
    load_results(runner.record(result, "smoke", tmp_path))


@pytest.mark.parametrize("method", ["identity_0.5", "blackbox_grad_noise", "perturbed", "dab"])
def test_gpu_config_runs_one_step_on_the_cpu(method, monkeypatch):
    # no GPU run has been made for this chapter: the gpu config (network, flags, k = 10) is
    # exercised here on the CPU, with fewer instances so that the exact labels come quickly
    config = globe_tsp.CONFIGS["gpu"]
    monkeypatch.setitem(config, "n_train", 200)
    monkeypatch.setitem(config, "n_test", 100)
    result = globe_tsp.run(method, "gpu", seed=0, k=config["ks"][-1], max_steps=1)
    assert result["settings"]["k"] == 10 and result["settings"]["steps"] == 1
    assert result["settings"]["channels"] == [32, 64, 64] and result["settings"]["countries"] == 100
    assert all(math.isfinite(v) for v in result["metrics"].values())


def test_findings_reject_incomplete_results_and_can_fail():
    with pytest.raises(ValueError, match="lack the"):
        tsp_findings.findings([])
    runs = load_results(ROOT / "results" / "cpu" / "globe_tsp.json")["runs"]
    swapped = json.loads(json.dumps(runs))
    for run in swapped:
        if run["method"] == "identity_0":
            run["metrics"]["test_accuracy"] = 1.0
    assert tsp_findings.findings(swapped)["margin_lifts_accuracy"] is False


def test_the_training_loss_goes_through_the_layers_forward_margin_included():
    # Blackbox's margin noise is added in TourLayer.forward: loss() must not bypass it
    w = chordal_distances(torch.nn.functional.normalize(torch.randn(64, 5, 3, generator=torch.Generator().manual_seed(0)),
                                                        dim=-1))
    layer = globe_tsp.TourLayer("blackbox_0.5")
    torch.manual_seed(1)
    _, y = layer.loss(w, TSP()(w))
    torch.manual_seed(1)
    assert torch.equal(y, layer(w))
    assert not torch.equal(y, TSP()(w))  # the margin changed some tours

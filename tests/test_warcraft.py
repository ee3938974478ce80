"""Warcraft shortest paths (chapter 11): the procedural terrain maps, the pieces of the
experiment, every config for one step (the gpu config included, run on the CPU), and the
committed results."""
import json
import math
from pathlib import Path

import pytest
import torch

from discgrad.data.terrain import TERRAINS, make_terrain_maps
from discgrad.experiments import runner, warcraft
from discgrad.findings import warcraft as warcraft_findings
from discgrad.results import load_results
from discgrad.scale import SCALES
from discgrad.solvers import ShortestPath, clamped_shortest_path

ROOT = Path(__file__).resolve().parent.parent


def test_terrain_maps_are_deterministic_and_consistent():
    a, b = make_terrain_maps(20, grid=8, cell=4, seed=3), make_terrain_maps(20, grid=8, cell=4, seed=3)
    for u, v in zip(a, b):
        assert torch.equal(u, v)
    assert a.images.shape == (20, 3, 32, 32) and ((a.images >= 0) & (a.images <= 1)).all()
    table = torch.tensor([t[1] for t in TERRAINS])
    torch.testing.assert_close(a.costs, table[a.terrain])
    # the label is a cheapest path (one of several when costs tie)
    cost = lambda y: (a.costs * y).flatten(1).sum(1)  # noqa: E731
    torch.testing.assert_close(cost(a.paths), cost(ShortestPath()(a.costs.double()).float()))
    assert ((a.paths.sum(-1) >= 1).all() and (a.paths.sum(-2) >= 1).all())  # every row and column is crossed
    assert set(a.terrain.unique().tolist()) == set(range(len(TERRAINS)))
    # the texture is noisy: two cells of the same terrain never look the same
    tiles = a.images.unfold(2, 4, 4).unfold(3, 4, 4)  # (n, 3, 8, 8, 4, 4)
    same = (a.terrain[0] == a.terrain[0, 0, 0]).nonzero()[:2]
    assert not torch.equal(tiles[0, :, same[0, 0], same[0, 1]], tiles[0, :, same[1, 0], same[1, 1]])
    # but a cell's mean colour is close to its terrain's base colour
    colours = torch.tensor([t[2] for t in TERRAINS])
    mean = tiles.mean(dim=(-1, -2)).permute(0, 2, 3, 1)  # (n, 8, 8, 3)
    nearest = (mean[..., None, :] - colours).norm(dim=-1).argmin(-1)
    assert (nearest == a.terrain).float().mean() > 0.9
    with pytest.raises(ValueError, match="grid"):
        make_terrain_maps(2, grid=1)


def test_clamped_solver_accepts_negative_costs_and_changes_nothing_else():
    torch.manual_seed(0)
    w = torch.rand(6, 5, 5)
    solver = clamped_shortest_path()
    assert torch.equal(solver(w), ShortestPath()(w))
    shifted = w - 0.5
    with pytest.raises(ValueError, match=">= 0"):
        ShortestPath()(shifted)
    assert torch.equal(solver(shifted), ShortestPath()(shifted.clamp_min(0)))


def test_layers_follow_the_method():
    torch.manual_seed(0)
    w = torch.rand(4, 6, 6) + 0.05
    g = torch.randn_like(w)
    for method, spec in warcraft.METHODS.items():
        layer = warcraft.PathLayer(method)
        w1 = w.clone().requires_grad_()
        y = layer(w1)
        if spec["estimator"] != "perturbed":  # its training goes through layer.loss
            (y * g).sum().backward()
        if spec["estimator"] == "identity":
            assert layer.layer.solver_calls == 1
            if spec["projection"] is None:  # the negative identity
                torch.testing.assert_close(w1.grad, -g)
        elif spec["estimator"] == "blackbox":
            assert layer.layer.solver_calls == 2 and layer.layer.lam == 20.0
        elif spec["estimator"] == "perturbed":  # forward: the exact path, no gradient, no counted call
            assert layer.layer.solver_calls == 0 and w1.grad is None
        else:  # DAB: the exact path forward, the bridge's gradient backward
            assert layer.layer.solver_calls == 1 and torch.equal(y, ShortestPath()(w))
            assert w1.grad.abs().sum() > 0
        layer.eval()  # no noise in eval mode: the exact solution
        assert torch.equal(layer(w), ShortestPath()(w))
    with pytest.raises(ValueError, match="unknown method"):
        warcraft.PathLayer("nonexistent")


def test_perturbed_trains_with_the_fenchel_young_loss_and_dab_adds_its_bridge_loss():
    torch.manual_seed(0)
    w = (torch.rand(4, 6, 6) + 0.05).requires_grad_()
    target = ShortestPath()(torch.rand(4, 6, 6))
    layer = warcraft.PathLayer("perturbed")
    spec = warcraft.METHODS["perturbed"]
    layer.loss(w, target).backward()
    assert layer.layer.solver_calls == spec["n_samples"] == 10 and spec["sigma"] == 1.0
    # FY gradient of a min solver: (y* - mean_s y(w - sigma Z_s)) / B
    z = layer.layer.last_noise
    y_sigma = ShortestPath()((w.detach() - z).clamp_min(0).flatten(0, 1)).view(z.shape).mean(0)
    torch.testing.assert_close(w.grad, (target - y_sigma) / 4)
    dab = warcraft.PathLayer("dab")
    x = w.detach().clone().requires_grad_()
    loss = dab.loss(x, target)
    bridge = dab.layer.bridge(x.detach())
    hard = ShortestPath()(x.detach())
    expected = warcraft.hamming(hard, target) + ((bridge - hard) ** 2).flatten(1).sum(1).mean()
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert all(p.grad is not None for p in dab.parameters())


def test_metrics():
    c = torch.tensor([[[1.0, 3.0], [1.0, 1.0]]])
    best = ShortestPath()(c)
    assert float(warcraft.cost_ratio(c, best, best)) == 100.0
    assert float(warcraft.hamming(best, 1 - best)) == 4.0


def test_each_scale_has_one_config_with_the_same_keys():
    assert set(warcraft.CONFIGS) == set(SCALES)
    assert len({tuple(sorted(c)) for c in warcraft.CONFIGS.values()}) == 1


@pytest.mark.parametrize("method", warcraft.METHODS)
def test_every_method_runs_one_step_at_smoke_scale(method, tmp_path):
    result = warcraft.run(method, "smoke", seed=0, max_steps=1)
    assert result["settings"]["steps"] == 1
    assert all(math.isfinite(v) for v in result["metrics"].values())
    assert result["metrics"]["test_cost_ratio"] >= 100 - 1e-3
    calls = {"blackbox": 2, "perturbed": 10}.get(warcraft.METHODS[method]["estimator"], 1)
    assert result["metrics"]["solver_calls_per_step"] == calls
    load_results(runner.record(result, "smoke", tmp_path))


@pytest.mark.parametrize("method", ["identity_noise", "blackbox", "perturbed", "dab"])
def test_gpu_config_runs_one_step_on_the_cpu(method, monkeypatch):
    # no GPU run has been made for this chapter: the gpu config (network, 30x30 maps of
    # 6x6-pixel cells) is exercised here on the CPU, with fewer maps
    config = warcraft.CONFIGS["gpu"]
    monkeypatch.setitem(config, "n_train", 70)
    monkeypatch.setitem(config, "n_test", 10)
    result = warcraft.run(method, "gpu", seed=0, grid=config["grids"][-1], max_steps=1)
    assert result["settings"]["grid"] == 30 and result["settings"]["steps"] == 1
    assert result["settings"]["width"] == 64
    assert all(math.isfinite(v) for v in result["metrics"].values())


def test_findings_reject_incomplete_results_and_can_fail():
    with pytest.raises(ValueError, match="lack the"):
        warcraft_findings.findings([])
    runs = load_results(ROOT / "results" / "cpu" / "warcraft.json")["runs"]
    slow = json.loads(json.dumps(runs))
    for run in slow:
        if run["method"] == "identity":
            run["metrics"]["step_time_s"] = 1e3
    assert warcraft_findings.findings(slow)["identity_step_cheaper"] is False

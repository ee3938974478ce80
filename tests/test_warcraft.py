"""Warcraft shortest paths (chapter 11): the procedural terrain maps, the trunk's receptive
field, the two losses, the units of the grids, every config for one step (the gpu config
included, run on the CPU), and the findings."""
import json
import math
from pathlib import Path

import pytest
import torch

from discgrad.data.terrain import TERRAINS, make_terrain_maps
from discgrad.estimators import Identity
from discgrad.experiments import runner
from discgrad.experiments import warcraft as wc
from discgrad.findings import warcraft as wc_findings
from discgrad.losses import absolute_loss, hamming_loss
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


def test_the_splits_are_different_maps():
    data = wc.TASK.data(wc.CONFIGS["smoke"], "cpu", loss="absolute")
    assert [len(s.paths) for s in data] == [wc.CONFIGS["smoke"][f"n_{n}"] for n in ("train", "val", "test")]
    assert not torch.equal(data.train.images[:10], data.val.images[:10])
    assert not torch.equal(data.val.images[:10], data.test.images[:10])


def test_clamped_solver_accepts_negative_costs_and_changes_nothing_else():
    torch.manual_seed(0)
    w = torch.rand(6, 5, 5)
    solver = clamped_shortest_path()
    assert torch.equal(solver(w), ShortestPath()(w))
    shifted = w - 0.5
    with pytest.raises(ValueError, match=">= 0"):
        ShortestPath()(shifted)
    assert torch.equal(solver(shifted), ShortestPath()(shifted.clamp_min(0)))


def _measured_receptive_field(net, side):
    """The extent, in pixels, of the input pixels whose gradient reaches the centre cell's cost."""
    net.eval()
    x = torch.rand(1, 3, side, side, requires_grad=True)
    grid = net(x).shape[-1]
    net(x)[0, grid // 2, grid // 2].backward()
    rows = (x.grad.abs().sum((0, 1, 3)) > 0).nonzero().squeeze(1)
    return int(rows.max() - rows.min() + 1)


def test_receptive_field_spans_the_map_at_cpu_scale():
    config = wc.CONFIGS["cpu"]
    torch.manual_seed(0)
    net = wc.CellTrunk(config["width"], config["dilations"], 3 * config["grid"], config["cell"])
    assert net.receptive_field == 117  # 5 pixels of the stem and pool, 16 d per block
    # measured: the gradient of one cell's cost reaches that far, not farther (the max-pool
    # passes one pixel of each window, so the far edge can fall short by a cell)
    measured = _measured_receptive_field(net, 3 * config["grid"] * config["cell"])
    assert net.receptive_field - 2 * config["cell"] < measured <= net.receptive_field
    # every cell sees the whole 12 x 12 map: a window of 2 * 12 - 1 cells around it
    assert net.receptive_field >= (2 * config["grid"] - 1) * config["cell"]
    # the first trunk of this chapter saw 13 pixels, about 3 cells
    assert wc.receptive_field([(3, 2, 1), (3, 1, 1), (3, 1, 1), (2, 2, 1)]) == 13
    for scale in SCALES:  # at every scale the trunk sees across the map
        c = wc.CONFIGS[scale]
        trunk = wc.TASK.model(c, loss="absolute")
        assert trunk.receptive_field >= (2 * c["grid"] - 1) * c["cell"], scale
    with pytest.raises(ValueError, match="multiple of the stem's stride"):
        wc.CellTrunk(8, [1], 6, cell=5)


def _identity_grad(loss, w, truth, alpha=0.0):
    x = w.clone().requires_grad_()
    torch.manual_seed(1)
    loss(Identity(clamped_shortest_path(), projection="norm", noise=alpha)(x), truth).backward()
    return x.grad


def test_the_linear_loss_makes_identity_blind_to_the_path_and_the_absolute_loss_does_not():
    torch.manual_seed(0)
    w = torch.rand(4, 8, 8) + 0.1
    truth = ShortestPath()(torch.rand(4, 8, 8))
    torch.testing.assert_close(_identity_grad(hamming_loss, w, truth),
                               _identity_grad(hamming_loss, w, truth, alpha=0.5))
    assert not torch.allclose(_identity_grad(absolute_loss, w, truth),
                              _identity_grad(absolute_loss, w, truth, alpha=0.5))
    # a right path gives no gradient at all with the absolute loss, the label with the linear one
    right = 1.0 + 5.0 * (1 - truth)
    assert _identity_grad(absolute_loss, right, truth).abs().max() == 0
    assert _identity_grad(hamming_loss, right, truth).abs().max() > 0


def test_margins_are_in_units_of_the_projected_costs():
    config = wc.CONFIGS["cpu"]
    layer = wc.TASK.layer("identity_noise", {"alpha": 1.0}, config, loss="absolute")
    assert layer.estimator.noise == pytest.approx(1 / config["grid"])  # P_norm's RMS entry, 1 / sqrt(144)


def test_blackbox_lambda_grid_brackets_the_path_cost_gap_at_initialisation():
    config = wc.CONFIGS["cpu"]
    data = wc.TASK.data(config, "cpu", loss="absolute")
    cells = config["grid"] ** 2
    for seed in range(3):
        torch.manual_seed(seed)
        model = wc.TASK.model(config, loss="absolute").eval()
        with torch.no_grad():
            w = model(data.train.images[:200])
        y, truth = ShortestPath()(w), data.train.paths[:200]
        gap = float(((w * truth).flatten(1).sum(1) - (w * y).flatten(1).sum(1)).median())
        wrong = float((y != truth).flatten(1).sum(1).float().median())
        # Blackbox moves each wrong cell by lambda / cells: in all, lambda * wrong / cells
        shifts = [lam * wrong / cells for lam in wc.METHODS["blackbox"].grid["lam"]]
        assert 0.4 < gap < 3.0 and 12 <= wrong <= 24, (seed, gap, wrong)
        assert min(shifts) < 0.2 * gap and gap < max(shifts) / 5, (seed, gap, shifts)
        # Fenchel-Young's sigma grid spans the initial costs' root mean square entry
        rms = float(w.pow(2).mean().sqrt())
        assert min(wc.METHODS["fenchel_young"].grid["sigma"]) < rms < max(wc.METHODS["fenchel_young"].grid["sigma"])


def test_each_scale_has_one_config_with_the_same_keys():
    assert set(wc.CONFIGS) == set(SCALES)
    assert len({tuple(sorted(c)) for c in wc.CONFIGS.values()}) == 1


def test_every_method_has_a_grid_of_three_or_more():
    for name, method in wc.METHODS.items():
        assert len(method.variants()) >= 3, name


@pytest.mark.parametrize("scale, method", [(scale, method) for scale in ("smoke", "cpu") for method in
                                           ("identity", "identity_noise", "blackbox", "fenchel_young", "dab",
                                            "identity_linear")]
                         + [("gpu", method) for method in ("identity_noise", "blackbox", "fenchel_young", "dab")])
def test_every_config_runs_one_step(method, scale, tmp_path, monkeypatch):
    if scale == "gpu":  # no GPU run has been made for this chapter: the gpu config (30 x 30 maps of
        # 6 x 6-pixel cells, the wide trunk) runs here on the CPU, with fewer maps in smaller batches
        for key, n in (("n_train", 2), ("n_val", 2), ("n_test", 2), ("batch_size", 2)):
            monkeypatch.setitem(wc.CONFIGS["gpu"], key, n)
    variant = wc.METHODS[method].variants()[-1]
    result = wc.TASK.run(method, scale, seed=0, max_steps=1, variant=variant)
    assert result["settings"]["steps"] == 1 and result["settings"]["grid"] == wc.CONFIGS[scale]["grid"]
    assert result["settings"]["loss"] == ("linear" if method.endswith("_linear") else "absolute")
    assert all(math.isfinite(v) for v in result["metrics"].values())
    assert result["metrics"]["test_cost_ratio"] >= 100 - 1e-3 and "val_cost_ratio" in result["metrics"]
    calls = {"blackbox": 2, "fenchel_young": 10}.get(wc.METHODS[method].family, 1)
    assert result["metrics"]["solver_calls_per_step"] == calls
    assert ("test_bridge_error" in result["metrics"]) == (method == "dab")
    load_results(runner.record(result, scale, tmp_path))


def test_every_method_runs_and_is_reproducible():
    for method in wc.METHODS:
        variant = wc.METHODS[method].variants()[0]
        a = wc.TASK.run(method, "smoke", seed=1, max_steps=2, variant=variant)
        assert all(math.isfinite(v) for v in a["metrics"].values())
    assert wc.TASK.run(method, "smoke", seed=1, max_steps=2, variant=variant)["metrics"] == a["metrics"]
    with pytest.raises(ValueError, match="unknown method"):
        wc.TASK.run("nonexistent", "smoke")
    with pytest.raises(ValueError, match="unknown loss"):
        wc.TASK.run("identity", "smoke", max_steps=1, loss="squared")


def test_fenchel_young_trains_with_its_own_loss_and_dab_with_its_bridge():
    torch.manual_seed(0)
    config = wc.CONFIGS["smoke"]
    g = config["grid"]
    costs = torch.rand(4, g, g) + 0.05
    truth = ShortestPath()(torch.rand(4, g, g))
    layer = wc.TASK.layer("fenchel_young", {"sigma": 1.0}, config, loss="absolute").train()
    w = costs.clone().requires_grad_()
    layer.loss(w, truth, absolute_loss).backward()
    assert layer.solver_calls == 10
    # the FY gradient of a min solver, averaged over the maps: (Y* - mean_s Y(w - sigma Z_s)) / B
    z = layer.estimator.last_noise
    y_s = ShortestPath()((costs - z).clamp_min(0).flatten(0, 1)).view(z.shape)
    torch.testing.assert_close(w.grad, (truth - y_s.mean(0)) / 4)
    assert torch.equal(layer(costs), ShortestPath()(costs))  # forward: the exact path
    for bridge in ("dense", "conv"):
        dab = wc.TASK.layer("dab", {"bridge": bridge, "width": 8}, config, loss="absolute").train()
        assert isinstance(dab.estimator.bridge, wc.ConvBridge) == (bridge == "conv")
        w = costs.clone().requires_grad_()
        loss = dab.loss(w, truth, absolute_loss)
        torch.testing.assert_close(loss, absolute_loss(ShortestPath()(costs), truth))
        (loss + dab.extra_loss()).backward()
        assert dab.solver_calls == 1 and w.grad.abs().sum() > 0
        assert all(p.grad is not None for p in dab.parameters())
    # every variant of every method: the exact path in eval mode
    for method, spec in wc.METHODS.items():
        for variant in spec.variants():
            lay = wc.TASK.layer(method, variant, config, loss="absolute").eval()
            assert torch.equal(lay(costs), ShortestPath()(costs)), (method, variant)


def test_metrics():
    c = torch.tensor([[[1.0, 3.0], [1.0, 1.0]]])
    best = ShortestPath()(c)
    assert float(wc.cost_ratio(c, best, best)) == 100.0
    assert float(wc.cost_ratio(c, torch.ones_like(c), best)) == 300.0


def test_findings_reject_incomplete_results_and_can_fail():
    runs = load_results(ROOT / "results" / "cpu" / "warcraft.json")["runs"]
    with pytest.raises(ValueError, match="lack the methods"):
        wc_findings.findings([r for r in runs if r["method"] != "dab"])
    changed = json.loads(json.dumps(runs))  # one margin's curve moves: the claim breaks
    for run in changed:
        if run["method"] == "identity_noise_linear" and run["settings"]["variant"]["alpha"] == 1.0:
            run["history"]["val_cost_ratio"][-1] += 0.01
    assert wc_findings.findings(changed)["linear_margin_size_irrelevant"] is False
    # a curve that still falls at the end makes a claim "not testable at this budget"
    for run in changed:
        if run["method"] == "blackbox":
            curve = run["history"]["val_cost_ratio"]
            run["history"]["val_cost_ratio"] = [200.0 - 5 * i for i in range(len(curve))]
    assert wc_findings.claim_status(changed)["identity_on_par_with_blackbox"] == "not testable at this budget"

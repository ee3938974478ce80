"""The globe TSP (chapter 10): the procedural flags, the pieces of the experiment, every
config for one step (the gpu config included, run on the CPU), the committed results, and the
layer-time benchmark (benchmarks/layer_time.py)."""
import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from discgrad.data import chordal_distances, make_globe, make_tours
from discgrad.data.flags import LAYOUTS
from discgrad.experiments import globe_tsp, runner
from discgrad.experiments.summary import select_variants
from discgrad.findings import globe_tsp as tsp_findings
from discgrad.projections import P_std
from discgrad.results import load_results
from discgrad.scale import SCALES
from discgrad.solvers import TSP, symmetric_tsp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import layer_time  # noqa: E402

TASK = globe_tsp.TASK


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


def _layer(method, config="smoke", **variant):
    config = globe_tsp.CONFIGS[config]
    spec = globe_tsp.METHODS[method]
    return TASK.layer(method, variant or spec.variants()[0], config, **{"corruption": "none", **spec.setting})


def _distances(n=8, k=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return chordal_distances(torch.nn.functional.normalize(torch.randn(n, k, 3, generator=g), dim=-1))


def test_symmetric_tsp_accepts_noisy_costs_and_identity_follows_p_std():
    w = _distances()
    noisy = w + 0.1 * torch.randn(w.shape, generator=torch.Generator().manual_seed(1))
    with pytest.raises(ValueError, match="symmetric"):
        TSP()(noisy)
    assert torch.equal(symmetric_tsp()(noisy), TSP()((noisy + noisy.transpose(1, 2)) / 2))
    # Identity with P_std: dL/dw = -P_std'(w)^T dL/dy, one solver call per step
    layer = _layer("identity", alpha=0.0)
    w1 = w.clone().requires_grad_()
    g = torch.randn_like(w)
    (layer(w1) * g).sum().backward()
    torch.testing.assert_close(w1.grad, -torch.autograd.functional.vjp(P_std, w, g)[1])
    assert layer.solver_calls == 1


def test_margins_are_in_units_of_the_rms_entry_and_stop_after_half_the_steps():
    config = globe_tsp.CONFIGS["smoke"]
    steps = (config["epochs"] // 2) * math.ceil(config["n_train"] / config["batch_size"])
    w = _distances()
    # Identity: alpha times P_std's RMS entry 1 / k, on the projected costs
    layer = _layer("identity", alpha=1.5)
    for _ in range(steps):
        layer(w)
        assert layer.estimator.estimator.last_noise.abs().unique().tolist() == [pytest.approx(0.15)]
    layer(w)
    assert layer.estimator.estimator.noise == 0.0 and layer.estimator.margin == 0.0
    # Blackbox: alpha times the RMS entry of random points' distances, on the raw costs
    bb = _layer("blackbox", lam=10.0)
    assert bb.estimator.margin == 0.0  # the grid has no margin
    margined = globe_tsp._blackbox(symmetric_tsp(), TASK.context(config, "none"), lam=10.0, alpha=0.5)
    assert margined.margin == pytest.approx(0.5 * globe_tsp.cost_rms(5)) and margined.steps == steps
    torch.manual_seed(0)
    assert not torch.equal(margined(w), TSP()(w))  # the margin changes some tours in training
    margined.eval()
    assert torch.equal(margined(w), TSP()(w)) and margined.calls == 1  # eval: exact, not counted


def test_cost_scale_and_chance_are_what_the_grids_assume():
    w = _distances(n=4000)
    rms = float(w.pow(2).mean(dim=(1, 2)).sqrt().mean())
    assert abs(rms - globe_tsp.cost_rms(5)) < 0.02  # measured on random points
    data = make_tours(make_globe(30), n=2000, k=5, seed=0)
    g = torch.Generator().manual_seed(0)
    random_tours = TSP()(chordal_distances(torch.nn.functional.normalize(torch.randn(2000, 5, 3, generator=g), dim=-1)))
    hits = float((random_tours == data.tours).flatten(1).all(1).float().mean())
    assert abs(hits - globe_tsp.chance_accuracy(5)) < 0.02
    with pytest.raises(ValueError, match="k >= 3"):
        globe_tsp.chance_accuracy(2)
    # Blackbox's lambda: the task's loss gradient on a wrong entry of one instance is 1 / k^2
    config = globe_tsp.CONFIGS["smoke"]
    batch = TASK.batch(TASK.data(config, "cpu", "none").train, torch.arange(3))
    y = (1 - batch.tours).requires_grad_()  # every entry wrong

    class PassThrough:  # a layer whose solution is the costs themselves
        @staticmethod
        def loss(w, target, task_loss):
            return task_loss(y, target)

    TASK.loss(lambda images: torch.zeros(len(images), 5, 5), PassThrough(), batch, config, "none").backward()
    assert torch.allclose(y.grad.abs(), torch.full_like(y, 1 / 25))


def test_blackbox_fenchel_young_and_dab_layers():
    w, target = _distances(), TSP()(_distances(seed=1))
    bb = _layer("blackbox", lam=10.0)
    w2 = w.clone().requires_grad_()
    (bb(w2) * torch.randn_like(w)).sum().backward()
    assert bb.solver_calls == 2
    fy = _layer("fenchel_young", sigma=0.3)
    w3 = w.clone().requires_grad_()
    fy.loss(w3, target, None).backward()
    assert fy.solver_calls == 3 and fy.is_loss
    z = fy.estimator.last_noise
    y_s = symmetric_tsp()((w - 0.3 * z).flatten(0, 1)).view(z.shape)  # a min solver: w - sigma Z
    torch.testing.assert_close(w3.grad, (target - y_s.mean(0)) / len(w))
    assert torch.equal(fy(w), TSP()(w))  # forward: the exact tour
    for kind in ("dense", "groupwise"):
        dab = _layer("dab", bridge=kind, width=32)
        w4 = w.clone().requires_grad_()
        loss = dab.loss(w4, target, lambda y, t: (y - t).abs().mean()) + dab.extra_loss()
        loss.backward()
        assert dab.solver_calls == 1 and w4.grad.abs().sum() > 0


def test_flipped_labels_are_other_tours_and_grad_noise_reaches_dl_dy():
    data = make_tours(make_globe(30), n=200, k=5, seed=0)
    flipped, mask = globe_tsp.flip_tours(data.tours, 0.3, torch.Generator().manual_seed(0))
    assert 30 < mask.sum() < 90
    changed = (flipped != data.tours).flatten(1).any(1).to(mask.dtype)
    assert torch.equal(changed, mask)  # exactly the flipped instances change ...
    assert torch.equal(flipped.sum(-1), torch.full((200, 5), 2.0))  # ... into tours
    with pytest.raises(ValueError, match="share"):
        globe_tsp.flip_tours(data.tours, 1.5, torch.Generator())
    config = globe_tsp.CONFIGS["smoke"]
    clean, flip = TASK.data(config, "cpu", "none"), TASK.data(config, "cpu", "flip")
    assert torch.equal(clean.val.tours, flip.val.tours) and torch.equal(clean.test.tours, flip.test.tours)
    share = float((clean.train.tours != flip.train.tours).flatten(1).any(1).float().mean())
    assert 0.05 < share < 0.4
    with pytest.raises(ValueError, match="unknown corruption"):
        TASK.data(config, "cpu", "rain")
    # gradient noise: the same step with and without it gives different gradients
    model = TASK.model(config, "none")
    batch = TASK.batch(clean.train, torch.arange(10))
    grads = []
    for corruption in ("none", "grad_noise"):
        layer = _layer("identity", alpha=0.0)
        model.zero_grad()
        torch.manual_seed(0)
        TASK.loss(model, layer, batch, config, corruption).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert not torch.allclose(grads[0], grads[1])


def test_each_scale_has_one_config_with_the_same_keys():
    assert set(globe_tsp.CONFIGS) == set(SCALES)
    assert len({tuple(sorted(c)) for c in globe_tsp.CONFIGS.values()}) == 1


@pytest.mark.parametrize("method", globe_tsp.METHODS)
def test_every_method_runs_one_step_at_smoke_scale(method, tmp_path):
    result = globe_tsp.run(method, "smoke", seed=0, max_steps=1)
    assert result["settings"]["steps"] == 1
    assert result["settings"]["corruption"] == globe_tsp.METHODS[method].setting.get("corruption", "none")
    assert all(math.isfinite(v) for v in result["metrics"].values())
    assert 0 <= result["metrics"]["test_accuracy"] <= 1
    calls = {"blackbox": 2, "fenchel_young": 3}.get(globe_tsp.METHODS[method].family, 1)
    assert result["metrics"]["solver_calls_per_step"] == calls
    load_results(runner.record(result, "smoke", tmp_path))


@pytest.mark.parametrize("method", ["identity", "blackbox_grad_noise", "fenchel_young", "dab"])
def test_gpu_config_runs_one_step_on_the_cpu(method, monkeypatch):
    # no GPU run has been made for this chapter: the gpu config (network, flags, k = 10) is
    # exercised here on the CPU, with fewer instances so that the exact labels come quickly
    config = dict(globe_tsp.CONFIGS["gpu"], n_train=100, n_val=50, n_test=50)
    result = globe_tsp.run(method, config, seed=0, max_steps=1)
    assert result["settings"]["k"] == 10 and result["settings"]["steps"] == 1
    assert result["settings"]["channels"] == [32, 64, 64] and result["settings"]["countries"] == 100
    assert all(math.isfinite(v) for v in result["metrics"].values())


def test_findings_reject_incomplete_results_and_can_fail():
    with pytest.raises(ValueError, match="lack"):
        tsp_findings.findings([])
    runs = load_results(ROOT / "results" / "cpu" / "globe_tsp.json")["runs"]
    found = tsp_findings.findings(runs)
    assert set(found["chosen"]) == set(tsp_findings.CLEAN)
    # the robustness arms report the clean method's choice, not their own
    assert tsp_findings.clean_choice(runs, "blackbox_flip") == found["chosen"]["blackbox"]
    assert tsp_findings.clean_choice(runs, "identity_flip") == {"alpha": 0.0}
    own = select_variants(runs, "accuracy", True, within={"corruption": "flip"})["blackbox_flip"].variant
    assert own in globe_tsp.METHODS["blackbox_flip"].variants()
    # a wrong variant: if no margin had reached every clean tour, the margin would not lift Identity
    swapped = json.loads(json.dumps(runs))
    for run in swapped:
        if run["method"] == "identity" and run["settings"]["variant"]["alpha"] == 0.0:
            run["metrics"]["test_accuracy"] = run["metrics"]["val_accuracy"] = 1.0
    assert tsp_findings.findings(swapped)["claims"]["margin_lifts_identity"] != "held"
    # the drops: if the corrupted Blackbox scored as its clean runs, it would lose nothing
    same = json.loads(json.dumps(runs))
    clean = {r["seed"]: r["metrics"]["test_accuracy"] for r in tsp_findings.clean_runs(same, "blackbox_flip")}
    for run in same:
        if run["method"] == "blackbox_flip":
            run["metrics"]["test_accuracy"] = clean[run["seed"]]
    assert tsp_findings.findings(same)["drops"]["flip"]["blackbox_flip"] == 0.0


def test_layer_time_bench_counts_the_solver_calls():
    out = layer_time.bench(n=5, batch=3, repeats=1, clock="cpu")
    assert out["solver_calls_per_pass"] == {"identity": 1, "blackbox": 2, "perturbed_3": 3, "perturbed_10": 10,
                                            "dab": 1}
    assert out["ratio_to_identity"]["identity"] == 1.0 and out["ratio_to_identity"]["blackbox"] > 0
    run = subprocess.run([sys.executable, "benchmarks/layer_time.py", "--help"], cwd=ROOT, capture_output=True,
                         text=True)
    assert run.returncode == 0 and "usage:" in run.stdout, run.stderr

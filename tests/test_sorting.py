"""Sequence sorting through a hard layer (chapter 12): the data, the two networks, every
method's backward pass, the gradient diagnostic, every config for one step (the gpu config
included, run on the CPU), and the findings on the committed results."""
import itertools
import json
import math
from pathlib import Path

import pytest
import torch

from discgrad.bridges import ElementwiseBridge
from discgrad.data import make_sequences
from discgrad.experiments import runner, sorting
from discgrad.findings import sorting as sorting_findings
from discgrad.results import load_results
from discgrad.scale import SCALES
from discgrad.solvers import Signum, TernarySignum

ROOT = Path(__file__).resolve().parent.parent


def test_sequences_are_deterministic_and_perm_sorts_them():
    a, b = make_sequences(50, 6, seed=3), make_sequences(50, 6, seed=3)
    assert torch.equal(a.x, b.x) and torch.equal(a.perm, b.perm)
    assert ((a.x >= 0) & (a.x < 1)).all()
    assert torch.equal(a.x.gather(1, a.perm), a.x.sort(dim=1).values)
    assert not torch.equal(a.x, make_sequences(50, 6, seed=4).x)
    with pytest.raises(ValueError):
        make_sequences(5, 1, seed=0)


def test_splits_are_disjoint_draws():
    splits = sorting.make_splits(5, 100, 50, 60)
    assert [len(s.x) for s in splits] == [100, 50, 60]
    assert not torch.equal(splits.train.x[:50], splits.val.x) and not torch.equal(splits.val.x, splits.test.x[:50])


def test_signum_is_the_argmax_of_a_linear_objective_over_the_cube():
    torch.manual_seed(0)
    h = torch.randn(20, 4)
    cube = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=4)))  # (16, 4)
    best = cube[(h @ cube.T).argmax(1)]
    signum = sorting.hard_function("plain")
    assert isinstance(signum, Signum) and torch.equal(signum(h), best) and signum.sense == "max"
    ternary = sorting.hard_function("bounded")
    assert isinstance(ternary, TernarySignum) and ternary.dead_zone == sorting.DEAD_ZONE == 0.5
    assert torch.equal(ternary(torch.tensor([[-0.9, -0.4, 0.4, 0.6]])), torch.tensor([[-1.0, 0.0, 0.0, 1.0]]))
    with pytest.raises(ValueError, match="unknown network"):
        sorting.hard_function("dense")
    with pytest.raises(ValueError, match="unknown hard"):
        sorting.hard_function("plain", "soft")


def test_the_bounded_network_bounds_the_hard_layers_input_and_has_a_linear_head():
    torch.manual_seed(0)
    x = torch.rand(32, 5)
    bounded, plain = sorting.SortNet("bounded", 5, 16), sorting.SortNet("plain", 5, 16)
    h = bounded.encoder(10 * x)
    assert h.abs().max() < 1 and isinstance(bounded.head, torch.nn.Linear)
    assert isinstance(plain.encoder[-1], torch.nn.Linear)  # unbounded pre-activations
    assert bounded(x, torch.sign).shape == plain(x, torch.sign).shape == (32, 5, 5)
    with pytest.raises(ValueError, match="unknown network"):
        sorting.SortNet("wide", 5, 16)


def layer(method, variant=None, network="plain"):
    spec = sorting.METHODS[method]
    variant = spec.variants()[0] if variant is None else variant
    setting = {"network": network, "hard": "exact", **spec.setting}
    return sorting.TASK.layer(method, variant, sorting.CONFIGS["smoke"], **setting)


def test_each_method_keeps_the_forward_pass_and_chooses_the_backward():
    torch.manual_seed(0)
    n = sorting.CONFIGS["smoke"]["hidden"]
    h, g = 2 * torch.randn(8, n), torch.randn(8, n)
    signum = Signum()

    def grad(lay):
        x = h.clone().requires_grad_()
        y = lay.train()(x)
        (y * g).sum().backward()
        return y.detach(), x.grad

    y, st = grad(layer("straight_through"))
    assert torch.equal(y, signum(h)) and torch.equal(st, g * (h.abs() <= 1)) and (h.abs() > 1).any()
    y, ident = grad(layer("identity", {"projection": None}))
    assert torch.equal(y, signum(h)) and torch.equal(ident, g)
    y, normed = grad(layer("identity", {"projection": "norm"}))
    assert torch.equal(y, signum(h))  # P_norm keeps the signs
    assert abs(float((normed * h).sum(1).abs().max())) < 1e-4  # and removes the radial part
    for bridge in ("dense", "elementwise"):
        lay = layer("dab", {"bridge": bridge, "width": 32})
        y, dab = grad(lay)
        assert torch.equal(y, signum(h)) and torch.isfinite(dab).all() and not torch.allclose(dab, g)
        assert lay.extra_loss() > 0
    y, smooth = grad(layer("tanh"))
    torch.testing.assert_close(y, torch.tanh(h))
    torch.testing.assert_close(smooth, g * (1 - torch.tanh(h) ** 2))
    # the bounded network: the ternary signum forward; |h| < 1 there, so straight-through passes g
    hb = torch.tanh(h)
    x = hb.clone().requires_grad_()
    out = layer("straight_through_bounded").train()(x)
    (out * g).sum().backward()
    assert torch.equal(out.detach(), TernarySignum(0.5)(hb)) and torch.equal(x.grad, g)
    assert torch.equal(sorting.hard_function("bounded", "smooth")(hb), hb)
    # eval mode: the exact hard function for every variant of every method
    for method, spec in sorting.METHODS.items():
        for variant in spec.variants():
            lay = sorting.TASK.layer(method, variant, sorting.CONFIGS["smoke"],
                                     **{"network": "plain", "hard": "exact", **spec.setting}).eval()
            assert torch.equal(lay(hb), sorting.hard_function(**{"network": "plain", "hard": "exact",
                                                                 **spec.setting})(hb))


def test_the_elementwise_bridge_has_a_diagonal_jacobian_and_the_dense_one_does_not():
    torch.manual_seed(0)
    h = torch.randn(3, sorting.CONFIGS["smoke"]["hidden"])
    for bridge, diagonal in (("elementwise", True), ("dense", False)):
        net = layer("dab", {"bridge": bridge, "width": 32}).estimator.bridge
        jac = torch.autograd.functional.jacobian(lambda v: net(v[None])[0], h[0])
        off = jac - torch.diag(torch.diagonal(jac))
        assert (off.abs().max() == 0) == diagonal, bridge
    assert isinstance(layer("dab", {"bridge": "elementwise", "width": 32}).estimator.bridge, ElementwiseBridge)


def test_gradient_cosine_against_straight_through():
    torch.manual_seed(0)
    cfg = sorting.CONFIGS["smoke"]
    model = sorting.SortNet("plain", cfg["length"], cfg["hidden"])
    data = make_sequences(64, cfg["length"], seed=0)
    st = layer("straight_through")
    assert math.isclose(sorting.gradient_cosine(model, st.estimator, st.solver, data.x, data.perm), 1.0,
                        rel_tol=1e-5)
    # Identity's gradient is g; straight-through's is g on |h| <= 1: the cosine is their overlap
    with torch.no_grad():
        model.encoder[-1].weight.mul_(20)  # push most |h| above 1
    ident = layer("identity", {"projection": None})
    value = sorting.gradient_cosine(model, ident.estimator, ident.solver, data.x, data.perm)
    assert 0 < value < 0.9
    dab = layer("dab", {"bridge": "dense", "width": 32})
    calls = dab.estimator.solver_calls
    sorting.gradient_cosine(model, dab.estimator, dab.solver, data.x, data.perm)
    assert dab.estimator.solver_calls == calls and all(p.grad is None for p in model.parameters())
    assert sorting.cosine(torch.ones(3), -torch.ones(3)) == pytest.approx(-1.0)


def test_loss_and_accuracies():
    perm = torch.tensor([[0, 1, 2], [2, 0, 1]])
    perfect = 10 * torch.nn.functional.one_hot(perm, 3).float()
    assert sorting.accuracies(perfect, perm) == (1.0, 1.0)
    assert float(sorting.sort_loss(perfect, perm)) < 1e-3
    assert abs(float(sorting.sort_loss(torch.zeros(2, 3, 3), perm)) - math.log(3)) < 1e-6
    assert sorting_findings.relative_gain(0.5, 0.25) == 1.0


def test_configs_grids_and_settings():
    assert set(sorting.CONFIGS) == set(SCALES)
    assert len({tuple(sorted(c)) for c in sorting.CONFIGS.values()}) == 1
    assert sorting.CONFIGS["cpu"]["length"] == 5 and sorting.CONFIGS["gpu"]["length"] == 10
    assert {m: len(s.variants()) for m, s in sorting.METHODS.items()} == {
        "dab": 4, "straight_through": 1, "identity": 2, "tanh": 1,
        "dab_bounded": 4, "straight_through_bounded": 1}
    assert sorting.METHODS["dab"].grid == {"bridge": ["dense", "elementwise"], "width": [32, 128]}
    jobs = sorting.TASK.method_variants("dab_bounded")
    assert all(j["network"] == "bounded" for j in jobs) and {j["variant"]["bridge"] for j in jobs} == {
        "dense", "elementwise"}


@pytest.mark.parametrize("method", sorting.METHODS)
def test_every_method_runs_one_step_at_smoke_scale(method, tmp_path):
    spec = sorting.METHODS[method]
    result = sorting.TASK.run(method, "smoke", seed=0, max_steps=1, variant=spec.variants()[-1])
    assert result["settings"]["steps"] == 1 and result["settings"]["variant"] == spec.variants()[-1]
    assert result["settings"]["network"] == spec.setting.get("network", "plain")
    assert all(math.isfinite(v) for v in result["metrics"].values())
    assert ("val_bridge_error" in result["history"]) == (spec.family == "dab")
    assert ("val_cosine_st" in result["history"]) == (spec.family != "smooth")
    assert "untrained_test_accuracy" in result["metrics"]
    load_results(runner.record(result, "smoke", tmp_path))


@pytest.mark.parametrize("method", ["dab", "straight_through_bounded"])
def test_gpu_config_runs_one_step_on_the_cpu(method, monkeypatch):
    # no GPU run has been made for this chapter: the gpu config (width 256, sequences of
    # 10) is exercised here on the CPU, with fewer sequences
    config = sorting.CONFIGS["gpu"]
    for key, n in (("n_train", 400), ("n_val", 100), ("n_test", 100)):
        monkeypatch.setitem(config, key, n)
    result = sorting.TASK.run(method, "gpu", seed=0, max_steps=1)
    assert result["settings"]["length"] == 10 and result["settings"]["hidden"] == 256
    assert result["settings"]["steps"] == 1
    assert all(math.isfinite(v) for v in result["metrics"].values())


def test_findings_reject_incomplete_results_and_can_fail():
    with pytest.raises(ValueError, match="lack the methods"):
        sorting_findings.findings([])
    runs = load_results(ROOT / "results" / "cpu" / "sorting.json")["runs"]
    changed = json.loads(json.dumps(runs))
    for run in changed:
        if run["method"] == "dab":
            run["metrics"]["test_accuracy"] = 0.0
    found = sorting_findings.findings(changed)
    assert found["dab_vs_straight_through"] == "worse" and found["gain_77pct"]["dab"] is False
    for run in changed:
        if run["method"] == "straight_through":
            run["metrics"]["test_accuracy"] = 0.01 * (1 + run["seed"] % 2)
        if run["method"] == "dab":
            run["metrics"]["test_accuracy"] = 0.9 + 0.01 * run["seed"]
    found = sorting_findings.findings(changed)
    assert found["dab_vs_straight_through"] == "better" and found["gain_77pct"]["dab"] is True
    for run in changed:
        if run["method"] == "dab":
            run["history"]["val_bridge_error"][-1] = 10.0
    assert sorting_findings.findings(changed)["bridge_learns"] is False


def test_the_bounded_network_without_its_hard_layer_is_the_smooth_plain_network():
    # one smooth row serves both networks: the same seven layers, the same initialisation
    x = torch.rand(8, 5)
    torch.manual_seed(0)
    plain = sorting.SortNet("plain", 5, 16)
    torch.manual_seed(0)
    bounded = sorting.SortNet("bounded", 5, 16)
    torch.testing.assert_close(plain(x, sorting.hard_function("plain", "smooth")),
                               bounded(x, sorting.hard_function("bounded", "smooth")))
    assert not torch.allclose(plain(x, torch.sign), bounded(x, torch.sign))

"""Discrete representations with DAB (chapter 14): the task's splits, every method's layer
on both codes, the bridges' structure, the units the grids are set in, every config for one
step (the gpu config included, run on the CPU), and the findings."""
import itertools
import json
import math
from pathlib import Path

import pytest
import torch

from discgrad.experiments import dab_autoencoder as dae
from discgrad.findings import dab_autoencoder as dae_findings
from discgrad.projections import P_norm, P_std
from discgrad.results import load_results
from discgrad.scale import SCALES
from discgrad.solvers import Signum

ROOT = Path(__file__).resolve().parent.parent
CONFIG = dae.CONFIGS["smoke"]
TASK = dae.TASK


def layer(method, variant, code, config=CONFIG):
    return TASK.layer(method, variant, config, code=code)


def logits(code, n=5, config=CONFIG, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *dae.code_shape(code, config), generator=g)


def test_signum_is_the_argmax_of_the_linear_objective_over_the_cube():
    torch.manual_seed(0)
    w = torch.randn(3, 4)
    cube = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=4)))
    assert torch.equal(Signum()(w), cube[(w @ cube.T).argmax(1)])
    assert torch.equal(Signum()(torch.zeros(1, 2)), torch.ones(1, 2))  # never 0


def test_splits_are_disjoint_and_the_test_split_carries_the_classifier_s_training_images():
    data = TASK.data(dae.CONFIGS["cpu"], "cpu", code="binary")
    assert [len(s.x) for s in data] == [1150, 288, 359]
    assert data.train.fit is None and data.val.fit is None and data.test.fit is data.train
    rows = lambda s: {tuple(r) for r in s.x.tolist()}  # noqa: E731
    # duplicates exist among binarised digits; the indices are disjoint by construction
    assert len(data.train.x) + len(data.val.x) == 1438
    assert len(rows(data.val) - rows(data.train)) > 200


@pytest.mark.parametrize("code", dae.CODES)
@pytest.mark.parametrize("method", dae.METHODS)
def test_every_variant_gives_exact_codes_and_finite_gradients(method, code):
    for variant in dae.METHODS[method].variants():
        torch.manual_seed(0)
        lay = layer(method, variant, code).train()
        w = logits(code).requires_grad_()
        z = lay(w)
        if code == "binary":
            assert set(z.unique().tolist()) <= {-1.0, 1.0}
        else:
            assert torch.equal(z.sum(-1), torch.ones(5, CONFIG["groups"]))
        if (method, code, variant.get("projection")) == ("identity", "binary", "std"):
            # P_std's shift is no invariance of signum: training thresholds at the mean
            assert torch.equal(z.detach(), dae.hard_code(code)(P_std(w.detach())))
            assert not torch.equal(z.detach(), dae.hard_code(code)(w.detach()))
        elif method != "gumbel_st":  # every other deterministic method: the exact code
            assert torch.equal(z.detach(), dae.hard_code(code)(w.detach()))
        ((z * torch.randn_like(z)).sum() + lay.extra_loss()).backward()
        assert torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0
        lay.eval()
        assert torch.equal(lay(w), dae.hard_code(code)(w.detach()))  # eval: exact, no noise


def _grad(method, variant, code, w, g):
    w = w.clone().requires_grad_()
    (layer(method, variant, code).train()(w) * g).sum().backward()
    return w.grad


def test_backward_passes_follow_the_method():
    vjp = torch.autograd.functional.vjp
    w, g = logits("binary", 4), logits("binary", 4, seed=1)
    for tau in dae.TAUS:  # straight-through: the Jacobian of tanh(w / tau)
        torch.testing.assert_close(_grad("straight_through", {"tau": tau}, "binary", w, g),
                                   g * (1 - torch.tanh(w / tau) ** 2) / tau)
    # identity: +P'(w)^T g (a max solver), the projection over the whole code
    torch.testing.assert_close(_grad("identity", {"projection": None}, "binary", w, g), g)
    torch.testing.assert_close(_grad("identity", {"projection": "norm"}, "binary", w, g), vjp(P_norm, w, g)[1])
    w1, g1 = logits("onehot", 4), logits("onehot", 4, seed=1)
    for tau in dae.TAUS:
        soft = lambda x: torch.softmax(x / tau, -1)  # noqa: E731
        torch.testing.assert_close(_grad("straight_through", {"tau": tau}, "onehot", w1, g1), vjp(soft, w1, g1)[1])
    torch.testing.assert_close(_grad("identity", {"projection": "std"}, "onehot", w1, g1), vjp(P_std, w1, g1)[1])


def test_binary_gumbel_is_a_bernoulli_sample_with_p_sigmoid_2w_over_tau():
    torch.manual_seed(2)
    w = torch.tensor([[-1.0, 0.0, 0.5, 2.0]]).expand(20000, 4).contiguous()
    for tau in (0.3, 3.0):  # the sample's law does not depend on tau, only its gradient
        share = (layer("gumbel_st", {"tau": tau}, "binary").train()(w) > 0).float().mean(0)
        torch.testing.assert_close(share, torch.sigmoid(2 * w[0]), atol=0.015, rtol=0)


@pytest.mark.parametrize("code", dae.CODES)
def test_bridges_have_the_structure_their_kind_names(code):
    shape = dae.code_shape(code, CONFIG)
    for bridge in ("dense", "structured"):
        net = layer("dab", {"bridge": bridge, "width": 16}, code).estimator.bridge
        w = logits(code, 3).requires_grad_()
        net(w)[:, 0].sum().backward()  # the first sign, or the first group
        outside = w.grad[:, 1:]
        if bridge == "structured":
            assert outside.abs().max() == 0
            if code == "binary":  # the element-wise network: one input per output
                assert w.grad[:, 0].abs().min() > 0
        else:
            assert outside.abs().max() > 0
    with pytest.raises(ValueError, match="unknown bridge"):
        dae.code_bridge(code, shape, "sorted", 16)


def test_dab_bridge_learns_only_from_its_loss_and_the_encoder_gets_its_gradient():
    lay = layer("dab", {"bridge": "structured", "width": 16}, "onehot").train()
    w = logits("onehot", 6).requires_grad_()
    lay(w).sum().backward(retain_graph=True)
    assert all(p.grad is None for p in lay.estimator.bridge.parameters())
    assert w.grad.abs().sum() > 0
    lay.extra_loss().backward()
    assert all(p.grad is not None for p in lay.estimator.bridge.parameters())


def test_gradient_cosine_compares_with_straight_through():
    w, g = logits("onehot", 4), logits("onehot", 4, seed=1)
    same = lambda x: torch.softmax(x, -1)  # noqa: E731
    assert math.isclose(dae.gradient_cosine(same, w, g, "onehot"), 1.0, rel_tol=1e-6)
    assert math.isclose(dae.gradient_cosine(lambda x: -same(x), w, g, "onehot"), -1.0, rel_tol=1e-6)
    assert abs(dae.gradient_cosine(lambda x: x.flip(-1), w, g, "onehot")) < 0.9


def test_the_logits_scale_the_grids_are_set_in():
    """The module docstring's units: the untrained encoder's logits spread by 0.1 to 0.2."""
    config = dae.CONFIGS["cpu"]
    data = TASK.data(config, "cpu", code="binary")
    for code in dae.CODES:
        for seed in range(3):
            torch.manual_seed(seed)
            with torch.no_grad():
                spread = float(TASK.model(config, code=code).encode(data.val.x).std())
            assert 0.1 < spread < 0.2, (code, seed, spread)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("code", dae.CODES)
@pytest.mark.parametrize("method", dae.METHODS)
def test_every_method_code_and_config_runs_one_step(method, code, scale):
    result = TASK.run(method, scale, seed=0, max_steps=1, code=code)
    assert result["settings"]["steps"] == 1 and result["settings"]["code"] == code
    metrics = result["metrics"]
    assert all(math.isfinite(v) for v in metrics.values())
    assert 0 <= metrics["test_linear_accuracy"] <= 1 and "val_linear_accuracy" not in metrics
    assert ("test_bridge_error" in metrics) == ("val_grad_cosine" in result["history"]) == (method == "dab")


def test_equal_bits_per_code_at_every_scale():
    for config in dae.CONFIGS.values():
        assert config["groups"] * math.log2(config["categories"]) == config["bits"]


def test_runs_are_reproducible_and_errors_are_clear():
    a, b = (TASK.run("gumbel_st", "smoke", seed=1, max_steps=3, code="onehot") for _ in range(2))
    assert a["metrics"] == b["metrics"]
    assert TASK.run("gumbel_st", "smoke", seed=2, max_steps=3, code="onehot")["metrics"] != a["metrics"]
    with pytest.raises(ValueError, match="unknown method"):
        TASK.run("blackbox", "smoke")
    with pytest.raises(ValueError, match="unknown code"):
        TASK.run("dab", "smoke", code="ternary")


def test_linear_separability_scores_a_fixed_classifier():
    z = torch.tensor([[1.0, -1.0], [-1.0, 1.0]] * 10)
    y = torch.tensor([0, 1] * 10)
    assert dae.linear_separability(z, y, z, y) == 1.0
    assert dae.linear_separability(z, y, z, 1 - y) == 0.0
    assert dae.linear_separability(z.view(20, 2, 1), y, z.view(20, 1, 2), y) == 1.0  # flattened


# --- the findings ----------------------------------------------------------------------------

def _committed():
    return load_results(ROOT / "results" / "cpu" / "dab_autoencoder.json")["runs"]


def test_findings_reject_incomplete_results_and_can_fail():
    with pytest.raises(ValueError, match="lack the methods"):
        dae_findings.findings([])
    runs = json.loads(json.dumps(_committed()))
    for run in runs:  # flat curves, so that every claim is testable
        curve = run["history"]["val_reconstruction"]
        run["history"]["val_reconstruction"] = [curve[0]] + [curve[-1]] * (len(curve) - 1)
    for run in runs:  # Gumbel-softmax much worse: DAB is then 10 % better than it
        if run["method"] == "gumbel_st":
            run["metrics"]["test_reconstruction"] *= 3
            run["metrics"]["test_linear_accuracy"] *= 0.3
    found = dae_findings.findings(runs)
    assert found["paper_reconstruction"] == found["paper_linear"] == {"binary": "held", "onehot": "held"}
    assert set(found["reconstruction"]["binary"].values()) != {"on par"}
    for run in runs:  # and much better: it is not
        if run["method"] == "gumbel_st":
            run["metrics"]["test_reconstruction"] /= 30
            run["metrics"]["test_linear_accuracy"] = 1.0
    found = dae_findings.findings(runs)
    assert found["paper_reconstruction"] == found["paper_linear"] == {"binary": "not held", "onehot": "not held"}
    assert found["reconstruction"]["onehot"]["dab_vs_gumbel"] == "worse"
    for run in runs:  # a rising curve: the claim cannot be settled
        if run["method"] == "dab":
            run["history"]["val_reconstruction"] = [10.0 - 0.1 * e for e in range(20)]
    assert dae_findings.findings(runs)["paper_reconstruction"]["binary"] == dae_findings.NOT_TESTABLE


def test_gpu_findings_hold_by_construction():
    found = dae_findings.findings(_committed())
    assert found["n_variants"] == dae_findings.FINDINGS["gpu"]["n_variants"]

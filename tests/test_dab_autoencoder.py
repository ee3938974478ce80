"""Discrete representations with DAB (Part III): the code layers of each method, every
config for one step (the gpu config included, run on the CPU), and the committed results."""
import itertools
import json
import math
from pathlib import Path

import pytest
import torch

from discgrad.experiments import dab_autoencoder as dae
from discgrad.experiments import runner
from discgrad.findings import dab_autoencoder as dae_findings
from discgrad.projections import P_norm, P_std
from discgrad.results import load_results
from discgrad.scale import SCALES
from discgrad.solvers import Signum

ROOT = Path(__file__).resolve().parent.parent
CONFIG = dae.CONFIGS["smoke"]


def test_signum_is_the_argmax_of_the_linear_objective_over_the_cube():
    torch.manual_seed(0)
    w = torch.randn(3, 4)
    cube = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=4)))
    best = cube[(w @ cube.T).argmax(1)]
    assert torch.equal(Signum()(w), best)
    assert torch.equal(Signum()(torch.zeros(1, 2)), torch.ones(1, 2))  # never 0


@pytest.mark.parametrize("code", dae.CODES)
@pytest.mark.parametrize("method", dae.METHODS)
def test_code_layers_give_exact_codes(method, code):
    torch.manual_seed(0)
    layer = dae.CodeLayer(method, code, CONFIG)
    w = torch.randn(5, dae.code_size(code, CONFIG), requires_grad=True)
    z = layer(w)
    if code == "binary":
        assert set(z.unique().tolist()) <= {-1.0, 1.0}
    else:
        grouped = z.reshape(5, CONFIG["groups"], CONFIG["categories"])
        assert torch.equal(grouped.sum(-1), torch.ones(5, CONFIG["groups"]))
        assert set(z.unique().tolist()) == {0.0, 1.0}
    if method != "gumbel_st":  # every deterministic method: the exact code in training
        assert torch.equal(z.detach(), layer.hard(w.detach()))
    z.sum().backward() if method != "dab" else (z.sum() + layer.bridge_loss).backward()
    assert w.grad is not None and torch.isfinite(w.grad).all()
    layer.eval()
    assert torch.equal(layer(w), layer.hard(w.detach()))  # eval: exact, no noise
    with torch.no_grad():
        assert torch.equal(layer(w), layer.hard(w))


def test_backward_passes_follow_the_method():
    torch.manual_seed(1)
    n = CONFIG["bits"]
    w, g = torch.randn(4, n), torch.randn(4, n)

    def grad(method, code, x=w, gz=g):
        x = x.clone().requires_grad_()
        (dae.CodeLayer(method, code, CONFIG)(x) * gz).sum().backward()
        return x.grad

    # straight-through: the Jacobian of tanh; identity: +P_norm'(w)^T g (a max solver)
    torch.testing.assert_close(grad("straight_through", "binary"), g * (1 - torch.tanh(w) ** 2))
    torch.testing.assert_close(grad("identity", "binary"), torch.autograd.functional.vjp(P_norm, w, g)[1])
    assert not torch.allclose(grad("identity", "binary"), -torch.autograd.functional.vjp(P_norm, w, g)[1])
    d = dae.code_size("onehot", CONFIG)
    w1, g1 = torch.randn(4, d), torch.randn(4, d)
    shape = (4, CONFIG["groups"], CONFIG["categories"])
    soft = lambda x: torch.softmax(x.reshape(shape), -1).reshape(4, d)  # noqa: E731
    torch.testing.assert_close(grad("straight_through", "onehot", w1, g1),
                               torch.autograd.functional.vjp(soft, w1, g1)[1])
    torch.testing.assert_close(grad("identity", "onehot", w1, g1),
                               torch.autograd.functional.vjp(P_std, w1, g1)[1])


def test_binary_gumbel_is_a_bernoulli_sample_with_p_sigmoid_2w():
    torch.manual_seed(2)
    layer = dae.CodeLayer("gumbel_st", "binary", CONFIG)
    w = torch.tensor([[-1.0, 0.0, 0.5, 2.0]]).expand(20000, 4).contiguous()
    share = (layer(w) > 0).float().mean(0)
    torch.testing.assert_close(share, torch.sigmoid(2 * w[0]), atol=0.015, rtol=0)


def test_dab_bridge_learns_only_from_its_loss_and_the_encoder_gets_its_gradient():
    torch.manual_seed(3)
    layer = dae.CodeLayer("dab", "onehot", CONFIG)
    w = torch.randn(6, dae.code_size("onehot", CONFIG), requires_grad=True)
    z = layer(w)
    z.sum().backward(retain_graph=True)
    assert all(p.grad is None for p in layer.layer.bridge.parameters())
    assert w.grad is not None and w.grad.abs().sum() > 0
    layer.bridge_loss.backward()
    assert all(p.grad is not None for p in layer.layer.bridge.parameters())


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("code", dae.CODES)
@pytest.mark.parametrize("method", dae.METHODS)
def test_every_method_code_and_config_runs_one_step(method, code, scale, monkeypatch):
    # the classifier of an untrained code is slow to converge and tells nothing: cap it
    fit = dae.linear_separability
    monkeypatch.setattr(dae, "linear_separability", lambda *a: fit(*a[:4], C=a[4], max_iter=20))
    result = dae.run(method, scale, seed=0, max_steps=1, code=code)
    assert result["settings"]["steps"] == 1 and result["settings"]["code"] == code
    assert result["settings"]["code_size"] == dae.code_size(code, dae.CONFIGS[scale])
    assert all(math.isfinite(v) for v in result["metrics"].values())
    assert 0 <= result["metrics"]["linear_accuracy"] <= 1
    assert ("bridge_error" in result["metrics"]) == (method == "dab")


def test_equal_bits_per_code_at_every_scale():
    for config in dae.CONFIGS.values():
        assert config["groups"] * math.log2(config["categories"]) == config["bits"]


def test_runs_are_reproducible_and_errors_are_clear():
    a, b = (dae.run("gumbel_st", "smoke", seed=1, max_steps=3, code="onehot") for _ in range(2))
    assert a["metrics"] == b["metrics"]
    assert dae.run("gumbel_st", "smoke", seed=2, max_steps=3, code="onehot")["metrics"] != a["metrics"]
    with pytest.raises(ValueError, match="unknown method"):
        dae.run("blackbox", "smoke")
    with pytest.raises(ValueError, match="unknown code"):
        dae.run("dab", "smoke", code="ternary")


def test_linear_separability_scores_a_fixed_classifier():
    z = torch.tensor([[1.0, -1.0], [-1.0, 1.0]] * 10)
    y = torch.tensor([0, 1] * 10)
    assert dae.linear_separability(z, y, z, y) == 1.0
    assert dae.linear_separability(z, y, z, 1 - y) == 0.0


# --- the committed results -------------------------------------------------------------------

def _committed():
    return load_results(ROOT / "results" / "cpu" / "dab_autoencoder.json")["runs"]


def test_findings_reject_incomplete_results_and_can_fail():
    with pytest.raises(ValueError, match="lack the methods"):
        dae_findings.findings([])
    runs = json.loads(json.dumps(_committed()))
    for run in runs:  # make Gumbel-softmax 50 % worse: DAB is then 10 % better than it
        if run["method"] == "gumbel_st":
            run["metrics"]["test_reconstruction"] *= 1.5
            run["metrics"]["linear_accuracy"] *= 0.5
    found = dae_findings.findings(runs)
    assert found["binary_dab_recon_10pct_better_than_gumbel"] and found["onehot_dab_linear_10pct_better_than_gumbel"]
    for run in runs:  # and much better: it is not
        if run["method"] == "gumbel_st":
            run["metrics"]["test_reconstruction"] /= 3
            run["metrics"]["linear_accuracy"] = 1.0
    found = dae_findings.findings(runs)
    assert not found["binary_dab_recon_10pct_better_than_gumbel"]
    assert not found["onehot_dab_linear_better_than_gumbel"]

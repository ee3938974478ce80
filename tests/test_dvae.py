"""The discrete VAE (chapter 6): the task's pieces, its layers, the fig. 7 probe, every
config for one step (the gpu config included, run on the CPU), and its findings."""
import itertools
import json
import math
from pathlib import Path

import pytest
import torch

from discgrad.experiments import dvae, runner
from discgrad.findings import dvae as dvae_findings
from discgrad.losses import bernoulli_reconstruction
from discgrad.projections import P_mean, P_norm, P_std
from discgrad.results import load_results
from discgrad.scale import SCALES
from discgrad.solvers import TopK

ROOT = Path(__file__).resolve().parent.parent
CONFIG = dvae.CONFIGS["smoke"]
PROJECTIONS = {None: None, "mean": P_mean, "norm": P_norm, "std": P_std}


def _layer(method, variant=None, config=CONFIG):
    variant = dvae.METHODS[method].variants()[0] if variant is None else variant
    return dvae.TASK.layer(method, variant, config)


# --- the runs ----------------------------------------------------------------------------------

@pytest.mark.parametrize("method, variant", [(m, v) for m, spec in dvae.METHODS.items() for v in spec.variants()])
def test_every_variant_runs_one_step_and_records_the_protocol_metrics(method, variant, tmp_path):
    result = dvae.TASK.run(method, "smoke", seed=0, max_steps=1, variant=variant)
    metrics = result["metrics"]
    assert result["settings"]["steps"] == 1 and result["settings"]["variant"] == variant
    assert all(math.isfinite(v) for v in metrics.values())
    for prefix in ("val_", "test_", "untrained_val_", "untrained_test_"):
        assert {f"{prefix}nelbo", f"{prefix}reconstruction", f"{prefix}kl"} <= set(metrics)
        assert (f"{prefix}cosine" in metrics) == (method != "score_function")
        assert (f"{prefix}bridge_error" in metrics) == (method == "dab")
    expected_calls = {"imle": 2.0, "score_function": 4.0}.get(method, 1.0)
    assert metrics["solver_calls_per_step"] == expected_calls  # the fig. 7 probe is not counted
    load_results(runner.record(result, "smoke", tmp_path))


@pytest.mark.parametrize("scale", [s for s in SCALES if s != "smoke"])
@pytest.mark.parametrize("method", dvae.METHODS)
def test_every_method_runs_one_step_at_every_scale(method, scale):
    # the gpu config is exercised here on the CPU: no GPU run has been made for this chapter
    result = dvae.TASK.run(method, scale, seed=0, max_steps=1)
    assert result["settings"]["groups"] == dvae.CONFIGS[scale]["groups"]
    assert all(math.isfinite(v) for v in result["metrics"].values())


def test_runs_are_reproducible_and_seeds_differ():
    a, b = (dvae.TASK.run("identity", "smoke", seed=1, max_steps=3, variant={"projection": "std"})
            for _ in range(2))
    assert a["metrics"] == b["metrics"]
    c = dvae.TASK.run("identity", "smoke", seed=2, max_steps=3, variant={"projection": "std"})
    assert c["metrics"]["val_nelbo"] != a["metrics"]["val_nelbo"]
    with pytest.raises(ValueError, match="unknown method"):
        dvae.TASK.run("blackbox", "smoke")


def test_splits_are_the_training_digits_split_once_and_the_test_digits():
    data = dvae.TASK.data(dvae.CONFIGS["cpu"], "cpu")
    assert [len(s) for s in data] == [1150, 288, 359]
    train_val = torch.cat([data.train, data.val])
    digits = dvae.load_binary_digits()
    assert torch.equal(train_val.sum(0), digits.x_train.sum(0))  # a split of the training digits
    assert torch.equal(data.test, digits.x_test)
    assert torch.equal(dvae.TASK.data(dvae.CONFIGS["cpu"], "cpu").val, data.val)  # fixed


def test_the_grids_units_at_initialisation():
    """The module docstring's scales: the gap at the k-th largest noisy logit and |dL/dz|."""
    config = dvae.CONFIGS["cpu"]
    x = dvae.TASK.data(config, "cpu").train[:100]
    gaps, grads = [], []
    for seed in range(3):
        torch.manual_seed(seed)
        model = dvae.TASK.model(config)
        w = model.encode(x).detach()
        w = w + dvae.perturbation(config, "sog", w.shape)
        top = w.sort(-1, descending=True).values
        gaps.append(float((top[..., config["k"] - 1] - top[..., config["k"]]).median()))
        z = TopK(config["k"])(w).requires_grad_()
        g, = torch.autograd.grad(bernoulli_reconstruction(model.decode(z), x).mean(), z)
        grads.append(float(g.abs().median()))
    assert 0.05 < min(gaps) and max(gaps) < 0.2, gaps  # "about 0.1"
    assert 4e-4 < min(grads) and max(grads) < 1.6e-3, grads  # "about 8e-4"
    lams = dvae.METHODS["imle"].grid["lam"]
    shifts = [lam * sum(grads) / len(grads) / (sum(gaps) / len(gaps)) for lam in lams]
    assert shifts[0] < 0.2 and shifts[-1] > 5  # from a fraction of the gap to several gaps


# --- the layers ----------------------------------------------------------------------------------

def test_every_layer_samples_k_hot_in_training():
    torch.manual_seed(0)
    logits = torch.randn(3, CONFIG["groups"], CONFIG["categories"])
    for method, spec in dvae.METHODS.items():
        for variant in spec.variants():
            layer = _layer(method, variant).train()
            if method == "score_function":
                z = (layer(logits) > 0).float()  # ranks of the drawn items
                assert z.shape == (4, *logits.shape)
            else:
                z = dvae.TASK.sample(layer, logits)
            assert torch.equal(z.sum(-1), torch.full(z.shape[:-1], float(CONFIG["k"]))), (method, variant)
            assert set(z.unique().tolist()) <= {0.0, 1.0}


def test_identity_updates_are_the_projected_gradient_at_the_noisy_logits():
    torch.manual_seed(0)
    n = CONFIG["categories"]
    g = torch.randn(6, n)
    cosines = {}
    for projection, P in PROJECTIONS.items():
        layer = _layer("identity", {"projection": projection}).train()
        seen = {}
        layer.estimator.register_forward_pre_hook(lambda mod, args: seen.update(w=args[0].detach()))
        logits = torch.randn(6, n, requires_grad=True)
        z = layer(logits)
        assert torch.equal(z, TopK(CONFIG["k"])(seen["w"])) and not torch.equal(seen["w"], logits.detach())
        (z * g).sum().backward()
        # u = +P'(w)^T g (top-k is a max solver), the projection's Jacobian at the noisy logits
        expected = g if P is None else torch.autograd.functional.vjp(P, seen["w"], g)[1]
        torch.testing.assert_close(logits.grad, expected)
        assert not torch.allclose(logits.grad, -expected)  # the min-solver sign is rejected
        cosines[projection] = float(dvae.cosine(g, logits.grad))
    assert cosines[None] == pytest.approx(1.0)
    assert cosines["std"] < cosines["mean"] < 1.0  # each projection removes more of g


def test_dab_layer_sends_the_bridge_vjp_and_only_the_bridge_learns_from_its_loss():
    torch.manual_seed(0)
    for variant in dvae.METHODS["dab"].variants():
        layer = _layer("dab", variant).train()
        logits = torch.randn(6, CONFIG["categories"], requires_grad=True)
        seen = {}
        layer.estimator.register_forward_pre_hook(lambda mod, args: seen.update(w=args[0].detach()))
        z = layer(logits)
        g = torch.randn_like(z)
        (z * g).sum().backward()
        w = seen["w"].clone().requires_grad_(True)
        expected, = torch.autograd.grad(layer.estimator.bridge(w), w, g)
        torch.testing.assert_close(logits.grad, expected)
        assert all(p.grad is None for p in layer.parameters())
        before = logits.grad.clone()
        layer.extra_loss().backward()
        assert all(p.grad is not None for p in layer.parameters())
        assert torch.equal(logits.grad, before)  # the bridge loss never reaches the logits


def test_subset_score_function_log_probabilities_are_a_distribution():
    # Plackett-Luce probabilities of all ordered k-tuples sum to 1, and match sampling
    torch.manual_seed(0)
    n, k = 5, 2
    logits = torch.randn(1, n, dtype=torch.float64)
    sf = dvae.SubsetScoreFunction(k, n_samples=20000, baseline="loo", generator=torch.Generator().manual_seed(1))
    tuples = list(itertools.permutations(range(n), k))
    coded = torch.zeros(len(tuples), 1, n, dtype=torch.float64)
    for i, t in enumerate(tuples):
        for rank, item in enumerate(t, start=1):
            coded[i, 0, item] = rank
    probs = dvae.SubsetScoreFunction(k, n_samples=len(tuples)).log_prob(logits, coded).exp().squeeze(1)
    torch.testing.assert_close(probs.sum(), torch.tensor(1.0, dtype=torch.float64))
    z = sf(logits)
    assert ((z > 0).sum(-1) == k).all()
    first = (z == 1).squeeze(1).to(torch.float64).mean(0)  # the first draw is a softmax sample
    torch.testing.assert_close(first, torch.softmax(logits[0], 0), atol=0.015, rtol=0)


# --- evaluation and the fig. 7 probe -------------------------------------------------------------

def test_cosine_counts_no_update_as_zero_and_skips_no_signal():
    g = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    u = torch.tensor([[3.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    assert float(dvae.cosine(g, u)) == pytest.approx(0.5)
    assert float(dvae.cosine(torch.zeros(2, 2), u[:2])) == 0.0
    out = dvae.update_alignment(g, u)
    assert out["batch_cosine"] == pytest.approx(3 / math.sqrt(5) / math.sqrt(11))
    assert out["norm_ratio"] == pytest.approx(math.sqrt(11) / math.sqrt(5))


def test_the_probe_measures_the_projected_update_and_changes_nothing():
    torch.manual_seed(0)
    model = dvae.TASK.model(CONFIG)
    x = dvae.TASK.data(CONFIG, "cpu").val
    for projection in PROJECTIONS:
        layer = _layer("identity", {"projection": projection}).eval()
        params = [p.detach().clone() for p in model.parameters()]
        state = torch.get_rng_state()
        with torch.no_grad():  # as in training's evaluation
            a = dvae.TASK.evaluate(model, layer, x, CONFIG)
            b = dvae.TASK.evaluate(model, layer, x, CONFIG)
        assert a == b and torch.equal(torch.get_rng_state(), state) and not layer.training
        assert all(torch.equal(p, q) for p, q in zip(params, model.parameters()))
        assert all(p.grad is None for p in model.parameters())
        if projection is None:
            assert a["cosine"] == pytest.approx(1.0) and a["norm_ratio"] == pytest.approx(1.0)
        else:  # an orthogonal projection of g, times a positive number: 0 < cos < 1
            assert 0.0 < a["cosine"] < 1.0 and 0.0 < a["batch_cosine"] < 1.0


def test_evaluation_samples_with_the_methods_noise_law_and_fixed_noise():
    torch.manual_seed(0)
    model = dvae.TASK.model(CONFIG)
    x = dvae.TASK.data(CONFIG, "cpu").test
    with torch.no_grad():
        sog = dvae.TASK.evaluate(model, _layer("imle").eval(), x, CONFIG)
        gumbel = dvae.TASK.evaluate(model, _layer("score_function").eval(), x, CONFIG)
        again = dvae.TASK.evaluate(model, _layer("identity").eval(), x, CONFIG)
    assert sog["nelbo"] == again["nelbo"] != gumbel["nelbo"]  # the same SoG draw; Gumbel differs
    assert sog["kl"] == gumbel["kl"]  # the KL term needs no sample
    assert dvae.noise_law("gumbel_st") == "gumbel" and dvae.noise_law("dab") == "sog"
    with pytest.raises(ValueError, match="unknown noise law"):
        dvae.perturbation(CONFIG, "normal", (2, 3))


# --- what chapter 6 states ------------------------------------------------------------------------

def test_findings_reject_incomplete_results_and_follow_the_runs():
    with pytest.raises(ValueError, match="lack the methods"):
        dvae_findings.findings([])
    runs = load_results(ROOT / "results" / "cpu" / "dvae.json")["runs"]
    found = dvae_findings.findings(runs)
    assert set(found["paper_claims"]) == set(dvae_findings.PAPER_PAIRS) | {"fig7_cosine"}
    assert set(found["paper_claims"].values()) <= {"held", "not held", "not testable at this budget", "in part"}
    # a flipped result flips the finding: the check can fail
    swapped = json.loads(json.dumps(runs))
    for run in swapped:
        if run["method"] == "identity" and run["settings"]["variant"]["projection"] == "std":
            run["metrics"]["test_nelbo"] += 100.0 + run["seed"]
            run["history"]["val_cosine"] = [0.01] * len(run["history"]["val_cosine"])
            run["history"]["val_batch_cosine"] = [0.02] * len(run["history"]["val_batch_cosine"])
    flipped = dvae_findings.findings(swapped)
    assert flipped["std_vs_imle"] == "worse" and flipped["paper_claims"]["std_vs_imle"] != "held"
    assert flipped["paper_claims"]["fig7_cosine"] == "held" and flipped["std_cosine"] == (0.01, 0.01)

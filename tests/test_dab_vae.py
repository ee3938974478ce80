"""Density estimation with Bernoulli latents (chapter 15): the pieces of the experiment, every
config for one step (the gpu config included, run on the CPU), and the findings on synthetic
runs."""
import copy
import math

import pytest
import torch
from torch import nn

from discgrad.data.digits import load_binary_digits
from discgrad.estimators import RELAX
from discgrad.experiments import dab_vae, runner
from discgrad.findings import dab_vae as vae_findings
from discgrad.results import load_results
from discgrad.scale import SCALES
from discgrad.solvers import Heaviside


def test_latent_sampling_and_the_kl_term():
    logits = torch.tensor([[-1.0, 0.0, 2.0]])
    noise = dab_vae.logistic_noise((40_000, 1, 3), generator=torch.Generator().manual_seed(0))
    freq = Heaviside()(logits + noise).mean(0)
    torch.testing.assert_close(freq, torch.sigmoid(logits), atol=0.01, rtol=0)  # Bernoulli(sigmoid(l))
    p = torch.sigmoid(logits)
    kl = (p * torch.log(2 * p) + (1 - p) * torch.log(2 * (1 - p))).sum(1)
    torch.testing.assert_close(dab_vae.kl_bernoulli_uniform(logits), kl)


def test_splits_are_disjoint_and_the_evaluation_noise_is_fixed():
    config = dab_vae.CONFIGS["smoke"]
    a, b = (dab_vae.TASK.data(config, "cpu") for _ in range(2))
    assert (len(a.train.x), len(a.val.x), len(a.test.x)) == (1150, 288, 359)
    whole = load_binary_digits().x_train  # train and validation partition it
    assert sorted(map(tuple, torch.cat([a.train.x, a.val.x]).tolist())) == sorted(map(tuple, whole.tolist()))
    assert a.val.noise.shape == (config["eval_samples"], 288, config["latents"])
    assert torch.equal(a.val.noise, b.val.noise) and not torch.equal(a.val.noise[:, :100], a.test.noise[:, :100])


def test_relax_control_trains_only_its_own_parameters():
    torch.manual_seed(0)
    model = dab_vae.BernoulliVAE(64, 5, [16])
    control = dab_vae.RebarControl(5, [8])
    assert {n for n, _ in control.named_parameters()} == {"log_tau", "eta", "r.0.weight", "r.0.bias",
                                                          "r.2.weight", "r.2.bias"}
    x = (torch.rand(4, 64) > 0.5).float()
    with pytest.raises(ValueError, match="bind"):
        control(torch.zeros(1, 4, 5))
    control.bind(model.decoder, x)
    relax = RELAX(control)
    logits = model.encode(x)
    b = relax(logits)
    recon = dab_vae.reconstruction(model.decoder, b, x)
    assert recon.shape == (1, 4)
    loss = relax.surrogate(logits, b, recon)
    grads = torch.autograd.grad(relax.variance_loss, [*control.parameters(), *model.parameters()],
                                allow_unused=True)
    n = len(list(control.parameters()))
    assert all(g is not None for g in grads[:n]) and all(g is None for g in grads[n:])
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("method", list(dab_vae.METHODS))
def test_the_training_loss_is_the_batch_nelbo_for_every_method(method):
    config = dab_vae.CONFIGS["smoke"]
    torch.manual_seed(0)
    model = dab_vae.TASK.model(config)
    variant = dab_vae.METHODS[method].variants()[0]
    layer = dab_vae.TASK.layer(method, variant, config)
    x = dab_vae.TASK.data(config, "cpu").train.x[:50]
    drawn = []  # the layer's input (the logits) and its output (the bits it drew)
    layer.register_forward_hook(lambda module, args, out: drawn.append((args[0], out)))
    loss = dab_vae.TASK.loss(model, layer, x, config)
    (logits, bits), = drawn
    assert set(bits.unique().tolist()) <= {0.0, 1.0}
    nelbo = (dab_vae.reconstruction(model.decoder, bits.detach(), x).mean()
             + dab_vae.kl_bernoulli_uniform(logits).mean())
    assert torch.isclose(loss, nelbo, rtol=1e-5), (float(loss), float(nelbo))
    loss.backward()
    assert all(p.grad is not None for p in model.encoder.parameters())


def test_gradient_cosines_recognise_straight_through_and_the_binary_concrete():
    torch.manual_seed(0)
    decoder, z, x = nn.Linear(6, 64), torch.randn(20, 6), (torch.rand(20, 64) > 0.5).float()
    assert dab_vae.gradient_cosines(nn.Identity(), decoder, z, x)["cosine_st"] == pytest.approx(1.0)
    assert dab_vae.gradient_cosines(nn.Sigmoid(), decoder, z, x)["cosine_gumbel"] == pytest.approx(1.0)
    assert dab_vae.gradient_cosines(lambda t: -t, decoder, z, x)["cosine_st"] == pytest.approx(-1.0)


def test_each_scale_has_one_config_with_the_same_keys():
    assert set(dab_vae.CONFIGS) == set(SCALES)
    assert len({tuple(sorted(c)) for c in dab_vae.CONFIGS.values()}) == 1


def test_grids_dab_has_both_bridges_and_gumbel_three_temperatures():
    assert dab_vae.METHODS["dab"].grid["bridge"] == ["dense", "elementwise"]
    assert len(dab_vae.METHODS["dab"].variants()) >= 3 and len(dab_vae.METHODS["gumbel_st"].variants()) >= 3
    assert {m: len(s.variants()) for m, s in dab_vae.METHODS.items()} == vae_findings.FINDINGS["gpu"]["n_variants"]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("method", list(dab_vae.METHODS))
def test_every_config_runs_one_step(method, scale, tmp_path):
    # the gpu config is exercised here on the CPU: no GPU run has been made for chapter 15
    variant = dab_vae.METHODS[method].variants()[-1]
    result = dab_vae.TASK.run(method, scale, seed=0, max_steps=1, variant=variant)
    assert result["settings"]["steps"] == 1 and result["settings"]["variant"] == variant
    assert result["settings"]["latents"] == dab_vae.CONFIGS[scale]["latents"]
    metrics = result["metrics"]
    assert all(math.isfinite(v) for v in metrics.values())
    assert {"val_nelbo", "test_nelbo", "untrained_test_nelbo", "test_kl", "test_reconstruction"} <= set(metrics)
    assert metrics["solver_calls_per_step"] == 1.0
    assert ("val_cosine_gumbel" in result["history"]) == (method == "dab")
    load_results(runner.record(result, scale, tmp_path))


def test_runs_are_reproducible_and_seeds_differ():
    a, b = (dab_vae.TASK.run("relax", "smoke", seed=1, max_steps=3) for _ in range(2))
    assert a["metrics"] == b["metrics"]
    assert dab_vae.TASK.run("relax", "smoke", seed=2, max_steps=3)["metrics"] != a["metrics"]
    with pytest.raises(ValueError, match="unknown method"):
        dab_vae.TASK.run("imle", "smoke")


def _synthetic_runs(seeds=range(5), epochs=40):
    """Runs of every variant with made-up metrics: RELAX the best, DAB's element-wise bridge
    better than its dense one, every trained variant below the untrained N-ELBO (40)."""
    level = {"relax": 21.0, "gumbel_st": 21.5, "reinforce": 23.0}
    runs = []
    for method, spec in dab_vae.METHODS.items():
        for i, variant in enumerate(spec.variants()):
            if method == "dab":
                value = (22.0 if variant["bridge"] == "elementwise" else 23.0) + 0.1 * abs(variant["width"] - 32) / 32
            else:
                value = level.get(method, 0) + 0.1 * abs(variant.get("tau", 1.0) - 1.0)
            for seed in seeds:
                v = value + 0.05 * ((seed * 7 + i) % 3)
                metrics = {"val_nelbo": v, "test_nelbo": v, "untrained_test_nelbo": 40.0 + 0.1 * seed,
                           "solver_calls_per_step": 1.0, "test_bridge_error": 0.3}
                curve = [40 - (40 - v) * min(1.0, e / 10) for e in range(1, epochs + 1)]
                history = {"val_nelbo": curve, "val_kl": [0.1 * e for e in range(epochs)],
                           "val_cosine_st": [0.5] * epochs, "val_cosine_gumbel": [0.8] * epochs}
                runs.append({"method": method, "seed": seed, "settings": {"variant": variant},
                             "metrics": metrics, "history": history})
    return runs


def test_findings_follow_the_runs_and_can_fail():
    runs = _synthetic_runs()
    found = vae_findings.findings(runs)
    assert found["chosen"] == {"dab": {"bridge": "elementwise", "width": 32}, "reinforce": {}, "relax": {},
                               "gumbel_st": {"tau": 1.0}}
    assert found["n_variants"] == vae_findings.FINDINGS["gpu"]["n_variants"]
    assert found["calls_per_step"] == vae_findings.FINDINGS["gpu"]["calls_per_step"]
    assert found["at_grid_edge"] == [] and found["still_rising"] == []
    assert found["trained_beats_untrained"] == sorted(dab_vae.METHODS)
    assert found["plateau_exit"] == {m: 11 for m in dab_vae.METHODS}
    assert found["dab_vs_relax"] == "worse" and found["relax_vs_reinforce"] == "better"
    assert found["widths"] == {"dense": 32, "elementwise": 32} and found["elementwise_vs_dense"] == "better"
    assert found["elementwise_vs_dense_by_width"] == {w: "better" for w in dab_vae.WIDTHS}
    assert found["dab_gain_over_relax"] < 0 and found["paper_gain_reached"] is False
    assert found["bridge"]["dense"] == {"error": 0.3, "cosine_st": 0.5, "cosine_gumbel": 0.8}
    assert found["means"]["untrained"] == 40.2
    # a flipped result flips a finding: the checks can fail
    better = copy.deepcopy(runs)
    for run in better:
        if run["method"] == "dab":
            run["metrics"]["test_nelbo"] = 18.0 + 0.01 * run["seed"]
    flipped = vae_findings.findings(better)
    assert flipped["dab_vs_relax"] == "better" and flipped["paper_gain_reached"] is True
    rising = copy.deepcopy(runs)
    for run in rising:
        run["history"]["val_nelbo"] = [40 - 0.1 * e for e in range(40)]
        run["history"]["val_kl"] = [0.0] * 40
    moved = vae_findings.findings(rising)
    assert moved["still_rising"] == sorted(dab_vae.METHODS)
    assert moved["dab_vs_relax"] == moved["elementwise_vs_dense"] == "not testable at this budget"
    assert moved["plateau_exit"] == {m: None for m in dab_vae.METHODS}
    with pytest.raises(ValueError, match="lack the methods"):
        vae_findings.findings([r for r in runs if r["method"] != "relax"])

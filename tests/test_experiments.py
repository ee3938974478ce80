"""The experiments of Part III: the runner, the pieces of each experiment, every config for
one step (the gpu config included, run on the CPU), and the committed results."""
import itertools
import json
import math
from pathlib import Path

import pytest
import torch

from discgrad.bridges import imitation_error
from discgrad.experiments import dvae, l2x, runner, summary
from discgrad.findings import dvae as dvae_findings
from discgrad.projections import P_mean, P_std
from discgrad.results import load_results, results_path
from discgrad.scale import SCALES

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = {"dvae": dvae, "l2x": l2x}


# --- the runner ------------------------------------------------------------------------------

def _fake_run(method, scale, seed, max_steps=None, k=1):
    return {"experiment": "fake", "method": method, "settings": {"k": k, "scale": scale}, "seed": seed,
            "metrics": {"loss": float(seed + k + (method == "b"))}, "history": {"loss": [9.0, float(seed)]},
            "wall_time_s": 0.01, "device": "cpu"}


FAKE = runner.Experiment(name="fake", methods=("a", "b"), configs={s: {"ks": [1, 2]} for s in SCALES},
                         run=_fake_run, variants=lambda c: [{"k": k} for k in c["ks"]], variant_keys=("k",),
                         metrics=("loss",))


def test_run_all_records_every_method_variant_and_seed_with_provenance(tmp_path):
    path = runner.run_all(FAKE, "smoke", seeds=[0, 1], root=tmp_path, command="cmd")
    assert path == results_path("fake", "smoke", tmp_path)
    runs = load_results(path)["runs"]
    assert [(r["settings"]["k"], r["method"], r["seed"]) for r in runs] == list(
        itertools.product([1, 2], ["a", "b"], [0, 1]))
    assert all(r["provenance"]["command"] == "cmd" and r["provenance"]["scale"] == "smoke" for r in runs)
    # rerunning replaces the same runs; fresh starts the file over
    runner.run_all(FAKE, "smoke", seeds=[0], root=tmp_path, methods=["a"])
    assert len(load_results(path)["runs"]) == 8
    runner.run_all(FAKE, "smoke", seeds=[0], root=tmp_path, methods=["a"], fresh=True)
    assert len(load_results(path)["runs"]) == 2
    with pytest.raises(ValueError, match="unknown methods"):
        runner.run_all(FAKE, "smoke", methods=["c"], root=tmp_path)


def test_summaries_group_by_method_and_variant(tmp_path):
    runs = load_results(runner.run_all(FAKE, "cpu", seeds=[0, 1, 2], root=tmp_path))["runs"]
    table = summary.summarize(runs, ["loss"], variant_keys=("k",))
    assert list(table) == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert table[("b", 2)]["loss"] == (4.0, 1.0, 3)  # seeds 0, 1, 2 give 3, 4, 5
    assert summary.mean_curves(runs, "loss", ("k",))[("a", 1)] == [9.0, 1.0]
    md = summary.markdown_table(table, {"loss": "loss"}, ("method", "k"))
    assert md.splitlines()[2] == "| a | 1 | 2 ± 1 | 3 |"
    assert "b 2: loss=4 ± 1 (n=3)" in summary.format_table(table)
    assert math.isnan(summary.mean_std([1.0])[1])


def test_compare_uses_the_seed_spread():
    assert summary.compare((1.0, 0.1, 3), (1.5, 0.1, 3)) == "better"
    assert summary.compare((1.5, 0.1, 3), (1.0, 0.1, 3)) == "worse"
    assert summary.compare((1.0, 0.3, 3), (1.5, 0.3, 3)) == "on par"
    assert summary.compare((1.0, float("nan"), 1), (1.5, float("nan"), 1)) == "better"
    assert summary.compare((0.8, 0.1, 3), (0.5, 0.1, 3), lower_is_better=False) == "better"


def test_torch_threads_restores_the_setting():
    before = torch.get_num_threads()
    with runner.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_command_line_checks_out_and_records(tmp_path, capsys):
    with pytest.raises(SystemExit):
        runner.main(dvae.EXPERIMENT, ["--scale", "smoke", "--out", str(tmp_path / "cpu" / "dvae.json")])
    out = tmp_path / "smoke" / "dvae.json"
    path = runner.main(dvae.EXPERIMENT, ["--scale", "smoke", "--seeds", "3", "--methods", "imle",
                                         "--max-steps", "1", "--out", str(out)])
    assert path == out
    (run,) = load_results(out)["runs"]
    assert run["seed"] == 3 and run["settings"]["steps"] == 1
    assert run["provenance"]["command"].startswith("python -m discgrad.experiments.dvae --scale smoke")
    assert "imle: test_nelbo=" in capsys.readouterr().out


def test_workers_give_the_same_runs_as_one_process(tmp_path):
    kwargs = dict(scale="smoke", seeds=[0], methods=["identity_std", "gumbel_st"], max_steps=2)
    one = load_results(runner.run_all(dvae.EXPERIMENT, root=tmp_path / "one", **kwargs))["runs"]
    two = load_results(runner.run_all(dvae.EXPERIMENT, root=tmp_path / "two", workers=2, **kwargs))["runs"]
    # runs are recorded as they end, so the order may differ; the numbers may not
    def key(r):
        return r["method"], r["seed"]
    assert [r["metrics"] for r in sorted(one, key=key)] == [r["metrics"] for r in sorted(two, key=key)]


# --- every config of every experiment, one step ----------------------------------------------

@pytest.mark.parametrize("name", EXPERIMENTS)
def test_each_scale_has_one_config_with_the_same_keys(name):
    configs = EXPERIMENTS[name].CONFIGS
    assert set(configs) == set(SCALES)
    assert len({tuple(sorted(c)) for c in configs.values()}) == 1


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("method", dvae.METHODS)
def test_dvae_every_method_and_config_runs_one_step(method, scale, tmp_path):
    # the gpu config is exercised here on the CPU: no GPU run has been made in this project
    result = dvae.run(method, scale, seed=0, max_steps=1)
    assert result["settings"]["steps"] == 1 and result["settings"]["groups"] == dvae.CONFIGS[scale]["groups"]
    assert all(math.isfinite(v) for v in result["metrics"].values())
    assert ("train_cosine" in result["metrics"]) == (method != "score_function")
    load_results(runner.record(result, scale, tmp_path))


def test_runs_are_reproducible_and_seeds_differ():
    a, b = (dvae.run("identity_std", "smoke", seed=1, max_steps=3) for _ in range(2))
    assert a["metrics"] == b["metrics"]
    assert dvae.run("identity_std", "smoke", seed=2, max_steps=3)["metrics"] != a["metrics"]
    with pytest.raises(ValueError, match="unknown method"):
        dvae.run("blackbox", "smoke")


# --- the pieces of the discrete VAE ----------------------------------------------------------

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
    sf_all = dvae.SubsetScoreFunction(k, n_samples=len(tuples))
    probs = sf_all.log_prob(logits, coded).exp().squeeze(1)
    torch.testing.assert_close(probs.sum(), torch.tensor(1.0, dtype=torch.float64))
    z = sf(logits)
    assert ((z > 0).sum(-1) == k).all()
    first = (z == 1).squeeze(1).to(torch.float64).mean(0)  # the first draw is a softmax sample
    torch.testing.assert_close(first, torch.softmax(logits[0], 0), atol=0.015, rtol=0)


def test_sampler_updates_are_the_projected_gradient():
    torch.manual_seed(0)
    config = dvae.CONFIGS["smoke"]
    logits = torch.randn(3, config["groups"], config["categories"], requires_grad=True)
    g = torch.randn(3, config["groups"], config["categories"])
    cosines = {}
    for method, projection in [("identity", None), ("identity_mean", P_mean), ("identity_std", P_std)]:
        sampler = dvae.TopKSampler(method, config)
        z = sampler(logits)
        assert ((z.sum(-1) - config["k"]) == 0).all()
        (z * g).sum().backward()
        gz, u, w = sampler.last_grads["z"], sampler.last_grads["w"], sampler.last_w
        torch.testing.assert_close(gz, g.reshape(-1, g.shape[-1]))
        assert not torch.equal(w, logits.detach().reshape(w.shape))  # the noise is on in training
        # u = +P'(w)^T g (TopK is a max solver), the projection's Jacobian at the noisy logits
        expected = gz if projection is None else torch.autograd.functional.vjp(projection, w, gz)[1]
        torch.testing.assert_close(u, expected)
        torch.testing.assert_close(logits.grad.reshape(u.shape), u)
        cosines[method] = float(dvae.cosine(gz, u))
        logits.grad = None
    assert cosines["identity"] == pytest.approx(1.0)
    assert cosines["identity_std"] < cosines["identity_mean"] < 1.0  # each projection removes more


def test_dab_sampler_sends_the_bridge_vjp_and_trains_only_the_bridge():
    torch.manual_seed(0)
    config = dvae.CONFIGS["smoke"]
    logits = torch.randn(3, config["groups"], config["categories"], requires_grad=True)
    g = torch.randn(3, config["groups"], config["categories"])
    sampler = dvae.TopKSampler("dab", config)
    z = sampler(logits)
    assert ((z.sum(-1) - config["k"]) == 0).all()  # the exact k-hot sample forward
    (z * g).sum().backward()
    gz, u, w = sampler.last_grads["z"], sampler.last_grads["w"], sampler.last_w
    assert not torch.equal(w, logits.detach().reshape(w.shape))  # noise on in training
    w_ = w.clone().requires_grad_(True)
    expected, = torch.autograd.grad(sampler.layer.bridge(w_), w_, gz)
    torch.testing.assert_close(u, expected)  # the bridge's vector-Jacobian product
    assert all(p.grad is None for p in sampler.parameters())  # the task loss skips the bridge
    sampler.layer.bridge_loss.backward()
    assert all(p.grad is not None for p in sampler.parameters())
    torch.testing.assert_close(logits.grad.reshape(u.shape), u)  # ... and never reaches the logits
    hard = sampler.layer.hard_fn(w)
    assert float(imitation_error(hard, hard)) == 0.0
    constant = hard.mean(0).expand_as(hard)  # the best constant predictor scores 1
    assert float(imitation_error(constant, hard)) == pytest.approx(1.0)
    assert float(imitation_error(constant + 0.1, hard)) > 1.0


def test_cosine_counts_no_update_as_zero_and_skips_no_signal():
    g = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    u = torch.tensor([[3.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    assert float(dvae.cosine(g, u)) == pytest.approx(0.5)
    assert float(dvae.cosine(torch.zeros(2, 2), u[:2])) == 0.0


def test_eval_samples_are_k_hot_and_use_the_given_noise():
    config = dvae.CONFIGS["smoke"]
    sampler = dvae.TopKSampler("imle", config)
    logits = torch.randn(4, config["groups"], config["categories"])
    noise = sampler.noise(logits.shape, generator=torch.Generator().manual_seed(0))
    z = sampler.sample(logits, noise)
    assert torch.equal(z.sum(-1), torch.full(z.shape[:-1], float(config["k"])))
    assert torch.equal(z, sampler.sample(logits, noise))
    top = (logits + noise).topk(config["k"], dim=-1).indices
    assert torch.equal(z.gather(-1, top), torch.ones_like(top, dtype=z.dtype))


# --- what the chapters state about the committed results -------------------------------------

def test_findings_reject_incomplete_results():
    with pytest.raises(ValueError, match="lack the methods"):
        dvae_findings.findings([])
    # a flipped result flips the finding: the check can fail
    runs = load_results(ROOT / "results" / "cpu" / "dvae.json")["runs"]
    swapped = json.loads(json.dumps(runs))
    for run in swapped:
        if run["method"] == "identity_std":
            run["metrics"]["test_nelbo"] += 10.0
    assert dvae_findings.findings(swapped)["std_beats_imle"] is False
    for run in swapped:
        if run["method"] == "dab":
            run["metrics"]["test_bridge_error"] = 0.05
    assert dvae_findings.findings(swapped)["dab_bridge_imperfect"] is False

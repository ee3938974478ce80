"""Chapter 18's experiment: the predict-then-optimize data, the two problems, every method for
a few steps at every scale's config (the gpu config included, run on the CPU), the units the
grids are set in, the findings' shape, and the PyEPO comparison script's parts."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from discgrad.data.pto import cost_map, knapsack_instance, make_pto_data, polynomial_costs
from discgrad.estimators import Identity
from discgrad.experiments import own_solver as own
from discgrad.findings import own_solver as own_findings
from discgrad.losses import absolute_loss
from discgrad.scale import SCALES

ROOT = Path(__file__).resolve().parent.parent


def test_costs_are_a_noisy_polynomial_of_the_features():
    B = cost_map(5, 40, seed=0)
    exact = make_pto_data(500, B, deg=1, noise_width=0.0, seed=1)
    # degree 1 without noise: the costs are an affine function of the features
    X = torch.cat([exact.features, torch.ones(500, 1)], 1)
    fit = X @ torch.linalg.lstsq(X, exact.costs).solution
    assert (fit - exact.costs).abs().max() < 1e-4
    # the noise multiplies every cost by a factor in [1 - 0.5, 1 + 0.5]
    noisy = make_pto_data(500, B, deg=4, noise_width=0.5, seed=1)
    ratio = noisy.costs / polynomial_costs(noisy.features, B, 4)
    assert 0.5 <= float(ratio.min()) and float(ratio.max()) <= 1.5 and float(ratio.std()) > 0.2
    assert torch.equal(noisy.features, exact.features) and (noisy.costs > 0).all()
    # a split depends only on its seed
    assert torch.equal(make_pto_data(10, B, 4, 0.5, seed=7).costs, make_pto_data(10, B, 4, 0.5, seed=7).costs)
    assert not torch.equal(make_pto_data(10, B, 4, 0.5, seed=7).costs, make_pto_data(10, B, 4, 0.5, seed=8).costs)


def test_bad_data_arguments_are_named():
    B = cost_map(5, 4, seed=0)
    with pytest.raises(ValueError, match="noise_width"):
        make_pto_data(3, B, 2, 1.0, seed=0)
    with pytest.raises(ValueError, match="agree in p"):
        polynomial_costs(torch.zeros(2, 3), B, 2)
    with pytest.raises(ValueError, match="deg"):
        make_pto_data(3, B, 0, 0.1, seed=0)
    with pytest.raises(ValueError, match="high"):
        knapsack_instance(5, seed=0, low=4, high=3)
    with pytest.raises(ValueError, match="unknown problem"):
        own.make_solver("tsp")


@pytest.mark.parametrize("problem", own.PROBLEMS)
def test_splits_hold_optimal_solutions_and_the_stated_cost_scale(problem):
    splits = own.make_splits(own.CONFIGS["cpu"], problem)
    solver = own.make_solver(problem)
    assert [len(s) for s in splits] == [1000, 250, 1000]
    for split in splits:
        assert torch.equal(split.solutions, solver(split.costs))
        assert torch.allclose(split.objectives, (split.costs * split.solutions).sum(1))
    # the scale the grids are set from (the module docstring): mean and per-instance spread
    costs = splits.train.costs
    mean, spread = float(costs.mean()), float(costs.std(1).mean())
    expected = {"path": (0.76, 0.49), "knapsack": (3.7, 2.4)}[problem]
    assert abs(mean - expected[0]) < 0.05 * expected[0] and abs(spread - expected[1]) < 0.05 * expected[1]
    # the splits are different instances
    assert not torch.equal(splits.train.features[:10], splits.test.features[:10])


def test_every_path_has_eight_edges_so_p_mean_changes_nothing():
    """The path's decisions and Identity's gradient with the absolute loss are the same with
    P_mean as without: why the path's identity grid leaves P_mean out."""
    splits = own.make_splits(own.CONFIGS["smoke"], "path")
    solver = own.make_solver("path")
    assert torch.equal(splits.train.solutions.sum(1), torch.full((200,), 8.0))
    w = torch.randn(200, 40, generator=torch.Generator().manual_seed(0))
    grads = []
    for projection in (None, "mean"):
        x = w.clone().requires_grad_()
        y = Identity(solver, projection=projection)(x)
        absolute_loss(y, splits.train.solutions, reduction="sum").backward()
        grads.append(x.grad)
    assert torch.equal(solver(w), solver(w - w.mean(1, keepdim=True)))
    assert torch.allclose(grads[0], grads[1], atol=1e-7) and grads[0].abs().sum() > 0


def test_grids_and_families():
    for name, spec in own.METHODS.items():
        problem = name.split("_", 1)[0]
        assert spec.setting == {"problem": problem}
        expected = {"identity": 6 if problem == "path" else 4, "blackbox": 3, "fenchel_young": 4,
                    "spo_plus": 1, "two_stage": 1}[spec.family]
        assert len(spec.variants()) == expected, name
    assert own_findings.FINDINGS["gpu"]["n_variants"] == {m: len(s.variants()) for m, s in own.METHODS.items()}
    # Blackbox's lambda shifts a wrong entry's cost by lambda / d: from a tenth of the costs'
    # spread to ten times it
    for problem, (d, spread) in {"path": (40, 0.49), "knapsack": (20, 2.4)}.items():
        shifts = [lam / d / spread for lam in own.METHODS[f"{problem}_blackbox"].grid["lam"]]
        assert 0.05 < shifts[0] < 0.25 and 5 < shifts[-1] < 21, (problem, shifts)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("method", sorted(own.METHODS))
def test_every_method_trains_at_every_scale(method, scale):
    spec = own.METHODS[method]
    config = {**own.CONFIGS[scale], "n_train": 64, "n_val": 32, "n_test": 32}  # the sizes of the scale, less data
    result = own.TASK.run(method, config, seed=0, max_steps=2, variant=spec.variants()[-1])
    m = result["metrics"]
    assert result["settings"]["steps"] == 2 and result["settings"]["problem"] == spec.setting["problem"]
    for key in ("val_normalised_regret", "test_normalised_regret", "untrained_test_normalised_regret"):
        assert 0 <= m[key] < 10
    calls = own_findings.FINDINGS["gpu"]["calls_per_step"][method]
    assert m["solver_calls_per_step"] == calls


def test_eval_mode_is_the_exact_solver_and_cost_losses_count_their_calls():
    config = own.CONFIGS["smoke"]
    w = torch.rand(8, 20) * 5
    for method in ("knapsack_identity", "knapsack_fenchel_young", "knapsack_spo_plus", "knapsack_two_stage"):
        layer = own.TASK.layer(method, own.METHODS[method].variants()[-1], config, problem="knapsack").eval()
        assert torch.equal(layer(w), own.make_solver("knapsack")(w))
    splits = own.make_splits(config, "knapsack")
    model = torch.nn.Linear(5, 20)
    layer = own.TASK.layer("knapsack_spo_plus", {}, config, problem="knapsack").train()
    batch = splits.train[torch.arange(16)]
    loss = own.TASK.loss(model, layer, batch, config, problem="knapsack")
    assert loss > 0 and layer.solver_calls == 1


def test_findings_on_a_short_run(tmp_path):
    from discgrad.experiments.runner import run_all
    from discgrad.results import load_results

    config = {**own.CONFIGS["smoke"], "n_train": 64, "n_val": 32, "n_test": 32}
    path = run_all(own.EXPERIMENT, "smoke", [0, 1], root=tmp_path, max_steps=2, config=config)
    runs = load_results(path)["runs"]
    assert len(runs) == 2 * sum(len(s.variants()) for s in own.METHODS.values())
    found = own_findings.findings(runs)
    gpu = own_findings.FINDINGS["gpu"]
    assert {k: found[k] for k in gpu} == gpu
    assert set(found["verdicts"]) == set(own.PROBLEMS)
    assert set(found["verdicts"]["path"]) == {*own_findings.PAIRS, "margin_vs_none"}
    assert set(found["means"]) == {*own.METHODS, "path_untrained", "knapsack_untrained"}
    with pytest.raises(ValueError, match="lack the methods"):
        own_findings.findings([r for r in runs if r["method"] != "path_spo_plus"])


def test_the_pyepo_script_has_a_command_line():
    out = subprocess.run([sys.executable, "benchmarks/pyepo_comparison.py", "--help"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0 and "usage:" in out.stdout, out.stderr


def test_pyepo_solves_the_same_instances_after_the_permutation():
    pytest.importorskip("pyepo")
    pytest.importorskip("ortools")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import pyepo_comparison

    for problem in own.PROBLEMS:
        splits = own.make_splits(own.CONFIGS["smoke"], problem)
        model, perm = pyepo_comparison.pyepo_model(problem)
        for i in range(5):
            costs = splits.test.costs[i]
            model.setObj(costs[perm].numpy())
            solution, objective = model.solve()
            assert abs(objective - float(splits.test.objectives[i])) < 1e-4 * abs(objective)
            assert torch.allclose(torch.as_tensor(solution, dtype=torch.float32), splits.test.solutions[i][perm],
                                  atol=1e-6)

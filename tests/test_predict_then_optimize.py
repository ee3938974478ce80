"""Regret, SPO+ and the solved data set: their defining properties on random instances of a
min solver (graph shortest path) and two max solvers (knapsack, top-k), and one training run."""
import pytest
import torch

from discgrad import Identity
from discgrad.losses import absolute_loss
from discgrad.predict_then_optimize import SolvedDataset, normalised_regret, regret, spo_plus_loss
from discgrad.solvers import GraphShortestPath, Knapsack, TopK

SOLVERS = {"shortest_path": (GraphShortestPath.grid(4, 4), 24), "knapsack": (Knapsack([3, 1, 4, 1, 5, 9, 2, 6], 12), 8),
           "topk": (TopK(3), 10)}


@pytest.mark.parametrize("name", SOLVERS)
def test_spo_plus_is_zero_at_the_truth_and_bounds_the_regret(name):
    solver, size = SOLVERS[name]
    g = torch.Generator().manual_seed(0)
    c = torch.rand(64, size, generator=g, dtype=torch.float64) + 0.1
    c_hat = torch.rand(64, size, generator=g, dtype=torch.float64) + 0.1
    assert torch.allclose(spo_plus_loss(solver, c, c, reduction="none"), torch.zeros(64, dtype=torch.float64))
    assert torch.equal(regret(solver, c, c, reduction="none"), torch.zeros(64, dtype=torch.float64))
    r = regret(solver, c_hat, c, reduction="none")
    assert (r >= 0).all() and (r > 0).any()
    assert (spo_plus_loss(solver, c_hat, c, reduction="none") >= r - 1e-12).all()


@pytest.mark.parametrize("name", SOLVERS)
def test_spo_plus_gradient_is_twice_the_solution_gap(name):
    solver, size = SOLVERS[name]
    c = torch.rand(8, size, dtype=torch.float64) + 0.1
    c_hat = (torch.rand(8, size, dtype=torch.float64) + 0.1).requires_grad_(True)
    spo_plus_loss(solver, c_hat, c, reduction="sum").backward()
    y_star, y_tilde = solver(c), solver(2 * c_hat.detach() - c)
    sign = 1 if solver.sense == "min" else -1
    assert torch.allclose(c_hat.grad, 2 * sign * (y_star - y_tilde))


def test_normalised_regret_and_known_objectives_agree():
    solver, size = SOLVERS["shortest_path"]
    c, c_hat = torch.rand(16, size) + 0.1, torch.rand(16, size) + 0.1
    data = SolvedDataset(solver, torch.zeros(16, 1), c, batch_size=5)
    assert torch.allclose(regret(solver, c_hat, c, data.objectives), regret(solver, c_hat, c))
    assert torch.allclose(normalised_regret(solver, c_hat, c),
                          regret(solver, c_hat, c, reduction="sum") / data.objectives.abs().sum())
    assert torch.allclose(spo_plus_loss(solver, c_hat, c, data.solutions), spo_plus_loss(solver, c_hat, c))


def test_bad_inputs_are_named():
    solver, size = SOLVERS["topk"]
    with pytest.raises(ValueError, match="same shape"):
        regret(solver, torch.rand(2, size), torch.rand(2, size + 1))
    with pytest.raises(ValueError, match="reduction"):
        spo_plus_loss(solver, torch.rand(2, size), torch.rand(2, size), reduction="avg")
    with pytest.raises(ValueError, match="same length"):
        SolvedDataset(solver, torch.rand(3, 2), torch.rand(2, size))
    with pytest.raises(ValueError, match="undefined"):
        normalised_regret(solver, torch.rand(2, size), torch.zeros(2, size))


def _shortest_path_data(n, seed):
    """PyEPO-style synthetic data: costs a noisy polynomial of linear features."""
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(n, 5, generator=g)
    weights = torch.bernoulli(torch.full((5, 24), 0.5), generator=torch.Generator().manual_seed(99))
    costs = ((features @ weights / 5 ** 0.5 + 3) ** 2 / 9 + 1) * (1 + 0.2 * torch.rand(n, 24, generator=g))
    return features, costs


@pytest.mark.parametrize("method", ["spo_plus", "identity"])
def test_training_lowers_the_regret_of_a_linear_model(method):
    solver = SOLVERS["shortest_path"][0]
    train = SolvedDataset(solver, *_shortest_path_data(512, 0))
    test_x, test_c = _shortest_path_data(256, 1)
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 24)
    before = float(normalised_regret(solver, model(test_x), test_c))
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    layer = Identity(solver, projection="norm")
    for _ in range(3):
        for batch in torch.utils.data.DataLoader(train, batch_size=64, shuffle=True):
            optimiser.zero_grad()
            c_hat = model(batch.features)
            loss = (spo_plus_loss(solver, c_hat, batch.costs, batch.solutions) if method == "spo_plus"
                    else absolute_loss(layer(c_hat), batch.solutions))
            loss.backward()
            optimiser.step()
    after = float(normalised_regret(solver, model(test_x).detach(), test_c))
    assert after < before / 2, (before, after)

"""The solver adapters: clamped_shortest_path and symmetric_tsp."""
import pytest
import torch

from discgrad import Identity
from discgrad.solvers import TSP, ShortestPath, clamped_shortest_path, symmetric_tsp


def test_clamped_shortest_path_accepts_negative_costs_and_changes_nothing_else():
    g = torch.Generator().manual_seed(0)
    w = torch.rand(6, 5, 5, generator=g)
    solver = clamped_shortest_path()
    assert solver.sense == "min"
    assert torch.equal(solver(w), ShortestPath()(w))
    shifted = w - 0.5                   # what P_mean or margin noise can produce
    with pytest.raises(ValueError, match=">= 0"):
        ShortestPath()(shifted)
    assert torch.equal(solver(shifted), ShortestPath()(shifted.clamp_min(0)))
    with pytest.raises(ValueError, match="NaN"):
        solver(torch.full((1, 3, 3), float("nan")))


def test_symmetric_tsp_accepts_asymmetric_costs_and_keeps_the_optimum():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(8, 6, 2, generator=g)
    w = torch.cdist(p, p)
    solver = symmetric_tsp()
    assert solver.sense == "min"
    assert torch.equal(solver(w), TSP()(w))
    noisy = w + 0.1 * torch.randn(w.shape, generator=g)  # asymmetric: TSP refuses it
    with pytest.raises(ValueError, match="symmetric"):
        TSP()(noisy)
    y = solver(noisy)
    assert torch.equal(y, TSP()((noisy + noisy.transpose(1, 2)) / 2))
    # a tour's adjacency is symmetric: <w, y> = <(w + w^T)/2, y> for every tour
    sym = (noisy + noisy.transpose(1, 2)) / 2
    torch.testing.assert_close((noisy * y).sum((1, 2)), (sym * y).sum((1, 2)))


def test_adapters_work_inside_an_estimator():
    w = torch.rand(2, 4, 4, requires_grad=True)
    layer = Identity(clamped_shortest_path(), projection="mean")  # P_mean makes costs negative
    y = layer(w)
    centred = w.detach() - w.detach().mean((1, 2), keepdim=True)
    assert torch.equal(y, ShortestPath()(centred.clamp_min(0)))
    g = torch.randn(2, 4, 4, generator=torch.Generator().manual_seed(1))
    (y * g).sum().backward()
    # a min solver: -g, through P_mean's Jacobian
    torch.testing.assert_close(w.grad, -(g - g.mean((1, 2), keepdim=True)))


def test_solver_errors_name_the_adapter_that_fixes_them():
    with pytest.raises(ValueError, match="must be >= 0.*clamped_shortest_path"):
        ShortestPath()(torch.full((1, 3, 3), -1.0))
    w = torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="must be symmetric.*symmetric_tsp"):
        TSP()(w)

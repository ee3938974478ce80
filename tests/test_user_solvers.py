"""A researcher's own solver: the Solver wrapper's modes, check_solver, the domain options of
ShortestPath and TSP, and the general-graph shortest path and knapsack solvers, each checked
against an independent reference (networkx, brute force) and trained through every estimator."""
import itertools
import warnings

import networkx as nx
import numpy as np
import pytest
import torch

from discgrad import DAB, IMLE, Blackbox, FenchelYoungLoss, Identity, Perturbed, StraightThrough
from discgrad.bridges import bridge_of_kind
from discgrad.solvers import (TSP, GraphShortestPath, Knapsack, ShortestPath, Solver, TopK, check_solver,
                              clamped_shortest_path, symmetric_tsp)


def one_hot_max(costs):
    """A numpy solver of one instance, PyEPO style: (solution, objective)."""
    y = np.zeros_like(costs)
    y[np.argmax(costs)] = 1.0
    return y, float(costs @ y)


# --- Solver ---------------------------------------------------------------------------------


def test_solver_detaches_the_costs():
    seen = []
    solver = Solver(lambda w: (seen.append(w.requires_grad), (w > 0).numpy())[1], sense="max")
    w = torch.randn(3, 4, requires_grad=True)
    y = solver(w)  # a numpy call on a tensor that requires grad would raise without the detach
    assert seen == [False] and y.dtype == w.dtype and not y.requires_grad


@pytest.mark.parametrize("processes", [1, 2])
def test_per_instance_numpy_solver_with_objective(processes):
    w = torch.randn(5, 6)
    y = Solver(one_hot_max, sense="max", per_instance=True, processes=processes)(w)
    assert torch.equal(y, TopK(1)(w))


def test_batch_solver_may_return_a_list_of_arrays_or_solutions_and_objectives():
    w = torch.randn(4, 3)
    expected = TopK(1)(w)
    as_list = Solver(lambda w: [one_hot_max(c.numpy())[0] for c in w], sense="max")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no slow list-of-arrays conversion warning
        assert torch.equal(as_list(w), expected)
    pair = Solver(lambda w: (TopK(1)(w), w.amax(1)), sense="max")
    assert torch.equal(pair(w), expected)


def test_solver_refuses_mismatched_or_bad_returns():
    with pytest.raises(ValueError, match="different shapes"):
        Solver(lambda c: np.zeros(len(c) if c[0] > 0 else 2), sense="min", per_instance=True)(
            torch.tensor([[1.0, 2.0, 3.0], [-1.0, 2.0, 3.0]]))
    with pytest.raises(ValueError, match="not an array of numbers"):
        Solver(lambda w: "no", sense="min")(torch.randn(2, 3))
    with pytest.raises(ValueError, match="per_instance=True"):
        Solver(one_hot_max, sense="max", processes=2)
    with pytest.raises(TypeError, match="per_instance"):
        Solver(one_hot_max, sense="max", per_instance=1)


def test_check_solver_catches_a_wrong_sense_and_a_wrong_shape():
    w = torch.randn(3, 6)
    check_solver(TopK(2), w)
    check_solver(Solver(one_hot_max, sense="max", per_instance=True), w)
    with pytest.raises(ValueError, match="is its sense 'max'"):
        check_solver(Solver(one_hot_max, sense="min", per_instance=True), w)
    with pytest.raises(ValueError, match="same shape as the costs"):
        check_solver(Solver(lambda w: w[:, :2] > 0, sense="max"), w)
    knapsack = Knapsack([3, 4, 2, 5, 1], capacity=7)
    check_solver(knapsack, torch.rand(4, 5))
    with pytest.raises(ValueError, match="is its sense 'max'"):
        check_solver(Solver(knapsack, sense="min"), torch.rand(4, 5))
    check_solver(GraphShortestPath.grid(3, 3), torch.rand(2, 12))


def test_a_wrongly_sensed_solver_trains_the_wrong_way():
    """Why check_solver exists: Identity around a max solver declared "min" trains away from the labels."""
    torch.manual_seed(0)
    target = TopK(1)(torch.randn(64, 5))
    accuracy = {}
    for sense in ("max", "min"):
        w = torch.zeros(64, 5, requires_grad=True)
        layer = Identity(Solver(lambda c: TopK(1)(c), sense=sense))
        optimiser = torch.optim.SGD([w], lr=0.1)
        for _ in range(20):
            optimiser.zero_grad()
            (layer(w + 0.01 * torch.randn_like(w)) - target).abs().sum().backward()
            optimiser.step()
        accuracy[sense] = float((TopK(1)(w.detach()) * target).sum() / 64)
    assert accuracy == {"max": 1.0, "min": 0.0}


# --- ShortestPath(clamp), TSP(symmetrize) ---------------------------------------------------


def test_clamp_and_symmetrize_options_equal_the_adapters():
    w = torch.randn(4, 5, 5)
    with pytest.raises(ValueError, match=r"ShortestPath\(clamp=True\)"):
        ShortestPath()(w)
    assert torch.equal(ShortestPath(clamp=True)(w), ShortestPath()(w.clamp_min(0)))
    assert torch.equal(clamped_shortest_path()(w), ShortestPath(clamp=True)(w))
    d = torch.rand(3, 6, 6)
    with pytest.raises(ValueError, match=r"TSP\(symmetrize=True\)"):
        TSP()(d)
    assert torch.equal(TSP(symmetrize=True)(d), TSP()((d + d.transpose(1, 2)) / 2))
    assert torch.equal(symmetric_tsp()(d), TSP(symmetrize=True)(d))
    with pytest.raises(TypeError, match="clamp"):
        ShortestPath(clamp="yes")


def test_identity_with_a_projection_on_shortest_path_says_what_to_use_and_then_works():
    w = torch.rand(2, 4, 4, requires_grad=True)
    with pytest.raises(ValueError, match=r"clamp=True"):
        Identity(ShortestPath(), projection="mean")(w)
    Identity(ShortestPath(clamp=True), projection="mean")(w).sum().backward()
    assert w.grad is not None and torch.isfinite(w.grad).all()


@pytest.mark.parametrize("make", [
    lambda s: Identity(s, projection="std", noise=0.5),
    lambda s: Blackbox(s, lam=2.0),
    lambda s: Perturbed(s, sigma=0.5, n_samples=3),
])
def test_estimators_compose_with_the_domain_options(make):
    for solver, w in ((ShortestPath(clamp=True), torch.rand(2, 4, 4)), (TSP(symmetrize=True), torch.rand(2, 5, 5))):
        w.requires_grad_(True)
        make(solver)(w).sum().backward()
        assert torch.isfinite(w.grad).all()
    d = torch.rand(2, 5, 5)
    FenchelYoungLoss(TSP(symmetrize=True), sigma=0.5, n_samples=3)(d, TSP()((d + d.transpose(1, 2)) / 2))


# --- GraphShortestPath ----------------------------------------------------------------------


def _networkx_length(edges, costs, source, target):
    graph = nx.DiGraph()
    for (u, v), c in zip(edges, costs):
        if not graph.has_edge(u, v) or graph[u][v]["weight"] > c:
            graph.add_edge(int(u), int(v), weight=float(c))
    return nx.bellman_ford_path_length(graph, source, target)


def _is_path(edges, y, source, target):
    chosen = [tuple(e) for e, t in zip(edges.tolist(), y.tolist()) if t == 1]
    node, seen = source, {source}
    out = {u: v for u, v in chosen}
    for _ in chosen:
        node = out[node]
        assert node not in seen
        seen.add(node)
    return node == target and len(out) == len(chosen)


@pytest.mark.parametrize("seed", range(6))
def test_graph_shortest_path_matches_networkx(seed):
    g = torch.Generator().manual_seed(seed)
    n = 9
    pairs = [(u, v) for u in range(n) for v in range(n) if u != v]
    keep = torch.rand(len(pairs), generator=g) < 0.35
    edges = torch.tensor([p for p, k in zip(pairs, keep) if k] + [(i, i + 1) for i in range(n - 1)])
    solver = GraphShortestPath(edges, source=0, target=n - 1)
    w = torch.rand(16, len(edges), generator=g, dtype=torch.float64)
    y = solver(w)
    for b in range(16):
        assert _is_path(edges, y[b], 0, n - 1)
        assert float(w[b] @ y[b]) == pytest.approx(_networkx_length(edges.tolist(), w[b].tolist(), 0, n - 1))


def test_graph_shortest_path_with_zero_cost_cycles_and_ties():
    """Both directions of every edge and costs in {0, 1}: tight edges form zero-cost cycles."""
    g = torch.Generator().manual_seed(7)
    n = 8
    pairs = [(u, v) for u in range(n) for v in range(n) if u != v and torch.rand(1, generator=g) < 0.4]
    pairs += [(v, u) for u, v in pairs] + [(i, i + 1) for i in range(n - 1)]
    edges = torch.tensor(pairs)
    solver = GraphShortestPath(edges, source=0, target=n - 1)
    w = torch.randint(0, 2, (32, len(pairs)), generator=g).double()
    y = solver(w)
    for b in range(32):
        assert _is_path(edges, y[b], 0, n - 1)
        assert float(w[b] @ y[b]) == _networkx_length(edges.tolist(), w[b].tolist(), 0, n - 1)


def test_graph_shortest_path_on_the_grid_allows_negative_costs_on_a_dag():
    solver = GraphShortestPath.grid(5, 5)
    w = torch.randn(8, 40, dtype=torch.float64)
    y = solver(w)
    assert (y.sum(1) == 8).all()  # every monotone path of the 5x5 grid has 8 edges
    for b in range(8):
        assert float(w[b] @ y[b]) == pytest.approx(_networkx_length(solver.edges.tolist(), w[b].tolist(), 0, 24))


def test_graph_shortest_path_refuses_negative_cycles_unreachable_targets_and_bad_graphs():
    cycle = GraphShortestPath([[0, 1], [1, 0], [1, 2]], source=0, target=2)
    with pytest.raises(ValueError, match="negative total"):
        cycle(torch.tensor([[-1.0, -1.0, 1.0]]))
    with pytest.raises(ValueError, match="cannot be reached"):
        GraphShortestPath([[0, 1], [2, 1]], source=0, target=2)(torch.ones(1, 2))
    with pytest.raises(ValueError, match="E = 2 edges"):
        GraphShortestPath([[0, 1], [1, 2]], source=0, target=2)(torch.ones(1, 3))
    with pytest.raises(TypeError, match="integer"):
        GraphShortestPath([[0.0, 1.0]], source=0, target=1)
    with pytest.raises(ValueError, match="differ"):
        GraphShortestPath([[0, 1]], source=1, target=1)
    with pytest.raises(ValueError, match="num_nodes"):
        GraphShortestPath([[0, 5]], source=0, target=1, num_nodes=3)


# --- Knapsack -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_knapsack_matches_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    n = 8
    weights = torch.randint(0, 6, (n,), generator=g)
    capacity = int(torch.randint(0, 15, (1,), generator=g))
    solver = Knapsack(weights, capacity)
    w = torch.randn(12, n, generator=g, dtype=torch.float64)
    y = solver(w)
    subsets = torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)
    feasible = subsets[(subsets @ weights.double()) <= capacity]
    assert ((y @ weights.double()) <= capacity).all()
    assert torch.allclose((w * y).sum(1), (w @ feasible.T).amax(1))


def test_knapsack_refuses_bad_weights_and_shapes():
    with pytest.raises(ValueError, match=">= 0"):
        Knapsack([1, -2], 3)
    with pytest.raises(TypeError, match="integer"):
        Knapsack([1.5, 2.0], 3)
    with pytest.raises(ValueError, match="capacity"):
        Knapsack([1, 2], -1)
    with pytest.raises(ValueError, match="n = 2 items"):
        Knapsack([1, 2], 3)(torch.ones(1, 3))


# --- every estimator around the new solvers -------------------------------------------------


@pytest.mark.parametrize("solver,size", [(GraphShortestPath.grid(3, 3), 12), (Knapsack([2, 3, 1, 4], 5), 4)])
def test_every_estimator_trains_through_the_new_solvers(solver, size):
    w = torch.randn(4, size, requires_grad=True)
    layers = [Identity(solver, projection="mean", noise=0.1), Blackbox(solver, lam=1.0),
              Perturbed(solver, sigma=0.5, n_samples=3), IMLE(solver, lam=1.0, noise="gumbel"),
              StraightThrough(solver, relaxation=torch.sigmoid),
              DAB(solver, bridge_of_kind("dense", size, 8))]
    for layer in layers:
        w.grad = None
        layer(w).sum().backward()
        assert torch.isfinite(w.grad).all(), layer


def test_straight_through_and_dab_take_plain_and_numpy_functions():
    x = torch.randn(3, 4, requires_grad=True)
    StraightThrough(torch.round)(x).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))
    layer = DAB(lambda t: np.sign(t.numpy()), bridge_of_kind("elementwise", 4, 8))
    y = layer(x)
    assert torch.equal(y, torch.sign(x.detach())) and y.dtype == x.dtype


# --- per-instance context through every estimator -------------------------------------------


def _capacity_topk(costs, capacity):
    """Top-``capacity`` of each row, with a per-instance capacity (a torch batch solver)."""
    order = costs.argsort(dim=1, descending=True)
    ranks = order.argsort(dim=1)
    return (ranks < capacity[:, None]).to(costs.dtype)


class _Spy:
    """A max solver that records the capacities it was called with."""

    sense = "max"

    def __init__(self):
        self.calls = []

    def __call__(self, w, capacity):
        self.calls.append(capacity.clone())
        return _capacity_topk(w, capacity)


@pytest.mark.parametrize("make", [
    lambda s: Identity(s, projection="norm", noise=0.1),
    lambda s: Blackbox(s, lam=1.0),
    lambda s: Perturbed(s, sigma=0.5, n_samples=3),
    lambda s: IMLE(s, lam=1.0, noise="gumbel"),
    lambda s: StraightThrough(s, relaxation=torch.sigmoid),
    lambda s: DAB(s, bridge_of_kind("dense", 6, 8)),
])
def test_context_reaches_the_solver_in_every_call(make):
    spy = _Spy()
    capacity = torch.tensor([1, 2, 3, 4])
    w = torch.randn(4, 6, requires_grad=True)
    layer = make(spy)
    y = layer(w, capacity=capacity)
    (y * torch.randn_like(y)).sum().backward()
    assert spy.calls and torch.isfinite(w.grad).all()
    for call in spy.calls:  # stacked noisy copies get the capacities repeated
        assert torch.equal(call, capacity.repeat(len(call) // 4))
    layer.eval()
    with torch.no_grad():
        assert torch.equal(layer(w, capacity=capacity).sum(1), capacity.float())


def test_context_reaches_fenchel_young_and_a_per_instance_numpy_solver():
    spy = _Spy()
    capacity = torch.tensor([2, 1])
    w = torch.randn(2, 5, requires_grad=True)
    FenchelYoungLoss(spy, sigma=0.5, n_samples=4)(w, _capacity_topk(w.detach(), capacity), capacity=capacity).backward()
    assert [len(c) for c in spy.calls] == [8] and torch.isfinite(w.grad).all()

    def one(costs, capacity):  # numpy, one instance: capacity arrives as that instance's entry
        y = np.zeros_like(costs)
        y[np.argsort(-costs)[: int(capacity)]] = 1.0
        return y

    solver = Solver(one, sense="max", per_instance=True)
    y = Identity(solver)(w, capacity=capacity)
    assert torch.equal(y.sum(1), capacity.float())


# --- a PyEPO model as a solver (skipped without pyepo) ---------------------------------------


def test_from_pyepo_matches_the_built_in_grid_shortest_path():
    pytest.importorskip("pyepo")
    ort = pytest.importorskip("pyepo.model.ort")
    from discgrad.solvers import from_pyepo

    model = ort.shortestPathModel((5, 5))
    solver = from_pyepo(model)
    assert solver.sense == "min"
    costs = torch.rand(6, model.num_cost, dtype=torch.float64) + 0.1
    ours = GraphShortestPath(model.arcs, source=0, target=24)  # the same grid in PyEPO's edge order
    assert torch.allclose((costs * solver(costs)).sum(1), (costs * ours(costs)).sum(1))
    w = costs.clone().requires_grad_(True)
    Identity(solver, projection="norm")(w).sum().backward()
    assert torch.isfinite(w.grad).all()


def test_from_pyepo_refuses_what_is_not_a_model():
    from discgrad.solvers import from_pyepo

    with pytest.raises(TypeError, match="optModel"):
        from_pyepo(object())


# --- the solution cache ---------------------------------------------------------------------


def test_cached_solver_answers_from_the_pool_and_is_exact_at_ratio_one():
    from discgrad.solvers import CachedSolver

    solver = Knapsack([3, 1, 4, 1, 5, 9, 2, 6], 12)
    g = torch.Generator().manual_seed(0)
    w = torch.rand(64, 8, generator=g, dtype=torch.float64)
    assert torch.equal(CachedSolver(solver, 1.0)(w), solver(w))
    cached = CachedSolver(solver, 0.25, generator=torch.Generator().manual_seed(1))
    cached(w)  # fills the pool (every instance is solved while it is empty)
    assert cached.exact_calls == 64
    w2 = torch.rand(256, 8, generator=g, dtype=torch.float64)
    y = cached(w2)
    assert 30 < cached.exact_calls - 64 < 100  # about a quarter solved exactly
    weights = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6], dtype=torch.float64)
    assert ((y @ weights) <= 12).all()  # pooled answers are feasible
    value, best = (w2 * y).sum(1), (w2 * solver(w2)).sum(1)
    assert (value <= best + 1e-12).all() and (value >= 0.8 * best).double().mean() > 0.9  # near-optimal, never above
    with pytest.raises(ValueError, match="solve_ratio"):
        CachedSolver(solver, 1.5)

"""Solvers against brute force and independent references; shapes, dtypes, bad input.

The docstring examples of discgrad/solvers run through pytest's --doctest-modules.
"""
import itertools
import math

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from discgrad.solvers import TSP, Assignment, Ranking, ShortestPath, Solver, TopK, check_costs, check_sense
from discgrad.solvers.shortest_path import NEIGHBOURS

ALL_SOLVERS = [TopK(2), Ranking(), ShortestPath(), Assignment(), TSP()]


def objective(w, y):
    return (w * y).flatten(1).sum(1)


def random_input(solver, batch=3, dtype=torch.float32, generator=None):
    """A valid input for each solver."""
    g = generator or torch.Generator().manual_seed(0)
    if isinstance(solver, ShortestPath):
        return torch.rand(batch, 4, 5, generator=g, dtype=dtype)
    if isinstance(solver, Assignment):
        return torch.rand(batch, 3, 4, generator=g, dtype=dtype)
    if isinstance(solver, TSP):
        d = torch.rand(batch, 5, 5, generator=g, dtype=dtype)
        return d + d.transpose(1, 2)
    return torch.randn(batch, 6, generator=g, dtype=dtype)


# ----------------------------------------------------------------------------- contract
@pytest.mark.parametrize("solver", ALL_SOLVERS, ids=repr)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtype_device_and_batch(solver, dtype):
    w = random_input(solver, batch=5, dtype=dtype)
    y = solver(w)
    assert y.dtype == dtype and y.device == w.device and y.shape == w.shape
    assert solver.sense in ("min", "max") and isinstance(solver, Solver)
    # batched output equals per-instance output, and the same input gives the same output
    assert torch.equal(torch.cat([solver(w[i : i + 1]) for i in range(len(w))]), y)
    assert torch.equal(solver(w), y)


@pytest.mark.parametrize("solver", ALL_SOLVERS, ids=repr)
def test_integer_input_and_no_grad(solver):
    w = random_input(solver, dtype=torch.float64)
    y = solver((w * 10).round().long())
    assert y.dtype == torch.get_default_dtype()
    w.requires_grad_(True)
    assert not solver(w).requires_grad


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("solver", ALL_SOLVERS, ids=repr)
def test_cuda_matches_cpu(solver):
    w = random_input(solver, batch=8, dtype=torch.float64)
    y = solver(w.cuda())
    assert y.device.type == "cuda"
    assert torch.equal(y.cpu(), solver(w))


# -------------------------------------------------------------------------------- TopK
def test_topk_brute_force():
    g = torch.Generator().manual_seed(1)
    n = 6
    for k in range(1, n + 1):
        w = torch.randn(20, n, generator=g, dtype=torch.float64)
        y = TopK(k)(w)
        assert torch.all(y.sum(1) == k) and torch.all((y == 0) | (y == 1))
        best = torch.stack([w[:, list(s)].sum(1) for s in itertools.combinations(range(n), k)]).amax(0)
        assert torch.allclose(objective(w, y), best)
    assert torch.equal(TopK(1)(w), torch.nn.functional.one_hot(w.argmax(1), n).double())


def test_topk_ties_lower_index_wins():
    w = torch.tensor([[1.0, 2.0, 2.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0], [3.0, 1.0, 3.0, 1.0, 1.0]])
    assert torch.equal(TopK(2)(w), torch.tensor([[0.0, 1, 1, 0, 0], [1, 1, 0, 0, 0], [1, 0, 1, 0, 0]]))
    assert torch.equal(TopK(3)(w)[2], torch.tensor([1.0, 1, 1, 0, 0]))
    g = torch.Generator().manual_seed(2)
    w = torch.randint(0, 3, (200, 7), generator=g).float()
    for k in (1, 3, 6):
        order = torch.argsort(w, dim=1, descending=True, stable=True)[:, :k]
        expected = torch.zeros_like(w).scatter_(1, order, 1.0)
        assert torch.equal(TopK(k)(w), expected)


def test_topk_dim():
    w = torch.randn(4, 5, 3, generator=torch.Generator().manual_seed(3))
    y = TopK(2, dim=1)(w)
    assert torch.equal(y, TopK(2)(w.transpose(1, 2)).transpose(1, 2))
    assert torch.equal(TopK(2, dim=-2)(w), y)


# ----------------------------------------------------------------------------- Ranking
def test_ranking_brute_force():
    g = torch.Generator().manual_seed(4)
    for n in (1, 2, 4, 6):
        w = torch.randn(30, n, generator=g, dtype=torch.float64)
        r = Ranking()(w)
        assert torch.equal(r.sort(1).values, torch.arange(1.0, n + 1, dtype=torch.float64).expand(30, n))
        perms = torch.tensor(list(itertools.permutations(range(1, n + 1))), dtype=torch.float64)
        best = (w @ perms.T).amin(1)
        assert torch.allclose(objective(w, r), best)
        assert torch.equal(r.argmin(1), w.argmax(1))  # rank 1 is the largest score


def test_ranking_ties_and_leading_dims():
    assert torch.equal(Ranking()(torch.tensor([[2.0, 5.0, 2.0, 5.0]])), torch.tensor([[3.0, 1.0, 4.0, 2.0]]))
    w = torch.randn(2, 3, 5, generator=torch.Generator().manual_seed(5))
    assert torch.equal(Ranking()(w), Ranking()(w.reshape(6, 5)).reshape(2, 3, 5))


# ------------------------------------------------------------------------ ShortestPath
def grid_edges(H, W):
    """Directed 8-neighbour edges (u, v) of an H x W grid, cells numbered row-major."""
    return [(i * W + j, (i + di) * W + j + dj) for i in range(H) for j in range(W)
            for di, dj in NEIGHBOURS if 0 <= i + di < H and 0 <= j + dj < W]


def all_simple_paths(H, W):
    """0/1 masks (P, H, W) of every simple 8-connected path from (0, 0) to (H-1, W-1)."""
    nbrs = {}
    for u, v in grid_edges(H, W):
        nbrs.setdefault(u, []).append(v)
    masks, stack = [], [(0, [0])]
    while stack:
        u, path = stack.pop()
        if u == H * W - 1:
            mask = np.zeros(H * W)
            mask[path] = 1
            masks.append(mask)
            continue
        stack.extend((v, path + [v]) for v in nbrs.get(u, []) if v not in path)
    return np.array(masks).reshape(-1, H, W)


def dijkstra_costs(costs):
    """Reference optimum by scipy: edge weight = cost of the head cell, plus the start cell."""
    costs = costs.double().numpy()
    B, H, W = costs.shape
    src, dst = np.array(grid_edges(H, W), dtype=int).reshape(-1, 2).T
    out = []
    for c in costs.reshape(B, -1):
        # scipy drops explicit zeros from a sparse graph: a tiny weight keeps zero-cost edges.
        graph = csr_matrix((c[dst] + 1e-300, (src, dst)), shape=(H * W, H * W))
        out.append(dijkstra(graph, indices=0)[-1] + c[0])
    return torch.tensor(out)


def assert_valid_path(y, strictly_positive):
    """y (H, W) is an 8-connected path mask from the top-left to the bottom-right cell."""
    H, W = y.shape
    cells = {(int(i), int(j)) for i, j in torch.nonzero(y)}
    assert (0, 0) in cells and (H - 1, W - 1) in cells and torch.all((y == 0) | (y == 1))
    seen, todo = {(0, 0)}, [(0, 0)]
    while todo:
        i, j = todo.pop()
        for di, dj in NEIGHBOURS:
            if (i + di, j + dj) in cells and (i + di, j + dj) not in seen:
                seen.add((i + di, j + dj))
                todo.append((i + di, j + dj))
    assert seen == cells, "the path mask is not connected"
    if strictly_positive and len(cells) > 1:
        for i, j in cells:
            degree = sum((i + di, j + dj) in cells for di, dj in NEIGHBOURS)
            assert degree == (1 if (i, j) in {(0, 0), (H - 1, W - 1)} else 2)


@pytest.mark.parametrize("shape", [(1, 1), (1, 4), (3, 1), (2, 2), (2, 3), (3, 3)])
def test_shortest_path_brute_force(shape):
    g = torch.Generator().manual_seed(6)
    masks = torch.from_numpy(all_simple_paths(*shape))
    w = torch.rand(40, *shape, generator=g, dtype=torch.float64) + 0.05
    w[:10] = torch.randint(0, 3, (10, *shape), generator=g).double()  # ties and zeros
    y = ShortestPath()(w)
    best = torch.einsum("bhw,phw->bp", w, masks).amin(1)
    assert torch.allclose(objective(w, y), best)
    assert torch.allclose(best, dijkstra_costs(w))
    for b in range(len(w)):
        assert_valid_path(y[b], strictly_positive=bool((w[b] > 0).all()))


@pytest.mark.parametrize("shape", [(5, 7), (8, 8), (12, 12)])
def test_shortest_path_dijkstra(shape):
    g = torch.Generator().manual_seed(7)
    w = torch.rand(16, *shape, generator=g, dtype=torch.float64) * 9 + 0.1
    w[:4] = torch.rand(4, *shape, generator=g, dtype=torch.float64) ** 8  # long detours
    y = ShortestPath()(w)
    assert torch.allclose(objective(w, y), dijkstra_costs(w))
    for b in range(len(w)):
        assert_valid_path(y[b], strictly_positive=True)
    y32 = ShortestPath()(w.float())
    assert torch.allclose(objective(w, y32), dijkstra_costs(w), rtol=1e-5)


def test_shortest_path_snake():
    # Walls of cost 100 leave one cheap corridor that winds through the whole grid, so
    # distances need many relaxation rounds to settle.
    w = torch.full((1, 9, 7), 100.0)
    w[0, 0::2, :] = 1
    w[0, 1::4, -1] = 1
    w[0, 3::4, 0] = 1
    y = ShortestPath()(w)
    assert torch.allclose(objective(w, y).double(), dijkstra_costs(w))
    assert_valid_path(y[0], strictly_positive=True)
    assert y.sum() > 25 and objective(w, y) < 100


@pytest.mark.parametrize("fill", ["zeros", "sparse", "integers"])
def test_shortest_path_zero_costs_and_ties(fill):
    g = torch.Generator().manual_seed(8)
    shape = (12, 6, 9)
    if fill == "zeros":
        w = torch.zeros(shape)
    elif fill == "sparse":
        w = torch.rand(shape, generator=g) * (torch.rand(shape, generator=g) < 0.3)
    else:
        w = torch.randint(0, 2, shape, generator=g).float()
    y = ShortestPath()(w)
    for check_every in (None, 1, 3, 4):  # how often convergence is tested changes nothing
        assert torch.equal(ShortestPath(check_every)(w), y)
    assert torch.allclose(objective(w, y).double(), dijkstra_costs(w), atol=1e-5)
    for b in range(len(w)):
        assert_valid_path(y[b], strictly_positive=False)


# -------------------------------------------------------------------------- Assignment
def test_assignment_brute_force():
    g = torch.Generator().manual_seed(9)
    for n, m in [(1, 1), (1, 3), (3, 3), (3, 5), (4, 4)]:
        w = torch.randn(20, n, m, generator=g, dtype=torch.float64)
        w[:5] = torch.randint(0, 2, (5, n, m), generator=g).double()  # ties
        y = Assignment()(w)
        assert torch.all(y.sum(2) == 1) and torch.all(y.sum(1) <= 1)
        best = torch.stack([w[:, range(n), list(p)].sum(1) for p in itertools.permutations(range(m), n)]).amin(0)
        assert torch.allclose(objective(w, y), best)
        rows, cols = linear_sum_assignment(w[0].numpy())
        assert math.isclose(objective(w, y)[0].item(), w[0].numpy()[rows, cols].sum())


# --------------------------------------------------------------------------------- TSP
def tour_costs_by_enumeration(d):
    """Optimal tour length of each (n, n) matrix in d, enumerating tours from city 0."""
    n = d.shape[-1]
    perms = np.array([(0, *p, 0) for p in itertools.permutations(range(1, n))])
    lengths = d[:, perms[:, :-1], perms[:, 1:]].sum(-1)
    return lengths.min(1)


def assert_valid_tour(y):
    n = y.shape[0]
    assert torch.equal(y, y.T) and torch.all(y.diagonal() == 0) and torch.all(y.sum(1) == 2)
    seen, prev, city = [0], None, 0
    for _ in range(n):  # walk the cycle: it must visit every city before coming home
        nxt = [j for j in torch.nonzero(y[city]).flatten().tolist() if j != prev][0]
        prev, city = city, nxt
        seen.append(city)
    assert seen[-1] == 0 and sorted(seen[:-1]) == list(range(n))


@pytest.mark.parametrize("n", [3, 4, 5, 6, 8])
def test_tsp_enumeration(n):
    g = torch.Generator().manual_seed(10 + n)
    points = torch.rand(12 if n < 8 else 4, n, 2, generator=g, dtype=torch.float64)
    d = torch.cdist(points, points)
    d[0] = torch.randint(1, 4, (n, n), generator=g).double()  # a non-metric instance with ties
    d[0] = d[0] + d[0].T
    y = TSP()(d)
    assert torch.allclose(objective(d, y) / 2, torch.from_numpy(tour_costs_by_enumeration(d.numpy())))
    for b in range(len(d)):
        assert_valid_tour(y[b])


def test_tsp_convex_positions_n12():
    # Cities in convex position: the optimal tour is the hull order, whatever the labels.
    g = torch.Generator().manual_seed(11)
    angles = torch.rand(3, 12, generator=g, dtype=torch.float64) * 2 * math.pi
    points = torch.stack([angles.cos(), angles.sin()], -1)
    y = TSP()(torch.cdist(points, points))
    order = angles.argsort(1)
    for b in range(3):
        expected = torch.zeros(12, 12, dtype=torch.float64)
        expected[order[b], order[b].roll(1)] = 1
        assert torch.equal(y[b], ((expected + expected.T) > 0).double())
        assert_valid_tour(y[b])


def test_tsp_chunks_match():
    import discgrad.solvers.tsp as tsp_module

    g = torch.Generator().manual_seed(12)
    points = torch.rand(7, 6, 2, generator=g)
    d = torch.cdist(points, points)
    whole = TSP()(d)
    chunk = tsp_module._CHUNK_ELEMENTS
    try:
        tsp_module._CHUNK_ELEMENTS = 1  # one instance per chunk
        assert torch.equal(TSP()(d), whole)
    finally:
        tsp_module._CHUNK_ELEMENTS = chunk


# --------------------------------------------------------------------------- bad input
nan_batch = torch.tensor([[1.0, float("nan")]])
inf_batch = torch.tensor([[1.0, float("inf")]])


@pytest.mark.parametrize("solver", ALL_SOLVERS, ids=repr)
def test_bad_values(solver):
    w = random_input(solver)
    for bad in (float("nan"), float("inf"), -float("inf")):
        v = w.clone()
        v.view(-1)[1] = bad
        with pytest.raises(ValueError, match="w contains NaN or inf"):
            solver(v)
    with pytest.raises(ValueError, match="empty batch"):
        solver(w[:0])
    with pytest.raises(ValueError, match="dimensions"):
        solver(w[0, 0] if w.dim() == 3 else w[0])
    with pytest.raises(ValueError, match="torch.Tensor"):
        solver(w.tolist())


def test_bad_shapes_3d():
    for solver in (ShortestPath(), Assignment(), TSP()):
        with pytest.raises(ValueError, match="w must have 3 dimensions"):
            solver(torch.rand(2, 3, 3, 3))


def test_bad_topk():
    for k in (0, -1, 1.5, True, None):
        with pytest.raises(ValueError, match="k must be an integer >= 1"):
            TopK(k)
    with pytest.raises(ValueError, match=r"k must be in 1..n where n = w.shape\[dim\] = 4, got k=5"):
        TopK(5)(torch.rand(2, 4))
    with pytest.raises(ValueError, match="dim must index a non-batch dimension"):
        TopK(1, dim=0)(torch.rand(2, 4))
    with pytest.raises(ValueError, match="dim must index a non-batch dimension"):
        TopK(1, dim=2)(torch.rand(2, 4))


def test_bad_shortest_path():
    w = torch.rand(2, 3, 3)
    w[1, 2, 0] = -0.5
    with pytest.raises(ValueError, match="w .vertex costs. must be >= 0, got a minimum of -0.5"):
        ShortestPath()(w)
    with pytest.raises(ValueError, match="w has an empty dimension"):
        ShortestPath()(torch.rand(2, 0, 3))
    with pytest.raises(ValueError, match="check_every must be None or an integer >= 1"):
        ShortestPath(check_every=0)
    with pytest.raises(ValueError, match="overflow"):
        ShortestPath()(torch.full((1, 3, 3), 3e38))


def test_bad_assignment():
    with pytest.raises(ValueError, match="n <= m .rows <= columns., got n=4, m=3"):
        Assignment()(torch.rand(2, 4, 3))


def test_bad_tsp():
    d = torch.rand(2, 5, 5)
    with pytest.raises(ValueError, match="w must be symmetric"):
        TSP()(d)
    for n in (2, 13):
        with pytest.raises(ValueError, match=r"3 <= n <= 12 cities, got n=" + str(n)):
            TSP()(torch.ones(1, n, n))
    with pytest.raises(ValueError, match="w must be square"):
        TSP()(torch.ones(1, 4, 5))


def test_solver_wrapper_and_checks():
    argmax = Solver(lambda w: torch.nn.functional.one_hot(w.argmax(-1), w.shape[-1]), sense="max")
    y = argmax(torch.tensor([[1, 3, 2]]))
    assert y.dtype == torch.get_default_dtype() and y.tolist() == [[0, 1, 0]]
    with pytest.raises(ValueError, match="sense must be 'min' or 'max'"):
        Solver(lambda w: w, sense="argmin")
    with pytest.raises(ValueError, match="returned shape"):
        Solver(lambda w: w[0], sense="min")(torch.rand(3, 2))
    assert check_sense("min") == "min"
    assert check_costs(torch.tensor([[1, 2]])).dtype == torch.get_default_dtype()
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        check_costs(nan_batch, name="x")
    with pytest.raises(ValueError, match="must be real"):
        check_costs(torch.ones(1, 2, dtype=torch.complex64))


# ------------------------------------------------------------------- documented tie rules
#: the order ShortestPath's docstring states: up-left, up, up-right, left, right, down-left, down, down-right
DOCUMENTED_ORDER = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def shortest_path_by_the_documented_rule(w):
    """The path ShortestPath's docstring promises, computed in plain Python for one (H, W) grid.

    Jacobi Bellman-Ford: every distance is updated from the previous iteration's values, and
    each cell remembers the iteration its distance last strictly decreased. The trace-back
    from the bottom-right cell steps to the neighbour smallest in (distance, that iteration,
    position in the order up-left, up, up-right, left, right, down-left, down, down-right).
    """
    H, W = len(w), len(w[0])
    order = DOCUMENTED_ORDER
    cells = [(i, j) for i in range(H) for j in range(W)]
    dist = {c: math.inf for c in cells}
    dist[(0, 0)] = w[0][0]
    settled = {c: 0 for c in cells}
    it = 0
    while True:
        it += 1
        new = dict(dist)
        for i, j in cells:
            best = min([dist[(i + di, j + dj)] for di, dj in order if (i + di, j + dj) in dist] + [dist[(i, j)]])
            if best + w[i][j] < dist[(i, j)]:
                new[(i, j)], settled[(i, j)] = best + w[i][j], it
        if new == dist:
            break
        dist = new
    path, cell = {(H - 1, W - 1)}, (H - 1, W - 1)
    while cell != (0, 0):
        i, j = cell
        candidates = [(dist[(i + di, j + dj)], settled[(i + di, j + dj)], k, (i + di, j + dj))
                      for k, (di, dj) in enumerate(order) if (i + di, j + dj) in dist]
        cell = min(candidates)[3]
        path.add(cell)
    y = torch.zeros(H, W, dtype=torch.float64)
    for c in path:
        y[c] = 1
    return y


def test_shortest_path_neighbour_order_breaks_ties():
    # two cheapest paths through (0, 1) or (1, 1), equal in distance and iteration: up-left wins
    y = ShortestPath()(torch.ones(1, 2, 3))
    assert torch.equal(y[0], torch.tensor([[1.0, 1, 0], [0, 0, 1]]))
    assert NEIGHBOURS == DOCUMENTED_ORDER
    # many tied instances (costs 0, 1, 2) against the rule computed independently
    g = torch.Generator().manual_seed(13)
    for shape in [(2, 3), (3, 3), (3, 4), (4, 4), (5, 3)]:
        w = torch.randint(0, 3, (30, *shape), generator=g).double()
        w[:5] = 1.0   # uniform costs: every tie at once
        y = ShortestPath()(w)
        for b in range(len(w)):
            assert torch.equal(y[b], shortest_path_by_the_documented_rule(w[b].tolist())), (shape, b, w[b])


def tsp_by_the_documented_rule(d):
    """The tour TSP's docstring promises, by Held-Karp in plain Python for one (n, n) matrix.

    Among equal partial tours the lowest-numbered predecessor is kept; among equal tours,
    the lowest-numbered last city.
    """
    n = len(d)
    m = n - 1
    best, came = {}, {}
    for j in range(m):
        best[(1 << j, j)] = d[0][j + 1]
    for size in range(2, m + 1):
        for subset in range(1 << m):
            if bin(subset).count("1") != size:
                continue
            for j in range(m):
                if not subset >> j & 1:
                    continue
                before = subset ^ (1 << j)
                options = [(best[(before, k)] + d[k + 1][j + 1], k) for k in range(m) if before >> k & 1]
                value = min(v for v, _ in options)
                best[(subset, j)] = value
                came[(subset, j)] = min(k for v, k in options if v == value)
    full = (1 << m) - 1
    totals = [best[(full, j)] + d[j + 1][0] for j in range(m)]
    last = totals.index(min(totals))
    y = torch.zeros(n, n, dtype=torch.float64)
    y[0, last + 1] = 1
    visited = full
    for _ in range(m - 1):
        prev = came[(visited, last)]
        y[prev + 1, last + 1] = 1
        visited ^= 1 << last
        last = prev
    y[0, last + 1] = 1
    return ((y + y.T) > 0).double()


def test_tsp_tie_rules():
    # all distances equal: every tour is optimal, and the rules pick the tour 0-1-2-3-4-0
    y = TSP()(torch.ones(1, 5, 5))
    ring = torch.zeros(5, 5, dtype=torch.float64)
    ring[range(5), [1, 2, 3, 4, 0]] = 1
    assert torch.equal(y[0], ring + ring.T)
    assert torch.equal(y[0], tsp_by_the_documented_rule([[1.0] * 5] * 5))
    g = torch.Generator().manual_seed(14)
    for n in (4, 5, 6):
        d = torch.randint(1, 3, (25, n, n), generator=g).double()
        d = d + d.transpose(1, 2)   # integer distances: exact sums and many tied tours
        y = TSP()(d)
        for b in range(len(d)):
            assert torch.equal(y[b], tsp_by_the_documented_rule(d[b].tolist())), (n, b)


def trace_back_choice(a, b, dist_ab=(1.0, 1.0), settled_ab=(5, 5)):
    """Which of two neighbours, ``DOCUMENTED_ORDER[a]`` or ``DOCUMENTED_ORDER[b]`` of a cell D, the
    trace-back steps to from D, given their distances and settling iterations.

    Synthetic maps on a 9 x 9 grid: a chain of falling distances leads from the goal to D
    (avoiding both candidates), each candidate has a private sink (distance 0) where the walk
    ends, and every other cell is far (100). Returns the index (a or b) of the visited one, or
    None when every neighbour of D touches a candidate: then no walk can reach D with the
    tie still open (the walk would step to a candidate first). That happens for up/down and
    left/right only, whose relative order therefore never matters.
    """
    from discgrad.solvers.shortest_path import _trace_back

    n, centre = 9, (4, 4)

    def adjacent(p, q):
        return max(abs(p[0] - q[0]), abs(p[1] - q[1])) <= 1

    def step(p, d):
        return (p[0] + d[0], p[1] + d[1])

    def chain_avoiding(avoid):
        """Breadth-first search from the goal to a neighbour of D, no cell next to ``avoid``."""
        start = (n - 1, n - 1)
        parent, todo = {start: None}, [start]
        while todo:
            p = todo.pop(0)
            if adjacent(p, centre):
                return p, parent
            for d in DOCUMENTED_ORDER:
                q = step(p, d)
                if 0 <= q[0] < n and 0 <= q[1] < n and q not in parent and q != centre \
                        and not any(adjacent(q, x) for x in avoid):
                    parent[q] = p
                    todo.append(q)
        return None, parent

    cand = {a: step(centre, DOCUMENTED_ORDER[a]), b: step(centre, DOCUMENTED_ORDER[b])}
    sink_options = {k: [x for x in (step(cand[k], d) for d in DOCUMENTED_ORDER)
                        if not adjacent(x, centre) and not adjacent(x, cand[a + b - k])] for k in (a, b)}
    for sa, sb in itertools.product(sink_options[a], sink_options[b]):
        if adjacent(sa, sb):
            continue
        sinks = {a: sa, b: sb}
        p, parent = chain_avoiding([*cand.values(), sa, sb])
        if p is not None:
            break
    else:
        return None
    chain = []
    while p is not None:
        chain.append(p)
        p = parent[p]
    chain = chain[::-1] + [centre]                 # goal ... D
    dist = torch.full((1, n + 2, n + 2), math.inf, dtype=torch.float64)
    dist[0, 1:-1, 1:-1] = 100.0
    settled = torch.zeros((1, n + 2, n + 2), dtype=torch.int32)
    for rank, (i, j) in enumerate(chain):
        dist[0, i + 1, j + 1] = 99.0 - rank
    for k, d, s in zip((a, b), dist_ab, settled_ab):
        dist[0, cand[k][0] + 1, cand[k][1] + 1] = d
        settled[0, cand[k][0] + 1, cand[k][1] + 1] = s
        dist[0, sinks[k][0] + 1, sinks[k][1] + 1] = 0.0
    path = _trace_back(dist, settled, 1)[0]
    visited = [k for k in (a, b) if path[cand[k]]]
    assert len(visited) == 1 and all(path[c] for c in chain), (a, b, visited)
    return visited[0]


def test_shortest_path_trace_back_key_every_pair_of_neighbours():
    """The documented key, for every pair of the 8 directions: smaller distance first, then
    the earlier settling iteration, then the first in the order up-left, ..., down-right."""
    unobservable = set()
    for a, b in itertools.combinations(range(8), 2):
        if trace_back_choice(a, b) is None:
            unobservable.add((DOCUMENTED_ORDER[a], DOCUMENTED_ORDER[b]))
            continue
        assert trace_back_choice(a, b) == a                               # the order
        assert trace_back_choice(a, b, dist_ab=(2.0, 1.0)) == b            # distance before order
        assert trace_back_choice(a, b, settled_ab=(6, 5)) == b             # iteration before order
        assert trace_back_choice(a, b, dist_ab=(1.0, 2.0), settled_ab=(9, 1)) == a   # distance first
    assert unobservable == {((-1, 0), (1, 0)), ((0, -1), (0, 1))}       # up/down, left/right

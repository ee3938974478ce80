"""Shortest paths on a general directed graph with edge costs, batched on the device."""
from __future__ import annotations

import torch

from .base import ArgumentTypeError, Solver, check_costs, check_count


class GraphShortestPath(Solver):
    r"""The cheapest path from ``source`` to ``target`` on a fixed directed graph, as edge indicators.

    Computes :math:`y(w) = \arg\min_{y \in \mathcal P} \langle w, y \rangle` (``sense = "min"``),
    where :math:`\mathcal P` holds the 0/1 edge-indicator vectors of the directed paths from
    ``source`` to ``target`` and :math:`w_e` is the cost of edge ``e``: the linear program of
    the predict-then-optimize shortest-path benchmarks (Elmachtoub and Grigas 2022; PyEPO's
    5x5 grid, :meth:`grid`). Every instance of a batch has its own edge costs on the same graph.

    Batched Bellman-Ford in min-plus form: all distance vectors relax together (per round, a
    gather over each node's incoming edges and a minimum, at most ``V - 1`` rounds, stopping early when
    nothing improves), each node keeps the edge it was last improved through, and the paths
    are traced back for the whole batch at once. Negative edge costs are allowed as long as
    no cycle has a negative total (always true on a DAG such as the grid); a negative cycle,
    or a target the source cannot reach, raises. Ties go to the tight edge with the largest index.

    Args:
        edges: ``(E, 2)`` integer tensor (or nested list) of ``(tail, head)`` node pairs.
        source, target: node indices, ``source != target``.
        num_nodes: the number of nodes (default: one more than the largest index in ``edges``).

    Shape: ``w`` is ``(B, E)``; the output is the ``(B, E)`` 0/1 indicator of the path's
    edges on ``w``'s device with ``w``'s floating dtype.

    Example:
        >>> import torch
        >>> solver = GraphShortestPath([[0, 1], [1, 2], [0, 2]], source=0, target=2)
        >>> solver(torch.tensor([[1.0, 1.0, 3.0], [1.0, 1.0, 1.5]]))
        tensor([[1., 1., 0.],
                [0., 0., 1.]])

    References: Bellman 1958, "On a routing problem"; Elmachtoub and Grigas 2022, "Smart
    'predict, then optimize'", Management Science; Tang and Khalil 2024, PyEPO. Book:
    chapter 1 (the solver contract).
    """

    sense = "min"

    def __init__(self, edges, source: int, target: int, num_nodes: int | None = None):
        edges = torch.as_tensor(edges)
        if edges.dtype.is_floating_point or edges.dtype == torch.bool or edges.dim() != 2 or edges.shape[1] != 2:
            raise ArgumentTypeError(f"edges must be an (E, 2) integer tensor of (tail, head) pairs, got dtype "
                                    f"{edges.dtype} and shape {tuple(edges.shape)}")
        if edges.shape[0] == 0:
            raise ValueError("edges is empty: the graph needs at least one edge")
        if int(edges.min()) < 0:
            raise ValueError(f"edges must hold node indices >= 0, got {int(edges.min())}")
        n = int(edges.max()) + 1 if num_nodes is None else check_count(num_nodes, "num_nodes", low=2)
        if int(edges.max()) >= n:
            raise ValueError(f"edges name node {int(edges.max())} but num_nodes is {n}")
        self.source, self.target = (check_count(v, name, low=0) for v, name in ((source, "source"), (target, "target")))
        for v, name in ((self.source, "source"), (self.target, "target")):
            if v >= n:
                raise ValueError(f"{name} must be a node index < {n}, got {v}")
        if self.source == self.target:
            raise ValueError(f"source and target must differ, got {source} for both")
        self.edges = edges.long().cpu()
        self.num_nodes = n
        # incoming[v]: the edges into v, padded with E (a dummy edge that costs inf)
        heads = self.edges[:, 1]
        degree = torch.bincount(heads, minlength=n)
        order = torch.argsort(heads, stable=True)
        slot = torch.arange(len(heads)) - (torch.cumsum(degree, 0) - degree)[heads[order]]
        self._incoming = torch.full((n, max(int(degree.max()), 1)), len(heads), dtype=torch.long)
        self._incoming[heads[order], slot] = order
        self.name = "GraphShortestPath"

    @classmethod
    def grid(cls, rows: int = 5, cols: int = 5) -> "GraphShortestPath":
        """The ``rows x cols`` grid of PyEPO's shortest-path benchmark: edges go right and down,
        from the top-left node to the bottom-right one (``2 rows cols - rows - cols`` edges,
        40 on the 5x5 grid).

        Example:
            >>> GraphShortestPath.grid().edges.shape
            torch.Size([40, 2])
        """
        rows, cols = check_count(rows, "rows"), check_count(cols, "cols")
        if rows * cols < 2:
            raise ValueError("the grid needs at least two nodes")
        node = lambda i, j: i * cols + j  # noqa: E731
        edges = []
        for i in range(rows):
            for j in range(cols):
                if j + 1 < cols:
                    edges.append((node(i, j), node(i, j + 1)))
                if i + 1 < rows:
                    edges.append((node(i, j), node(i + 1, j)))
        return cls(edges, source=0, target=rows * cols - 1, num_nodes=rows * cols)

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        w = check_costs(w, ndim=2)
        E = self.edges.shape[0]
        if w.shape[1] != E:
            raise ValueError(f"w must be (B, E) edge costs with E = {E} edges, got shape {tuple(w.shape)}")
        costs = w.detach()
        if costs.dtype not in (torch.float32, torch.float64):
            costs = costs.float()
        B, V, device = costs.shape[0], self.num_nodes, costs.device
        # Node-major layout, (V, B) and (E, B): gathering whole rows is what makes the rounds cheap.
        costs = costs.t().contiguous()
        tail, head = self.edges[:, 0].to(device), self.edges[:, 1].to(device)
        heads, incoming = head[:, None].expand(E, B), self._incoming.to(device).flatten()
        D = self._incoming.shape[1]
        dist = costs.new_full((V, B), float("inf"))
        through = costs.new_full((E + 1, B), float("inf"))  # row E: the dummy edge
        dist[self.source] = 0
        # With a zero or negative edge, tight edges can form a cycle: then the round in which each
        # distance last fell orders the predecessors (below). With positive costs it is not needed.
        settled = torch.zeros((V, B), dtype=torch.long, device=device) if bool(costs.amin() <= 0) else None
        for it in range(1, V + 1):  # V - 1 rounds settle every shortest path; a V-th fall is a negative cycle
            torch.add(dist.index_select(0, tail), costs, out=through[:E])  # reach each edge's head through it
            best = torch.minimum(dist, through.index_select(0, incoming).view(V, D, B).amin(1))
            if torch.equal(best, dist):
                break
            if settled is not None:
                settled.masked_fill_(best < dist, it)
            dist = best
        else:
            raise ValueError("w: a cycle of the graph has a negative total cost, so no shortest path exists; "
                             "use non-negative costs (a projection or noise can make them negative)")
        if not bool(torch.isfinite(dist[self.target]).all()):
            raise ValueError(f"the target node {self.target} cannot be reached from the source node {self.source}")
        # A node's predecessor: a tight edge (dist[tail] + w == dist[head], exact, as both sides were
        # computed alike) from a node that settled in an earlier round. The node's last fall came
        # through such an edge, and the rounds strictly decrease along the chain, so it ends at the
        # source. (With positive costs every tight chain ends there: a tight cycle would cost 0.)
        tight = dist.index_select(0, tail) + costs == dist.index_select(0, head)
        if settled is not None:
            tight &= settled.index_select(0, tail) < settled.index_select(0, head)
        # Row E of y and of tail_from is a dummy edge that leads from the source to the source:
        # the source's predecessor, so that finished instances step in place without a test.
        edge_ids = torch.arange(E, device=device)[:, None].expand(E, B)
        pred = torch.full((V, B), -1, dtype=torch.long, device=device).scatter_reduce(
            0, heads, torch.where(tight, edge_ids, -1), reduce="amax", include_self=True)
        pred[self.source] = E
        tail_from = torch.cat([tail, tail.new_tensor([self.source])])
        y = torch.zeros((E + 1, B), dtype=w.dtype, device=device)
        node = torch.full((1, B), self.target, dtype=torch.long, device=device)
        for _ in range(V - 1):  # a simple path has at most V - 1 edges
            edge = pred.gather(0, node)
            y.scatter_(0, edge, 1.0)
            node = tail_from.index_select(0, edge[0])[None]
            if bool((node == self.source).all()):
                break
        if not bool((node == self.source).all()):  # cannot happen without a negative cycle
            raise RuntimeError("GraphShortestPath: the trace-back did not reach the source")
        return y[:E].t().contiguous()

    def __repr__(self) -> str:
        return (f"GraphShortestPath({self.edges.shape[0]} edges, {self.num_nodes} nodes, "
                f"source={self.source}, target={self.target})")

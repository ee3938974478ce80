"""A PyEPO ``optModel`` as a discgrad solver (PyEPO is optional: ``pip install pyepo``)."""
from __future__ import annotations

import numpy as np

from .base import ArgumentTypeError, Solver


def from_pyepo(model) -> Solver:
    """Wrap a PyEPO optimisation model (Tang and Khalil 2024) as a per-instance :class:`Solver`.

    Each instance's costs go to ``model.setObj(costs)``, then ``model.solve()`` returns
    ``(solution, objective)``; the sense is the model's ``modelSense`` (PyEPO's ``MINIMIZE``
    = 1, ``MAXIMIZE`` = -1). Every estimator then takes the model, e.g.
    ``Identity(from_pyepo(shortestPathModel((5, 5))), projection="norm")``. The model is
    stateful, so the wrapper solves the batch one instance at a time in this process.

    Args:
        model: a ``pyepo.model.opt.optModel`` (any object with ``setObj``, ``solve``,
            ``num_cost`` and ``modelSense``).

    Example:
        >>> class Pick:  # a stand-in with PyEPO's interface: pick the cheapest of three
        ...     modelSense, num_cost = 1, 3
        ...     def setObj(self, c): self.c = np.asarray(c)
        ...     def solve(self): y = np.eye(3)[self.c.argmin()]; return y, float(self.c @ y)
        >>> import torch
        >>> from_pyepo(Pick())(torch.tensor([[2.0, 1.0, 3.0]]))
        tensor([[0., 1., 0.]])

    Book: chapter 18 (your own solver).
    """
    if not all(hasattr(model, name) for name in ("setObj", "solve", "modelSense")):
        raise ArgumentTypeError(f"model must be a PyEPO optModel (with setObj, solve and modelSense), "
                                f"got {type(model).__name__}")
    sense = {1: "min", -1: "max"}.get(int(model.modelSense))
    if sense is None:
        raise ValueError(f"model.modelSense must be PyEPO's MINIMIZE (1) or MAXIMIZE (-1), got {model.modelSense!r}")
    size = int(model.num_cost) if not callable(model.num_cost) else int(model.num_cost())

    def solve(costs: np.ndarray):
        if costs.shape != (size,):
            raise ValueError(f"the PyEPO model takes {size} costs per instance, got shape {costs.shape}")
        model.setObj(costs)
        solution, objective = model.solve()
        return np.asarray(solution, dtype=np.float64), float(objective)

    return Solver(solve, sense=sense, name=f"from_pyepo({type(model).__name__})", per_instance=True)

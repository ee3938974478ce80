"""Predict-then-optimize pieces: regret, the SPO+ loss, and a data set with its solutions.

In predict-then-optimize (Elmachtoub and Grigas 2022) a model predicts the costs ``c_hat`` of
a linear program from features, a solver acts on the prediction, and what counts is the
decision's cost under the true costs ``c``: the *regret*
``c^T y(c_hat) - z*(c)`` (for a min problem; ``z*(c) = min_y c^T y``). The SPO+ loss is a
convex surrogate of the regret with a subgradient that needs one solver call. The
estimators of ``discgrad.estimators`` train the same models from the solution ``y*(c)``
alone; :class:`SolvedDataset` holds both ``y*(c)`` and ``z*(c)``, so either kind of method
can train on it. All pieces take a solver with ``sense`` ``"min"`` or ``"max"``.

Book: chapter 1 (the solver contract); the PyEPO library (Tang and Khalil 2024) offers the
same pieces around its own solvers.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from discgrad.losses import reduce_batch
from discgrad.solvers.base import check_costs, check_sense, check_tensor

__all__ = ["regret", "normalised_regret", "spo_plus_loss", "SolvedDataset"]


def _sign(solver) -> int:
    """``+1`` for a min solver, ``-1`` for a max solver: ``sign * c^T y`` is then minimised."""
    return 1 if check_sense(getattr(solver, "sense", None)) == "min" else -1


def _objective(costs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (costs * y).flatten(1).sum(1)


def _optimal_objectives(solver, c: torch.Tensor, z_true: torch.Tensor | None) -> torch.Tensor:
    """``z*(c) = <c, y(c)>``, or the given ``z_true`` in ``c``'s dtype."""
    return _objective(c, solver(c)) if z_true is None else z_true.to(c.dtype)


def _check_pair(c_hat, c):
    check_costs(c_hat, "c_hat")
    check_costs(c, "c")
    if c_hat.shape != c.shape:
        raise ValueError(f"c_hat and c must have the same shape (B, *shape), got {tuple(c_hat.shape)} and "
                         f"{tuple(c.shape)}")


def regret(solver, c_hat: torch.Tensor, c: torch.Tensor, z_true: torch.Tensor | None = None,
           reduction: str = "mean") -> torch.Tensor:
    r"""How much worse the decision taken on the predicted costs is, under the true costs.

    .. math:: \operatorname{regret}(\hat c, c) = \sigma \big(c^\top y(\hat c) - z^*(c)\big) \ge 0,
              \qquad z^*(c) = c^\top y(c)

    with :math:`\sigma = +1` for a min solver and :math:`-1` for a max solver (Elmachtoub and
    Grigas 2022, eq. 3). Not differentiable: a metric, computed without gradient.

    Args:
        solver: the solver (its ``sense`` is used).
        c_hat: predicted costs ``(B, *shape)``.
        c: true costs, the same shape.
        z_true: the optimal objectives ``z*(c)``, ``(B,)``, if known (saves a solver call).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Example:
        >>> from discgrad.solvers import TopK
        >>> regret(TopK(1), torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[1.0, 3.0, 2.0]]))
        tensor(2.)
    """
    _check_pair(c_hat, c)
    with torch.no_grad():
        z = _optimal_objectives(solver, c, z_true)
        return reduce_batch(_sign(solver) * (_objective(c, solver(c_hat)) - z), reduction)


def normalised_regret(solver, c_hat: torch.Tensor, c: torch.Tensor, z_true: torch.Tensor | None = None) -> torch.Tensor:
    r"""The regret summed over instances, divided by the summed optimal objectives' magnitudes.

    .. math:: \frac{\sum_i \operatorname{regret}(\hat c_i, c_i)}{\sum_i |z^*(c_i)|}

    (the measure PyEPO reports; Tang and Khalil 2024).

    Example:
        >>> from discgrad.solvers import TopK
        >>> normalised_regret(TopK(1), torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[1.0, 3.0, 2.0]]))
        tensor(0.6667)
    """
    _check_pair(c_hat, c)
    with torch.no_grad():
        z = _optimal_objectives(solver, c, z_true)
        total = regret(solver, c_hat, c, z, reduction="sum")
        scale = z.abs().sum()
        if scale == 0:
            raise ValueError("the optimal objectives are all 0, so the normalised regret is undefined; use regret")
        return total / scale


def spo_plus_loss(solver, c_hat: torch.Tensor, c: torch.Tensor, y_true: torch.Tensor | None = None,
                  reduction: str = "mean") -> torch.Tensor:
    r"""The SPO+ loss of Elmachtoub and Grigas (2022, eq. 5): a convex upper bound on the regret.

    For a min solver, with :math:`\tilde y = y(2\hat c - c)` and :math:`y^* = y(c)`,

    .. math:: \ell_{\mathrm{SPO+}}(\hat c, c) = -(2\hat c - c)^\top \tilde y + 2\hat c^\top y^* - c^\top y^*,
              \qquad \frac{\partial \ell}{\partial \hat c} = 2\,(y^* - \tilde y)

    (a max solver is the min solver of the negated costs). Danskin's theorem gives the
    subgradient, so autograd through the formula with the solutions held fixed is exact.
    One solver call per step (two without ``y_true``). ``l(c, c) = 0`` and ``l >= regret``.

    Args:
        solver: the solver (its ``sense`` is used).
        c_hat: predicted costs ``(B, *shape)``, with gradient.
        c: true costs, the same shape.
        y_true: the optimal solutions ``y(c)``, if known (saves a solver call).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Example:
        >>> from discgrad.solvers import TopK
        >>> c_hat = torch.tensor([[1.0, 0.0, 0.0]], requires_grad=True)
        >>> loss = spo_plus_loss(TopK(1), c_hat, torch.tensor([[1.0, 3.0, 2.0]]))
        >>> loss.backward(); loss, c_hat.grad + 0  # regret 2 <= SPO+ 4
        (tensor(4., grad_fn=<MeanBackward0>), tensor([[ 2., -2.,  0.]]))
    """
    _check_pair(c_hat, c)
    sign = _sign(solver)
    with torch.no_grad():
        y_star = solver(c) if y_true is None else y_true.to(c.dtype)
        y_tilde = solver(2 * c_hat.detach() - c)
    # in min form: costs sign * c, sign * c_hat
    s_hat, s = sign * c_hat, sign * c
    per_instance = -_objective(2 * s_hat - s, y_tilde) + 2 * _objective(s_hat, y_star) - _objective(s, y_star)
    return reduce_batch(per_instance, reduction)


class SolvedBatch(NamedTuple):
    """One batch of a :class:`SolvedDataset`."""

    features: torch.Tensor
    costs: torch.Tensor
    solutions: torch.Tensor
    objectives: torch.Tensor


class SolvedDataset(torch.utils.data.Dataset):
    """Features, true costs, and the solver's optimal solutions and objectives, solved once.

    The predict-then-optimize data set (PyEPO's ``optDataset``): ``solutions = solver(costs)``
    and ``objectives = <costs, solutions>`` are computed at construction, in batches of
    ``batch_size``, so training never solves the true costs again. Indexing gives a
    :class:`SolvedBatch`; a ``DataLoader`` stacks them.

    Args:
        solver: any solver.
        features: ``(N, ...)`` model inputs.
        costs: ``(N, *shape)`` true costs.
        batch_size: instances per solver call at construction.

    Example:
        >>> from discgrad.solvers import TopK
        >>> data = SolvedDataset(TopK(1), torch.eye(2), torch.tensor([[1.0, 3.0], [2.0, 0.5]]))
        >>> len(data), data[0].solutions, data.objectives
        (2, tensor([0., 1.]), tensor([3., 2.]))
    """

    def __init__(self, solver, features: torch.Tensor, costs: torch.Tensor, batch_size: int = 1024):
        check_tensor(features, "features", min_dim=1)
        costs = check_costs(costs, "costs")
        if len(features) != len(costs):
            raise ValueError(f"features and costs must have the same length, got {len(features)} and {len(costs)}")
        with torch.no_grad():
            self.solutions = torch.cat([solver(part) for part in costs.split(batch_size)])
        self.features, self.costs = features, costs
        self.objectives = _objective(costs, self.solutions)

    def __len__(self) -> int:
        return len(self.costs)

    def __getitem__(self, index) -> SolvedBatch:
        return SolvedBatch(self.features[index], self.costs[index], self.solutions[index], self.objectives[index])

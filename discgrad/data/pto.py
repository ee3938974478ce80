"""Synthetic predict-then-optimize data: costs that are a noisy polynomial of the features.

The generator of the shortest-path experiments of Elmachtoub and Grigas (2022, "Smart
predict, then optimize", Management Science, sec. 6), which the PyEPO library (Tang and
Khalil 2024, ``pyepo.data``) also uses, written here from the paper's description:

* the features ``x`` of an instance are ``p`` independent standard normal numbers;
* a fixed 0/1 matrix ``B`` (``p x d``, entries Bernoulli(1/2)), shared by every split of a
  problem, maps them to the ``d`` costs by a polynomial of degree ``deg``,

  .. math:: c_j = \\Big[\\frac{1}{3.5^{\\deg}}\\Big(\\big(\\tfrac{1}{\\sqrt p}(x^\\top B)_j + 3\\big)^{\\deg}
            + 1\\Big)\\Big]\\,\\varepsilon_j, \\qquad \\varepsilon_j \\sim U[1 - \\bar\\varepsilon, 1 + \\bar\\varepsilon],

  with a multiplicative noise of half-width ``noise_width`` (``scale`` multiplies the costs:
  PyEPO's knapsack values use 5). For ``deg = 1`` the costs are linear in ``x`` (up to the
  noise) and a linear model is well specified; the larger ``deg``, the more a linear model
  of the costs is wrong, which is where training on the decision (SPO+, an estimator
  through the solver) is expected to beat fitting the costs (two-stage).

:func:`knapsack_instance` draws the items' integer weights and a capacity for
:class:`~discgrad.solvers.Knapsack`. Everything is drawn with its own ``torch.Generator``,
so a split depends only on its seed.

Book: chapter 18 (your own solver).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from discgrad.solvers.base import check_count, check_real

__all__ = ["PtoData", "cost_map", "polynomial_costs", "make_pto_data", "knapsack_instance"]


class PtoData(NamedTuple):
    """Features ``(N, p)`` and true costs ``(N, d)`` of a predict-then-optimize split."""

    features: torch.Tensor
    costs: torch.Tensor


def cost_map(n_features: int, n_costs: int, seed: int) -> torch.Tensor:
    """The fixed 0/1 matrix ``B`` (``n_features x n_costs``, Bernoulli(1/2) entries) of a problem.

    Example:
        >>> B = cost_map(5, 40, seed=0)
        >>> B.shape, sorted(B.unique().tolist())
        (torch.Size([5, 40]), [0.0, 1.0])
    """
    n_features, n_costs = check_count(n_features, "n_features"), check_count(n_costs, "n_costs")
    g = torch.Generator().manual_seed(check_count(seed, "seed", low=0))
    return torch.bernoulli(torch.full((n_features, n_costs), 0.5), generator=g)


def polynomial_costs(features: torch.Tensor, B: torch.Tensor, deg: int, scale: float = 1.0) -> torch.Tensor:
    """The noise-free costs ``scale ((x B / sqrt(p) + 3)^deg + 1) / 3.5^deg`` (see the module docstring).

    Example:
        >>> x = torch.zeros(1, 4)  # at x = 0 every cost is (3^deg + 1) / 3.5^deg
        >>> polynomial_costs(x, torch.ones(4, 2), deg=1)
        tensor([[1.1429, 1.1429]])
    """
    deg = check_count(deg, "deg")
    if features.dim() != 2 or B.dim() != 2 or features.shape[1] != B.shape[0]:
        raise ValueError(f"features (N, p) and B (p, d) must agree in p, got shapes {tuple(features.shape)} "
                         f"and {tuple(B.shape)}")
    inner = features @ B.to(features.dtype) / math.sqrt(features.shape[1]) + 3.0
    return check_real(scale, "scale", low=0.0, strict=True) * (inner ** deg + 1.0) / 3.5 ** deg


def make_pto_data(n: int, B: torch.Tensor, deg: int, noise_width: float, seed: int,
                  scale: float = 1.0) -> PtoData:
    """``n`` instances of features and noisy polynomial costs for the cost map ``B``.

    Args:
        n: the number of instances.
        B: the problem's cost map (:func:`cost_map`), shared by its splits.
        deg: the polynomial's degree (1: linear).
        noise_width: the half-width ``eps_bar`` of the multiplicative noise, in ``[0, 1)``.
        seed: the split's seed (features and noise).
        scale: a factor on every cost.

    Example:
        >>> B = cost_map(5, 40, seed=0)
        >>> data = make_pto_data(8, B, deg=4, noise_width=0.5, seed=1)
        >>> data.features.shape, data.costs.shape, bool((data.costs > 0).all())
        (torch.Size([8, 5]), torch.Size([8, 40]), True)
        >>> exact = make_pto_data(8, B, deg=4, noise_width=0.0, seed=1)
        >>> torch.allclose(exact.costs, polynomial_costs(exact.features, B, deg=4))
        True
    """
    n = check_count(n, "n")
    noise_width = check_real(noise_width, "noise_width", low=0.0)
    if noise_width >= 1:
        raise ValueError(f"noise_width must be < 1 (the costs must stay positive), got {noise_width}")
    g = torch.Generator().manual_seed(check_count(seed, "seed", low=0))
    features = torch.randn(n, B.shape[0], generator=g)
    eps = 1.0 + noise_width * (2.0 * torch.rand(n, B.shape[1], generator=g) - 1.0)
    return PtoData(features, polynomial_costs(features, B, deg, scale) * eps)


def knapsack_instance(n_items: int, seed: int, low: int = 3, high: int = 7,
                      fill: float = 0.25) -> tuple[torch.Tensor, int]:
    """Integer item weights, uniform in ``low..high``, and the capacity ``fill`` of their total.

    (PyEPO draws weights in ``[3, 8)`` with two decimals; :class:`~discgrad.solvers.Knapsack`'s
    dynamic program needs integers.)

    Example:
        >>> weights, capacity = knapsack_instance(20, seed=0)
        >>> weights.shape, int(weights.min()) >= 3, int(weights.max()) <= 7, capacity == int(0.25 * weights.sum())
        (torch.Size([20]), True, True, True)
    """
    n_items = check_count(n_items, "n_items")
    low, high = check_count(low, "low"), check_count(high, "high")
    if high < low:
        raise ValueError(f"high must be >= low, got {low}..{high}")
    fill = check_real(fill, "fill", low=0.0, strict=True)
    g = torch.Generator().manual_seed(check_count(seed, "seed", low=0))
    weights = torch.randint(low, high + 1, (n_items,), generator=g)
    return weights, int(fill * int(weights.sum()))

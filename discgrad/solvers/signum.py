"""Elementwise hard functions as solvers: signum, a ternary signum, the Heaviside step.

Each is the argmax of a linear objective over a product set (``{-1, +1}^n``,
``{-1, 0, +1}^n``, ``{0, 1}^n``), so every estimator of the book applies to it; they are the
hard functions of the DAB chapters (Ramapuram and Webb 2019; book chapters 12-15).
"""
from __future__ import annotations

import torch

from .base import Solver, check_costs, check_real


class Signum(Solver):
    r"""``+1`` where ``w >= 0``, ``-1`` elsewhere: the argmax of ``<w, y>`` over ``{-1, +1}^n``.

    Computes :math:`y(w) = \arg\max_{y \in \{-1, +1\}^n} \langle w, y \rangle`
    (``sense = "max"``), entry by entry. A tie (``w_i = 0``, either sign is optimal) goes to
    ``+1``, so the code is always binary (``torch.sign`` gives 0 there).

    Shape: ``w`` is ``(B, *shape)``; the output has ``w``'s shape, device and floating dtype.

    Example:
        >>> import torch
        >>> Signum()(torch.tensor([[-0.5, 0.0, 2.0]]))
        tensor([[-1.,  1.,  1.]])

    Reference: Ramapuram and Webb 2019, "Improving discrete latent representations with
    differentiable approximation bridges". Book: chapters 12 and 14.
    """

    sense = "max"

    def __init__(self):
        self.name = "Signum"

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        w = check_costs(w).detach()
        return torch.where(w >= 0, torch.ones_like(w), -torch.ones_like(w))

    def __repr__(self) -> str:
        return "Signum()"


class TernarySignum(Solver):
    r"""``+1`` where ``w > dead_zone``, ``-1`` where ``w < -dead_zone``, ``0`` in between.

    Computes :math:`y(w) = \arg\max_{y \in \{-1, 0, +1\}^n} \langle w, y \rangle - \delta \lVert y \rVert_1`
    with :math:`\delta` = ``dead_zone`` (``sense = "max"``): an entry is nonzero only when
    its score pays the price ``dead_zone``. A tie (``|w_i| = dead_zone``) goes to ``0``. The
    ``- dead_zone |y|`` term is not linear in ``y``; the estimators see the linear part
    ``<w, y>`` only, as for any solver with a fixed regulariser.

    Shape: ``w`` is ``(B, *shape)``; the output has ``w``'s shape, device and floating dtype.

    Args:
        dead_zone: the price of a nonzero entry, ``>= 0``.

    Example:
        >>> import torch
        >>> TernarySignum(0.5)(torch.tensor([[-2.0, -0.5, 0.1, 0.7]]))
        tensor([[-1.,  0.,  0.,  1.]])

    Reference: Ramapuram and Webb 2019. Book: chapter 12.
    """

    sense = "max"

    def __init__(self, dead_zone: float):
        self.dead_zone = check_real(dead_zone, "dead_zone", low=0)
        self.name = "TernarySignum"

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        w = check_costs(w).detach()
        return (w > self.dead_zone).to(w.dtype) - (w < -self.dead_zone).to(w.dtype)

    def __repr__(self) -> str:
        return f"TernarySignum(dead_zone={self.dead_zone})"


class Heaviside(Solver):
    r"""``1`` where ``w > 0``, ``0`` elsewhere: the argmax of ``<w, y>`` over ``{0, 1}^n``.

    Computes :math:`y(w) = \arg\max_{y \in \{0, 1\}^n} \langle w, y \rangle`
    (``sense = "max"``), the threshold unit ``1[w > 0]``. A tie (``w_i = 0``) goes to ``0``.
    With logistic noise added to logits ``l``, ``1[l + noise > 0]`` is a
    ``Bernoulli(sigmoid(l))`` sample (chapter 15).

    Shape: ``w`` is ``(B, *shape)``; the output has ``w``'s shape, device and floating dtype.

    Example:
        >>> import torch
        >>> Heaviside()(torch.tensor([[-0.5, 0.0, 2.0]]))
        tensor([[0., 0., 1.]])

    Reference: Ramapuram and Webb 2019. Book: chapter 15.
    """

    sense = "max"

    def __init__(self):
        self.name = "Heaviside"

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        w = check_costs(w).detach()
        return (w > 0).to(w.dtype)

    def __repr__(self) -> str:
        return "Heaviside()"

"""Bridges for DAB: small smooth networks trained to imitate a hard function.

A DAB layer (:class:`discgrad.DAB`; Ramapuram and Webb 2019, arXiv:1905.03658) runs the
exact hard function forward and sends the task gradient back through the vector-Jacobian
product (VJP) of a bridge ``b_phi`` that learns to imitate it. The gradient reaching entry
``i`` of the input is ``sum_j (d b_j / d x_i) dL/dy_j``: every output the bridge lets
depend on ``x_i`` contributes. A dense bridge lets every output depend on every input, so
even for a hard function that acts entry by entry (signum, a threshold) its VJP mixes the
gradients of unrelated entries (cross-talk) until the bridge has learned the zeros off
the diagonal. A bridge with the hard function's structure has those zeros by
construction:

* :func:`make_bridge`: dense tanh MLP, for functions where every output depends on every
  input (top-k, a ranking);
* :class:`FlatBridge`: dense ReLU MLP on a flattened matrix instance (a matching, a tour);
* :class:`ElementwiseBridge`: one scalar MLP shared by every entry, diagonal Jacobian
  (signum, a threshold);
* :class:`GroupwiseBridge`: one MLP shared by every group of the last dimension,
  block-diagonal Jacobian (a one-hot argmax per group of categories);
* :class:`StandardisedBridge`: the elementwise MLP on each instance's standardised entries,
  for functions that ignore a shift and a positive scaling of an instance (top-k).

:func:`bridge_of_kind` builds one by name (an experiment's grid over bridges), and
:func:`imitation_error` measures how well a bridge imitates. Book: chapter 5.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from discgrad.models import MLP

__all__ = ["make_bridge", "imitation_error", "FlatBridge", "ElementwiseBridge", "GroupwiseBridge",
           "StandardisedBridge", "bridge_of_kind"]


def _widths(hidden: int | Sequence[int]) -> list[int]:
    widths = list(hidden) if isinstance(hidden, (list, tuple)) else [hidden]
    if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in widths):
        raise ValueError(f"hidden must hold positive integers, got {hidden!r}")
    return widths


def make_bridge(n_in: int, n_out: int, hidden: Sequence[int]) -> nn.Module:
    """The dense bridge of the DAB runs of Part III: an MLP with tanh hidden layers.

    Chosen up front, not tuned: the bridge of chapter 5 (two tanh hidden layers of 128),
    a small smooth network of the kind Ramapuram and Webb (2019) use, so that its
    vector-Jacobian product is nonzero everywhere. It acts on one solver instance (a
    group of logits, a score vector) at a time, as the solver does; every output depends
    on every input (see the module docstring for when that hurts).

    Shape: input ``(*, n_in)``; output ``(*, n_out)``.

    Example:
        >>> make_bridge(8, 8, [128, 128])(torch.zeros(3, 8)).shape
        torch.Size([3, 8])
    """
    return MLP(n_in, list(hidden), n_out, activation=nn.Tanh)


def imitation_error(fit: torch.Tensor, hard: torch.Tensor) -> torch.Tensor:
    """The bridge's mean squared error per entry, relative to the best constant predictor.

    ``mean((fit - hard)^2) / mean((hard - mean(hard))^2)`` with the means over the rows:
    0 is a perfect imitation, 1 is no better than predicting the mean output (for a
    k-hot output of ``N`` entries, ``k/N`` everywhere).

    Shape: ``hard`` is ``(*, n)``, ``fit`` has as many entries; a scalar comes back.

    Example:
        >>> hard = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> float(imitation_error(torch.full((2, 2), 0.5), hard)), float(imitation_error(hard, hard))
        (1.0, 0.0)
    """
    hard = hard.reshape(-1, hard.shape[-1])
    fit = fit.reshape(hard.shape)
    return (fit - hard).pow(2).mean() / (hard - hard.mean(0)).pow(2).mean().clamp_min(1e-12)


class FlatBridge(nn.Module):
    """A DAB bridge for a solver without grid structure: an MLP on the flattened instance.

    ``(B, *shape)`` costs are flattened, passed through ``discgrad.models.MLP`` with
    two hidden layers of ``width`` (ReLU), and reshaped back: a matching or a tour depends
    on all its costs at once, with no locality for a convolution to use. Chapters 8 and 10
    use it.

    Args:
        shape: the shape of one instance, e.g. ``(n, m)`` or ``(k, k)``.
        width: the hidden width.

    Example:
        >>> FlatBridge((5, 5), 16)(torch.zeros(3, 5, 5)).shape
        torch.Size([3, 5, 5])
    """

    def __init__(self, shape: Sequence[int], width: int = 128):
        super().__init__()
        size = 1
        for s in shape:
            size *= int(s)
        self.net = nn.Sequential(nn.Flatten(), MLP(size, [width, width], size))

    def forward(self, costs: torch.Tensor) -> torch.Tensor:
        return self.net(costs).view(costs.shape)


class ElementwiseBridge(nn.Module):
    """A bridge for a hard function that acts on each entry alone (signum, a threshold).

    One small MLP ``1 -> hidden -> 1`` (tanh), shared by all entries and applied to each
    independently: output ``i`` depends on input ``i`` only, so the Jacobian is diagonal
    and the VJP has no cross-talk between entries (Ramapuram and Webb 2019; book chapter
    5). With one hidden layer it has ``3 * hidden + 1`` parameters, whatever the input's size.

    Args:
        hidden: the hidden width (or a sequence of widths), positive.

    Shape: input ``(*)``, any shape; output the same shape.

    Example:
        >>> bridge = ElementwiseBridge(hidden=8)
        >>> bridge(torch.zeros(3, 5)).shape
        torch.Size([3, 5])
    """

    def __init__(self, hidden: int | Sequence[int] = 32):
        super().__init__()
        self.net = MLP(1, _widths(hidden), 1, activation=nn.Tanh)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.unsqueeze(-1)).squeeze(-1)


class GroupwiseBridge(nn.Module):
    """A bridge for a hard function that acts on each group of entries alone.

    The last dimension is cut into consecutive groups of ``group_size`` entries (e.g. the
    categories of one one-hot variable); one MLP ``group_size -> hidden -> group_size``
    (tanh), shared by all groups, maps each group independently. Outputs depend only on
    their own group, so the Jacobian is block-diagonal and the VJP has no cross-talk
    between groups (Ramapuram and Webb 2019; book chapter 5).

    Args:
        group_size: the entries per group, positive; must divide the input's last
            dimension (checked on each call).
        hidden: the hidden width (or a sequence of widths), positive.

    Shape: input ``(*, D)`` with ``D % group_size == 0``; output the same shape.

    Example:
        >>> bridge = GroupwiseBridge(group_size=3, hidden=16)
        >>> bridge(torch.zeros(2, 12)).shape
        torch.Size([2, 12])
    """

    def __init__(self, group_size: int, hidden: int | Sequence[int] = 128):
        super().__init__()
        if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
            raise ValueError(f"group_size must be a positive integer, got {group_size!r}")
        self.group_size = group_size
        self.net = MLP(group_size, _widths(hidden), group_size, activation=nn.Tanh)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 1 or x.shape[-1] % self.group_size:
            raise ValueError(f"group_size={self.group_size} must divide the input's last dimension, "
                             f"got shape {tuple(x.shape)}")
        groups = x.reshape(*x.shape[:-1], x.shape[-1] // self.group_size, self.group_size)
        return self.net(groups).reshape(x.shape)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


class StandardisedBridge(nn.Module):
    """A bridge for a hard function that ignores a shift and a positive scaling of each
    instance, as top-k does: each instance is standardised over its last dimension,
    ``(x - mean) / std``, and an :class:`ElementwiseBridge` maps every standardised entry.

    The output therefore ignores the shift and the scale too; its Jacobian is the
    elementwise one times the standardisation's, which couples the entries of an instance
    only through its mean and spread (Ramapuram and Webb 2019; book chapter 5).

    Args:
        hidden: the elementwise network's hidden width (or widths), positive.

    Shape: input ``(*, D)`` with ``D >= 2``; output the same shape.

    Example:
        >>> bridge, x = StandardisedBridge(hidden=8), torch.randn(2, 6)
        >>> torch.allclose(bridge(3.0 * x + 1.0), bridge(x), atol=1e-5)
        True
    """

    def __init__(self, hidden: int | Sequence[int] = 32):
        super().__init__()
        self.elementwise = ElementwiseBridge(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 1 or x.shape[-1] < 2:
            raise ValueError(f"a standardised bridge needs at least 2 entries per instance, got shape {tuple(x.shape)}")
        standard = (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True).clamp_min(1e-6)
        return self.elementwise(standard)


def bridge_of_kind(kind: str, size: int | Sequence[int], width: int) -> nn.Module:
    """A bridge by name, for a grid over bridges.

    ``"dense"``: two hidden layers of ``width``, :func:`make_bridge` for a vector instance
    and :class:`FlatBridge` for a matrix one; ``"elementwise"`` or ``"standardised"``: one
    hidden layer of ``width``; ``"groupwise"``: :class:`GroupwiseBridge` over the rows of a
    matrix instance (one MLP shared by the rows, e.g. the one-per-row structure of a
    matching). ``size`` is the instance's length, or its shape.

    Example:
        >>> bridge_of_kind("standardised", 5, 8)(torch.randn(2, 5)).shape
        torch.Size([2, 5])
        >>> bridge_of_kind("groupwise", (3, 4), 8)(torch.randn(2, 3, 4)).shape
        torch.Size([2, 3, 4])
    """
    shape = tuple(size) if isinstance(size, (tuple, list)) else (size,)
    if kind == "dense":
        return make_bridge(shape[0], shape[0], [width, width]) if len(shape) == 1 else FlatBridge(shape, width)
    if kind == "elementwise":
        return ElementwiseBridge(hidden=width)
    if kind == "standardised":
        return StandardisedBridge(hidden=width)
    if kind == "groupwise":
        if len(shape) < 2:
            raise ValueError(f"a groupwise bridge needs a matrix instance (its rows are the groups), got shape {shape}")
        return GroupwiseBridge(shape[-1], hidden=width)
    raise ValueError(f"unknown bridge kind {kind!r}: use 'dense', 'elementwise', 'standardised' or 'groupwise'")

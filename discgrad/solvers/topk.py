"""Top-k selection: the k-hot indicator of the k largest entries."""
from __future__ import annotations

import numbers

import torch

from .base import ArgumentTypeError, Solver, check_costs, check_count


class TopK(Solver):
    r"""The k-hot mask of the ``k`` largest entries of each slice along ``dim``.

    Computes :math:`y(w) = \arg\max_{y \in \{0,1\}^n,\ \sum_i y_i = k} \langle w, y \rangle`
    (``sense = "max"``). ``TopK(1)`` is the one-hot argmax. Ties at the k-th largest value
    are broken deterministically: the lower index wins.

    Shape: ``w`` is ``(B, *shape)`` with ``n = w.shape[dim]``; the output has ``w``'s shape,
    device and floating dtype, with exactly ``k`` ones along ``dim``.

    Args:
        k: how many entries to select, any integer (``numbers.Integral``) with
            ``1 <= k <= n`` (``k <= n`` is checked on each call).
        dim: the dimension to select along; not the batch dimension 0. Default: ``-1``.

    Example:
        >>> import torch
        >>> TopK(2)(torch.tensor([[0.1, 3.0, 2.0, 3.0]]))
        tensor([[0., 1., 0., 1.]])
        >>> TopK(1)(torch.tensor([[1.0, 5.0, 5.0]]))  # a tie: the lower index wins
        tensor([[0., 1., 0.]])

    Reference: Sahoo et al. 2023, "Backpropagation through combinatorial algorithms:
    identity with projection works", ICLR. Book: chapter 1.
    """

    sense = "max"

    def __init__(self, k: int, dim: int = -1):
        self.k = check_count(k, "k")
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
            raise ArgumentTypeError(f"dim must be an integer, got {dim!r}")
        self.dim = int(dim)
        self.name = "TopK"

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        w = check_costs(w)
        if w.dim() < 2:
            raise ValueError(f"w must have at least 2 dimensions (batch first), got shape {tuple(w.shape)}")
        if not -w.dim() <= self.dim < w.dim() or self.dim % w.dim() == 0:
            raise ValueError(
                f"dim must index a non-batch dimension of w (1..{w.dim() - 1} or negative), got {self.dim}"
            )
        w = w.detach()
        dim, k, n = self.dim, self.k, w.shape[self.dim]
        if k > n:
            raise ValueError(f"k must be in 1..n where n = w.shape[dim] = {n}, got k={k}")
        if k == n:
            return torch.ones_like(w)
        # The k+1 largest values tell whether the k-th largest is tied with the (k+1)-th; it
        # almost never is, and then the mask is one comparison with the (k+1)-th largest.
        top = torch.topk(w, k + 1, dim=dim, sorted=False).values  # unsorted is faster
        next_value = top.amin(dim, keepdim=True)
        # Each slice holds its minimum at least once: more matches than slices means a tie.
        if int((top == next_value).sum()) == top.numel() // (k + 1):
            return torch.gt(w, next_value, out=torch.empty_like(w))
        kth = torch.topk(top, 2, dim=dim, largest=False).values.narrow(dim, 1, 1)
        tied = w == kth
        missing = k - (w > kth).sum(dim, keepdim=True)
        mask = (w > kth) | (tied & (tied.cumsum(dim) <= missing))  # the first tied ones
        return mask.to(w.dtype)

    def __repr__(self) -> str:
        return f"TopK(k={self.k}, dim={self.dim})"

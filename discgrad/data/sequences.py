"""Sequences to sort: uniform random numbers and their sorting permutations.

Book: chapter 12 (neural sequence sorting, after Ramapuram and Webb 2019).
"""
from __future__ import annotations

from typing import NamedTuple

import torch


class SortData(NamedTuple):
    """Sequences ``x`` ``(n, L)`` in ``[0, 1)`` and their sorting permutations ``perm`` ``(n, L)``:
    ``perm[b, i]`` is the index of the ``i``-th smallest element of ``x[b]``."""

    x: torch.Tensor
    perm: torch.Tensor


def make_sequences(n: int, length: int, seed: int, device=None) -> SortData:
    """``n`` sequences ``x ~ U(0, 1)^length`` (generator seeded with ``seed``) and their argsort.

    Example:
        >>> d = make_sequences(3, 5, seed=0)
        >>> bool((d.x.gather(1, d.perm).diff(dim=1) > 0).all())
        True
    """
    if length < 2 or n < 1:
        raise ValueError(f"need n >= 1 and length >= 2, got n={n}, length={length}")
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, length, generator=g)
    return SortData(x.to(device), x.argsort(dim=1).to(device))

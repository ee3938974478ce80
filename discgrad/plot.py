"""The book's figure helpers: one style, 2-D slices of cost space, learning curves.

Book: chapter 1 introduces the cost-space pictures; the experiment chapters use the curves.
"""
from __future__ import annotations

import re
from typing import Callable, Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch

BOOK_STYLE = {
    "figure.figsize": (6.0, 3.6),
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "image.cmap": "viridis",
}


#: An internal method key (``identity_norm``, ``blackbox_lam20``), never a legend entry.
_INTERNAL_KEY = re.compile(r"(?:identity|blackbox|perturbed|imle|gumbel|score_function|straight_through|"
                           r"fenchel_young|spo_plus|two_stage|dab)(?:_[a-z0-9.]+)+")

def use_book_style() -> None:
    """Apply the book's matplotlib style (labelled, light grid, no top/right spines).

    Example:
        >>> use_book_style()
        >>> mpl.rcParams["axes.spines.top"]
        False
    """
    mpl.rcParams.update(BOOK_STYLE)


def solutions_on_slice(solver: Callable[[torch.Tensor], torch.Tensor], w0: torch.Tensor,
                       u: torch.Tensor, v: torch.Tensor, s: torch.Tensor, t: torch.Tensor):
    """Solve at every point ``w0 + s_i u + t_j v`` of a 2-D slice of cost space.

    Args:
        solver: a batched solver, ``(B, *shape) -> (B, *shape)``.
        w0, u, v: costs of one instance, shape ``shape``: the slice's origin and directions.
        s, t: 1-D grids of the two coordinates.

    Returns:
        ``(labels, solutions)``: ``labels[j, i]`` indexes into ``solutions`` (the distinct
        solutions found, in order of first appearance along the grid), ready for ``imshow``.

    Example:
        >>> from discgrad.solvers import TopK
        >>> e = torch.eye(3)
        >>> labels, sols = solutions_on_slice(TopK(1), torch.zeros(3), e[0], e[1],
        ...                                   torch.linspace(-1, 1, 5), torch.linspace(-1, 1, 5))
        >>> labels.shape, len(sols)
        ((5, 5), 3)
    """
    S, T = torch.meshgrid(s, t, indexing="xy")  # S[j, i] = s[i], T[j, i] = t[j]
    expand = (len(t), len(s)) + (1,) * w0.dim()
    w = w0 + S.reshape(expand) * u + T.reshape(expand) * v
    y = solver(w.reshape(-1, *w0.shape)).reshape(len(t) * len(s), -1)
    solutions, inverse = torch.unique(y, dim=0, return_inverse=True)
    # Number the solutions in order of first appearance so colours are stable across plots.
    first = torch.full((len(solutions),), len(inverse), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(len(inverse)), reduce="amin")
    order = torch.argsort(first)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order))
    labels = rank[inverse].reshape(len(t), len(s)).numpy()
    return labels, [solutions[i].reshape(w0.shape) for i in order]


def plot_regions(ax, labels: np.ndarray, s: torch.Tensor, t: torch.Tensor,
                 names: Sequence[str] | None = None, cmap: str = "tab10"):
    """Colour a 2-D slice by which solution is optimal; return the image for a legend."""
    cmap_obj = plt.get_cmap(cmap)
    n = int(labels.max()) + 1
    colours = mpl.colors.ListedColormap([cmap_obj(i % cmap_obj.N) for i in range(n)])
    im = ax.imshow(labels, origin="lower", extent=(float(s[0]), float(s[-1]), float(t[0]), float(t[-1])),
                   cmap=colours, vmin=-0.5, vmax=n - 0.5, aspect="auto", interpolation="nearest")
    if names is not None:
        handles = [mpl.patches.Patch(color=colours(i), label=names[i]) for i in range(n)]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, fontsize=8,
                  frameon=False)   # below the axes, never over the regions
    return im


def plot_curves(ax, curves: Mapping[str, Sequence[float]], xlabel: str = "epoch", ylabel: str = "",
                logy: bool = False):
    """Plot named learning curves on one axis, with the legend below the axes so that it
    never covers a curve.

    Raises:
        ValueError: when a name is an internal method key (``identity_norm``): legends show
            the book's display names (:func:`discgrad.chapter.display_name`).

    Example:
        >>> fig, ax = plt.subplots()
        >>> _ = plot_curves(ax, {"Identity + P_norm": [1.0, 0.5]}, ylabel="loss")
        >>> plot_curves(ax, {"identity_norm": [1.0, 0.5]})
        Traceback (most recent call last):
        ...
        ValueError: the curve name 'identity_norm' is an internal method key; ...
        >>> plt.close(fig)
    """
    for name in curves:
        if _INTERNAL_KEY.fullmatch(str(name)):
            raise ValueError(f"the curve name {name!r} is an internal method key; label it with "
                             f"discgrad.chapter.display_name (or a name for the reader)")
    for name, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=name, marker="o", markersize=3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize=8, frameon=False)
    return ax

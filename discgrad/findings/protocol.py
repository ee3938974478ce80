"""The checks every chapter under the comparison protocol (design section 11) makes of its
runs: a paired verdict, whether training beat the untrained networks, whether a learning
curve has flattened, and whether a chosen knob sits at its grid's edge.

Book: "How to use this book" (how methods are compared).
"""
from __future__ import annotations

from typing import Mapping, Sequence

from discgrad.experiments.methods import Method
from discgrad.experiments.summary import Difference, by_seed, mean_curves, mean_std, paired_difference

#: A curve has flattened when its last ``FLAT_EPOCHS`` epochs changed it by less than
#: ``FLAT_SHARE`` of its whole change since the first epoch.
FLAT_EPOCHS, FLAT_SHARE = 10, 0.1


def variant_runs(runs: Sequence[Mapping], method: str, **knobs) -> list[Mapping]:
    """The runs of one method whose variant has the given knob values (all its runs without knobs)."""
    return [r for r in runs if r["method"] == method
            and all(r["settings"]["variant"].get(n) == v for n, v in knobs.items())]


def mean(runs: Sequence[Mapping], metric: str) -> float:
    """The mean of a final metric over ``runs``."""
    return mean_std([r["metrics"][metric] for r in runs])[0]


def difference(a: Sequence[Mapping], b: Sequence[Mapping], metric: str, higher_is_better: bool) -> Difference:
    """``a`` minus ``b`` on the final ``metric``, paired by seed (95% paired t interval)."""
    return paired_difference(by_seed(a, metric), by_seed(b, metric), higher_is_better=higher_is_better)


def verdict(a: Sequence[Mapping], b: Sequence[Mapping], metric: str, higher_is_better: bool) -> str:
    """The :func:`difference`'s verdict for ``a``: "better", "worse" or "on par"."""
    return difference(a, b, metric, higher_is_better).verdict


def beats_untrained(runs: Sequence[Mapping], metric: str, higher_is_better: bool) -> bool:
    """Whether the trained networks' ``test_<metric>`` beats the untrained ones', paired by seed."""
    return paired_difference(by_seed(runs, f"test_{metric}"), by_seed(runs, f"untrained_test_{metric}"),
                             higher_is_better=higher_is_better).verdict == "better"


def flattened(curve: Sequence[float], epochs: int = FLAT_EPOCHS, share: float = FLAT_SHARE) -> bool:
    """Whether a mean learning curve has flattened (see :data:`FLAT_EPOCHS`).

    Example:
        >>> flattened([0.1, 0.5] + [0.9] * 11), flattened([i / 20 for i in range(20)])
        (True, False)
    """
    if len(curve) <= epochs:
        return False
    total = abs(curve[-1] - curve[0])
    return abs(curve[-1] - curve[-1 - epochs]) <= share * total


def still_moving(runs: Sequence[Mapping], metric: str) -> bool:
    """Whether the mean validation curve of ``runs`` (one variant's seeds) has not flattened."""
    return not flattened(next(iter(mean_curves(runs, f"val_{metric}").values())))


def at_grid_edge(method: Method, variant: Mapping) -> bool:
    """Whether a numeric knob of ``variant`` is the smallest or largest value of ``method``'s grid.

    Example:
        >>> m = Method("blackbox", grid={"lam": [1.0, 10.0, 100.0]})
        >>> at_grid_edge(m, {"lam": 100.0}), at_grid_edge(m, {"lam": 10.0})
        (True, False)
    """
    return any(isinstance(v, (int, float)) and not isinstance(v, bool)
               and v in (min(method.grid[n]), max(method.grid[n])) for n, v in variant.items())

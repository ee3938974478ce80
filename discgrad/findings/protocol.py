"""The checks every chapter under the comparison protocol (design section 11) makes of its
runs: a paired verdict, whether training beat the untrained networks, whether a learning
curve has flattened, and whether a chosen knob sits at its grid's edge.

Book: "How to use this book" (how methods are compared).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from discgrad.experiments.methods import Method
from discgrad.experiments.summary import (Difference, Selection, by_seed, mean_curves, mean_std, paired_difference,
                                         select_variants)

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


@dataclass(frozen=True)
class MetricRule:
    """How an experiment compares its methods on one metric: each method's variant is chosen
    on ``val_<metric>`` (:meth:`selections`) and two methods are compared on
    ``test_<metric>``, paired by seed (:meth:`verdict`). An experiment's findings module
    binds its own, ``selections = RULE.selections``.

    Example:
        >>> rule = MetricRule("accuracy", higher_is_better=True)
        >>> runs = [{"method": m, "seed": s, "settings": {"variant": {}},
        ...          "metrics": {"val_accuracy": v, "test_accuracy": v}}
        ...         for m, v in (("a", 0.9), ("b", 0.5)) for s in range(5)]
        >>> rule.selections(runs)["a"].variant
        {}
        >>> rule.verdict(variant_runs(runs, "a"), variant_runs(runs, "b"))
        'better'
    """
    metric: str
    higher_is_better: bool

    def selections(self, runs: Sequence[Mapping]) -> dict[str, Selection]:
        """Each method's variant, chosen on the validation metric."""
        return select_variants(runs, self.metric, higher_is_better=self.higher_is_better)

    def verdict(self, a: Sequence[Mapping], b: Sequence[Mapping]) -> str:
        """``a`` against ``b`` on the test metric, paired by seed."""
        return verdict(a, b, f"test_{self.metric}", self.higher_is_better)


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


def chosen_summary(sel: Mapping[str, Selection], methods: Mapping[str, Method], metric: str,
                   higher_is_better: bool) -> dict:
    """What every chapter states first about its chosen variants (``sel``, from
    :func:`~discgrad.experiments.summary.select_variants`): ``chosen`` (each method's knobs),
    ``n_variants`` (how many it was chosen from) and ``trained_beats_untrained`` (the methods
    whose trained networks beat the untrained ones on the test metric, paired by seed).

    Raises:
        ValueError: a method of ``methods`` has no selection (its runs are missing).
    """
    missing = [m for m in methods if m not in sel]
    if missing:
        raise ValueError(f"the runs lack the methods {missing}")
    return {"chosen": {m: sel[m].variant for m in methods},
            "n_variants": {m: sel[m].n_variants for m in methods},
            "trained_beats_untrained": sorted(m for m in methods
                                              if beats_untrained(sel[m].runs, metric, higher_is_better))}


def all_tied(runs: Sequence[Mapping], method: str, spec: Method, metric: str) -> bool:
    """Whether every variant of ``method`` (grid ``spec``) has the same mean ``val_<metric>``:
    the choice then falls on the first variant and says nothing (a tied grid's edge is no edge).

    Example:
        >>> r = [{"method": "m", "seed": 0, "settings": {"variant": {"a": a}}, "metrics": {"val_x": 1.0}}
        ...      for a in (1, 2)]
        >>> all_tied(r, "m", Method("f", grid={"a": [1, 2]}), "x")
        True
    """
    means = {round(mean(variant_runs(runs, method, **v), f"val_{metric}"), 12) for v in spec.variants()}
    return len(means) == 1

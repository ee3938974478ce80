"""Summaries of recorded runs: means over seeds, curves, tables, and the paired comparison.

Every table of the book is built here from ``results/`` (design section 11):

* :func:`summarize` and :func:`mean_curves`: mean, standard deviation and seed count of a
  final metric, and the mean learning curve, grouped by method and variant;
* :func:`select_variants`: each method's variant chosen on the **validation** metric, so
  that only the chosen variant's test metric is reported, with the number of variants tried;
* :func:`paired_difference`: the mean difference between two methods over the seeds both
  ran, with a 95% interval (paired t, or a paired bootstrap); :func:`verdict` reads it as
  ``"better"``, ``"worse"`` or ``"on par"`` (on par when the interval contains 0);
* :func:`compare`: the older, unpaired rule (mean ± std intervals overlap) that the chapters
  not yet rerun under the protocol still use.

Every function here raises ``ValueError`` on a NaN or inf metric instead of answering.
Book: "How to use this book" (results) and chapter 17.
"""
from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from scipy import stats


def _finite(value, what: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what} is {value}: a NaN or inf metric cannot be summarised or compared")
    return value


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``nan`` for a single value); NaN or inf raise.

    Example:
        >>> mean_std([1.0, 2.0, 3.0])
        (2.0, 1.0)
    """
    values = [_finite(v, "a value") for v in values]
    if not values:
        raise ValueError("no values")
    mean = sum(values) / len(values)
    if len(values) == 1:
        return mean, float("nan")
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)


def group_key(run: Mapping, variant_keys: Sequence[str] = ()) -> tuple:
    """``(method, *variant values)``: the runs that differ only in the seed share a key."""
    return (run["method"], *(_hashable(run["settings"].get(k)) for k in variant_keys))


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def summarize(runs: Sequence[Mapping], metrics: Sequence[str] | None = None,
              variant_keys: Sequence[str] = ()) -> dict[tuple, dict[str, tuple[float, float, int]]]:
    """Group runs by method (and variant) and give each final metric's mean, std and count.

    Returns:
        ``{(method, *variant): {metric: (mean, std, n_seeds)}}``, in the order first seen.

    Raises:
        ValueError: when a summarised metric is NaN or inf.

    Example:
        >>> runs = [{"method": "a", "settings": {}, "seed": s, "metrics": {"loss": v}}
        ...         for s, v in enumerate([1.0, 3.0])]
        >>> summarize(runs)
        {('a',): {'loss': (2.0, 1.4142135623730951, 2)}}
    """
    groups: dict[tuple, list[Mapping]] = {}
    for run in runs:
        groups.setdefault(group_key(run, variant_keys), []).append(run)
    out = {}
    for key, members in groups.items():
        names = metrics or sorted(set().union(*(m["metrics"] for m in members)))
        out[key] = {}
        for name in names:
            values = [m["metrics"][name] for m in members if name in m["metrics"]]
            if values:
                try:
                    out[key][name] = (*mean_std(values), len(values))
                except ValueError as err:
                    raise ValueError(f"{key} {name}: {err}") from None
    return out


def mean_curves(runs: Sequence[Mapping], metric: str, variant_keys: Sequence[str] = ()) -> dict[tuple, list[float]]:
    """The per-epoch mean over seeds of ``history[metric]``, per method (and variant)."""
    groups: dict[tuple, list[list[float]]] = {}
    for run in runs:
        if metric in run["history"]:
            groups.setdefault(group_key(run, variant_keys), []).append(run["history"][metric])
    out = {}
    for key, curves in groups.items():
        length = min(len(c) for c in curves)
        out[key] = [sum(c[e] for c in curves) / len(curves) for e in range(length)]
    return out


def format_table(summary: Mapping[tuple, Mapping[str, tuple[float, float, int]]], digits: int = 3) -> list[str]:
    """Plain-text lines of a :func:`summarize` table: ``mean ± std (n)`` per metric."""
    lines = []
    for key, metrics in summary.items():
        cells = []
        for name, (mean, std, n) in metrics.items():
            spread = "n/a" if math.isnan(std) else f"{std:.{digits}g}"
            cells.append(f"{name}={mean:.{digits + 1}g} ± {spread} (n={n})")
        lines.append(" ".join(str(k) for k in key) + ": " + ", ".join(cells))
    return lines


def _table_cells(summary, columns, key_names, digits):
    head = [*key_names, *columns.values(), "seeds"]
    rows = []
    for key, metrics in summary.items():
        cells, n = [str(k) for k in key], 0
        for name in columns:
            if name not in metrics:
                cells.append("")
                continue
            mean, std, n = metrics[name]
            spread = "n/a" if math.isnan(std) else f"{std:.2g}"
            cells.append(f"{mean:.{digits}g} ± {spread}")
        rows.append([*cells, str(n)])
    return head, rows


def markdown_table(summary: Mapping[tuple, Mapping[str, tuple[float, float, int]]],
                   columns: Mapping[str, str], key_names: Sequence[str] = ("method",),
                   digits: int = 3) -> str:
    """A Markdown table of a :func:`summarize` result: one row per group, ``mean ± std``.

    Args:
        summary: from :func:`summarize`.
        columns: ``{metric: column title}``, in order.
        key_names: the titles of the key columns (method, then the variant keys).
        digits: significant digits of the means (the std gets two).

    Example:
        >>> print(markdown_table({("a",): {"loss": (2.0, 1.0, 2)}}, {"loss": "test loss"}))
        | method | test loss | seeds |
        |---|---|---|
        | a | 2 ± 1 | 2 |
    """
    head, rows = _table_cells(summary, columns, key_names, digits)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def html_table(summary: Mapping[tuple, Mapping[str, tuple[float, float, int]]],
               columns: Mapping[str, str], key_names: Sequence[str] = ("method",),
               digits: int = 3) -> str:
    """The table of :func:`markdown_table` as HTML, for ``IPython.display.HTML`` in a chapter.

    Example:
        >>> html_table({("a",): {"loss": (2.0, 1.0, 2)}}, {"loss": "test loss"})[:30]
        '<table><thead><tr><th style="p'
    """
    from html import escape

    head, rows = _table_cells(summary, columns, key_names, digits)
    pad = ' style="padding: 2px 12px 2px 0; text-align: left"'

    def row(cells, tag):
        return "<tr>" + "".join(f"<{tag}{pad}>{escape(c)}</{tag}>" for c in cells) + "</tr>"

    return ("<table><thead>" + row(head, "th") + "</thead><tbody>"
            + "".join(row(r, "td") for r in rows) + "</tbody></table>")


def compare(a: Sequence[float], b: Sequence[float], lower_is_better: bool = True) -> str:
    """The unpaired rule: ``"better"``, ``"worse"`` or ``"on par"`` from two ``(mean, std, n)``.

    ``a`` is *better* than ``b`` when its mean is better by more than the sum of the two
    standard deviations (the intervals mean ± std do not overlap), *worse* in the mirror
    case, and *on par* otherwise. A missing std (one seed) counts as 0. A NaN or inf mean
    raises. Runs recorded under the comparison protocol use :func:`paired_difference`.

    Example:
        >>> compare((1.0, 0.1, 3), (2.0, 0.1, 3)), compare((1.0, 0.6, 3), (2.0, 0.5, 3))
        ('better', 'on par')
        >>> compare((0.9, 0.01, 3), (0.5, 0.01, 3), lower_is_better=False)
        'better'
    """
    _finite(a[0], "the first mean")
    _finite(b[0], "the second mean")
    spread = sum(0.0 if math.isnan(s) else s for s in (a[1], b[1]))
    gap = (b[0] - a[0]) if lower_is_better else (a[0] - b[0])
    if abs(gap) <= spread:
        return "on par"
    return "better" if gap > 0 else "worse"


# --- the comparison protocol (design section 11) ------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """The paired difference ``a - b`` of a metric over seeds, with its 95% interval.

    ``verdict`` reads it for ``a``: ``"better"`` or ``"worse"`` when the interval excludes 0,
    ``"on par"`` when it contains 0; which direction is better comes from
    ``higher_is_better``.
    """

    mean: float
    low: float
    high: float
    n: int
    method: str
    higher_is_better: bool

    @property
    def verdict(self) -> str:
        if self.low <= 0.0 <= self.high:
            return "on par"
        a_higher = self.low > 0.0
        return "better" if a_higher == self.higher_is_better else "worse"

    def __str__(self) -> str:
        return f"{self.mean:+.3g} [{self.low:+.3g}, {self.high:+.3g}] ({self.n} seeds, {self.method}): {self.verdict}"


def paired_difference(a: Mapping[int, float], b: Mapping[int, float], higher_is_better: bool,
                      method: str = "t", level: float = 0.95, resamples: int = 10_000,
                      seed: int = 0) -> Difference:
    """The mean of ``a[s] - b[s]`` over the seeds ``s`` both have, with a ``level`` interval.

    Args:
        a, b: ``{seed: metric}`` of two methods (for example from ``by_seed``).
        higher_is_better: the metric's direction (accuracy: True; a loss: False).
        method: ``"t"``: the paired t interval ``mean ± t_{n-1} sd / sqrt(n)``;
            ``"bootstrap"``: the percentile interval of ``resamples`` resampled seed sets.
        level: the interval's coverage.

    Raises:
        ValueError: on fewer than 2 shared seeds, or a NaN or inf value.

    Example:
        >>> d = paired_difference({0: 0.9, 1: 0.8, 2: 0.85}, {0: 0.7, 1: 0.65, 2: 0.7}, True)
        >>> round(d.mean, 3), d.verdict
        (0.167, 'better')
        >>> paired_difference({0: 1.0, 1: 2.0}, {0: 1.5, 1: 1.5}, True).verdict
        'on par'
    """
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        raise ValueError(f"a paired comparison needs at least 2 shared seeds, got {seeds}")
    diffs = [_finite(a[s], f"seed {s} of the first method") - _finite(b[s], f"seed {s} of the second method")
             for s in seeds]
    n, mean = len(diffs), sum(diffs) / len(diffs)
    if method == "t":
        sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
        half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
        low, high = mean - half, mean + half
    elif method == "bootstrap":
        rng = random.Random(seed)
        means = sorted(sum(rng.choices(diffs, k=n)) / n for _ in range(resamples))
        low = means[int((1 - level) / 2 * resamples)]
        high = means[min(resamples - 1, int((1 + level) / 2 * resamples))]
    else:
        raise ValueError(f"method must be 't' or 'bootstrap', got {method!r}")
    return Difference(mean, low, high, n, "paired t" if method == "t" else "paired bootstrap", higher_is_better)


def by_seed(runs: Iterable[Mapping], metric: str) -> dict[int, float]:
    """``{seed: metrics[metric]}`` of runs that share a method and variant; a repeated seed raises."""
    out: dict[int, float] = {}
    for run in runs:
        if run["seed"] in out:
            raise ValueError(f"seed {run['seed']} appears twice for {run['method']} {run['settings']}")
        out[run["seed"]] = _finite(run["metrics"][metric], f"{run['method']} seed {run['seed']} {metric}")
    return out


@dataclass(frozen=True)
class Selection:
    """One method's variant chosen on validation, with the runs of that variant."""

    method: str
    variant: dict
    n_variants: int
    validation: float
    runs: tuple


def select_variants(runs: Sequence[Mapping], metric: str, higher_is_better: bool,
                    within: Mapping | None = None) -> dict[str, Selection]:
    """Per method, the variant with the best mean **validation** metric over its seeds.

    Each run's ``settings["variant"]`` names the variant (the family's knobs, see
    :class:`~discgrad.experiments.methods.Method`); ``metrics["val_" + metric]`` is what is compared,
    and the chosen variant's ``metrics["test_" + metric]`` is what a table reports. Ties go
    to the variant listed first.

    Args:
        runs: the runs of one results file.
        metric: the metric's name without its split prefix (``"precision"``).
        higher_is_better: the metric's direction.
        within: only runs whose settings match these items (e.g. ``{"k": 5}``).

    Example:
        >>> runs = [{"method": "m", "seed": s, "settings": {"variant": {"lam": lam}},
        ...          "metrics": {"val_acc": v, "test_acc": v}}
        ...         for s in (0, 1) for lam, v in ((1, 0.5), (10, 0.7 + s / 10))]
        >>> sel = select_variants(runs, "acc", higher_is_better=True)["m"]
        >>> sel.variant, sel.n_variants, len(sel.runs)
        ({'lam': 10}, 2, 2)
    """
    groups: dict[str, dict[tuple, list[Mapping]]] = {}
    for run in runs:
        if within and any(run["settings"].get(k) != v for k, v in within.items()):
            continue
        if "variant" not in run["settings"]:
            raise ValueError(f"run {run['method']} seed {run['seed']} has no settings['variant']: "
                             "it was not recorded under the comparison protocol")
        key = tuple(sorted((k, _hashable(v)) for k, v in run["settings"]["variant"].items()))
        groups.setdefault(run["method"], {}).setdefault(key, []).append(run)
    out = {}
    sign = 1.0 if higher_is_better else -1.0
    for method, variants in groups.items():
        scored = []
        for key, members in variants.items():
            mean, _ = mean_std([m["metrics"]["val_" + metric] for m in members])
            scored.append((sign * mean, key, members))
        best = max(scored, key=lambda item: item[0])  # max keeps the first of equals
        out[method] = Selection(method, dict(best[1]), len(variants), sign * best[0], tuple(best[2]))
    return out


def grid(knobs: Mapping[str, Sequence]) -> list[dict]:
    """Every combination of a family's knob values, in order.

    Example:
        >>> grid({"projection": [None, "std"], "alpha": [0.0, 0.5]})[:2]
        [{'projection': None, 'alpha': 0.0}, {'projection': None, 'alpha': 0.5}]
    """
    names = list(knobs)
    return [dict(zip(names, values)) for values in itertools.product(*(knobs[n] for n in names))]

"""What chapter 12 states about the sorting runs: ``FINDINGS`` per scale and
``findings(runs)``, each claim computed from recorded runs.

:mod:`discgrad.experiments.sorting` makes the runs and ``results/<scale>/sorting.json`` holds
them; the chapter asserts ``findings(runs) == FINDINGS[scale]``, and
``tests/test_committed_results.py`` checks it on the committed cpu file.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

from discgrad.experiments.sorting import METHODS
from discgrad.experiments.summary import compare, summarize

#: What chapter 12 states about the runs: ``findings(runs)`` must equal this at that
#: scale (the chapter asserts it; tests/test_committed_results.py checks results/cpu/sorting.json).
#: No gpu run has been recorded, and no claim here holds by construction at the gpu config
#: (every one is about how training went), so at gpu scale the chapter asserts the recorded
#: cpu claims only, on the committed cpu file. ``FINDINGS["gpu"]`` holds the cpu claims the
#: chapter states at every scale (the bridge imitates the signum and keeps its inputs small,
#: the smooth network beats the hard ones); the chapter checks them on the committed cpu file
#: at every scale, gpu included. A recorded gpu run will replace them with what it shows.
FINDINGS: dict[str, dict[str, bool]] = {
    "cpu": {"dab_better_than_straight_through": False, "dab_better_than_identity": False,
            "dab_on_par_with_straight_through": True, "dab_on_par_with_identity": True,
            "dab_least_saturated": True, "dab_on_par_with_ceiling": False, "ceiling_better_than_hard": True,
            "dab_gain_77pct": False, "bridge_learns": True, "all_learn": True},
    "gpu": {"bridge_learns": True, "dab_least_saturated": True, "ceiling_better_than_hard": True},
}


def relative_gain(a: float, b: float) -> float:
    """``(a - b) / b``: the relative improvement of accuracy ``a`` over ``b`` (0.77 is +77 %).

    Example:
        >>> relative_gain(0.6, 0.4)
        0.4999999999999999
    """
    return (a - b) / b if b > 0 else math.inf


def findings(runs: Sequence[Mapping]) -> dict[str, bool]:
    """The chapter's claims, computed from recorded runs (one results file's ``runs``).

    Comparisons use :func:`discgrad.experiments.summary.compare` on the final all-or-none
    test accuracy (mean ± std over seeds; higher is better), for every length:

    * ``dab_better_than_straight_through``, ``dab_better_than_identity``: DAB is better;
      ``dab_on_par_with_straight_through``, ``dab_on_par_with_identity``: they are on par;
      ``dab_on_par_with_ceiling``: DAB and the tanh network are on par;
      ``ceiling_better_than_hard``: the tanh network is better than each hard method;
    * ``dab_least_saturated``: the final mean share of test pre-activations with
      ``|h| > 1`` is, under DAB, below a third of that under each other hard method;
    * ``dab_gain_77pct``: DAB's mean accuracy is at least 77 % higher (relative) than
      straight-through's, the paper's headline gain;
    * ``bridge_learns``: for every DAB run the bridge's test imitation error at the last
      epoch is below half that after the first epoch, and its sign error is below 5 %;
    * ``all_learn``: every method's mean all-or-none accuracy is 10 times chance (1 / L!).
    """
    s = summarize(runs, ("test_accuracy", "test_saturated"), variant_keys=("length",))
    lengths = sorted({key[1] for key in s})
    missing = [(m, n) for m in METHODS for n in lengths if (m, n) not in s]
    if missing or not lengths:
        raise ValueError(f"the runs lack the (method, length) pairs {missing or 'all'}")

    def acc(m, n):
        return s[(m, n)]["test_accuracy"]

    hard = [m for m in METHODS if METHODS[m]["estimator"] != "none"]
    dab_runs = [r for r in runs if r["method"] == "dab"]
    return {
        "dab_better_than_straight_through": all(
            compare(acc("dab", n), acc("straight_through", n), lower_is_better=False) == "better" for n in lengths),
        "dab_better_than_identity": all(
            compare(acc("dab", n), acc("identity", n), lower_is_better=False) == "better" for n in lengths),
        "dab_on_par_with_straight_through": all(
            compare(acc("dab", n), acc("straight_through", n), lower_is_better=False) == "on par" for n in lengths),
        "dab_on_par_with_identity": all(
            compare(acc("dab", n), acc("identity", n), lower_is_better=False) == "on par" for n in lengths),
        "dab_least_saturated": all(s[("dab", n)]["test_saturated"][0] < s[(m, n)]["test_saturated"][0] / 3
                                   for m in hard if m != "dab" for n in lengths),
        "dab_on_par_with_ceiling": all(
            compare(acc("dab", n), acc("tanh", n), lower_is_better=False) == "on par" for n in lengths),
        "ceiling_better_than_hard": all(
            compare(acc("tanh", n), acc(m, n), lower_is_better=False) == "better" for m in hard for n in lengths),
        "dab_gain_77pct": all(relative_gain(acc("dab", n)[0], acc("straight_through", n)[0]) >= 0.77
                              for n in lengths),
        "bridge_learns": all(r["history"]["test_bridge_error"][-1] < 0.5 * r["history"]["test_bridge_error"][0]
                             and r["metrics"]["test_bridge_sign_error"] < 0.05 for r in dab_runs),
        "all_learn": all(acc(m, n)[0] > 10 / math.factorial(n) for m in METHODS for n in lengths),
    }

"""What chapter 12 states about the sorting runs: ``FINDINGS`` per scale and ``findings(runs)``,
each claim computed from recorded runs under the comparison protocol (design section 11).

Every method's variant is chosen on the validation all-or-none accuracy
(:func:`~discgrad.experiments.summary.select_variants`); two methods are compared on the
chosen variants' test accuracy, paired by seed, with the 95% paired t interval
(:func:`discgrad.findings.protocol.verdict`): "better" or "worse" when it excludes 0, "on
par" otherwise. :mod:`discgrad.experiments.sorting` makes the runs and
``results/<scale>/sorting.json`` holds them; the chapter asserts ``findings(runs) ==
FINDINGS[scale]``, and ``tests/test_committed_results.py`` checks the committed cpu file.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

from discgrad.experiments.sorting import METHODS
from discgrad.experiments.summary import mean_curves

from . import protocol

#: What chapter 12 states about the runs at each scale (the chapter asserts it, and
#: tests/test_committed_results.py checks results/cpu/sorting.json). No gpu run has been
#: recorded and no claim holds by construction at the gpu config (each is about how training
#: went), so ``FINDINGS["gpu"]`` holds cpu claims the chapter states at every scale, checked
#: on the committed cpu file; a recorded gpu run will replace them with what it shows.
FINDINGS: dict[str, dict] = {
    "cpu": {"chosen": {"dab": {"bridge": "elementwise", "width": 32},
                       "straight_through": {},
                       "identity": {"projection": "norm"},
                       "tanh": {},
                       "dab_bounded": {"bridge": "elementwise", "width": 128},
                       "straight_through_bounded": {}},
            "n_variants": {"dab": 4, "straight_through": 1, "identity": 2, "tanh": 1, "dab_bounded": 4,
                           "straight_through_bounded": 1},
            "at_grid_edge": ["dab", "dab_bounded"],
            "still_rising": [],
            "trained_beats_untrained": ["dab", "dab_bounded", "identity", "straight_through",
                                        "straight_through_bounded", "tanh"],
            "dab_vs_straight_through": "better",
            "dab_vs_identity": "better",
            "straight_through_vs_identity": "better",
            "tanh_vs_dab": "worse",
            "bounded_dab_vs_straight_through": "on par",
            "tanh_vs_bounded_dab": "better",
            "elementwise_vs_dense": "better",
            "bounded_elementwise_vs_dense": "better",
            "gain_over_straight_through": {"dab": 0.13, "dab_bounded": 0.01},
            "gain_77pct": {"dab": False, "dab_bounded": False},
            "bridge_learns": True,
            "cosine_st": {"dab/dense": 0.55, "dab/elementwise": 0.79, "dab_bounded/dense": 0.95,
                          "dab_bounded/elementwise": 0.42, "identity": 0.94},
            "means": {"dab": 0.95, "straight_through": 0.839, "identity": 0.804, "tanh": 0.922,
                      "dab_bounded": 0.895, "straight_through_bounded": 0.888, "untrained": 0.0}},
    "gpu": {"bridge_learns": True, "gain_77pct": {"dab": False, "dab_bounded": False}},
}

#: The paired comparisons, as (first, second) method pairs: DAB against the other ways
#: through the hard layer, and the smooth network against DAB, per network (the bounded
#: network without its hard layer is the plain smooth network, layer for layer).
PAIRS = {"dab_vs_straight_through": ("dab", "straight_through"),
         "dab_vs_identity": ("dab", "identity"),
         "straight_through_vs_identity": ("straight_through", "identity"),
         "tanh_vs_dab": ("tanh", "dab"),
         "bounded_dab_vs_straight_through": ("dab_bounded", "straight_through_bounded"),
         "tanh_vs_bounded_dab": ("tanh", "dab_bounded")}
#: The DAB methods, each with its own straight-through (the book's reading of the +77 %'s baseline).
DAB_VS_BASELINE = {"dab": "straight_through", "dab_bounded": "straight_through_bounded"}
#: The paper's headline gain in sequence sorting (abstract), relative.
PAPER_GAIN = 0.77


def relative_gain(a: float, b: float) -> float:
    """``(a - b) / b``: the relative improvement of accuracy ``a`` over ``b`` (0.77 is +77 %).

    Example:
        >>> relative_gain(0.6, 0.4)
        0.4999999999999999
    """
    return (a - b) / b if b > 0 else math.inf


#: Variants chosen on the validation metric, methods compared on the test metric
#: (:class:`~discgrad.findings.protocol.MetricRule`).
RULE = protocol.MetricRule("accuracy", higher_is_better=True)
selections = RULE.selections
verdict = RULE.verdict


#: The runs of one method with the given knob values.
variant_runs = protocol.variant_runs


def kind_selection(runs: Sequence[Mapping], method: str, bridge: str) -> list[Mapping]:
    """The runs of ``method``'s best width for one bridge kind, chosen on validation."""
    widths = METHODS[method].grid["width"]
    best = max(widths, key=lambda w: protocol.mean(variant_runs(runs, method, bridge=bridge, width=w),
                                                     "val_accuracy"))
    return variant_runs(runs, method, bridge=bridge, width=best)


def final_mean(runs: Sequence[Mapping], name: str) -> float:
    """The mean over ``runs`` of the last epoch's ``history[name]``."""
    return next(iter(mean_curves(runs, name).values()))[-1]


def findings(runs: Sequence[Mapping]) -> dict:
    """The chapter's claims, computed from one results file's runs:

    * ``chosen``: the variant each method's validation accuracy chose; ``n_variants``: how
      many it had; ``at_grid_edge``: the methods whose chosen numeric knob is an end of its
      grid (DAB's widths are two, so any choice is at an edge); ``still_rising``: the methods
      whose chosen variant's mean validation curve has not flattened by the end of the budget
      (:func:`discgrad.findings.protocol.flattened`);
    * ``trained_beats_untrained``: the methods whose chosen variant's test accuracy beats the
      untrained network's, paired by seed;
    * the comparisons of :data:`PAIRS`: the paired verdict of the first method's chosen variant
      against the second's;
    * ``elementwise_vs_dense`` (and ``bounded_elementwise_vs_dense``): DAB with the
      element-wise bridge against the dense one, each kind at its width chosen on validation;
    * ``gain_over_straight_through``: DAB's relative gain in mean test accuracy over
      straight-through, per network, rounded to 2 decimals; ``gain_77pct``: whether it
      reaches the paper's +77 % in each network;
    * ``bridge_learns``: for each DAB method's chosen variant, the mean validation imitation
      error after the last epoch is below half that after the first;
    * ``cosine_st``: the mean cosine, after the last epoch, between the gradient of each DAB
      bridge kind (its chosen width) and of Identity (chosen variant) and straight-through's,
      on the fixed validation batch, rounded to 2 decimals;
    * ``means``: each method's chosen variant's mean test accuracy, and the untrained
      network's (``untrained``), rounded to 3 decimals.

    Raises:
        ValueError: a method has no run, or a run was not recorded under the protocol.
    """
    sel = selections(runs)
    out: dict = {**protocol.chosen_summary(sel, METHODS, "accuracy", True),
                 "at_grid_edge": sorted(m for m, s in sel.items() if protocol.at_grid_edge(METHODS[m], s.variant)),
                 "still_rising": sorted(m for m, s in sel.items() if protocol.still_moving(s.runs, "accuracy"))}
    for name, (a, b) in PAIRS.items():
        out[name] = verdict(sel[a].runs, sel[b].runs)
    for prefix, method in (("", "dab"), ("bounded_", "dab_bounded")):
        out[prefix + "elementwise_vs_dense"] = verdict(kind_selection(runs, method, "elementwise"),
                                                       kind_selection(runs, method, "dense"))
    gains = {m: relative_gain(protocol.mean(sel[m].runs, "test_accuracy"), protocol.mean(sel[b].runs, "test_accuracy"))
             for m, b in DAB_VS_BASELINE.items()}
    out["gain_over_straight_through"] = {m: round(g, 2) for m, g in gains.items()}
    out["gain_77pct"] = {m: g >= PAPER_GAIN for m, g in gains.items()}
    out["bridge_learns"] = all(
        next(iter(mean_curves(sel[m].runs, "val_bridge_error").values()))[-1]
        < 0.5 * next(iter(mean_curves(sel[m].runs, "val_bridge_error").values()))[0] for m in DAB_VS_BASELINE)
    cos = {}
    for m in DAB_VS_BASELINE:
        for kind in METHODS[m].grid["bridge"]:
            cos[f"{m}/{kind}"] = round(final_mean(kind_selection(runs, m, kind), "val_cosine_st"), 2)
    cos["identity"] = round(final_mean(sel["identity"].runs, "val_cosine_st"), 2)
    out["cosine_st"] = cos
    out["means"] = {m: round(protocol.mean(s.runs, "test_accuracy"), 3) for m, s in sel.items()}
    out["means"]["untrained"] = round(protocol.mean(runs, "untrained_test_accuracy"), 3)
    return out

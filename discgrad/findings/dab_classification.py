"""What chapter 13 states about the dab_classification runs: ``FINDINGS`` per scale and
``findings(runs)``, each claim computed from recorded runs under the comparison protocol
(design section 11).

Every method's variant is chosen on the validation accuracy
(:func:`~discgrad.experiments.summary.select_variants`); two methods are compared on the
chosen variants' test accuracy, paired by seed, with the 95% paired t interval
(:func:`discgrad.findings.protocol.verdict`): "better" or "worse" when it excludes 0, "on
par" otherwise. :mod:`discgrad.experiments.dab_classification` makes the runs and
``results/<scale>/dab_classification.json`` holds them; the chapter asserts
``findings(runs) == FINDINGS[scale]``, and ``tests/test_committed_results.py`` checks the
committed cpu file.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from discgrad.experiments.dab_classification import METHODS
from discgrad.experiments.summary import by_seed, mean_curves, paired_difference

from . import protocol

METRIC = "accuracy"
#: The paper's headline: DAB's accuracy 25 % above straight-through's (Ramapuram and Webb
#: 2019, abstract), as a ratio.
PAPER_GAIN = 1.25

#: What chapter 13 states about the runs at each scale (the chapter asserts it, and
#: tests/test_committed_results.py checks results/cpu/dab_classification.json). No gpu run
#: has been recorded; ``FINDINGS["gpu"]`` holds the claims the chapter states at every scale
#: (checked on the committed cpu file) and the grids' sizes, which hold by construction.
FINDINGS: dict[str, dict] = {
    "cpu": {"chosen": {"dab": {"bridge": "standardised", "width": 128}, "straight_through": {"tau": 30.0},
                       "identity": {"projection": "std"}, "tanh": {}},
            "n_variants": {"dab": 4, "straight_through": 3, "identity": 3, "tanh": 1},
            "at_grid_edge": ["dab", "straight_through"],
            "still_rising": [],
            "trained_beats_untrained": ["dab", "identity", "straight_through", "tanh"],
            "dab_vs_straight_through": "better",
            "dab_vs_identity": "on par",
            "straight_through_vs_identity": "worse",
            "tanh_vs_dab": "on par",
            "tanh_vs_straight_through": "better",
            "tanh_vs_identity": "better",
            "headroom": True,
            "gain_testable": False,
            "gain_vs_paper": "worse",
            "paper_claim": "not testable at this scale",
            "dab_gain_pct": 9,
            "projection_vs_none": {"mean": "on par", "std": "better"},
            "bridge_topk_match": {"dense": 0.77, "standardised": 1.0},
            "bridge_error": {"dense": 0.43, "standardised": 0.31},
            "grad_cosine_st": {"dense": 0.09, "standardised": 0.59},
            "standardised_vs_dense": {16: "better", 128: "better"},
            "means": {"dab": 0.864, "straight_through": 0.796, "identity": 0.855, "tanh": 0.913,
                      "untrained": 0.103}},
    "gpu": {"n_variants": {"dab": 4, "straight_through": 3, "identity": 3, "tanh": 1}},
}

#: Paired comparisons of chosen variants: ``{name: (first method, second method)}``.
PAIRS = {"dab_vs_straight_through": ("dab", "straight_through"), "dab_vs_identity": ("dab", "identity"),
         "straight_through_vs_identity": ("straight_through", "identity"),
         "tanh_vs_dab": ("tanh", "dab"), "tanh_vs_straight_through": ("tanh", "straight_through"),
         "tanh_vs_identity": ("tanh", "identity")}


#: Variants chosen on the validation metric, methods compared on the test metric
#: (:class:`~discgrad.findings.protocol.MetricRule`).
RULE = protocol.MetricRule(METRIC, higher_is_better=True)
selections = RULE.selections
verdict = RULE.verdict


#: The runs of one method with the given knob values.
variant_runs = protocol.variant_runs


def gain_verdict(dab: Sequence[Mapping], st: Sequence[Mapping], gain: float = PAPER_GAIN) -> str:
    """DAB's test accuracy against ``gain`` times straight-through's, paired by seed:
    "better" when the 95% interval of ``dab - gain * st`` lies above 0 (the paper's gain
    held), "worse" when below, "on par" otherwise.

    Example:
        >>> runs = lambda m, v: [{"method": m, "seed": s, "metrics": {"test_accuracy": v + s / 100}}
        ...                      for s in range(3)]
        >>> gain_verdict(runs("dab", 0.9), runs("st", 0.5)), gain_verdict(runs("dab", 0.9), runs("st", 0.8))
        ('better', 'worse')
    """
    st_ = {s: gain * v for s, v in by_seed(st, f"test_{METRIC}").items()}
    return paired_difference(by_seed(dab, f"test_{METRIC}"), st_, higher_is_better=True).verdict


def gain_claim(ceiling: float, st: float, gain_verdict_: str, rising: bool) -> str:
    """The paper's +25 % claim read from the runs: ``"not testable at this scale"`` when the
    ceiling's mean accuracy is below ``PAPER_GAIN`` times straight-through's (no network
    through the layer could show the gain), else ``"held"`` (:func:`gain_verdict` better),
    ``"not testable at this budget"`` (not held while a chosen curve of DAB or
    straight-through still rises), or ``"not held"``.

    Example:
        >>> gain_claim(0.9, 0.8, "worse", False), gain_claim(0.9, 0.5, "worse", True)
        ('not testable at this scale', 'not testable at this budget')
    """
    if ceiling < PAPER_GAIN * st:
        return "not testable at this scale"
    if gain_verdict_ == "better":
        return "held"
    return "not testable at this budget" if rising else "not held"


def _final(runs: Sequence[Mapping], name: str) -> float:
    """The mean over ``runs`` of the last epoch's ``name`` in the history."""
    return sum(r["history"][name][-1] for r in runs) / len(runs)


def findings(runs: Sequence[Mapping]) -> dict:
    """The chapter's claims, computed from one results file's runs:

    * ``chosen``: the variant each method's validation accuracy chose; ``n_variants``: how
      many it had; ``at_grid_edge``: the methods whose chosen numeric knob is an end of its
      grid; ``still_rising``: the methods whose chosen variant's mean validation curve has
      not flattened by the end of the budget;
    * ``trained_beats_untrained``: the methods whose chosen variant's test accuracy beats the
      untrained network's, paired by seed;
    * the paired verdicts of :data:`PAIRS` (chosen variants, test accuracy);
    * ``headroom``: straight-through's chosen mean test accuracy is below the tanh
      network's by more than 0.05; ``gain_testable``: the ceiling is at least
      :data:`PAPER_GAIN` times straight-through's mean (a network through the layer could
      in principle show the paper's gain); ``gain_vs_paper``: :func:`gain_verdict` of the
      chosen DAB against the chosen straight-through; ``paper_claim``: :func:`gain_claim`;
      ``dab_gain_pct``: DAB's mean over straight-through's, minus 1, in % (rounded);
    * ``projection_vs_none``: Identity with P_mean and with P_std against no projection
      (fixed variants);
    * DAB's bridges (each kind averaged over its widths and seeds, last epoch, validation):
      ``bridge_topk_match`` (share of images with the exact top-k, rounded to 2),
      ``bridge_error`` (imitation error, rounded to 2), ``grad_cosine_st`` (cosine with
      straight-through's gradient, rounded to 2); ``standardised_vs_dense``: the paired
      verdict of the standardised bridge against the dense one at each width;
    * ``means``: each method's chosen variant's mean test accuracy and the untrained
      network's (``untrained``), rounded to 3.

    Raises:
        ValueError: a method has no run, or a run was not recorded under the protocol.
    """
    sel = selections(runs)
    out: dict = {**protocol.chosen_summary(sel, METHODS, METRIC, True),
                 "at_grid_edge": sorted(m for m, s in sel.items() if protocol.at_grid_edge(METHODS[m], s.variant)),
                 "still_rising": sorted(m for m, s in sel.items() if protocol.still_moving(s.runs, METRIC))}
    for name, (a, b) in PAIRS.items():
        out[name] = verdict(sel[a].runs, sel[b].runs)
    mean = {m: protocol.mean(s.runs, f"test_{METRIC}") for m, s in sel.items()}
    out["headroom"] = mean["tanh"] - mean["straight_through"] > 0.05
    out["gain_testable"] = mean["tanh"] >= PAPER_GAIN * mean["straight_through"]
    out["gain_vs_paper"] = gain_verdict(sel["dab"].runs, sel["straight_through"].runs)
    rising = bool({"dab", "straight_through"} & set(out["still_rising"]))
    out["paper_claim"] = gain_claim(mean["tanh"], mean["straight_through"], out["gain_vs_paper"], rising)
    out["dab_gain_pct"] = round(100 * (mean["dab"] / mean["straight_through"] - 1))
    none = variant_runs(runs, "identity", projection=None)
    out["projection_vs_none"] = {p: verdict(variant_runs(runs, "identity", projection=p), none)
                                 for p in ("mean", "std")}
    kinds = METHODS["dab"].grid["bridge"]
    by_kind = {kind: variant_runs(runs, "dab", bridge=kind) for kind in kinds}
    for name in ("bridge_topk_match", "bridge_error", "grad_cosine_st"):
        out[name] = {kind: round(_final(r, f"val_{name}"), 2) for kind, r in by_kind.items()}
    out["standardised_vs_dense"] = {
        width: verdict(variant_runs(runs, "dab", bridge="standardised", width=width),
                       variant_runs(runs, "dab", bridge="dense", width=width))
        for width in METHODS["dab"].grid["width"]}
    out["means"] = {m: round(v, 3) for m, v in mean.items()}
    out["means"]["untrained"] = round(protocol.mean(runs, f"untrained_test_{METRIC}"), 3)
    return out


def curves(runs: Sequence[Mapping], name: str) -> dict[str, list[float]]:
    """The mean validation curve of ``name`` (e.g. ``"bridge_topk_match"``) per DAB bridge
    kind, over its widths and seeds."""
    return {kind: next(iter(mean_curves(variant_runs(runs, "dab", bridge=kind), f"val_{name}").values()))
            for kind in METHODS["dab"].grid["bridge"]}

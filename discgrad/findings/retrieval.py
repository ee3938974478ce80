"""What chapter 9 states about the retrieval runs: ``FINDINGS`` per scale and
``findings(runs)``, each claim computed from recorded runs under the comparison protocol
(design section 11).

Every method's variant is chosen on the validation Recall@1
(:func:`~discgrad.experiments.summary.select_variants`); two methods are compared on the
chosen variants' test Recall@1, paired by seed, with the 95% paired t interval
(:func:`discgrad.findings.protocol.verdict`): "better" or "worse" when it excludes 0, "on
par" otherwise. :mod:`discgrad.experiments.retrieval` makes the runs and
``results/<scale>/retrieval.json`` holds them; the chapter asserts ``findings(runs) ==
FINDINGS[scale]``, and ``tests/test_committed_results.py`` checks the committed cpu file.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from discgrad.experiments.retrieval import METHODS
from discgrad.experiments.summary import by_seed, paired_difference

from . import protocol

METRIC = "recall@1"

#: What chapter 9 states about the runs at each scale (the chapter asserts it, and
#: tests/test_committed_results.py checks results/cpu/retrieval.json). At gpu scale (no run
#: recorded yet) only what follows by construction: the grids' sizes and the solver calls
#: of each family.
FINDINGS: dict[str, dict] = {
    "cpu": {"chosen": {"identity": {"projection": "std"},
                       "identity_noise": {"alpha": 0.1},
                       "blackbox": {"lam": 0.01},
                       "blackbox_std": {"lam": 0.2},
                       "dab": {"bridge": "standardised"}},
            "n_variants": {"identity": 4, "identity_noise": 3, "blackbox": 3, "blackbox_std": 3, "dab": 3},
            "at_grid_edge": ["blackbox_std", "identity_noise"],
            "still_rising": ["blackbox", "dab", "identity", "identity_noise"],
            "trained_beats_untrained": ["blackbox", "blackbox_std", "dab", "identity", "identity_noise"],
            "std_beats_untrained": True,
            "beats_pixels": ["dab", "identity", "identity_noise"],
            "projection_vs_none": {"mean": "better", "norm": "better", "std": "better"},
            "margin_vs_none": "on par",
            "noise_vs_identity": "on par",
            "identity_vs_blackbox": "better",
            "identity_vs_blackbox_std": "better",
            "blackbox_std_vs_blackbox": "better",
            "dab_vs_identity": "on par",
            "dab_vs_blackbox_std": "better",
            "collapsed": [],
            "dab_bridge": (2.79, 1.0),
            "calls_per_step": {"identity": 1.0,
                               "identity_noise": 1.0,
                               "blackbox": 2.0,
                               "blackbox_std": 2.0,
                               "dab": 1.0},
            "means": {"identity": 0.531,
                      "identity_noise": 0.52,
                      "blackbox": 0.355,
                      "blackbox_std": 0.459,
                      "dab": 0.563,
                      "untrained": 0.219,
                      "pixels": 0.447}},
    "gpu": {"n_variants": {"identity": 4, "identity_noise": 3, "blackbox": 3, "blackbox_std": 3, "dab": 3},
            "calls_per_step": {"identity": 1.0, "identity_noise": 1.0, "blackbox": 2.0, "blackbox_std": 2.0,
                               "dab": 1.0}},
}

#: The paper's comparisons (Sahoo et al. 2023, table 5), as pairs of this module's methods'
#: chosen variants: the noise margin (on P_std) against Identity's chosen projection, Identity
#: against Blackbox on the raw and on the P_std-projected scores, and Blackbox with P_std
#: against Blackbox without.
PAPER_PAIRS = {"noise_vs_identity": ("identity_noise", "identity"), "identity_vs_blackbox": ("identity", "blackbox"),
               "identity_vs_blackbox_std": ("identity", "blackbox_std"),
               "blackbox_std_vs_blackbox": ("blackbox_std", "blackbox")}
#: DAB, from outside the paper, against Identity and against the better-learning Blackbox.
OTHER_PAIRS = {"dab_vs_identity": ("dab", "identity"), "dab_vs_blackbox_std": ("dab", "blackbox_std")}


#: Variants chosen on the validation metric, methods compared on the test metric
#: (:class:`~discgrad.findings.protocol.MetricRule`).
RULE = protocol.MetricRule(METRIC, higher_is_better=True)
selections = RULE.selections
verdict = RULE.verdict


#: The runs of one method with the given knob values.
variant_runs = protocol.variant_runs


def collapses(runs: Sequence[Mapping]) -> bool:
    """Whether the trained embeddings keep the test images closer together than the untrained
    ones: the test score spread (:func:`~discgrad.experiments.retrieval.score_spread`) is lower
    after training, paired by seed."""
    return paired_difference(by_seed(runs, "test_score_spread"), by_seed(runs, "untrained_test_score_spread"),
                             higher_is_better=True).verdict == "worse"


def against(runs: Sequence[Mapping], baseline: str) -> str:
    """``runs``' test Recall@1 against a baseline recorded in the same runs, paired by seed:
    ``"untrained"`` (``untrained_test_recall@1``, the same seeds' networks before training) or
    ``"pixels"`` (``test_pixels_recall@1``, the raw pixels, one value for all seeds)."""
    names = {"untrained": f"untrained_test_{METRIC}", "pixels": f"test_pixels_{METRIC}"}
    return paired_difference(by_seed(runs, f"test_{METRIC}"), by_seed(runs, names[baseline]),
                             higher_is_better=True).verdict


def findings(runs: Sequence[Mapping]) -> dict:
    """The chapter's claims, computed from one results file's runs:

    * ``chosen``: the variant each method's validation Recall@1 chose; ``n_variants``: how
      many it had; ``at_grid_edge``: the methods whose chosen numeric knob is an end of its
      grid; ``still_rising``: the methods whose chosen variant's mean validation curve has not
      flattened by the end of the budget (their verdicts are not final);
    * ``trained_beats_untrained``: the methods whose chosen variant's test Recall@1 beats the
      untrained network's, paired by seed; ``std_beats_untrained``: the same for Identity with
      P_std (a fixed variant, not chosen); ``beats_pixels``: the methods whose chosen variant
      beats the raw pixels' test Recall@1 (paired t on the differences to that one value);
    * ``projection_vs_none``: Identity with each projection against Identity without
      projection (fixed variants, not chosen), ``{projection: verdict}`` (table 5's rows);
    * ``margin_vs_none``: the noise margin's chosen alpha against no margin, both with P_std;
    * the paper's comparisons (:data:`PAPER_PAIRS`) and DAB's (:data:`OTHER_PAIRS`): the
      paired verdict of the first method's chosen variant against the second's;
    * ``collapsed``: the methods whose chosen variant ends with a lower test score spread than
      the untrained network's (:func:`collapses`): the ranks ignore the scores' scale, and an
      estimator that lets it shrink leaves the ranks to noise;
    * ``dab_bridge``: the chosen DAB variant's mean test imitation error (relative to the best
      constant; 1 is no better) and rank correlation with the true ranks, rounded to 2;
    * ``calls_per_step``: the solver calls per step of each method (chosen variant);
    * ``means``: each method's chosen variant's mean test Recall@1, the untrained network's
      (``untrained``) and the raw pixels' (``pixels``), rounded to 3 decimals.

    Raises:
        ValueError: a method has no run, or a run was not recorded under the protocol.
    """
    sel = selections(runs)
    out: dict = {**protocol.chosen_summary(sel, METHODS, METRIC, True),
                 "at_grid_edge": sorted(m for m, s in sel.items() if protocol.at_grid_edge(METHODS[m], s.variant)),
                 "still_rising": sorted(m for m, s in sel.items() if protocol.still_moving(s.runs, METRIC)),
                 "std_beats_untrained": against(variant_runs(runs, "identity", projection="std"),
                                                "untrained") == "better",
                 "beats_pixels": sorted(m for m, s in sel.items() if against(s.runs, "pixels") == "better")}
    none = variant_runs(runs, "identity", projection=None)
    out["projection_vs_none"] = {p: verdict(variant_runs(runs, "identity", projection=p), none)
                                 for p in ("mean", "norm", "std")}
    out["margin_vs_none"] = verdict(sel["identity_noise"].runs, variant_runs(runs, "identity", projection="std"))
    for name, (a, b) in {**PAPER_PAIRS, **OTHER_PAIRS}.items():
        out[name] = verdict(sel[a].runs, sel[b].runs)
    out["collapsed"] = sorted(m for m, s in sel.items() if collapses(s.runs))
    dab = sel["dab"].runs
    out["dab_bridge"] = (round(protocol.mean(dab, "test_bridge_error"), 2), round(protocol.mean(dab, "test_bridge_spearman"), 2))
    out["calls_per_step"] = {m: round(protocol.mean(s.runs, "solver_calls_per_step"), 3) for m, s in sel.items()}
    out["means"] = {m: round(protocol.mean(s.runs, f"test_{METRIC}"), 3) for m, s in sel.items()}
    out["means"]["untrained"] = round(protocol.mean(runs, f"untrained_test_{METRIC}"), 3)
    out["means"]["pixels"] = round(protocol.mean(runs, f"test_pixels_{METRIC}"), 3)
    return out

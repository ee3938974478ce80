"""What chapter 18 states about the own_solver runs: ``FINDINGS`` per scale and
``findings(runs)``, each claim computed from recorded runs under the comparison protocol
(design section 11).

Every method's variant is chosen on the validation normalised regret (lower is better;
:func:`~discgrad.experiments.summary.select_variants`); two methods are compared on the chosen
variants' test normalised regret, paired by seed, with the 95% paired t interval
(:func:`discgrad.findings.protocol.verdict`): "better" or "worse" when it excludes 0, "on par"
otherwise. :mod:`discgrad.experiments.own_solver` makes the runs and
``results/<scale>/own_solver.json`` holds them; the chapter asserts ``findings(runs) ==
FINDINGS[scale]``, and ``tests/test_committed_results.py`` checks the committed cpu file.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from discgrad.experiments.own_solver import METHODS, PROBLEMS

from . import protocol

METRIC = "normalised_regret"

#: What chapter 18 states about the runs at each scale (the chapter asserts it, and
#: tests/test_committed_results.py checks results/cpu/own_solver.json). At gpu scale (no run
#: recorded yet) only what holds by construction: the grids' sizes and the solver calls.
FINDINGS: dict[str, dict] = {
    "cpu": {"chosen": {"path_identity": {"alpha": 1.0, "projection": None},
                        "path_blackbox": {"lam": 2.0},
                        "path_fenchel_young": {"sigma": 1.0},
                        "path_spo_plus": {},
                        "path_two_stage": {},
                        "knapsack_identity": {"alpha": 1.0, "projection": None},
                        "knapsack_blackbox": {"lam": 50.0},
                        "knapsack_fenchel_young": {"sigma": 0.1},
                        "knapsack_spo_plus": {},
                        "knapsack_two_stage": {}},
             "n_variants": {"path_identity": 6,
                            "path_blackbox": 3,
                            "path_fenchel_young": 4,
                            "path_spo_plus": 1,
                            "path_two_stage": 1,
                            "knapsack_identity": 4,
                            "knapsack_blackbox": 3,
                            "knapsack_fenchel_young": 4,
                            "knapsack_spo_plus": 1,
                            "knapsack_two_stage": 1},
             "at_grid_edge": ["knapsack_fenchel_young", "path_blackbox"],
             "still_rising": ["path_blackbox"],
             "trained_beats_untrained": ["knapsack_blackbox",
                                         "knapsack_fenchel_young",
                                         "knapsack_identity",
                                         "knapsack_spo_plus",
                                         "knapsack_two_stage",
                                         "path_blackbox",
                                         "path_fenchel_young",
                                         "path_identity",
                                         "path_spo_plus",
                                         "path_two_stage"],
             "verdicts": {"path": {"spo_plus_vs_two_stage": "better",
                                   "fenchel_young_vs_two_stage": "better",
                                   "identity_vs_two_stage": "better",
                                   "blackbox_vs_two_stage": "worse",
                                   "identity_vs_blackbox": "better",
                                   "fenchel_young_vs_spo_plus": "on par",
                                   "identity_vs_spo_plus": "on par",
                                   "margin_vs_none": "better"},
                          "knapsack": {"spo_plus_vs_two_stage": "better",
                                       "fenchel_young_vs_two_stage": "better",
                                       "identity_vs_two_stage": "better",
                                       "blackbox_vs_two_stage": "worse",
                                       "identity_vs_blackbox": "better",
                                       "fenchel_young_vs_spo_plus": "better",
                                       "identity_vs_spo_plus": "on par",
                                       "margin_vs_none": "better"}},
             "path_blackbox_largest_lam_vs_identity": "on par",
             "path_blackbox_largest_lam_same_curves": 5,
             "calls_per_step": {"path_identity": 1.0,
                                "path_blackbox": 2.0,
                                "path_fenchel_young": 10.0,
                                "path_spo_plus": 1.0,
                                "path_two_stage": 0.0,
                                "knapsack_identity": 1.0,
                                "knapsack_blackbox": 2.0,
                                "knapsack_fenchel_young": 10.0,
                                "knapsack_spo_plus": 1.0,
                                "knapsack_two_stage": 0.0},
             "means": {"path_identity": 0.077,
                       "path_blackbox": 0.131,
                       "path_fenchel_young": 0.075,
                       "path_spo_plus": 0.077,
                       "path_two_stage": 0.093,
                       "knapsack_identity": 0.058,
                       "knapsack_blackbox": 0.109,
                       "knapsack_fenchel_young": 0.056,
                       "knapsack_spo_plus": 0.058,
                       "knapsack_two_stage": 0.064,
                       "path_untrained": 0.581,
                       "knapsack_untrained": 0.468}},
    "gpu": {"n_variants": {m: len(spec.variants()) for m, spec in METHODS.items()},
            "calls_per_step": {m: {"identity": 1.0, "blackbox": 2.0, "fenchel_young": 10.0, "spo_plus": 1.0,
                                   "two_stage": 0.0}[spec.family] for m, spec in METHODS.items()}},
}

#: The comparisons the chapter makes within each problem, as pairs of method suffixes (the
#: first against the second): every method against the two-stage baseline, and the
#: estimators against SPO+.
PAIRS = {"spo_plus_vs_two_stage": ("spo_plus", "two_stage"),
         "fenchel_young_vs_two_stage": ("fenchel_young", "two_stage"),
         "identity_vs_two_stage": ("identity", "two_stage"),
         "blackbox_vs_two_stage": ("blackbox", "two_stage"),
         "identity_vs_blackbox": ("identity", "blackbox"),
         "fenchel_young_vs_spo_plus": ("fenchel_young", "spo_plus"),
         "identity_vs_spo_plus": ("identity", "spo_plus")}


#: Variants chosen on the validation metric, methods compared on the test metric
#: (:class:`~discgrad.findings.protocol.MetricRule`).
RULE = protocol.MetricRule(METRIC, higher_is_better=False)
selections = RULE.selections
verdict = RULE.verdict


#: The runs of one method with the given knob values.
variant_runs = protocol.variant_runs


def _same_curves(a: Sequence[Mapping], b: Sequence[Mapping]) -> int:
    """The number of seeds whose validation curve is the same in ``a`` and in ``b``."""
    curves = [{r["seed"]: r["history"][f"val_{METRIC}"] for r in runs} for runs in (a, b)]
    return sum(curves[1].get(seed) == curve for seed, curve in curves[0].items())


def findings(runs: Sequence[Mapping]) -> dict:
    """The chapter's claims, computed from one results file's runs:

    * ``chosen``: the variant each method's validation regret chose; ``n_variants``: how many
      it had; ``at_grid_edge``: the methods whose chosen numeric knob is an end of its grid
      (Identity's margin, whose grid is only 0 and 1, is left out);
      ``still_rising``: the methods whose chosen variant's mean validation curve has not
      flattened by the end of the budget (their verdicts are not final);
    * ``trained_beats_untrained``: the methods whose chosen variant's test regret is below
      the untrained model's, paired by seed;
    * ``verdicts``: per problem, the paired verdict of each pair of :data:`PAIRS` (chosen
      variants), and ``margin_vs_none``: Identity with P_norm and the noise margin
      ``alpha = 1`` against P_norm without it (two fixed variants);
    * ``path_blackbox_largest_lam_vs_identity``: on the path, Blackbox at its grid's largest
      lambda against Identity without projection or margin (fixed variants), and
      ``path_blackbox_largest_lam_same_curves``: the number of seeds on which the two have the
      same validation curve;
    * ``calls_per_step``: the solver calls per training step of each method (chosen variant);
    * ``means``: each method's chosen variant's mean test normalised regret, and each
      problem's untrained model's (``<problem>_untrained``), rounded to 3 decimals.

    Raises:
        ValueError: a method has no run, or a run was not recorded under the protocol.
    """
    sel = selections(runs)
    out: dict = {**protocol.chosen_summary(sel, METHODS, METRIC, False),
                 "at_grid_edge": sorted(m for m in METHODS if protocol.at_grid_edge(METHODS[m], sel[m].variant)
                                        and "alpha" not in METHODS[m].grid),
                 "still_rising": sorted(m for m in METHODS if protocol.still_moving(sel[m].runs, METRIC))}
    out["verdicts"] = {}
    for problem in PROBLEMS:
        mine = {name: verdict(sel[f"{problem}_{a}"].runs, sel[f"{problem}_{b}"].runs) for name, (a, b) in PAIRS.items()}
        mine["margin_vs_none"] = verdict(variant_runs(runs, f"{problem}_identity", projection="norm", alpha=1.0),
                                         variant_runs(runs, f"{problem}_identity", projection="norm", alpha=0.0))
        out["verdicts"][problem] = mine
    # on the path, Blackbox at its largest lambda shifts every wrong edge by ten spreads: where
    # the shifted path is the true one, its update is Identity's scaled by d / lambda, which Adam
    # ignores, so it trains as Identity without projection or margin does
    largest = variant_runs(runs, "path_blackbox", lam=max(METHODS["path_blackbox"].grid["lam"]))
    plain = variant_runs(runs, "path_identity", projection=None, alpha=0.0)
    out["path_blackbox_largest_lam_vs_identity"] = verdict(largest, plain)
    out["path_blackbox_largest_lam_same_curves"] = _same_curves(largest, plain)
    out["calls_per_step"] = {m: round(protocol.mean(sel[m].runs, "solver_calls_per_step"), 3) for m in METHODS}
    out["means"] = {m: round(protocol.mean(sel[m].runs, f"test_{METRIC}"), 3) for m in METHODS}
    for problem in PROBLEMS:
        mine = [r for r in runs if r["settings"]["problem"] == problem]
        out["means"][f"{problem}_untrained"] = round(protocol.mean(mine, f"untrained_test_{METRIC}"), 3)
    return out

"""What chapter 8 states about the graph_matching runs: ``FINDINGS`` per scale and
``findings(runs)``, each claim computed from recorded runs under the comparison protocol
(design section 11).

Every method's variant is chosen on the validation accuracy
(:func:`~discgrad.experiments.summary.select_variants`); two methods are compared on the
chosen variants' test accuracy, paired by seed, with the 95% paired t interval
(:func:`discgrad.findings.protocol.verdict`): "better" or "worse" when it excludes 0, "on
par" otherwise. :mod:`discgrad.experiments.graph_matching` makes the runs and
``results/<scale>/graph_matching.json`` holds them; the chapter asserts ``findings(runs) ==
FINDINGS[scale]``, and ``tests/test_committed_results.py`` checks the committed cpu file.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from discgrad.experiments.graph_matching import METHODS
from discgrad.experiments.summary import mean_curves

from . import protocol

#: What chapter 8 states about the runs at each scale (the chapter asserts it, and
#: tests/test_committed_results.py checks results/cpu/graph_matching.json). At gpu scale
#: (no run recorded yet) only what follows from the linear loss.
FINDINGS: dict[str, dict] = {
    "cpu": {"chosen": {"identity": {"projection": "std"},
                           "identity_noise": {"alpha": 3.0},
                           "identity_informed": {"alpha": 1.0},
                           "blackbox": {"lam": 0.16},
                           "fenchel_young": {"sigma": 0.3},
                           "dab": {"bridge": "groupwise", "width": 32},
                           "identity_linear": {"projection": "std"},
                           "identity_noise_linear": {"alpha": 0.1}},
                "n_variants": {"identity": 3,
                               "identity_noise": 5,
                               "identity_informed": 4,
                               "blackbox": 5,
                               "fenchel_young": 3,
                               "dab": 6,
                               "identity_linear": 3,
                               "identity_noise_linear": 4},
                "at_grid_edge": ["blackbox"],
                "still_rising": [],
                "trained_beats_untrained": ["blackbox",
                                            "dab",
                                            "fenchel_young",
                                            "identity",
                                            "identity_informed",
                                            "identity_linear",
                                            "identity_noise",
                                            "identity_noise_linear"],
                "noise_vs_none": "better",
                "informed_vs_none": "better",
                "noise_vs_informed": "better",
                "identity_vs_blackbox": "on par",
                "noise_vs_blackbox": "better",
                "fenchel_young_vs_noise": "worse",
                "dab_vs_noise": "on par",
                "dab_vs_blackbox": "on par",
                "linear_vs_absolute": "better",
                "noise_linear_vs_absolute": "on par",
                "norm_vs_none": "better",
                "collapsed": [("identity", {"projection": None}),
                              ("blackbox", {"lam": 0.8}),
                              ("blackbox", {"lam": 4.0}),
                              ("blackbox", {"lam": 20.0}),
                              ("blackbox", {"lam": 80.0})],
                "linear_margin_size_irrelevant": True,
                "dab_groupwise_vs_dense": "better",
                "dab_bridge_error": 0.84,
                "calls_per_step": {"identity": 1.0,
                                   "identity_noise": 1.0,
                                   "identity_informed": 1.0,
                                   "blackbox": 2.0,
                                   "fenchel_young": 10.0,
                                   "dab": 1.0,
                                   "identity_linear": 1.0,
                                   "identity_noise_linear": 1.0},
                "means": {"identity": 0.919,
                          "identity_noise": 0.961,
                          "identity_informed": 0.957,
                          "blackbox": 0.917,
                          "fenchel_young": 0.954,
                          "dab": 0.79,
                          "identity_linear": 0.959,
                          "identity_noise_linear": 0.96,
                          "untrained": 0.283}},
    "gpu": {"linear_margin_size_irrelevant": True},
}

#: The paper's comparisons (Sahoo et al. 2023, table 4), as pairs of this module's methods.
PAPER_PAIRS = {"noise_vs_none": ("identity_noise", "identity"), "informed_vs_none": ("identity_informed", "identity"),
               "noise_vs_informed": ("identity_noise", "identity_informed"),
               "identity_vs_blackbox": ("identity", "blackbox"), "noise_vs_blackbox": ("identity_noise", "blackbox")}
#: Two methods from outside the paper, each against Identity with the noise margin.
OTHER_PAIRS = {"fenchel_young_vs_noise": ("fenchel_young", "identity_noise"), "dab_vs_noise": ("dab", "identity_noise"),
               "dab_vs_blackbox": ("dab", "blackbox")}
#: The original code's linear loss against the main one, method by method.
LOSS_PAIRS = {"linear_vs_absolute": ("identity_linear", "identity"),
              "noise_linear_vs_absolute": ("identity_noise_linear", "identity_noise")}


#: Variants chosen on the validation metric, methods compared on the test metric
#: (:class:`~discgrad.findings.protocol.MetricRule`).
RULE = protocol.MetricRule("accuracy", higher_is_better=True)
selections = RULE.selections
verdict = RULE.verdict


#: The runs of one method with the given knob values.
variant_runs = protocol.variant_runs


def collapsed(runs: Sequence[Mapping], drop: float = 0.2) -> bool:
    """Whether the mean validation accuracy of ``runs`` peaked and then fell by more than ``drop``."""
    curve = next(iter(mean_curves(runs, "val_accuracy").values()))
    return max(curve) - curve[-1] > drop


def _same_curves(groups: Sequence[Sequence[Mapping]]) -> bool:
    """Whether every seed's validation curve is identical across the groups of runs."""
    curves = [{r["seed"]: r["history"]["val_accuracy"] for r in g} for g in groups]
    return all(c == curves[0] for c in curves[1:])


def findings(runs: Sequence[Mapping]) -> dict:
    """The chapter's claims, computed from one results file's runs:

    * ``chosen``: the variant each method's validation accuracy chose; ``n_variants``: how
      many it had; ``at_grid_edge``: the methods whose chosen numeric knob is an end of
      its grid (unless every variant tied on validation, as the linear loss's margins do); ``still_rising``: the methods whose chosen variant's mean validation
      curve has not flattened by the end of the budget (their verdicts are not final);
    * ``trained_beats_untrained``: the methods whose chosen variant's test accuracy beats
      the untrained network's, paired by seed;
    * the paper's comparisons (:data:`PAPER_PAIRS`), those of the two methods from outside
      it (:data:`OTHER_PAIRS`) and of the two losses (:data:`LOSS_PAIRS`): the paired
      verdict of the first method's chosen variant against the second's;
    * ``norm_vs_none``: Identity with P_norm against Identity without projection (two fixed
      variants, not chosen); ``collapsed``: the (method, variant) runs whose mean
      validation accuracy rose and then fell by more than 0.2 (cost collapse), among
      Identity without projection and every Blackbox variant;
    * ``linear_margin_size_irrelevant``: with the linear loss, every seed's validation
      curve is identical for every noise margin alpha (Identity's gradient ignores the
      solution, which is all a margin changes);
    * ``dab_groupwise_vs_dense``: DAB with the row-shared bridge against the dense one, both
      of width 32 (fixed variants); ``dab_bridge_error``: the chosen DAB variant's mean test
      imitation error (:func:`~discgrad.bridges.imitation_error`), rounded to 2 decimals;
    * ``calls_per_step``: the solver calls per step of each method (chosen variant);
    * ``means``: each method's chosen variant's mean test accuracy, and the untrained
      network's (``untrained``), rounded to 3 decimals.

    Raises:
        ValueError: a method has no run, or a run was not recorded under the protocol.
    """
    sel = selections(runs)
    out: dict = {**protocol.chosen_summary(sel, METHODS, "accuracy", True),
                 "at_grid_edge": sorted(m for m, s in sel.items() if protocol.at_grid_edge(METHODS[m], s.variant)
                                        and not protocol.all_tied(runs, m, METHODS[m], "accuracy")),
                 "still_rising": sorted(m for m, s in sel.items() if protocol.still_moving(s.runs, "accuracy"))}
    for name, (a, b) in {**PAPER_PAIRS, **OTHER_PAIRS, **LOSS_PAIRS}.items():
        out[name] = verdict(sel[a].runs, sel[b].runs)
    out["norm_vs_none"] = verdict(variant_runs(runs, "identity", projection="norm"),
                                  variant_runs(runs, "identity", projection=None))
    candidates = [("identity", {"projection": None})] + [("blackbox", v) for v in METHODS["blackbox"].variants()]
    out["collapsed"] = [(m, v) for m, v in candidates if collapsed(variant_runs(runs, m, **v))]
    out["linear_margin_size_irrelevant"] = _same_curves(
        [variant_runs(runs, "identity_noise_linear", **v) for v in METHODS["identity_noise_linear"].variants()])
    out["dab_groupwise_vs_dense"] = verdict(variant_runs(runs, "dab", bridge="groupwise", width=32),
                                            variant_runs(runs, "dab", bridge="dense", width=32))
    out["dab_bridge_error"] = round(protocol.mean(sel["dab"].runs, "test_bridge_error"), 2)
    out["calls_per_step"] = {m: round(protocol.mean(s.runs, "solver_calls_per_step"), 3) for m, s in sel.items()}
    out["means"] = {m: round(protocol.mean(s.runs, "test_accuracy"), 3) for m, s in sel.items()}
    out["means"]["untrained"] = round(protocol.mean(runs, "untrained_test_accuracy"), 3)
    return out

"""What chapter 11 states about the warcraft runs: ``FINDINGS`` per scale and
``findings(runs)``, each claim computed from recorded runs under the comparison protocol
(design section 11).

Every method's variant is chosen on the validation cost ratio (lower is better;
:func:`~discgrad.experiments.summary.select_variants`); two methods are compared on the
chosen variants' test cost ratio, paired by seed, with the 95% paired t interval
(:func:`discgrad.findings.protocol.verdict`): "better" or "worse" when it excludes 0, "on
par" otherwise. :mod:`discgrad.experiments.warcraft` makes the runs and
``results/<scale>/warcraft.json`` holds them; the chapter asserts ``findings(runs) ==
FINDINGS[scale]``, and ``tests/test_committed_results.py`` checks the committed cpu file.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from discgrad.experiments.summary import Selection
from discgrad.experiments.warcraft import METHODS

from . import protocol

METRIC = "cost_ratio"

#: What chapter 11 states about the runs at each scale (the chapter asserts it, and
#: tests/test_committed_results.py checks results/cpu/warcraft.json). At gpu scale (no run
#: recorded yet) only what follows by construction: the grids' sizes and the linear loss.
FINDINGS: dict[str, dict] = {
    "cpu": {"chosen": {"identity": {"projection": "norm"},
                       "identity_noise": {"alpha": 0.1},
                       "blackbox": {"lam": 1500.0},
                       "fenchel_young": {"sigma": 0.3},
                       "dab": {"bridge": "conv", "width": 32},
                       "identity_linear": {"projection": None},
                       "identity_noise_linear": {"alpha": 0.1}},
            "n_variants": {"identity": 3,
                           "identity_noise": 4,
                           "blackbox": 4,
                           "fenchel_young": 4,
                           "dab": 4,
                           "identity_linear": 3,
                           "identity_noise_linear": 3},
            "at_grid_edge": ["blackbox", "dab"],
            "still_rising": ["dab", "identity_linear"],
            "trained_beats_untrained": ["blackbox",
                                        "dab",
                                        "fenchel_young",
                                        "identity",
                                        "identity_linear",
                                        "identity_noise",
                                        "identity_noise_linear"],
            "identity_vs_blackbox": "on par",
            "noise_vs_blackbox": "better",
            "fenchel_young_vs_blackbox": "on par",
            "fenchel_young_vs_identity": "on par",
            "dab_vs_identity": "worse",
            "dab_vs_blackbox": "worse",
            "linear_vs_absolute": "worse",
            "noise_linear_vs_absolute": "worse",
            "norm_vs_none": "on par",
            "std_beats_untrained": False,
            "claims": {"identity_on_par_with_blackbox": "held",
                       "norm_does_not_matter": "held",
                       "noise_does_not_matter": "held"},
            "linear_margin_size_irrelevant": True,
            "dab_conv_vs_dense": "better",
            "dab_bridge_error": 0.69,
            "cost_scale": {"identity": 2.2,
                           "identity_noise": 1.8,
                           "blackbox": 0.4,
                           "fenchel_young": 5.6,
                           "dab": 0.6,
                           "identity_linear": 98.9,
                           "identity_noise_linear": 2.1},
            "calls_per_step": {"identity": 1.0,
                               "identity_noise": 1.0,
                               "blackbox": 2.0,
                               "fenchel_young": 10.0,
                               "dab": 1.0,
                               "identity_linear": 1.0,
                               "identity_noise_linear": 1.0},
            "means": {"identity": 108.1,
                      "identity_noise": 107.1,
                      "blackbox": 109.4,
                      "fenchel_young": 108.0,
                      "dab": 115.6,
                      "identity_linear": 117.2,
                      "identity_noise_linear": 118.6,
                      "untrained": 149.2}},
    "gpu": {"n_variants": {m: len(spec.variants()) for m, spec in METHODS.items()},
            "linear_margin_size_irrelevant": True},
}

#: The paper's comparisons (Sahoo et al. 2023, table 7), as pairs of this module's methods'
#: chosen variants.
PAPER_PAIRS = {"identity_vs_blackbox": ("identity", "blackbox"), "noise_vs_blackbox": ("identity_noise", "blackbox")}
#: Two methods from outside the paper, against Blackbox and against Identity.
OTHER_PAIRS = {"fenchel_young_vs_blackbox": ("fenchel_young", "blackbox"),
               "fenchel_young_vs_identity": ("fenchel_young", "identity"),
               "dab_vs_identity": ("dab", "identity"), "dab_vs_blackbox": ("dab", "blackbox")}
#: The original code's linear loss against the main one, method by method.
LOSS_PAIRS = {"linear_vs_absolute": ("identity_linear", "identity"),
              "noise_linear_vs_absolute": ("identity_noise_linear", "identity_noise")}

#: The claims of the paper's table 7 (its caption: "BB and Identity work similarly well.
#: Normalization P_norm or noise does not affect the performance significantly."), each an
#: "on par" between two groups of runs: ``(method, knobs)``, knobs ``None`` for the variant
#: chosen on validation. The noise margin runs with P_norm here, so it is compared with
#: Identity with P_norm.
PAPER_CLAIMS = {
    "identity_on_par_with_blackbox": (("identity", None), ("blackbox", None)),
    "norm_does_not_matter": (("identity", {"projection": "norm"}), ("identity", {"projection": None})),
    "noise_does_not_matter": (("identity_noise", None), ("identity", {"projection": "norm"})),
}


#: Variants chosen on the validation metric, methods compared on the test metric
#: (:class:`~discgrad.findings.protocol.MetricRule`).
RULE = protocol.MetricRule(METRIC, higher_is_better=False)
selections = RULE.selections
verdict = RULE.verdict


#: The runs of one method with the given knob values.
variant_runs = protocol.variant_runs


def _same_curves(groups: Sequence[Sequence[Mapping]]) -> bool:
    """Whether every seed's validation curve is identical across the groups of runs."""
    curves = [{r["seed"]: r["history"][f"val_{METRIC}"] for r in g} for g in groups]
    return all(c == curves[0] for c in curves[1:])


def claim_status(runs: Sequence[Mapping], sel: Mapping[str, Selection] | None = None) -> dict[str, str]:
    """Each of :data:`PAPER_CLAIMS`: "held" (paired verdict "on par"), "not held" (better or
    worse), or "not testable at this budget" (a group's mean validation curve has not
    flattened: the verdict could still change)."""
    sel = selections(runs) if sel is None else sel

    def group(method, knobs):
        return sel[method].runs if knobs is None else variant_runs(runs, method, **knobs)

    out = {}
    for name, (a, b) in PAPER_CLAIMS.items():
        first, second = group(*a), group(*b)
        if protocol.still_moving(first, METRIC) or protocol.still_moving(second, METRIC):
            out[name] = "not testable at this budget"
        else:
            out[name] = "held" if verdict(first, second) == "on par" else "not held"
    return out


def findings(runs: Sequence[Mapping]) -> dict:
    """The chapter's claims, computed from one results file's runs:

    * ``chosen``: the variant each method's validation cost ratio chose; ``n_variants``: how
      many it had; ``at_grid_edge``: the methods whose chosen numeric knob is an end of its
      grid (unless every variant tied on validation, as the linear loss's margins do);
      ``still_rising``: the methods whose chosen variant's mean validation curve has not
      flattened by the end of the budget (their verdicts are not final);
    * ``trained_beats_untrained``: the methods whose chosen variant's test cost ratio beats
      the untrained network's, paired by seed;
    * the paper's comparisons (:data:`PAPER_PAIRS`), those of the two methods from outside it
      (:data:`OTHER_PAIRS`) and of the two losses (:data:`LOSS_PAIRS`): the paired verdict of
      the first method's chosen variant against the second's;
    * ``norm_vs_none``: Identity with P_norm against Identity without projection (fixed
      variants); ``std_beats_untrained``: whether Identity with P_std (a fixed variant,
      whose training solves on clamped centred costs) beats the untrained network;
      ``claims``: :func:`claim_status` of the paper's table 7;
    * ``linear_margin_size_irrelevant``: with the linear loss, every seed's validation curve
      is identical for every noise margin alpha (Identity's gradient ignores the path,
      which is all a margin changes);
    * ``dab_conv_vs_dense``: DAB with the convolutional bridge against the dense one, both
      of width 32 (fixed variants); ``dab_bridge_error``: the chosen DAB variant's mean test
      imitation error (:func:`~discgrad.bridges.imitation_error`), rounded to 2 decimals;
    * ``cost_scale``: per method, the chosen variant's mean test cost RMS entry over the
      untrained network's, rounded to 1 decimal (above 1: the costs grew in training);
    * ``calls_per_step``: the solver calls per step of each method (chosen variant);
    * ``means``: each method's chosen variant's mean test cost ratio, and the untrained
      network's (``untrained``), rounded to 1 decimal.

    Raises:
        ValueError: a method has no run, or a run was not recorded under the protocol.
    """
    sel = selections(runs)
    out: dict = {**protocol.chosen_summary(sel, METHODS, METRIC, False),
                 "at_grid_edge": sorted(m for m, s in sel.items() if protocol.at_grid_edge(METHODS[m], s.variant)
                                        and not protocol.all_tied(runs, m, METHODS[m], METRIC)),
                 "still_rising": sorted(m for m, s in sel.items() if protocol.still_moving(s.runs, METRIC))}
    for name, (a, b) in {**PAPER_PAIRS, **OTHER_PAIRS, **LOSS_PAIRS}.items():
        out[name] = verdict(sel[a].runs, sel[b].runs)
    out["norm_vs_none"] = verdict(variant_runs(runs, "identity", projection="norm"),
                                  variant_runs(runs, "identity", projection=None))
    out["std_beats_untrained"] = protocol.beats_untrained(variant_runs(runs, "identity", projection="std"),
                                                          METRIC, False)
    out["claims"] = claim_status(runs, sel)
    out["linear_margin_size_irrelevant"] = _same_curves(
        [variant_runs(runs, "identity_noise_linear", **v) for v in METHODS["identity_noise_linear"].variants()])
    out["dab_conv_vs_dense"] = verdict(variant_runs(runs, "dab", bridge="conv", width=32),
                                       variant_runs(runs, "dab", bridge="dense", width=32))
    out["dab_bridge_error"] = round(protocol.mean(sel["dab"].runs, "test_bridge_error"), 2)
    out["cost_scale"] = {m: round(protocol.mean(s.runs, "test_cost_rms")
                                  / protocol.mean(s.runs, "untrained_test_cost_rms"), 1) for m, s in sel.items()}
    out["calls_per_step"] = {m: round(protocol.mean(s.runs, "solver_calls_per_step"), 3) for m, s in sel.items()}
    out["means"] = {m: round(protocol.mean(s.runs, f"test_{METRIC}"), 1) for m, s in sel.items()}
    out["means"]["untrained"] = round(protocol.mean(runs, f"untrained_test_{METRIC}"), 1)
    return out

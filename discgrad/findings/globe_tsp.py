"""What chapter 10 states about the globe_tsp runs: ``FINDINGS`` per scale and
``findings(runs)``, each claim computed from recorded runs under the comparison protocol
(design section 11).

Every clean method's variant is chosen on the validation tour accuracy
(:func:`~discgrad.experiments.summary.select_variants`); each robustness arm reports the
variant its clean method chose (:data:`~discgrad.experiments.globe_tsp.ROBUSTNESS_ARMS`).
Two methods are compared on the test accuracy, paired by seed, with the 95% paired t
interval (:func:`discgrad.findings.protocol.verdict`). :mod:`discgrad.experiments.globe_tsp`
makes the runs and ``results/<scale>/globe_tsp.json`` holds them; the chapter asserts
``findings(runs) == FINDINGS[scale]``, and ``tests/test_committed_results.py`` checks the
committed cpu file.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from discgrad.experiments.globe_tsp import METHODS, ROBUSTNESS_ARMS, chance_accuracy
from discgrad.experiments.summary import Selection, by_seed, paired_difference, select_variants

from . import protocol

#: A method's costs count as collapsed when its mean final validation cost norm
#: ``||w||_F`` is below this share of the untrained network's (fixed before any run).
COLLAPSE_SHARE = 0.5

#: The clean methods (each chooses its own variant on validation).
CLEAN = ("identity", "blackbox", "fenchel_young", "dab")

#: The comparisons of the chosen variants: ``name: (a, b)``, ``a`` against ``b``.
PAIRS = {"identity_vs_blackbox": ("identity", "blackbox"),
         "fenchel_young_vs_identity": ("fenchel_young", "identity"),
         "fenchel_young_vs_blackbox": ("fenchel_young", "blackbox"),
         "dab_vs_identity": ("dab", "identity"), "dab_vs_blackbox": ("dab", "blackbox")}

#: What chapter 10 states about the runs at each scale (the chapter asserts it, and
#: tests/test_committed_results.py checks results/cpu/globe_tsp.json). At gpu scale (no
#: run recorded yet) only what follows from the construction: the solver calls per step.
FINDINGS: dict[str, dict] = {
    "cpu": {"chosen": {"identity": {"alpha": 1.5},
                        "blackbox": {"lam": 2.5},
                        "fenchel_young": {"sigma": 0.3},
                        "dab": {"bridge": "dense", "width": 128}},
             "n_variants": {"identity": 4, "blackbox": 3, "fenchel_young": 3, "dab": 4},
             "at_grid_edge": ["blackbox", "dab"],
             "still_rising": ["blackbox_grad_noise", "dab", "identity_flip", "identity_grad_noise"],
             "trained_beats_untrained": ["blackbox",
                                         "blackbox_flip",
                                         "dab",
                                         "fenchel_young",
                                         "identity",
                                         "identity_flip",
                                         "identity_grad_noise"],
             "beats_chance": ["blackbox",
                              "blackbox_flip",
                              "dab",
                              "fenchel_young",
                              "identity",
                              "identity_flip",
                              "identity_grad_noise"],
             "margin_vs_none": "better",
             "identity_vs_blackbox": "on par",
             "fenchel_young_vs_identity": "better",
             "fenchel_young_vs_blackbox": "better",
             "dab_vs_identity": "worse",
             "dab_vs_blackbox": "worse",
             "drops": {"grad_noise": {"identity_grad_noise": 0.166, "blackbox_grad_noise": 0.342},
                       "flip": {"identity_flip": 0.08, "blackbox_flip": 0.123}},
             "drop_verdicts": {"grad_noise": "better", "flip": "on par"},
             "corrupted_at_chance": ["blackbox_grad_noise"],
             "collapsed": ["blackbox", "blackbox_flip", "blackbox_grad_noise", "dab"],
             "claims": {"margin_lifts_identity": "held",
                        "identity_on_par_with_blackbox": "held",
                        "identity_degrades_less_grad_noise": "held",
                        "identity_degrades_less_flip": "not testable",
                        "blackbox_costs_collapse_identity_not": "held"},
             "dab_bridge_error": 0.83,
             "calls_per_step": {"identity": 1.0,
                                "blackbox": 2.0,
                                "fenchel_young": 3.0,
                                "dab": 1.0,
                                "identity_grad_noise": 1.0,
                                "blackbox_grad_noise": 2.0,
                                "identity_flip": 1.0,
                                "blackbox_flip": 2.0},
             "means": {"identity": 0.498,
                       "blackbox": 0.42,
                       "fenchel_young": 0.811,
                       "dab": 0.274,
                       "identity_grad_noise": 0.216,
                       "blackbox_grad_noise": 0.078,
                       "identity_flip": 0.302,
                       "blackbox_flip": 0.297,
                       "untrained": 0.081,
                       "chance": 0.083}},
    "gpu": {"calls_per_step": {"identity": 1.0, "blackbox": 2.0, "fenchel_young": 3.0, "dab": 1.0,
                               "identity_grad_noise": 1.0, "blackbox_grad_noise": 2.0,
                               "identity_flip": 1.0, "blackbox_flip": 2.0}},
}


def selections(runs: Sequence[Mapping]) -> dict[str, Selection]:
    """Each clean method's variant chosen on the validation accuracy, and each robustness arm
    at the variant of its clean method (the rule of :data:`ROBUSTNESS_ARMS`)."""
    sel = select_variants(runs, "accuracy", higher_is_better=True, within={"corruption": "none"})
    missing = [m for m in CLEAN if m not in sel]
    if missing:
        raise ValueError(f"the runs lack the methods {missing}")
    out = {m: sel[m] for m in CLEAN}
    for arm, clean in ROBUSTNESS_ARMS.items():
        chosen = clean_choice(runs, arm)
        arm_runs = tuple(protocol.variant_runs(runs, arm, **chosen))
        if not arm_runs:
            raise ValueError(f"the runs lack {arm} at its clean method's choice {chosen}")
        out[arm] = Selection(arm, chosen, len(METHODS[arm].variants()), float("nan"), arm_runs)
    return out


def clean_choice(runs: Sequence[Mapping], arm: str) -> dict:
    """The variant of a robustness arm: among the arm's grid, the one whose *clean* runs have
    the best mean validation accuracy (Blackbox's arm: the clean method's choice; Identity's,
    whose grid is ``alpha = 0`` only: that). Variants without clean runs are skipped."""
    clean = ROBUSTNESS_ARMS[arm]
    scored = [(protocol.mean(members, "val_accuracy"), -i, variant)
              for i, variant in enumerate(METHODS[arm].variants())
              if (members := protocol.variant_runs(runs, clean, **variant))]
    if not scored:
        raise ValueError(f"the runs lack {clean} at every variant of {arm}'s grid, its clean runs")
    return max(scored, key=lambda t: t[:2])[2]  # ties: the variant listed first


def clean_runs(runs: Sequence[Mapping], arm: str) -> list[Mapping]:
    """The clean runs a robustness arm is compared with: its clean method at the arm's variant."""
    return protocol.variant_runs(runs, ROBUSTNESS_ARMS[arm], **clean_choice(runs, arm))


def verdict(a: Sequence[Mapping], b: Sequence[Mapping]) -> str:
    """``a`` against ``b`` on the test accuracy, paired by seed."""
    return protocol.verdict(a, b, "test_accuracy", higher_is_better=True)


def drop_difference(clean_a, corrupted_a, clean_b, corrupted_b):
    """The drop of ``a`` (clean minus corrupted test accuracy, per seed) minus the drop of
    ``b``, paired by seed, with the 95% paired t interval; its verdict reads "better" when
    ``a`` loses less accuracy than ``b``."""
    def drops(clean, corrupted):
        c, x = by_seed(clean, "test_accuracy"), by_seed(corrupted, "test_accuracy")
        return {s: c[s] - x[s] for s in c if s in x}
    return paired_difference(drops(clean_a, corrupted_a), drops(clean_b, corrupted_b), higher_is_better=False)


def beats_chance(runs: Sequence[Mapping]) -> bool:
    """Whether the test accuracy of ``runs`` beats a random tour's, by the 95% t interval."""
    chance = chance_accuracy(runs[0]["settings"]["k"])
    return paired_difference(by_seed(runs, "test_accuracy"), {r["seed"]: chance for r in runs},
                             higher_is_better=True).verdict == "better"


def status(held: bool, runs: Sequence[Sequence[Mapping]]) -> str:
    """A claim's status: "held"; else "not testable" when a chosen curve it rests on has
    not flattened by the end of the budget; else "not held"."""
    if held:
        return "held"
    moving = any(protocol.still_moving(r, "accuracy") for r in runs)
    return "not testable" if moving else "not held"


def findings(runs: Sequence[Mapping]) -> dict:
    """The chapter's claims, computed from one results file's runs:

    * ``chosen``, ``n_variants``: each clean method's variant chosen on the validation
      accuracy, and how many it had; ``at_grid_edge``: the clean methods whose chosen
      numeric knob is an end of its grid; ``still_rising``: every method (robustness arms
      included, at their reported variant) whose mean validation curve has not flattened
      (:func:`~discgrad.findings.protocol.flattened`);
    * ``trained_beats_untrained``, ``beats_chance``: the methods whose test accuracy beats
      the untrained network's (paired by seed) and a random tour's (``2 / (k - 1)!``);
    * ``margin_vs_none``: Identity's chosen variant against ``alpha = 0`` (table 6), and the
      verdicts of :data:`PAIRS`;
    * ``drops``: per corruption and arm, the mean test accuracy lost (clean minus corrupted,
      paired by seed), rounded to 3 decimals; ``drop_verdicts``: per corruption, Identity's
      drop against Blackbox's ("better": Identity loses less, the interval excluding 0);
      ``corrupted_at_chance``: the corrupted arms that do not beat chance (their drop is
      capped at clean minus chance);
    * ``collapsed``: the methods whose mean final validation cost norm is below
      :data:`COLLAPSE_SHARE` of the untrained network's;
    * ``claims``: the paper's claims, "held", "not held" or "not testable" (:func:`status`):
      ``margin_lifts_identity`` (table 6), ``identity_on_par_with_blackbox`` (fig. 4, clean:
      not worse), ``identity_degrades_less_grad_noise`` and ``..._flip`` (fig. 4a, 4b),
      ``blackbox_costs_collapse_identity_not`` (fig. 4c, here without the margin);
    * ``dab_bridge_error``: the chosen DAB variant's mean test imitation error
      (:func:`~discgrad.bridges.imitation_error`), rounded to 2 decimals;
      ``calls_per_step``; ``means``: each method's mean test accuracy (chosen variant),
      the untrained network's and chance, rounded to 3 decimals.

    Raises:
        ValueError: a method has no run, or a run was not recorded under the protocol.
    """
    sel = selections(runs)
    chosen = {m: sel[m].runs for m in sel}
    alpha0 = protocol.variant_runs(runs, "identity", alpha=0.0)
    out: dict = {"chosen": {m: sel[m].variant for m in CLEAN},
                 "n_variants": {m: sel[m].n_variants for m in CLEAN},
                 "at_grid_edge": sorted(m for m in CLEAN if protocol.at_grid_edge(METHODS[m], sel[m].variant)),
                 "still_rising": sorted(m for m, r in chosen.items() if protocol.still_moving(r, "accuracy")),
                 "trained_beats_untrained": sorted(m for m, r in chosen.items()
                                                   if protocol.beats_untrained(r, "accuracy", True)),
                 "beats_chance": sorted(m for m, r in chosen.items() if beats_chance(r)),
                 "margin_vs_none": verdict(chosen["identity"], alpha0)}
    for name, (a, b) in PAIRS.items():
        out[name] = verdict(chosen[a], chosen[b])
    out["drops"], out["drop_verdicts"], robust = {}, {}, {}
    for c in ("grad_noise", "flip"):
        ident, black = f"identity_{c}", f"blackbox_{c}"
        clean = {arm: clean_runs(runs, arm) for arm in (ident, black)}
        out["drops"][c] = {arm: round(protocol.difference(clean[arm], chosen[arm], "test_accuracy", True).mean, 3)
                           for arm in (ident, black)}
        d = drop_difference(clean[ident], chosen[ident], clean[black], chosen[black])
        out["drop_verdicts"][c] = d.verdict
        robust[c] = status(d.verdict == "better", [clean[ident], chosen[ident], clean[black], chosen[black]])
    out["corrupted_at_chance"] = sorted(a for a in ROBUSTNESS_ARMS if not beats_chance(chosen[a]))

    def collapsed(r):
        return protocol.mean(r, "val_cost_norm") < COLLAPSE_SHARE * protocol.mean(r, "untrained_val_cost_norm")

    out["collapsed"] = sorted(m for m, r in chosen.items() if collapsed(r))
    out["claims"] = {
        "margin_lifts_identity": status(out["margin_vs_none"] == "better", [chosen["identity"], alpha0]),
        "identity_on_par_with_blackbox": status(out["identity_vs_blackbox"] != "worse",
                                                [chosen["identity"], chosen["blackbox"]]),
        "identity_degrades_less_grad_noise": robust["grad_noise"],
        "identity_degrades_less_flip": robust["flip"],
        "blackbox_costs_collapse_identity_not": "held" if ("blackbox" in out["collapsed"]
                                                           and "identity" not in out["collapsed"]) else "not held",
    }
    out["dab_bridge_error"] = round(protocol.mean(chosen["dab"], "test_bridge_error"), 2)
    out["calls_per_step"] = {m: round(protocol.mean(r, "solver_calls_per_step"), 3) for m, r in chosen.items()}
    out["means"] = {m: round(protocol.mean(r, "test_accuracy"), 3) for m, r in chosen.items()}
    out["means"]["untrained"] = round(protocol.mean(runs, "untrained_test_accuracy"), 3)
    out["means"]["chance"] = round(chance_accuracy(runs[0]["settings"]["k"]), 3)
    return out

"""What chapter 15 states about the dab_vae runs: ``FINDINGS`` per scale and
``findings(runs)``, each claim computed from recorded runs under the comparison protocol
(design section 11).

Every method's variant is chosen on the validation N-ELBO
(:func:`~discgrad.experiments.summary.select_variants`); two methods are compared on the
chosen variants' test N-ELBO, paired by seed, with the 95% paired t interval
(:func:`discgrad.findings.protocol.verdict`): "better" or "worse" when it excludes 0, "on
par" otherwise. A comparison whose chosen curves have not left the collapsed plateau and
flattened after it by the end of the budget is "not testable at this budget".
:mod:`discgrad.experiments.dab_vae` makes the runs and ``results/<scale>/dab_vae.json`` holds
them; the chapter asserts ``findings(runs) == FINDINGS[scale]``, and
``tests/test_committed_results.py`` checks the committed cpu file.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from discgrad.experiments.dab_vae import METHODS
from discgrad.experiments.summary import mean_curves

from . import protocol

METRIC = "nelbo"

#: The paper's claim (Ramapuram and Webb 2019, abstract and density-estimation section): a
#: test variational lower bound 9 % better than RELAX's; we read it as the relative gap of the
#: test N-ELBO, ``(relax - dab) / relax``.
PAPER_GAIN_OVER_RELAX = 0.09

#: The code is "collapsed" while the mean validation KL term (the nats the code carries per
#: image) is below this; the epoch from which it stays at or above it is where a method left
#: the plateau.
COLLAPSED_KL = 1.0

#: The comparisons the chapter states: the paper's (DAB against RELAX) and the others, as
#: pairs of chosen variants.
PAIRS = {"dab_vs_relax": ("dab", "relax"), "dab_vs_reinforce": ("dab", "reinforce"),
         "dab_vs_gumbel_st": ("dab", "gumbel_st"), "relax_vs_reinforce": ("relax", "reinforce"),
         "relax_vs_gumbel_st": ("relax", "gumbel_st")}

#: What chapter 15 states about the runs at each scale (the chapter asserts it, and
#: tests/test_committed_results.py checks results/cpu/dab_vae.json, recorded at f4f320a: 120
#: runs, 10 seeds). At gpu scale (no run recorded) only what holds by construction: the grids'
#: sizes and the solver calls per step; the chapter checks them on the committed cpu file at
#: every scale.
FINDINGS: dict[str, dict] = {
    "cpu": {"chosen": {"dab": {"bridge": "dense", "width": 128},
                       "reinforce": {},
                       "relax": {},
                       "gumbel_st": {"tau": 0.5}},
            "n_variants": {"dab": 6, "reinforce": 1, "relax": 1, "gumbel_st": 4},
            "at_grid_edge": ["dab"],
            "still_rising": [],
            "trained_beats_untrained": ["dab", "gumbel_st", "reinforce", "relax"],
            "plateau_exit": {"dab": 35, "reinforce": 70, "relax": 28, "gumbel_st": 28},
            "dab_vs_relax": "worse",
            "dab_vs_reinforce": "better",
            "dab_vs_gumbel_st": "on par",
            "relax_vs_reinforce": "better",
            "relax_vs_gumbel_st": "better",
            "dab_gain_over_relax": -0.008,
            "paper_gain_reached": False,
            "widths": {"dense": 128, "elementwise": 128},
            "elementwise_vs_dense": "on par",
            "elementwise_vs_dense_by_width": {8: "better", 32: "on par", 128: "on par"},
            "bridge": {"dense": {"error": 0.07, "cosine_st": 0.36, "cosine_gumbel": 0.66},
                       "elementwise": {"error": 0.03, "cosine_st": 0.2, "cosine_gumbel": 0.37}},
            "calls_per_step": {"dab": 1.0, "reinforce": 1.0, "relax": 1.0, "gumbel_st": 1.0},
            "means": {"dab": 20.82, "reinforce": 21.96, "relax": 20.65, "gumbel_st": 20.74, "untrained": 44.71}},
    "gpu": {"n_variants": {"dab": 6, "reinforce": 1, "relax": 1, "gumbel_st": 4},
            "calls_per_step": {"dab": 1.0, "reinforce": 1.0, "relax": 1.0, "gumbel_st": 1.0}},
}


#: Variants chosen on the validation metric, methods compared on the test metric
#: (:class:`~discgrad.findings.protocol.MetricRule`).
RULE = protocol.MetricRule(METRIC, higher_is_better=False)
selections = RULE.selections
verdict = RULE.verdict


#: The runs of one method with the given knob values.
variant_runs = protocol.variant_runs


def mean_curve(runs: Sequence[Mapping], metric: str) -> list[float]:
    """The per-epoch mean over ``runs`` (one variant's seeds) of ``history[metric]``."""
    return next(iter(mean_curves(runs, metric).values()))


def plateau_exit(runs: Sequence[Mapping]) -> int | None:
    """The epoch (1-based) from which the mean validation KL term stays at or above
    :data:`COLLAPSED_KL` to the end, or ``None`` when it ends below (the code stayed
    collapsed). A transient rise above the line that falls back does not count.

    Example:
        >>> plateau_exit([{"method": "m", "settings": {}, "history": {"val_kl": [0.1, 1.5, 0.5, 1.2, 3.0]}}])
        4
    """
    curve = mean_curve(runs, "val_kl")
    below = [e for e, v in enumerate(curve) if v < COLLAPSED_KL]
    if not below:
        return 1
    return None if below[-1] == len(curve) - 1 else below[-1] + 2


def still_moving(runs: Sequence[Mapping]) -> bool:
    """Whether one variant's mean validation N-ELBO has not settled by the end of the budget:
    the code never left the collapsed plateau (:func:`plateau_exit`), or the curve from the
    epoch it left has not flattened (:func:`~discgrad.findings.protocol.flattened`). Measured
    from the plateau's end, not from the first epoch, since the plateau itself is flat.

    Example:
        >>> runs = [{"method": "m", "settings": {}, "history": {
        ...     "val_kl": [0.0] * 5 + [2.0] * 20, "val_nelbo": [30.0] * 5 + [25 - e / 4 for e in range(20)]}}]
        >>> still_moving(runs)
        True
    """
    exit_epoch = plateau_exit(runs)
    return exit_epoch is None or not protocol.flattened(mean_curve(runs, f"val_{METRIC}")[exit_epoch - 1:])


def chosen_width(runs: Sequence[Mapping], bridge: str) -> int:
    """The width of DAB's ``bridge`` kind with the best mean validation N-ELBO (the kind's
    own choice, to compare the kinds on the test split)."""
    widths = sorted({r["settings"]["variant"]["width"] for r in variant_runs(runs, "dab", bridge=bridge)})
    if not widths:
        raise ValueError(f"the runs hold no DAB run with a {bridge} bridge")
    return min(widths, key=lambda w: protocol.mean(variant_runs(runs, "dab", bridge=bridge, width=w),
                                                   f"val_{METRIC}"))


def relative_gain(a: Sequence[Mapping], b: Sequence[Mapping]) -> float:
    """``(N-ELBO(b) - N-ELBO(a)) / N-ELBO(b)``, mean test N-ELBOs over the seeds: ``a``'s gain over ``b``."""
    ref = protocol.mean(b, f"test_{METRIC}")
    return (ref - protocol.mean(a, f"test_{METRIC}")) / ref


def findings(runs: Sequence[Mapping]) -> dict:
    """The chapter's claims, computed from one results file's runs:

    * ``chosen``: the variant each method's validation N-ELBO chose; ``n_variants``: how many
      it had; ``at_grid_edge``: the methods whose chosen numeric knob is an end of its grid;
      ``still_rising``: the methods whose chosen variant's mean validation curve has not
      settled by the end of the budget (:func:`still_moving`: it never left the collapsed
      plateau, or has not flattened since it did);
      ``trained_beats_untrained``: the methods whose chosen variant's test N-ELBO beats the
      untrained networks', paired by seed;
    * ``plateau_exit``: per method (chosen variant), the epoch from which the code carries
      :data:`COLLAPSED_KL` nat or more to the end (:func:`plateau_exit`; ``None``: never);
    * the comparisons of :data:`PAIRS`: the paired verdict of the first method's chosen
      variant against the second's, or ``"not testable at this budget"`` when either chosen
      curve has not flattened; ``dab_gain_over_relax``: DAB's relative gain over RELAX
      (:func:`relative_gain`, rounded to 3), ``paper_gain_reached``: whether it is at least
      :data:`PAPER_GAIN_OVER_RELAX`;
    * ``elementwise_vs_dense``: DAB with the element-wise bridge against the dense one, each
      at the width its own validation N-ELBO chose (:func:`chosen_width`), paired by seed
      (not testable when either curve has not flattened);
      ``widths``: those widths; ``elementwise_vs_dense_by_width``: the same at each width of
      the grid (fixed variants, not chosen), ``{width: verdict}``;
    * ``bridge``: per kind (at its chosen width), the mean test imitation error and the mean
      last-epoch validation cosines of DAB's gradient with straight-through's and with the
      binary Concrete's, rounded to 2;
    * ``calls_per_step``: the solver calls per step of each method (chosen variant);
    * ``means``: each method's chosen variant's mean test N-ELBO and the untrained networks'
      (``untrained``), rounded to 2.

    Raises:
        ValueError: a method has no run, or a run was not recorded under the protocol.
    """
    sel = selections(runs)
    rising = {m for m, s in sel.items() if still_moving(s.runs)}
    out: dict = {**protocol.chosen_summary(sel, METHODS, METRIC, False),
                 "at_grid_edge": sorted(m for m, s in sel.items() if protocol.at_grid_edge(METHODS[m], s.variant)),
                 "still_rising": sorted(rising),
                 "plateau_exit": {m: plateau_exit(s.runs) for m, s in sel.items()}}
    for name, (a, b) in PAIRS.items():
        testable = not ({a, b} & rising)
        out[name] = verdict(sel[a].runs, sel[b].runs) if testable else "not testable at this budget"
    out["dab_gain_over_relax"] = round(relative_gain(sel["dab"].runs, sel["relax"].runs), 3)
    out["paper_gain_reached"] = out["dab_gain_over_relax"] >= PAPER_GAIN_OVER_RELAX
    widths = {kind: chosen_width(runs, kind) for kind in ("dense", "elementwise")}
    kinds = {kind: variant_runs(runs, "dab", bridge=kind, width=w) for kind, w in widths.items()}
    out["widths"] = widths
    kinds_moving = any(still_moving(k) for k in kinds.values())
    out["elementwise_vs_dense"] = ("not testable at this budget" if kinds_moving
                                   else verdict(kinds["elementwise"], kinds["dense"]))
    out["elementwise_vs_dense_by_width"] = {
        w: verdict(variant_runs(runs, "dab", bridge="elementwise", width=w),
                   variant_runs(runs, "dab", bridge="dense", width=w))
        for w in METHODS["dab"].grid["width"]}
    out["bridge"] = {kind: {"error": round(protocol.mean(k, "test_bridge_error"), 2),
                            "cosine_st": round(mean_curve(k, "val_cosine_st")[-1], 2),
                            "cosine_gumbel": round(mean_curve(k, "val_cosine_gumbel")[-1], 2)}
                     for kind, k in kinds.items()}
    out["calls_per_step"] = {m: round(protocol.mean(s.runs, "solver_calls_per_step"), 3) for m, s in sel.items()}
    out["means"] = {m: round(protocol.mean(s.runs, f"test_{METRIC}"), 2) for m, s in sel.items()}
    out["means"]["untrained"] = round(protocol.mean(runs, f"untrained_test_{METRIC}"), 2)
    return out

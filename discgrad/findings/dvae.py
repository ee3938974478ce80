"""What chapter 6 states about the dvae runs: ``FINDINGS`` per scale and ``findings(runs)``,
each claim computed from recorded runs under the comparison protocol (design section 11).

Every method's variant is chosen on the validation N-ELBO
(:func:`~discgrad.experiments.summary.select_variants`); two methods are compared on the
test N-ELBO, paired by seed, with the 95% paired t interval
(:func:`discgrad.findings.protocol.verdict`): "better" or "worse" when it excludes 0, "on
par" otherwise. :mod:`discgrad.experiments.dvae` makes the runs and
``results/<scale>/dvae.json`` holds them; the chapter asserts ``findings(runs) ==
FINDINGS[scale]``, and ``tests/test_committed_results.py`` checks the committed cpu file.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

from discgrad.experiments.dvae import METHODS
from discgrad.experiments.summary import mean_curves

from . import protocol

#: The paper's comparisons of the identity projections and I-MLE (Sahoo et al. 2023, fig. 3
#: and fig. 5; curves only, no table): ``name: ((method, knobs), (method, knobs), what the
#: paper shows for the first)``; ``knobs`` None is the method's chosen variant.
PAPER_PAIRS: dict[str, tuple] = {
    "std_vs_imle": (("identity", {"projection": "std"}), ("imle", None), "better"),
    "mean_vs_none": (("identity", {"projection": "mean"}), ("identity", {"projection": None}), "better"),
    "norm_vs_none": (("identity", {"projection": "norm"}), ("identity", {"projection": None}), "better"),
    "norm_vs_mean": (("identity", {"projection": "norm"}), ("identity", {"projection": "mean"}), "better"),
    "std_vs_norm": (("identity", {"projection": "std"}), ("identity", {"projection": "norm"}), "better"),
}
#: Sahoo et al. (2023, suppl. B.1, fig. 7): with P_std, "the cosine similarity between the
#: original and the projected gradient is smaller than 0.05".
PAPER_COSINE_BELOW = 0.05
#: Identity's chosen variant against every other method's, and DAB's bridges (fixed width).
OTHER_PAIRS = {f"identity_vs_{m}": ("identity", m) for m in METHODS if m != "identity"}

#: What chapter 6 states about the runs at each scale (the chapter asserts it, and
#: tests/test_committed_results.py checks results/cpu/dvae.json). At gpu scale (no run
#: recorded yet) what holds by construction: the grids' sizes.
FINDINGS: dict[str, dict] = {
    "cpu": {"chosen": {"identity": {"projection": "std"},
                       "imle": {"lam": 10.0},
                       "gumbel_st": {"tau": 1.0},
                       "score_function": {},
                       "dab": {"bridge": "standardised", "width": 32}},
            "n_variants": {"identity": 4, "imle": 4, "gumbel_st": 3, "score_function": 1, "dab": 4},
            "at_grid_edge": ["dab"],
            "still_falling": [],
            "trained_beats_untrained": ["dab", "gumbel_st", "identity", "imle", "score_function"],
            "std_vs_imle": "better",
            "mean_vs_none": "worse",
            "norm_vs_none": "better",
            "norm_vs_mean": "better",
            "std_vs_norm": "better",
            "std_cosine": (0.61, 0.87),
            "std_batch_cosine": (0.54, 0.84),
            "paper_claims": {"std_vs_imle": "held",
                             "mean_vs_none": "not held",
                             "norm_vs_none": "held",
                             "norm_vs_mean": "held",
                             "std_vs_norm": "held",
                             "fig7_cosine": "not held"},
            "std_norm_ratio": 0.422,
            "identity_vs_imle": "better",
            "identity_vs_gumbel_st": "better",
            "identity_vs_score_function": "better",
            "identity_vs_dab": "on par",
            "dab_standardised_vs_dense": "on par",
            "dab_bridge": (0.25, 1.0),
            "kl_share": {"None": 0.75, "mean": 0.89, "norm": 0.08, "std": 0.09},
            "cosines": {"identity": 0.87, "imle": 0.08, "gumbel_st": 0.79, "dab": 0.76},
            "calls_per_step": {"identity": 1.0,
                               "imle": 2.0,
                               "gumbel_st": 1.0,
                               "score_function": 4.0,
                               "dab": 1.0},
            "means": {"identity": 13.66,
                      "imle": 15.71,
                      "gumbel_st": 18.0,
                      "score_function": 18.77,
                      "dab": 13.62,
                      "identity_None": 27.04,
                      "identity_mean": 28.65,
                      "identity_norm": 14.11,
                      "identity_std": 13.66,
                      "untrained": 44.84}},
    "gpu": {"n_variants": {m: len(spec.variants()) for m, spec in METHODS.items()}},
}


#: Variants chosen on the validation metric, methods compared on the test metric
#: (:class:`~discgrad.findings.protocol.MetricRule`).
RULE = protocol.MetricRule("nelbo", higher_is_better=False)
selections = RULE.selections
verdict = RULE.verdict


#: The runs of one method with the given knob values.
variant_runs = protocol.variant_runs


def _runs(runs, sel, method, knobs):
    return sel[method].runs if knobs is None else variant_runs(runs, method, **knobs)


def still_falling(runs: Sequence[Mapping], epochs: int = protocol.FLAT_EPOCHS) -> bool:
    """Whether the mean validation N-ELBO curve of ``runs`` (one variant's seeds) has not
    flattened (:func:`discgrad.findings.protocol.still_moving`) and is still improving:
    lower at the end than ``epochs`` epochs before. A curve that rises (a model getting
    worse) would not be helped by a longer budget."""
    curve = next(iter(mean_curves(runs, "val_nelbo").values()))
    return protocol.still_moving(runs, "nelbo") and curve[-1] < curve[-1 - epochs]


def _claim(held: bool, a: Sequence[Mapping], b: Sequence[Mapping]) -> str:
    """The paper's claim read from our verdict: "held", or, when not, "not testable at this
    budget" if either side's mean validation curve is still falling, else "not held"."""
    if held:
        return "held"
    return "not testable at this budget" if still_falling(a) or still_falling(b) else "not held"


def cosine_range(runs: Sequence[Mapping], metric: str = "val_cosine") -> tuple[float, float]:
    """The smallest and largest value over the epochs of the mean (over seeds) curve of
    ``metric``, from the first epoch's end (the untrained network excluded), to 2 decimals."""
    curve = next(iter(mean_curves(runs, metric).values()))
    return round(min(curve), 2), round(max(curve), 2)


def findings(runs: Sequence[Mapping]) -> dict:
    """The chapter's claims, computed from one results file's runs:

    * ``chosen``: the variant each method's validation N-ELBO chose; ``n_variants``: how
      many it had; ``at_grid_edge``: the methods whose chosen numeric knob is an end of its
      grid; ``still_falling``: the methods whose chosen variant's mean validation curve is
      still falling at the end of the budget (:func:`still_falling`);
    * ``trained_beats_untrained``: the methods whose chosen variant's test N-ELBO is lower
      than the untrained network's, paired by seed;
    * the paper's comparisons (:data:`PAPER_PAIRS`): our paired verdict for each, and in
      ``paper_claims`` whether the paper's claim "held", was "not held" or is "not testable
      at this budget" (when our verdict differs from the paper's and the mean validation
      curve of either side has not flattened); ``paper_claims["fig7_cosine"]``: "held" when
      the mean cosine of Identity with P_std stayed below :data:`PAPER_COSINE_BELOW` at
      every epoch in both readings (per group and per batch, see
      :func:`discgrad.experiments.dvae.update_alignment`), "not held" when it stayed above in
      both, "in part" otherwise;
    * ``std_cosine``, ``std_batch_cosine``: the range over the epochs of those two mean
      validation curves (:func:`cosine_range`); ``std_norm_ratio``: the final mean norm
      ratio ``||u|| / ||g||`` of Identity with P_std, to 3 significant digits;
    * :data:`OTHER_PAIRS`: Identity's chosen variant against every other method's;
      ``dab_standardised_vs_dense``: the two bridges at width 128 (fixed variants);
    * ``dab_bridge``: the chosen DAB variant's mean test imitation error
      (:func:`~discgrad.bridges.imitation_error`) and share of test groups whose top-k
      it gets right, to 2 decimals;
    * ``kl_share``: the mean test KL of each Identity projection as a share of its maximum
      ``M log N`` (softmaxes near one-hot), to 2 decimals;
    * ``cosines``: each method's chosen variant's mean test cosine (the score function
      sends no update), to 2 decimals; ``calls_per_step``: solver calls per training step;
    * ``means``: each method's chosen variant's mean test N-ELBO, each Identity projection's
      (``identity_<projection>``), and the untrained network's, to 2 decimals.

    Raises:
        ValueError: a method has no run, or a run was not recorded under the protocol.
    """
    sel = selections(runs)
    out: dict = {**protocol.chosen_summary(sel, METHODS, "nelbo", False),
                 "at_grid_edge": sorted(m for m, s in sel.items() if protocol.at_grid_edge(METHODS[m], s.variant)),
                 "still_falling": sorted(m for m, s in sel.items() if still_falling(s.runs))}
    claims = {}
    for name, ((ma, ka), (mb, kb), theirs) in PAPER_PAIRS.items():
        a, b = _runs(runs, sel, ma, ka), _runs(runs, sel, mb, kb)
        out[name] = verdict(a, b)
        claims[name] = _claim(out[name] == theirs, a, b)
    std = variant_runs(runs, "identity", projection="std")
    out["std_cosine"], out["std_batch_cosine"] = cosine_range(std), cosine_range(std, "val_batch_cosine")
    highs = (out["std_cosine"][1], out["std_batch_cosine"][1])
    lows = (out["std_cosine"][0], out["std_batch_cosine"][0])
    claims["fig7_cosine"] = ("held" if max(highs) < PAPER_COSINE_BELOW
                             else "not held" if min(lows) >= PAPER_COSINE_BELOW else "in part")
    out["paper_claims"] = claims
    out["std_norm_ratio"] = float(f"{protocol.mean(std, 'val_norm_ratio'):.3g}")
    for name, (a, b) in OTHER_PAIRS.items():
        out[name] = verdict(sel[a].runs, sel[b].runs)
    out["dab_standardised_vs_dense"] = verdict(variant_runs(runs, "dab", bridge="standardised", width=128),
                                               variant_runs(runs, "dab", bridge="dense", width=128))
    out["dab_bridge"] = (round(protocol.mean(sel["dab"].runs, "test_bridge_error"), 2),
                         round(protocol.mean(sel["dab"].runs, "test_bridge_topk_match"), 2))
    settings = runs[0]["settings"]
    kl_max = settings["groups"] * math.log(settings["categories"])
    projections = METHODS["identity"].grid["projection"]
    out["kl_share"] = {str(p): round(protocol.mean(variant_runs(runs, "identity", projection=p), "test_kl") / kl_max,
                                     2) for p in projections}
    out["cosines"] = {m: round(protocol.mean(s.runs, "test_cosine"), 2) for m, s in sel.items()
                      if m != "score_function"}
    out["calls_per_step"] = {m: round(protocol.mean(s.runs, "solver_calls_per_step"), 3) for m, s in sel.items()}
    out["means"] = {m: round(protocol.mean(s.runs, "test_nelbo"), 2) for m, s in sel.items()}
    for p in projections:
        out["means"][f"identity_{p}"] = round(protocol.mean(variant_runs(runs, "identity", projection=p),
                                                            "test_nelbo"), 2)
    out["means"]["untrained"] = round(protocol.mean(runs, "untrained_test_nelbo"), 2)
    return out

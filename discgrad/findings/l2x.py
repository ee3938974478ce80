"""What chapter 7 states about the l2x runs: ``FINDINGS`` per scale and ``findings(runs)``,
each claim computed from recorded runs under the comparison protocol (design section 11).

Every method's variant is chosen per ``k`` on the validation MSE
(:func:`~discgrad.experiments.summary.select_variants`); two methods are compared on the
chosen variants' test metric, paired by seed, with the 95% paired t interval
(:func:`~discgrad.experiments.summary.paired_difference`): "better" or "worse" when it
excludes 0, "on par" otherwise. :mod:`discgrad.experiments.l2x` makes the runs and
``results/<scale>/l2x.json`` holds them; the chapter asserts ``findings(runs) ==
FINDINGS[scale]``, and ``tests/test_committed_results.py`` checks the committed cpu file.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from discgrad.experiments.l2x import METHODS
from discgrad.experiments.summary import Difference, Selection, mean_std, select_variants

from . import protocol

#: What chapter 7 states about the runs at each scale (the chapter asserts it, and
#: tests/test_committed_results.py checks results/cpu/l2x.json). Filled from the committed
#: cpu runs; at gpu scale (no run recorded yet) the paper's two claims.
FINDINGS: dict[str, dict] = {
    "cpu": {
        "chosen": {"identity": {5: {"projection": "std"}, 10: {"projection": "std"}, 15: {"projection": "std"}},
                   "imle": {5: {"lam": 1000.0}, 10: {"lam": 1000.0}, 15: {"lam": 1000.0}},
                   "l2x": {5: {"tau": 0.03}, 10: {"tau": 0.03}, 15: {"tau": 0.03}},
                   "softsub": {5: {"tau": 0.5}, 10: {"tau": 0.5}, 15: {"tau": 2.0}},
                   "dab": {5: {"bridge": "dense", "width": 32}, 10: {"bridge": "dense", "width": 32},
                           15: {"bridge": "dense", "width": 128}}},
        "n_variants": {"identity": 3, "imle": 3, "l2x": 5, "softsub": 4, "dab": 4},
        "projection_vs_none": {5: "better", 10: "better", 15: "better"},
        "trained_beats_untrained": True,
        "none_above_chance": True,
        "highest_mse": {5: "l2x", 10: "l2x", 15: "l2x"},
        "still_falling": [("l2x", 15)],
        "dab_bridge": {5: (0.59, 0.25), 10: (0.55, 0.07), 15: (0.32, 0.31)},
        "at_grid_edge": [("dab", 5), ("dab", 10), ("softsub", 15), ("dab", 15)],
        "identity_vs_imle": {5: "on par", 10: "on par", 15: "on par"},
        "identity_vs_imle_precision": {5: "on par", 10: "on par", 15: "on par"},
        "identity_vs_l2x": {5: "better", 10: "better", 15: "better"},
        "identity_vs_l2x_precision": {5: "better", 10: "better", 15: "better"},
        "identity_vs_softsub": {5: "on par", 10: "better", 15: "better"},
        "identity_vs_softsub_precision": {5: "better", 10: "better", 15: "on par"},
        "identity_vs_dab": {5: "on par", 10: "better", 15: "on par"},
        "identity_vs_dab_precision": {5: "on par", 10: "on par", 15: "on par"},
    },
    "gpu": {"projection_vs_none": {5: "better", 10: "better", 15: "better"},
            "trained_beats_untrained": True},
}


def selections(runs: Sequence[Mapping], k: int, metric: str = "mse") -> dict[str, Selection]:
    """Each method's variant for subset size ``k``, chosen on the validation MSE."""
    return select_variants(runs, metric, higher_is_better=False, within={"k": k})


def variant_runs(runs: Sequence[Mapping], method: str, k: int, **knobs) -> list[Mapping]:
    """The runs of one method, subset size ``k`` and the given knob values."""
    return [r for r in runs if r["method"] == method and r["settings"]["k"] == k
            and all(r["settings"]["variant"].get(n) == v for n, v in knobs.items())]


def difference(a: Sequence[Mapping], b: Sequence[Mapping], metric: str = "test_mse") -> Difference:
    """``a`` minus ``b`` on ``metric``, paired by seed (MSE: lower is better; precision: higher)."""
    return protocol.difference(a, b, metric, higher_is_better=metric.endswith("precision"))


def verdict(a: Sequence[Mapping], b: Sequence[Mapping], metric: str = "test_mse") -> str:
    """The :func:`difference`'s verdict for ``a``: "better", "worse" or "on par"."""
    return difference(a, b, metric).verdict


def findings(runs: Sequence[Mapping]) -> dict:
    """The chapter's claims, computed from one results file's runs, per ``k``:

    * ``chosen``: the variant each method's validation MSE chose, ``{method: {k: knobs}}``;
    * ``n_variants``: how many variants each method had;
    * ``projection_vs_none``: Identity with P_std against Identity without projection (the
      paper's table 1 comparison, made between the two fixed variants, not chosen);
    * ``identity_vs_<m>``: Identity's chosen variant against method ``m``'s, test MSE;
    * ``identity_vs_<m>_precision``: the same on the test precision;
    * ``trained_beats_untrained``: every chosen variant's test MSE is lower than the
      untrained networks', paired by seed, for every ``k``;
    * ``none_above_chance``: Identity without projection's mean test precision is above
      the ``k / d`` of a random selection;
    * ``highest_mse``: the method whose chosen variant has the highest mean test MSE;
    * ``still_falling``: the (method, k) whose chosen variant's mean validation MSE curve
      has not flattened by the end of the budget (its verdicts are not final there);
    * ``dab_bridge``: the chosen DAB variant's mean test imitation error and share of
      exact top-k matches, rounded to 2 decimals;
    * ``at_grid_edge``: the (method, k) whose chosen value of a numeric knob is the
      smallest or largest of its grid (a wider grid might do better there).

    Raises:
        ValueError: a (method, k) pair has no run, or a run was not recorded under the
            protocol.
    """
    ks = sorted({r["settings"]["k"] for r in runs})
    if not ks:
        raise ValueError("the runs lack the (method, k) pairs: all")
    positions = runs[0]["settings"]["positions"]
    out: dict = {"chosen": {}, "n_variants": {}, "projection_vs_none": {}, "trained_beats_untrained": True,
                 "none_above_chance": True, "highest_mse": {}, "still_falling": [], "dab_bridge": {},
                 "at_grid_edge": []}
    others = [m for m in METHODS if m != "identity"]
    for m in others:
        out[f"identity_vs_{m}"], out[f"identity_vs_{m}_precision"] = {}, {}
    for k in ks:
        sel = selections(runs, k)
        missing = [m for m in METHODS if m not in sel]
        if missing:
            raise ValueError(f"the runs lack the (method, k) pairs {[(m, k) for m in missing]}")
        for m, s in sel.items():
            out["chosen"].setdefault(m, {})[k] = s.variant
            if protocol.at_grid_edge(METHODS[m], s.variant):
                out["at_grid_edge"].append((m, k))
            out["n_variants"][m] = s.n_variants
            if not protocol.beats_untrained(s.runs, "mse", higher_is_better=False):
                out["trained_beats_untrained"] = False
            if protocol.still_moving(s.runs, "mse"):
                out["still_falling"].append((m, k))
        std, none = (variant_runs(runs, "identity", k, projection=p) for p in ("std", None))
        out["projection_vs_none"][k] = verdict(std, none)
        for m in others:
            out[f"identity_vs_{m}"][k] = verdict(sel["identity"].runs, sel[m].runs)
            out[f"identity_vs_{m}_precision"][k] = verdict(sel["identity"].runs, sel[m].runs, "test_precision")
        precision = mean_std([r["metrics"]["test_precision"] for r in none])[0]
        out["none_above_chance"] &= precision > k / positions
        out["highest_mse"][k] = max(sel, key=lambda m: mean_std([r["metrics"]["test_mse"] for r in sel[m].runs])[0])
        dab = sel["dab"].runs
        out["dab_bridge"][k] = tuple(round(mean_std([r["metrics"][n] for r in dab])[0], 2)
                                     for n in ("test_bridge_error", "test_bridge_topk_match"))
    return out

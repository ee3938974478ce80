"""What chapter 14 states about the dab_autoencoder runs: ``FINDINGS`` per scale and
``findings(runs)``, each claim computed from recorded runs under the comparison protocol
(design section 11), separately for each kind of code.

Every method's variant is chosen per code on the validation reconstruction error
(:func:`~discgrad.experiments.summary.select_variants` within the code); two methods are
compared on the chosen variants' test metrics, paired by seed, with the 95% paired t interval
(:func:`discgrad.findings.protocol.verdict`): "better" or "worse" when it excludes 0, "on
par" otherwise. :mod:`discgrad.experiments.dab_autoencoder` makes the runs and
``results/<scale>/dab_autoencoder.json`` holds them; the chapter asserts ``findings(runs) ==
FINDINGS[scale]``, and ``tests/test_committed_results.py`` checks the committed cpu file.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from discgrad.data.digits import load_binary_digits
from discgrad.experiments.dab_autoencoder import CODES, METHODS, SPLIT_SEED, linear_separability
from discgrad.experiments.summary import Selection, mean_curves, select_variants

from . import protocol

#: "About 10 % better" (Ramapuram and Webb 2019, abstract): DAB's test reconstruction error at
#: most 0.9 times Gumbel-softmax's; its linear accuracy at least 1.1 times Gumbel-softmax's.
RELATIVE_GAIN = 0.10

#: The pairs compared on both test metrics, in each code: (first, second).
PAIRS = {"dab_vs_gumbel": ("dab", "gumbel_st"), "dab_vs_straight_through": ("dab", "straight_through"),
         "dab_vs_identity": ("dab", "identity"), "identity_vs_gumbel": ("identity", "gumbel_st"),
         "straight_through_vs_gumbel": ("straight_through", "gumbel_st")}

#: What chapter 14 states about the runs at each scale (the chapter asserts it, and
#: tests/test_committed_results.py checks results/cpu/dab_autoencoder.json). At gpu scale (no
#: run recorded yet) only what holds by construction: the number of variants of each grid.
FINDINGS: dict[str, dict] = {
    "cpu": {"at_grid_edge": {"binary": ["dab"], "onehot": ["dab", "straight_through"]},
     "bridge_error": {"binary": {"dense": 0.25, "structured": 0.2},
                      "onehot": {"dense": 0.45, "structured": 0.35}},
     "chosen": {"binary": {"dab": {"bridge": "structured", "width": 128},
                           "gumbel_st": {"tau": 1.0},
                           "identity": {"projection": "norm"},
                           "straight_through": {"tau": 1.0}},
                "onehot": {"dab": {"bridge": "structured", "width": 128},
                           "gumbel_st": {"tau": 1.0},
                           "identity": {"projection": "std"},
                           "straight_through": {"tau": 3.0}}},
     "grad_cosine": {"binary": {"dense": (0.59, 0.73), "structured": (0.77, 0.94)},
                     "onehot": {"dense": (0.26, 0.03), "structured": (0.27, 0.27)}},
     "less_separable_than_pixels": {"binary": ["dab", "gumbel_st", "identity", "straight_through"],
                                    "onehot": ["dab", "gumbel_st", "identity", "straight_through"]},
     "linear": {"binary": {"dab_vs_gumbel": "worse",
                           "dab_vs_identity": "better",
                           "dab_vs_straight_through": "on par",
                           "identity_vs_gumbel": "worse",
                           "straight_through_vs_gumbel": "on par"},
                "onehot": {"dab_vs_gumbel": "worse",
                           "dab_vs_identity": "worse",
                           "dab_vs_straight_through": "worse",
                           "identity_vs_gumbel": "on par",
                           "straight_through_vs_gumbel": "worse"}},
     "linear_beats_untrained": {"binary": ["dab", "gumbel_st", "identity", "straight_through"],
                                "onehot": ["dab", "gumbel_st", "identity", "straight_through"]},
     "means": {"binary": {"dab": (8.12, 0.834),
                          "gumbel_st": (10.05, 0.847),
                          "identity": (7.64, 0.795),
                          "straight_through": (8.73, 0.83),
                          "untrained": (44.75, 0.572)},
               "onehot": {"dab": (15.53, 0.738),
                          "gumbel_st": (13.87, 0.833),
                          "identity": (9.34, 0.825),
                          "straight_through": (14.78, 0.765),
                          "untrained": (44.39, 0.563)}},
     "n_variants": {"binary": {"dab": 4, "gumbel_st": 3, "identity": 3, "straight_through": 3},
                    "onehot": {"dab": 4, "gumbel_st": 3, "identity": 3, "straight_through": 3}},
     "paper_linear": {"binary": "not held", "onehot": "not held"},
     "paper_reconstruction": {"binary": "held", "onehot": "not held"},
     "pixels": 0.925,
     "projection_vs_none": {"binary": {"norm": "better", "std": "better"},
                            "onehot": {"norm": "better", "std": "better"}},
     "ratio_to_gumbel": {"binary": (0.81, 0.98), "onehot": (1.12, 0.89)},
     "reconstruction": {"binary": {"dab_vs_gumbel": "better",
                                   "dab_vs_identity": "worse",
                                   "dab_vs_straight_through": "better",
                                   "identity_vs_gumbel": "better",
                                   "straight_through_vs_gumbel": "better"},
                        "onehot": {"dab_vs_gumbel": "worse",
                                   "dab_vs_identity": "worse",
                                   "dab_vs_straight_through": "worse",
                                   "identity_vs_gumbel": "better",
                                   "straight_through_vs_gumbel": "worse"}},
     "still_rising": {"binary": [], "onehot": []},
     "structured_vs_dense": {"binary": "better", "onehot": "better"},
     "trained_beats_untrained": {"binary": ["dab", "gumbel_st", "identity", "straight_through"],
                                 "onehot": ["dab", "gumbel_st", "identity", "straight_through"]}},
    "gpu": {"n_variants": {code: {m: len(spec.variants()) for m, spec in METHODS.items()} for code in CODES}},
}

#: The claim of the paper that a run cannot settle: a compared curve still moves at the end.
NOT_TESTABLE = "not testable at this budget"


def selections(runs: Sequence[Mapping], code: str) -> dict[str, Selection]:
    """Each method's variant for ``code``, chosen on the validation reconstruction error."""
    return select_variants(runs, "reconstruction", higher_is_better=False, within={"code": code})


def code_runs(runs: Sequence[Mapping], code: str, method: str, **knobs) -> list[Mapping]:
    """The runs of one method on ``code`` whose variant has the given knob values."""
    return [r for r in protocol.variant_runs(runs, method, **knobs) if r["settings"]["code"] == code]


def verdict(a: Sequence[Mapping], b: Sequence[Mapping], metric: str = "reconstruction") -> str:
    """``a`` against ``b`` on the test ``metric`` (reconstruction: lower is better; linear
    accuracy: higher), paired by seed."""
    return protocol.verdict(a, b, f"test_{metric}", higher_is_better=metric != "reconstruction")


def kind_selection(runs: Sequence[Mapping], code: str, bridge: str) -> list[Mapping]:
    """DAB's runs on ``code`` with one kind of bridge, at the width chosen on validation."""
    kind = [r for r in code_runs(runs, code, "dab", bridge=bridge)]
    sel = select_variants(kind, "reconstruction", higher_is_better=False)
    return list(sel["dab"].runs)


def pixel_separability(config: Mapping) -> float:
    """The test accuracy of the same linear classifier on the 64 binary pixels, fitted on the
    training split's images (the validation images held out, as for the codes)."""
    import torch

    data = load_binary_digits()
    order = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(SPLIT_SEED))
    train = order[config["n_val"]:]
    return linear_separability(data.x_train[train], data.y_train[train], data.x_test, data.y_test,
                               config["clf_C"], config["clf_max_iter"])


def _claim(dab: Sequence[Mapping], gumbel: Sequence[Mapping], metric: str, still: bool) -> str:
    """The paper's claim on ``metric``: DAB better than Gumbel-softmax (paired) by at least
    :data:`RELATIVE_GAIN` of Gumbel-softmax's mean."""
    if still:
        return NOT_TESTABLE
    d, g = protocol.mean(dab, f"test_{metric}"), protocol.mean(gumbel, f"test_{metric}")
    enough = d <= (1 - RELATIVE_GAIN) * g if metric == "reconstruction" else d >= (1 + RELATIVE_GAIN) * g
    return "held" if enough and verdict(dab, gumbel, metric) == "better" else "not held"


def findings(runs: Sequence[Mapping]) -> dict:
    """The chapter's claims, computed from one results file's runs; every value is
    ``{code: ...}`` for the codes ``binary`` and ``onehot``:

    * ``chosen``: the variant each method's validation reconstruction chose; ``n_variants``:
      how many it had; ``at_grid_edge``: the methods whose chosen numeric knob (a width, a
      temperature) is an end of its grid; ``still_rising``: the methods whose chosen
      variant's mean validation curve has not flattened by the end of the budget
      (:func:`discgrad.findings.protocol.still_moving`);
    * ``trained_beats_untrained`` / ``linear_beats_untrained``: the methods whose chosen
      variant's test reconstruction / linear accuracy beats the untrained network's, paired;
    * ``reconstruction`` and ``linear``: ``{pair: verdict}`` for :data:`PAIRS` on the test
      reconstruction error and the test linear accuracy;
    * ``paper_reconstruction`` / ``paper_linear``: the paper's claim, DAB better than
      Gumbel-softmax by at least 10 % of its mean (paired verdict "better" and the ratio):
      "held", "not held", or :data:`NOT_TESTABLE` when DAB's or Gumbel-softmax's chosen
      curve still moves; ``ratio_to_gumbel``: DAB's mean over Gumbel-softmax's, (reconstruction,
      linear accuracy), rounded to 2 decimals;
    * ``structured_vs_dense``: DAB with the structured bridge against the dense one (each at
      the width chosen on validation), on the test reconstruction; ``bridge_error``: each
      kind's mean test imitation error (:func:`~discgrad.bridges.imitation_error`);
      ``grad_cosine``: each kind's mean validation cosine with straight-through's gradient at
      the first and the last epoch (both rounded to 2 decimals);
    * ``projection_vs_none``: identity with P_norm and with P_std against no projection
      (fixed variants), on the test reconstruction;
    * ``means``: each method's chosen variant's mean test reconstruction (2 decimals) and
      linear accuracy (3 decimals), and the untrained network's (``untrained``);
    * ``pixels``: the linear accuracy of the same classifier on the raw pixels (3 decimals,
      one value); ``less_separable_than_pixels``: the methods whose mean linear accuracy is
      below it.

    Raises:
        ValueError: a method has no run for a code, or a run was not recorded under the protocol.
    """
    config = runs[0]["settings"] if runs else {}
    out: dict = {k: {} for k in ("chosen", "n_variants", "at_grid_edge", "still_rising", "trained_beats_untrained",
                                 "linear_beats_untrained", "reconstruction", "linear", "paper_reconstruction",
                                 "paper_linear", "ratio_to_gumbel", "structured_vs_dense", "bridge_error",
                                 "grad_cosine", "projection_vs_none", "means", "less_separable_than_pixels")}
    pixels = round(pixel_separability(config), 3) if runs else None
    for code in CODES:
        sel = selections(runs, code)
        missing = [m for m in METHODS if m not in sel]
        if missing:
            raise ValueError(f"the runs lack the methods {missing} for the {code} code")
        still = {m: protocol.still_moving(s.runs, "reconstruction") for m, s in sel.items()}
        out["chosen"][code] = {m: s.variant for m, s in sel.items()}
        out["n_variants"][code] = {m: s.n_variants for m, s in sel.items()}
        out["at_grid_edge"][code] = sorted(m for m, s in sel.items() if protocol.at_grid_edge(METHODS[m], s.variant))
        out["still_rising"][code] = sorted(m for m in sel if still[m])
        out["trained_beats_untrained"][code] = sorted(
            m for m, s in sel.items() if protocol.beats_untrained(s.runs, "reconstruction", False))
        out["linear_beats_untrained"][code] = sorted(
            m for m, s in sel.items() if protocol.beats_untrained(s.runs, "linear_accuracy", True))
        for metric, key in (("reconstruction", "reconstruction"), ("linear_accuracy", "linear")):
            out[key][code] = {name: verdict(sel[a].runs, sel[b].runs, metric) for name, (a, b) in PAIRS.items()}
        dab, gumbel = sel["dab"].runs, sel["gumbel_st"].runs
        late = still["dab"] or still["gumbel_st"]
        out["paper_reconstruction"][code] = _claim(dab, gumbel, "reconstruction", late)
        out["paper_linear"][code] = _claim(dab, gumbel, "linear_accuracy", late)
        out["ratio_to_gumbel"][code] = tuple(
            round(protocol.mean(dab, f"test_{m}") / protocol.mean(gumbel, f"test_{m}"), 2)
            for m in ("reconstruction", "linear_accuracy"))
        kinds = {b: kind_selection(runs, code, b) for b in ("dense", "structured")}
        out["structured_vs_dense"][code] = verdict(kinds["structured"], kinds["dense"])
        out["bridge_error"][code] = {b: round(protocol.mean(r, "test_bridge_error"), 2) for b, r in kinds.items()}
        out["grad_cosine"][code] = {}
        for b, r in kinds.items():
            curve = next(iter(mean_curves(r, "val_grad_cosine").values()))
            out["grad_cosine"][code][b] = (round(curve[0], 2), round(curve[-1], 2))
        none = code_runs(runs, code, "identity", projection=None)
        out["projection_vs_none"][code] = {p: verdict(code_runs(runs, code, "identity", projection=p), none)
                                           for p in ("norm", "std")}
        means = {m: (round(protocol.mean(s.runs, "test_reconstruction"), 2),
                     round(protocol.mean(s.runs, "test_linear_accuracy"), 3)) for m, s in sel.items()}
        every = [r for r in runs if r["settings"]["code"] == code]
        means["untrained"] = (round(protocol.mean(every, "untrained_test_reconstruction"), 2),
                              round(protocol.mean(every, "untrained_test_linear_accuracy"), 3))
        out["means"][code] = means
        out["less_separable_than_pixels"][code] = sorted(m for m, s in sel.items()
                                                         if protocol.mean(s.runs, "test_linear_accuracy") < pixels)
    out["pixels"] = pixels
    return out

"""What chapter 8 states about the graph_matching runs: ``FINDINGS`` per scale and
``findings(runs)``, each claim computed from recorded runs.

:mod:`discgrad.experiments.graph_matching` makes the runs and ``results/<scale>/graph_matching.json`` holds
them; the chapter asserts ``findings(runs) == FINDINGS[scale]``, and
``tests/test_committed_results.py`` checks it on the committed cpu file.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from discgrad.experiments.graph_matching import METHODS, NOISE_ALPHAS
from discgrad.experiments.summary import compare, summarize

#: What chapter 8 states about the runs at each scale: ``findings(runs)`` must equal this
#: (the chapter asserts it, and tests/test_committed_results.py checks the committed file).
#: At gpu scale (no run recorded yet) only what follows from the loss being linear.
FINDINGS: dict[str, dict] = {
    "cpu": {"margin_helps_none": False, "margin_helps_norm": False,
            "noise_vs_informed_none": "on par", "noise_vs_informed_norm": "on par",
            "none_vs_blackbox": "worse", "norm_vs_none": "better", "margin_size_irrelevant": True,
            "perturbed_ten_calls_dab_one": True, "perturbed_best": False, "perturbed_highest_mean": True,
            "perturbed_better_than_blackbox": True, "perturbed_every_seed_above_0.9": True,
            "dab_at_chance": True, "dab_worse_than_blackbox": True},
    "gpu": {"margin_helps_none": False, "margin_helps_norm": False, "margin_size_irrelevant": True,
            "perturbed_ten_calls_dab_one": True},
}


def _same_curves(runs: Sequence[Mapping], a: str, b: str) -> bool:
    curves = {(r["method"], r["seed"]): r["history"]["test_accuracy"] for r in runs}
    seeds = {r["seed"] for r in runs}
    return all(curves[(a, s)] == curves[(b, s)] for s in seeds)


def findings(runs: Sequence[Mapping]) -> dict:
    """The chapter's claims, computed from recorded runs (one results file's ``runs``).

    Comparisons of test accuracy use :func:`discgrad.experiments.summary.compare`
    (mean ± std over seeds; "better": the intervals do not overlap; "on par": they do):

    * ``margin_helps_none`` / ``margin_helps_norm``: for Identity without projection / with
      P_norm, the best margin variant (highest mean) is better than no margin (the paper:
      yes);
    * ``noise_vs_informed_none`` / ``noise_vs_informed_norm``: ``compare`` of the best
      noise-margin variant against the informed margin (the paper: about as good);
    * ``none_vs_blackbox``: ``compare`` of Identity without projection (no margin) against
      Blackbox (the paper: on par);
    * ``norm_vs_none``: ``compare`` of Identity with P_norm against without (no margins);
    * ``margin_size_irrelevant``: for both projections, every seed's test-accuracy curve
      is *identical* with the noise margins 0.1 and 0.5, and with the informed margin and
      no margin: the Hamming loss is linear, so Identity's gradient does not depend on
      the solver's output, which is all a margin changes.

    The two methods from outside the paper (issue 11):

    * ``perturbed_ten_calls_dab_one``: ``n_samples`` (10) and 1 solver calls per step;
    * ``perturbed_best``: Perturbed (Fenchel-Young loss) is better than every other method;
      ``perturbed_highest_mean``: its mean is the highest; ``perturbed_better_than_blackbox``;
      ``perturbed_every_seed_above_0.9``: each of its runs ends above 0.9;
    * ``dab_at_chance``: DAB's mean test accuracy is within 0.02 of ``1 / m``, the accuracy
      of a random matching onto the ``m`` target keypoints (outliers included);
      ``dab_worse_than_blackbox``: DAB is worse than Blackbox.
    """
    s = summarize(runs, ("test_accuracy",))
    missing = [m for m in METHODS if (m,) not in s]
    if missing:
        raise ValueError(f"the runs lack the methods {missing}")

    def acc(m):
        return s[(m,)]["test_accuracy"]

    def cmp(a, b):
        return compare(acc(a), acc(b), lower_is_better=False)

    out = {}
    for p in ("none", "norm"):
        noises = [f"identity_{p}_noise{a:g}" for a in NOISE_ALPHAS]
        margins = [*noises, f"identity_{p}_informed"]
        best = max(margins, key=lambda mm: acc(mm)[0])
        out[f"margin_helps_{p}"] = cmp(best, f"identity_{p}") == "better"
        out[f"noise_vs_informed_{p}"] = cmp(max(noises, key=lambda mm: acc(mm)[0]), f"identity_{p}_informed")
    out["none_vs_blackbox"] = cmp("identity_none", "blackbox")
    out["norm_vs_none"] = cmp("identity_norm", "identity_none")

    def finals(method, metric):
        return [r["metrics"][metric] for r in runs if r["method"] == method]

    n_samples = METHODS["perturbed"]["n_samples"]
    out["perturbed_ten_calls_dab_one"] = (set(finals("perturbed", "solver_calls_per_step")) == {n_samples}
                                          and set(finals("dab", "solver_calls_per_step")) == {1})
    out["perturbed_best"] = all(cmp("perturbed", m) == "better" for m in METHODS if m != "perturbed")
    out["perturbed_highest_mean"] = max(METHODS, key=lambda m: acc(m)[0]) == "perturbed"
    out["perturbed_better_than_blackbox"] = cmp("perturbed", "blackbox") == "better"
    out["perturbed_every_seed_above_0.9"] = min(finals("perturbed", "test_accuracy")) > 0.9
    settings = next(r["settings"] for r in runs if r["method"] == "dab")
    chance = 1 / (settings["n_points"] + settings["outliers"])
    out["dab_at_chance"] = abs(acc("dab")[0] - chance) < 0.02
    out["dab_worse_than_blackbox"] = cmp("dab", "blackbox") == "worse"
    out["margin_size_irrelevant"] = all(
        _same_curves(runs, f"identity_{p}", f"identity_{p}_informed")
        and all(_same_curves(runs, f"identity_{p}_noise{NOISE_ALPHAS[0]:g}", f"identity_{p}_noise{a:g}")
                for a in NOISE_ALPHAS[1:])
        for p in ("none", "norm"))
    return out

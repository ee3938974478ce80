"""What chapter 16 states about ``results/bench/estimators.json``: ``FINDINGS`` and ``findings(record)``.

The repository's ``benchmarks/estimators.py`` writes the file (each estimator's forward and
backward pass against the forward solve alone); the chapter asserts
``findings(record) == FINDINGS``, and ``tests/test_benchmarks.py`` checks the committed file.
"""
from __future__ import annotations

from typing import Mapping

#: Perturbed's sample counts the benchmark times (``Perturbed(n=...)``).
SAMPLES = (1, 10, 100)

#: The issue's targets (ratios of forward+backward to the forward solve alone).
IDENTITY_MAX_OVERHEAD = 0.05
ABOUT = 2.5  # "about x": within a factor 2.5 of x, either way (fixed before any run)


#: What chapter 16 states about the committed ``results/bench/estimators.json`` (the chapter
#: asserts ``findings(file) == FINDINGS``; tests/test_benchmarks.py checks it).
FINDINGS = {
    "identity_under_5_percent": ["ShortestPath", "TSP"],
    "blackbox_about_2x": ["Assignment", "Ranking", "ShortestPath", "TSP", "TopK"],
    "imle_about_2x": ["Assignment", "Ranking", "ShortestPath", "TSP", "TopK"],
    "perturbed_about_n": ["Assignment", "Ranking", "ShortestPath", "TSP", "TopK"],
    "dab_under_blackbox": ["ShortestPath", "TSP"],
    "identity_overhead_under_0.5_ms": True,
    "calls_as_documented": True,
}


def findings(record: Mapping) -> dict:
    """The chapter's claims about ``results/bench/estimators.json``.

    Lists name the solvers (sorted) for which a claim holds:

    * ``identity_under_5_percent``: Identity's forward and backward take less than 1.05
      times the forward solve alone (the issue's target);
    * ``blackbox_about_2x`` / ``imle_about_2x``: the ratio lies within a factor 2.5 of 2;
    * ``perturbed_about_n``: for n = 10 and n = 100 the ratio lies within a factor 2.5 of n;
    * ``dab_under_blackbox``: DAB (one solver call and a small network) costs less than
      Blackbox (two solver calls).

    And two statements over all solvers: ``identity_overhead_under_0.5_ms``: Identity adds
    less than 0.5 ms to the solve (a fixed cost of autograd and one elementwise
    operation, not a share of the solve); ``calls_as_documented``: the solver-call
    counters per pass are 1 (Identity, DAB), 2 (Blackbox, IMLE) and n (Perturbed).

    Example:
        >>> ratios = {"Identity": 1.01, "Blackbox": 2.0, "IMLE": 2.1, "DAB": 1.5,
        ...           **{f"Perturbed(n={n})": float(n) for n in SAMPLES}}
        >>> calls = {"Identity": 1, "DAB": 1, "Blackbox": 2, "IMLE": 2,
        ...          **{f"Perturbed(n={n})": n for n in SAMPLES}}
        >>> record = {"results": {"TSP": {"ratio_to_solve": ratios, "solver_calls_per_pass": calls,
        ...                               "seconds": {"solve": 0.01, "Identity": 0.0101}}}}
        >>> findings(record)["identity_under_5_percent"], findings(record)["calls_as_documented"]
        (['TSP'], True)
    """
    res = record["results"]

    def about(x, target):
        return target / ABOUT <= x <= target * ABOUT

    def holds(claim):
        return sorted(s for s, v in res.items() if claim(v["ratio_to_solve"]))

    calls_ok = all(v["solver_calls_per_pass"]["Identity"] == 1 and v["solver_calls_per_pass"]["DAB"] == 1
                   and v["solver_calls_per_pass"]["Blackbox"] == 2 and v["solver_calls_per_pass"]["IMLE"] == 2
                   and all(v["solver_calls_per_pass"][f"Perturbed(n={n})"] == n for n in SAMPLES)
                   for v in res.values())
    return {
        "identity_under_5_percent": holds(lambda r: r["Identity"] < 1 + IDENTITY_MAX_OVERHEAD),
        "blackbox_about_2x": holds(lambda r: about(r["Blackbox"], 2)),
        "imle_about_2x": holds(lambda r: about(r["IMLE"], 2)),
        "perturbed_about_n": holds(lambda r: all(about(r[f"Perturbed(n={n})"], n) for n in (10, 100))),
        "dab_under_blackbox": holds(lambda r: r["DAB"] < r["Blackbox"]),
        "identity_overhead_under_0.5_ms": all(v["seconds"]["Identity"] - v["seconds"]["solve"] < 5e-4
                                              for v in res.values()),
        "calls_as_documented": calls_ok,
    }

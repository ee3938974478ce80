"""What chapter 10 states about ``results/bench/layer_time.json``: ``FINDINGS`` and ``findings(record)``.

The repository's ``benchmarks/layer_time.py`` writes the file (one forward and backward
pass of each method's TSP layer at n = 10, the part of a training step the estimators
change); chapter 10 asserts ``findings(record) == FINDINGS`` beside the paper's table 8.
"""
from __future__ import annotations

from typing import Mapping

#: The paper's table 8 (Sahoo et al. 2023): training time in minutes at TSP(10), mean over restarts.
PAPER_TSP10_MINUTES = {"identity": 53.1, "blackbox": 84.6}

#: What chapter 10 states about the committed ``results/bench/layer_time.json`` (measured on
#: 2 shared cores, one thread, the CPU clock). Ratios and orderings only, so that a rerun on
#: another machine can confirm or refute them without the chapter quoting its exact numbers.
FINDINGS = {"calls": {"identity": 1.0, "blackbox": 2.0, "perturbed_3": 3.0, "perturbed_10": 10.0, "dab": 1.0},
            "identity_faster_than_blackbox": True, "blackbox_near_its_two_calls": True,
            "ratio_above_paper": True, "solver_dominates_identity": True, "perturbed_10_slowest": True}

#: "Near its two calls": Blackbox's time over Identity's lies in this interval.
NEAR_TWO = (1.5, 2.5)


def findings(record: Mapping) -> dict:
    """The chapter's claims about the layer times:

    * ``calls``: the solver calls per pass the counters report;
    * ``identity_faster_than_blackbox``: Blackbox's median time over Identity's is above 1;
      ``blackbox_near_its_two_calls``: it lies in :data:`NEAR_TWO` (2 solver calls against 1);
    * ``ratio_above_paper``: it is above the paper's whole-training ratio
      (:data:`PAPER_TSP10_MINUTES`, 84.6 / 53.1 = 1.6), whose time includes the network;
    * ``solver_dominates_identity``: the bare solver call takes more than half of Identity's pass;
    * ``perturbed_10_slowest``: Perturbed with 10 samples is the slowest layer.

    Example:
        >>> record = {"results": {"seconds": {"identity": 1.0, "blackbox": 1.9, "perturbed_3": 3.0,
        ...           "perturbed_10": 9.0, "dab": 1.1, "solver": 0.9},
        ...           "solver_calls_per_pass": FINDINGS["calls"]}}
        >>> findings(record) == FINDINGS
        True
    """
    res = record["results"]
    s = res["seconds"]
    ratio = s["blackbox"] / s["identity"]
    paper = PAPER_TSP10_MINUTES["blackbox"] / PAPER_TSP10_MINUTES["identity"]
    layers = {m: t for m, t in s.items() if m != "solver"}
    return {"calls": dict(res["solver_calls_per_pass"]), "identity_faster_than_blackbox": ratio > 1,
            "blackbox_near_its_two_calls": NEAR_TWO[0] < ratio < NEAR_TWO[1], "ratio_above_paper": ratio > paper,
            "solver_dominates_identity": s["solver"] / s["identity"] > 0.5,
            "perturbed_10_slowest": max(layers, key=layers.get) == "perturbed_10"}

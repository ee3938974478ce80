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
#: 2 shared cores, one thread, the CPU clock; rerun on a quiet machine, update this and the
#: chapter together).
FINDINGS = {"calls": {"identity": 1.0, "blackbox": 2.0, "perturbed_3": 3.0, "perturbed_10": 10.0, "dab": 1.0},
            "blackbox_over_identity": 1.9, "identity_faster_than_blackbox": True,
            "ratio_above_paper": True, "solver_share_of_identity": 0.9, "perturbed_10_slowest": True}


def findings(record: Mapping) -> dict:
    """The chapter's claims about the layer times:

    * ``calls``: the solver calls per pass the counters report;
    * ``blackbox_over_identity``: Blackbox's median time over Identity's, rounded to 1
      decimal; ``identity_faster_than_blackbox``: that ratio is above 1;
    * ``ratio_above_paper``: it is above the paper's whole-training ratio
      (:data:`PAPER_TSP10_MINUTES`, 84.6 / 53.1 = 1.6), whose time includes the network;
    * ``solver_share_of_identity``: the bare solver call's time over Identity's pass,
      rounded to 1 decimal (how much of the pass the solver is);
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
    return {"calls": dict(res["solver_calls_per_pass"]), "blackbox_over_identity": round(ratio, 1),
            "identity_faster_than_blackbox": ratio > 1, "ratio_above_paper": ratio > paper,
            "solver_share_of_identity": round(s["solver"] / s["identity"], 1),
            "perturbed_10_slowest": max(layers, key=layers.get) == "perturbed_10"}

"""What chapter 16 states about ``results/bench/training.json``: ``FINDINGS`` and ``findings(record)``.

The repository's ``benchmarks/training.py`` writes the file (one training epoch of the
Warcraft and globe TSP experiments, per method); the chapter asserts
``findings(record) == FINDINGS``, and ``tests/test_benchmarks.py`` checks the committed file.
"""
from __future__ import annotations

from typing import Mapping

#: Sahoo et al. (2023), table 8: training time in minutes for TSP(10), Identity vs Blackbox.
PAPER_TSP10_MINUTES = {"identity": 53.1, "blackbox": 84.6}

#: What chapter 16 states about the committed ``results/bench/training.json`` (the chapter
#: asserts ``findings(file) == FINDINGS``; tests/test_benchmarks.py checks it).
FINDINGS = {"identity_one_call_blackbox_two": True, "identity_cheaper": True, "ratio_nearer_one_than_paper": True}


def findings(record: Mapping) -> dict:
    """The chapter's claims about ``results/bench/training.json``, one bool each.

    * ``identity_one_call_blackbox_two``: the counters report 1 and 2 solver calls per step;
    * ``identity_cheaper``: in both experiments the epoch of plain Identity took less time
      than plain Blackbox's;
    * ``ratio_nearer_one_than_paper``: in both experiments Identity's time over Blackbox's is
      above the paper's TSP(10) ratio 53.1 / 84.6 (the network, not the solver, dominates a
      step at our scale, so a second solver call costs relatively less).

    Example:
        >>> run = {"identity_method": "identity", "blackbox_method": "blackbox",
        ...        "solver_calls_per_step": {"identity": 1, "blackbox": 2},
        ...        "ratio_to_blackbox": {"identity": 0.9, "blackbox": 1.0}}
        >>> findings({"results": {"warcraft": run}}) == FINDINGS
        True
    """
    paper = PAPER_TSP10_MINUTES["identity"] / PAPER_TSP10_MINUTES["blackbox"]
    res = record["results"]
    return {
        "identity_one_call_blackbox_two": all(
            r["solver_calls_per_step"][r["identity_method"]] == 1 and r["solver_calls_per_step"][r["blackbox_method"]] == 2
            for r in res.values()),
        "identity_cheaper": all(r["ratio_to_blackbox"][r["identity_method"]] < 1 for r in res.values()),
        "ratio_nearer_one_than_paper": all(r["ratio_to_blackbox"][r["identity_method"]] > paper
                                           for r in res.values()),
    }

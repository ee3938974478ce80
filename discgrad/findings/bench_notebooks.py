"""What chapter 16 states about ``results/bench/notebooks.json``: the chapters and their totals.

The repository's ``benchmarks/notebooks.py`` writes the file (every chapter executed from a
fresh kernel, per scale); the chapter tabulates it against :data:`NOTEBOOKS` and checks
:func:`totals` against the targets :data:`TARGETS_S`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

#: The issue's targets for the whole book, in seconds.
TARGETS_S = {"smoke": 10 * 60, "cpu": 45 * 60}

#: The chapters of the book in order, as ``_toc.yml`` lists them (``tests/test_benchmarks.py``
#: checks that it does): the list ships with the package, so chapter 16 needs no checkout.
NOTEBOOKS = (
    "notebooks/01_zero_gradients",
    "notebooks/02_estimator_zoo",
    "notebooks/03_negative_identity",
    "notebooks/04_projections_and_cost_collapse",
    "notebooks/05_dab_bridge",
    "notebooks/06_discrete_vae",
    "notebooks/07_learning_to_explain",
    "notebooks/08_graph_matching",
    "notebooks/09_image_retrieval",
    "notebooks/10_globe_tsp",
    "notebooks/11_warcraft_shortest_path",
    "notebooks/12_dab_sorting",
    "notebooks/13_dab_classification",
    "notebooks/14_dab_representations",
    "notebooks/15_dab_density",
    "notebooks/16_performance",
    "notebooks/17_results_and_guide",
    "notebooks/18_your_own_solver",
)


def totals(record: Mapping, names: Sequence[str] = NOTEBOOKS) -> dict:
    """Per scale: the summed seconds, whether every chapter of ``names`` has an entry, and the target.

    Example:
        >>> r = {"entries": [{"notebook": "a", "scale": "smoke", "seconds": 5.0}]}
        >>> totals(r, ["a", "b"])["smoke"]
        {'seconds': 5.0, 'notebooks': 1, 'complete': False, 'target_s': 600, 'under_target': None}
    """
    out = {}
    for scale in sorted({e["scale"] for e in record["entries"]}):
        mine = {e["notebook"]: e["seconds"] for e in record["entries"] if e["scale"] == scale and e["notebook"] in names}
        complete = set(mine) == set(names)
        total = sum(mine.values())
        target = TARGETS_S.get(scale)
        out[scale] = {"seconds": total, "notebooks": len(mine), "complete": complete, "target_s": target,
                      "under_target": (total < target) if complete and target else None}
    return out

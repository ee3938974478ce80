"""The experiments of Part III: one module per experiment, each with its data, its model,
one config per scale, ``run(method, scale, seed) -> dict`` and a command line::

    python -m discgrad.experiments.<name> --scale cpu --seeds 0 1 2 --out results/cpu/<name>.json

:mod:`discgrad.experiments.runner` holds what they share (running every method and seed,
recording with provenance, summaries for the chapters' tables). What each chapter states
about its runs (``FINDINGS`` and ``findings(runs)``) lives apart from the training code, in
:mod:`discgrad.findings` (``discgrad.findings.<name>``), with chapter 17's table of every
method on every task (``discgrad.findings.overview``); no experiment imports them.

* :mod:`discgrad.experiments.dvae`: a discrete VAE with a top-k sampler (chapter 6);
* :mod:`discgrad.experiments.l2x`: learning to explain, on a synthetic task (chapter 7);
* :mod:`discgrad.experiments.graph_matching`: keypoint matching (chapter 8);
* :mod:`discgrad.experiments.retrieval`: retrieval with a recall loss (chapter 9);
* :mod:`discgrad.experiments.globe_tsp`: the globe TSP (chapter 10);
* :mod:`discgrad.experiments.warcraft`: Warcraft-like shortest paths (chapter 11);
* :mod:`discgrad.experiments.sorting`: DAB, neural sequence sorting (chapter 12);
* :mod:`discgrad.experiments.dab_classification`: DAB, classification through top-k (chapter 13);
* :mod:`discgrad.experiments.dab_autoencoder`: DAB, discrete representations (chapter 14);
* :mod:`discgrad.experiments.dab_vae`: DAB, density estimation against RELAX (chapter 15).
"""
from .runner import Experiment, run_all
from .summary import compare, mean_curves, mean_std, summarize

__all__ = ["Experiment", "run_all", "summarize", "mean_curves", "mean_std", "compare"]

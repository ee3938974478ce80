"""discgrad: gradients through discrete solvers, the companion package of the book.

Solvers live in :mod:`discgrad.solvers`; the estimators that make them trainable layers
are re-exported here (``discgrad.Identity``, ``discgrad.DAB``, ...).
"""
from . import losses, noise, projections, solvers
from .estimators import (DAB, IMLE, Blackbox, FenchelYoungLoss, GumbelSoftmax, Identity, Perturbed,
                         RELAX, ScoreFunction, StraightThrough)
from .losses import hamming_loss
from .plot import use_book_style
from .projections import P_mean, P_norm, P_plane, P_std
from .results import load_results, record_run
from .scale import get_device, get_scale
from .source import show_source
from .train import fit, seed_everything

__version__ = "0.1.0"

__all__ = [
    "solvers", "projections", "noise", "losses",
    "Identity", "Blackbox", "Perturbed", "FenchelYoungLoss", "IMLE", "StraightThrough",
    "GumbelSoftmax", "ScoreFunction", "RELAX", "DAB",
    "P_mean", "P_norm", "P_std", "P_plane", "hamming_loss",
    "get_scale", "get_device", "fit", "seed_everything", "record_run", "load_results",
    "show_source", "use_book_style",
]

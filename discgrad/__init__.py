"""discgrad: gradients through discrete solvers, the companion package of the book.

Solvers live in :mod:`discgrad.solvers`; the estimators that make them trainable layers
are re-exported here (``discgrad.Identity``, ``discgrad.DAB``, ...).
"""
from __future__ import annotations

import importlib

# The public names and the module each comes from. They are imported on first use (PEP 562),
# so ``import discgrad.solvers`` loads neither matplotlib nor the estimators.
# ``_MODULES`` are the submodules that ``import discgrad`` used to load eagerly.
_MODULES = ("solvers", "projections", "noise", "losses", "estimators", "plot", "results", "scale",
            "source", "train", "predict_then_optimize")
_NAMES = {
    **{name: ".estimators" for name in ("DAB", "IMLE", "Blackbox", "FenchelYoungLoss", "GumbelSoftmax",
                                        "Identity", "InformedMargin", "Perturbed", "RELAX",
                                        "ScoreFunction", "StraightThrough")},
    "hamming_loss": ".losses", "absolute_loss": ".losses",
    "use_book_style": ".plot",
    **{name: ".projections" for name in ("P_mean", "P_norm", "P_plane", "P_std")},
    "load_results": ".results", "record_run": ".results",
    "get_device": ".scale", "get_scale": ".scale",
    "show_source": ".source",
    "fit": ".train", "seed_everything": ".train",
}

__version__ = "0.1.0"

__all__ = [
    "solvers", "projections", "noise", "losses",
    "Identity", "InformedMargin", "Blackbox", "Perturbed", "FenchelYoungLoss", "IMLE", "StraightThrough",
    "GumbelSoftmax", "ScoreFunction", "RELAX", "DAB",
    "P_mean", "P_norm", "P_std", "P_plane", "hamming_loss", "absolute_loss",
    "get_scale", "get_device", "fit", "seed_everything", "record_run", "load_results",
    "show_source", "use_book_style",
]


def __getattr__(name: str):
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name], __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

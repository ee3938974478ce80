"""Gradient replacements for discrete solvers: one file per method, each an ``nn.Module``.

Sign convention: ``sign = +1`` for a max solver, ``-1`` for a min solver (a min solver on
``w`` is a max solver on ``-w``). ``layer.solver_calls`` counts solver invocations, a call
on ``n`` stacked copies of the batch counting ``n``.

Per-instance context: the solver-based layers (Identity, InformedMargin, Blackbox, Perturbed,
FenchelYoungLoss, IMLE, StraightThrough, DAB) pass keyword arguments of a call to the solver
each time they solve, ``layer(w, capacity=c)`` -> ``solver(costs, capacity=c)``; a tensor
whose first dimension is the batch's is repeated to match where noisy copies are stacked.

Book: chapter 2 (the baseline zoo), chapter 3 (Identity), chapter 5 (DAB), chapter 15 (RELAX).
"""
from discgrad.estimators.blackbox import Blackbox
from discgrad.estimators.dab import DAB
from discgrad.estimators.gumbel_softmax import GumbelSoftmax
from discgrad.estimators.identity import Identity
from discgrad.estimators.imle import IMLE
from discgrad.estimators.informed_margin import InformedMargin
from discgrad.estimators.perturbed import FenchelYoungLoss, Perturbed
from discgrad.estimators.relax import RELAX
from discgrad.estimators.score_function import ScoreFunction
from discgrad.estimators.straight_through import StraightThrough

__all__ = [
    "Identity",
    "InformedMargin",
    "Blackbox",
    "Perturbed",
    "FenchelYoungLoss",
    "IMLE",
    "StraightThrough",
    "GumbelSoftmax",
    "ScoreFunction",
    "RELAX",
    "DAB",
]

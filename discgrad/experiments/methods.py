"""Methods as data: a family, its fixed arguments and the grid over its own knob, and one
layer that wraps a task's solver with any of them.

A :class:`Method` names the *family* of an estimator (Identity, Blackbox, I-MLE, DAB, ...),
the arguments that stay fixed, and the grid over the family's own knob (Identity's
projection, Blackbox's and I-MLE's lambda, a relaxation's temperature, DAB's bridge). Under
the comparison protocol (design section 11) every variant of the grid is run, the variant is
chosen per method on the validation metric, and only its test metric is reported
(:func:`discgrad.experiments.summary.select_variants`).

:class:`MethodLayer` is the one place where a method meets a solver: it builds the
estimator from :data:`FAMILIES` (or a task's own families), returns the solver's exact
output in eval mode, adds the task's sampling noise in training where the method asks for
it, and gives the extra loss a method brings (DAB's imitation loss) and its solver calls.

Book: "How to use this book" (the comparison protocol) and Part III.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from discgrad.bridges import bridge_of_kind
from discgrad.estimators import (DAB, IMLE, Blackbox, FenchelYoungLoss, Identity, InformedMargin, Perturbed,
                                 StraightThrough)

from .summary import grid


@dataclass(frozen=True)
class Method:
    """One method of an experiment.

    Attributes:
        family: the key of its builder in ``FAMILIES`` or in the task's own families.
        fixed: estimator arguments that stay fixed.
        grid: ``{knob: [values, ...]}``, the family's own knob; every combination is a variant.
        noisy_input: add the task's sampling noise to the costs before the estimator in
            training (a perturb-and-MAP sampler); eval mode never adds noise.
        setting: task settings this method runs under in place of the task's own (see
            ``Task.variants``), e.g. ``{"loss": "linear"}`` for
            a row that trains on another loss (chapter 8).

    Example:
        >>> Method("identity", grid={"projection": [None, "std"]}).variants()
        [{'projection': None}, {'projection': 'std'}]
    """

    family: str
    fixed: Mapping = field(default_factory=dict)
    grid: Mapping[str, Sequence] = field(default_factory=dict)
    noisy_input: bool = False
    setting: Mapping = field(default_factory=dict)

    def variants(self) -> list[dict]:
        """Every combination of the grid's values (one empty variant without a grid)."""
        return grid(self.grid)


def margin_in_cost_units(alpha: float, projection: str | None, size: int) -> float:
    """A margin given in units of the projected costs' root mean square entry, in cost units.

    ``P_norm`` and ``P_std`` return a unit vector of ``size`` entries, whose root mean square
    entry is ``1 / sqrt(size)``; without a projection (or with ``P_mean``) the costs keep the
    network's units, and ``alpha`` is taken as it is. Book: chapter 8.

    Example:
        >>> margin_in_cost_units(0.5, "norm", 100), margin_in_cost_units(0.5, None, 100)
        (0.05, 0.5)
    """
    return alpha / math.sqrt(size) if projection in ("norm", "std") else alpha


def _identity(solver, context, projection=None, alpha=0.0):
    noise = margin_in_cost_units(alpha, projection, context["size"]) if alpha else 0.0
    return Identity(solver, projection=projection, noise=noise)


def _informed(estimator, context, projection, alpha):
    return InformedMargin(estimator, margin_in_cost_units(alpha, projection, context["size"]), projection)


#: ``builder(solver, context, **knobs) -> estimator``; ``context`` holds what a task knows
#: about its instances (``size``: the solver's input length, or ``shape`` for a matrix
#: instance; for I-MLE the noise's ``k``, ``tau``, ``s``). Margins ``alpha`` are in units
#: of the projected costs' root mean square entry (:func:`margin_in_cost_units`).
FAMILIES: dict[str, Callable[..., nn.Module]] = {
    "identity": _identity,
    "identity_informed": lambda solver, context, alpha, projection=None: _informed(Identity(solver), context,
                                                                                   projection, alpha),
    "blackbox": lambda solver, context, lam: Blackbox(solver, lam=lam),
    "perturbed": lambda solver, context, sigma, n_samples=10: Perturbed(solver, sigma=sigma, n_samples=n_samples),
    "fenchel_young": lambda solver, context, sigma, n_samples=10: FenchelYoungLoss(solver, sigma=sigma,
                                                                                   n_samples=n_samples),
    "imle": lambda solver, context, lam, noise="sog": IMLE(solver, lam=lam, noise=noise, k=context["k"],
                                                           tau=context["tau"], s=context["s"]),
    "straight_through": lambda solver, context: StraightThrough(solver),
    "dab": lambda solver, context, bridge="dense", width=128, weight=1.0: DAB(
        solver, bridge_of_kind(bridge, context.get("shape", context["size"]), width), weight=weight),
}


class MethodLayer(nn.Module):
    """A task's solver made trainable by one method's estimator.

    Args:
        method: the method.
        variant: the values of its grid's knobs.
        solver: the task's solver.
        context: what the builders need to know (see ``FAMILIES``).
        perturb: ``perturb(w) -> noise`` of the task's sampler, added in training when
            ``method.noisy_input``.
        families: the task's own families, next to ``FAMILIES``.

    ``forward(w)`` in eval mode is ``solver(w)``, exact and noise-free, for every method (and
    in training too for a family that is a loss, whose training goes through :meth:`loss`).
    """

    def __init__(self, method: Method, variant: Mapping, solver, context: Mapping | None = None,
                 perturb: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 families: Mapping[str, Callable[..., nn.Module]] | None = None):
        super().__init__()
        builders = {**FAMILIES, **(families or {})}
        if method.family not in builders:
            raise ValueError(f"unknown method family {method.family!r}: use one of {sorted(builders)}")
        unknown = sorted(set(variant) - set(method.grid))
        if unknown:
            raise ValueError(f"{unknown} are not knobs of this {method.family} method's grid {dict(method.grid)}")
        if method.noisy_input and perturb is None:
            raise ValueError("the method adds the task's sampling noise, but no perturb was given")
        self.method, self.variant, self.solver, self.perturb = method, dict(variant), solver, perturb
        self.estimator = builders[method.family](solver, dict(context or {}), **{**method.fixed, **variant})

    def forward(self, w: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """The solution; ``target`` (the true solution) is used only by a family that takes
        it in training (the informed margin)."""
        if not self.training or self.is_loss:
            return self.solver(w)
        if self.method.noisy_input:
            w = w + self.perturb(w)
        if getattr(self.estimator, "takes_target", False):
            return self.estimator(w, target)
        return self.estimator(w)

    @property
    def is_loss(self) -> bool:
        """Whether the family brings its own loss (the Fenchel-Young loss) instead of a solution."""
        return bool(getattr(self.estimator, "is_loss", False))

    def loss(self, w: torch.Tensor, target: torch.Tensor,
             task_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """The training loss on costs ``w`` with true solution ``target``: the family's own
        loss where it has one (Fenchel-Young: ``estimator(w, target)``), else
        ``task_loss(self(w, target), target)``."""
        if self.is_loss:
            if self.method.noisy_input:
                w = w + self.perturb(w)
            return self.estimator(w, target)
        return task_loss(self(w, target), target)

    def extra_loss(self) -> torch.Tensor | float:
        """What the method adds to the task's loss: DAB's imitation loss, else 0."""
        loss = getattr(self.estimator, "bridge_loss", None)
        return 0.0 if loss is None else loss

    @property
    def solver_calls(self) -> int:
        """Solver calls of the estimator so far (training steps)."""
        return int(getattr(self.estimator, "solver_calls", 0))

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

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from discgrad.bridges import bridge_of_kind
from discgrad.estimators import DAB, IMLE, Blackbox, Identity, Perturbed, StraightThrough

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

    Example:
        >>> Method("identity", grid={"projection": [None, "std"]}).variants()
        [{'projection': None}, {'projection': 'std'}]
    """

    family: str
    fixed: Mapping = field(default_factory=dict)
    grid: Mapping[str, Sequence] = field(default_factory=dict)
    noisy_input: bool = False

    def variants(self) -> list[dict]:
        """Every combination of the grid's values (one empty variant without a grid)."""
        return grid(self.grid)


#: ``builder(solver, context, **knobs) -> estimator``; ``context`` holds what a task knows
#: about its instances (``size``: the solver's input length; for I-MLE the noise's ``k``,
#: ``tau``, ``s``).
FAMILIES: dict[str, Callable[..., nn.Module]] = {
    "identity": lambda solver, context, projection=None, alpha=0.0: Identity(solver, projection=projection,
                                                                               noise=alpha),
    "blackbox": lambda solver, context, lam: Blackbox(solver, lam=lam),
    "perturbed": lambda solver, context, sigma, n_samples=10: Perturbed(solver, sigma=sigma, n_samples=n_samples),
    "imle": lambda solver, context, lam, noise="sog": IMLE(solver, lam=lam, noise=noise, k=context["k"],
                                                           tau=context["tau"], s=context["s"]),
    "straight_through": lambda solver, context: StraightThrough(solver),
    "dab": lambda solver, context, bridge="dense", width=128, weight=1.0: DAB(
        solver, bridge_of_kind(bridge, context["size"], width), weight=weight),
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

    ``forward(w)`` in eval mode is ``solver(w)``, exact and noise-free, for every method.
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

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self.solver(w)
        if self.method.noisy_input:
            w = w + self.perturb(w)
        return self.estimator(w)

    def extra_loss(self) -> torch.Tensor | float:
        """What the method adds to the task's loss: DAB's imitation loss, else 0."""
        loss = getattr(self.estimator, "bridge_loss", None)
        return 0.0 if loss is None else loss

    @property
    def solver_calls(self) -> int:
        """Solver calls of the estimator so far (training steps)."""
        return int(getattr(self.estimator, "solver_calls", 0))

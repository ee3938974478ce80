"""The solver contract shared by every solver and every estimator.

A solver is a callable ``y = solver(w)`` on a batch ``w`` of shape ``(B, *shape)`` that
returns a float tensor ``y`` with the same batch size on ``w``'s device, and that carries
``sense = "min"`` or ``"max"``: it returns argmin (or argmax) of ``<w, y>`` over its
feasible set. The estimators in :mod:`discgrad.estimators` need nothing else.

Book: chapter 1 (zero gradients) introduces the contract.
"""
from __future__ import annotations

import math
import numbers
from typing import Callable

import numpy as np
import torch

SENSES = ("min", "max")


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a ``TypeError``; also a ``ValueError``, the one
    exception every bad input raised before types were told apart, so old handlers still
    catch it).

    Example:
        >>> issubclass(ArgumentTypeError, TypeError) and issubclass(ArgumentTypeError, ValueError)
        True
    """


def check_count(value, name: str, low: int = 1) -> int:
    """Return ``value`` as an ``int`` if it is an integer ``>= low``.

    Any ``numbers.Integral`` is accepted (``numpy.int64`` too), ``bool`` is not: a wrong
    type raises :class:`~discgrad.solvers.base.ArgumentTypeError`, a value below ``low`` raises ``ValueError``.

    Example:
        >>> import numpy as np
        >>> check_count(np.int64(2), "k")
        2
        >>> check_count(0, "k")
        Traceback (most recent call last):
        ...
        ValueError: k must be an integer >= 1, got 0
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be an integer >= {low}, got {value!r} of type {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_real(value, name: str, low: float | None = None, strict: bool = False) -> float:
    """Return ``value`` as a finite ``float``, ``> low`` (``strict``) or ``>= low``.

    Any ``numbers.Real`` but ``bool`` is accepted; a wrong type raises
    :class:`~discgrad.solvers.base.ArgumentTypeError`, NaN, inf or a value out of range ``ValueError``.

    Example:
        >>> check_real(0.5, "alpha", low=0.0)
        0.5
        >>> check_real(float("inf"), "alpha", low=0.0)
        Traceback (most recent call last):
        ...
        ValueError: alpha must be a finite number >= 0.0, got inf
    """
    rule = "a finite number" + ("" if low is None else f" {'>' if strict else '>='} {low}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be {rule}, got {value!r} of type {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or (low is not None and (v <= low if strict else v < low)):
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return v


def check_tensor(x, name: str, min_dim: int = 0, floating: bool = False) -> torch.Tensor:
    """Check that ``x`` is a dense tensor with values, of at least ``min_dim`` dimensions, none empty.

    Raises :class:`~discgrad.solvers.base.ArgumentTypeError` for a non-tensor (or a non-floating one with
    ``floating=True``) and ``ValueError`` for a sparse layout, the ``meta`` device (which
    holds no values), too few dimensions or a dimension of size 0.

    Example:
        >>> check_tensor(torch.zeros(2, 0), "w")
        Traceback (most recent call last):
        ...
        ValueError: w has an empty dimension (shape (2, 0)); every dimension must have size >= 1
    """
    if not isinstance(x, torch.Tensor):
        raise ArgumentTypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.layout != torch.strided:
        raise ValueError(f"{name} must be a dense (strided) tensor, got layout {x.layout}")
    if x.device.type == "meta":
        raise ValueError(f"{name} is on the meta device, which holds no values; move it to a real device (cpu, cuda)")
    if x.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimensions (batch first), got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} has an empty dimension (shape {tuple(x.shape)}); every dimension must have size >= 1")
    if floating and not x.is_floating_point():
        raise ArgumentTypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    return x


def check_finite(x: torch.Tensor, name: str) -> torch.Tensor:
    """Return ``x`` if it holds no NaN or inf, else raise ``ValueError`` naming ``name``.

    Example:
        >>> check_finite(torch.tensor([1.0, float("inf")]), "the upstream gradient dL/dy")
        Traceback (most recent call last):
        ...
        ValueError: the upstream gradient dL/dy contains NaN or inf values
    """
    # One aminmax pass (NaN propagates into it) costs a tenth of isfinite(x).all() on the CPU.
    if x.numel() > 0 and (x.is_floating_point() or x.is_complex()):
        values = x.detach()
        if values.is_complex():
            values = torch.view_as_real(values)
        lo, hi = torch.stack(torch.aminmax(values)).tolist()
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"{name} contains NaN or inf values")
    return x


def check_sense(sense: str) -> str:
    """Return ``sense`` if it is ``"min"`` or ``"max"``, else raise ``ValueError``.

    Example:
        >>> check_sense("max")
        'max'
    """
    if not isinstance(sense, str):
        raise ArgumentTypeError(f"sense must be 'min' or 'max', got {sense!r} of type {type(sense).__name__}")
    if sense not in SENSES:
        raise ValueError(f"sense must be 'min' or 'max', got {sense!r}")
    return sense


def check_costs(w, name: str = "w", ndim: int | None = None) -> torch.Tensor:
    """Validate a batch of costs and return it as a floating-point tensor.

    Integer and boolean tensors are converted to the default float dtype; floating
    tensors keep their dtype. Raises ``ValueError`` naming ``name`` when ``w`` has the
    wrong number of dimensions, is an empty batch, has an empty dimension, is sparse or on
    the ``meta`` device, or holds NaN or inf; :class:`~discgrad.solvers.base.ArgumentTypeError` (a ``TypeError``)
    when it is not a tensor.

    Args:
        w: the costs, shape ``(B, *shape)``.
        name: the argument name used in error messages.
        ndim: the required number of dimensions including the batch dimension, or None.

    Example:
        >>> check_costs(torch.tensor([[1, 2]])).dtype
        torch.float32
        >>> check_costs(torch.tensor([[1.0, float("nan")]]), name="costs")
        Traceback (most recent call last):
        ...
        ValueError: costs contains NaN or inf values
    """
    if not isinstance(w, torch.Tensor) or w.layout != torch.strided or w.device.type == "meta":
        check_tensor(w, name)  # raises, naming the rule
    if ndim is not None and w.dim() != ndim:
        raise ValueError(
            f"{name} must have {ndim} dimensions (batch first), got shape {tuple(w.shape)}"
        )
    if w.dim() == 0:
        raise ValueError(f"{name} must have a batch dimension, got a scalar")
    if w.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(w.shape)})")
    check_tensor(w, name)
    if w.is_complex():
        raise ArgumentTypeError(f"{name} must be real, got dtype {w.dtype}")
    if not w.is_floating_point():
        w = w.to(torch.get_default_dtype())
    return check_finite(w, name)


class Solver:
    """Wrap your own algorithm as a solver with a ``sense``: every estimator then takes it.

    Two modes:

    * batch (default): ``fn`` maps the batch of costs ``(B, *shape)``, a detached tensor, to a
      batch of solutions, for a solver written in torch;
    * ``per_instance=True``: ``fn`` solves one instance at a time and gets its costs as a
      float64 numpy array of shape ``shape``, for a numpy, scipy or Python solver (an
      ``optModel`` of PyEPO, a MIP call). ``processes > 1`` spreads the batch over that many
      worker processes (``fn`` must then be picklable: a module-level function, not a lambda).

    ``fn`` returns argmin (``sense="min"``) or argmax (``sense="max"``) of the linear
    objective ``<w, y>``. It may return a tensor, a numpy array, a list of per-instance
    solutions, or PyEPO's ``(solution, objective)`` pair (per instance, or a batch of
    solutions with a ``(B,)`` vector of objectives); the objective is dropped. The output is
    validated (finite, same batch size) and converted to ``w``'s device and floating dtype.
    The costs handed to ``fn`` are detached: a solver is not differentiable, the estimators
    define its gradient. :func:`check_solver` tests that ``sense`` and the shapes are right.

    Keyword arguments of a call (``solver(w, capacity=c)``, which every estimator passes on:
    ``Identity(solver)(w, capacity=c)``) reach ``fn``: as they are in batch mode; per instance,
    a tensor or array whose first dimension is the batch's is split into its rows (numpy).

    Args:
        fn: the function to wrap.
        sense: ``"min"`` or ``"max"``.
        name: an optional name used in ``repr`` and in error messages.
        per_instance: call ``fn`` once per instance, on a numpy array (see above).
        processes: worker processes for ``per_instance`` (default 1: no workers).

    Example:
        >>> import numpy as np, torch
        >>> from discgrad.solvers import Solver
        >>> argmin = Solver(lambda w: torch.nn.functional.one_hot(w.argmin(-1), w.shape[-1]),
        ...                 sense="min")
        >>> argmin(torch.tensor([[3.0, 1.0, 2.0]]))
        tensor([[0., 1., 0.]])
        >>> def best_item(costs):  # one instance, numpy in, (solution, objective) out
        ...     y = np.eye(len(costs))[np.argmax(costs)]
        ...     return y, float(costs @ y)
        >>> Solver(best_item, sense="max", per_instance=True)(torch.tensor([[3.0, 1.0], [0.0, 2.0]]))
        tensor([[1., 0.],
                [0., 1.]])
        >>> def cheapest_allowed(costs, allowed):  # per-instance context: a mask for each instance
        ...     return np.eye(len(costs))[np.argmin(np.where(allowed, costs, np.inf))]
        >>> solver = Solver(cheapest_allowed, sense="min", per_instance=True)
        >>> solver(torch.tensor([[3.0, 1.0], [0.0, 2.0]]), allowed=torch.tensor([[True, False], [False, True]]))
        tensor([[1., 0.],
                [0., 1.]])

    Book: chapter 1 (the solver contract).
    """

    sense: str = "min"

    def __init__(self, fn: Callable, sense: str, name: str | None = None, per_instance: bool = False,
                 processes: int = 1):
        if not callable(fn):
            raise ArgumentTypeError(f"fn must be callable, got {type(fn).__name__}")
        if name is not None and not isinstance(name, str):
            raise ArgumentTypeError(f"name must be None or a str, got {type(name).__name__}")
        if not isinstance(per_instance, bool):
            raise ArgumentTypeError(f"per_instance must be True or False, got {per_instance!r}")
        self.fn = fn
        self.sense = check_sense(sense)
        self.name = name or getattr(fn, "__name__", type(fn).__name__)
        self.per_instance = per_instance
        self.processes = check_count(processes, "processes")
        if self.processes > 1 and not per_instance:
            raise ValueError("processes > 1 needs per_instance=True (a batch solver gets the whole batch at once)")

    def __call__(self, w: torch.Tensor, **context) -> torch.Tensor:
        w = check_costs(w).detach()
        if self.per_instance:
            y = _stack(self._solve_each(w, context), self.name)
        else:
            y = _solutions(self.fn(w, **context), w.shape[0], self.name)
        if y.dim() == 0 or y.shape[0] != w.shape[0]:
            raise ValueError(
                f"solver {self.name} returned shape {tuple(y.shape)} for a batch of {w.shape[0]}"
            )
        y = y.to(device=w.device, dtype=w.dtype)
        if not torch.isfinite(y).all():
            raise ValueError(f"solver {self.name} returned NaN or inf values")
        return y

    def _solve_each(self, w: torch.Tensor, context: dict) -> list:
        instances = list(w.cpu().double().numpy())
        # per-instance context: a tensor or array whose first dimension is the batch's is split
        per = [{k: _instance(v, i, len(instances)) for k, v in context.items()} for i in range(len(instances))]
        if self.processes == 1:
            return [self.fn(c, **kw) for c, kw in zip(instances, per)]
        import multiprocessing

        with multiprocessing.get_context().Pool(min(self.processes, len(instances))) as pool:
            return pool.starmap(_call_with, [(self.fn, c, kw) for c, kw in zip(instances, per)])

    def __repr__(self) -> str:
        mode = ", per_instance=True" if self.per_instance else ""
        mode += f", processes={self.processes}" if self.processes > 1 else ""
        return f"Solver({self.name}, sense={self.sense!r}{mode})"


def _instance(value, i: int, batch: int):
    """Instance ``i`` of a per-instance context value (a tensor or array with ``batch`` rows,
    given to a numpy solver as a numpy value), else the value itself (shared by the batch)."""
    if isinstance(value, torch.Tensor) and value.dim() >= 1 and value.shape[0] == batch:
        return value[i].detach().cpu().numpy()
    if isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == batch:
        return value[i]
    return value


def _call_with(fn, costs, context):
    """``fn(costs, **context)``, picklable for a worker process."""
    return fn(costs, **context)


def _drop_objective(out, batch: int | None):
    """``out`` without PyEPO's objective: ``(solution, objective)`` -> ``solution``.

    Per instance (``batch=None``) a pair whose second entry is a number is such a return; for a
    batch, a pair whose second entry is a ``(batch,)`` vector and whose first has more than one
    dimension (a list of ``batch`` solutions never looks like that unless ``batch == 2`` and
    the solutions are scalars).
    """
    if isinstance(out, tuple) and len(out) == 2:
        sol, obj = out
        obj_arr = np.asarray(obj.detach().cpu() if isinstance(obj, torch.Tensor) else obj)
        if batch is None and obj_arr.ndim == 0 and obj_arr.dtype.kind in "fiub":
            return sol
        if batch is not None and obj_arr.shape == (batch,) and np.ndim(sol) >= 2:
            return sol
    return out


def _as_tensor(y, name: str) -> torch.Tensor:
    if isinstance(y, torch.Tensor):
        return y
    try:
        return torch.as_tensor(np.asarray(y))
    except (TypeError, ValueError) as err:
        raise ValueError(f"solver {name} returned {type(y).__name__}, which is not an array of numbers: {err}") from None


def _solutions(out, batch: int, name: str) -> torch.Tensor:
    """A batch solver's return as one tensor (a list of per-instance solutions is stacked)."""
    out = _drop_objective(out, batch)
    if isinstance(out, (list, tuple)):
        return _stack(out, name)
    return _as_tensor(out, name)


def _stack(solutions, name: str) -> torch.Tensor:
    """Per-instance solutions (tensors, arrays or ``(solution, objective)`` pairs) as one batch."""
    parts = [_as_tensor(_drop_objective(s, None), name) for s in solutions]
    shapes = {tuple(p.shape) for p in parts}
    if len(shapes) != 1:
        raise ValueError(f"solver {name} returned solutions of different shapes {sorted(shapes)}")
    return torch.stack(parts)


def check_solver(solver, w: torch.Tensor, trials: int = 8, atol: float = 1e-6) -> None:
    """Check that a solver returns the costs' shape and optimises in its declared ``sense``.

    For every instance ``i`` of ``w`` and ``trials - 1`` random rescalings and perturbations of
    it, the solver's answer ``y_j`` to each cost vector ``c_j`` must be at least as good for
    ``c_j`` as any other answer ``y_k`` it gave: ``<c_j, y_j> <= <c_j, y_k>`` for
    ``sense="min"`` (``>=`` for ``"max"``), up to ``atol`` times the objective's scale. A
    solver wrapped with the wrong ``sense`` fails this at once (its answers are the *worst*
    ones); an estimator would otherwise train it, silently, towards the wrong solutions.

    Raises:
        ValueError: naming the first failure (shape, batch size, or an instance on which
            another answer beats the solver's own).

    Example:
        >>> import torch
        >>> from discgrad.solvers import Solver, TopK
        >>> check_solver(TopK(2), torch.randn(4, 6))  # passes: returns None
        >>> wrong = Solver(lambda w: TopK(2)(w), sense="min")  # top-k is a *max* solver
        >>> check_solver(wrong, torch.randn(4, 6))
        Traceback (most recent call last):
        ...
        ValueError: solver has sense 'min' but on instance 0 another of its own answers has a better objective (...); is its sense 'max'?

    Book: chapter 1 (the solver contract).
    """
    w = check_costs(w)
    trials = check_count(trials, "trials", low=2)
    sense = check_sense(getattr(solver, "sense", None))
    generator = torch.Generator().manual_seed(0)
    for i in range(w.shape[0]):
        c0 = w[i].detach().cpu().double()
        scale = float(c0.abs().mean()) or 1.0
        noise = torch.randn((trials - 1, *c0.shape), generator=generator, dtype=torch.float64) * scale
        costs = torch.cat([c0[None], c0[None] + noise]).to(dtype=w.dtype, device=w.device)
        y = solver(costs)
        if not isinstance(y, torch.Tensor) or y.shape != costs.shape:
            got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ValueError(f"solver returned shape {got} for costs of shape {tuple(costs.shape)}; "
                             "the estimators need a solution of the same shape as the costs")
        c, y = costs.reshape(trials, -1).double().cpu(), y.reshape(trials, -1).double().cpu()
        obj = c @ y.T  # obj[j, k] = <c_j, y_k>
        own = obj.diagonal()[:, None]
        better = obj < own if sense == "min" else obj > own
        tol = atol * max(float(obj.abs().max()), 1.0)
        gap = (own - obj) if sense == "min" else (obj - own)
        if bool((better & (gap > tol)).any()):
            other = "max" if sense == "min" else "min"
            raise ValueError(f"solver has sense {sense!r} but on instance {i} another of its own answers has a "
                             f"better objective (by up to {float(gap.max()):.3g}); is its sense {other!r}?")

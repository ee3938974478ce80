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
    """Wrap any function ``f(w) -> y`` on a batch as a solver with a ``sense``.

    Use this to plug your own combinatorial algorithm into every estimator of the book:
    ``f`` must map a batch of costs ``(B, *shape)`` to a batch of solutions with the same
    batch size, and return argmin (``sense="min"``) or argmax (``sense="max"``) of the
    linear objective ``<w, y>``. The output is validated (finite, same batch size) and
    converted to ``w``'s device and floating dtype.

    Args:
        fn: the function to wrap.
        sense: ``"min"`` or ``"max"``.
        name: an optional name used in ``repr``.

    Example:
        >>> import torch
        >>> from discgrad.solvers import Solver
        >>> argmin = Solver(lambda w: torch.nn.functional.one_hot(w.argmin(-1), w.shape[-1]),
        ...                 sense="min")
        >>> argmin(torch.tensor([[3.0, 1.0, 2.0]]))
        tensor([[0., 1., 0.]])
    """

    sense: str = "min"

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], sense: str, name: str | None = None):
        if not callable(fn):
            raise ArgumentTypeError(f"fn must be callable, got {type(fn).__name__}")
        if name is not None and not isinstance(name, str):
            raise ArgumentTypeError(f"name must be None or a str, got {type(name).__name__}")
        self.fn = fn
        self.sense = check_sense(sense)
        self.name = name or getattr(fn, "__name__", type(fn).__name__)

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        w = check_costs(w)
        y = self.fn(w)
        if not isinstance(y, torch.Tensor):
            y = torch.as_tensor(y)
        if y.dim() == 0 or y.shape[0] != w.shape[0]:
            raise ValueError(
                f"solver {self.name} returned shape {tuple(y.shape)} for a batch of {w.shape[0]}"
            )
        y = y.to(device=w.device, dtype=w.dtype)
        if not torch.isfinite(y).all():
            raise ValueError(f"solver {self.name} returned NaN or inf values")
        return y

    def __repr__(self) -> str:
        return f"Solver({self.name}, sense={self.sense!r})"

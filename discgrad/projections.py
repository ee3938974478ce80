"""Cost projections that exploit a solver's invariances (Sahoo et al. 2023, sec. 3.4).

A linear solver ``y(w) = argmin <w, y>`` returns the same solution for ``w`` and ``c * w``
(any ``c > 0``), and, when every feasible ``y`` has the same sum (k-hot vectors,
permutation matrices, ranks), for ``w`` and ``w + c * 1``. Projecting the costs onto a set
that removes these directions before the solver changes nothing in the forward pass, but
the backward pass of :class:`discgrad.estimators.Identity` then goes through the
projection's Jacobian, which removes the gradient components the solver cannot respond
to. ``P_mean`` thereby stops the drift of the costs along ``1`` that a gradient with a
non-zero mean causes. No projection by itself keeps the costs from collapsing: chapter 4
shows the costs collapsing with ``P_mean`` under weight decay, and ``P_norm`` and ``P_std``
normalise what the solver sees but leave the raw costs free to shrink (its exercise 3).
There it is a margin (``Identity(..., noise=alpha)``) that holds their scale.

Every projection acts per instance: over all non-batch dimensions of ``w`` of shape
``(B, *shape)``, and is differentiable (autograd goes through it). ``w`` must be a dense
floating tensor with finite values and no empty dimension; anything else raises
``ValueError`` (``TypeError`` for a wrong type) naming the argument.

Per instance, not per slice: ``TopK(k, dim=1)`` on ``(B, n, m)`` costs solves ``m`` separate
selections, and each is invariant to its own shift, but ``P_mean`` removes only the mean of
the whole instance. For such a solver pass a callable that projects per slice, e.g.
``Identity(TopK(k, dim=1), projection=lambda w: w - w.mean(dim=1, keepdim=True))``
(``tests/test_projections.py`` checks that it removes every slice's shift and ``P_mean``
does not).

The eps floor: ``P_norm`` and ``P_std`` divide by ``max(||w||, eps)`` with ``eps = EPS =
1e-4`` by default. An instance whose (centred) norm is below ``eps`` is (near-)constant:
a dead ReLU layer, a bias-only output. Dividing it by its own tiny norm would blow up
rounding noise into a unit vector and give a gradient of order ``1 / ||w||`` (1e12 with
the common ``1e-12``), enough for one such instance to wreck a training step; divided by
``eps`` instead, its gradient is at most ``1 / eps`` times the upstream one. Above the floor
nothing changes, values and gradients bit for bit.

Book: chapter 4 (Projections and cost collapse); identity itself is chapter 3.
"""
from __future__ import annotations

from typing import Callable

import torch

from discgrad.solvers.base import ArgumentTypeError, check_finite, check_real, check_tensor

__all__ = ["P_mean", "P_norm", "P_std", "P_plane", "get_projection", "PROJECTIONS"]

#: the default eps floor of :func:`P_norm` and :func:`P_std` (see the module docstring)
EPS = 1e-4


def _instance_dims(w: torch.Tensor, name: str = "w") -> tuple[int, ...]:
    """Check ``w`` (dense, floating, finite, ``(B, *shape)``) and return its instance dims."""
    check_tensor(w, name)
    if w.dim() < 2:
        raise ValueError(f"{name} (costs) must have shape (B, *shape) with at least 2 dims, got {tuple(w.shape)}")
    if not w.is_floating_point():
        raise ArgumentTypeError(f"{name} must be a floating-point tensor, got dtype {w.dtype}")
    check_finite(w, name)
    return tuple(range(1, w.dim()))


def P_mean(w: torch.Tensor) -> torch.Tensor:
    """Subtract each instance's mean: the projection onto the hyperplane ``<w, 1> = 0``.

    .. math:: P_{mean}(w) = w - \\tfrac{1}{n} \\langle w, 1 \\rangle 1

    Args:
        w: costs, shape ``(B, *shape)``; ``n`` is the number of entries of one instance.

    Returns:
        a tensor of the same shape whose entries sum to zero per instance.

    Example:
        >>> P_mean(torch.tensor([[1.0, 2.0, 6.0]]))
        tensor([[-2., -1.,  3.]])
    """
    return _centre(w, _instance_dims(w))


def _centre(w: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    return w - w.mean(dim=dims, keepdim=True)


def _normalise(w: torch.Tensor, dims: tuple[int, ...], eps: float) -> torch.Tensor:
    norm = torch.linalg.vector_norm(w, dim=dims, keepdim=True)
    small = norm.detach() < eps
    if not bool(small.any()):
        return w / norm.clamp_min(eps)  # the common case: exactly w / ||w||
    # Some instance is below the floor: divide it by eps, with its norm out of the graph
    # (the norm's second derivative at 0 is NaN, which a clamp would multiply by 0: NaN).
    norm = torch.linalg.vector_norm(w.masked_fill(small, 1.0), dim=dims, keepdim=True)
    return w / norm.masked_fill(small, eps)


def P_norm(w: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Divide each instance by its Euclidean norm: the projection onto the unit sphere.

    .. math:: P_{norm}(w) = w / \\max(\\lVert w \\rVert_2, \\epsilon)

    (Sahoo et al. 2023, sec. 3.4.) The eps floor: an instance with ``||w|| < eps`` is
    divided by ``eps`` instead, so the zero vector maps to itself, nothing is ever NaN, and
    the Jacobian is bounded everywhere, by ``1 / eps`` in operator norm (``1 / ||w||``
    above the floor).

    Args:
        w: costs, shape ``(B, *shape)``.
        eps: the smallest norm divided by, a finite number ``> 0``; default
            :data:`EPS` ``= 1e-4``.

    Example:
        >>> P_norm(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
        tensor([[0.6000, 0.8000],
                [0.0000, 0.0000]])
    """
    eps = check_real(eps, "eps", low=0, strict=True)
    return _normalise(w, _instance_dims(w), eps)


def P_std(w: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Centre, then normalise: ``P_std(w) = P_norm(P_mean(w))``.

    The result has mean zero and unit Euclidean norm per instance (not unit standard
    deviation: the two differ by the constant factor ``sqrt(n)``, which no linear solver
    sees). A (near-)constant instance, whose centred norm is below ``eps``, is centred and
    divided by ``eps``: a constant maps to (about) zero with a gradient bounded by
    ``1 / eps`` (see :func:`P_norm`).

    Args:
        w: costs, shape ``(B, *shape)``.
        eps: passed to :func:`P_norm`; default :data:`EPS` ``= 1e-4``.

    Example:
        >>> P_std(torch.tensor([[1.0, 3.0]]))
        tensor([[-0.7071,  0.7071]])
    """
    eps = check_real(eps, "eps", low=0, strict=True)
    dims = _instance_dims(w)
    return _normalise(_centre(w, dims), dims, eps)


def P_plane(w: torch.Tensor, a: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Project onto the hyperplane orthogonal to ``a``: ``w - <w, a> / <a, a> * a``.

    ``P_plane(w, torch.ones_like(w))`` equals :func:`P_mean`. Use it for a solver whose
    feasible solutions all satisfy ``<a, y> = const`` for another direction ``a``.

    Args:
        w: costs, shape ``(B, *shape)``.
        a: the normal direction, shape ``shape`` (shared by the batch) or ``(B, *shape)``.
        eps: where ``<a, a> < eps``, it is replaced by ``eps``: a zero normal leaves
            ``w`` unchanged instead of producing NaN. A finite number ``> 0``.

    Example:
        >>> P_plane(torch.tensor([[1.0, 2.0]]), torch.tensor([1.0, 0.0]))
        tensor([[0., 2.]])
    """
    dims = _instance_dims(w)
    eps = check_real(eps, "eps", low=0, strict=True)
    check_tensor(a, "a")
    if a.shape != w.shape[1:] and a.shape != w.shape:
        raise ValueError(
            f"a must have shape {tuple(w.shape[1:])} or {tuple(w.shape)}, got {tuple(a.shape)}"
        )
    a = check_finite(a.to(device=w.device, dtype=w.dtype), "a").expand_as(w)
    coef = (w * a).sum(dim=dims, keepdim=True) / (a * a).sum(dim=dims, keepdim=True).clamp_min(eps)
    return w - coef * a


PROJECTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "mean": P_mean,
    "norm": P_norm,
    "std": P_std,
}


def get_projection(projection) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Resolve ``None``, a name in ``{"mean", "norm", "std"}``, or a callable.

    Raises ``ValueError`` for an unknown name or a non-callable object.

    Example:
        >>> get_projection("mean") is P_mean, get_projection(None) is None
        (True, True)
    """
    if projection is None or callable(projection):
        return projection
    if not isinstance(projection, str):
        raise ArgumentTypeError(f"projection must be None, a name in {sorted(PROJECTIONS)} or a callable, "
                                f"got {type(projection).__name__}")
    if projection in PROJECTIONS:
        return PROJECTIONS[projection]
    raise ValueError(
        f"unknown projection {projection!r}: use None, one of {sorted(PROJECTIONS)}, or a callable"
    )

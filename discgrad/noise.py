"""Noise distributions used by the estimators: margin noise, Gumbel, Sum-of-Gamma.

Every sampler takes ``shape`` and keyword-only ``device``, ``dtype`` and ``generator``. A
``torch.Generator`` makes draws reproducible; when it lives on another device than
``device`` (a CPU generator for CUDA costs, say), the sample is drawn on the generator's
device and moved, so any generator works with any device.

Precision: noise is computed in at least float32 and then cast to ``dtype`` (float64 is
drawn in float64). Drawn directly in bfloat16, a uniform has only 8 bits: Gumbel noise
made from it has mean 0.551 instead of Euler's 0.577 and about 500 distinct values.

Bad arguments raise ``ValueError`` (``TypeError`` for a wrong type) naming the argument:
a negative or non-integer size in ``shape``, a ``dtype`` that is not floating, the ``meta``
device, a ``generator`` that is not a ``torch.Generator``, an infinite or negative scale.

Book: chapter 2 (the baseline zoo) and chapter 3 (the noise margin of Identity).
"""
from __future__ import annotations

import math
import numbers

import torch

from discgrad.solvers.base import ArgumentTypeError, check_count, check_real

__all__ = ["margin_noise", "gumbel_noise", "sum_of_gamma_noise", "standard_gamma"]


def _where(device, generator):
    """The device to draw on: the generator's, if one is given (both checked)."""
    try:
        device = torch.device("cpu") if device is None else torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be None or a torch device, got {device!r}: {err}") from None
    if device.type == "meta":
        raise ValueError("device must hold values: noise cannot be drawn on the meta device")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ArgumentTypeError(f"generator must be None or a torch.Generator, got {type(generator).__name__}")
    return generator.device if generator is not None else device


def _shape(shape) -> tuple[int, ...]:
    """``shape`` as a tuple of sizes ``>= 0``: an integer or a sequence of integers."""
    sizes = (shape,) if isinstance(shape, numbers.Integral) else shape
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise ArgumentTypeError(f"shape must be an integer or a sequence of integers, got {shape!r}") from None
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral):
            raise ArgumentTypeError(f"shape must hold integers, got {shape!r}")
        if size < 0:
            raise ValueError(f"shape must hold sizes >= 0, got {shape!r}")
    return tuple(int(size) for size in sizes)


def _dtype(dtype) -> torch.dtype:
    """The requested floating dtype (default: torch's default dtype)."""
    if dtype is None:
        return torch.get_default_dtype()
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ArgumentTypeError(f"dtype must be None or a floating torch.dtype, got {dtype!r}")
    return dtype


def _draw_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype noise is computed in: ``dtype``, but never below float32.

    Example:
        >>> _draw_dtype(torch.bfloat16), _draw_dtype(torch.float64)
        (torch.float32, torch.float64)
    """
    return torch.promote_types(dtype, torch.float32)


def margin_noise(shape, alpha: float, *, device=None, dtype=None, generator=None) -> torch.Tensor:
    """Independent random signs times ``alpha / 2``: ``xi ~ U{-alpha/2, +alpha/2}^n``.

    The noise margin of Identity (Sahoo et al. 2023, sec. 3.6): added to the costs in
    training, it makes a solution that wins by less than the margin unstable, which keeps
    the learned costs from collapsing onto a decision boundary.

    Args:
        shape: the output shape.
        alpha: the margin, a finite number ``>= 0``; every entry is ``+alpha/2`` or
            ``-alpha/2`` (rounded once to ``dtype``).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> margin_noise((2, 3), 1.0, generator=g).abs().unique()
        tensor([0.5000])
    """
    alpha = check_real(alpha, "alpha", low=0)
    dtype, shape = _dtype(dtype), _shape(shape)
    at = _where(device, generator)
    signs = torch.randint(0, 2, shape, device=at, generator=generator).to(_draw_dtype(dtype)) * 2 - 1
    return (signs * (alpha / 2)).to(device=device or "cpu", dtype=dtype)


def gumbel_noise(shape, *, device=None, dtype=None, generator=None) -> torch.Tensor:
    """Standard Gumbel noise, ``G = -log(-log U)`` with ``U ~ Uniform(0, 1)``.

    ``argmax(w + G)`` is a sample of the categorical distribution ``softmax(w)`` (the
    Gumbel-max trick); its density is ``exp(-(z + exp(-z)))``. Drawn in float32 (float64
    for float64) and cast to ``dtype``.

    Example:
        >>> gumbel_noise((4, 5)).shape
        torch.Size([4, 5])
    """
    dtype, shape = _dtype(dtype), _shape(shape)
    at = _where(device, generator)
    work = _draw_dtype(dtype)  # bfloat16 uniforms would bias the noise: draw in float32, then cast
    u = torch.rand(shape, device=at, dtype=work, generator=generator)
    # keep U away from 0 and 1, where -log(-log U) is infinite
    tiny = torch.finfo(work).tiny
    u = u.clamp(tiny, 1.0 - torch.finfo(work).eps)
    return (-torch.log(-torch.log(u))).to(device=device or "cpu", dtype=dtype)


def standard_gamma(shape, concentration: float, *, device=None, dtype=None, generator=None) -> torch.Tensor:
    """Gamma(concentration, rate=1) samples that honour a ``torch.Generator``.

    Marsaglia and Tsang's (2000) rejection method for ``concentration >= 1``, boosted by
    ``Gamma(a) = Gamma(a + 1) * U^(1/a)`` below 1. (``torch.distributions.Gamma`` takes no
    generator, and reproducible noise is what the IMLE tests need.) Drawn in float64, then
    cast to ``dtype``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = standard_gamma((20000,), 2.0, generator=g, dtype=torch.float64)
        >>> bool(abs(x.mean() - 2.0) < 0.05)   # the mean of Gamma(2, 1) is 2
        True
    """
    concentration = check_real(concentration, "concentration", low=0, strict=True)
    shape, dtype = _shape(shape), _dtype(dtype)
    at = _where(device, generator)
    a = concentration + 1.0 if concentration < 1 else concentration
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    n = math.prod(shape)
    out = torch.empty(n, device=at, dtype=torch.float64)
    todo = torch.arange(n, device=at)
    while todo.numel() > 0:  # accepts > 95 % of proposals, so this loop runs a few times
        x = torch.randn(todo.numel(), device=at, dtype=torch.float64, generator=generator)
        u = torch.rand(todo.numel(), device=at, dtype=torch.float64, generator=generator)
        v = (1.0 + c * x) ** 3
        ok = (v > 0) & (torch.log(u) < 0.5 * x * x + d - d * v + d * torch.log(v.clamp_min(1e-300)))
        out[todo[ok]] = (d * v)[ok]
        todo = todo[~ok]
    out = out.reshape(shape)
    if concentration < 1:
        u = torch.rand(shape, device=at, dtype=torch.float64, generator=generator)
        out = out * u.pow(1.0 / concentration)
    return out.to(device=device or "cpu", dtype=dtype)


def sum_of_gamma_noise(shape, k: int = 1, tau: float = 1.0, s: int = 10, *, device=None, dtype=None,
                       generator=None) -> torch.Tensor:
    """Sum-of-Gamma noise of I-MLE (Niepert et al. 2021, the Sum-of-Gamma perturbations).

    .. math:: \\epsilon = \\frac{\\tau}{k} \\Big( \\sum_{i=1}^{s} \\mathrm{Gamma}(1/k, \\mathrm{rate}=i/k) - \\log s \\Big)

    The sum of ``k`` independent copies is (as ``s -> inf``) a Gumbel with scale ``tau``;
    so perturbing each of ``n`` scores with one copy and taking the top-k approximates
    sampling a k-subset. Exact moments for finite ``s``: mean ``(tau/k)(H_s - log s)`` and
    variance ``(tau^2/k) sum_{i<=s} 1/i^2`` (``H_s`` the harmonic number).

    Args:
        shape: the output shape.
        k: the subset size the noise is designed for (``k = 1`` gives approximately Gumbel),
            an integer ``>= 1``.
        tau: temperature (scale), a finite number ``> 0``.
        s: number of Gamma terms, an integer ``>= 1``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> sum_of_gamma_noise((2, 5), k=2, generator=g).shape
        torch.Size([2, 5])
    """
    k, s = check_count(k, "k"), check_count(s, "s")
    tau = check_real(tau, "tau", low=0, strict=True)
    dtype = _dtype(dtype)
    at = _where(device, generator)
    terms = (s, *_shape(shape))
    # All s terms in one draw: Gamma(1/k, rate=i/k) = (k/i) * Gamma(1/k, rate=1).
    if generator is None:  # torch's own sampler is fastest but takes no generator
        gammas = torch.distributions.Gamma(torch.full(terms, 1.0 / k, device=at, dtype=torch.float64),
                                           torch.ones((), device=at, dtype=torch.float64)).sample()
    else:
        gammas = standard_gamma(terms, 1.0 / k, device=at, dtype=torch.float64, generator=generator)
    scale = k / torch.arange(1, s + 1, device=at, dtype=torch.float64)
    total = (gammas * scale.reshape(s, *[1] * (len(terms) - 1))).sum(0)
    eps = (tau / k) * (total - math.log(s))
    return eps.to(device=device or "cpu", dtype=dtype)

"""Perturbed optimizers and the Fenchel-Young loss (Berthet et al. 2020, NeurIPS).

Book: chapter 2.
"""
from __future__ import annotations

import torch
from torch import nn

from discgrad.estimators._base import (UPSTREAM, SolverLayer, check_finite, check_input, check_n_samples,
                                       check_positive, check_tensor)
from discgrad.noise import _draw_dtype, gumbel_noise

NOISES = ("normal", "gumbel")


def _draw(layer, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_samples`` noise draws ``Z`` for the batch ``w`` and ``grad nu(Z)``.

    ``mu(z) ~ exp(-nu(z))``: normal ``nu(z) = |z|^2 / 2``, ``grad nu = z``; Gumbel
    ``nu(z) = z + exp(-z)``, ``grad nu = 1 - exp(-z)``.
    """
    shape = (layer.n_samples, *w.shape)
    if layer.noise == "normal":
        at = layer.generator.device if layer.generator is not None else w.device
        z = torch.randn(shape, dtype=_draw_dtype(w.dtype), device=at, generator=layer.generator)
        z = z.to(device=w.device, dtype=w.dtype)  # drawn in float32 at least, as in discgrad.noise
        return z, z
    z = gumbel_noise(shape, device=w.device, dtype=w.dtype, generator=layer.generator)
    return z, 1 - torch.exp(-z)


def _solve_perturbed(layer, w: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``y(w + sign * sigma * Z)`` for all samples in ONE solver call: ``(n, B, *shape)``."""
    costs = w.detach().unsqueeze(0) + layer.sign * layer.sigma * z
    try:
        ys = layer._solve(costs.flatten(0, 1), copies=layer.n_samples)
    except ValueError as err:
        raise ValueError(f"{err} (the {layer.n_samples} noise samples of w with shape "
                         f"{tuple(w.shape)} are stacked into one batch)") from None
    return ys.view(z.shape)


class _PerturbedFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, layer, exact):
        z, grad_nu = _draw(layer, w)
        layer.last_noise = z
        ys = _solve_perturbed(layer, w, z)
        ctx.save_for_backward(ys, grad_nu)
        ctx.sign, ctx.sigma = layer.sign, layer.sigma
        return layer._solve(w) if exact else ys.mean(dim=0)

    @staticmethod
    def backward(ctx, grad_y):
        ys, grad_nu = ctx.saved_tensors
        check_finite(grad_y, UPSTREAM)
        # J^T g = E[<g, y(w + sigma Z)> grad nu(Z)] / sigma, per instance
        inner = (grad_y.unsqueeze(0) * ys).flatten(2).sum(dim=2)          # (n, B)
        inner = inner.view(*inner.shape, *([1] * (ys.dim() - 2)))
        return ctx.sign * (inner * grad_nu).mean(dim=0) / ctx.sigma, None, None


class Perturbed(SolverLayer):
    """The perturbed optimizer ``y_sigma(w) = E[y(w + sigma Z)]`` and its Monte-Carlo Jacobian.

    For a max solver (Berthet et al. 2020, eq. 1 and Prop. 3.1, with ``mu(z) ~ exp(-nu(z))``):

    .. math:: y_\\sigma(w) = \\mathbb{E}[y(w + \\sigma Z)], \\qquad J_w y_\\sigma(w) = \\tfrac{1}{\\sigma}\\,\\mathbb{E}\\big[y(w + \\sigma Z)\\, \\nabla\\nu(Z)^\\top\\big]

    with ``grad nu(Z) = Z`` for normal noise and ``1 - exp(-Z)`` for Gumbel noise. With
    Gumbel noise and a one-hot argmax, ``y_sigma(w) = softmax(w / sigma)`` exactly.
    Both expectations are estimated from the same ``n_samples`` draws, all solved in one
    batched solver call; the backward pass reuses them.

    Min solver: a min solver on ``w`` is a max solver on ``-w``, so the solver sees
    ``w - sigma Z`` and the Jacobian changes sign: in general the costs are
    ``w + sign * sigma * Z`` and ``J = sign * E[y grad nu(Z)^T] / sigma``. (For normal
    noise ``-Z`` and ``Z`` have the same law; for Gumbel noise this choice makes an argmin
    solver's ``y_sigma`` the softmin ``softmax(-w / sigma)``.)

    Forward output: in training mode the Monte-Carlo mean (a point in the convex hull, not
    a vertex). In eval mode the exact ``solver(w)``; if a gradient is still required
    there, the Monte-Carlo Jacobian is computed as in training.

    Args:
        solver: a solver with ``sense`` in ``{"min", "max"}``, returning the costs' shape.
        sigma: the noise scale ``> 0``.
        n_samples: the number of noise draws ``>= 1``.
        noise: ``"normal"`` or ``"gumbel"``.
        generator: an optional ``torch.Generator``; the last draw ``Z``, shape
            ``(n_samples, B, *shape)``, is kept in ``last_noise``.

    Shape:
        ``w``: ``(B, *shape)``; output ``(B, *shape)``.

    Extra solver calls: ``n_samples`` (the batched call on ``n_samples`` copies counts as
    ``n_samples`` in ``solver_calls``; the training forward makes no unperturbed call, the
    eval forward makes one, plus ``n_samples`` if a gradient is required).

    Example:
        >>> import torch
        >>> from discgrad.solvers import TopK
        >>> from discgrad.estimators import Perturbed
        >>> argmax = TopK(1)  # one-hot argmax, a max solver
        >>> layer = Perturbed(argmax, sigma=1.0, n_samples=20000, noise="gumbel",
        ...                   generator=torch.Generator().manual_seed(0))
        >>> w = torch.tensor([[0.0, 1.0, 2.0]])
        >>> (layer(w) - torch.softmax(w, -1)).abs().max() < 0.02
        tensor(True)
        >>> layer.solver_calls
        20000
    """

    def __init__(self, solver, sigma: float, n_samples: int, noise: str = "normal",
                 generator: torch.Generator | None = None):
        super().__init__(solver, generator)
        self.sigma = check_positive("sigma", sigma)
        self.n_samples = check_n_samples(n_samples)
        if not isinstance(noise, str) or noise not in NOISES:
            raise ValueError(f"unknown noise {noise!r}: use one of {NOISES}")
        self.noise = noise

    def forward(self, w: torch.Tensor, **context) -> torch.Tensor:
        w = check_input(w)
        self.context = context
        if not self.training and not (torch.is_grad_enabled() and w.requires_grad):
            return self._solve(w)
        return _PerturbedFn.apply(w, self, not self.training)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, sigma={self.sigma}, n_samples={self.n_samples}, noise={self.noise!r}"


class FenchelYoungLoss(nn.Module):
    """The perturbed Fenchel-Young loss (Berthet et al. 2020, sec. 4), up to a constant.

    For a max solver and scores ``w``, with ``F_sigma(w) = E[max_y <w + sigma Z, y>]``:

    .. math:: \\ell(w; y^*) = F_\\sigma(w) - \\langle w, y^* \\rangle, \\qquad \\nabla_w \\ell = y_\\sigma(w) - y^*

    (the full loss adds ``Omega(y*)``, which does not depend on ``w``, so it is left out:
    the value can be negative, the gradient is exact). ``F_sigma`` and ``y_sigma`` are
    Monte-Carlo estimates from ``n_samples`` draws solved in one batched call; the
    gradient is the estimate ``mean_s y(w + sigma Z_s) - y*``, the loss' own gradient, not a
    replacement. For a min solver (a max solver on ``-w``) the solver sees
    ``w - sigma Z`` and the gradient is ``y* - y_sigma(w)``.

    Reduction: the per-instance loss is averaged over the batch, so the gradient of
    instance ``b`` is ``sign * (y_sigma(w_b) - y*_b) / B``. The noise is always on (the loss
    is defined by it), also in eval mode.

    Args:
        solver: a solver with ``sense`` in ``{"min", "max"}``, returning the costs' shape.
        sigma: the noise scale ``> 0``.
        n_samples: the number of noise draws ``>= 1``.
        noise: ``"normal"`` or ``"gumbel"``.
        generator: an optional ``torch.Generator``; the last draw is kept in ``last_noise``.

    Shape:
        ``w`` and ``y_true``: ``(B, *shape)``; output: a scalar.

    Example:
        >>> import torch
        >>> from discgrad.solvers import TopK
        >>> from discgrad.estimators import FenchelYoungLoss
        >>> argmax = TopK(1)  # one-hot argmax, a max solver
        >>> fy = FenchelYoungLoss(argmax, sigma=1.0, n_samples=10, generator=torch.Generator().manual_seed(0))
        >>> w = torch.zeros(2, 3, requires_grad=True)
        >>> fy(w, torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])).backward()
        >>> w.grad.sum(dim=1)  # (y_sigma - y*) / B sums to 0 per instance
        tensor([0., 0.])
    """

    #: it returns a loss, not a solution: :class:`discgrad.experiments.methods.MethodLayer`
    #: trains with it in place of the task's loss
    is_loss = True

    def __init__(self, solver, sigma: float, n_samples: int = 1, noise: str = "normal",
                 generator: torch.Generator | None = None):
        super().__init__()
        self.layer = Perturbed(solver, sigma, n_samples, noise, generator)

    @property
    def solver_calls(self) -> int:
        return self.layer.solver_calls

    @solver_calls.setter
    def solver_calls(self, value: int) -> None:
        self.layer.solver_calls = value

    @property
    def last_noise(self):
        return self.layer.last_noise

    def forward(self, w: torch.Tensor, y_true: torch.Tensor, **context) -> torch.Tensor:
        w = check_input(w)
        self.layer.context = context
        check_tensor(y_true, "y_true")
        if y_true.shape != w.shape:
            raise ValueError(f"y_true must have the shape of w {tuple(w.shape)}, got {tuple(y_true.shape)}")
        y_true = check_finite(y_true.to(device=w.device, dtype=w.dtype), "y_true")
        layer, s = self.layer, self.layer.sign
        z, _ = _draw(layer, w)
        layer.last_noise = z
        ys = _solve_perturbed(layer, w, z)                                    # (n, B, *shape), constant
        # <theta + sigma Z, y_s> with theta = sign * w, i.e. sign * <perturbed costs, y_s>
        perturbed = w.unsqueeze(0) + s * layer.sigma * z
        f_sigma = (s * perturbed * ys).flatten(2).sum(dim=2).mean(dim=0)      # (B,)
        linear = (s * w * y_true).flatten(1).sum(dim=1)                       # (B,)
        return (f_sigma - linear).mean()

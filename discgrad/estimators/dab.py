"""Differentiable approximation bridges, DAB (Ramapuram and Webb 2019, arXiv:1905.03658).

Book: chapter 5.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from discgrad.estimators._base import ArgumentTypeError, check_finite, check_positive, check_tensor, straight_through


class DAB(nn.Module):
    """Exact ``hard_fn(x)`` forward; the gradient of a learned bridge network backward.

    .. math:: y = h(x), \\qquad \\frac{dL}{dx} = \\Big(\\frac{\\partial b_\\phi(x)}{\\partial x}\\Big)^{\\!\\top} \\frac{dL}{dy},
              \\qquad \\mathcal{L}_{bridge} = \\lambda\\, \\tfrac{1}{B}\\textstyle\\sum_b \\lVert b_\\phi(x_b) - h(x_b) \\rVert^2

    ``h`` is any non-differentiable function of a tensor (signum, sort, top-k, a solver);
    the bridge ``b_phi`` is a small network trained to imitate it (Ramapuram and Webb
    2019). The task gradient reaches ``x`` through the bridge's vector-Jacobian product
    and never reaches the bridge's parameters; the bridge learns only from its own loss.

    Every forward with gradients enabled stores that loss in ``layer.bridge_loss``
    (``None`` before the first forward, and after a forward under ``torch.no_grad()``, which
    skips the bridge: at inference the layer costs one call of ``hard_fn`` and nothing else): ``weight`` times the squared error summed over each instance and averaged
    over the batch, with ``x`` detached, so its gradient reaches only the bridge. Add it to
    your loss, or the bridge never learns:
    ``loss = task_loss + layer.bridge_loss``. If the layer runs several times per step,
    ``bridge_loss`` holds the last call's (add each one if all should count).

    Implementation: two bridge evaluations per forward with gradients enabled, one with
    detached parameters (the path to ``x``) and one on detached ``x`` (the bridge loss);
    a bridge with batch-norm therefore updates its running statistics twice.

    Args:
        hard_fn: the exact function, ``x -> h(x)`` with the same batch size; evaluated
            without gradient. It may return a numpy array (a numpy or scipy hard function).
        bridge: an ``nn.Module`` with ``bridge(x)`` of the shape of ``h(x)``.
        weight: the bridge loss weight ``lambda > 0``.

    Shape:
        ``x``: ``(B, *)``, finite, no dimension empty; output: ``h(x)``, cast to ``x``'s
        dtype and device. A NaN or inf in ``x`` or in the upstream gradient ``dL/dy`` raises
        ``ValueError`` naming that tensor.

    Extra solver calls: 0 (``solver_calls`` counts ``hard_fn`` calls, 1 per forward).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from discgrad.estimators import DAB
        >>> layer = DAB(torch.sign, nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 4)), weight=1.0)
        >>> layer.bridge_loss is None
        True
        >>> x = torch.randn(8, 4, requires_grad=True)
        >>> y = layer(x)
        >>> torch.equal(y, torch.sign(x))
        True
        >>> task_loss = (y - 1).pow(2).mean()
        >>> (task_loss + layer.bridge_loss).backward()
        >>> x.grad is not None
        True
    """

    def __init__(self, hard_fn, bridge: nn.Module, weight: float = 1.0):
        super().__init__()
        if not callable(hard_fn):
            raise ArgumentTypeError(f"hard_fn must be callable, got {type(hard_fn).__name__}")
        if not isinstance(bridge, nn.Module):
            raise ArgumentTypeError(f"bridge must be an nn.Module, got {type(bridge).__name__}")
        self.hard_fn = hard_fn
        self.bridge = bridge
        self.weight = check_positive("weight", weight)
        self.solver_calls = 0
        self.bridge_loss: torch.Tensor | None = None

    def _hard(self, x: torch.Tensor, context: dict) -> torch.Tensor:
        with torch.no_grad():
            y = self.hard_fn(x.detach(), **context)
        self.solver_calls += 1
        if isinstance(y, np.ndarray):
            y = torch.from_numpy(y)
        if not isinstance(y, torch.Tensor) or y.dim() == 0 or y.shape[0] != x.shape[0]:
            got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ValueError(f"hard_fn returned shape {got} for input of shape {tuple(x.shape)}")
        return y.to(device=x.device, dtype=x.dtype if x.is_floating_point() else torch.get_default_dtype())

    def _check(self, soft: torch.Tensor, hard: torch.Tensor) -> None:
        if soft.shape != hard.shape:
            raise ValueError(
                f"the bridge returned shape {tuple(soft.shape)} but hard_fn returned shape {tuple(hard.shape)}"
            )

    def forward(self, x: torch.Tensor, **context) -> torch.Tensor:
        check_tensor(x, "x", min_dim=1)
        check_finite(x, "x")
        hard = self._hard(x, context)  # the context reaches hard_fn, not the bridge
        if not torch.is_grad_enabled():
            # Inference (or evaluation under no_grad): no gradient can reach x or the bridge,
            # so the bridge is not evaluated at all; the paper drops it at inference too.
            self.bridge_loss = None
            return hard
        fit = self.bridge(x.detach())            # gradient into the bridge only
        self._check(fit, hard)
        self.bridge_loss = self.weight * (fit - hard).pow(2).reshape(x.shape[0], -1).sum(dim=1).mean()
        if not (torch.is_grad_enabled() and x.requires_grad):
            return hard
        frozen = {name: p.detach() for name, p in self.bridge.named_parameters()}
        soft = functional_call(self.bridge, frozen, (x,))   # gradient into x only
        return straight_through(soft, hard)

    def extra_repr(self) -> str:
        return f"hard_fn={getattr(self.hard_fn, '__name__', self.hard_fn)!r}, weight={self.weight}"

"""RELAX: REINFORCE with a learned, reparameterised control variate for Bernoulli latents
(Grathwohl et al. 2018, "Backpropagation through the Void").

Book: chapter 15.
"""
from __future__ import annotations

import torch
from torch import nn

from discgrad.estimators._base import (ArgumentTypeError, check_finite, check_generator, check_input,
                                       check_n_samples, check_tensor)
from discgrad.noise import _draw_dtype


def _logit(u: torch.Tensor) -> torch.Tensor:
    return torch.log(u) - torch.log1p(-u)


class RELAX(nn.Module):
    """Unbiased, low-variance gradients of ``E_{b ~ Bernoulli(sigmoid(logits))}[f(b)]``.

    With ``u, v ~ U(0, 1)``, the relaxed sample ``z = logits + logit(u)`` (logistic noise),
    the bit ``b = H(z) = 1[z > 0]``, and ``z~`` a relaxed sample drawn from ``p(z | b)`` (the
    same ``logits + logit(u~)`` with ``u~`` uniform on the part of ``(0, 1)`` that gives
    ``b``, reparameterised by ``v``), the RELAX estimate of Grathwohl et al. (2018) is

    .. math:: \\hat g = \\big(f(b) - c_\\phi(\\tilde z)\\big)\\, \\nabla_\\ell \\log p(b \\mid \\ell)
              + \\nabla_\\ell c_\\phi(z) - \\nabla_\\ell c_\\phi(\\tilde z)

    for any control variate ``c_phi``: the last two terms have equal expectation to the
    part of the first that ``c_phi`` subtracts, so ``g`` is unbiased whatever ``phi`` is.
    ``phi`` is trained to minimise the estimate's variance: since ``E[g]`` does not depend on
    ``phi``, the gradient of ``E[g^2]`` with respect to ``phi`` is that of the variance.

    Two steps, as for :class:`discgrad.ScoreFunction`, because ``f`` is yours:

    1. ``b = relax(logits)`` draws ``n_samples`` bits per entry, shape
       ``(n_samples, *logits.shape)``, without gradient, and keeps the noise ``(u, v)`` in
       ``last_noise``;
    2. ``loss = relax.surrogate(logits, b, f)``, with ``f`` the per-sample losses of shape
       ``(n_samples, B)``, returns a scalar whose VALUE is ``f.mean()`` and whose GRADIENT is
       ``g`` (averaged over the samples and the batch) for ``logits`` plus the ordinary
       gradient of ``f`` for everything ``f`` depends on (a decoder, say). It also sets
       ``relax.variance_loss``: the mean over samples and instances of ``||g||^2`` (``g`` of
       one instance's logits), whose gradient reaches only the control variate's
       parameters. Add it to your loss, or ``c_phi`` never learns:
       ``(loss + relax.variance_loss).backward()``.

    The variance minimised is that of the gradient with respect to the ``logits`` (the
    paper minimises it for the parameters that produce them; the logits' version needs no
    second pass through the encoder).

    Args:
        control: the control variate ``c_phi``, an ``nn.Module`` mapping relaxed samples
            ``(n_samples, B, *shape)`` to ``(n_samples, B)`` (or ``(n_samples, B, 1)``);
            it must be differentiable in its input. It may call ``f``'s model on a relaxed
            input (``sigmoid(z / tau)``, the REBAR term) only with that model's parameters
            detached, or ``variance_loss`` would train the model too.
        n_samples: samples per instance ``S >= 1``.
        generator: an optional ``torch.Generator``.

    Shape:
        ``logits``: ``(B, *shape)``; samples ``(S, B, *shape)`` of 0/1; ``f``: ``(S, B)``.

    ``solver_calls`` counts samples drawn (``n_samples`` per forward): each costs one
    evaluation of ``f``, and the control variate is evaluated twice per sample.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from discgrad.estimators import RELAX
        >>> control = nn.Sequential(nn.Flatten(2), nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
        >>> relax = RELAX(control, generator=torch.Generator().manual_seed(0))
        >>> logits = torch.zeros(2, 3, requires_grad=True)
        >>> b = relax(logits)                                 # (1, 2, 3) bits
        >>> f = (b - torch.tensor([0.0, 1.0, 1.0])).pow(2).sum(-1)  # per-sample losses, (1, 2)
        >>> loss = relax.surrogate(logits, b, f)
        >>> torch.allclose(loss, f.mean())
        True
        >>> (loss + relax.variance_loss).backward()
        >>> logits.grad.shape, control[1].weight.grad is not None
        (torch.Size([2, 3]), True)
    """

    def __init__(self, control: nn.Module, n_samples: int = 1, generator: torch.Generator | None = None):
        super().__init__()
        if not isinstance(control, nn.Module):
            raise ArgumentTypeError(f"control must be an nn.Module, got {type(control).__name__}")
        self.control = control
        self.n_samples = check_n_samples(n_samples)
        self.generator = check_generator(generator)
        self.solver_calls = 0
        self.last_noise: tuple[torch.Tensor, torch.Tensor] | None = None
        self.variance_loss: torch.Tensor | None = None

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        logits = check_input(logits, "logits").detach()
        shape = (2, self.n_samples, *logits.shape)
        at = self.generator.device if self.generator is not None else logits.device
        uv = torch.rand(shape, device=at, dtype=_draw_dtype(logits.dtype), generator=self.generator)
        uv = uv.to(device=logits.device, dtype=logits.dtype)  # drawn in float32 at least
        eps = torch.finfo(logits.dtype).eps
        uv = uv.clamp(eps, 1 - eps)
        self.last_noise = (uv[0], uv[1])
        self.solver_calls += self.n_samples
        return (logits + _logit(uv[0]) > 0).to(logits.dtype)

    @staticmethod
    def conditional_u(u_v: torch.Tensor, b: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """``u~`` uniform on ``{u : 1[logit(p) + logit(u) > 0] = b}``, from ``v ~ U(0, 1)``.

        ``b = 1`` exactly when ``u > 1 - p``: then ``u~ = 1 - p + p v``; else ``u~ = (1 - p) v``.
        Differentiable in ``p``, so ``z~ = logit(p) + logit(u~)`` is a reparameterised sample
        of ``p(z | b)``.
        """
        return torch.where(b > 0.5, 1 - p + p * u_v, (1 - p) * u_v)

    def _control(self, z: torch.Tensor) -> torch.Tensor:
        c = self.control(z)
        if c.dim() == 3 and c.shape[-1] == 1:
            c = c.squeeze(-1)
        if c.shape != z.shape[:2]:
            raise ValueError(f"the control variate must return shape {tuple(z.shape[:2])}, got {tuple(c.shape)}")
        return c

    def estimate(self, logits: torch.Tensor, b: torch.Tensor, f: torch.Tensor,
                 create_graph: bool = False) -> torch.Tensor:
        """The per-sample estimates ``g``, shape ``(S, B, *shape)``, from the noise of the last forward.

        ``f`` is taken as constants. With ``create_graph=True`` the result is
        differentiable with respect to the control variate's parameters (not ``logits``).
        """
        if self.last_noise is None:
            raise ValueError("call the layer on the logits first: surrogate needs the noise of that draw")
        logits = check_input(logits, "logits")
        check_tensor(b, "b")
        check_tensor(f, "f", floating=True)
        u, v = self.last_noise
        if b.shape != u.shape or logits.shape != u.shape[1:]:
            raise ValueError(
                f"samples must have shape {tuple(u.shape)} (the last draw) for logits of shape "
                f"{tuple(u.shape[1:])}, got {tuple(b.shape)} and {tuple(logits.shape)}")
        if f.shape != b.shape[:2]:
            raise ValueError(f"f (the per-sample losses) must have shape {tuple(b.shape[:2])}, got {tuple(f.shape)}")
        check_finite(f, "f (the per-sample losses)")
        # one leaf per sample, so that g is the gradient of each sample's terms alone
        eps = torch.finfo(logits.dtype).eps
        with torch.enable_grad():
            leaf = logits.detach().expand_as(b).clone().requires_grad_(True)
            p = torch.sigmoid(leaf)
            z = leaf + _logit(u)
            z_tilde = leaf + _logit(self.conditional_u(v, b, p).clamp(eps, 1 - eps))
            c_z, c_zt = self._control(z), self._control(z_tilde)
            (path,) = torch.autograd.grad((c_z - c_zt).sum(), leaf, create_graph=create_graph)
        score = (b - p).detach()   # d log p(b | logits) / d logits, per entry
        weight = (f.detach() - c_zt).reshape(*f.shape, *([1] * (b.dim() - 2)))
        if not create_graph:
            weight = weight.detach()
        return weight * score + path

    def surrogate(self, logits: torch.Tensor, b: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """The scalar to backpropagate: value ``f.mean()``, gradient RELAX + pathwise; sets ``variance_loss``."""
        g = self.estimate(logits, b, f, create_graph=torch.is_grad_enabled())
        s, batch = b.shape[0], b.shape[1]
        self.variance_loss = g.pow(2).flatten(2).sum(2).mean()
        g_mean = g.detach().sum(0) / (s * batch)   # d f.mean() / d logits
        return f.mean() + (g_mean * (logits - logits.detach())).sum()

    def extra_repr(self) -> str:
        return f"n_samples={self.n_samples}"

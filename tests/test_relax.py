"""RELAX (Grathwohl et al. 2018): unbiased against the exact gradient of an enumerable
model, lower variance than REINFORCE without a baseline, and its argument checks."""
import itertools
import math

import pytest
import torch
from torch import nn

from discgrad.estimators import RELAX, ScoreFunction

D = 3  # latents per instance: 2^3 states, enumerated exactly
TARGETS = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]], dtype=torch.float64)


def f_of(b):
    """A non-linear per-instance loss of bits ``(S, B, D) -> (S, B)``."""
    return (b - TARGETS).pow(2).sum(-1) + 2.0 * b[..., 0] * b[..., 2] - 1.5 * b[..., 1] * b[..., 2] + 3.0


def exact_gradient(logits):
    """d/dlogits of sum_b E[f(b)], by summing over all 2^D states."""
    logits = logits.detach().clone().requires_grad_(True)
    states = torch.tensor(list(itertools.product([0.0, 1.0], repeat=D)), dtype=logits.dtype)  # (8, D)
    b = states[:, None, :].expand(len(states), *logits.shape)
    p = torch.sigmoid(logits)
    prob = (b * p + (1 - b) * (1 - p)).prod(-1)  # (8, B)
    (grad,) = torch.autograd.grad((prob * f_of(b)).sum(), logits)
    return grad


def make_control(seed=0, scale=3.0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Flatten(2), nn.Linear(D, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    with torch.no_grad():
        net[3].weight.mul_(scale)
    return net


def estimates(estimator, logits, n):
    """``n`` per-sample estimates of d/dlogits sum_b E[f(b)]: shape (n, B, D)."""
    b = estimator(logits)
    return estimator.estimate(logits, b, f_of(b))


class ForgetsThatTheConditionalSampleMoves(RELAX):
    """A deliberately biased variant: z~ is built from u~ as if it did not depend on the logits."""

    @staticmethod
    def conditional_u(u_v, b, p):
        return RELAX.conditional_u(u_v, b, p.detach())


LOGITS = torch.tensor([[0.3, -1.0, 0.8], [-0.5, 1.2, 0.0]], dtype=torch.float64)
N = 40_000
# A mean of N i.i.d. estimates is within 5 standard errors of its expectation with
# probability > 1 - 6e-7 per coordinate under the central limit theorem (6 coordinates);
# the seeds are fixed, so the test is also deterministic.
Z = 5.0


def within_tolerance(g, exact):
    mean, stderr = g.mean(0), g.std(0) / math.sqrt(len(g))
    return bool(((mean - exact).abs() <= Z * stderr).all()), (mean - exact).abs() / stderr


def test_relax_is_unbiased_against_the_enumerated_gradient():
    exact = exact_gradient(LOGITS)
    relax = RELAX(make_control(), n_samples=N, generator=torch.Generator().manual_seed(1))
    ok, ratio = within_tolerance(estimates(relax, LOGITS, N), exact)
    assert ok, f"bias of {ratio.max():.1f} standard errors"


def test_a_biased_variant_fails_the_same_test():
    exact = exact_gradient(LOGITS)
    wrong = ForgetsThatTheConditionalSampleMoves(make_control(), n_samples=N,
                                                 generator=torch.Generator().manual_seed(1))
    ok, ratio = within_tolerance(estimates(wrong, LOGITS, N), exact)
    assert not ok and ratio.max() > 10


def test_a_trained_control_variate_beats_reinforce_without_baseline():
    torch.manual_seed(0)
    control = make_control(scale=0.1)
    relax = RELAX(control, n_samples=64, generator=torch.Generator().manual_seed(2))
    optimiser = torch.optim.Adam(control.parameters(), lr=1e-2)
    logits = LOGITS.clone().requires_grad_(True)
    start = None
    for step in range(300):
        optimiser.zero_grad()
        b = relax(logits)
        relax.surrogate(logits, b, f_of(b))
        relax.variance_loss.backward()
        start = start if start is not None else float(relax.variance_loss.detach())
        optimiser.step()
    relax.n_samples = N
    g_relax = estimates(relax, LOGITS, N)
    sf = ScoreFunction(n_samples=N, baseline="none", distribution="bernoulli",
                       generator=torch.Generator().manual_seed(3))
    logits = LOGITS.clone().requires_grad_(True)
    b = sf(logits)
    log_p = sf.log_prob(logits, b)
    (g_sf,) = torch.autograd.grad((f_of(b) * log_p).sum(), logits)  # sums the per-sample estimates
    per_sample_sf = f_of(b)[..., None] * (b - torch.sigmoid(LOGITS))  # d log p / d logits = b - p
    torch.testing.assert_close(per_sample_sf.sum(0), g_sf)
    var_relax, var_sf = g_relax.var(0).sum(), per_sample_sf.var(0).sum()
    assert var_relax < 0.2 * var_sf
    assert float(relax.variance_loss.detach()) < start  # training the control lowered E||g||^2


def test_surrogate_value_gradients_and_where_the_variance_loss_goes():
    torch.manual_seed(0)
    encoder = nn.Linear(4, D).double()
    decoder_scale = nn.Parameter(torch.tensor(1.5, dtype=torch.float64))
    control = make_control()
    relax = RELAX(control, n_samples=5, generator=torch.Generator().manual_seed(0))
    logits = encoder(torch.randn(2, 4, dtype=torch.float64))
    b = relax(logits)
    assert b.shape == (5, 2, D) and set(b.unique().tolist()) <= {0.0, 1.0}
    assert relax.solver_calls == 5
    f = decoder_scale * f_of(b)
    loss = relax.surrogate(logits, b, f)
    torch.testing.assert_close(loss, f.mean())
    g = relax.estimate(logits, b, f)
    (d_logits,) = torch.autograd.grad(loss, logits, retain_graph=True)
    torch.testing.assert_close(d_logits, g.mean(0) / 2)  # the mean over samples and batch
    (d_scale,) = torch.autograd.grad(loss, decoder_scale, retain_graph=True)
    torch.testing.assert_close(d_scale, f_of(b).mean())  # the pathwise gradient of f
    # the variance loss reaches the control variate only, never the encoder
    grads = torch.autograd.grad(relax.variance_loss, [*control.parameters(), *encoder.parameters()],
                                allow_unused=True)
    assert all(x is not None and x.abs().sum() > 0 for x in grads[:4])
    assert all(x is None for x in grads[4:])
    torch.testing.assert_close(relax.variance_loss, g.pow(2).sum(-1).mean())


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="control must be an nn.Module"):
        RELAX(lambda z: z.sum(-1))
    with pytest.raises(ValueError, match="n_samples"):
        RELAX(make_control(), n_samples=0)
    relax = RELAX(make_control(), n_samples=2)
    with pytest.raises(ValueError, match="call the layer"):
        relax.surrogate(LOGITS, torch.zeros(2, 2, D, dtype=torch.float64), torch.zeros(2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="shape"):
        relax(torch.zeros(3))
    with pytest.raises(ValueError, match="floating"):
        relax(torch.zeros(2, 3, dtype=torch.long))
    b = relax(LOGITS)
    with pytest.raises(ValueError, match="samples must have shape"):
        relax.surrogate(LOGITS, b[:1], f_of(b[:1]))
    with pytest.raises(ValueError, match="per-sample losses"):
        relax.surrogate(LOGITS, b, f_of(b).mean(0))
    flat = RELAX(nn.Flatten(2).double(), n_samples=2)  # returns (S, B, D), not (S, B)
    b = flat(LOGITS)
    with pytest.raises(ValueError, match="control variate must return"):
        flat.surrogate(LOGITS, b, f_of(b))

"""Estimators: each backward pass against its formula computed by hand from explicit solver
calls, statistical checks of the Monte-Carlo estimators, and the shared contract (dtype,
no_grad, solver-call counts, ValueError on bad input)."""
import math

import pytest
import torch
from torch import nn

from discgrad.estimators import (
    DAB,
    IMLE,
    Blackbox,
    FenchelYoungLoss,
    GumbelSoftmax,
    Identity,
    Perturbed,
    ScoreFunction,
    StraightThrough,
)
from discgrad.estimators.gumbel_softmax import relaxed_top_k
from discgrad.noise import sum_of_gamma_noise
from discgrad.projections import P_mean, P_norm, P_plane, P_std
from discgrad.solvers.base import Solver


# ---------------------------------------------------------------- small solvers
def _k_hot(w, k, largest):
    return torch.zeros_like(w).scatter(-1, w.topk(k, dim=-1, largest=largest).indices, 1.0)


ARGMAX = Solver(lambda w: _k_hot(w, 1, True), "max", name="argmax")
ARGMIN = Solver(lambda w: _k_hot(w, 1, False), "min", name="argmin")
TOP2 = Solver(lambda w: _k_hot(w, 2, True), "max", name="top2")
BOTTOM2 = Solver(lambda w: _k_hot(w, 2, False), "min", name="bottom2")
# a min solver on (B, 3, 4): one cheapest entry per row, to exercise multi-dim instances
ROW_ARGMIN = Solver(lambda w: _k_hot(w, 1, False), "min", name="row_argmin")

SOLVERS = [ARGMAX, ARGMIN, TOP2, BOTTOM2, ROW_ARGMIN]


def sign(solver):
    return 1.0 if solver.sense == "max" else -1.0


def costs_for(solver, batch=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    shape = (batch, 3, 4) if solver is ROW_ARGMIN else (batch, 6)
    return torch.randn(shape, generator=g, dtype=dtype)


class Recorder:
    """A solver that records the costs it is called with."""

    def __init__(self, solver):
        self.solver, self.sense, self.inputs = solver, solver.sense, []

    def __call__(self, w):
        self.inputs.append(w.clone())
        return self.solver(w)


def within(estimate, truth, se, z=4.0):
    """True when every coordinate lies within z standard errors (plus rounding)."""
    return bool(((estimate - truth).abs() <= z * se + 1e-9).all())


# ---------------------------------------------------------------- Identity
PROJECTIONS = {
    None: lambda w: w,
    "mean": P_mean,
    "norm": P_norm,
    "std": P_std,
}


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: s.name)
@pytest.mark.parametrize("projection", [None, "mean", "norm", "std", "plane"])
def test_identity_backward_is_signed_projection_vjp(solver, projection):
    w = costs_for(solver).requires_grad_()
    g = torch.randn_like(w)
    if projection == "plane":
        a = torch.arange(1.0, w[0].numel() + 1, dtype=w.dtype).view(w.shape[1:])
        proj = lambda v: P_plane(v, a)  # noqa: E731
        layer = Identity(solver, projection=proj)
    else:
        proj = PROJECTIONS[projection]
        layer = Identity(solver, projection=projection)
    y = layer(w)
    assert torch.equal(y, solver(proj(w.detach())))
    (y * g).sum().backward()
    (expected,) = torch.autograd.grad((proj(w) * (sign(solver) * g)).sum(), w)
    torch.testing.assert_close(w.grad, expected)
    assert layer.solver_calls == 1


def test_identity_sign_flips_between_min_and_max():
    w = torch.randn(3, 5, requires_grad=True)
    g = torch.randn(3, 5)
    (Identity(ARGMAX)(w) * g).sum().backward()
    grad_max = w.grad.clone()
    w.grad = None
    (Identity(ARGMIN)(w) * g).sum().backward()
    torch.testing.assert_close(grad_max, g)
    torch.testing.assert_close(w.grad, -g)


def test_identity_noise_law_training_only():
    alpha = 0.3
    rec = Recorder(TOP2)
    layer = Identity(rec, projection="std", noise=alpha, generator=torch.Generator().manual_seed(1))
    w = torch.randn(200, 50, dtype=torch.float64, requires_grad=True)
    g = torch.randn_like(w)
    (layer(w) * g).sum().backward()
    xi = rec.inputs[-1] - P_std(w.detach())
    torch.testing.assert_close(xi, layer.last_noise)
    # every entry is exactly +alpha/2 or -alpha/2 (up to the rounding of the addition)
    assert torch.allclose(xi.abs(), torch.full_like(xi, alpha / 2), atol=1e-12)
    # independent fair signs: Binomial(10000, 1/2) has sd 50; 5 sd fails by accident w.p. ~1e-6
    n_plus = int((xi > 0).sum())
    assert abs(n_plus - xi.numel() / 2) < 5 * math.sqrt(xi.numel()) / 2
    # the noise is a constant shift: the backward pass is unchanged
    (expected,) = torch.autograd.grad((P_std(w) * g).sum(), w)
    torch.testing.assert_close(w.grad, expected)
    # eval mode: no noise, exactly solver(P(w))
    layer.eval()
    y = layer(w)
    assert torch.equal(rec.inputs[-1], P_std(w.detach()))
    assert torch.equal(y, TOP2(P_std(w.detach())))


def test_identity_noise_fresh_each_call():
    layer = Identity(ARGMAX, noise=1.0)
    w = torch.zeros(4, 30)
    layer(w)
    first = layer.last_noise.clone()
    layer(w)
    assert not torch.equal(first, layer.last_noise)


def test_identity_projection_of_zero_costs_has_no_nan():
    w = torch.zeros(2, 5, requires_grad=True)
    for projection in ("norm", "std"):
        y = Identity(ARGMAX, projection=projection)(w)
        (y * torch.randn(2, 5)).sum().backward()
        assert torch.isfinite(w.grad).all()


# ---------------------------------------------------------------- Blackbox
@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: s.name)
@pytest.mark.parametrize("lam", [0.5, 20.0])
def test_blackbox_backward_matches_formula(solver, lam):
    w = costs_for(solver).requires_grad_()
    g = torch.randn_like(w)
    layer = Blackbox(solver, lam=lam)
    y = layer(w)
    assert torch.equal(y, solver(w.detach()))
    (y * g).sum().backward()
    s = sign(solver)
    w_shifted = w.detach() - s * lam * g          # min: w + lam g; max: w - lam g
    expected = s * (solver(w.detach()) - solver(w_shifted)) / lam
    torch.testing.assert_close(w.grad, expected)
    assert layer.solver_calls == 2
    if lam == 20.0:  # a large step changes the solution, so the test is not vacuous
        assert expected.abs().sum() > 0


def test_blackbox_min_direction_decreases_loss():
    # the loss wants item 2 chosen by an argmin solver: a gradient step must lower its cost
    w = torch.tensor([[0.0, 1.0, 2.0]], requires_grad=True)
    y = Blackbox(ARGMIN, lam=5.0)(w)
    (y * torch.tensor([[0.0, 0.0, -1.0]])).sum().backward()
    assert w.grad[0, 2] > 0 and w.grad[0, 0] < 0


# ---------------------------------------------------------------- IMLE
@pytest.mark.parametrize("solver", [TOP2, BOTTOM2, ARGMIN, ROW_ARGMIN], ids=lambda s: s.name)
@pytest.mark.parametrize("noise", ["sog", "gumbel"])
def test_imle_backward_matches_formula_with_same_noise(solver, noise):
    lam, seed = 3.0, 7
    w = costs_for(solver).requires_grad_()
    g = torch.randn_like(w)
    layer = IMLE(solver, lam=lam, noise=noise, k=2, tau=0.5, generator=torch.Generator().manual_seed(seed))
    y = layer(w)
    eps = layer.last_noise
    # the same draw, by hand, from the documented law
    if noise == "sog":
        again = sum_of_gamma_noise(w.shape, 2, 0.5, 10, dtype=w.dtype, generator=torch.Generator().manual_seed(seed))
        torch.testing.assert_close(eps, again)
    s = sign(solver)
    u = w.detach() + s * eps
    assert torch.equal(y, solver(u))
    (y * g).sum().backward()
    expected = s * (solver(u) - solver(u - s * lam * g)) / lam
    torch.testing.assert_close(w.grad, expected)
    assert layer.solver_calls == 2


def test_imle_eval_mode_is_exact_map_and_blackbox_gradient():
    w = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    g = torch.randn_like(w)
    layer = IMLE(TOP2, lam=2.0).eval()
    y = layer(w)
    assert layer.last_noise is None and torch.equal(y, TOP2(w.detach()))
    (y * g).sum().backward()
    torch.testing.assert_close(w.grad, (TOP2(w.detach()) - TOP2(w.detach() - 2.0 * g)) / 2.0)


# ---------------------------------------------------------------- Perturbed
def softmax_vjp(p, g, sigma):
    """J^T g for y = softmax(w / sigma): (diag p - p p^T) g / sigma."""
    return (p * g - p * (p * g).sum(-1, keepdim=True)) / sigma


def replicate_vjp(solver, w_row, g_row, sigma, n_samples, noise, replicates, seed):
    """``replicates`` independent VJP estimates (one per batch row) and their mean/SE."""
    layer = Perturbed(solver, sigma, n_samples, noise=noise, generator=torch.Generator().manual_seed(seed))
    w = w_row.expand(replicates, -1).clone().requires_grad_()
    (layer(w) * g_row).sum().backward()
    rows = w.grad
    return rows, rows.mean(0), rows.std(0) / math.sqrt(replicates)


def test_perturbed_gumbel_mean_is_softmax():
    sigma, n = 0.7, 20000
    w = torch.tensor([[0.0, 0.5, 1.0, -0.5]], dtype=torch.float64)
    layer = Perturbed(ARGMAX, sigma, n, noise="gumbel", generator=torch.Generator().manual_seed(0))
    mean = layer(w)[0]
    p = torch.softmax(w[0] / sigma, -1)
    se = (p * (1 - p) / n).sqrt()
    assert within(mean, p, se)
    assert not within(mean, torch.softmax(w[0] / (2 * sigma), -1), se)  # the test has power
    assert layer.solver_calls == n


def test_perturbed_gumbel_vjp_converges_to_softmax_jacobian():
    sigma = 0.7
    w = torch.tensor([0.0, 0.5, 1.0, -0.5], dtype=torch.float64)
    g = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    truth = softmax_vjp(torch.softmax(w / sigma, -1), g, sigma)
    rows_small, _, _ = replicate_vjp(ARGMAX, w, g, sigma, 50, "gumbel", 40, seed=1)
    rows_big, est, se = replicate_vjp(ARGMAX, w, g, sigma, 5000, "gumbel", 40, seed=2)
    assert within(est, truth, se)
    assert not within(-est, truth, se)            # a flipped sign is rejected
    assert not within(2 * est, truth, se)         # so is a wrong scale (1/sigma^2, say)
    err_small = (rows_small - truth).pow(2).mean().sqrt()
    err_big = (rows_big - truth).pow(2).mean().sqrt()
    assert err_big < 0.25 * err_small             # 1/sqrt(n): expected ratio 0.1


def test_perturbed_min_solver_is_softmin_with_gumbel():
    sigma = 0.5
    w = torch.tensor([0.0, 0.5, 1.0, -0.5], dtype=torch.float64)
    g = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    p = torch.softmax(-w / sigma, -1)
    layer = Perturbed(ARGMIN, sigma, 20000, noise="gumbel", generator=torch.Generator().manual_seed(3))
    mean = layer(w[None])[0]
    assert within(mean, p, (p * (1 - p) / 20000).sqrt())
    truth = -softmax_vjp(p, g, sigma)             # d softmax(-w/sigma) / dw
    _, est, se = replicate_vjp(ARGMIN, w, g, sigma, 5000, "gumbel", 40, seed=4)
    assert within(est, truth, se) and not within(-est, truth, se)


def test_perturbed_normal_noise_two_items_matches_gaussian_cdf():
    # E[argmax(w + sigma Z)]_0 = Phi((w0 - w1) / (sigma sqrt 2)) for two items
    sigma, w = 0.8, torch.tensor([0.3, -0.2], dtype=torch.float64)
    d = (w[0] - w[1]) / (sigma * math.sqrt(2))
    p0 = 0.5 * (1 + torch.erf(d / math.sqrt(2)))
    dens = torch.exp(-d * d / 2) / math.sqrt(2 * math.pi) / (sigma * math.sqrt(2))
    jac = torch.tensor([[dens, -dens], [-dens, dens]], dtype=torch.float64)
    g = torch.tensor([1.0, -0.5], dtype=torch.float64)
    layer = Perturbed(ARGMAX, sigma, 20000, generator=torch.Generator().manual_seed(5))
    mean = layer(w[None])[0]
    assert within(mean[0], p0, (p0 * (1 - p0) / 20000).sqrt())
    _, est, se = replicate_vjp(ARGMAX, w, g, sigma, 5000, "normal", 40, seed=6)
    truth = jac.T @ g
    assert within(est, truth, se) and not within(-est, truth, se)


def test_perturbed_solves_all_samples_in_one_call():
    calls = []

    def fn(w):
        calls.append(w.shape)
        return _k_hot(w, 1, True)

    layer = Perturbed(Solver(fn, "max"), sigma=1.0, n_samples=7)
    w = torch.randn(3, 5, requires_grad=True)
    layer(w).sum().backward()
    assert calls == [torch.Size([21, 5])]
    assert layer.solver_calls == 7
    assert layer.last_noise.shape == (7, 3, 5)


def test_perturbed_eval_mode_is_exact():
    layer = Perturbed(TOP2, sigma=1.0, n_samples=5).eval()
    w = torch.randn(3, 6)
    assert torch.equal(layer(w), TOP2(w)) and layer.solver_calls == 1
    w.requires_grad_()
    y = layer(w)
    assert torch.equal(y, TOP2(w.detach()))
    y.sum().backward()                          # still the Monte-Carlo Jacobian
    assert layer.solver_calls == 1 + 1 + 5 and torch.isfinite(w.grad).all()


# ---------------------------------------------------------------- Fenchel-Young loss
@pytest.mark.parametrize("solver", [ARGMAX, TOP2, ARGMIN, BOTTOM2], ids=lambda s: s.name)
@pytest.mark.parametrize("noise", ["normal", "gumbel"])
def test_fenchel_young_gradient_and_value_by_hand(solver, noise):
    sigma, n = 0.5, 8
    w = costs_for(solver).requires_grad_()
    y_true = solver(torch.randn_like(w))
    fy = FenchelYoungLoss(solver, sigma, n, noise=noise, generator=torch.Generator().manual_seed(0))
    loss = fy(w, y_true)
    loss.backward()
    s, z = sign(solver), fy.last_noise
    perturbed = w.detach() + s * sigma * z
    ys = torch.stack([solver(perturbed[i]) for i in range(n)])
    expected_grad = s * (ys.mean(0) - y_true) / w.shape[0]
    torch.testing.assert_close(w.grad, expected_grad)
    f_sigma = (s * perturbed * ys).sum(-1).mean(0)
    torch.testing.assert_close(loss.detach(), (f_sigma - (s * w.detach() * y_true).sum(-1)).mean())
    assert fy.solver_calls == n


def test_fenchel_young_max_loss_is_minimised_by_target():
    # pushing w along -grad makes the target the perturbed argmax (sanity of the sign)
    w = torch.zeros(1, 4, requires_grad=True)
    y_true = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    fy = FenchelYoungLoss(ARGMAX, 1.0, 16, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.SGD([w], lr=1.0)
    for _ in range(30):
        opt.zero_grad()
        fy(w, y_true).backward()
        opt.step()
    assert w.argmax().item() == 2


# ---------------------------------------------------------------- StraightThrough, GumbelSoftmax
@pytest.mark.parametrize("solver", [ARGMAX, ARGMIN, TOP2], ids=lambda s: s.name)
def test_straight_through_uses_softmax_vjp(solver):
    w = costs_for(solver).requires_grad_()
    g = torch.randn_like(w)
    layer = StraightThrough(solver, tau=0.5)
    y = layer(w)
    assert torch.equal(y, solver(w.detach()))
    (y * g).sum().backward()
    (expected,) = torch.autograd.grad((torch.softmax(sign(solver) * w / 0.5, -1) * g).sum(), w)
    torch.testing.assert_close(w.grad, expected)


def test_straight_through_custom_relaxation():
    w = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    g = torch.randn_like(w)
    (StraightThrough(TOP2, relaxation=torch.sigmoid)(w) * g).sum().backward()
    torch.testing.assert_close(w.grad, torch.sigmoid(w) * (1 - torch.sigmoid(w)) * g)


@pytest.mark.parametrize("k", [1, 2])
def test_gumbel_softmax_gradcheck_with_fixed_noise(k):
    logits = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
    noise = torch.randn(2, 5, dtype=torch.float64)
    layer = GumbelSoftmax(tau=0.7, k=k)
    assert torch.autograd.gradcheck(lambda x: layer(x, noise=noise), (logits,))
    torch.testing.assert_close(layer(logits, noise=noise).sum(-1), torch.full((2,), float(k), dtype=torch.float64))


def test_gumbel_softmax_hard_is_exact_topk_with_relaxed_gradient():
    logits = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    noise = torch.randn(3, 6, dtype=torch.float64)
    g = torch.randn(3, 6, dtype=torch.float64)
    y = GumbelSoftmax(tau=0.5, hard=True, k=2)(logits, noise=noise)
    assert torch.equal(y, _k_hot(logits.detach() + noise, 2, True))
    (y * g).sum().backward()
    (expected,) = torch.autograd.grad((relaxed_top_k(logits + noise, 2, 0.5) * g).sum(), logits)
    torch.testing.assert_close(logits.grad, expected)


def test_gumbel_softmax_hard_samples_follow_softmax_and_eval_is_noiseless():
    logits = torch.tensor([0.0, 1.0, -1.0, 0.5])
    n = 20000
    layer = GumbelSoftmax(hard=True, generator=torch.Generator().manual_seed(0))
    freq = layer(logits.expand(n, -1)).mean(0).double()
    p = torch.softmax(logits.double(), -1)
    assert within(freq, p, (p * (1 - p) / n).sqrt())
    layer.eval()
    assert torch.equal(layer(logits[None]), _k_hot(logits[None], 1, True))


# ---------------------------------------------------------------- ScoreFunction
@pytest.mark.parametrize("baseline, n", [("none", 1), ("loo", 2), ("loo", 5)])
def test_score_function_is_unbiased_for_categorical(baseline, n):
    """Few samples per row, many rows: a baseline that uses f_s itself is biased by a factor
    (1 - 1/S) (0.5 at S = 2), far outside the standard error; the leave-one-out one is not."""
    theta = torch.tensor([0.2, -0.3, 0.5], dtype=torch.float64)
    c = torch.tensor([6.0, 8.0, 3.0], dtype=torch.float64)   # all > 0: a baseline matters
    p = torch.softmax(theta, -1)
    truth = p * c - p * (p * c).sum()                 # d/dtheta E[<c, z>]
    replicates = 20000
    sf = ScoreFunction(n_samples=n, baseline=baseline, generator=torch.Generator().manual_seed(0))
    logits = theta.expand(replicates, -1).clone().requires_grad_()
    z = sf(logits)
    f = (z * c).sum(-1)
    loss = sf.surrogate(logits, z, f)
    torch.testing.assert_close(loss.detach(), f.mean())
    loss.backward()
    rows = logits.grad * replicates                   # undo the mean over the batch
    est, se = rows.mean(0), rows.std(0) / math.sqrt(replicates)
    assert within(est, truth, se) and not within(-est, truth, se)
    # the by-hand estimate with the documented baseline is what the layer returned
    b = {"none": 0.0, "loo": (f.sum(0, keepdim=True) - f) / max(n - 1, 1)}[baseline]
    torch.testing.assert_close(rows, ((f - b)[..., None] * (z - p)).mean(0))
    if n > 1:  # the test has power: the mean of all samples, f_s included, is rejected
        biased = ((f - f.mean(0, keepdim=True))[..., None] * (z - p)).mean(0).mean(0)
        assert not within(biased, truth, se)
    assert sf.solver_calls == n


def test_score_function_bernoulli_and_mean_baseline_and_pathwise_gradient():
    theta = torch.tensor([0.3, -0.4], dtype=torch.float64)
    a = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)   # a parameter of f
    sf = ScoreFunction(n_samples=4000, baseline="mean", distribution="bernoulli",
                       generator=torch.Generator().manual_seed(1))
    logits = theta[None].clone().requires_grad_()
    means = []
    for _ in range(2):  # the second call uses the moving-average baseline
        logits.grad, a.grad = None, None
        z = sf(logits)
        f = a * z.sum(-1)                                            # (S, 1)
        baseline = 0.0 if sf.running_loss is None else sf.running_loss
        sf.surrogate(logits, z, f).backward()
        means.append(f.mean().item())
    # 0 at the first call, then the moving average of the batch means, momentum 0.9
    assert sf.running_loss == pytest.approx(0.9 * means[0] + 0.1 * means[1])
    assert baseline == pytest.approx(means[0])
    q = torch.sigmoid(theta)
    by_hand = ((f.detach() - baseline)[..., None] * (z - q)).mean(0)  # d log p / d logits = z - q
    torch.testing.assert_close(logits.grad, by_hand)
    truth = a.detach() * q * (1 - q)                                   # d/dtheta E[a * sum z]
    assert torch.allclose(logits.grad[0], truth, atol=0.05)
    torch.testing.assert_close(a.grad, z.sum(-1).mean())              # the pathwise part


# ---------------------------------------------------------------- DAB
def make_bridge(n=6, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n, 16), nn.Tanh(), nn.Linear(16, n)).double()


@pytest.mark.parametrize("hard_fn", [torch.sign, TOP2], ids=["sign", "top2"])
def test_dab_forward_exact_and_gradient_is_bridge_vjp(hard_fn):
    bridge = make_bridge()
    layer = DAB(hard_fn, bridge, weight=0.5)
    assert layer.bridge_loss is None
    x = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    g = torch.randn(5, 6, dtype=torch.float64)
    y = layer(x)
    assert torch.equal(y, hard_fn(x.detach()))
    (y * g).sum().backward()                   # the task loss alone
    (expected,) = torch.autograd.grad((bridge(x) * g).sum(), x)
    torch.testing.assert_close(x.grad, expected)
    assert all(p.grad is None for p in bridge.parameters())   # no task gradient into the bridge
    x.grad = None
    layer.bridge_loss.backward()               # the bridge's own loss
    assert x.grad is None                      # x is detached in it
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in bridge.parameters())
    expected_loss = 0.5 * (bridge(x) - hard_fn(x.detach())).pow(2).sum(-1).mean()
    torch.testing.assert_close(layer.bridge_loss, expected_loss)


def test_dab_bridge_learns_the_hard_function():
    bridge = make_bridge(4, seed=1)
    layer = DAB(torch.sign, bridge, weight=1.0)
    opt = torch.optim.Adam(bridge.parameters(), lr=3e-2)
    x = torch.randn(64, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    losses = []
    for _ in range(40):
        layer(x)
        losses.append(layer.bridge_loss.item())
        opt.zero_grad()
        layer.bridge_loss.backward()
        opt.step()
    assert losses[-1] < 0.5 * losses[0]


# ---------------------------------------------------------------- the shared contract
FACTORIES = {
    "identity": lambda s: Identity(s, projection="std", noise=0.1),
    "blackbox": lambda s: Blackbox(s, lam=2.0),
    "imle": lambda s: IMLE(s, lam=2.0, k=2),
    "perturbed": lambda s: Perturbed(s, sigma=0.5, n_samples=3),
    "straight_through": lambda s: StraightThrough(s),
}
EXPECTED_CALLS = {"identity": 1, "blackbox": 2, "imle": 2, "perturbed": 3, "straight_through": 1}


@pytest.mark.parametrize("name", FACTORIES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_preserved_and_calls_counted(name, dtype):
    layer = FACTORIES[name](TOP2)
    w = torch.randn(3, 6, dtype=dtype, requires_grad=True)
    y = layer(w)
    assert y.dtype == dtype and y.shape == w.shape
    (y * torch.randn_like(y)).sum().backward()
    assert w.grad.dtype == dtype and torch.isfinite(w.grad).all()
    assert layer.solver_calls == EXPECTED_CALLS[name]


def test_dtype_preserved_for_samplers_and_dab():
    for dtype in (torch.float32, torch.float64):
        logits = torch.randn(3, 5, dtype=dtype, requires_grad=True)
        assert GumbelSoftmax(hard=True)(logits).dtype == dtype
        assert ScoreFunction(n_samples=2)(logits).dtype == dtype
        y = DAB(torch.sign, nn.Linear(5, 5).to(dtype))(logits)
        assert y.dtype == dtype


@pytest.mark.parametrize("name", FACTORIES)
def test_no_grad(name):
    layer = FACTORIES[name](TOP2)
    w = torch.randn(3, 6, requires_grad=True)
    with torch.no_grad():
        y = layer(w)
    assert not y.requires_grad and y.shape == w.shape
    with torch.no_grad():
        fy = FenchelYoungLoss(TOP2, 0.5, 2)(w, TOP2(w))
        assert torch.isfinite(fy)
        d = DAB(torch.sign, nn.Linear(6, 6))
        calls = []
        d.bridge.register_forward_hook(lambda *args: calls.append(1))
        # Under no_grad nothing can use the bridge: it is skipped and there is no loss.
        assert torch.equal(d(w), torch.sign(w)) and d.bridge_loss is None and not calls
        assert GumbelSoftmax(hard=True)(w).shape == w.shape


def _wrong_shape(w):
    return torch.zeros(w.shape[0], 1)


class NoSense:
    def __call__(self, w):
        return w


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Identity(lambda w: w), "sense"),
        (lambda: Blackbox(Solver(lambda w: w, "min").__call__, 1.0), "sense"),
        (lambda: Perturbed(NoSense(), 1.0, 2), "sense"),
        (lambda: Identity(TOP2, projection="bogus"), "unknown projection"),
        (lambda: Identity(TOP2, noise=-1.0), "noise"),
        (lambda: Blackbox(TOP2, lam=0.0), "lam"),
        (lambda: IMLE(TOP2, lam=-1.0), "lam"),
        (lambda: IMLE(TOP2, lam=1.0, noise="laplace"), "unknown noise"),
        (lambda: IMLE(TOP2, lam=1.0, k=0), "k must"),
        (lambda: Perturbed(TOP2, sigma=0.0, n_samples=2), "sigma"),
        (lambda: Perturbed(TOP2, sigma=1.0, n_samples=0), "n_samples"),
        (lambda: Perturbed(TOP2, sigma=1.0, n_samples=2, noise="cauchy"), "unknown noise"),
        (lambda: FenchelYoungLoss(TOP2, sigma=-1.0), "sigma"),
        (lambda: StraightThrough(TOP2, tau=0.0), "tau"),
        (lambda: GumbelSoftmax(tau=-1.0), "tau"),
        (lambda: ScoreFunction(n_samples=1, baseline="loo"), "n_samples >= 2"),
        (lambda: ScoreFunction(baseline="bogus"), "unknown baseline"),
        (lambda: DAB(torch.sign, lambda x: x), "nn.Module"),
        (lambda: DAB(torch.sign, nn.Linear(2, 2), weight=0.0), "weight"),
    ],
)
def test_bad_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("name", FACTORIES)
def test_solver_shape_mismatch_names_both_shapes(name):
    layer = FACTORIES[name](Solver(_wrong_shape, "min"))
    # Perturbed stacks its 3 samples into one batch of 9 and says so
    with pytest.raises(ValueError, match=r"shape \((3|9), 1\).*shape \((3|9), 6\)") as err:
        layer(torch.randn(3, 6))
    assert "(3, 6)" in str(err.value)


def test_other_shape_mismatches_raise():
    with pytest.raises(ValueError, match=r"y_true must have the shape"):
        FenchelYoungLoss(TOP2, 1.0)(torch.randn(2, 6), torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"bridge returned shape \(2, 3\).*hard_fn returned shape \(2, 6\)"):
        DAB(torch.sign, nn.Linear(6, 3))(torch.randn(2, 6))
    with pytest.raises(ValueError, match="exceeds"):
        GumbelSoftmax(k=4)(torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"at least 2 dims"):
        Identity(TOP2)(torch.randn(6))


# ---------------------------------------------------------------- with the package's solvers
solvers = pytest.importorskip("discgrad.solvers")


def test_with_package_solvers_topk_ranking_shortest_path():
    TopK, Ranking, ShortestPath = solvers.TopK, solvers.Ranking, solvers.ShortestPath
    w = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    g = torch.randn_like(w)
    # TopK (max): Identity is +g through P_mean; Blackbox matches its formula
    (Identity(TopK(2), projection="mean")(w) * g).sum().backward()
    torch.testing.assert_close(w.grad, g - g.mean(-1, keepdim=True))
    w.grad = None
    (Blackbox(TopK(2), lam=3.0)(w) * g).sum().backward()
    torch.testing.assert_close(w.grad, (TopK(2)(w.detach()) - TopK(2)(w.detach() - 3.0 * g)) / 3.0)
    # Ranking (min): Blackbox with the min-sign formula
    w.grad = None
    rank = Ranking()
    (Blackbox(rank, lam=3.0)(w) * g).sum().backward()
    torch.testing.assert_close(w.grad, -(rank(w.detach()) - rank(w.detach() + 3.0 * g)) / 3.0)
    # ShortestPath (min, costs >= 0): Identity with P_norm keeps costs in the domain
    grid = torch.rand(2, 4, 4, dtype=torch.float64, requires_grad=True)
    path = Identity(ShortestPath(), projection="norm")(grid)
    assert torch.equal(path, ShortestPath()(P_norm(grid.detach())))
    gp = torch.randn_like(grid)
    (path * gp).sum().backward()
    (expected,) = torch.autograd.grad((P_norm(grid) * -gp).sum(), grid)
    torch.testing.assert_close(grid.grad, expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_follows_cuda_device_with_cpu_generator():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(3, 6, device="cuda", requires_grad=True)
    for layer in (Identity(TOP2, "std", noise=0.1, generator=gen), Blackbox(TOP2, 1.0),
                  IMLE(TOP2, 1.0, k=2, generator=gen), Perturbed(TOP2, 0.5, 4, "gumbel", generator=gen),
                  StraightThrough(TOP2)):
        y = layer(w)
        assert y.device == w.device
        (y * torch.randn_like(y)).sum().backward()
        assert w.grad.device == w.device
        w.grad = None
    assert GumbelSoftmax(hard=True, generator=gen)(w).device == w.device
    assert ScoreFunction(2, generator=gen)(w).device == w.device
    assert FenchelYoungLoss(TOP2, 0.5, 2, generator=gen)(w, TOP2(w)).device == w.device


# ---------------------------------------------------------------- gradcheck of the smooth relaxations
from torch.autograd import gradcheck, gradgradcheck  # noqa: E402

from discgrad.estimators import RELAX  # noqa: E402
from discgrad.estimators.gumbel_softmax import top_k_hot  # noqa: E402


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0, 5.0])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_gumbel_softmax_gradcheck_and_gradgradcheck(tau, k):
    g = torch.Generator().manual_seed(int(10 * tau) + k)
    logits = torch.randn(2, 5, dtype=torch.float64, generator=g).requires_grad_()
    noise = torch.randn(2, 5, dtype=torch.float64, generator=g)   # fixed noise: a smooth map
    layer = GumbelSoftmax(tau=tau, k=k)
    assert gradcheck(lambda x: layer(x, noise=noise), (logits,))
    assert gradgradcheck(lambda x: layer(x, noise=noise), (logits,))
    # hard=True: the exact k-hot forward, the soft relaxation's gradient
    hard = GumbelSoftmax(tau=tau, k=k, hard=True)
    y = hard(logits, noise=noise)
    assert torch.equal(y, top_k_hot(logits.detach() + noise, k))
    (grad,) = torch.autograd.grad((y * noise).sum(), logits)
    (expected,) = torch.autograd.grad((layer(logits, noise=noise) * noise).sum(), logits)
    torch.testing.assert_close(grad, expected)


def test_relaxed_top_k_by_hand_and_its_limits():
    s = torch.tensor([[1.0, 0.0, -1.0]], dtype=torch.float64)
    tau = 0.5
    a1 = torch.softmax(s / tau, -1)
    a2 = torch.softmax((s + torch.log(1 - a1)) / tau, -1)   # Xie and Ermon 2019: remove a1 softly
    torch.testing.assert_close(relaxed_top_k(s, 2, tau), a1 + a2)
    assert torch.allclose(relaxed_top_k(s, 2, 1e-3), torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64))
    assert torch.allclose(relaxed_top_k(s, 2, 1e3), torch.full((1, 3), 2 / 3, dtype=torch.float64), atol=1e-3)


@pytest.mark.parametrize("solver", [ARGMAX, ARGMIN], ids=lambda s: s.name)
@pytest.mark.parametrize("tau", [0.3, 2.0])
def test_straight_through_surrogate_gradcheck(solver, tau):
    w = torch.randn(3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).requires_grad_()
    layer = StraightThrough(solver, tau=tau)
    assert gradcheck(layer.surrogate, (w,)) and gradgradcheck(layer.surrogate, (w,))
    torch.testing.assert_close(layer.surrogate(w), torch.softmax(sign(solver) * w / tau, -1))


def test_relax_conditional_sample_is_smooth_in_p():
    g = torch.Generator().manual_seed(2)
    v = torch.rand(4, 6, dtype=torch.float64, generator=g)
    b = (torch.rand(4, 6, dtype=torch.float64, generator=g) > 0.5).double()
    p = (0.1 + 0.8 * torch.rand(4, 6, dtype=torch.float64, generator=g)).requires_grad_()
    assert gradcheck(lambda q: RELAX.conditional_u(v, b, q), (p,))
    assert gradgradcheck(lambda q: RELAX.conditional_u(v, b, q), (p,))
    u = RELAX.conditional_u(v, b, p.detach())
    # u~ lands on the side of 1 - p that gives b: b = 1 exactly when u > 1 - p
    assert torch.equal(u > 1 - p.detach(), b > 0.5)


def gumbel_argmax_mean(w, sigma):
    """Closed form of E[argmax(w + sigma G)] for Gumbel G: softmax(w / sigma)."""
    return torch.softmax(w / sigma, -1)


def normal_two_items_mean(w, sigma):
    """Closed form of E[argmax(w + sigma Z)] for two items and normal Z: (Phi(d), Phi(-d))."""
    d = (w[..., 0] - w[..., 1]) / (sigma * math.sqrt(2))
    p0 = 0.5 * (1 + torch.erf(d / math.sqrt(2)))
    return torch.stack([p0, 1 - p0], -1)


@pytest.mark.parametrize("noise, w, closed_form", [
    ("gumbel", [0.0, 0.5, 1.0, -0.5], gumbel_argmax_mean),
    ("normal", [0.3, -0.2], normal_two_items_mean),
], ids=["gumbel", "normal"])
def test_perturbed_jacobian_matches_the_closed_form(noise, w, closed_form):
    """Perturbed's whole Monte-Carlo Jacobian against the autograd Jacobian of the closed-form
    expectation (gradchecked itself), row by row, within 4 standard errors."""
    sigma = 0.7
    w = torch.tensor(w, dtype=torch.float64)
    assert gradcheck(lambda x: closed_form(x, sigma), (w.clone().requires_grad_(),))
    assert gradgradcheck(lambda x: closed_form(x, sigma), (w.clone().requires_grad_(),))
    jac = torch.autograd.functional.jacobian(lambda x: closed_form(x, sigma), w)   # (n, n)
    n = len(w)
    for i in range(n):
        e = torch.zeros(n, dtype=torch.float64)
        e[i] = 1.0
        _, est, se = replicate_vjp(ARGMAX, w, e, sigma, 2000, noise, 40, seed=20 + i)
        assert within(est, jac[i], se), (i, est, jac[i], se)
        assert not within(est / sigma, jac[i], se)   # a wrong 1/sigma^2 scale is rejected


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_estimator_noise_is_drawn_in_float32_and_cast(dtype):
    w = torch.randn(3, 6, generator=torch.Generator().manual_seed(3))
    for noise in ("normal", "gumbel"):
        low = Perturbed(TOP2, 0.5, 4, noise=noise, generator=torch.Generator().manual_seed(4))
        high = Perturbed(TOP2, 0.5, 4, noise=noise, generator=torch.Generator().manual_seed(4))
        low(w.to(dtype))
        high(w)
        assert torch.equal(low.last_noise, high.last_noise.to(dtype))
    low = RELAX(nn.Flatten(2), generator=torch.Generator().manual_seed(5))
    high = RELAX(nn.Flatten(2), generator=torch.Generator().manual_seed(5))
    low(w.to(dtype))
    high(w)
    eps = torch.finfo(dtype).eps
    assert torch.equal(low.last_noise[0], high.last_noise[0].to(dtype).clamp(eps, 1 - eps))
    # Bernoulli samples compare a float32 uniform with a float32 probability
    logits = torch.tensor([[0.5, -0.25, 0.125]])   # exact in every dtype
    sf_low = ScoreFunction(2000, distribution="bernoulli", generator=torch.Generator().manual_seed(6))
    sf_high = ScoreFunction(2000, distribution="bernoulli", generator=torch.Generator().manual_seed(6))
    assert torch.equal(sf_low(logits.to(dtype)).float(), sf_high(logits))

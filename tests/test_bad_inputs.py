"""Every bad input to the public API is refused by name (issue 19).

One table: each row calls a solver, estimator, projection, noise sampler or loss with one
bad argument and states the exception (``TypeError`` for a wrong type, ``ValueError`` for a
wrong value) and the argument the message must name. A ``ValueError`` row must not raise a
``TypeError``; the package's type errors are also ``ValueError`` s
(:class:`discgrad.solvers.base.ArgumentTypeError`), so older handlers still catch them.
"""
import re

import numpy as np
import pytest
import torch
from torch import nn

from discgrad.estimators import (
    DAB,
    IMLE,
    RELAX,
    Blackbox,
    FenchelYoungLoss,
    GumbelSoftmax,
    Identity,
    InformedMargin,
    Perturbed,
    ScoreFunction,
    StraightThrough,
)
from discgrad.estimators.gumbel_softmax import relaxed_top_k, top_k_hot
from discgrad.losses import absolute_loss, bernoulli_reconstruction, hamming_loss, kl_softmax_uniform, recall_loss
from discgrad.noise import gumbel_noise, margin_noise, standard_gamma, sum_of_gamma_noise
from discgrad.projections import P_mean, P_norm, P_plane, P_std, get_projection
from discgrad.solvers import (
    TSP,
    Assignment,
    Heaviside,
    Ranking,
    ShortestPath,
    Signum,
    Solver,
    TernarySignum,
    TopK,
    check_costs,
    clamped_shortest_path,
    symmetric_tsp,
)
from discgrad.solvers.base import ArgumentTypeError

NAN, INF = float("nan"), float("inf")
TOP2 = TopK(2)
ARGMIN = Solver(lambda w: torch.nn.functional.one_hot(w.argmin(-1), w.shape[-1]), sense="min", name="argmin")


def with_value(w, value, at=1):
    """A copy of ``w`` with one entry replaced by ``value``."""
    w = w.clone()
    w.view(-1)[at] = value
    return w


def valid_costs(solver):
    """A valid batch of costs for each solver."""
    g = torch.Generator().manual_seed(0)
    if isinstance(solver, ShortestPath) or getattr(solver, "name", "") == "ClampedShortestPath":
        return torch.rand(2, 3, 4, generator=g)
    if isinstance(solver, Assignment):
        return torch.rand(2, 3, 4, generator=g)
    if isinstance(solver, TSP) or getattr(solver, "name", "") == "SymmetricTSP":
        d = torch.rand(2, 4, 4, generator=g)
        return d + d.transpose(1, 2)
    return torch.randn(2, 5, generator=g)


def empty_dim(w):
    return w[:, :0]


def backward_with(layer, grad_value, w=None, **kwargs):
    """Run ``layer`` forward, then backward an upstream gradient holding ``grad_value``."""
    w = torch.randn(2, 5, requires_grad=True) if w is None else w
    y = layer(w, **kwargs)
    (y * with_value(torch.ones_like(y), grad_value)).sum().backward()


CASES = []   # (id, thunk, exception type, the argument the message names)


def case(id_, thunk, exc, name):
    CASES.append(pytest.param(thunk, exc, name, id=id_))


# ---------------------------------------------------------------------------- solvers
SOLVERS = {
    "TopK": TopK(2), "Ranking": Ranking(), "ShortestPath": ShortestPath(), "Assignment": Assignment(),
    "TSP": TSP(), "Signum": Signum(), "TernarySignum": TernarySignum(0.1), "Heaviside": Heaviside(),
    "clamped_shortest_path": clamped_shortest_path(), "symmetric_tsp": symmetric_tsp(), "Solver": ARGMIN,
}
for label, solver in SOLVERS.items():
    w = valid_costs(solver)
    case(f"{label}-nan", lambda s=solver, w=w: s(with_value(w, NAN)), ValueError, "w")
    case(f"{label}-inf", lambda s=solver, w=w: s(with_value(w, INF)), ValueError, "w")
    case(f"{label}-minus-inf", lambda s=solver, w=w: s(with_value(w, -INF)), ValueError, "w")
    case(f"{label}-list", lambda s=solver, w=w: s(w.tolist()), TypeError, "w")
    case(f"{label}-meta", lambda s=solver, w=w: s(w.to("meta")), ValueError, "w")
    case(f"{label}-sparse", lambda s=solver, w=w: s(w.to_sparse()), ValueError, "w")
    case(f"{label}-empty-batch", lambda s=solver, w=w: s(w[:0]), ValueError, "w")
    case(f"{label}-empty-dim", lambda s=solver, w=w: s(empty_dim(w)), ValueError, "w")
    case(f"{label}-scalar", lambda s=solver: s(torch.tensor(1.0)), ValueError, "w")
    case(f"{label}-complex", lambda s=solver, w=w: s(w.to(torch.complex64)), TypeError, "w")
case("Assignment-empty-square", lambda: Assignment()(torch.zeros(2, 0, 0)), ValueError, "w")
case("Ranking-empty-n", lambda: Ranking()(torch.zeros(3, 0)), ValueError, "w")

case("TopK-k-zero", lambda: TopK(0), ValueError, "k")
case("TopK-k-negative", lambda: TopK(np.int64(-1)), ValueError, "k")
case("TopK-k-float", lambda: TopK(1.5), TypeError, "k")
case("TopK-k-bool", lambda: TopK(True), TypeError, "k")
case("TopK-k-str", lambda: TopK("2"), TypeError, "k")
case("TopK-k-none", lambda: TopK(None), TypeError, "k")
case("TopK-k-above-n", lambda: TopK(5)(torch.rand(2, 4)), ValueError, "k")
case("TopK-dim-batch", lambda: TopK(1, dim=0)(torch.rand(2, 4)), ValueError, "dim")
case("TopK-dim-out-of-range", lambda: TopK(1, dim=2)(torch.rand(2, 4)), ValueError, "dim")
case("TopK-dim-float", lambda: TopK(1, dim=1.0), TypeError, "dim")
case("Ranking-1d", lambda: Ranking()(torch.rand(4)), ValueError, "w")
case("ShortestPath-negative", lambda: ShortestPath()(-torch.rand(1, 3, 3)), ValueError, "w")
case("ShortestPath-2d", lambda: ShortestPath()(torch.rand(3, 3)), ValueError, "w")
case("ShortestPath-overflow", lambda: ShortestPath()(torch.full((1, 3, 3), 3e38)), ValueError, "w")
case("ShortestPath-check_every-zero", lambda: ShortestPath(check_every=0), ValueError, "check_every")
case("ShortestPath-check_every-float", lambda: ShortestPath(check_every=2.5), TypeError, "check_every")
case("Assignment-rows-above-columns", lambda: Assignment()(torch.rand(2, 4, 3)), ValueError, "w")
case("Assignment-2d", lambda: Assignment()(torch.rand(4, 3)), ValueError, "w")
case("TSP-asymmetric", lambda: TSP()(torch.rand(2, 5, 5)), ValueError, "w")
case("TSP-two-cities", lambda: TSP()(torch.ones(1, 2, 2)), ValueError, "w")
case("TSP-thirteen-cities", lambda: TSP()(torch.ones(1, 13, 13)), ValueError, "w")
case("TSP-not-square", lambda: TSP()(torch.ones(1, 4, 5)), ValueError, "w")
case("symmetric_tsp-2d", lambda: symmetric_tsp()(torch.ones(4, 4)), ValueError, "w")
case("TernarySignum-negative", lambda: TernarySignum(-0.1), ValueError, "dead_zone")
case("TernarySignum-inf", lambda: TernarySignum(INF), ValueError, "dead_zone")
case("TernarySignum-nan", lambda: TernarySignum(NAN), ValueError, "dead_zone")
case("TernarySignum-str", lambda: TernarySignum("1"), TypeError, "dead_zone")
case("Solver-fn", lambda: Solver(3, "min"), TypeError, "fn")
case("Solver-sense", lambda: Solver(torch.sign, "argmin"), ValueError, "sense")
case("Solver-sense-type", lambda: Solver(torch.sign, 1), TypeError, "sense")
case("Solver-name", lambda: Solver(torch.sign, "max", name=3), TypeError, "name")
case("Solver-returns-nan", lambda: Solver(lambda w: w * NAN, "max", name="broken")(torch.ones(2, 3)),
     ValueError, "broken")
case("check_costs-name", lambda: check_costs(torch.tensor([[1.0, NAN]]), name="costs"), ValueError, "costs")

# ------------------------------------------------------------------------- estimators
LAYERS = {
    "Identity": lambda: Identity(TOP2, projection="std"),
    "Blackbox": lambda: Blackbox(TOP2, lam=2.0),
    "IMLE": lambda: IMLE(TOP2, lam=2.0, k=2),
    "Perturbed": lambda: Perturbed(TOP2, sigma=0.5, n_samples=3),
    "StraightThrough": lambda: StraightThrough(TOP2),
}
SAMPLERS = {  # the layers whose input is called logits
    "GumbelSoftmax": lambda: GumbelSoftmax(hard=True),
    "ScoreFunction": lambda: ScoreFunction(n_samples=2),
    "RELAX": lambda: RELAX(nn.Sequential(nn.Flatten(2), nn.Linear(5, 1))),
}
for label, make in [*LAYERS.items(), *SAMPLERS.items()]:
    arg = "logits" if label in SAMPLERS else "w"
    w = torch.randn(2, 5)
    case(f"{label}-nan", lambda m=make, w=w: m()(with_value(w, NAN)), ValueError, arg)
    case(f"{label}-inf", lambda m=make, w=w: m()(with_value(w, INF)), ValueError, arg)
    case(f"{label}-list", lambda m=make, w=w: m()(w.tolist()), TypeError, arg)
    case(f"{label}-meta", lambda m=make, w=w: m()(w.to("meta")), ValueError, arg)
    case(f"{label}-integer", lambda m=make: m()(torch.ones(2, 5, dtype=torch.long)), TypeError, arg)
    case(f"{label}-1d", lambda m=make: m()(torch.randn(5)), ValueError, arg)
    case(f"{label}-empty-dim", lambda m=make: m()(torch.zeros(2, 0)), ValueError, arg)
for label, make in LAYERS.items():
    case(f"{label}-upstream-nan", lambda m=make: backward_with(m(), NAN), ValueError, "dL/dy")
    case(f"{label}-upstream-inf", lambda m=make: backward_with(m(), -INF), ValueError, "dL/dy")
case("GumbelSoftmax-hard-upstream-nan", lambda: backward_with(GumbelSoftmax(hard=True), NAN), ValueError, "dL/dy")
case("DAB-upstream-nan", lambda: backward_with(DAB(Signum(), nn.Linear(5, 5)), NAN), ValueError, "dL/dy")
case("DAB-x-nan", lambda: DAB(Signum(), nn.Linear(5, 5))(with_value(torch.randn(2, 5), NAN)), ValueError, "x")
case("DAB-x-meta", lambda: DAB(Signum(), nn.Linear(5, 5))(torch.randn(2, 5, device="meta")), ValueError, "x")
case("DAB-x-list", lambda: DAB(Signum(), nn.Linear(5, 5))([[1.0]]), TypeError, "x")
case("DAB-x-empty", lambda: DAB(Signum(), nn.Linear(5, 5))(torch.zeros(0, 5)), ValueError, "x")
case("InformedMargin-w-nan", lambda: InformedMargin(Identity(TOP2), 0.5)(with_value(torch.randn(2, 5), NAN)),
     ValueError, "w")
case("InformedMargin-target-nan",
     lambda: InformedMargin(Identity(TOP2), 0.5)(torch.randn(2, 5), with_value(torch.zeros(2, 5), NAN)),
     ValueError, "target")
case("InformedMargin-upstream-nan",
     lambda: backward_with(InformedMargin(Identity(TOP2), 0.5), NAN, target=torch.zeros(2, 5)), ValueError, "dL/dy")

case("Identity-solver-no-sense", lambda: Identity(lambda w: w), ValueError, "solver")
case("Identity-solver-not-callable", lambda: Identity(3), TypeError, "solver")
case("Identity-projection-name", lambda: Identity(TOP2, projection="bogus"), ValueError, "projection")
case("Identity-projection-type", lambda: Identity(TOP2, projection=3), TypeError, "projection")
case("Identity-noise-negative", lambda: Identity(TOP2, noise=-1.0), ValueError, "noise")
case("Identity-noise-inf", lambda: Identity(TOP2, noise=INF), ValueError, "noise")
case("Identity-noise-str", lambda: Identity(TOP2, noise="0.1"), TypeError, "noise")
case("Identity-generator", lambda: Identity(TOP2, generator=0), TypeError, "generator")
case("Blackbox-lam-zero", lambda: Blackbox(TOP2, lam=0.0), ValueError, "lam")
case("Blackbox-lam-inf", lambda: Blackbox(TOP2, lam=INF), ValueError, "lam")
case("Blackbox-lam-nan", lambda: Blackbox(TOP2, lam=NAN), ValueError, "lam")
case("Blackbox-lam-str", lambda: Blackbox(TOP2, lam="1"), TypeError, "lam")
case("Blackbox-lam-bool", lambda: Blackbox(TOP2, lam=True), TypeError, "lam")
case("IMLE-lam", lambda: IMLE(TOP2, lam=-1.0), ValueError, "lam")
case("IMLE-noise", lambda: IMLE(TOP2, lam=1.0, noise="laplace"), ValueError, "noise")
case("IMLE-k-zero", lambda: IMLE(TOP2, lam=1.0, k=0), ValueError, "k")
case("IMLE-k-float", lambda: IMLE(TOP2, lam=1.0, k=2.0), TypeError, "k")
case("IMLE-s-zero", lambda: IMLE(TOP2, lam=1.0, s=0), ValueError, "s")
case("IMLE-tau-inf", lambda: IMLE(TOP2, lam=1.0, tau=INF), ValueError, "tau")
case("Perturbed-sigma-zero", lambda: Perturbed(TOP2, sigma=0.0, n_samples=2), ValueError, "sigma")
case("Perturbed-sigma-inf", lambda: Perturbed(TOP2, sigma=INF, n_samples=2), ValueError, "sigma")
case("Perturbed-n_samples-zero", lambda: Perturbed(TOP2, sigma=1.0, n_samples=0), ValueError, "n_samples")
case("Perturbed-n_samples-float", lambda: Perturbed(TOP2, sigma=1.0, n_samples=2.0), TypeError, "n_samples")
case("Perturbed-noise", lambda: Perturbed(TOP2, sigma=1.0, n_samples=2, noise="cauchy"), ValueError, "noise")
case("FenchelYoungLoss-sigma", lambda: FenchelYoungLoss(TOP2, sigma=-1.0), ValueError, "sigma")
case("FenchelYoungLoss-y_true-nan",
     lambda: FenchelYoungLoss(TOP2, 1.0)(torch.randn(2, 5), with_value(torch.zeros(2, 5), NAN)), ValueError, "y_true")
case("FenchelYoungLoss-y_true-shape", lambda: FenchelYoungLoss(TOP2, 1.0)(torch.randn(2, 5), torch.zeros(2, 4)),
     ValueError, "y_true")
case("FenchelYoungLoss-y_true-list", lambda: FenchelYoungLoss(TOP2, 1.0)(torch.randn(2, 5), [[0.0] * 5] * 2),
     TypeError, "y_true")
case("FenchelYoungLoss-w-nan",
     lambda: FenchelYoungLoss(TOP2, 1.0)(with_value(torch.randn(2, 5), NAN), torch.zeros(2, 5)), ValueError, "w")
case("StraightThrough-tau", lambda: StraightThrough(TOP2, tau=0.0), ValueError, "tau")
case("StraightThrough-relaxation", lambda: StraightThrough(TOP2, relaxation=3), TypeError, "relaxation")
case("GumbelSoftmax-tau", lambda: GumbelSoftmax(tau=-1.0), ValueError, "tau")
case("GumbelSoftmax-k-zero", lambda: GumbelSoftmax(k=0), ValueError, "k")
case("GumbelSoftmax-k-float", lambda: GumbelSoftmax(k=1.0), TypeError, "k")
case("GumbelSoftmax-k-above-n", lambda: GumbelSoftmax(k=4)(torch.randn(2, 3)), ValueError, "k")
case("GumbelSoftmax-hard", lambda: GumbelSoftmax(hard="yes"), TypeError, "hard")
case("GumbelSoftmax-noise-nan", lambda: GumbelSoftmax()(torch.randn(2, 3), noise=with_value(torch.zeros(2, 3), NAN)),
     ValueError, "noise")
case("GumbelSoftmax-noise-shape", lambda: GumbelSoftmax()(torch.randn(2, 3), noise=torch.zeros(2, 4)),
     ValueError, "noise")
case("GumbelSoftmax-noise-list", lambda: GumbelSoftmax()(torch.randn(2, 3), noise=[[0.0] * 3] * 2),
     TypeError, "noise")
case("relaxed_top_k-tau", lambda: relaxed_top_k(torch.randn(2, 3), 1, 0.0), ValueError, "tau")
case("relaxed_top_k-k", lambda: relaxed_top_k(torch.randn(2, 3), 0, 1.0), ValueError, "k")
case("top_k_hot-k", lambda: top_k_hot(torch.randn(2, 3), 4), ValueError, "k")
case("ScoreFunction-n_samples", lambda: ScoreFunction(n_samples=0), ValueError, "n_samples")
case("ScoreFunction-loo-n_samples", lambda: ScoreFunction(n_samples=1, baseline="loo"), ValueError, "n_samples")
case("ScoreFunction-baseline", lambda: ScoreFunction(baseline="bogus"), ValueError, "baseline")
case("ScoreFunction-distribution", lambda: ScoreFunction(distribution="poisson"), ValueError, "distribution")
case("ScoreFunction-momentum-one", lambda: ScoreFunction(momentum=1.0), ValueError, "momentum")
case("ScoreFunction-momentum-nan", lambda: ScoreFunction(momentum=NAN), ValueError, "momentum")
case("ScoreFunction-momentum-str", lambda: ScoreFunction(momentum="0.9"), TypeError, "momentum")
case("ScoreFunction-generator", lambda: ScoreFunction(generator="seed"), TypeError, "generator")


def _score_function_f(value):
    sf = ScoreFunction(n_samples=2)
    logits = torch.randn(3, 4)
    z = sf(logits)
    return sf.surrogate(logits, z, with_value(torch.zeros(2, 3), value))


def _relax_f(value):
    relax = RELAX(nn.Sequential(nn.Flatten(2), nn.Linear(4, 1)), n_samples=2)
    logits = torch.randn(3, 4)
    b = relax(logits)
    return relax.surrogate(logits, b, with_value(torch.zeros(2, 3), value))


case("ScoreFunction-f-nan", lambda: _score_function_f(NAN), ValueError, "f")
case("ScoreFunction-f-inf", lambda: _score_function_f(INF), ValueError, "f")
case("RELAX-f-nan", lambda: _relax_f(NAN), ValueError, "f")
case("RELAX-control", lambda: RELAX(lambda z: z.sum(-1)), TypeError, "control")
case("RELAX-n_samples", lambda: RELAX(nn.Linear(2, 1), n_samples=0), ValueError, "n_samples")
case("DAB-hard_fn", lambda: DAB(3, nn.Linear(2, 2)), TypeError, "hard_fn")
case("DAB-bridge", lambda: DAB(torch.sign, lambda x: x), TypeError, "bridge")
case("DAB-weight", lambda: DAB(torch.sign, nn.Linear(2, 2), weight=0.0), ValueError, "weight")
case("InformedMargin-alpha-inf", lambda: InformedMargin(Identity(TOP2), INF), ValueError, "alpha")
case("InformedMargin-alpha-negative", lambda: InformedMargin(Identity(TOP2), -1.0), ValueError, "alpha")
case("InformedMargin-alpha-str", lambda: InformedMargin(Identity(TOP2), "0.5"), TypeError, "alpha")
case("InformedMargin-estimator", lambda: InformedMargin(TOP2, 0.5), TypeError, "estimator")

# ------------------------------------------------------------------------ projections
A = torch.arange(1.0, 6.0)
PROJECTIONS = {"P_mean": P_mean, "P_norm": P_norm, "P_std": P_std, "P_plane": lambda w: P_plane(w, A)}
for label, p in PROJECTIONS.items():
    w = torch.randn(2, 5)
    case(f"{label}-nan", lambda p=p, w=w: p(with_value(w, NAN)), ValueError, "w")
    case(f"{label}-inf", lambda p=p, w=w: p(with_value(w, INF)), ValueError, "w")
    case(f"{label}-list", lambda p=p, w=w: p(w.tolist()), TypeError, "w")
    case(f"{label}-meta", lambda p=p, w=w: p(w.to("meta")), ValueError, "w")
    case(f"{label}-1d", lambda p=p: p(torch.randn(5)), ValueError, "w")
    case(f"{label}-integer", lambda p=p: p(torch.ones(2, 5, dtype=torch.long)), TypeError, "w")
    case(f"{label}-empty", lambda p=p: p(torch.zeros(0, 5)), ValueError, "w")
for label, p in (("P_norm", P_norm), ("P_std", P_std)):
    case(f"{label}-eps-zero", lambda p=p: p(torch.randn(2, 5), eps=0.0), ValueError, "eps")
    case(f"{label}-eps-inf", lambda p=p: p(torch.randn(2, 5), eps=INF), ValueError, "eps")
    case(f"{label}-eps-str", lambda p=p: p(torch.randn(2, 5), eps="1e-4"), TypeError, "eps")
case("P_plane-a-nan", lambda: P_plane(torch.randn(2, 5), with_value(A, NAN)), ValueError, "a")
case("P_plane-a-shape", lambda: P_plane(torch.randn(2, 5), torch.ones(4)), ValueError, "a")
case("P_plane-a-list", lambda: P_plane(torch.randn(2, 5), A.tolist()), TypeError, "a")
case("P_plane-eps", lambda: P_plane(torch.randn(2, 5), A, eps=-1.0), ValueError, "eps")
case("get_projection-name", lambda: get_projection("median"), ValueError, "projection")
case("get_projection-type", lambda: get_projection(3), TypeError, "projection")

# ------------------------------------------------------------------------------ noise
case("margin_noise-alpha-inf", lambda: margin_noise((3,), INF), ValueError, "alpha")
case("margin_noise-alpha-nan", lambda: margin_noise((3,), NAN), ValueError, "alpha")
case("margin_noise-alpha-negative", lambda: margin_noise((3,), -1.0), ValueError, "alpha")
case("margin_noise-alpha-str", lambda: margin_noise((3,), "1"), TypeError, "alpha")
case("margin_noise-alpha-tensor", lambda: margin_noise((3,), torch.tensor([1.0, 2.0])), TypeError, "alpha")
SAMPLERS_OF_NOISE = {
    "margin_noise": lambda shape, **kw: margin_noise(shape, 1.0, **kw),
    "gumbel_noise": gumbel_noise,
    "standard_gamma": lambda shape, **kw: standard_gamma(shape, 2.0, **kw),
    "sum_of_gamma_noise": sum_of_gamma_noise,
}
for label, sample in SAMPLERS_OF_NOISE.items():
    case(f"{label}-shape-negative", lambda f=sample: f((2, -1)), ValueError, "shape")
    case(f"{label}-shape-float", lambda f=sample: f((2, 2.5)), TypeError, "shape")
    case(f"{label}-shape-none", lambda f=sample: f(None), TypeError, "shape")
    case(f"{label}-dtype-integer", lambda f=sample: f((2,), dtype=torch.int64), TypeError, "dtype")
    case(f"{label}-device-meta", lambda f=sample: f((2,), device="meta"), ValueError, "device")
    case(f"{label}-generator", lambda f=sample: f((2,), generator=0), TypeError, "generator")
case("standard_gamma-concentration-zero", lambda: standard_gamma((2,), 0.0), ValueError, "concentration")
case("standard_gamma-concentration-inf", lambda: standard_gamma((2,), INF), ValueError, "concentration")
case("standard_gamma-concentration-str", lambda: standard_gamma((2,), "2"), TypeError, "concentration")
case("sum_of_gamma_noise-k-zero", lambda: sum_of_gamma_noise((2,), k=0), ValueError, "k")
case("sum_of_gamma_noise-k-float", lambda: sum_of_gamma_noise((2,), k=1.5), TypeError, "k")
case("sum_of_gamma_noise-s-zero", lambda: sum_of_gamma_noise((2,), s=0), ValueError, "s")
case("sum_of_gamma_noise-tau-zero", lambda: sum_of_gamma_noise((2,), tau=0.0), ValueError, "tau")
case("sum_of_gamma_noise-tau-inf", lambda: sum_of_gamma_noise((2,), tau=INF), ValueError, "tau")

# ----------------------------------------------------------------------------- losses
Y, T = torch.rand(2, 5), (torch.rand(2, 5) > 0.5).float()
for label, loss in (("hamming_loss", hamming_loss), ("absolute_loss", absolute_loss)):
    case(f"{label}-y_pred-nan", lambda f=loss: f(with_value(Y, NAN), T), ValueError, "y_pred")
    case(f"{label}-y_true-inf", lambda f=loss: f(Y, with_value(T, INF)), ValueError, "y_true")
    case(f"{label}-shape", lambda f=loss: f(Y, T[:, :4]), ValueError, "y_true")
    case(f"{label}-y_pred-list", lambda f=loss: f(Y.tolist(), T), TypeError, "y_pred")
    case(f"{label}-y_pred-integer", lambda f=loss: f(T.long(), T), TypeError, "y_pred")
    case(f"{label}-1d", lambda f=loss: f(Y[0], T[0]), ValueError, "y_pred")
    case(f"{label}-meta", lambda f=loss: f(Y.to("meta"), T.to("meta")), ValueError, "y_pred")
    case(f"{label}-empty", lambda f=loss: f(Y[:, :0], T[:, :0]), ValueError, "y_pred")
case("bernoulli_reconstruction-logits-nan", lambda: bernoulli_reconstruction(with_value(Y, NAN), T), ValueError,
     "logits")
case("bernoulli_reconstruction-x-nan", lambda: bernoulli_reconstruction(Y, with_value(T, NAN)), ValueError, "x")
case("bernoulli_reconstruction-shape", lambda: bernoulli_reconstruction(Y, T[:1]), ValueError, "x")
case("kl_softmax_uniform-nan", lambda: kl_softmax_uniform(with_value(Y, NAN)), ValueError, "logits")
case("kl_softmax_uniform-1d", lambda: kl_softmax_uniform(Y[0]), ValueError, "logits")
case("kl_softmax_uniform-list", lambda: kl_softmax_uniform(Y.tolist()), TypeError, "logits")
case("kl_softmax_uniform-empty", lambda: kl_softmax_uniform(Y[:, :0]), ValueError, "logits")
case("recall_loss-ranks-nan", lambda: recall_loss(with_value(Ranking()(Y), NAN), T), ValueError, "ranks")
case("recall_loss-positive-inf", lambda: recall_loss(Ranking()(Y), with_value(T, INF)), ValueError, "positive")
case("recall_loss-3d", lambda: recall_loss(Y[None], T[None]), ValueError, "ranks")


@pytest.mark.parametrize("thunk, exc, name", CASES)
def test_bad_input_is_refused_by_name(thunk, exc, name):
    with pytest.raises(exc) as err:
        thunk()
    if exc is ValueError:   # a wrong value is not reported as a wrong type
        assert not isinstance(err.value, TypeError), f"{type(err.value).__name__}: {err.value}"
    assert re.search(rf"(?<![\w/]){re.escape(name)}(?![\w])", str(err.value)), \
        f"the message does not name {name!r}: {err.value}"


def test_the_table_is_large():
    assert len(CASES) >= 100


def test_type_errors_are_also_value_errors():
    """Code written when every bad input raised ValueError still catches the type errors."""
    with pytest.raises(ValueError):
        TopK(1.5)
    assert issubclass(ArgumentTypeError, TypeError)


def test_counts_accept_any_integral():
    """numbers.Integral counts (numpy integers) behave exactly as Python ints."""
    w = torch.randn(3, 6, generator=torch.Generator().manual_seed(0))
    assert torch.equal(TopK(np.int64(2))(w), TopK(2)(w))
    assert torch.equal(TopK(2, dim=np.int32(-1))(w), TopK(2)(w))
    grid = torch.rand(2, 4, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(ShortestPath(check_every=np.int64(2))(grid), ShortestPath()(grid))
    for a, b in [
        (lambda: sum_of_gamma_noise((np.int64(3), 4), k=np.int64(2), s=np.int16(5),
                                    generator=torch.Generator().manual_seed(2)),
         lambda: sum_of_gamma_noise((3, 4), k=2, s=5, generator=torch.Generator().manual_seed(2))),
        (lambda: gumbel_noise(np.int64(7), generator=torch.Generator().manual_seed(3)),
         lambda: gumbel_noise(7, generator=torch.Generator().manual_seed(3))),
    ]:
        assert torch.equal(a(), b())
    assert IMLE(TOP2, lam=1.0, k=np.int64(2), s=np.int64(3)).k == 2
    assert Perturbed(TOP2, sigma=np.float32(0.5), n_samples=np.int64(3)).n_samples == 3
    assert ScoreFunction(n_samples=np.int64(2), baseline="loo").n_samples == 2
    assert GumbelSoftmax(k=np.int64(2)).k == 2
    assert margin_noise((2,), np.float64(1.0)).abs().max() == 0.5

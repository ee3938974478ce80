"""Projections: the sets they project onto, invariance of a solver's output, no NaN at zero."""
import pytest
import torch

from discgrad.projections import P_mean, P_norm, P_plane, P_std, get_projection
from discgrad.solvers import TopK


def test_projection_properties_per_instance():
    w = torch.randn(4, 3, 5, dtype=torch.float64) * 3 + 1
    dims = (1, 2)
    assert torch.allclose(P_mean(w).sum(dims), torch.zeros(4, dtype=w.dtype), atol=1e-12)
    assert torch.allclose(torch.linalg.vector_norm(P_norm(w), dim=dims), torch.ones(4, dtype=w.dtype))
    s = P_std(w)
    assert torch.allclose(s.sum(dims), torch.zeros(4, dtype=w.dtype), atol=1e-12)
    assert torch.allclose(torch.linalg.vector_norm(s, dim=dims), torch.ones(4, dtype=w.dtype))
    for p in (P_mean, P_norm, P_std):           # projections are idempotent
        torch.testing.assert_close(p(p(w)), p(w))


def test_plane_projection():
    w = torch.randn(3, 6, dtype=torch.float64)
    a = torch.randn(6, dtype=torch.float64)
    p = P_plane(w, a)
    assert torch.allclose(p @ a, torch.zeros(3, dtype=w.dtype), atol=1e-12)
    torch.testing.assert_close(P_plane(p, a), p)
    torch.testing.assert_close(P_plane(w, torch.ones(6, dtype=w.dtype)), P_mean(w))
    per_instance = torch.randn(3, 6, dtype=torch.float64)
    assert torch.allclose((P_plane(w, per_instance) * per_instance).sum(1), torch.zeros(3, dtype=w.dtype), atol=1e-12)
    torch.testing.assert_close(P_plane(w, torch.zeros(6, dtype=w.dtype)), w)   # zero normal: unchanged
    with pytest.raises(ValueError, match="a must have shape"):
        P_plane(w, torch.ones(5))


def test_solver_output_is_invariant():
    w = torch.randn(5, 8)
    for p in (P_mean, P_norm, P_std):
        assert torch.equal(TopK(3)(p(w)), TopK(3)(w))


def test_zero_costs_give_zero_and_finite_gradient():
    w = torch.zeros(2, 4, requires_grad=True)
    for p in (P_norm, P_std):
        out = p(w)
        assert torch.equal(out, torch.zeros_like(out))
        (g,) = torch.autograd.grad(out.sum(), w)
        assert torch.isfinite(g).all()


def test_get_projection():
    assert get_projection(None) is None and get_projection("std") is P_std
    f = lambda w: w  # noqa: E731
    assert get_projection(f) is f
    with pytest.raises(ValueError, match="unknown projection"):
        get_projection("median")
    with pytest.raises(ValueError, match="at least 2 dims"):
        P_mean(torch.ones(3))


# ------------------------------------------------------------- gradcheck and the eps floor
from torch.autograd import gradcheck, gradgradcheck  # noqa: E402

from discgrad.projections import EPS  # noqa: E402

A = torch.tensor([1.0, -2.0, 0.5, 3.0, 1.5, -1.0], dtype=torch.float64)
SMOOTH = {
    "P_mean": P_mean,
    "P_norm": P_norm,
    "P_std": P_std,
    "P_plane": lambda w: P_plane(w, A.view(w.shape[1:])),
    "P_plane_per_instance": lambda w: P_plane(w, torch.arange(1.0, w.numel() + 1, dtype=w.dtype).view(w.shape)),
}


@pytest.mark.parametrize("name", SMOOTH)
@pytest.mark.parametrize("shape", [(3, 6), (2, 2, 3)])
def test_gradcheck_and_gradgradcheck(name, shape):
    w = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_()
    assert gradcheck(SMOOTH[name], (w,))
    assert gradgradcheck(SMOOTH[name], (w,))


@pytest.mark.parametrize("p, value", [(P_norm, 0.0), (P_std, 0.0), (P_std, 1.0), (P_std, 7.3), (P_std, -250.0)],
                         ids=["P_norm-0", "P_std-0", "P_std-1", "P_std-7.3", "P_std--250"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_constant_instance_has_a_bounded_gradient(p, value, dtype):
    """A (near-)constant instance is divided by eps, not by its rounding-noise norm
    (a dead ReLU layer gives zeros; a bias-only output, a constant)."""
    n = 144
    w = torch.full((2, n), value, dtype=dtype)
    w[1] += 1e-7 * abs(value) * torch.randn(n, dtype=dtype, generator=torch.Generator().manual_seed(1))
    w.requires_grad_()
    out = p(w)
    assert torch.isfinite(out).all() and (torch.linalg.vector_norm(out.detach(), dim=1) <= 1 + 1e-6).all()
    g = torch.randn(2, n, dtype=dtype, generator=torch.Generator().manual_seed(2))
    (grad,) = torch.autograd.grad((out * g).sum(), w)
    # the Jacobian's operator norm is at most 1 / eps (it is 1e12 / sqrt(n)-ish with eps = 1e-12)
    assert (torch.linalg.vector_norm(grad, dim=1) <= torch.linalg.vector_norm(g, dim=1) / EPS * (1 + 1e-5)).all()
    if dtype == torch.float64:   # below the floor the map is linear: gradcheck holds there too
        assert gradcheck(p, (w.detach()[:1].clone().requires_grad_(),))
        assert gradgradcheck(p, (w.detach()[:1].clone().requires_grad_(),))


def test_eps_floor_changes_nothing_above_it():
    """Above the floor, values and gradients are bit for bit those of w / ||w||."""
    g = torch.Generator().manual_seed(3)
    for scale in (1e-3, 1.0, 1e3):
        w = (scale * torch.randn(4, 10, generator=g)).requires_grad_()
        up = torch.randn(4, 10, generator=g)
        plain = w / torch.linalg.vector_norm(w, dim=1, keepdim=True)
        (expected,) = torch.autograd.grad((plain * up).sum(), w)
        out = P_norm(w)
        (got,) = torch.autograd.grad((out * up).sum(), w)
        assert torch.equal(out, plain) and torch.equal(got, expected)
    w = torch.tensor([[3e-5, 4e-5]])   # norm 5e-5 < eps: divided by eps
    assert torch.allclose(P_norm(w), w / EPS) and EPS == 1e-4
    assert torch.allclose(P_norm(w, eps=1e-6), w / 5e-5)


def test_projections_act_per_instance_and_a_callable_projects_per_slice():
    """The module docstring's note: P_mean centres the whole instance, not each slice of TopK(k, dim=1)."""
    from discgrad import Identity
    from discgrad.projections import P_mean
    from discgrad.solvers import TopK

    w = torch.randn(2, 5, 3)
    shift = torch.tensor([0.0, 10.0, -4.0])  # one shift per slice (column)
    assert not torch.allclose(P_mean(w + shift), P_mean(w), atol=1e-5)
    per_slice = lambda c: c - c.mean(dim=1, keepdim=True)  # noqa: E731
    assert torch.allclose(per_slice(w + shift), per_slice(w), atol=1e-5)
    assert torch.equal(TopK(2, dim=1)(w + shift), TopK(2, dim=1)(w))  # the solver's own invariance
    x = (w + shift).requires_grad_(True)
    y = Identity(TopK(2, dim=1), projection=per_slice)(x)
    (y * torch.randn_like(y)).sum().backward()
    assert torch.allclose(x.grad.sum(dim=1), torch.zeros(2, 3), atol=1e-6)  # no gradient along any slice's shift

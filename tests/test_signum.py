"""Signum, TernarySignum and Heaviside (the DAB chapters' hard functions) against brute force
over {-1, +1}^n, {-1, 0, +1}^n and {0, 1}^n; ties, dtypes, bad input."""
import itertools

import pytest
import torch

from discgrad.solvers import Heaviside, Signum, TernarySignum


def brute_force(w, values, price=0.0):
    """The argmax of <w, y> - price |y|_1 over values^n, one row at a time."""
    corners = torch.tensor(list(itertools.product(values, repeat=w.shape[1])), dtype=w.dtype)
    scores = w @ corners.T - price * corners.abs().sum(1)
    return corners[scores.argmax(1)]


def test_signum_is_the_argmax_over_the_cube():
    w = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(Signum()(w), brute_force(w, [-1.0, 1.0]))
    assert Signum().sense == "max"


@pytest.mark.parametrize("dead_zone", [0.0, 0.3, 1.0])
def test_ternary_signum_is_the_argmax_with_a_price_on_nonzero_entries(dead_zone):
    w = 1.5 * torch.randn(50, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(TernarySignum(dead_zone)(w), brute_force(w, [-1.0, 0.0, 1.0], dead_zone))
    assert TernarySignum(dead_zone).sense == "max"


def test_heaviside_is_the_argmax_over_the_binary_cube():
    w = torch.randn(50, 4, generator=torch.Generator().manual_seed(2))
    assert torch.equal(Heaviside()(w), brute_force(w, [0.0, 1.0]))
    assert Heaviside().sense == "max"


def test_ties():
    zero = torch.tensor([[0.0, -0.0]])
    assert torch.equal(Signum()(zero), torch.ones(1, 2))           # a binary code: never 0
    assert torch.equal(Heaviside()(zero), torch.zeros(1, 2))
    assert torch.equal(TernarySignum(0.5)(torch.tensor([[0.5, -0.5]])), torch.zeros(1, 2))
    assert torch.equal(TernarySignum(0.0)(zero), torch.zeros(1, 2))


@pytest.mark.parametrize("solver", [Signum(), TernarySignum(0.1), Heaviside()], ids=repr)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtype_shape_and_no_grad(solver, dtype):
    w = torch.randn(3, 2, 5, dtype=dtype, requires_grad=True)
    y = solver(w)
    assert y.shape == w.shape and y.dtype == dtype and y.device == w.device and not y.requires_grad
    assert solver(torch.tensor([[2, -3]])).dtype == torch.get_default_dtype()


@pytest.mark.parametrize("solver", [Signum(), TernarySignum(0.1), Heaviside()], ids=repr)
def test_bad_input(solver):
    for bad in (torch.tensor([[1.0, float("nan")]]), torch.tensor([[float("inf")]])):
        with pytest.raises(ValueError, match="NaN or inf"):
            solver(bad)
    with pytest.raises(ValueError, match="batch"):
        solver(torch.tensor(1.0))
    with pytest.raises(ValueError, match="torch.Tensor"):
        solver([[1.0]])


def test_bad_dead_zone():
    for bad in (-0.1, float("nan"), float("inf"), "1", None, True):
        with pytest.raises(ValueError, match="dead_zone"):
            TernarySignum(bad)

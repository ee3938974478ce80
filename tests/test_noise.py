"""Noise samplers: exact values, moments against closed forms, reproducibility."""
import math

import pytest
import torch

from discgrad.noise import gumbel_noise, margin_noise, standard_gamma, sum_of_gamma_noise

EULER_GAMMA = 0.5772156649015329


def test_margin_noise_values_and_fair_signs():
    xi = margin_noise((100, 100), 0.4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert set(xi.unique().tolist()) == {-0.2, 0.2}
    n_plus = int((xi > 0).sum())
    assert abs(n_plus - 5000) < 5 * 50          # Binomial(10^4, 1/2): sd 50
    assert margin_noise((3,), 0.0).abs().sum() == 0
    with pytest.raises(ValueError, match="alpha"):
        margin_noise((3,), -1.0)


def test_gumbel_moments():
    n = 200_000
    g = gumbel_noise((n,), dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(g).all()
    var = math.pi ** 2 / 6
    assert abs(g.mean().item() - EULER_GAMMA) < 5 * math.sqrt(var / n)
    assert abs(g.var().item() - var) < 0.05


@pytest.mark.parametrize("a", [0.25, 1.0, 3.5])
def test_standard_gamma_moments(a):
    n = 100_000
    x = standard_gamma((n,), a, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert (x >= 0).all()
    assert abs(x.mean().item() - a) < 5 * math.sqrt(a / n)       # Gamma(a, 1): mean a, var a
    assert abs(x.var().item() / a - 1) < 0.05


@pytest.mark.parametrize("k", [1, 3])
def test_sum_of_gamma_exact_moments(k):
    tau, s, n = 2.0, 10, 20_000
    eps = sum_of_gamma_noise((n,), k, tau, s, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    h_s = sum(1 / i for i in range(1, s + 1))
    mean, var = tau / k * (h_s - math.log(s)), tau ** 2 / k * sum(1 / i ** 2 for i in range(1, s + 1))
    assert abs(eps.mean().item() - mean) < 5 * math.sqrt(var / n)
    assert abs(eps.var().item() / var - 1) < 0.08


def test_sum_of_gamma_copies_sum_to_gumbel():
    # k copies sum to a Gumbel with scale tau as s grows (s = 100: moments within 1 %)
    tau, k, n = 2.0, 2, 5_000
    total = sum_of_gamma_noise((n, k), k, tau, 100, dtype=torch.float64,
                               generator=torch.Generator().manual_seed(4)).sum(dim=1)
    var = tau ** 2 * math.pi ** 2 / 6
    assert abs(total.mean().item() - tau * EULER_GAMMA) < 5 * math.sqrt(var / n)
    assert abs(total.var().item() / var - 1) < 0.15


def test_generator_reproducible_and_dtype():
    for sample in (
        lambda g, dt: margin_noise((4, 5), 1.0, generator=g, dtype=dt),
        lambda g, dt: gumbel_noise((4, 5), generator=g, dtype=dt),
        lambda g, dt: sum_of_gamma_noise((4, 5), 2, generator=g, dtype=dt),
    ):
        a = sample(torch.Generator().manual_seed(3), torch.float32)
        b = sample(torch.Generator().manual_seed(3), torch.float32)
        assert torch.equal(a, b) and a.dtype == torch.float32
        assert sample(None, torch.float64).dtype == torch.float64


def test_bad_arguments():
    with pytest.raises(ValueError, match="k must"):
        sum_of_gamma_noise((2,), k=0)
    with pytest.raises(ValueError, match="tau"):
        sum_of_gamma_noise((2,), tau=0.0)
    with pytest.raises(ValueError, match="s must"):
        sum_of_gamma_noise((2,), s=0)
    with pytest.raises(ValueError, match="concentration"):
        standard_gamma((2,), 0.0)


# ------------------------------------------------------ precision: drawn in float32, then cast
SAMPLERS = {
    "margin": lambda g, dt: margin_noise((50, 40), 0.3, generator=g, dtype=dt),
    "gumbel": lambda g, dt: gumbel_noise((50, 40), generator=g, dtype=dt),
    "gamma": lambda g, dt: standard_gamma((50, 40), 0.7, generator=g, dtype=dt),
    "sog": lambda g, dt: sum_of_gamma_noise((50, 40), 2, generator=g, dtype=dt),
}


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_noise_is_the_float32_draw_cast(name, dtype):
    low = SAMPLERS[name](torch.Generator().manual_seed(5), dtype)
    high = SAMPLERS[name](torch.Generator().manual_seed(5), torch.float32)
    assert low.dtype == dtype and torch.equal(low, high.to(dtype))


def test_float32_gumbel_is_the_textbook_formula():
    """float32 callers get exactly -log(-log U) of a float32 uniform (no change for them)."""
    u = torch.rand((30, 7), generator=torch.Generator().manual_seed(6))
    u = u.clamp(torch.finfo(torch.float32).tiny, 1 - torch.finfo(torch.float32).eps)
    g = gumbel_noise((30, 7), generator=torch.Generator().manual_seed(6), dtype=torch.float32)
    assert torch.equal(g, -torch.log(-torch.log(u)))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_gumbel_is_unbiased(dtype):
    # drawn in bfloat16 directly: mean 0.551, variance 1.571, about 500 distinct values
    n = 400_000
    g = gumbel_noise((n,), dtype=dtype, generator=torch.Generator().manual_seed(7)).double()
    var = math.pi ** 2 / 6
    assert abs(g.mean().item() - EULER_GAMMA) < 5 * math.sqrt(var / n) + 0.004   # + bfloat16 rounding
    assert abs(g.var().item() - var) < 0.02
    assert g.unique().numel() > 1000

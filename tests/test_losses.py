"""Losses: Hamming distance by counting; the Fenchel-Young loss against a direct computation."""
import pytest
import torch

import discgrad.losses
from discgrad import FenchelYoungLoss
from discgrad.losses import hamming_loss
from discgrad.solvers import Solver, TopK


def test_hamming_counts_differences_and_has_linear_gradient():
    y = torch.tensor([[1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]], requires_grad=True)
    t = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    loss = hamming_loss(y, t)
    assert loss.item() == pytest.approx((2 / 4 + 0) / 2)
    loss.backward()
    torch.testing.assert_close(y.grad, (1 - 2 * t) / 4 / 2)


def test_hamming_multi_dim_and_errors():
    y = torch.zeros(3, 2, 5)
    assert hamming_loss(y, torch.ones(3, 2, 5)).item() == 1.0
    with pytest.raises(ValueError, match="same shape"):
        hamming_loss(torch.zeros(2, 3), torch.zeros(2, 4))


def test_losses_module_does_not_carry_the_fenchel_young_loss():
    # it lives with its estimator; importing it here would load every estimator
    assert not hasattr(discgrad.losses, "FenchelYoungLoss")
    assert "FenchelYoungLoss" not in discgrad.losses.__all__


ARGMIN = Solver(lambda w: torch.nn.functional.one_hot(w.argmin(-1), w.shape[-1]).to(w.dtype), sense="min")


@pytest.mark.parametrize("solver", [TopK(1), ARGMIN], ids=["max", "min"])
def test_fenchel_young_value_matches_a_direct_computation(solver):
    """Berthet et al. 2020, sec. 4: mean_s max_y <theta + sigma Z_s, y> - <theta, y*>, theta = sign * w."""
    sigma, n, w = 0.7, 5, torch.tensor([[0.3, -1.0, 2.0, 0.5], [1.0, 1.0, -0.2, 0.0]])
    y_true = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    loss = FenchelYoungLoss(solver, sigma, n, generator=torch.Generator().manual_seed(3))(w, y_true)
    z = torch.randn((n, *w.shape), generator=torch.Generator().manual_seed(3))
    theta = w if solver.sense == "max" else -w
    # the solver sees w + sign * sigma * Z; for a one-hot argmax/argmin the inner max is a max over entries
    f_sigma = (theta.unsqueeze(0) + sigma * z).max(dim=-1).values.mean(dim=0)
    expected = (f_sigma - (theta * y_true).sum(dim=-1)).mean()
    torch.testing.assert_close(loss, expected)

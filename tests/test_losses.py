"""Losses: Hamming distance by counting; the Fenchel-Young loss against a direct computation;
the smooth losses against their formulas, with gradcheck."""
import math

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


# ------------------------------------------------------------ the smooth losses: gradcheck
from torch.autograd import gradcheck, gradgradcheck  # noqa: E402

from discgrad.losses import absolute_loss, bernoulli_reconstruction, kl_softmax_uniform, recall_loss  # noqa: E402


def test_bernoulli_reconstruction_and_kl_by_hand_and_gradcheck():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, dtype=torch.float64, generator=g).requires_grad_()
    x = (torch.rand(3, 4, dtype=torch.float64, generator=g) > 0.5).double()
    p = torch.sigmoid(logits.detach())
    torch.testing.assert_close(bernoulli_reconstruction(logits, x),
                               -(x * p.log() + (1 - x) * (1 - p).log()).sum(1))
    assert gradcheck(lambda l: bernoulli_reconstruction(l, x), (logits,))
    assert gradgradcheck(lambda l: bernoulli_reconstruction(l, x), (logits,))
    groups = torch.randn(2, 3, 5, dtype=torch.float64, generator=g).requires_grad_()
    q = torch.softmax(groups.detach(), -1)
    torch.testing.assert_close(kl_softmax_uniform(groups), (q * (q * 5).log()).sum((1, 2)))
    assert gradcheck(kl_softmax_uniform, (groups,)) and gradgradcheck(kl_softmax_uniform, (groups,))


def test_absolute_and_recall_loss_gradients():
    y = torch.tensor([[0.2, 0.9, 0.4]], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([[0.0, 1.0, 1.0]], dtype=torch.float64)
    assert gradcheck(lambda v: absolute_loss(v, t), (y,))   # away from the kinks y = t
    # recall loss: differentiable in the ranks between the integers (r+ is piecewise constant)
    ranks = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0]], dtype=torch.float64, requires_grad=True)
    positive = torch.tensor([[0.0, 1.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    assert gradcheck(lambda r: recall_loss(r, positive), (ranks,))
    # positives at ranks 2 and 5 have 1 and 3 negatives above them
    expected = (math.log1p(math.log1p(1)) + math.log1p(math.log1p(3))) / 2
    assert recall_loss(ranks, positive).item() == pytest.approx(expected)
    (grad,) = torch.autograd.grad(recall_loss(ranks, positive).sum(), ranks)
    assert torch.equal(grad[0, [0, 2, 3]], torch.zeros(3, dtype=torch.float64))   # negatives get nothing

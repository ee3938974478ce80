"""DAB bridges (chapter 5): shapes, the Jacobian structure of the structured bridges, the
imitation error, and bad arguments."""
import pytest
import torch
from torch.autograd.functional import jacobian

from discgrad import DAB
from discgrad.bridges import (ElementwiseBridge, FlatBridge, GroupwiseBridge, StandardisedBridge, bridge_of_kind,
                              imitation_error, make_bridge)
from discgrad.solvers import Signum


def test_shapes():
    x = torch.randn(3, 12)
    assert make_bridge(12, 5, [16])(x).shape == (3, 5)
    assert FlatBridge((3, 4), 8)(x.view(3, 3, 4)).shape == (3, 3, 4)
    assert ElementwiseBridge(8)(x).shape == (3, 12)
    assert ElementwiseBridge(8)(x.view(3, 2, 6)).shape == (3, 2, 6)  # any shape
    assert GroupwiseBridge(4, hidden=[8, 8])(x).shape == (3, 12)
    assert GroupwiseBridge(3)(x.view(3, 2, 6)).shape == (3, 2, 6)
    # the structured bridges' sizes do not grow with the input
    assert sum(p.numel() for p in ElementwiseBridge(8).parameters()) == 3 * 8 + 1


def test_elementwise_bridge_has_a_diagonal_jacobian():
    torch.manual_seed(0)
    bridge = ElementwiseBridge(16)
    x = torch.randn(2, 5)
    jac = jacobian(bridge, x).reshape(10, 10)
    off = ~torch.eye(10, dtype=torch.bool)
    assert torch.equal(jac[off], torch.zeros_like(jac[off]))
    assert (jac.diagonal() != 0).all()


def test_groupwise_bridge_has_a_block_diagonal_jacobian():
    torch.manual_seed(0)
    bridge = GroupwiseBridge(3, hidden=16)
    x = torch.randn(2, 9)
    jac = jacobian(bridge, x).reshape(18, 18)
    group = torch.arange(18) // 3      # (row, group) of every flat entry, groups of 3
    same = group[:, None] == group[None, :]
    assert torch.equal(jac[~same], torch.zeros_like(jac[~same]))
    assert (jac[same] != 0).float().mean() > 0.9   # a dense block: entries of a group interact


def test_dense_bridge_has_cross_talk():
    torch.manual_seed(0)
    jac = jacobian(make_bridge(4, 4, [16]), torch.randn(1, 4)).reshape(4, 4)
    assert (jac[~torch.eye(4, dtype=torch.bool)] != 0).all()


def test_structured_bridges_train_in_a_dab_layer():
    torch.manual_seed(0)
    for bridge in (ElementwiseBridge(8), GroupwiseBridge(2, 8)):
        layer = DAB(Signum(), bridge)
        x = torch.randn(5, 6, requires_grad=True)
        y = layer(x)
        assert torch.equal(y, Signum()(x))
        (y.sum() + layer.bridge_loss).backward()
        assert x.grad is not None and all(p.grad is not None for p in bridge.parameters())


def test_imitation_error_is_zero_when_perfect_and_one_for_the_mean():
    torch.manual_seed(0)
    hard = Signum()(torch.randn(50, 6))
    assert float(imitation_error(hard, hard)) == 0.0
    constant = hard.mean(0).expand_as(hard)   # the best constant predictor
    assert float(imitation_error(constant, hard)) == pytest.approx(1.0)
    assert float(imitation_error(constant + 0.1, hard)) > 1.0
    assert float(imitation_error(hard.view(5, 10, 6), hard)) == 0.0   # any batch shape


def test_bad_arguments_raise():
    for bad in (0, -3, [8, 0], 2.5, True):
        with pytest.raises(ValueError, match="hidden"):
            ElementwiseBridge(bad)
        with pytest.raises(ValueError, match="hidden"):
            GroupwiseBridge(2, hidden=bad)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="group_size"):
            GroupwiseBridge(bad)
    with pytest.raises(ValueError, match="group_size"):
        GroupwiseBridge(4)(torch.zeros(2, 6))


def test_standardised_bridge_ignores_shift_and_scale_and_checks_its_input():
    torch.manual_seed(0)
    bridge, x = StandardisedBridge(hidden=8), torch.randn(3, 7)
    assert torch.allclose(bridge(2.5 * x - 4.0), bridge(x), atol=1e-5)
    with pytest.raises(ValueError, match="at least 2 entries"):
        bridge(torch.randn(3, 1))


def test_bridge_of_kind_builds_each_kind_and_refuses_others():
    x = torch.randn(2, 6)
    for kind in ("dense", "elementwise", "standardised"):
        assert bridge_of_kind(kind, 6, 4)(x).shape == x.shape
    with pytest.raises(ValueError, match="unknown bridge kind 'sparse'"):
        bridge_of_kind("sparse", 6, 4)


def test_standardised_and_elementwise_bridges_are_permutation_equivariant():
    """Permuting an instance's entries permutes the bridge's output (as for top-k and ranking,
    whose output follows the scores around); the dense bridge does not."""
    torch.manual_seed(1)
    x, perm = torch.randn(4, 9), torch.randperm(9)
    for bridge in (StandardisedBridge(hidden=8), bridge_of_kind("elementwise", 9, 8)):
        assert torch.allclose(bridge(x[:, perm]), bridge(x)[:, perm], atol=1e-6)
    dense = bridge_of_kind("dense", 9, 8)
    assert not torch.allclose(dense(x[:, perm]), dense(x)[:, perm], atol=1e-3)

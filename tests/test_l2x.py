"""Learning to explain (chapter 7): the pieces of the task and its layers."""
import torch

from discgrad.data.explain import make_explain_data
from discgrad.experiments import l2x

CONFIG, K = l2x.CONFIGS["smoke"], 3


def _layer(method, variant=None):
    variant = l2x.METHODS[method].variants()[0] if variant is None else variant
    return l2x.TASK.layer(method, variant, CONFIG, k=K)


def test_every_layer_selects_in_training_and_is_exact_top_k_in_eval():
    torch.manual_seed(0)
    scores = torch.randn(4, CONFIG["positions"])
    for method in l2x.METHODS:
        layer = _layer(method).train()
        z = layer(scores)
        assert z.shape == scores.shape and (z >= 0).all()
        if method in ("identity", "imle", "dab"):  # exact k-hot samples
            assert torch.equal(z.sum(1), torch.full((4,), float(K))) and set(z.unique().tolist()) <= {0.0, 1.0}
        elif method == "softsub":  # successive softmaxes: total mass k (an entry may exceed 1)
            torch.testing.assert_close(z.sum(1), torch.full((4,), float(K)))
        else:  # the maximum of k relaxed one-hots: entries in [0, 1], mass between 1 and k
            assert (z <= 1 + 1e-6).all() and ((z.sum(1) >= 1 - 1e-5) & (z.sum(1) <= K + 1e-5)).all()
        assert torch.equal(layer.eval()(scores), l2x.TopK(K)(scores))


def test_identity_and_dab_sample_with_noise_and_imle_draws_its_own():
    torch.manual_seed(0)
    scores = torch.randn(64, CONFIG["positions"])
    for method in ("identity", "dab"):
        assert not torch.equal(_layer(method).train()(scores), l2x.TopK(K)(scores))
    assert _layer("imle").method.noisy_input is False


def test_dab_layer_sends_the_bridge_vjp_and_only_the_bridge_learns_from_its_loss():
    torch.manual_seed(0)
    for variant in l2x.METHODS["dab"].variants():
        layer = _layer("dab", variant).train()
        scores = torch.randn(4, CONFIG["positions"], requires_grad=True)
        seen = {}
        layer.estimator.register_forward_pre_hook(lambda mod, args: seen.update(w=args[0].detach()))
        z = layer(scores)
        assert torch.equal(z, l2x.TopK(K)(seen["w"])) and not torch.equal(seen["w"], scores.detach())
        g = torch.randn_like(z)
        (z * g).sum().backward()
        w = seen["w"].clone().requires_grad_(True)
        expected, = torch.autograd.grad(layer.estimator.bridge(w), w, g)
        torch.testing.assert_close(scores.grad, expected)  # the noise is a shift: dw/dscores = 1
        assert all(p.grad is None for p in layer.parameters())
        layer.extra_loss().backward()
        assert all(p.grad is not None for p in layer.parameters())


def test_dab_runs_report_how_well_the_bridge_imitates_top_k():
    result = l2x.TASK.run("dab", "smoke", seed=0, max_steps=2)
    assert {"val_bridge_error", "test_bridge_error", "test_bridge_topk_match"} <= set(result["metrics"])
    assert result["metrics"]["solver_calls_per_step"] == 1.0


def test_splits_are_disjoint_draws_of_one_vocabulary():
    data = l2x.TASK.data(CONFIG, "cpu", k=K)
    assert [len(s.x) for s in data] == [CONFIG["n_train"], CONFIG["n_val"], CONFIG["n_test"]]
    assert torch.equal(data.train.polarity, data.test.polarity)
    assert not torch.equal(data.val.x[:10], data.test.x[:10])


def test_predictor_sees_only_the_selected_positions():
    torch.manual_seed(0)
    predictor = l2x.Predictor(embed_dim=4, hidden=8)
    x = torch.randn(2, 6, 4)
    z = torch.tensor([[1.0, 1.0, 0, 0, 0, 0], [0, 0, 0, 0, 1.0, 1.0]])
    changed = x.clone()
    changed[0, 2:] = torch.randn(4, 4)
    changed[1, :4] = torch.randn(4, 4)
    torch.testing.assert_close(predictor(x, z, 2), predictor(changed, z, 2))
    assert float(l2x.precision(z, torch.tensor([[1.0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 1, 1]]))) == 0.75


def test_the_imle_grid_is_set_from_the_measured_gradient_scale():
    # l2x.METHODS: at initialisation |dL/dz| has a median of 5e-5..1.5e-4 and the scores
    # spread by about 0.2, so lambda = 1e2..1e4 shifts them by about 0.01..1
    config = l2x.CONFIGS["cpu"]
    for k in config["ks"]:
        batch = make_explain_data(100, config["positions"], k, embed_dim=config["embed_dim"],
                                  vocab_size=config["vocab_size"], seed=1)  # the training seed
        torch.manual_seed(0)
        model = l2x.TASK.model(config, k=k)
        x, y = batch.x, batch.y
        scores = model["explainer"](x).detach()
        z = l2x.TopK(k)(scores).requires_grad_()
        grad, = torch.autograd.grad((model["predictor"](x, z, k) - y).pow(2).mean(), z)
        median = float(grad.abs().median())
        assert 4e-5 < median < 2e-4, (k, median)
        assert 0.15 < float(scores.std()) < 0.3
        shifts = [lam * median for lam in l2x.METHODS["imle"].grid["lam"]]
        assert 0.003 < min(shifts) < 0.03 and 0.3 < max(shifts) < 3

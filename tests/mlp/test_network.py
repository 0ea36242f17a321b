"""The hand-written backward pass against central finite differences in float64."""

import numpy as np
import pytest

from mlp.network import MLP, softmax_cross_entropy
from mlp.optim import SGD, learning_rate


def _loss(model: MLP, x, y, seed: int, l2: float) -> float:
    # the same seed gives the same dropout mask on every call
    logits = model(x, train=True, rng=np.random.default_rng(seed)).copy()
    loss, _ = softmax_cross_entropy(logits, y)
    return loss + 0.5 * l2 * sum(float(np.sum(model.params[w] ** 2)) for w in model.weight_names)


@pytest.mark.parametrize("batch_norm", [True, False])
@pytest.mark.parametrize("dropout", [0.0, 0.4])
@pytest.mark.parametrize("layers", [1, 2])
def test_gradients_match_finite_differences(batch_norm, dropout, layers):
    rng = np.random.default_rng(1)
    model = MLP(7, 4, hidden_size=6, hidden_layers=layers, dropout=dropout,
                batch_norm=batch_norm, rng=rng, dtype=np.float64)
    for name, p in model.params.items():  # move BN scale and shifts off their trivial init
        if not name.startswith("W"):
            p += rng.normal(0, 0.3, p.shape)
    x = rng.normal(size=(9, 7))
    y = rng.integers(0, 4, 9)
    l2 = 0.05
    logits = model(x, train=True, rng=np.random.default_rng(3))
    _, d = softmax_cross_entropy(logits, y)
    grads = {k: g.copy() for k, g in model.backward(d).items()}
    for w in model.weight_names:
        grads[w] += l2 * model.params[w]
    eps = 1e-6
    for name, p in model.params.items():
        numeric = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            up = _loss(model, x, y, 3, l2)
            p[idx] = old - eps
            down = _loss(model, x, y, 3, l2)
            p[idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        err = np.max(np.abs(numeric - grads[name])) / max(1e-8, np.max(np.abs(numeric)))
        assert err < 1e-6, f"{name}: relative error {err:.2e}"


def test_dropout_keeps_expected_fraction_and_preserves_the_mean():
    model = MLP(20, 3, hidden_size=2000, dropout=0.3, batch_norm=False,
                rng=np.random.default_rng(0), dtype=np.float64)
    model.params["W0"][...] = 0
    model.params["b0"][...] = 1.0  # every hidden unit outputs exactly 1 before dropout
    logits = model(np.zeros((50, 20)), train=True, rng=np.random.default_rng(0)).copy()
    kept = model._inputs[1] > 0
    realised = round(0.3 * 256) / 256  # the rate in steps of 1/256
    assert abs(kept.mean() - (1 - realised)) < 0.01
    # the next layer sees the kept units scaled by 1/(1 - rate): the mean is preserved
    scaled = kept / (1 - realised)
    assert np.allclose(logits, scaled @ model.params["W1"] + model.params["b1"])
    assert abs(scaled.mean() - 1) < 0.02


def test_eval_folds_batch_norm_exactly():
    rng = np.random.default_rng(2)
    model = MLP(5, 3, hidden_size=8, batch_norm=True, rng=rng, dtype=np.float64)
    model.buffers["mean0"][...] = rng.normal(size=8)
    model.buffers["var0"][...] = rng.uniform(0.5, 2, 8)
    model.params["gamma0"][...] = rng.uniform(0.5, 2, 8)
    model.params["beta0"][...] = rng.normal(size=8)
    x = rng.normal(size=(4, 5))
    z = x @ model.params["W0"]
    bn = (z - model.buffers["mean0"]) / np.sqrt(model.buffers["var0"] + 1e-5)
    h = np.maximum(bn * model.params["gamma0"] + model.params["beta0"], 0)
    expected = h @ model.params["W1"] + model.params["b1"]
    assert np.allclose(model(x), expected)


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]], np.float32)
    loss, d = softmax_cross_entropy(logits, np.array([0, 2]))
    assert np.isfinite(loss)
    assert loss == pytest.approx(np.log(3) / 2, rel=1e-5)
    assert np.allclose(d.sum(axis=1), 0, atol=1e-6)


def test_sgd_l2_decays_weights_not_biases():
    model = MLP(3, 2, hidden_size=4, batch_norm=True, rng=np.random.default_rng(0))
    before = {k: v.copy() for k, v in model.params.items()}
    model.flat_grads[...] = 0
    SGD(model.flat_params, momentum=0.0, l2=0.5, n_decay=model.n_weight_values).step(
        model.flat_grads, lr=0.1)
    for name, value in model.params.items():
        expected = before[name] * (1 - 0.1 * 0.5) if name.startswith("W") else before[name]
        assert np.allclose(value, expected), name


def test_sgd_momentum_matches_the_textbook_update():
    p = np.array([1.0, 2.0, 3.0])
    opt = SGD(p, momentum=0.9, l2=0.1, n_decay=2)
    g1, g2 = np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.0, -1.0])
    v = np.zeros(3)
    expected = np.array([1.0, 2.0, 3.0])
    for g in (g1, g2):
        full = g + np.array([0.1, 0.1, 0.0]) * expected
        v = 0.9 * v - 0.05 * full
        expected = expected + v
        opt.step(g.copy(), lr=0.05)
    assert np.allclose(p, expected)


def test_schedules():
    assert learning_rate(0.1, "constant", 5.0, 10) == 0.1
    assert learning_rate(0.1, "cosine", 0.0, 10) == pytest.approx(0.1)
    assert learning_rate(0.1, "cosine", 5.0, 10) == pytest.approx(0.05)
    assert learning_rate(0.1, "cosine", 10.0, 10) == pytest.approx(0.0, abs=1e-12)
    assert learning_rate(0.1, "step", 8.5, 20, step_every=8, step_gamma=0.5) == pytest.approx(0.05)
    assert learning_rate(0.1, "cosine", 0.0, 10, warmup_epochs=2) == pytest.approx(0.01)
    assert learning_rate(0.1, "cosine", 2.0, 10, warmup_epochs=2) == pytest.approx(0.1)

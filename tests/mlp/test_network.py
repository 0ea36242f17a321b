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


def test_dropout_keeps_expected_fraction_and_scales():
    model = MLP(20, 3, hidden_size=2000, dropout=0.3, batch_norm=False,
                rng=np.random.default_rng(0), dtype=np.float64)
    model.params["W0"][...] = 0
    model.params["b0"][...] = 1.0  # every hidden unit outputs exactly 1 before dropout
    model(np.zeros((50, 20)), train=True, rng=np.random.default_rng(0))
    h = model._cache["a1"]
    kept = np.mean(h > 0)
    assert abs(kept - 0.7) < 0.01
    assert np.allclose(h[h > 0], 1 / 0.7)


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
    params = {"W0": np.ones((2, 2), np.float32), "b0": np.ones(2, np.float32)}
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    SGD(params, momentum=0.0, l2=0.5, decay=["W0"]).step(grads, lr=0.1)
    assert np.allclose(params["W0"], 1 - 0.1 * 0.5)
    assert np.allclose(params["b0"], 1.0)


def test_schedules():
    assert learning_rate(0.1, "constant", 5.0, 10) == 0.1
    assert learning_rate(0.1, "cosine", 0.0, 10) == pytest.approx(0.1)
    assert learning_rate(0.1, "cosine", 5.0, 10) == pytest.approx(0.05)
    assert learning_rate(0.1, "cosine", 10.0, 10) == pytest.approx(0.0, abs=1e-12)
    assert learning_rate(0.1, "step", 8.5, 20, step_every=8, step_gamma=0.5) == pytest.approx(0.05)
    assert learning_rate(0.1, "cosine", 0.0, 10, warmup_epochs=2) == pytest.approx(0.01)
    assert learning_rate(0.1, "cosine", 2.0, 10, warmup_epochs=2) == pytest.approx(0.1)

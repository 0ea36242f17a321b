"""The multilayer perceptron: hidden layers of Linear -> [BatchNorm] -> ReLU -> [Dropout].

The model is a call and its parameters: ``logits = model(x, train=True, rng=rng)``
caches what the backward pass needs, ``model.backward(dlogits)`` returns the
gradients of every entry of ``model.params``. The backward pass is written by hand
and vectorised over the batch; it works in place on buffers that are allocated
once per batch size, because on a small network the allocator, not the matrix
products, is what makes a NumPy training loop slow.
"""

from __future__ import annotations

import numpy as np

BN_EPS = 1e-5
BN_MOMENTUM = 0.1  # weight of the new batch in the running statistics


class MLP:
    """Parameters are named ``W{i}`` and ``b{i}`` (or ``gamma{i}``, ``beta{i}`` when layer
    ``i`` has batch norm, whose shift makes a bias redundant); running statistics of
    batch norm are ``mean{i}`` and ``var{i}`` in ``buffers``. Only ``W*`` are weights in
    the sense of L2 regularisation.

    Every parameter is a view into one flat vector, ``flat_params``, weights first, and
    every gradient a view into ``flat_grads``: the optimiser updates the whole network
    in a handful of NumPy calls, however many layers it has.
    """

    def __init__(self, n_in: int, n_out: int, hidden_size: int = 512, hidden_layers: int = 1,
                 dropout: float = 0.0, batch_norm: bool = True,
                 rng: np.random.Generator | None = None, dtype: type = np.float32) -> None:
        rng = rng if rng is not None else np.random.default_rng(0)
        self.dtype = np.dtype(dtype)
        self.dropout = float(dropout)
        self.batch_norm = bool(batch_norm)
        self.n_hidden = int(hidden_layers)
        self.sizes = [n_in] + [hidden_size] * hidden_layers + [n_out]
        initial: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        layers = list(enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=True)))
        for i, (fan_in, fan_out) in layers:
            # He initialisation keeps the variance of ReLU activations constant with depth.
            initial[f"W{i}"] = rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)
        for i, (_, fan_out) in layers:
            if self.batch_norm and i < self.n_hidden:
                initial[f"gamma{i}"] = np.ones(fan_out)
                initial[f"beta{i}"] = np.zeros(fan_out)
                self.buffers[f"mean{i}"] = np.zeros(fan_out, self.dtype)
                self.buffers[f"var{i}"] = np.ones(fan_out, self.dtype)
            else:
                initial[f"b{i}"] = np.zeros(fan_out)
        total = sum(a.size for a in initial.values())
        self.flat_params = np.empty(total, self.dtype)
        self.flat_grads = np.zeros(total, self.dtype)
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        offset = 0
        for name, value in initial.items():
            end = offset + value.size
            self.params[name] = self.flat_params[offset:end].reshape(value.shape)
            self.params[name][...] = value
            self.grads[name] = self.flat_grads[offset:end].reshape(value.shape)
            offset = end
        self.n_weight_values = sum(initial[w].size for w in self.weight_names)
        self._work: dict[str, np.ndarray] = {}
        self._cache: dict[str, np.ndarray] = {}

    def __call__(self, x: np.ndarray, *, train: bool = False,
                 rng: np.random.Generator | None = None) -> np.ndarray:
        return self.forward_train(x, rng) if train else self.forward_eval(x)

    @property
    def weight_names(self) -> list[str]:
        return [f"W{i}" for i in range(len(self.sizes) - 1)]

    def parameter_count(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    # -- training mode --------------------------------------------------------------

    def _buffer(self, name: str, n: int, width: int) -> np.ndarray:
        buf = self._work.get(name)
        if buf is None or buf.shape[0] < n or buf.shape[1] != width:
            buf = np.empty((max(n, 1), width), self.dtype)
            self._work[name] = buf
        return buf[:n]

    def forward_train(self, x: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """Forward pass with batch statistics and dropout; caches activations for backward."""
        n = x.shape[0]
        cache = self._cache
        cache["a0"] = a = x
        for i in range(self.n_hidden + 1):
            width = self.sizes[i + 1]
            z = self._buffer(f"z{i}", n, width)
            np.matmul(a, self.params[f"W{i}"], out=z)
            if i > 0 and self.dropout > 0:
                # The inverted-dropout scale of the layer below, applied here: this is
                # the same product, and on the narrow output layer it costs nothing.
                z *= self._keep_scale
            if i == self.n_hidden:
                z += self.params[f"b{i}"]
                return z
            if self.batch_norm:
                mean = z.mean(axis=0)
                centred = self._buffer(f"centred{i}", n, width)
                np.subtract(z, mean, out=centred)
                var = np.einsum("ij,ij->j", centred, centred) / n
                inv_std = 1.0 / np.sqrt(var + BN_EPS)
                np.multiply(centred, self.params[f"gamma{i}"] * inv_std, out=z)
                z += self.params[f"beta{i}"]
                cache[f"inv_std{i}"] = inv_std
                run_mean, run_var = self.buffers[f"mean{i}"], self.buffers[f"var{i}"]
                run_mean += BN_MOMENTUM * (mean - run_mean)
                run_var += BN_MOMENTUM * (var * (n / max(n - 1, 1)) - run_var)
            else:
                z += self.params[f"b{i}"]
            np.maximum(z, 0, out=z)
            if self.dropout > 0:
                z *= self._keep_mask(rng, z.shape)
            cache[f"a{i + 1}"] = a = z
        raise AssertionError("unreachable")

    def _keep_mask(self, rng: np.random.Generator | None, shape: tuple[int, ...]) -> np.ndarray:
        """Which units dropout keeps: one random byte per unit, the cheapest fair coin.

        The rate is realised in steps of 1/256 (0.3 becomes 77/256 = 0.3008), and the
        scale uses the realised rate, so the expected activation is exactly preserved.
        """
        if rng is None:
            raise ValueError("training with dropout needs a random generator")
        drop = round(self.dropout * 256)
        self._keep_scale = self.dtype.type(256 / (256 - drop))
        noise = np.frombuffer(rng.bytes(int(np.prod(shape))), dtype=np.uint8).reshape(shape)
        return noise >= drop

    def backward(self, dlogits: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of the loss whose gradient w.r.t. the logits is ``dlogits``.

        Everything here is linear in ``dlogits``: scaling it scales every gradient, which
        is how the training loop applies the learning rate for free. Overwrites the cached
        activations; call once per forward pass.
        """
        n = dlogits.shape[0]
        grads, cache = self.grads, self._cache
        delta = dlogits
        for i in range(self.n_hidden, -1, -1):
            if f"b{i}" in grads:
                np.sum(delta, axis=0, out=grads[f"b{i}"])
            if i > 0 and self.dropout > 0:
                delta = delta * self._keep_scale
            np.matmul(cache[f"a{i}"].T, delta, out=grads[f"W{i}"])
            if i == 0:
                break
            h = cache[f"a{i}"]
            d = self._buffer(f"d{i - 1}", n, self.sizes[i])
            np.matmul(delta, self.params[f"W{i}"].T, out=d)
            # ReLU and dropout together: a unit passes gradient only where its output is
            # positive, which is exactly where it was active and kept.
            d *= h > 0
            if self.batch_norm:
                self._batch_norm_backward(i - 1, d)
            delta = d
        return grads

    def _batch_norm_backward(self, i: int, d: np.ndarray) -> None:
        """Turn d = dL/dy into dL/dz in place, for y = gamma * (z - mean) * inv_std + beta.

        dz = gamma * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat)), with
        xhat = centred * inv_std folded into per-unit factors so that no pass over the
        batch computes xhat itself.
        """
        n = d.shape[0]
        centred = self._work[f"centred{i}"][:n]
        inv_std, gamma = self._cache[f"inv_std{i}"], self.params[f"gamma{i}"]
        dbeta = np.sum(d, axis=0, out=self.grads[f"beta{i}"])
        dgamma = np.einsum("ij,ij->j", d, centred, out=self.grads[f"gamma{i}"])
        dgamma *= inv_std
        k = gamma * inv_std
        centred *= k * inv_std * dgamma / n
        centred += k * dbeta / n
        d *= k
        d -= centred

    # -- evaluation mode ------------------------------------------------------------

    def forward_eval(self, x: np.ndarray) -> np.ndarray:
        """Forward pass with running statistics, no dropout, no caching.

        Batch norm at evaluation time is an affine map, so it is folded into the
        preceding layer's weights: one matrix product per layer, as in a plain MLP.
        """
        a = x
        for i, (w, b) in enumerate(self.folded_layers()):
            a = a @ w
            a += b
            if i < self.n_hidden:
                np.maximum(a, 0, out=a)
        return a

    def folded_layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        layers = []
        for i in range(len(self.sizes) - 1):
            w = self.params[f"W{i}"]
            if self.batch_norm and i < self.n_hidden:
                scale = self.params[f"gamma{i}"] / np.sqrt(self.buffers[f"var{i}"] + BN_EPS)
                shift = self.params[f"beta{i}"] - self.buffers[f"mean{i}"] * scale
                layers.append(((w * scale).astype(self.dtype), shift.astype(self.dtype)))
            else:
                layers.append((w, self.params[f"b{i}"]))
        return layers

    # -- state ----------------------------------------------------------------------

    def state(self) -> dict[str, np.ndarray]:
        """A copy of everything that defines the model's predictions."""
        return {k: v.copy() for k, v in {**self.params, **self.buffers}.items()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        expected = {**self.params, **self.buffers}
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        if missing or extra:
            raise ValueError(f"state does not match the model: missing {missing}, "
                             f"unexpected {extra}")
        for k, target in expected.items():
            if state[k].shape != target.shape:
                raise ValueError(f"state array {k!r} has shape {state[k].shape}, "
                                 f"the model needs {target.shape}")
            target[...] = state[k]


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of integer labels, and its gradient w.r.t. the logits.

    Works in place: ``logits`` becomes the gradient. Subtracting the row maximum
    before exponentiating keeps exp() finite for any logits.
    """
    n = logits.shape[0]
    rows = np.arange(n)
    logits -= logits.max(axis=1, keepdims=True)
    picked = logits[rows, y].astype(np.float64)
    np.exp(logits, out=logits)
    sums = logits.sum(axis=1, keepdims=True)
    loss = float(np.mean(np.log(sums[:, 0].astype(np.float64)) - picked))
    logits /= sums
    logits[rows, y] -= 1
    logits *= logits.dtype.type(1.0 / n)
    return loss, logits


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z

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
        self.params: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        for i, (fan_in, fan_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=True)):
            # He initialisation keeps the variance of ReLU activations constant with depth.
            w = rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)
            self.params[f"W{i}"] = w.astype(self.dtype)
            if self.batch_norm and i < self.n_hidden:
                self.params[f"gamma{i}"] = np.ones(fan_out, self.dtype)
                self.params[f"beta{i}"] = np.zeros(fan_out, self.dtype)
                self.buffers[f"mean{i}"] = np.zeros(fan_out, self.dtype)
                self.buffers[f"var{i}"] = np.ones(fan_out, self.dtype)
            else:
                self.params[f"b{i}"] = np.zeros(fan_out, self.dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
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
        for i in range(self.n_hidden):
            h = self._buffer(f"h{i}", n, self.sizes[i + 1])
            np.matmul(a, self.params[f"W{i}"], out=h)
            if self.batch_norm:
                xhat = self._buffer(f"xhat{i}", n, self.sizes[i + 1])
                mean = h.mean(axis=0)
                np.subtract(h, mean, out=xhat)
                var = np.einsum("ij,ij->j", xhat, xhat) / n
                inv_std = 1.0 / np.sqrt(var + BN_EPS)
                xhat *= inv_std
                np.multiply(xhat, self.params[f"gamma{i}"], out=h)
                h += self.params[f"beta{i}"]
                cache[f"inv_std{i}"] = inv_std
                unbiased = var * (n / max(n - 1, 1))
                run_mean, run_var = self.buffers[f"mean{i}"], self.buffers[f"var{i}"]
                run_mean += BN_MOMENTUM * (mean - run_mean)
                run_var += BN_MOMENTUM * (unbiased - run_var)
            else:
                h += self.params[f"b{i}"]
            np.maximum(h, 0, out=h)
            if self.dropout > 0:
                # Inverted dropout: scale the kept units now so evaluation needs no change.
                # 16-bit uniforms are a quarter of the cost of float64 ones and precise enough.
                keep = rng.integers(0, 65536, size=h.shape, dtype=np.uint16)
                threshold = np.uint16(round(self.dropout * 65536))
                h *= keep >= threshold
                h *= self.dtype.type(1.0 / (1.0 - self.dropout))
            cache[f"a{i + 1}"] = a = h
        out = self._buffer("logits", n, self.sizes[-1])
        last = self.n_hidden
        np.matmul(a, self.params[f"W{last}"], out=out)
        out += self.params[f"b{last}"]
        return out

    def backward(self, dlogits: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of the loss whose gradient w.r.t. the logits is ``dlogits``.

        Overwrites ``dlogits`` and the cached activations; call once per forward pass.
        """
        n = dlogits.shape[0]
        grads, cache = self.grads, self._cache
        last = self.n_hidden
        np.matmul(cache[f"a{last}"].T, dlogits, out=grads[f"W{last}"])
        np.sum(dlogits, axis=0, out=grads[f"b{last}"])
        delta = dlogits
        for i in range(last - 1, -1, -1):
            h = cache[f"a{i + 1}"]
            d = self._buffer(f"d{i}", n, self.sizes[i + 1])
            np.matmul(delta, self.params[f"W{i + 1}"].T, out=d)
            # ReLU and dropout together: a unit passes gradient only where its output is
            # positive, which is exactly where it was active and kept.
            d *= h > 0
            if self.dropout > 0:
                d *= self.dtype.type(1.0 / (1.0 - self.dropout))
            if self.batch_norm:
                xhat, gamma = self._work[f"xhat{i}"][:n], self.params[f"gamma{i}"]
                dbeta = np.sum(d, axis=0, out=grads[f"beta{i}"])
                dgamma = np.einsum("ij,ij->j", d, xhat, out=grads[f"gamma{i}"])
                # dz = gamma * inv_std / n * (n * dy - sum(dy) - xhat * sum(dy * xhat))
                xhat *= dgamma
                d *= n
                d -= dbeta
                d -= xhat
                d *= gamma * cache[f"inv_std{i}"] / n
            else:
                np.sum(d, axis=0, out=grads[f"b{i}"])
            np.matmul(cache[f"a{i}"].T, d, out=grads[f"W{i}"])
            delta = d
        return grads

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

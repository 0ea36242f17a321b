"""The multilayer perceptron: hidden layers of Linear -> [BatchNorm] -> ReLU -> [Dropout].

The model is a call and its parameters: ``logits = model(x, train=True, rng=rng)``
keeps what the backward pass needs, ``model.backward(dlogits)`` fills the gradient
of every parameter. Layer ``i`` computes ``z = a_i @ W[i]``, then either batch norm
(``gamma[i]``, ``beta[i]``) or a bias ``b[i]``, then ReLU and dropout; the last layer
is ``a @ W[-1] + b[-1]``, the logits.

Three choices make it fast rather than textbook-plain; each is explained once, where
it is made:

- every parameter is a view into one flat vector (and every gradient into another),
  so the optimiser updates the whole network in a handful of NumPy calls (`__init__`);
- the inverted-dropout scale is not applied to the kept units but folded into the
  next layer's matrix product (`_forward_layer`);
- the backward pass is linear in ``dlogits``, so the training loop passes the
  learning rate in through it (see `mlp.train`).

The backward pass is written by hand and vectorised over the batch; it works in place
on buffers allocated once per batch size, because on a small network the allocator,
not the matrix products, is what makes a NumPy training loop slow.
"""

from __future__ import annotations

import numpy as np

BN_EPS = 1e-5
BN_MOMENTUM = 0.1  # weight of the new batch in the running statistics
DROPOUT_STEPS = 256  # dropout draws one random byte per unit: rates come in steps of 1/256


class MLP:
    """Weights ``W[i]`` (fan_in, fan_out) per layer; a bias ``b[i]``, or batch norm's
    ``gamma[i]`` and ``beta[i]`` (whose shift makes a bias redundant) with running
    statistics ``running_mean[i]`` and ``running_var[i]``. Lists hold None where a
    layer has no such array. Only the ``W`` are weights for L2 regularisation.

    The same arrays go by name too, as checkpoints store them: ``params`` (``W0``,
    ``b0`` or ``gamma0``/``beta0``, ...), their gradients ``grads`` (``dW[i]`` and
    so on in list form) and ``buffers`` (``mean0``, ``var0``).
    """

    def __init__(self, n_in: int, n_out: int, hidden_size: int = 512, hidden_layers: int = 1,
                 dropout: float = 0.0, batch_norm: bool = True,
                 rng: np.random.Generator | None = None, dtype: type = np.float32) -> None:
        rng = rng if rng is not None else np.random.default_rng(0)
        self.dtype = np.dtype(dtype)
        self.batch_norm = bool(batch_norm)
        self.n_hidden = int(hidden_layers)
        self.sizes = [n_in] + [hidden_size] * hidden_layers + [n_out]
        n_layers = self.n_hidden + 1

        # Parameters. Every array is a view into one flat vector, weights first, and
        # every gradient a view into a second one: the optimiser then updates the
        # whole network, and applies L2 to exactly the weights, in a few calls.
        initial = _initial_values(self.sizes, self.batch_norm, rng)
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
        self.W, self.dW = self._per_layer("W")
        self.b, self.db = self._per_layer("b")
        self.gamma, self.dgamma = self._per_layer("gamma")
        self.beta, self.dbeta = self._per_layer("beta")

        # Batch norm's running statistics: state, but not trained by the optimiser.
        self.buffers: dict[str, np.ndarray] = {}
        for i in range(n_layers):
            if self.gamma[i] is not None:
                self.buffers[f"mean{i}"] = np.zeros(self.sizes[i + 1], self.dtype)
                self.buffers[f"var{i}"] = np.ones(self.sizes[i + 1], self.dtype)
        self.running_mean = [self.buffers.get(f"mean{i}") for i in range(n_layers)]
        self.running_var = [self.buffers.get(f"var{i}") for i in range(n_layers)]

        # Dropout: a unit is dropped when its random byte is below `drop_below`, so the
        # rate is realised in steps of 1/256 (0.3 becomes 77/256 = 0.3008); the kept
        # units are scaled by `keep_scale`, from the realised rate, so the expected
        # activation is exactly preserved.
        self.dropout = float(dropout)
        self.drop_below = round(self.dropout * DROPOUT_STEPS)
        if not 0 <= self.drop_below < DROPOUT_STEPS:
            raise ValueError(f"dropout {dropout} drops every unit (or is negative); it must "
                             f"leave at least 1/{DROPOUT_STEPS} of the units")
        self.keep_scale = self.dtype.type(DROPOUT_STEPS / (DROPOUT_STEPS - self.drop_below))

        # What the last training forward pass leaves for backward: the input of each
        # layer (after ReLU and dropout, before the keep scale) and batch norm's
        # 1/std. `_scratch` holds the per-batch work buffers, made once per batch size.
        self._inputs: list[np.ndarray | None] = [None] * n_layers
        self._inv_std: list[np.ndarray | None] = [None] * n_layers
        self._scratch: dict[tuple[str, int], np.ndarray] = {}

    def _per_layer(self, kind: str) -> tuple[list, list]:
        """The parameter ``kind{i}`` and its gradient for every layer, None where absent."""
        names = [f"{kind}{i}" for i in range(len(self.sizes) - 1)]
        return ([self.params.get(n) for n in names], [self.grads.get(n) for n in names])

    def __call__(self, x: np.ndarray, *, train: bool = False,
                 rng: np.random.Generator | None = None) -> np.ndarray:
        return self.forward_train(x, rng) if train else self.forward_eval(x)

    @property
    def weight_names(self) -> list[str]:
        return [f"W{i}" for i in range(len(self.sizes) - 1)]

    def parameter_count(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    # -- training mode --------------------------------------------------------------

    def _work(self, kind: str, i: int, n: int) -> np.ndarray:
        """The (n, width of layer i) work buffer ``kind``, reused from batch to batch."""
        width = self.sizes[i + 1]
        buf = self._scratch.get((kind, i))
        if buf is None or buf.shape[0] < n:
            buf = np.empty((max(n, 1), width), self.dtype)
            self._scratch[(kind, i)] = buf
        return buf[:n]

    def forward_train(self, x: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """Forward pass with batch statistics and dropout; keeps activations for backward.

        The logits returned live in a work buffer that the next forward pass reuses.
        """
        if self.drop_below and rng is None:
            raise ValueError("training with dropout needs a random generator")
        a = x
        for i in range(self.n_hidden):
            self._inputs[i] = a
            a = self._forward_layer(i, a, rng)
        self._inputs[self.n_hidden] = a
        z = self._linear(self.n_hidden, a)
        z += self.b[self.n_hidden]
        return z

    def _linear(self, i: int, a: np.ndarray) -> np.ndarray:
        """``a @ W[i]``, times the keep scale of the dropout below.

        Inverted dropout multiplies the kept units by 1/(1 - rate). Here that factor
        is applied to this product instead: the same result (the product is linear),
        and on a narrow next layer it is one pass over far fewer numbers than the
        dropped layer's output. The backward pass applies it at the same place.
        """
        z = self._work("z", i, a.shape[0])
        np.matmul(a, self.W[i], out=z)
        if i > 0 and self.drop_below:
            z *= self.keep_scale
        return z

    def _forward_layer(self, i: int, a: np.ndarray, rng: np.random.Generator | None
                       ) -> np.ndarray:
        """Hidden layer ``i``: linear, batch norm or bias, ReLU, dropout (unscaled)."""
        z = self._linear(i, a)
        if self.gamma[i] is not None:
            self._batch_norm_train(i, z)
        else:
            z += self.b[i]
        np.maximum(z, 0, out=z)
        if self.drop_below:
            # one random byte per unit: the cheapest fair coin
            noise = np.frombuffer(rng.bytes(z.size), dtype=np.uint8).reshape(z.shape)
            z *= noise >= self.drop_below
        return z

    def _batch_norm_train(self, i: int, z: np.ndarray) -> None:
        """Normalise ``z`` in place by its batch statistics; update the running ones."""
        n = z.shape[0]
        mean = z.mean(axis=0)
        centred = self._work("centred", i, n)
        np.subtract(z, mean, out=centred)
        var = np.einsum("ij,ij->j", centred, centred) / n
        inv_std = 1.0 / np.sqrt(var + BN_EPS)
        np.multiply(centred, self.gamma[i] * inv_std, out=z)
        z += self.beta[i]
        self._inv_std[i] = inv_std
        run_mean, run_var = self.running_mean[i], self.running_var[i]
        run_mean += BN_MOMENTUM * (mean - run_mean)
        run_var += BN_MOMENTUM * (var * (n / max(n - 1, 1)) - run_var)

    def backward(self, dlogits: np.ndarray) -> dict[str, np.ndarray]:
        """Fill ``grads`` with the gradients of the loss whose gradient w.r.t. the logits
        is ``dlogits``, and return it.

        Every gradient is linear in ``dlogits``: scaling it scales every gradient.
        Overwrites the activations kept by the forward pass; call once per forward pass.
        """
        delta = dlogits
        for i in range(self.n_hidden, -1, -1):
            if self.db[i] is not None:
                np.sum(delta, axis=0, out=self.db[i])
            if i > 0 and self.drop_below:
                delta = delta * self.keep_scale  # the keep scale, where forward applied it
            a = self._inputs[i]
            np.matmul(a.T, delta, out=self.dW[i])
            if i == 0:
                break
            d = self._work("d", i - 1, delta.shape[0])
            np.matmul(delta, self.W[i].T, out=d)
            # ReLU and dropout together: a unit passes gradient only where its output is
            # positive, which is exactly where it was active and kept.
            d *= a > 0
            if self.gamma[i - 1] is not None:
                self._batch_norm_backward(i - 1, d)
            delta = d
        return self.grads

    def _batch_norm_backward(self, i: int, d: np.ndarray) -> None:
        """Turn d = dL/dy into dL/dz in place, for y = gamma * (z - mean) * inv_std + beta.

        dz = gamma * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat)), with
        xhat = centred * inv_std folded into per-unit factors so that no pass over the
        batch computes xhat itself. Uses up the forward pass's ``centred`` buffer.
        """
        n = d.shape[0]
        centred = self._work("centred", i, n)
        inv_std, gamma = self._inv_std[i], self.gamma[i]
        dbeta = np.sum(d, axis=0, out=self.dbeta[i])
        dgamma = np.einsum("ij,ij->j", d, centred, out=self.dgamma[i])
        dgamma *= inv_std
        k = gamma * inv_std
        centred *= k * inv_std * dgamma / n
        centred += k * dbeta / n
        d *= k
        d -= centred

    # -- evaluation mode ------------------------------------------------------------

    def forward_eval(self, x: np.ndarray) -> np.ndarray:
        """Forward pass with running statistics, no dropout, nothing kept.

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
        """(weight, bias) per layer with batch norm's running affine map folded in."""
        layers = []
        for i, w in enumerate(self.W):
            if self.gamma[i] is not None:
                scale = self.gamma[i] / np.sqrt(self.running_var[i] + BN_EPS)
                shift = self.beta[i] - self.running_mean[i] * scale
                layers.append(((w * scale).astype(self.dtype), shift.astype(self.dtype)))
            else:
                layers.append((w, self.b[i]))
        return layers

    # -- state ----------------------------------------------------------------------

    def state(self) -> dict[str, np.ndarray]:
        """A copy of everything that defines the model's predictions, by name."""
        return {k: v.copy() for k, v in {**self.params, **self.buffers}.items()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Copy ``state`` (as `state` returns it) into the model's arrays."""
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


def parameter_shapes(sizes: list[int], batch_norm: bool) -> dict[str, tuple[int, ...]]:
    """Every parameter's shape by name, weights first (the flat vector's order): what a
    network of these layer sizes holds, known without making it."""
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    shapes: dict[str, tuple[int, ...]] = {f"W{i}": pair for i, pair in enumerate(pairs)}
    n_hidden = len(pairs) - 1
    for i, (_, fan_out) in enumerate(pairs):
        if batch_norm and i < n_hidden:
            shapes[f"gamma{i}"] = shapes[f"beta{i}"] = (fan_out,)
        else:
            shapes[f"b{i}"] = (fan_out,)
    return shapes


def _initial_values(sizes: list[int], batch_norm: bool, rng: np.random.Generator
                    ) -> dict[str, np.ndarray]:
    """Initial parameters by name, weights first (the flat vector's order).

    He initialisation keeps the variance of ReLU activations constant with depth.
    """
    return {name: rng.standard_normal(shape) * np.sqrt(2.0 / shape[0]) if name[0] == "W"
            else np.ones(shape) if name.startswith("gamma") else np.zeros(shape)
            for name, shape in parameter_shapes(sizes, batch_norm).items()}


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


def softmax_(logits: np.ndarray) -> np.ndarray:
    """Class probabilities, computed in place in ``logits`` (which is returned).

    In place, because evaluation calls it on a fresh (batch, classes) array that is
    needed for nothing else; subtracting the row maximum keeps exp() finite.
    """
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits

"""SGD with momentum, L2 on the weights, and the learning-rate schedules."""

from __future__ import annotations

import math

import numpy as np


class SGD:
    """Momentum SGD in the form of Sutskever et al.: ``v = mu v - lr g; p += v``.

    It works on one flat vector of parameters (and one of gradients), whose first
    ``n_decay`` values are the weights that L2 regularisation applies to: it adds
    ``l2 * W`` to their gradient, the gradient of ``0.5 * l2 * ||W||^2``, and never
    touches biases or batch-norm parameters. The learning rate scales the gradient
    before it enters the velocity, so a schedule that changes the rate every step does
    so smoothly. Every update runs in place.
    """

    def __init__(self, params: np.ndarray, momentum: float = 0.9, nesterov: bool = False,
                 l2: float = 0.0, n_decay: int = 0) -> None:
        self.params = params
        self.momentum = momentum
        self.nesterov = nesterov
        self.l2 = l2
        self.n_decay = n_decay
        self.velocity = np.zeros_like(params)
        self._scratch = np.empty(n_decay, params.dtype)

    def step(self, grads: np.ndarray, lr: float) -> None:
        """One update from plain gradients (they are scaled in place)."""
        grads *= grads.dtype.type(lr)
        self.step_scaled(grads, lr)

    def step_scaled(self, lr_grads: np.ndarray, lr: float) -> None:
        """One update from ``lr_grads`` = lr x gradient (the training loop's form, see
        `mlp.train`); with Nesterov momentum it is modified in place."""
        p, v, cast = self.params, self.velocity, self.params.dtype.type
        v *= cast(self.momentum)
        v -= lr_grads
        if self.l2 and self.n_decay:
            decay = np.multiply(p[:self.n_decay], cast(lr * self.l2), out=self._scratch)
            v[:self.n_decay] -= decay
            if self.nesterov:
                lr_grads[:self.n_decay] += decay
        if self.nesterov:
            # look ahead: p += mu * v_new - lr * (g + l2 p)
            p -= lr_grads
            p += v * cast(self.momentum)
        else:
            p += v


def learning_rate(base: float, schedule: str, progress: float, epochs: int,
                  warmup_epochs: int = 0, step_every: int = 8, step_gamma: float = 0.1) -> float:
    """The rate at ``progress`` epochs into training (fractional, so it moves every step).

    Warm-up rises linearly from base/10 to base; cosine then falls to zero at the
    end of the last epoch, step multiplies by ``step_gamma`` every ``step_every``.
    """
    if warmup_epochs and progress < warmup_epochs:
        return base * (0.1 + 0.9 * progress / warmup_epochs)
    if schedule == "constant":
        return base
    if schedule == "step":
        return base * step_gamma ** int(progress // step_every)
    if schedule == "cosine":
        span = max(epochs - warmup_epochs, 1e-9)
        t = min(max((progress - warmup_epochs) / span, 0.0), 1.0)
        return base * 0.5 * (1.0 + math.cos(math.pi * t))
    raise ValueError(f"unknown schedule {schedule!r}")

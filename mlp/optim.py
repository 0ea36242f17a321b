"""SGD with momentum, L2 on the weights, and the learning-rate schedules."""

from __future__ import annotations

import math

import numpy as np


class SGD:
    """Momentum SGD in the form of Sutskever et al.: ``v = mu v - lr g; p += v``.

    The learning rate scales the gradient before it enters the velocity, so a
    schedule that changes the rate every step does so smoothly. L2 regularisation
    adds ``l2 * W`` to the gradient of every weight matrix (never to biases or
    batch-norm parameters), the gradient of ``0.5 * l2 * ||W||^2``. Every update
    runs in place on preallocated arrays.
    """

    def __init__(self, params: dict[str, np.ndarray], momentum: float = 0.9,
                 nesterov: bool = False, l2: float = 0.0,
                 decay: tuple[str, ...] | list[str] = ()) -> None:
        self.params = params
        self.momentum = momentum
        self.nesterov = nesterov
        self.l2 = l2
        self.decay = set(decay)
        self.velocity = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads: dict[str, np.ndarray], lr: float) -> None:
        for name, p in self.params.items():
            g, v = grads[name], self.velocity[name]
            if self.l2 and name in self.decay:
                g += p * p.dtype.type(self.l2)
            g *= p.dtype.type(-lr)
            v *= p.dtype.type(self.momentum)
            v += g
            if self.nesterov:
                # look ahead: p += mu * v - lr * g, with g already scaled by -lr
                p += g
                p += v * p.dtype.type(self.momentum)
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

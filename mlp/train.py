"""The training loop: one function call trains one network on one dataset.

The loop reads top to bottom: set the learning rate, step, evaluate, keep the best
checkpoint, report the epoch. The CLI, a sweep trial and a test all call `train`
the same way; the sweep's pruner plugs into `on_epoch`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from .augment import random_shift
from .config import Config
from .dataset import Dataset
from .network import MLP, softmax_cross_entropy
from .optim import SGD, learning_rate


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int
    lr: float
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    seconds: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


class Diverged(ArithmeticError):
    """The training loss became NaN, infinite or absurdly large: the run cannot go on."""

    def __init__(self, epoch: int, step: int, loss: float,
                 history: list[EpochMetrics] | None = None) -> None:
        super().__init__(f"diverged at epoch {epoch}, step {step} (loss {loss})")
        self.epoch, self.step, self.loss = epoch, step, loss
        self.history = history or []


@dataclass
class TrainResult:
    """What a run leaves behind. ``model`` holds the best validation epoch's state."""

    model: MLP
    history: list[EpochMetrics]
    status: str  # "completed", or "stopped" when on_epoch asked to stop
    best_epoch: int
    best_state: dict[str, np.ndarray]
    last_state: dict[str, np.ndarray]
    seconds: float


OnEpoch = Callable[[EpochMetrics], bool | None]

# A mean cross-entropy this large means logits apart by hundreds: the weights have
# blown up, and a run that goes on from here only kills its ReLUs and "completes" at
# chance level. A healthy run starts near ln(10) = 2.3 and spikes to tens at worst.
DIVERGED_LOSS = 1e3


def build_model(config: Config, data: Dataset, rng: np.random.Generator | None = None) -> MLP:
    m = config.model
    return MLP(data.n_features, data.n_classes, hidden_size=m.hidden_size,
               hidden_layers=m.hidden_layers, dropout=m.dropout, batch_norm=m.batch_norm, rng=rng)


def to_float(images: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 images (N, H, W) or (N, H*W) to float32 rows scaled to [0, 1]."""
    flat = images.reshape(images.shape[0], -1)
    if out is None:
        out = np.empty(flat.shape, np.float32)
    return np.multiply(flat, np.float32(1 / 255), out=out)


def evaluate(model: MLP, x: np.ndarray, y: np.ndarray, batch_size: int = 5000
             ) -> tuple[float, float, np.ndarray]:
    """Mean loss, accuracy and class probabilities of a model on uint8 or float images."""
    probs = np.empty((x.shape[0], model.sizes[-1]), np.float32)
    for start in range(0, x.shape[0], batch_size):
        chunk = x[start:start + batch_size]
        if chunk.dtype == np.uint8:
            chunk = to_float(chunk)
        logits = model(chunk.reshape(chunk.shape[0], -1))
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        probs[start:start + batch_size] = logits
    picked = probs[np.arange(len(y)), y].astype(np.float64)
    loss = float(-np.mean(np.log(np.maximum(picked, 1e-12))))
    acc = float(np.mean(probs.argmax(axis=1) == y))
    return loss, acc, probs


def train(config: Config, data: Dataset, on_epoch: OnEpoch | None = None) -> TrainResult:
    """Train the configured network; return the best validation epoch's checkpoint.

    Raises `Diverged` as soon as a step's loss is not finite. ``on_epoch`` receives
    each epoch's metrics and stops training by returning True.
    """
    t = config.training
    init_rng, shuffle_rng, dropout_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(t.seed).spawn(3))
    model = build_model(config, data, init_rng)
    opt = SGD(model.flat_params, momentum=t.momentum, nesterov=t.nesterov, l2=t.l2,
              n_decay=model.n_weight_values)
    train_x = data.train_x.reshape(data.train_x.shape[0], -1)
    train_y = data.train_y.astype(np.intp)
    val_x, val_y = to_float(data.val_x), data.val_y.astype(np.intp)
    n, bs = train_x.shape[0], t.batch_size
    steps = -(-n // bs)
    batch_u8 = np.empty((min(bs, n), train_x.shape[1]), np.uint8)
    batch = np.empty(batch_u8.shape, np.float32)
    history: list[EpochMetrics] = []
    best_acc, best_epoch, best_state = -1.0, 0, model.state()
    status, started = "completed", time.perf_counter()

    for epoch in range(1, t.epochs + 1):
        t0 = time.perf_counter()
        order = shuffle_rng.permutation(n)
        shifted = None
        if config.data.augment:
            shifted = random_shift(data.train_x[order], config.data.shift, shuffle_rng)
            shifted = shifted.reshape(n, -1)
        epoch_y = train_y[order]
        loss_sum, correct = 0.0, 0
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for step in range(steps):
                lr = learning_rate(t.lr, t.schedule, epoch - 1 + step / steps, t.epochs,
                                   t.warmup_epochs, t.step_every, t.step_gamma)
                lo, hi = step * bs, min((step + 1) * bs, n)
                if shifted is None:  # gather the batch's rows: no shuffled copy of the set
                    raw = np.take(train_x, order[lo:hi], axis=0, out=batch_u8[:hi - lo])
                else:
                    raw = shifted[lo:hi]
                xb, yb = to_float(raw, batch[:hi - lo]), epoch_y[lo:hi]
                logits = model(xb, train=True, rng=dropout_rng)
                correct += int(np.count_nonzero(logits.argmax(axis=1) == yb))
                loss, dlogits = softmax_cross_entropy(logits, yb)
                if not loss < DIVERGED_LOSS:  # NaN compares False too
                    raise Diverged(epoch, step + 1, loss, history)
                loss_sum += loss * (hi - lo)
                dlogits *= np.float32(lr)  # every gradient comes out scaled by lr
                model.backward(dlogits)
                opt.step_scaled(model.flat_grads, lr)
            val_loss, val_acc, _ = evaluate(model, val_x, val_y, t.eval_batch_size)
        if not np.isfinite(val_loss):
            raise Diverged(epoch, steps, val_loss, history)
        metrics = EpochMetrics(epoch, lr, loss_sum / n, correct / n, val_loss, val_acc,
                               time.perf_counter() - t0)
        history.append(metrics)
        if val_acc > best_acc:
            best_acc, best_epoch, best_state = val_acc, epoch, model.state()
        if on_epoch is not None and on_epoch(metrics):
            status = "stopped"
            break

    last_state = model.state()
    model.load_state(best_state)
    return TrainResult(model, history, status, best_epoch, best_state, last_state,
                       time.perf_counter() - started)

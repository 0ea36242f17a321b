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
from .config import Config, ConfigError
from .dataset import Dataset
from .metrics import accuracy, mean_log_loss
from .network import MLP, softmax_, softmax_cross_entropy
from .optim import SGD, learning_rate


@dataclass(frozen=True)
class EpochMetrics:
    """One row of history.csv. ``lr_end`` is the rate of the epoch's last step: the
    schedule moves every step, so an epoch has no single rate."""

    epoch: int
    lr_end: float
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


class AtChance(Diverged):
    """Validation accuracy has stayed at chance level for `chance_epochs` epochs in a
    row: the network learns nothing (its ReLUs dead, a rate far too high or too low)
    and would only burn the rest of its budget. Treated as a divergence."""

    def __init__(self, epoch: int, step: int, val_acc: float, chance: float, epochs: int,
                 history: list[EpochMetrics]) -> None:
        ArithmeticError.__init__(
            self, f"at chance level: validation accuracy {val_acc:.1%} at epoch {epoch}, "
                  f"below chance ({chance:.1%}) + {CHANCE_MARGIN * 100:.0f} points for "
                  f"{epochs} epochs in a row")
        self.epoch, self.step, self.loss = epoch, step, float("nan")
        self.history = history


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
# "At chance level": validation accuracy below 1/classes + this margin. A run that
# learns anything leaves that band within an epoch or two on MNIST-sized data.
CHANCE_MARGIN = 0.05


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
        probs[start:start + batch_size] = softmax_(model(chunk.reshape(chunk.shape[0], -1)))
    return mean_log_loss(probs, y), accuracy(y, probs.argmax(axis=1)), probs


def train(config: Config, data: Dataset, on_epoch: OnEpoch | None = None) -> TrainResult:
    """Train the configured network; return the best validation epoch's checkpoint.

    Raises `Diverged` as soon as a step's loss is not finite, and `AtChance` when the
    validation accuracy has stayed at chance level for ``chance_epochs`` epochs in a
    row with epochs still to go. ``on_epoch`` receives
    each epoch's metrics and stops training by returning True; the time it takes (a
    sweep's report to its study, which may wait for a lock or a database) is not
    counted in the result's ``seconds``, the training's own time.
    """
    t = config.training
    n, bs = len(data.train_y), t.batch_size
    if config.model.batch_norm and n % bs == 1:
        raise ConfigError(f"training.batch_size: {n} training images in batches of {bs} leave "
                          "a batch of 1, which batch norm cannot normalise; choose another "
                          "batch size (or no batch norm)")
    init_rng, shuffle_rng, dropout_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(t.seed).spawn(3))
    model = build_model(config, data, init_rng)
    opt = SGD(model.flat_params, momentum=t.momentum, nesterov=t.nesterov, l2=t.l2,
              n_decay=model.n_weight_values)
    epoch_of = _Epoch(config, data, model, opt, shuffle_rng, dropout_rng)
    val_x, val_y = to_float(data.val_x), data.val_y.astype(np.intp)
    history: list[EpochMetrics] = []
    best_acc, best_epoch, best_state = -1.0, 0, model.state()
    status, started, outside = "completed", time.perf_counter(), 0.0

    for epoch in range(1, t.epochs + 1):
        t0 = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            train_loss, train_acc, lr_end = epoch_of.run(epoch, history)
            val_loss, val_acc, _ = evaluate(model, val_x, val_y, t.eval_batch_size)
        if not np.isfinite(val_loss):
            raise Diverged(epoch, epoch_of.steps, val_loss, history)
        metrics = EpochMetrics(epoch, lr_end, train_loss, train_acc, val_loss, val_acc,
                               time.perf_counter() - t0)
        history.append(metrics)
        if val_acc > best_acc:
            best_acc, best_epoch, best_state = val_acc, epoch, model.state()
        if on_epoch is not None:
            asked = time.perf_counter()
            stop = on_epoch(metrics)
            outside += time.perf_counter() - asked  # the caller's time (a study's lock)
            if stop:
                status = "stopped"
                break
        if epoch < t.epochs and _at_chance(history, t.chance_epochs, data.n_classes):
            raise AtChance(epoch, epoch_of.steps, val_acc, 1 / data.n_classes,
                           t.chance_epochs, history)

    last_state = model.state()
    model.load_state(best_state)
    return TrainResult(model, history, status, best_epoch, best_state, last_state,
                       time.perf_counter() - started - outside)


def _at_chance(history: list[EpochMetrics], epochs: int, n_classes: int) -> bool:
    """Whether the last ``epochs`` epochs all ended within `CHANCE_MARGIN` of chance."""
    if epochs < 1 or len(history) < epochs:
        return False
    return all(m.val_acc < 1 / n_classes + CHANCE_MARGIN for m in history[-epochs:])


class _Epoch:
    """One pass over the training set in mini-batches, with the buffers it reuses.

    The learning rate enters through the loss gradient. ``dlogits`` (ten numbers per
    example) is multiplied by the step's rate before the backward pass; since every
    gradient is linear in it, the gradient buffer ``model.flat_grads`` then holds
    lr x gradient, not the gradient, and `SGD.step_scaled` takes it as it is. That
    saves a pass over every weight gradient per step, compared with scaling them.
    """

    def __init__(self, config: Config, data: Dataset, model: MLP, opt: SGD,
                 shuffle_rng: np.random.Generator, dropout_rng: np.random.Generator) -> None:
        self.config, self.data, self.model, self.opt = config, data, model, opt
        self.shuffle_rng, self.dropout_rng = shuffle_rng, dropout_rng
        self.train_x = data.train_x.reshape(data.train_x.shape[0], -1)
        self.train_y = data.train_y.astype(np.intp)
        self.n, self.bs = self.train_x.shape[0], config.training.batch_size
        self.steps = -(-self.n // self.bs)
        self.batch_u8 = np.empty((min(self.bs, self.n), self.train_x.shape[1]), np.uint8)
        self.batch = np.empty(self.batch_u8.shape, np.float32)
        self.lr_grads = model.flat_grads  # lr x gradient after each backward pass

    def run(self, epoch: int, history: list[EpochMetrics]) -> tuple[float, float, float]:
        """Mean training loss and accuracy of the epoch, and the last step's rate."""
        t, n, bs, model = self.config.training, self.n, self.bs, self.model
        order = self.shuffle_rng.permutation(n)
        shifted = None
        if self.config.data.augment:
            shifted = random_shift(self.data.train_x[order], self.config.data.shift,
                                   self.shuffle_rng)
            shifted = shifted.reshape(n, -1)
        epoch_y = self.train_y[order]
        loss_sum, correct, lr = 0.0, 0, t.lr
        for step in range(self.steps):
            lr = learning_rate(t.lr, t.schedule, epoch - 1 + step / self.steps, t.epochs,
                               t.warmup_epochs, t.step_every, t.step_gamma)
            lo, hi = step * bs, min((step + 1) * bs, n)
            if shifted is None:  # gather the batch's rows: no shuffled copy of the set
                raw = np.take(self.train_x, order[lo:hi], axis=0, out=self.batch_u8[:hi - lo])
            else:
                raw = shifted[lo:hi]
            xb, yb = to_float(raw, self.batch[:hi - lo]), epoch_y[lo:hi]
            logits = model(xb, train=True, rng=self.dropout_rng)
            correct += int(np.count_nonzero(logits.argmax(axis=1) == yb))
            loss, dlogits = softmax_cross_entropy(logits, yb)
            if not loss < DIVERGED_LOSS:  # NaN compares False too
                raise Diverged(epoch, step + 1, loss, history)
            loss_sum += loss * (hi - lo)
            dlogits *= np.float32(lr)
            model.backward(dlogits)
            self.opt.step_scaled(self.lr_grads, lr)
        return loss_sum / n, correct / n, lr

"""How much memory a training run needs, and whether this machine has it.

A configuration can ask for more memory than any machine has: 16 hidden layers of
65,536 units are 64 billion weights, 256 GB in float32 before a single gradient.
NumPy then fails with a MemoryError somewhere inside training, after the run's folder
has been made. `check_fits` refuses such a configuration up front, from an estimate
that costs nothing; the CLI calls it before it creates anything, and a sweep can
call it for each trial before it starts one.
"""

from __future__ import annotations

import math
from pathlib import Path

from .config import Config, ConfigError
from .network import parameter_shapes

FLOAT = 4  # bytes of float32, the dtype of every training array
MEMINFO = Path("/proc/meminfo")


class TooLargeError(ConfigError):
    """A configuration whose training would need more memory than the machine has."""


def training_bytes(config: Config, n_features: int, n_classes: int, *, n_train: int = 50_000,
                   n_val: int = 10_000, n_test: int = 10_000) -> int:
    """Estimated peak bytes that `mlp.train.train` and the evaluation after it allocate.

    Counted, from what the code allocates: the parameters and their gradients, the
    momentum velocity and the optimiser's L2 scratch, two copies of the model's state
    (the best epoch's, and the one taken when a better epoch or the last one comes),
    the batch-norm-folded weights of an evaluation pass plus one layer's temporary;
    per batch, each hidden layer's pre-activation, centred input (with batch norm)
    and gradient buffers, the dropout bytes and mask and the scaled gradient, the
    uint8 and float32 input batch; the validation set as float32, the shuffled labels
    and order, with augmentation the shuffled, padded and shifted copies of the
    training images; evaluation chunks and the class probabilities of the validation
    and test sets. Not counted: the interpreter and its libraries (about 150 MB,
    already in use when this is called), the dataset's own pages (a memory-mapped
    cache, or arrays already loaded), and the figures drawn after training.
    """
    m, t = config.model, config.training
    sizes = [n_features] + [m.hidden_size] * m.hidden_layers + [n_classes]
    counts = {name: math.prod(shape)
              for name, shape in parameter_shapes(sizes, m.batch_norm).items()}
    weights = sum(n for name, n in counts.items() if name.startswith("W"))
    params = sum(counts.values())
    buffers = 2 * m.hidden_size * m.hidden_layers if m.batch_norm else 0  # running stats
    largest = max(n for name, n in counts.items() if name.startswith("W"))
    model = FLOAT * (3 * params + weights + 2 * (params + buffers) + weights + largest)

    bs = min(t.batch_size, n_train)
    per_hidden = (3 if m.batch_norm else 2) * FLOAT + 2 * FLOAT  # buffers, scaled delta
    per_hidden += 3 if m.dropout > 0 else 1  # random bytes and keep mask; ReLU mask
    batch = bs * (m.hidden_size * m.hidden_layers * per_hidden + n_classes * FLOAT
                  + n_features * (1 + FLOAT))

    data = n_val * n_features * FLOAT + 3 * n_train * 8
    if config.data.augment:
        side = math.isqrt(n_features) + 2 * config.data.shift
        data += n_train * (2 * n_features + side * side)
    n_eval = max(n_val, n_test)
    chunk = min(t.eval_batch_size, n_eval)
    evaluation = (chunk * (n_features + 2 * max(sizes[1:])) * FLOAT
                  + n_eval * n_classes * (FLOAT + 8) + n_val * n_classes * FLOAT)
    return int(model + batch + data + evaluation)


CGROUP = Path("/sys/fs/cgroup")


def available_bytes(meminfo: Path = MEMINFO, cgroup: Path = CGROUP) -> int | None:
    """What can be allocated without swapping: MemAvailable from /proc/meminfo, or less
    where this process's control group (a container's memory limit) allows less; None
    where the kernel says nothing (not Linux)."""
    found = [n for n in (_meminfo_available(meminfo), _cgroup_room(cgroup)) if n is not None]
    return min(found) if found else None


def _meminfo_available(meminfo: Path) -> int | None:
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room(root: Path) -> int | None:
    """The control group's limit less what it uses now: cgroup v2's memory.max and
    memory.current, or v1's memory.limit_in_bytes and memory.usage_in_bytes; None
    without a limit ("max", or v1's huge number)."""
    for limit_file, usage_file in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes",
                                    "memory/memory.usage_in_bytes")):
        try:
            limit_text = (root / limit_file).read_text().strip()
            usage = int((root / usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit_text == "max":
            return None
        try:
            limit = int(limit_text)
        except ValueError:
            return None
        return None if limit >= 1 << 60 else max(limit - usage, 0)
    return None


def check_fits(config: Config, n_features: int, n_classes: int, *, n_train: int = 50_000,
               n_val: int = 10_000, n_test: int = 10_000,
               available: int | None = None) -> int:
    """The estimate of `training_bytes`; raises `TooLargeError` if it exceeds ``available``
    (default: MemAvailable now). Returns the estimate in bytes."""
    need = training_bytes(config, n_features, n_classes, n_train=n_train, n_val=n_val,
                          n_test=n_test)
    have = available if available is not None else available_bytes()
    if have is not None and need > have:
        m = config.model
        raise TooLargeError(
            f"model: {m.hidden_layers} hidden layer(s) of {m.hidden_size} units with batch "
            f"{config.training.batch_size} need about {need / 1e9:.1f} GB to train, and "
            f"{have / 1e9:.1f} GB of memory is available")
    return need

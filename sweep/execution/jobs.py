"""How many worker processes a run starts, and how many BLAS threads each one gets.

`--jobs auto` (the default) follows a rule measured on this project's epoch benchmark
(benchmarks/README.md, "Workers and threads"): over its grid of networks (128 to
2048 hidden units, batches of 32 to 512) a second BLAS thread speeds an epoch up by
1.08x to 1.65x, never by the 2x a second trial on the other core can give (1.3x
measured for whole trials, which share the memory bus); so while there are trials to
spread, cores go to workers, one BLAS thread each. Cores that no worker can use go to the workers as
threads: when fewer trials are left to run than cores, when the study's lag lets
fewer trials run at once (lag + 1), or when memory holds fewer copies of the
space's largest network than there are cores.

The choice is made once per run, not per trial: the thread count changes a
training's sums (in the eighth digit), and a study reproduces only with a fixed one.
Each trial's config.json records the threads it ran with (``environment.blas``) and
the run's choice (``workers``), so `sweep rerun` repeats a trial exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from mlp.config import Config
from mlp.memory import available_bytes, training_bytes

from ..text import plural

INTERPRETER_BYTES = 250 * 2**20  # a worker's Python, NumPy, Optuna and the data's pages
SIZE_KEYS = ("model.hidden_size", "model.hidden_layers", "training.batch_size")


@dataclass(frozen=True)
class Workers:
    """A run's worker processes and BLAS threads per worker, and why."""

    jobs: int
    threads: int
    rule: str  # "auto: ..." or "--jobs N": how the numbers were chosen

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cores() -> int:
    """The cores this process may use: joblib's count, which reads the affinity mask and
    a container's CPU quota (cgroups), not the machine's count."""
    from joblib import cpu_count  # here: worker processes import this module, never call it

    return max(1, cpu_count())


def largest(config: Config, space: Any, pick: Callable[[list[int]], int] = max) -> Config:
    """The study's config with every size setting the space samples at its largest:
    the trial that needs the most memory (with ``pick=min``, the least)."""
    overrides = {}
    for p in space.params:
        if p.key not in SIZE_KEYS:
            continue
        values = [c for c in p.choices if isinstance(c, int)] if p.categorical else \
            [p.low if pick is min else p.high]
        if values:
            overrides[p.key] = int(pick(values))
    return config.with_overrides(overrides)


def choose_workers(jobs: int | None, threads: int | None, *, to_run: int, lag: int | None,
                   biggest: Config | None = None, n_features: int = 784,
                   n_classes: int = 10, n_cores: int | None = None,
                   available: int | None = None) -> Workers:
    """Workers and threads for a run with ``to_run`` trials left (``jobs`` None: auto).

    An explicit ``jobs`` is kept, with the cores shared out among its workers as
    threads; an explicit ``threads`` is kept, and auto then starts no more workers than
    the cores hold at that many threads each. Threads are the cores divided by the
    workers, rounded down: every worker gets the same count, which a reproducible study
    needs, even where that leaves a core idle (8 cores, lag 4: 5 workers of 1 thread).
    """
    n = n_cores or cores()
    if jobs is not None:
        used = max(1, min(jobs, to_run))
        rule = f"--jobs {jobs}" + (f", {plural(to_run, 'trial')} left" if used < jobs else "")
        return Workers(used, threads or max(1, n // used), rule)
    limits = {"cores": max(1, n // threads) if threads else n, "trials left": max(1, to_run)}
    if lag is not None:
        limits["lag"] = lag + 1
    if biggest is not None:
        have = available if available is not None else available_bytes()
        if have is not None:
            each = INTERPRETER_BYTES + training_bytes(biggest, n_features, n_classes)
            limits["memory"] = max(1, have // each)
    jobs = min(limits.values())
    bound = [name for name, value in limits.items() if value == jobs]
    return Workers(jobs, threads or max(1, n // jobs),
                   f"auto: {jobs} of {n} cores as workers (bound by {', '.join(bound)})")

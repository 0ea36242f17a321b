"""Optuna's samplers and pruners by name, and the seeds that make a study repeatable."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import optuna

from ..errors import UsageError

if TYPE_CHECKING:
    from .space import Space

SAMPLERS = ("tpe", "random", "cmaes", "gp", "qmc", "grid")
PRUNERS = ("median", "hyperband", "asha", "none")
DEFAULT_PRUNER = "hyperband"  # chosen on benchmarks/README.md, section 3
# Hyperband: rungs from epoch 1, a third of each rung's trials go on (brackets start at
# later rungs). ASHA (successive halving, one bracket): the first rung at epoch 2, where
# the cosine schedule has moved and one noisy epoch decides less, and a third of each
# rung's trials go on: rungs at epochs 2, 6, 18 of 20 (2, 6 of 10).
HYPERBAND_MIN_RUNG, HYPERBAND_REDUCTION = 1, 3
ASHA_MIN_RUNG, ASHA_REDUCTION = 2, 3
MEDIAN_STARTUP_TRIALS, MEDIAN_WARMUP_EPOCHS = 5, 2


def make_sampler(name: str, seed: int, number: int = 0,
                 space: Space | None = None) -> optuna.samplers.BaseSampler:
    """The sampler ``name`` for the trial numbered ``number`` of a study seeded ``seed``
    (the grid sampler needs the study's ``space``: its grid)."""
    if name == "grid":
        if space is None:
            raise ValueError("the grid sampler needs the study's space")
        return GridSampler(space.grid(), seed=sampler_seed(name, seed, number))
    return _sampler(name, sampler_seed(name, seed, number), number)


class GridSampler(optuna.samplers.GridSampler):
    """Optuna's GridSampler. Trial k of a grid study takes the k-th point of the grid,
    shuffled by the study seed; a trial beyond the grid takes a point no trial took (one
    that an enqueued trial, a retry, left), seeing every earlier trial (lag.py).

    Its ``after_trial`` would stop a study whose grid is exhausted, which only
    ``Study.optimize`` may do (a told trial would raise): the harness stops by its count.
    """

    def after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                    state: optuna.trial.TrialState, values: Sequence[float] | None) -> None:
        return None


def _sampler(name: str, seed: int, number: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        try:
            import scipy  # noqa: F401
            import torch  # noqa: F401
        except ImportError:
            raise UsageError("--sampler gp: Optuna's GP sampler needs PyTorch and SciPy "
                             "(pip install -e '.[gp]')") from None
        with _stable_in_use():
            return optuna.samplers.GPSampler(seed=seed)
    if name == "qmc":
        # points of the sequence need the search space, which QMC reads from an earlier
        # trial: a trial that sees none (the first, and those a lag hides) is drawn at
        # random, with its own seed, not the same "random" point as the others
        independent = optuna.samplers.RandomSampler(seed=trial_seed(seed, number) % 2**31)
        with _stable_in_use():
            return optuna.samplers.QMCSampler(seed=seed, independent_sampler=independent,
                                              warn_independent_sampling=False)
    raise UsageError(f"--sampler {name!r}: unknown sampler (choose from {', '.join(SAMPLERS)})")


@contextmanager
def _stable_in_use() -> Iterator[None]:
    """Optuna's "experimental" warning (QMC since 3.0, GP since 3.6) says nothing a user
    can act on; the harness pins the Optuna it runs with."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def make_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    if name == "median":
        # five trials before it judges anyone, and never in the first two epochs, which
        # say little about where a run ends up
        return optuna.pruners.MedianPruner(n_startup_trials=MEDIAN_STARTUP_TRIALS,
                                           n_warmup_steps=MEDIAN_WARMUP_EPOCHS)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=HYPERBAND_MIN_RUNG,
                                              max_resource=epochs,
                                              reduction_factor=HYPERBAND_REDUCTION)
    if name == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=ASHA_MIN_RUNG,
                                                      reduction_factor=ASHA_REDUCTION,
                                                      min_early_stopping_rate=0)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise UsageError(f"--pruner {name!r}: unknown pruner (choose from {', '.join(PRUNERS)})")


def rungs(name: str, epochs: int) -> tuple[int, ...]:
    """The epochs at which pruner ``name`` may stop a trial of ``epochs`` epochs (below the
    last epoch); () for none. Median judges at every epoch from its warm-up on."""
    def geometric(low: int, factor: int) -> tuple[int, ...]:
        out, r = [], low
        while r < epochs:
            out.append(r)
            r *= factor
        return tuple(out)

    if name == "hyperband":
        return geometric(HYPERBAND_MIN_RUNG, HYPERBAND_REDUCTION)
    if name == "asha":
        return geometric(ASHA_MIN_RUNG, ASHA_REDUCTION)
    if name == "median":
        return tuple(range(MEDIAN_WARMUP_EPOCHS, epochs))
    return ()


def trial_seed(study_seed: int, number: int) -> int:
    """A trial's training seed: fixed by the study seed and the trial number alone."""
    return int(np.random.SeedSequence([study_seed, number]).generate_state(1)[0])


def sampler_seed(sampler: str, study_seed: int, next_number: int) -> int:
    # Every worker builds its own sampler; seeding it by the trial it is about to
    # create keeps workers from drawing the same "random" start-up points. QMC is the
    # exception: its sequence is indexed by trial number and needs one seed. So is the
    # grid: every trial must shuffle the grid alike.
    if sampler in ("qmc", "grid"):
        return study_seed
    return trial_seed(study_seed, next_number) % (2**31)

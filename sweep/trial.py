"""One trial, as a worker process runs it: ask, suggest, train, report, tell.

The objective itself is `objective`: suggest -> config -> train -> report -> return.
`run_trial` wraps it with what a study on disk needs: the count check under the
study lock, the trial's experiment directory with its ``trial.json``, and the
translation of every way a run can end into an Optuna state with a reason.
"""

from __future__ import annotations

import os
import socket
import traceback
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from mlp.config import Config
from mlp.data import load_dataset
from mlp.dataset import Dataset
from mlp.experiment import ExperimentResult, run_experiment

from .records import record_end, record_start
from .study import (
    Settings,
    StudyPaths,
    count,
    load_study,
    open_storage,
    stored_settings,
    study_lock,
    trial_seed,
)


@dataclass(frozen=True)
class TrialJob:
    """What a worker needs to run the next trial of a study (picklable, small)."""

    studies_dir: str
    study: str
    storage_url: str | None
    target: int  # finished trials the study should have
    plots: bool = True


_DATA: dict[tuple, Dataset] = {}


def _dataset(config: Config) -> Dataset:
    # one memory-mapped dataset per worker process, shared by all its trials
    key = (config.data.dataset, config.data.data_dir, config.data.train_limit)
    if key not in _DATA:
        _DATA[key] = load_dataset(config.data.dataset, config.data.data_dir,
                                  train_limit=config.data.train_limit, progress=False)
    return _DATA[key]


def trial_config(settings: Settings, trial: optuna.Trial) -> Config:
    overrides = settings.search_space.suggest(trial)
    overrides["training.seed"] = trial_seed(settings.seed, trial.number)
    return settings.base_config.with_overrides(overrides)


def objective(trial: optuna.Trial, settings: Settings, paths: StudyPaths,
              plots: bool = True) -> ExperimentResult:
    """Train the trial's configuration, reporting validation accuracy every epoch."""
    config = trial_config(settings, trial)
    pruned_at: list[int] = []

    def on_epoch(m) -> bool:
        trial.report(m.val_acc, m.epoch)
        # a trial that has trained its last epoch is complete whatever the pruner says
        if m.epoch < config.training.epochs and trial.should_prune():
            pruned_at.append(m.epoch)
            return True
        return False

    result = run_experiment(config, paths.trial_dir(trial.number), data=_dataset(config),
                            on_epoch=on_epoch, plots=plots,
                            extra={"study": paths.name, "trial": trial.number})
    if pruned_at:
        result.message = f"pruned at epoch {pruned_at[0]}"
    return result


def run_trial(job: TrialJob) -> dict[str, Any]:
    """Run the study's next trial, if it still needs one. Returns a summary for the parent."""
    paths = StudyPaths.of(job.studies_dir, job.study)
    storage = open_storage(paths, job.storage_url)
    with study_lock(paths):
        plain = load_study(paths, storage)
        trials = plain.get_trials(deepcopy=False)
        counts = count(trials)
        if counts.finished + counts.running >= job.target:
            return {"number": None}
        settings = stored_settings(plain)
        study = load_study(paths, storage, settings, next_number=len(trials))
        trial = study.ask()
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("seed", trial_seed(settings.seed, trial.number))
    trial.set_user_attr("experiment_dir", str(paths.trial_dir(trial.number)))
    paths.trial_dir(trial.number).mkdir(parents=True, exist_ok=True)
    record_start(paths, trial)
    try:
        result = objective(trial, settings, paths, job.plots)
    except BaseException as exc:
        reason = ("interrupted" if isinstance(exc, KeyboardInterrupt | SystemExit)
                  else f"{type(exc).__name__}: {exc}")
        trial.set_user_attr("reason", reason)
        trial.set_user_attr("traceback", traceback.format_exc())
        frozen = study.tell(trial, state=TrialState.FAIL)
        record_end(paths, frozen)
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return summary(frozen)
    trial.set_user_attr("train_seconds", round(result.train_seconds, 3))
    trial.set_user_attr("worker_peak_rss_mb", round(peak_rss_mb(), 1))
    trial.set_user_attr("epochs", len(result.history))
    trial.set_user_attr("parameter_count", result.parameter_count)
    if result.status == "completed":
        trial.set_user_attr("test_accuracy", result.test_accuracy)
        trial.set_user_attr("best_epoch", result.best_epoch)
        frozen = study.tell(trial, result.val_accuracy)
    else:  # pruned by the pruner, or diverged: both are runs the sampler should avoid
        trial.set_user_attr("reason", result.message)
        if result.status == "diverged":
            trial.set_user_attr("diverged", True)
        frozen = study.tell(trial, state=TrialState.PRUNED)
    record_end(paths, frozen)
    return summary(frozen)


def peak_rss_mb() -> float:
    """This worker process's peak resident memory so far (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def summary(t: FrozenTrial) -> dict[str, Any]:
    return {"number": t.number, "state": t.state.name, "value": t.value,
            "reason": t.user_attrs.get("reason", ""),
            "test_accuracy": t.user_attrs.get("test_accuracy"), "params": t.params}

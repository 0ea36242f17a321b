"""Reading a study: its trials as a DataFrame, the best ones, their directories.

This is the API the CLI's ``best`` and ``trials``, the report and the notebook
share::

    import sweep
    s = sweep.load("mnist-mlp")
    s.trials            # one row per trial: state, value, params, test accuracy, ...
    s.best(5)           # the five best completed trials
    s.trial_dir(7)      # studies/mnist-mlp/trials/0007
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import TrialState

from .study import (
    Settings,
    StudyPaths,
    count,
    load_study,
    storage_for_existing,
    stored_settings,
)

DEFAULT_STUDIES_DIR = "studies"


@dataclass
class StudyResults:
    paths: StudyPaths
    study: optuna.Study

    @property
    def name(self) -> str:
        return self.paths.name

    @cached_property
    def settings(self) -> Settings:
        return stored_settings(self.study)

    @cached_property
    def frozen_trials(self) -> list[optuna.trial.FrozenTrial]:
        return [t for t in self.study.get_trials(deepcopy=False)
                if t.state != TrialState.WAITING]

    @property
    def counts(self):
        return count(self.frozen_trials)

    @cached_property
    def trials(self) -> pd.DataFrame:
        """One row per trial (waiting ones left out), sorted by number."""
        rows = [trial_row(t, self.paths) for t in self.frozen_trials]
        columns = ["number", "state", "value", "test_accuracy", *self.param_names, "epochs",
                   "best_epoch", "train_seconds", "parameter_count", "worker_peak_rss_mb",
                   "classic", "diverged", "reason", "datetime_start", "datetime_complete", "dir"]
        df = pd.DataFrame(rows, columns=columns)
        return df.sort_values("number").reset_index(drop=True)

    @property
    def param_names(self) -> list[str]:
        return list(self.settings.space.get("params", {}))

    def completed(self) -> pd.DataFrame:
        df = self.trials
        return df[df["state"] == "COMPLETE"]

    def best(self, k: int = 1) -> pd.DataFrame:
        """The k completed trials with the highest validation accuracy (ties: lower number)."""
        done = self.completed()
        return done.sort_values(["value", "number"], ascending=[False, True]).head(k)

    def trial_dir(self, number: int) -> Path:
        return self.paths.trial_dir(number)


def trial_row(t: optuna.trial.FrozenTrial, paths: StudyPaths) -> dict[str, Any]:
    a = t.user_attrs
    row = {"number": t.number, "state": t.state.name, "value": t.value,
           "test_accuracy": a.get("test_accuracy"), "epochs": a.get("epochs"),
           "best_epoch": a.get("best_epoch"), "train_seconds": a.get("train_seconds"),
           "parameter_count": a.get("parameter_count"),
           "worker_peak_rss_mb": a.get("worker_peak_rss_mb"), "classic": bool(a.get("classic")),
           "diverged": bool(a.get("diverged")), "reason": a.get("reason", ""),
           "datetime_start": t.datetime_start, "datetime_complete": t.datetime_complete,
           "dir": str(paths.trial_dir(t.number))}
    row.update(t.params)
    return row


def load(study: str = "mnist-mlp", studies_dir: str | os.PathLike = DEFAULT_STUDIES_DIR,
         storage: str | None = None) -> StudyResults:
    """Open a study written by ``sweep run`` for reading."""
    paths = StudyPaths.of(studies_dir, study)
    return StudyResults(paths, load_study(paths, storage_for_existing(paths, storage)))


def list_studies(studies_dir: str | os.PathLike = DEFAULT_STUDIES_DIR) -> list[StudyResults]:
    """Every study folder under ``studies_dir`` that has a readable storage."""
    found = []
    root = Path(studies_dir)
    if not root.is_dir():
        return found
    for child in sorted(root.iterdir()):
        if child.is_dir() and (child / "study.json").is_file():
            try:
                found.append(load(child.name, root))
            except Exception:  # a broken or foreign folder is listed by the caller as such
                continue
    return found

"""Hyperparameter sweeps of the NumPy MLP: Optuna studies whose trials run in parallel
worker processes (loky, joblib's process executor).

The public API, for notebooks and scripts::

    import sweep
    results = sweep.run("my-study", trials=20, jobs=2,
                        space={"params": {"lr": {"low": 0.01, "high": 0.5}}})
    results = sweep.load("mnist-mlp")      # a finished or running study
    results.trials                         # pandas DataFrame, one row per trial
    results.best(5)
    results.history(7)                     # trial 7's epochs

``sweep.run`` makes the same study, folders and report as ``python -m sweep run``;
``sweep.report`` draws the report's figures from a study (``report.prepare``).

The names are imported on first use: the CLI and the worker processes import
``sweep`` too, and need neither pandas nor the report to start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import load, run
    from .errors import StudyError, UsageError
    from .study.records import TrialOutcome
    from .study.results import StudyResults, list_studies
    from .study.space import Param, Space, default_space, load_space

_HOME = {"run": "api", "StudyError": "errors", "UsageError": "errors",
         "TrialOutcome": "study.records", "StudyResults": "study.results",
         "list_studies": "study.results", "load": "api", "Param": "study.space",
         "Space": "study.space", "default_space": "study.space", "load_space": "study.space"}

__all__ = ["Param", "Space", "StudyError", "StudyResults", "TrialOutcome", "UsageError",
           "default_space", "list_studies", "load", "load_space", "run"]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'sweep' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted(_HOME)

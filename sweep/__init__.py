"""Hyperparameter sweeps of the NumPy MLP: Optuna studies run by joblib worker processes.

The public API, for notebooks and scripts::

    import sweep
    results = sweep.load("mnist-mlp")      # a finished or running study
    results.trials                         # pandas DataFrame, one row per trial
    results.best(5)

Its names are imported on first use: the CLI and the worker processes import
``sweep`` too, and need neither pandas nor the report to start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .results import StudyResults, list_studies, load
    from .space import Param, Space, default_space, load_space

_HOME = {"StudyResults": "results", "list_studies": "results", "load": "results",
         "Param": "space", "Space": "space", "default_space": "space", "load_space": "space"}

__all__ = ["Param", "Space", "StudyResults", "default_space", "list_studies", "load",
           "load_space"]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'sweep' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted(_HOME)

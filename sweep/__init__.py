"""Hyperparameter sweeps of the NumPy MLP: Optuna studies run by joblib worker processes.

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
"""

from .api import run
from .errors import StudyError, UsageError
from .records import TrialOutcome
from .results import StudyResults, list_studies, load
from .space import Param, Space, default_space, load_space

__all__ = ["Param", "Space", "StudyError", "StudyResults", "TrialOutcome", "UsageError",
           "default_space", "list_studies", "load", "load_space", "run"]

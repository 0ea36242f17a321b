"""Hyperparameter sweeps of the NumPy MLP: Optuna studies run by joblib worker processes.

The public API, for notebooks and scripts::

    import sweep
    results = sweep.load("mnist-mlp")      # a finished or running study
    results.trials                         # pandas DataFrame, one row per trial
    results.best(5)
"""

from .results import StudyResults, list_studies, load
from .space import Param, Space, default_space, load_space

__all__ = ["Param", "Space", "StudyResults", "default_space", "list_studies", "load",
           "load_space"]

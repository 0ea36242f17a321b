"""A multilayer perceptron written from scratch in NumPy, and one run's experiment directory.

This package is a library: it knows nothing of Optuna, joblib or the sweep. One
call trains one network::

    from mlp import Config, run_experiment
    result = run_experiment(Config(), "runs/baseline")
"""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import Config, ConfigError, DataConfig, ModelConfig, TrainConfig
from .data import DataError, load_dataset
from .dataset import Dataset
from .experiment import (
    ExperimentResult,
    LoadedExperiment,
    load_config,
    load_experiment,
    run_experiment,
)
from .network import MLP
from .train import AtChance, Diverged, EpochMetrics, TrainResult, evaluate

__all__ = [
    "MLP", "CheckpointError", "Config", "ConfigError", "DataConfig", "DataError", "Dataset",
    "AtChance", "Diverged", "EpochMetrics", "ExperimentResult", "LoadedExperiment", "ModelConfig",
    "TrainConfig", "TrainResult", "evaluate", "load_checkpoint", "load_config", "load_dataset",
    "load_experiment", "run_experiment", "save_checkpoint",
]

"""``python -m sweep plots --trial N``: draw a trial's figures when somebody wants them.

By default a sweep draws figures only for each new best as it completes (drawing costs
more than a short trial's training, and most trials are never looked at); this draws
them for any trained trial, from its directory, as the run would have, and uploads
them as Optuna artifacts for optuna-dashboard: of the study, named trial-NNNN-<file>,
since Optuna takes no artifact of a finished trial (sweep/execution/artifacts.py).
"""

from __future__ import annotations

import argparse

from mlp.checkpoint import CheckpointError
from mlp.config import ConfigError
from mlp.experiment import plot_experiment

from ..errors import StudyError, os_error_text
from ..execution.artifacts import FIGURES, upload_later
from ..execution.trial import dataset_for
from ..text import plural
from .common import add_study_args, check_trials_folder, open_results, trained_trial

DESCRIPTION = (
    "Draw a trial's figures (learning curves, confusion matrix, per-class F1, "
    "misclassified images) into its plots folder, as the run draws them for each new "
    "best, and upload them for optuna-dashboard: as artifacts of the study named "
    "trial-NNNN-<file> (Optuna takes no artifact of a finished trial).")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_study_args(p)
    p.add_argument("--trial", type=int, required=True, metavar="N",
                   help="the trial's number (a completed or pruned trial)")


def run(args: argparse.Namespace) -> int:
    from mlp.experiment import load_config

    results = open_results(args)
    outcome = trained_trial(results, args.trial, diverged=False)
    folder = results.trial_dir(args.trial)
    check_trials_folder(results, outcome, folder)
    try:
        data = dataset_for(load_config(folder / "config.json"))
        plots = plot_experiment(folder, data)
    except (ConfigError, CheckpointError) as exc:  # its files damaged: not the arguments
        raise StudyError(f"trial {args.trial}: {exc}") from None
    except OSError as exc:
        raise StudyError(f"trial {args.trial}: {os_error_text(exc)}") from None
    print(f"trial {args.trial}: figures in {plots}")
    figures = sorted(folder.glob(FIGURES))
    frozen = next(t for t in results.frozen_trials if t.number == args.trial)
    uploaded = upload_later(results.study, frozen, results.paths.root, figures)
    print(f"{plural(len(uploaded), 'figure')} uploaded as artifacts of the study "
          f"({len(figures) - len(uploaded)} there already) to {results.paths.root / 'artifacts'}")
    return 0



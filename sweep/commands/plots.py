"""``python -m sweep plots --trial N``: draw a trial's figures when somebody wants them.

By default a sweep draws figures only for each new best as it completes (drawing costs
more than a short trial's training, and most trials are never looked at); this draws
them for any trained trial, from its directory, as the run would have.
"""

from __future__ import annotations

import argparse

from mlp.config import ConfigError
from mlp.experiment import plot_experiment

from ..errors import StudyError, UsageError
from ..execution.trial import dataset_for
from .common import add_study_args, open_results

DESCRIPTION = __doc__.split("\n\n", 1)[1].replace("\n", " ").strip()


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_study_args(p)
    p.add_argument("--trial", type=int, required=True, help="the trial's number")


def run(args: argparse.Namespace) -> int:
    from mlp.experiment import load_config

    results = open_results(args)
    outcome = {o.number: o for o in results.outcomes}.get(args.trial)
    if outcome is None:
        raise UsageError(f"--trial {args.trial}: study {results.name!r} has no such trial")
    if outcome.state not in ("COMPLETE", "PRUNED") or outcome.diverged:
        what = "diverged" if outcome.diverged else outcome.state
        raise UsageError(f"--trial {args.trial}: it is {what}: no trained network to plot")
    folder = results.trial_dir(args.trial)
    try:
        data = dataset_for(load_config(folder / "config.json"))
        plots = plot_experiment(folder, data)
    except (ConfigError, OSError) as exc:
        raise StudyError(f"trial {args.trial}: {exc}") from None
    print(f"trial {args.trial}: figures in {plots}")
    return 0



"""``python -m sweep run``: create, resume or extend a study, and run its trials.

The command line is read into a `RunRequest`; `sweep.study_run.run_study` does the
rest, the same code as the Python API's ``sweep.run()``.
"""

from __future__ import annotations

import argparse
import sys

from .dask_backend import BACKENDS
from .errors import UsageError
from .heartbeat import DEFAULT_HEARTBEAT, GRACE_BEATS
from .lag import DEFAULT_LAG
from .options import Command, add_study_args, parse_duration
from .overrides import add_override_flags, collect_overrides
from .runner import STALL_LIMIT
from .samplers import DEFAULT_PRUNER, PRUNERS, SAMPLERS
from .space import load_space
from .study_run import RunRequest, check_backend, run_study
from .trial import PLOTS

RUN_HELP = """\
Run (or resume, or extend) a study. --trials N is the number of finished trials
(completed, pruned or failed) the study should have: re-running an interrupted
study runs only what is missing, and a larger N extends it. Options left out on a
resumed study keep the values it was created with; a different value is refused.
"""
STUDY_OPTIONS = ("--epochs", "--dataset", "--data-dir", "--train-limit")


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trials", type=int, required=True,
                   help="finished trials the study should have in the end")
    add_study_args(p)
    p.add_argument("--jobs", type=parse_jobs, default=None, metavar="N|auto",
                   help="parallel worker processes (default auto: one per core while "
                        "trials, the lag and memory allow; see sweep/jobs.py)")
    p.add_argument("--threads", type=parse_threads, default=None, metavar="T",
                   help="BLAS threads per worker (default: the cores shared out among "
                        "the workers)")
    p.add_argument("--backend", default="loky", choices=BACKENDS,
                   help="where trials run: worker processes here (loky, the default) or "
                        "the workers of a Dask cluster (dask, with --scheduler; --jobs is "
                        "then the trials in flight, default the cluster's worker threads)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="with --backend dask: the Dask scheduler, e.g. tcp://HOST:8786")
    add_override_flags(p, only=STUDY_OPTIONS)
    p.add_argument("--sampler", default=None, choices=SAMPLERS, help="sampler (tpe)")
    p.add_argument("--pruner", default=None, choices=PRUNERS, help=f"pruner ({DEFAULT_PRUNER})")
    p.add_argument("--explore", action="store_true",
                   help="an exploration study: --sampler qmc --pruner none (quasi-random "
                        "points over the whole space, every trial trained to the end)")
    p.add_argument("--seed", type=int, default=None, help="study seed (0)")
    p.add_argument("--lag", default=None, metavar="N|off",
                   help="trial k learns only from trials 0..k-1-N, once they have finished, "
                        "so the study does not depend on timing or --jobs "
                        f"(default {DEFAULT_LAG}; off: from whatever has finished)")
    p.add_argument("--heartbeat", type=int, default=None, metavar="SECONDS",
                   help="with a database storage: seconds between a running trial's "
                        f"heartbeats; a trial silent for {GRACE_BEATS} of them is failed and "
                        f"retried by any run (default {DEFAULT_HEARTBEAT}; stored in the study)")
    p.add_argument("--timeout", default=None,
                   help="stop starting trials after this long (e.g. 90s, 30m, 2h)")
    p.add_argument("--stall-timeout", default=None,
                   help="fail a trial whose worker shows no progress this long, and replace "
                        f"the worker (default {STALL_LIMIT / 60:.0f}m, or 10 epochs if longer)")
    p.add_argument("--space", default=None, help="TOML file changing the search space")
    p.add_argument("--plots", default=None, choices=list(PLOTS),
                   help="which trials draw their figures as they finish: "
                        + "; ".join(f"{k}: {v}" for k, v in PLOTS.items())
                        + " (default best; sweep plots --trial N draws any later)")
    p.add_argument("--no-plots", action="store_true", help="the same as --plots none")
    p.add_argument("--no-report", action="store_true", help="skip the report at the end")
    p.add_argument("--quiet", action="store_true", help="plain log lines, no progress bar")


EXPLORE = (("sampler", "qmc"), ("pruner", "none"))


def explore(args: argparse.Namespace) -> None:
    """``--explore`` is ``--sampler qmc --pruner none``: quasi-random points that cover
    the space evenly, none stopped early, so the report's effects are not those of the
    trials a sampler favoured and a pruner let survive. A contradicting option is a
    usage error."""
    if not getattr(args, "explore", False):
        return
    for option, value in EXPLORE:
        given = getattr(args, option)
        if given is not None and given != value:
            raise UsageError(f"--explore means --{option} {value}; --{option} {given} "
                             "contradicts it")
        setattr(args, option, value)


def request_from_args(args: argparse.Namespace) -> RunRequest:
    """The command line as a `RunRequest` (durations and the space file read here)."""
    explore(args)
    return RunRequest(
        trials=args.trials, study=args.study, studies_dir=args.studies_dir,
        storage=args.storage, jobs=args.jobs, threads=args.threads, backend=args.backend,
        scheduler=args.scheduler, overrides=collect_overrides(args),
        space=load_space(args.space) if args.space else None,
        space_source=f"--space {args.space}" if args.space else "space",
        sampler=args.sampler, pruner=args.pruner, seed=args.seed, lag=args.lag,
        heartbeat=args.heartbeat,
        timeout=parse_duration(args.timeout) if args.timeout is not None else None,
        stall_limit=(parse_duration(args.stall_timeout, "--stall-timeout")
                     if args.stall_timeout is not None else STALL_LIMIT),
        plots=plots_choice(args), report=not args.no_report, quiet=args.quiet)


def plots_choice(args: argparse.Namespace) -> str:
    if args.no_plots and args.plots not in (None, "none"):
        raise UsageError(f"--no-plots means --plots none; --plots {args.plots} contradicts it")
    return "none" if args.no_plots else (args.plots or "best")


def _whole(text: str) -> int | None:
    digits = text.strip().removeprefix("-")
    return int(text) if digits.isdigit() and digits.isascii() else None


def parse_jobs(text: str) -> int | None:
    """``--jobs``: a whole number, or auto (None); the run names one below 1."""
    if text.strip().lower() == "auto":
        return None
    if (number := _whole(text)) is None:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number from 1, or auto")
    return number


def parse_threads(text: str) -> int:
    if (number := _whole(text)) is None:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number from 1")
    return number


def cmd_run(args: argparse.Namespace) -> int:
    if args.trials < 1:
        raise UsageError(f"--trials {args.trials}: must be >= 1")
    check_backend(args.backend, args.scheduler)
    summary = run_study(request_from_args(args)).summary
    if summary is None:
        return 0
    if summary.interrupted:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    if summary.stopped_reason and "time-out" not in summary.stopped_reason:
        print(f"stopped: {summary.stopped_reason}", file=sys.stderr)
        return 1
    return 0


COMMANDS = (Command("run", "run, resume or extend a study", add_run_arguments, cmd_run,
                    RUN_HELP),)

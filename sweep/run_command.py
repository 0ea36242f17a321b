"""``python -m sweep run``: create, resume or extend a study, and run its trials."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import optuna

from mlp.config import Config

from .errors import UsageError
from .heartbeat import DEFAULT_HEARTBEAT, GRACE_BEATS, MAX_HEARTBEAT
from .lag import DEFAULT_LAG, MAX_LAG
from .options import Command, add_study_args, parse_duration
from .overrides import add_override_flags, apply_overrides
from .progress import Progress
from .results import load
from .runner import STALL_LIMIT, run_workers
from .samplers import DEFAULT_PRUNER, PRUNERS, SAMPLERS, make_sampler
from .space import load_space
from .storage import mask_url, open_storage, sqlite_file
from .study import Settings, StudyPaths, count, create_or_check, storage_url_of, stored_settings

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
    p.add_argument("--jobs", type=int, default=None,
                   help=f"parallel worker processes (default: cores, {os.cpu_count()})")
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
    p.add_argument("--no-plots", action="store_true", help="skip per-trial figures")
    p.add_argument("--no-report", action="store_true", help="skip the report at the end")
    p.add_argument("--quiet", action="store_true", help="plain log lines, no progress bar")


def settings_from_args(args: argparse.Namespace, stored: Settings | None) -> Settings:
    """The study's settings: stored ones for anything not given, checked for conflicts."""
    space = load_space(args.space) if args.space else None
    if stored is None:
        space = space or load_space(None)
        base = Config().with_overrides(space.fixed_overrides())
    else:
        space = space or stored.space
        base = stored.config
    config = apply_overrides(base, args)
    if config.data.data_dir and getattr(args, "data.data_dir", None):
        # stored resolved, so the study resumes the same from any working directory
        config = config.with_overrides({"data.data_dir": str(Path(config.data.data_dir).resolve())})
    space.check_against(config, f"--space {args.space}" if args.space else "space")
    if args.seed is not None and not 0 <= args.seed < 2**32:
        raise UsageError(f"--seed {args.seed}: must be in [0, 2**32)")
    explore(args)
    if args.heartbeat is not None and not 1 <= args.heartbeat <= MAX_HEARTBEAT:
        raise UsageError(f"--heartbeat {args.heartbeat}: must be 1 to {MAX_HEARTBEAT} seconds")
    defaults = stored or Settings(config, space)
    settings = Settings(config, space, args.sampler or defaults.sampler,
                        args.pruner or defaults.pruner,
                        defaults.seed if args.seed is None else args.seed,
                        defaults.lag if args.lag is None else parse_lag(args.lag),
                        defaults.heartbeat if args.heartbeat is None else args.heartbeat)
    make_sampler(settings.sampler, settings.seed)  # a missing optional package fails here
    return settings


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


def parse_lag(text: str) -> int | None:
    if text.strip().lower() == "off":
        return None
    lag = int(text) if text.strip().isdigit() and text.strip().isascii() else -1
    if not 0 <= lag <= MAX_LAG:
        raise UsageError(f"--lag {text!r}: must be a whole number from 0 to {MAX_LAG}, or off")
    return lag


@contextmanager
def _cleaned_up_on_failure(paths: StudyPaths, storage: str | None) -> Iterator[None]:
    """Undo what a rejected first run made, and nothing else.

    Only folders this run created are removed, and only while they are empty once
    this run's own files are gone: another study started meanwhile in the same
    studies folder, or the same study created by a concurrent run, stays whole.
    """
    created, folder = [], paths.root
    while not folder.exists():
        created.append(folder)
        folder = folder.parent
    database = sqlite_file(storage)
    new_database = database is not None and not database.exists()
    try:
        yield
    except BaseException:
        if new_database and not paths.meta.exists():
            database.unlink(missing_ok=True)  # made by this run, for a study never created
        if created:
            _remove_own_files(paths)
            for folder in created:  # innermost first
                with suppress(OSError):
                    folder.rmdir()
        raise


def _remove_own_files(paths: StudyPaths) -> None:
    if paths.meta.exists():
        return  # a concurrent run created the study: all of it is theirs
    with suppress(OSError):
        if paths.journal.stat().st_size == 0:
            paths.journal.unlink()
    for leftover in (paths.root / ".lock", Path(str(paths.journal) + ".flock")):
        with suppress(OSError):
            leftover.unlink()


def _check_studies_dir(folder: Path) -> None:
    """A studies folder that cannot hold studies is named before anything is made."""
    for part in (folder, *folder.parents):
        if part.is_symlink() and not part.exists():
            raise UsageError(f"--studies-dir {folder}: {part} is a symbolic link to "
                             f"{os.readlink(part)}, which does not exist")
        if part.exists() and not part.is_dir():
            raise UsageError(f"--studies-dir {folder}: {part} is not a folder")


def _open_or_create(args: argparse.Namespace, paths: StudyPaths) -> tuple[Settings, int]:
    """The study's settings and how many trials it has finished, creating it if new."""
    storage = open_storage(paths.journal, args.storage)
    stored = None
    if paths.name in optuna.get_all_study_names(storage):
        stored = stored_settings(optuna.load_study(study_name=paths.name, storage=storage))
    settings = settings_from_args(args, stored)
    _check_data(settings.config)
    study = create_or_check(paths, storage, settings, args.storage)
    return settings, count(study.get_trials(deepcopy=False)).finished


def _check_data(config: Config) -> None:
    """Fetch and verify the data once, before any worker starts."""
    from mlp.data import load_dataset

    load_dataset(config.data.dataset, config.data.data_dir)


def cmd_run(args: argparse.Namespace) -> int:
    if args.trials < 1:
        raise UsageError(f"--trials {args.trials}: must be >= 1")
    jobs = args.jobs if args.jobs is not None else (os.cpu_count() or 1)
    if jobs < 1:
        raise UsageError(f"--jobs {jobs}: must be >= 1")
    timeout = parse_duration(args.timeout) if args.timeout is not None else None
    stall = (parse_duration(args.stall_timeout, "--stall-timeout")
             if args.stall_timeout is not None else STALL_LIMIT)
    paths = StudyPaths.of(args.studies_dir, args.study)
    _check_studies_dir(Path(args.studies_dir))
    args.storage = storage_url_of(paths, args.storage)
    with _cleaned_up_on_failure(paths, args.storage):
        settings, finished = _open_or_create(args, paths)
    if finished >= args.trials:
        print(f"study {paths.name!r} already has {finished} finished trials "
              f"(asked for {args.trials}); nothing to run")
        return 0
    jobs = min(jobs, args.trials - finished)  # no more workers than trials to run
    progress = Progress(args.trials, finished, quiet=args.quiet)
    where = mask_url(args.storage) or str(paths.journal)
    progress.line(f"study {paths.name!r}: {finished} of {args.trials} trials finished; "
                  f"{jobs} workers; storage {where}")
    if settings.lag is not None and jobs > settings.lag + 1:
        progress.line(f"note: the study's lag is {settings.lag}, so of {jobs} workers at most "
                      f"{settings.lag + 1} run at once (each trial waits for trials "
                      f"{settings.lag + 1} and more before it); a study made with "
                      f"--lag {jobs - 1} or more would use them all")
    summary = run_workers(paths, args.storage, settings, args.trials, jobs, timeout, progress,
                          plots=not args.no_plots, on_result=progress.trial_done,
                          stall_limit=stall)
    _print_summary(args, summary.seconds)
    if summary.interrupted:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    if summary.stopped_reason and "time-out" not in summary.stopped_reason:
        print(f"stopped: {summary.stopped_reason}", file=sys.stderr)
        return 1
    return 0


def _print_summary(args: argparse.Namespace, seconds: float) -> None:
    from .read_commands import best_line

    results = load(args.study, args.studies_dir, args.storage)
    c = results.counts
    print(f"{c.finished} of {args.trials} trials finished ({c.complete} completed, {c.pruned} "
          f"pruned, {c.failed} failed) in {seconds:.0f}s")
    best = results.best_outcomes(1)
    if best:
        print("best: " + best_line(best[0]))
    if not args.no_report:
        from .report import write_report

        print(f"report: {write_report(results)}")


COMMANDS = (Command("run", "run, resume or extend a study", add_run_arguments, cmd_run,
                    RUN_HELP),)

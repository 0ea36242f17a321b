"""Running a study from a `RunRequest`: what ``python -m sweep run`` and ``sweep.run()``
share, so that both make the same study, folders and trials.

A request says what the user asked for; the study's stored settings fill in what was
left out (a resumed study keeps the values it was created with) and refuse what
differs. `run_study` then creates or checks the study, runs the missing trials with
the worker pool, prints the summary and writes the report. The callers only turn its
outcome into what they return: an exit code, or results and exceptions.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from mlp.config import Config

from .errors import UsageError
from .heartbeat import MAX_HEARTBEAT
from .jobs import Workers, choose_workers, cores, largest
from .lag import DEFAULT_LAG, MAX_LAG
from .liveness import sync_records
from .options import DEFAULT_STUDIES_DIR, DEFAULT_STUDY
from .overrides import apply_overrides
from .progress import Progress
from .results import StudyResults, load
from .runner import STALL_LIMIT, RunSummary, run_workers
from .samplers import PRUNERS, SAMPLERS, make_sampler
from .space import Space, default_space
from .storage import mask_url, open_storage, sqlite_file
from .study import (
    Settings,
    StudyPaths,
    count,
    create_or_check,
    storage_url_of,
    stored_settings,
    study_locks,
)
from .trial import PLOTS
from .workers import prestart, trim_kept


@dataclass(frozen=True)
class RunRequest:
    """What one run of a study asks for. None means: the study's stored value, or the
    default for a new study. ``overrides`` are config values by dotted key
    (``training.epochs``); ``lag`` is a number or "off", as on the command line."""

    trials: int
    study: str = DEFAULT_STUDY
    studies_dir: str | os.PathLike = DEFAULT_STUDIES_DIR
    storage: str | None = None
    jobs: int | None = None  # None: auto (sweep/jobs.py); dask: trials in flight at once
    threads: int | None = None  # BLAS threads per worker; None: the rule's
    backend: str = "loky"  # or "dask": the trials run on the cluster of ``scheduler``
    scheduler: str | None = None  # a Dask scheduler's address, tcp://HOST:8786
    overrides: dict[str, Any] = field(default_factory=dict)
    space: Space | None = None
    space_source: str = "space"  # how errors name the space: "--space FILE"
    sampler: str | None = None
    pruner: str | None = None
    seed: int | None = None
    lag: str | None = None
    heartbeat: int | None = None  # seconds, database storages (sweep/heartbeat.py)
    timeout: float | None = None
    stall_limit: float = STALL_LIMIT
    plots: str = "best"  # which trials draw their figures (trial.PLOTS)
    report: bool = True
    quiet: bool = False


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended. ``summary`` is None when the study already had its trials."""

    paths: StudyPaths
    storage: str | None
    summary: RunSummary | None
    report: Path | None = None

    def results(self) -> StudyResults:
        return load(self.paths.name, self.paths.root.parent, self.storage)


def settings_for(request: RunRequest, stored: Settings | None) -> Settings:
    """The study's settings: stored ones for anything not given, checked for conflicts."""
    if request.sampler is not None and request.sampler not in SAMPLERS:
        raise UsageError(f"--sampler {request.sampler!r}: choose from {', '.join(SAMPLERS)}")
    if request.pruner is not None and request.pruner not in PRUNERS:
        raise UsageError(f"--pruner {request.pruner!r}: choose from {', '.join(PRUNERS)}")
    space = request.space
    if stored is None:
        space = space or default_space()
        base = Config().with_overrides(space.fixed_overrides())
    else:
        space = space or stored.space
        base = stored.config
    config = apply_overrides(base, request.overrides)
    if config.data.data_dir and request.overrides.get("data.data_dir"):
        # stored resolved, so the study resumes the same from any working directory
        config = config.with_overrides({"data.data_dir": str(Path(config.data.data_dir).resolve())})
    space.check_against(config, request.space_source)
    if request.seed is not None and not 0 <= request.seed < 2**32:
        raise UsageError(f"--seed {request.seed}: must be in [0, 2**32)")
    beat = request.heartbeat
    if beat is not None and not (isinstance(beat, int) and 1 <= beat <= MAX_HEARTBEAT):
        raise UsageError(f"--heartbeat {beat}: must be 1 to {MAX_HEARTBEAT} seconds")
    defaults = stored or Settings(config, space)
    settings = Settings(config, space, request.sampler or defaults.sampler,
                        request.pruner or defaults.pruner,
                        defaults.seed if request.seed is None else request.seed,
                        defaults.lag if request.lag is None else parse_lag(request.lag),
                        defaults.heartbeat if beat is None else beat)
    make_sampler(settings.sampler, settings.seed)  # a missing optional package fails here
    return settings


def parse_lag(text: str | int) -> int | None:
    text = str(text)
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


def _open_or_create(request: RunRequest, paths: StudyPaths,
                    storage_url: str | None) -> tuple[Settings, int, tuple[int, int]]:
    """The study's settings, how many trials it has finished, and its data's features
    and classes; the study is created if new."""
    storage = open_storage(paths.journal, storage_url)
    stored = None
    with study_locks(paths, storage):  # another machine may be half way through creating it
        if paths.name in optuna.get_all_study_names(storage):
            stored = stored_settings(optuna.load_study(study_name=paths.name, storage=storage))
    settings = settings_for(request, stored)
    shape = _check_data(settings.config)
    study = create_or_check(paths, storage, settings, storage_url)
    sync_records(study, paths)  # here, for a run with nothing left to run mends them too
    return settings, count(study.get_trials(deepcopy=False)).finished, shape


def _check_data(config: Config) -> tuple[int, int]:
    """Fetch and verify the data once, before any worker starts; its features and
    classes."""
    from mlp.data import load_dataset

    data = load_dataset(config.data.dataset, config.data.data_dir)
    return data.n_features, data.n_classes


def run_study(request: RunRequest) -> RunOutcome:
    """Create, resume or extend the study and run its missing trials; print the summary
    and write the report."""
    if request.trials < 1:
        raise UsageError(f"--trials {request.trials}: must be >= 1")
    for name, value in (("--jobs", request.jobs), ("--threads", request.threads)):
        if value is not None and value < 1:
            raise UsageError(f"{name} {value}: must be >= 1")
    _check_threads(request.threads, request.backend)
    if request.plots not in PLOTS:
        raise UsageError(f"--plots {request.plots!r}: choose from {', '.join(PLOTS)}")
    check_backend(request.backend, request.scheduler)
    _check_studies_dir(Path(request.studies_dir))
    if request.backend != "dask":
        return _run_study(request)
    from .dask_backend import cluster_threads, connect

    client = connect(request.scheduler)  # before anything is made
    try:
        return _run_study(request, client, request.jobs or cluster_threads(client))
    finally:
        with suppress(Exception):
            client.close()


MAX_THREADS = 1024  # BLAS threads a Dask worker's trial may ask for (its machine's cores)


def _check_threads(threads: int | None, backend: str) -> None:
    """More BLAS threads than cores only slows a worker down; OpenBLAS quietly runs at
    most its build's maximum (64 here) whatever it is told, so config.json would record
    a count the trial never ran with, and a count past a C int kills every worker at
    start-up. Dask workers run on other machines: only the C int's bound is known."""
    if threads is None:
        return
    most, why = (MAX_THREADS, "a Dask worker's") if backend == "dask" else \
        (cores(), "this run's")
    if threads > most:
        raise UsageError(f"--threads {threads}: at most {most} ({why} cores)")


def check_backend(backend: str, scheduler: str | None) -> None:
    """--backend dask takes --scheduler ADDRESS, and only it does."""
    from .dask_backend import BACKENDS

    if backend not in BACKENDS:
        raise UsageError(f"--backend {backend!r}: choose from {', '.join(BACKENDS)}")
    if backend == "dask" and not scheduler:
        raise UsageError("--backend dask needs --scheduler ADDRESS (a running Dask "
                         "scheduler, e.g. tcp://HOST:8786)")
    if backend != "dask" and scheduler:
        raise UsageError(f"--scheduler {scheduler}: only with --backend dask")


def _run_study(request: RunRequest, client: Any = None, in_flight: int = 0) -> RunOutcome:
    if client is None:  # the likely workers start while the study is opened
        lag = DEFAULT_LAG if request.lag is None else parse_lag(request.lag)
        guess = choose_workers(request.jobs, request.threads, to_run=request.trials, lag=lag)
        prestart(guess.jobs, guess.threads, modules=("sweep.trial",))
    paths = StudyPaths.of(request.studies_dir, request.study)
    storage = storage_url_of(paths, request.storage)
    with _cleaned_up_on_failure(paths, storage):
        settings, finished, shape = _open_or_create(request, paths, storage)
    if finished >= request.trials:
        print(f"study {paths.name!r} already has {finished} finished trials "
              f"(asked for {request.trials}); nothing to run")
        return RunOutcome(paths, storage, None)
    to_run = request.trials - finished
    if client is None:
        workers = choose_workers(request.jobs, request.threads, to_run=to_run,
                                 lag=settings.lag,
                                 biggest=largest(settings.config, settings.space),
                                 n_features=shape[0], n_classes=shape[1])
        trim_kept(workers.threads, workers.jobs)  # a wrong guess, earlier runs' leftovers
    else:  # each Dask worker thread runs one trial; its BLAS threads are the task's
        jobs = min(in_flight, to_run)
        workers = Workers(jobs, request.threads or 1,
                          f"dask: {jobs} at a time on the cluster at {request.scheduler}")
    jobs = workers.jobs
    progress = Progress(request.trials, finished, quiet=request.quiet)
    where = mask_url(storage) or str(paths.journal)
    threads = f"{workers.threads} BLAS thread{'s' if workers.threads > 1 else ''} each"
    progress.line(f"study {paths.name!r}: {finished} of {request.trials} trials finished; "
                  f"{jobs} worker{'s' if jobs > 1 else ''}, {threads} ({workers.rule}); "
                  f"storage {where}")
    if settings.lag is not None and jobs > settings.lag + 1:
        progress.line(f"note: the study's lag is {settings.lag}, so of {jobs} workers at most "
                      f"{settings.lag + 1} run at once (each trial waits for trials "
                      f"{settings.lag + 1} and more before it); a study made with "
                      f"--lag {jobs - 1} or more would use them all")
    summary = run_workers(paths, storage, settings, request.trials, workers, request.timeout,
                          progress, plots=request.plots, on_result=progress.trial_done,
                          stall_limit=request.stall_limit, client=client)
    outcome = RunOutcome(paths, storage, summary)
    report = _print_summary(outcome, request)
    return RunOutcome(paths, storage, summary, report)


def _print_summary(outcome: RunOutcome, request: RunRequest) -> Path | None:
    from .read_commands import best_line

    results = outcome.results()
    c = results.counts
    seconds = outcome.summary.seconds if outcome.summary else 0.0
    print(f"{c.finished} of {request.trials} trials finished ({c.complete} completed, "
          f"{c.pruned} pruned, {c.failed} failed) in {seconds:.0f}s")
    best = results.best_outcomes(1)
    if best:
        print("best: " + best_line(best[0]))
    sys.stdout.flush()
    if not request.report:
        return None
    from .report import write_report

    report = write_report(results)
    print(f"report: {report}")
    return report

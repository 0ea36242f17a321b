"""Running a study from a `RunRequest`: what ``sweep run`` and ``sweep.run()`` share.

A request says what the user asked for; the study's stored settings fill in what was
left out (a resumed study keeps the values it was created with) and refuse what
differs. `run_study` then creates or checks the study, chooses the workers, runs the
missing trials on the backend and prints the summary. The callers turn its outcome
into what they return: an exit code, or results and exceptions (and both write the
report: sweep/commands/run.py).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from mlp.config import Config, ConfigError

from ..errors import StudyError, UsageError
from ..options import culprit, declared, spell
from ..study.lag import DEFAULT_LAG
from ..study.locks import study_locks
from ..study.paths import WORKERS_LOG, StudyPaths, enclosing, storage_url_of
from ..study.records import Counts, count
from ..study.results import StudyResults, load
from ..study.samplers import make_sampler
from ..study.settings import (
    Settings,
    create_or_check,
    load_study,
    missing_study,
    stored_settings,
)
from ..study.space import Space, default_space
from ..study.storage import mask_url, open_storage, release, sqlite_file
from ..text import plural, terminal_width, wrap
from .backend import Backend
from .controller import STALL_LIMIT, RunSummary, run_trials
from .jobs import Workers, choose_workers, largest
from .ledger import Ledger
from .loky_backend import LokyBackend
from .progress import Progress
from .request import RunRequest

CLOSE_TIMEOUT = 10  # seconds a Dask client may take to close (a scheduler gone)


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended. ``summary`` is None when the study already had its trials."""

    paths: StudyPaths
    storage: str | None
    summary: RunSummary | None

    def results(self) -> StudyResults:
        if self.storage is None:
            return load(self.paths.name, self.paths.root.parent)
        # the run had the database open: not reaching it now is the database being away
        storage = open_storage(self.paths.journal, self.storage, create=False, in_run=True)
        return StudyResults(self.paths, load_study(self.paths, storage))


def settings_for(request: RunRequest, stored: Settings | None, cli: bool) -> Settings:
    """The study's settings: stored ones for anything not given, checked for conflicts."""
    space = request.space
    if space is not None:
        _check_fixed(space, request, cli)
    if stored is None:
        space = space or default_space()
        base = Config().with_overrides(space.fixed_overrides())
    else:
        space = space or stored.space
        base = stored.config
    config = _apply(base, request, cli)
    if config.data.data_dir and request.data_dir:
        # stored resolved, so the study resumes the same from any working directory
        config = config.with_overrides({"data.data_dir": str(Path(config.data.data_dir).resolve())})
    space.check_against(config, space.source)
    defaults = stored or Settings(config, space)
    settings = Settings(config, space, request.sampler or defaults.sampler,
                        request.pruner or defaults.pruner,
                        defaults.seed if request.seed is None else request.seed,
                        request.lag_setting(defaults.lag),
                        defaults.heartbeat if request.heartbeat is None else request.heartbeat)
    # a missing optional package, or a grid study's setting without a grid, fails here
    make_sampler(settings.sampler, settings.seed, space=settings.space)
    return settings


def _check_fixed(space: Space, request: RunRequest, cli: bool) -> None:
    """A setting the space file fixes or samples, given by an option too, is refused: one
    of the two would be overruled without a word."""
    fixed, sampled = space.fixed_overrides(), space.sampled_keys()
    for f, opt in declared(RunRequest):
        key = opt.config_key
        if key not in request.overrides:
            continue
        given = culprit(RunRequest, f.name, request.overrides[key], cli)
        where = space.source or "the space"
        if key in sampled:
            raise UsageError(f"{given}: {where} samples {sampled[key]} ([params]); give it "
                             "in one place")
        if key in fixed and request.overrides[key] != fixed[key]:
            raise UsageError(f"{given}: {where} fixes {key.rpartition('.')[2]} = "
                             f"{fixed[key]} ([fixed]); give it in one place")


def _apply(config: Config, request: RunRequest, cli: bool) -> Config:
    """``config`` with the request's config options; a bad value is a `UsageError`
    naming the option that set it (``--epochs 0: ...``)."""
    overrides = request.overrides
    try:
        return config.with_overrides(overrides)
    except ConfigError as exc:
        key = str(exc).partition(":")[0]
        name = next((f.name for f, o in declared(RunRequest) if o.config_key == key), None)
        where = f"{culprit(RunRequest, name, overrides[key], cli)}: " \
            if name and key in overrides else ""
        raise UsageError(f"{where}{exc}") from None


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
    for leftover in (paths.lock, Path(str(paths.journal) + ".flock")):
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
    inside = enclosing(folder)
    if inside:  # a study made there would mix its files with that one's
        raise UsageError(f"--studies-dir {folder}: inside {inside}; name a folder outside "
                         "every study")
    missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    try:  # a place that takes no folders (/proc, a read-only disk) is named as the option
        for part in missing:
            part.mkdir()
    except OSError as exc:
        raise UsageError(f"--studies-dir {folder}: cannot make it "
                         f"({exc.strerror or type(exc).__name__})") from None
    finally:  # nothing is left made: the study makes its folders once it is checked
        for part in reversed(missing):
            with suppress(OSError):
                part.rmdir()


def _open_or_create(request: RunRequest, paths: StudyPaths, storage_url: str | None,
                    cli: bool) -> tuple[Settings, Counts, tuple[int, int]]:
    """The study's settings, its trials' counts, and its data's features and classes;
    the study is created if new, and mended (a run with nothing left to run mends it
    too): trial.json files a kill left behind, retries a kill kept from being made."""
    storage = open_storage(paths.journal, storage_url)
    try:
        stored, trials = None, []
        with study_locks(paths, storage):  # another machine may be half way through making it
            names = optuna.get_all_study_names(storage)
            if storage_url is None and names and paths.name not in names:
                # a folder copied or renamed: its journal is another study's
                raise StudyError(missing_study(paths, storage))
            if paths.name in names:
                old = optuna.load_study(study_name=paths.name, storage=storage)
                stored = stored_settings(old)
                trials = old.get_trials(deepcopy=False) if request.enqueue else []
        settings = settings_for(request, stored, cli)
        picked = _enqueued(request, settings, trials if stored else None, cli)
        shape = _check_data(settings, local=request.backend != "dask", new=stored is None)
        study = create_or_check(paths, storage, settings, storage_url)
        if picked:
            with study_locks(paths, storage):
                if not any(_same_params(t, picked) for t in study.get_trials(deepcopy=False)):
                    study.enqueue_trial(picked, user_attrs={"enqueued": True})
        Ledger(paths, storage).mend()
        return settings, count(study.get_trials(deepcopy=False)), shape
    finally:
        release(storage)  # its connections: the run opens its own


def _same_params(trial: FrozenTrial, params: dict[str, Any]) -> bool:
    """Whether ``trial`` has (or, waiting, will have) exactly these settings."""
    had = trial.system_attrs.get("fixed_params", trial.params)
    return had.keys() == params.keys() and all(
        math.isclose(had[k], v, rel_tol=1e-12) if isinstance(v, float) and
        isinstance(had[k], int | float) else had[k] == v for k, v in params.items())


def _enqueued(request: RunRequest, settings: Settings, trials: list[FrozenTrial] | None,
              cli: bool) -> dict[str, Any] | None:
    """The settings --enqueue adds to the study (None: none, or a trial has them already),
    checked before the study is made or changed: an enqueued trial runs only within
    --trials, so with as many trials finished, in flight or queued (``trials``; None for a
    new study, whose one is the classic configuration) this run would not start it."""
    if not request.enqueue:
        return None
    if settings.sampler == "grid":
        raise UsageError(f"{spell(RunRequest, 'enqueue', cli)}: a grid study runs its grid "
                         "and nothing else; put the values in the grid")
    picked = _configuration(request, settings.space, cli)
    if trials is None:  # a new study: its classic trial comes first
        classic = settings.space.classic_params()
        taken = 1 if classic else 0
        if classic == picked:
            return picked
    elif any(_same_params(t, picked) for t in trials):
        return None  # not added again (the same command run twice)
    else:
        counts = count(trials)
        taken = counts.finished + counts.running + counts.waiting
    if taken >= request.trials:
        has = "a new study runs its classic configuration first" if trials is None else \
            (f"study {request.study!r} has {plural(taken, 'trial')} finished, running or "
             "queued already")
        raise UsageError(f"{spell(RunRequest, 'enqueue', cli)}: {has} (asked for "
                         f"{request.trials}), so this run would not start it; raise "
                         f"{spell(RunRequest, 'trials', cli)} to {taken + 1} or more")
    return picked


def _within_the_grid(request: RunRequest, settings: Settings) -> RunRequest:
    """A grid study has as many trials as its grid has points: more are not run (said
    once, here); fewer run the first points of its shuffled grid, and a larger --trials
    later runs the rest."""
    if settings.sampler != "grid":
        return request
    size = settings.space.grid_size()
    if request.trials <= size:
        return request
    print(f"note: the grid has {plural(size, 'point')} "
          f"({' x '.join(str(len(v)) for v in settings.space.grid().values())}): the study "
          f"runs {size} trials, not {request.trials}", flush=True)
    return replace(request, trials=size)


def _configuration(request: RunRequest, space: Space, cli: bool) -> dict[str, Any]:
    """``--enqueue``'s settings as values of the study's space."""
    given, flag = request.enqueue or {}, spell(RunRequest, "enqueue", cli)
    params: dict[str, Any] = {}
    for name, text in given.items():
        try:
            p = space.param(name)
        except KeyError:
            raise UsageError(f"{flag}: {name} is not a sampled setting of this study "
                             f"(those are {', '.join(space.names)})") from None
        value = _typed(p.choices, p.type, text)
        if value is None and p.choices is None:
            raise UsageError(f"{flag}: {name}={text} is not a number (the study's "
                             f"{name} is {p.range_text()})")
        if p.choices is None and p.type == "int" and not isinstance(value, int):
            raise UsageError(f"{flag}: {name}={text} is not a whole number (the study's "
                             f"{name} is {p.range_text()})")
        if value is None or not p.contains(value):
            raise UsageError(f"{flag}: {name}={text} is outside the study's space "
                             f"({p.range_text()})")
        params[name] = value
    return params


def _typed(choices: tuple[Any, ...] | None, kind: str, text: str) -> Any:
    if choices is not None:
        found = next((c for c in choices if str(c) == text), None)
        if found is None:  # a number however written: 128.0 or 1.28e2 for 128
            with suppress(ValueError):
                number = float(text)
                found = next((c for c in choices if isinstance(c, int | float)
                              and not isinstance(c, bool) and c == number), None)
        return found
    try:
        number = float(text)
    except ValueError:
        return None
    if kind != "int":
        return number
    # a whole number however written (20, 20.0, 2e1); 20.5 is outside an integer space
    return int(number) if math.isfinite(number) and number.is_integer() else number


def _check_data(settings: Settings, local: bool, new: bool = False) -> tuple[int, int]:
    """Fetch and verify the data once, before any worker starts; its features and
    classes. With ``local`` workers (this machine's), a space whose every network is
    too large for its memory is named now: each trial would fail. A ``new`` study's
    --train-limit must not pass the data's training images: the study would record
    (and its report show) a number of images it never trained on."""
    from mlp.data import DataError, load_dataset
    from mlp.memory import TooLargeError, check_fits

    config = settings.config
    try:
        data = load_dataset(config.data.dataset, config.data.data_dir)
    except DataError as exc:  # named as the option that gave the folder
        text = str(exc)
        if text.startswith("data dir "):
            raise UsageError("--data-dir " + text.removeprefix("data dir ")) from None
        raise
    limit, there = config.data.train_limit, len(data.train_y)
    if new and limit is not None and limit > there:
        raise UsageError(f"--train-limit {limit}: the data has {there} training images "
                         "(after the validation split); give at most that, or leave it out")
    if local:
        n_train = min(there, limit or there)
        try:
            check_fits(largest(config, settings.space, min), data.n_features, data.n_classes,
                       n_train=n_train, n_val=len(data.val_y), n_test=len(data.test_y))
        except TooLargeError as exc:
            raise UsageError(f"every network of the study's space is too large for this "
                             f"machine; the smallest: {exc}") from None
    return data.n_features, data.n_classes


def run_study(request: RunRequest, cli: bool = False) -> RunOutcome:
    """Create, resume or extend the study and run its missing trials; print the summary."""
    _check_studies_dir(Path(request.studies_dir))
    request.paths.check_layout(report=request.report)
    if request.backend != "dask":
        backend = LokyBackend(request.paths.root / WORKERS_LOG)
        # the likely workers start while the study is opened
        guess = choose_workers(request.jobs, request.threads, to_run=request.trials,
                               lag=request.lag_setting(DEFAULT_LAG))
        backend.prestart(guess.jobs, guess.threads)
        try:
            return _run_study(request, cli, backend)
        finally:
            backend.close()
    from .dask_backend import DaskBackend, cluster_threads, connect, distributed_logs_to

    client = connect(request.scheduler)  # before anything is made
    if request.jobs is None:
        try:
            cluster_threads(client)  # a cluster without workers is named before, too
        except BaseException:
            with suppress(Exception):
                client.close(timeout=CLOSE_TIMEOUT)
            raise
    with distributed_logs_to(request.paths.root / WORKERS_LOG):
        try:
            return _run_study(request, cli, DaskBackend(client))
        finally:
            with suppress(Exception):
                client.close(timeout=CLOSE_TIMEOUT)


def _workers(request: RunRequest, backend: Backend, settings: Settings, to_run: int,
             shape: tuple[int, int]) -> Workers:
    from .dask_backend import DaskBackend, cluster_threads

    if isinstance(backend, DaskBackend):  # each Dask worker thread runs one trial
        jobs = min(request.jobs or cluster_threads(backend.client), to_run)
        return Workers(jobs, request.threads or 1,
                       f"dask: {jobs} at a time on the cluster at {request.scheduler}")
    return choose_workers(request.jobs, request.threads, to_run=to_run, lag=settings.lag,
                          biggest=largest(settings.config, settings.space),
                          n_features=shape[0], n_classes=shape[1])


def _run_study(request: RunRequest, cli: bool, backend: Backend) -> RunOutcome:
    paths = request.paths
    storage = storage_url_of(paths, request.storage)
    with _cleaned_up_on_failure(paths, storage):
        settings, counts, shape = _open_or_create(request, paths, storage, cli)
    request = _within_the_grid(request, settings)
    finished = counts.finished
    if finished >= request.trials:
        print(f"study {paths.name!r} already has {finished} finished trials "
              f"(asked for {request.trials}); nothing to run")
        return RunOutcome(paths, storage, None)
    workers = _workers(request, backend, settings, request.trials - finished, shape)
    jobs = workers.jobs
    progress = Progress(request.trials, finished, quiet=request.quiet)
    where = mask_url(storage) or str(paths.journal)
    first = (f" ({plural(counts.retries_waiting, 'retry', 'retries')} of lost trials "
             "first)" if counts.retries_waiting else "")
    progress.line(f"study {paths.name!r}: {finished} of {request.trials} trials finished"
                  f"{first}; "
                  f"{plural(jobs, 'worker')}, {plural(workers.threads, 'BLAS thread')} each "
                  f"({workers.rule}); storage {where}")
    if request.backend == "dask" and request.stall_timeout != STALL_LIMIT:
        progress.line(f"note: {spell(RunRequest, 'stall_timeout', cli)} watches no Dask "
                      "worker (none is a process of this run): the scheduler drops a silent "
                      "worker after its worker-ttl (5 minutes by default), which fails its "
                      "trial. Here it bounds the wait for a worker when the cluster has none, "
                      "and for a scheduler that stops answering")
    if settings.lag is not None and jobs > settings.lag + 1:
        progress.line(f"note: the study's lag is {settings.lag}, so of {jobs} workers at most "
                      f"{settings.lag + 1} run at once (each trial waits for trials "
                      f"{settings.lag + 1} and more before it); a study made with "
                      f"--lag {jobs - 1} or more would use them all")
    summary = run_trials(paths, storage, settings, request.trials, backend, workers,
                         request.timeout, progress, plots=request.plots,
                         on_result=progress.trial_done, stall_limit=request.stall_timeout,
                         fail_streak=request.fail_streak)
    outcome = RunOutcome(paths, storage, summary)
    print_summary(outcome, request)
    return outcome


def _trained_into(results: StudyResults, number: int, folder: Path) -> bool:
    """Whether trial ``number`` trained into ``folder`` (not another machine's or
    studies folder's trial folder of the same number)."""
    recorded = next((t.user_attrs.get("experiment_dir") for t in results.frozen_trials
                     if t.number == number), None)
    return isinstance(recorded, str) and Path(recorded) == folder.resolve()


def print_summary(outcome: RunOutcome, request: RunRequest) -> None:
    results = outcome.results()
    c = results.counts
    seconds = outcome.summary.seconds if outcome.summary else 0.0
    print(f"{c.finished} of {request.trials} trials finished ({c.complete} completed, "
          f"{c.pruned} pruned, {c.failed} failed{c.retried_text()}) in {seconds:.0f}s",
          flush=True)
    if c.retries_waiting and c.finished < request.trials:
        print(f"the same command runs the {plural(c.retries_waiting, 'retry', 'retries')} "
              "of lost trials first", flush=True)
    if note := results.unreachable_note():  # deleted meanwhile, or another machine's
        for line in wrap(f"note: {note}", terminal_width()):
            print(line, flush=True)
    best = results.best_outcomes(1)
    if best:  # the one trial whose test accuracy the run shows
        text = best[0].line()
        folder = outcome.paths.trial_dir(best[0].number)
        if best[0].experiment_dir is None and _trained_into(results, best[0].number, folder):
            text = (f"{text.rsplit(' -> ', 1)[0]}; its files are gone from {folder} (moved "
                    "or deleted)")
        elif best[0].experiment_dir is None:  # run by another machine or folder
            text = (f"{text.rsplit(' -> ', 1)[0]}; its folder is on "
                    f"{best[0].host or 'the machine that ran it'}, not under "
                    f"{outcome.paths.trials}")
        for line in wrap(f"best: {text}", terminal_width()):
            print(line, flush=True)


"""One trial, as a worker process runs it: ask, suggest, train, report, tell.

The objective itself is `objective`: suggest -> config -> train -> report -> return.
`run_trial` wraps it with what a study on disk needs: the count check under the
study lock, and the ledger's steps (ledger.py): claim the trial, open its experiment
directory, and turn every way a training can end into an Optuna state with a reason.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import warnings
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from mlp.config import Config
from mlp.data import load_dataset
from mlp.dataset import Dataset
from mlp.experiment import ExperimentResult, plot_experiment, read_result, run_experiment
from mlp.memory import check_fits

from ..errors import StudyError
from ..logs import optuna_quiet
from ..study.lag import LaggedStorage, next_number, unfinished_before
from ..study.locks import study_locks
from ..study.paths import StudyPaths
from ..study.records import TrialOutcome, count
from ..study.samplers import trial_seed
from ..study.settings import Settings, load_study
from ..study.storage import beats, open_storage
from .artifacts import upload_trial_files
from .heartbeat import beating, fail_silent_trials
from .jobs import Workers
from .ledger import LOST, Ledger, RunGone
from .liveness import dead_worker

PLOTS = {
    "best": "a completed trial at least as good as every completed trial before it",
    "all": "every completed trial",
    "none": "no trial",
}  # which trials draw their figures as they finish; `sweep plots` draws any later


@dataclass(frozen=True)
class TrialJob:
    """What a worker needs to run the next trial of a study (picklable, small)."""

    paths: StudyPaths
    storage_url: str | None
    settings: Settings
    target: int  # finished trials the study should have
    plots: str = "best"  # per-trial figures: one of PLOTS
    not_after: float | None = None  # time.time() after which no trial starts (--timeout)
    workers: Workers | None = None  # the run's workers and threads, recorded per trial
    run_id: str = ""  # new for each run: a Dask worker, which outlives runs, re-reads it


DEAD_LOOK = 2.0  # seconds between a waiting worker's looks for trials whose worker died
LAG_POLL = 0.2  # seconds between looks at the trials a new trial waits for
SHARED_POLL = 1.0  # ... at a shared study whose last trials run on other machines

_DATA: dict[tuple, Dataset] = {}
# more user attributes a trial records with its pid and host, set by the code that runs
# it (a Dask worker's address and the run's token: dask_backend.py)
WORKER_ATTRS: ContextVar[dict[str, object] | None] = ContextVar("worker_attrs", default=None)
_STORAGES: dict[tuple, BaseStorage] = {}


def dataset_for(config: Config) -> Dataset:
    """One memory-mapped dataset per worker process, shared by all its trials. The key
    holds the data folder's files as they are now (name, inode, size, time), so a worker
    that outlives a run (a Dask worker) reads files replaced in between afresh. A random
    split (confirm --resplit) is a copy per seed, so only the latest one is kept."""
    d = config.data
    key = (d.dataset, d.data_dir, d.train_limit, d.split_seed, _files_now(d.data_dir))
    if key not in _DATA:
        for stale in [k for k in _DATA if k[:3] == key[:3]
                      and (k[3] == key[3] or k[3] is not None and key[3] is not None)]:
            del _DATA[stale]  # the files were replaced, or another random split
        _DATA[key] = load_dataset(d.dataset, d.data_dir, train_limit=d.train_limit,
                                  progress=False, split_seed=d.split_seed)
    return _DATA[key]


def _files_now(folder: str | None) -> tuple:
    if not folder:
        return ()
    try:
        return tuple(sorted((e.name, e.inode(), e.stat().st_size, e.stat().st_mtime_ns)
                            for e in os.scandir(folder) if e.is_file()))
    except OSError:
        return ()


def _storage(job: TrialJob) -> BaseStorage:
    """The study's storage, one per worker process (a journal is then read once, not once
    per trial). The run made it: a worker never creates one, so a worker that cannot see
    the run's journal (a Dask worker on a machine without the studies folder) says so
    instead of starting an empty study of its own."""
    key = (job.paths, job.storage_url, job.settings.heartbeat, job.run_id)
    if key not in _STORAGES:
        _STORAGES.clear()  # an earlier run's: the study may have been deleted and made again
        if not job.storage_url and not job.paths.journal.is_file():
            raise StudyError(f"the study's journal {job.paths.journal} is not on this worker's "
                             f"machine ({socket.gethostname()}): give every machine the "
                             "studies folder at the same path, or use a database --storage")
        _STORAGES[key] = open_storage(job.paths.journal, job.storage_url, create=False,
                                      heartbeat=job.settings.heartbeat, in_run=True)
    return _STORAGES[key]


def seed_of(settings: Settings, trial: optuna.Trial) -> int:
    """A trial's training seed; a retry trains with its original's: the first trial of
    its chain of retries (``original``; a retry made before chains existed names only
    the trial it retries, ``retry_of``)."""
    attrs = trial.user_attrs
    return trial_seed(settings.seed, int(attrs.get("original", attrs.get("retry_of",
                                                                          trial.number))))


def trial_config(settings: Settings, trial: optuna.Trial) -> Config:
    overrides = settings.space.suggest(trial)
    overrides["training.seed"] = seed_of(settings, trial)
    return settings.config.with_overrides(overrides)


def objective(trial: optuna.Trial, settings: Settings, paths: StudyPaths,
              plots: str = "best", workers: Workers | None = None) -> ExperimentResult:
    """Train the trial's configuration, reporting validation accuracy every epoch.

    Figures (``plots``, see `PLOTS`) cost more than a short trial's training, so by
    default only a completed trial at least as good as every trial completed before it
    draws them: the study's best trial always has its figures, at a cost that grows
    with the number of new bests, not of trials. `sweep plots` draws the others.

    A configuration that cannot fit in the memory available now fails at once, with
    the estimate in its reason, instead of dying of a MemoryError (or the kernel's
    out-of-memory killer) part way through.
    """
    config = trial_config(settings, trial)
    data = dataset_for(config)
    check_fits(config, data.n_features, data.n_classes, n_train=len(data.train_y),
               n_val=len(data.val_y), n_test=len(data.test_y))
    pruned_at: list[int] = []

    def on_epoch(m) -> bool:
        trial.report(m.val_acc, m.epoch)
        # a trial that has trained its last epoch is complete whatever the pruner says
        if m.epoch < config.training.epochs and trial.should_prune():
            pruned_at.append(m.epoch)
            return True
        return False

    extra = {"study": paths.name, "trial": trial.number}
    if workers is not None:
        extra["workers"] = workers.to_dict()
    out_dir = paths.trial_dir(trial.number)
    try:
        result = run_experiment(config, out_dir, data=data, on_epoch=on_epoch,
                                plots=plots == "all", plot_stopped=False, extra=extra)
        if plots == "best" and result.status == "completed" and _at_least_as_good(
                trial.study, result.val_accuracy):
            plot_experiment(out_dir, data)
    except BaseException as exc:
        result = read_result(out_dir)
        if result is None:  # the training itself did not finish
            raise
        # once its result is written the training stands: what failed is only its
        # figures (a storage hiccup, a full disk), and an interrupt goes on after
        why = "interrupted" if isinstance(exc, LOST) else f"{type(exc).__name__}: {exc}"
        with suppress(OSError):  # workers.log on the same full disk: the line is lost
            print(f"trial {out_dir.name}: figures not drawn ({why})", file=sys.stderr,
                  flush=True)
        if isinstance(exc, LOST):
            raise InterruptedAfterTraining(_pruned(result, pruned_at), exc) from None
    return _pruned(result, pruned_at)


def _pruned(result: ExperimentResult, pruned_at: list[int]) -> ExperimentResult:
    if pruned_at:
        result.message = f"pruned at epoch {pruned_at[0]}"
    return result


class InterruptedAfterTraining(Exception):
    """An interrupt (or the run's end) that came after a training wrote its result
    (metrics.json), while it drew its figures or on the way there: the trial is
    recorded as what its training made, then the interrupt goes on (`_run_trial`)."""

    def __init__(self, result: ExperimentResult, interrupt: BaseException) -> None:
        super().__init__("interrupted after training")
        self.result, self.interrupt = result, interrupt


def _at_least_as_good(study: optuna.Study, value: float) -> bool:
    """Whether ``value`` ties or beats every trial of the study completed so far (all
    of them, not only those a lagged trial learned from: figures change nothing the
    study computes)."""
    storage = study._storage
    storage = storage._storage if isinstance(storage, LaggedStorage) else storage
    done = storage.get_all_trials(study._study_id, deepcopy=False,
                                  states=(TrialState.COMPLETE,))
    return all(value >= t.value for t in done if t.value is not None)


def _ask(job: TrialJob, ledger: Ledger) -> tuple[optuna.Study, optuna.Trial] | None:
    """The study's next trial, created and claimed under the study's locks, or None
    when it has enough.

    In a study with a lag, the trial waits first (outside the locks) for the trials it
    learns from, and its sampler and pruner see only those (sweep/study/lag.py). In a
    study whose trials beat (a database shared by machines), trials that stopped beating
    are failed and retried first, and a worker with no trial to start waits while others
    run, until the study has enough: one of them may die and need its retry run."""
    storage = ledger.storage
    shared = beats(storage)
    swept = looked = float("-inf")
    while True:
        if job.not_after is not None and time.time() >= job.not_after:
            return None
        with study_locks(job.paths, storage):
            if shared and time.monotonic() - swept >= job.settings.heartbeat:
                fail_silent_trials(ledger)
                swept = time.monotonic()
            trials = storage.get_all_trials(ledger.study_id, deepcopy=False)
            counts = count(trials)
            if counts.finished >= job.target or (
                    not shared and counts.finished + counts.running >= job.target):
                return None
            number = next_number(trials)
            lag = job.settings.lag_at(number)
            room = counts.finished + counts.running < job.target
            if room and (lag is None or not unfinished_before(trials, number, lag)):
                view = storage if lag is None else LaggedStorage(storage, number - lag)
                study = load_study(job.paths, view, job.settings, number)
                with warnings.catch_warnings():  # "heartbeat is meant for optimize()"
                    warnings.simplefilter("ignore")
                    trial = study.ask()
                ledger.claim(trial, WORKER_ATTRS.get())
                return study, trial
        if not shared and time.monotonic() - looked >= DEAD_LOOK:
            # what we wait for may belong to a run that was killed: nobody else may look
            ledger.fail(dead_worker(local=True),
                        "worker process gone (found by a waiting worker)")
            looked = time.monotonic()
        time.sleep(LAG_POLL if room else SHARED_POLL)


def run_trial(job: TrialJob) -> TrialOutcome | None:
    """Run the study's next trial, if it still needs one; its outcome for the parent."""
    with optuna_quiet():
        return _run_trial(job)


def _exit_now() -> None:
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):
            stream.flush()
    os._exit(1)


def _run_trial(job: TrialJob) -> TrialOutcome | None:
    ledger = Ledger(job.paths, _storage(job))
    asked = _ask(job, ledger)
    if asked is None:
        return None
    study, trial = asked
    reset_peak_rss()
    with beating(ledger.storage, trial._trial_id):
        interrupt: BaseException | None = None
        try:  # from here on, whatever goes wrong fails the trial: none is left RUNNING
            trial_dir = ledger.open(trial, seed_of(job.settings, trial))
            result = objective(trial, job.settings, job.paths, job.plots, job.workers)
        except InterruptedAfterTraining as cut:  # its training stands; the interrupt after
            result, interrupt = cut.result, cut.interrupt
        except BaseException as exc:
            outcome = ledger.fail_own(study, trial, exc)
            if isinstance(exc, RunGone):  # its trial recorded, nobody left to tell: end now
                _exit_now()                 # (not after the grace, holding the run's pipes)
            if isinstance(exc, LOST):  # the worker's end: its slot hears of it too
                raise
            return outcome
        upload_trial_files(trial, job.paths.root, trial_dir)  # while the trial still runs
        outcome = ledger.finish(study, trial, result,
                                {"worker_peak_rss_mb": round(peak_rss_mb(), 1)})
        if interrupt is not None:
            if isinstance(interrupt, RunGone):
                _exit_now()
            raise interrupt
        return outcome


def reset_peak_rss() -> None:
    """Start measuring this process's peak resident memory afresh (Linux: writing 5 to
    /proc/self/clear_refs resets the high-water mark), so that a worker's peak is its
    trial's, not that of the largest trial it ran before."""
    with suppress(OSError):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")


def peak_rss_mb() -> float:
    """This process's peak resident memory since `reset_peak_rss` (VmHWM), in MB; where
    the kernel does not say, the peak over the process's life (getrusage)."""
    with suppress(OSError, ValueError):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

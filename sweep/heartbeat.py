"""Trials of dead machines, in a database shared by several: Optuna's heartbeat.

A trial's worker records its pid and host, but a pid says nothing on another machine:
when a whole machine dies, its trials would stay RUNNING for ever, count toward
``--trials``, and hold up every trial that waits for them (sweep/lag.py). With a
database storage every running trial therefore beats (Optuna's ``record_heartbeat``,
every ``heartbeat`` seconds, from a thread of its worker), and any live run, on any
machine, fails a trial whose heartbeat has been silent for `GRACE_BEATS` intervals
and enqueues one retry of it with the same settings and seed (``retry_of`` links the
two, in the storage and in trial.json).

The sweep is Optuna's own `fail_stale_trials` loop with the reason set before the
state: a finished trial takes no more attributes, so Optuna's callback, which runs
after the trial is failed, could not say why. It runs under the study's locks
(study.py), so that no run counts the failed trial before its retry exists.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial, TrialState

from .records import TrialOutcome, write_record

DEFAULT_HEARTBEAT = 10  # seconds between two heartbeats of a running trial
MAX_HEARTBEAT = 3600
GRACE_BEATS = 6  # heartbeats missed before a trial counts as dead
NO_PID_GRACE_SECONDS = 600  # a trial that never recorded its worker (died right after ask)


def grace_seconds(heartbeat: int) -> int:
    return GRACE_BEATS * heartbeat


def beats(storage: BaseStorage) -> bool:
    return isinstance(storage, RDBStorage) and storage.heartbeat_interval is not None


@contextmanager
def beating(storage: BaseStorage, trial_id: int) -> Iterator[None]:
    """While the block runs, the trial's heartbeat is recorded every interval (a
    daemon thread: it never holds up the worker's exit, and dies with it)."""
    if not beats(storage):
        yield
        return
    assert isinstance(storage, RDBStorage)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(storage.heartbeat_interval):
            with suppress(Exception):  # a database hiccup: the next beat may get through
                storage.record_heartbeat(trial_id)

    storage.record_heartbeat(trial_id)
    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def fail_dead_trials(storage: BaseStorage, study_name: str) -> list[int]:
    """Fail the study's trials whose heartbeat stopped (and RUNNING trials that never
    recorded a worker for `NO_PID_GRACE_SECONDS`), rewrite their trial.json where this
    machine can reach it, and enqueue one retry of each that is not itself a retry.
    The caller holds the study's locks. Returns the numbers of the trials failed."""
    if not beats(storage):
        return []
    assert isinstance(storage, RDBStorage)
    study_id = storage.get_study_id_from_name(study_name)
    grace = storage.grace_period or grace_seconds(storage.heartbeat_interval or 1)
    stale = {tid: f"heartbeat stopped (none for over {grace}s): its run or machine died"
             for tid in storage._get_stale_trial_ids(study_id)}
    now = datetime.now()
    for t in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
        started = t.datetime_start or now
        if "pid" not in t.user_attrs and (now - started).total_seconds() > NO_PID_GRACE_SECONDS:
            stale.setdefault(t._trial_id, "its worker never recorded itself: it died at start")
    failed = []
    for trial_id, reason in stale.items():
        try:
            storage.set_trial_user_attr(trial_id, "reason", reason)
            if not storage.set_trial_state_values(trial_id, TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:
            continue  # finished meanwhile, or another run failed it first
        trial = storage.get_trial(trial_id)
        _rewrite_record(trial)
        retry(storage, study_name, trial)
        failed.append(trial.number)
    return failed


def retry(storage: BaseStorage, study_name: str, trial: FrozenTrial) -> int | None:
    """Enqueue the trial again, with its settings, linked by ``retry_of``; the number of
    the retry, or None for a trial that was already a retry (one retry only)."""
    if "retry_of" in trial.user_attrs:
        return None
    study = optuna.load_study(study_name=study_name, storage=storage)
    if any(t.user_attrs.get("retry_of") == trial.number for t in study.get_trials(deepcopy=False)):
        return None  # retried already (its worker and a run that found it silent both saw it)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # enqueue warns of fixed params outside a space
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    return max(t.number for t in waiting if t.user_attrs.get("retry_of") == trial.number)


def _rewrite_record(trial: FrozenTrial) -> None:
    """The failed trial's trial.json, if its folder is reachable from here (a shared
    filesystem, or this machine); otherwise the database alone says it failed."""
    folder = trial.user_attrs.get("experiment_dir")
    if not folder or not Path(folder).is_dir():
        return
    for leftover in Path(folder).glob("**/.*.tmp"):  # half-written files of the dead worker
        leftover.unlink(missing_ok=True)
    with suppress(OSError):
        write_record(Path(folder), TrialOutcome.from_frozen(trial))

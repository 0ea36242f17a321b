"""Trials of dead machines, in a database shared by several: Optuna's heartbeat.

A trial's worker records its pid and host, but a pid says nothing on another machine:
when a whole machine dies, its trials would stay RUNNING for ever, count toward
``--trials``, and hold up every trial that waits for them (sweep/study/lag.py). With a
database storage every running trial therefore beats (Optuna's ``record_heartbeat``,
every ``heartbeat`` seconds, from a thread of its worker), and any live run, on any
machine, fails a trial whose heartbeat has been silent for `GRACE_BEATS` intervals;
the ledger enqueues one retry of it with the same settings and seed (``retry_of``
links the two, in the storage and in trial.json).

This is Optuna's own ``fail_stale_trials`` with the reason set before the state (a
finished trial takes no more attributes), run through the ledger under the study's
locks, so that no run counts the failed trial before its retry exists.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial

from ..study.storage import beats, grace_seconds
from .ledger import Ledger
from .liveness import claim_grace, never_claimed, pid_alive


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


def fail_silent_trials(ledger: Ledger) -> list[int]:
    """Fail, through the ledger, the study's trials whose heartbeat stopped and those
    that never recorded a worker (it died at start); each gets its retry."""
    storage = ledger.storage
    if not beats(storage):
        return []
    assert isinstance(storage, RDBStorage)
    grace = storage.grace_period or grace_seconds(storage.heartbeat_interval or 1)
    stale = set(storage._get_stale_trial_ids(ledger.study_id))
    silent = f"heartbeat stopped (none for over {grace}s)"
    # a worker of this machine that is still there did not die: it is stopped or hung
    failed = ledger.fail(lambda t: t._trial_id in stale and alive_here(t),
                         f"{silent}: its worker process is alive on this machine but silent "
                         "(stopped or hung)")
    failed += ledger.fail(lambda t: t._trial_id in stale,
                          f"{silent}: its run or machine died")
    return failed + ledger.fail(never_claimed(claim_grace(False, storage.heartbeat_interval)),
                                "its worker never recorded itself: it died at start")


def alive_here(t: FrozenTrial) -> bool:
    """Whether the trial's worker process is one of this machine's, and alive."""
    pid = t.user_attrs.get("pid")
    return isinstance(pid, int) and t.user_attrs.get("host") == socket.gethostname() \
        and pid_alive(pid)


def silent_trial_ids(storage: RDBStorage, study_id: int, heartbeat: int) -> set[int]:
    """The study's RUNNING trials whose heartbeat stopped, judged by the study's own
    heartbeat setting whatever the storage was opened with (a reader opens it without)."""
    kept = storage.heartbeat_interval, storage.grace_period
    storage.heartbeat_interval, storage.grace_period = heartbeat, grace_seconds(heartbeat)
    try:
        return set(storage._get_stale_trial_ids(study_id))
    finally:
        storage.heartbeat_interval, storage.grace_period = kept

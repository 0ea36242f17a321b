"""Which RUNNING trials have lost their worker: selectors the ledger fails trials by.

A trial records its worker's pid and host when it starts (under the study's locks,
in the same step that creates it). On this machine a dead pid means the trial can
never finish, so it is failed rather than left RUNNING, where it would count toward
``--trials`` for ever. Every way of finding such trials is a `Selector` here (or in
the backend that knows its workers), and `sweep.execution.ledger.Ledger.fail` is the
one thing that acts on them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from optuna.trial import FrozenTrial

from ..study.storage import grace_seconds

Selector = Callable[[FrozenTrial], bool]

# a trial in a shared database that never recorded its worker is given this long; where
# the study's trials beat, its heartbeat grace, but never less than CLAIM_FLOOR (a worker
# records itself within a second of creating its trial, unless the database stalls)
PID_GRACE = timedelta(minutes=10)
CLAIM_FLOOR = timedelta(seconds=30)


def claim_grace(local: bool, heartbeat: int | None) -> timedelta:
    """How long a trial may go without recording its worker before it counts as lost:
    at once in a journal study (only this machine writes it, and creating and recording
    happen under one lock); in a database whose trials beat every ``heartbeat`` seconds,
    the heartbeat's grace (at least `CLAIM_FLOOR`), since a live worker beats from its
    first step; in any other database `PID_GRACE`."""
    if local:
        return timedelta(0)
    if heartbeat:
        return max(timedelta(seconds=grace_seconds(heartbeat)), CLAIM_FLOOR)
    return PID_GRACE


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child stays a zombie until its parent reaps it: that is dead too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def started_ago(t: FrozenTrial) -> timedelta:
    """How long ago the trial started. Optuna records local time without a zone
    (``datetime.now()``), so it is compared with the local clock, whatever TZ says."""
    return datetime.now() - (t.datetime_start or datetime.now())


def dead_worker(local: bool, grace: timedelta = PID_GRACE) -> Selector:
    """Trials whose worker process, on this machine, is dead.

    ``local``: the storage is a journal file, which only this machine writes, so a
    worker that recorded another host name (a container restarted under a new name)
    ran here all the same and is judged by its pid; a Dask worker's trial of another
    host is not. A trial without a pid lost its worker between creating it and
    recording itself, which happen under one lock: in a journal study it is dead at
    once, in a shared database (other machines' trials) after ``grace`` (the storage's
    `claim_grace`). The caller holds the study's locks.
    """
    here = socket.gethostname()

    def dead(t: FrozenTrial) -> bool:
        pid = t.user_attrs.get("pid")
        if pid is None:
            return local or never_claimed(grace)(t)
        if (not local or "dask_worker" in t.user_attrs) and t.user_attrs.get("host") != here:
            return False
        return not pid_alive(pid)

    return dead


def never_claimed(grace: timedelta) -> Selector:
    """Trials that have not recorded their worker for ``grace``: the worker died right
    after creating it (on any machine)."""
    return lambda t: t.user_attrs.get("pid") is None and started_ago(t) > grace


def run_by(pids: set[int]) -> Selector:
    """Trials recorded by one of these worker processes of this machine."""
    here = socket.gethostname()
    return lambda t: t.user_attrs.get("pid") in pids and t.user_attrs.get("host") == here


def unclaimed(local: bool) -> Selector:
    """In a journal study, trials that never recorded a worker (lost right after their
    creation); in a database none (other machines' trials may be on their way)."""
    return lambda t: local and t.user_attrs.get("pid") is None


def either(*selectors: Selector) -> Selector:
    return lambda t: any(s(t) for s in selectors)

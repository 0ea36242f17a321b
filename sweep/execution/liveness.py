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

Selector = Callable[[FrozenTrial], bool]

# a trial in a shared database that never recorded its worker is given this long
PID_GRACE = timedelta(minutes=10)


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


def dead_worker(local: bool) -> Selector:
    """Trials whose worker process, on this machine, is dead.

    ``local``: the storage is a journal file, which only this machine writes, so a
    worker that recorded another host name (a container restarted under a new name)
    ran here all the same and is judged by its pid; a Dask worker's trial of another
    host is not. A trial without a pid lost its worker between creating it and
    recording itself, which happen under one lock: in a journal study it is dead at
    once, in a shared database (other machines' trials) after `PID_GRACE`. The caller
    holds the study's locks.
    """
    here = socket.gethostname()

    def dead(t: FrozenTrial) -> bool:
        pid = t.user_attrs.get("pid")
        if pid is None:
            return local or never_claimed(t)
        if (not local or "dask_worker" in t.user_attrs) and t.user_attrs.get("host") != here:
            return False
        return not pid_alive(pid)

    return dead


def never_claimed(t: FrozenTrial) -> bool:
    """A trial that has not recorded its worker for `PID_GRACE`: its worker died right
    after creating it (on any machine)."""
    return t.user_attrs.get("pid") is None and started_ago(t) > PID_GRACE


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

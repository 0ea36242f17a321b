"""Trials whose worker is gone: found, failed with a reason, and their records rewritten.

A trial records its worker's pid and host when it starts. On this host a dead pid
means the trial can never finish, so it is failed rather than left RUNNING (which
would count toward ``--trials`` for ever). Only Optuna's public storage API is used.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import optuna
from optuna.storages import BaseStorage
from optuna.storages.journal import JournalStorage
from optuna.trial import TrialState

from .heartbeat import beats, retry
from .records import TrialOutcome, read_record_state, write_record
from .study import StudyPaths, study_locks

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


def fail_trial(storage: BaseStorage, study: optuna.Study, paths: StudyPaths, number: int,
               reason: str) -> TrialOutcome:
    """Fail a RUNNING trial of any process with ``reason``, and rewrite its trial.json."""
    trial_id = _trial_id(storage, study, number)
    storage.set_trial_user_attr(trial_id, "reason", reason)
    storage.set_trial_state_values(trial_id, TrialState.FAIL)
    outcome = TrialOutcome.from_frozen(storage.get_trial(trial_id))
    trial_dir = paths.trial_dir(number)
    for leftover in trial_dir.glob("**/.*.tmp"):  # half-written files of the dead worker
        leftover.unlink(missing_ok=True)
    write_record(trial_dir, outcome)
    return outcome


def fail_stale_trials(storage: BaseStorage, study: optuna.Study, paths: StudyPaths,
                      reason: str, pids: set[int] | None = None,
                      which: Callable[[optuna.trial.FrozenTrial], bool] | None = None
                      ) -> list[int]:
    """Fail RUNNING trials whose worker process is gone; ``pids`` restricts the sweep
    to trials of those workers (a run cleaning up after its own). ``which`` instead
    names the lost trials outright, pid or no pid (a Dask worker the scheduler lost, a
    Dask run's trials left behind: sweep/dask_backend.py). Such trials were lost
    to the infrastructure (a killed or stalled worker, an interrupt, a run that died),
    so in a shared database study each gets one retry (heartbeat.py), under the same
    locks."""
    with study_locks(paths, storage):
        stale = [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                 if (which(t) if which is not None
                     else _is_stale(t, isinstance(storage, JournalStorage), pids))]
        for number in stale:
            fail_trial(storage, study, paths, number, reason)
            if beats(storage):
                retry(storage, study.study_name, storage.get_trial(_trial_id(storage, study,
                                                                             number)))
    return stale


def _trial_id(storage: BaseStorage, study: optuna.Study, number: int) -> int:
    return storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name(study.study_name), number)


def _is_stale(t: optuna.trial.FrozenTrial, local: bool, pids: set[int] | None) -> bool:
    """``local``: the storage is a journal file, which only this machine writes, so a
    worker that recorded another host name (a container restarted under a new name)
    ran here all the same and is judged by its pid; not a trial of a Dask worker (which
    may run on any machine) that recorded another host."""
    pid = t.user_attrs.get("pid")
    if pid is None:
        # A worker asks for a trial and records its pid under the study lock, which
        # the caller holds: in a local study a trial without a pid lost its worker in
        # between. A shared database may hold other machines' trials: give them time.
        started = t.datetime_start or datetime.now(UTC).replace(tzinfo=None)
        return local or datetime.now(UTC).replace(tzinfo=None) - started > PID_GRACE
    if (not local or "dask_worker" in t.user_attrs) and \
            t.user_attrs.get("host") != socket.gethostname():
        return False
    if pids is not None:
        return pid in pids and not pid_alive(pid)
    return not pid_alive(pid)


def sync_records(study: optuna.Study, paths: StudyPaths) -> list[int]:
    """Rewrite the trial.json of finished trials whose file still says otherwise.

    A worker killed between telling the storage and writing trial.json leaves the two
    disagreeing; the storage is the truth.
    """
    fixed = []
    for t in study.get_trials(deepcopy=False):
        if not t.state.is_finished() or not paths.trial_dir(t.number).is_dir():
            continue
        if read_record_state(paths.trial_dir(t.number)) != t.state.name:
            write_record(paths.trial_dir(t.number), TrialOutcome.from_frozen(t))
            fixed.append(t.number)
    return fixed

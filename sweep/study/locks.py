"""The study's locks: one between the processes of a machine, one between machines.

Counting a study's trials and creating the next one must be one step, or two workers
that both counted 9 of 10 would both start a tenth. On one machine a file lock
(``studies/<name>/.lock``) makes it one. Where a study lives in a PostgreSQL database
that several machines share, a session-level advisory lock keyed by the study's name
makes it one for all of them: the server releases it when the holding connection
ends, so a machine that dies holding it blocks nobody. Other databases (SQLite, a file
of one machine; MySQL, untested) get no lock beyond the file lock.

`study_locks` takes both, always in that order. It is re-entrant within a thread: a
step that fails trials while it already holds the locks (a worker that finds dead
trials while it asks for its own) takes them once, not twice (a second ``flock`` on
a new file handle would wait for itself).

Either lock is only ever held for a short step, so a wait for one is a sign of trouble
(a holder that is stopped or hung, a lock taken by hand): it says on one line who
holds the lock (a process of this machine from /proc/locks; the database session, by
its application name and address) and ends after `FILE_LOCK_LIMIT` or
`DATABASE_LOCK_LIMIT` seconds in one line naming the holder (sweep/study/waiting.py).
The database lock's session is ended by the server when it stays idle for
`LOCK_IDLE_LIMIT` seconds, so a holder stopped mid-step (SIGSTOP, a paused machine)
loses the lock instead of keeping every machine waiting.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from optuna.storages import BaseStorage, RDBStorage

from .database import blocking_sessions, describe_session
from .paths import StudyPaths
from .waiting import FILE_LOCK_LIMIT, LOCK_ADVICE, Wait, take_flock

_held = threading.local()  # per thread: lock file path -> depth

# A wait for the database lock ends after this long: a stopped holder's session is
# ended by the server after LOCK_IDLE_LIMIT seconds
DATABASE_LOCK_LIMIT = 120.0
LOCK_IDLE_LIMIT = 60  # seconds the server lets the lock's session sit idle


def lock_key(study_name: str) -> int:
    """A signed 64-bit key for the study (PostgreSQL's advisory lock key type)."""
    digest = hashlib.blake2b(f"mlp-sweep:{study_name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def study_locks(paths: StudyPaths, storage: BaseStorage) -> Iterator[None]:
    """This machine's lock on the study, then the database's between machines."""
    held: dict[str, int] = _held.__dict__.setdefault("depth", {})
    key = str(paths.lock.absolute())
    if held.get(key):
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    explain = (lambda pid: database_wait_of(storage, pid)) if postgres(storage) else None
    with study_lock(paths, explain=explain), database_lock(storage, paths.name):
        held[key] = 1
        try:
            yield
        finally:
            held.pop(key, None)


@contextmanager
def study_lock(paths: StudyPaths, limit: float | None = FILE_LOCK_LIMIT,
               explain: Callable[[int | None], str] | None = None) -> Iterator[None]:
    """An exclusive lock between all processes on this machine that run this study.
    ``explain(holder)``: what the holder itself waits for, for the wait's message."""
    paths.root.mkdir(parents=True, exist_ok=True)
    with open(paths.lock, "a") as f:
        take_flock(f.fileno(), paths.lock, f"the study's lock {paths.lock}", limit,
                   watched=True, explain=explain)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def postgres(storage: BaseStorage) -> bool:
    return isinstance(storage, RDBStorage) and storage.engine.dialect.name == "postgresql"


def database_wait_of(storage: BaseStorage, pid: int | None) -> str:
    """``", which waits for ..."``: the sessions blocking the database session of process
    ``pid`` of this machine (a worker holding the study's lock while its statement waits
    for a row or table lock); "" when it waits for nothing there."""
    if pid is None or not postgres(storage):
        return ""
    assert isinstance(storage, RDBStorage)
    blockers = blocking_sessions(storage, pid)
    return f", which waits for a lock on the study's tables held by {blockers}" \
        if blockers else ""


@contextmanager
def database_lock(storage: BaseStorage, study_name: str,
                  limit: float | None = DATABASE_LOCK_LIMIT) -> Iterator[None]:
    """Hold the study's advisory lock while the block runs (PostgreSQL only)."""
    if not postgres(storage):
        yield
        return
    from sqlalchemy import text

    key = lock_key(study_name)
    # a connection that breaks while it is taken is taken again (storage.py's retries)
    connection = _retrying(storage, lambda: _take(storage, key, limit))
    try:
        yield
    finally:
        try:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            connection.commit()
            connection.close()
        except Exception:  # noqa: BLE001  (the session is gone, and the lock with it)
            with suppress(Exception):
                connection.invalidate()  # closed, so the server releases the lock
            with suppress(Exception):
                connection.close()


def _retrying(storage: BaseStorage, step: Any) -> Any:
    retry = getattr(storage, "retrying", None)
    return retry(step) if retry is not None else step()


def _take(storage: RDBStorage, key: int, limit: float | None) -> Any:
    """A connection holding the advisory lock ``key``, waited for by polling."""
    from sqlalchemy import text

    connection = storage.engine.connect()
    try:
        if not connection.info.get("sweep_idle_limit"):
            # the server ends the session of a holder stopped mid-step (and frees the lock)
            with suppress(Exception):
                connection.execute(text("SELECT set_config('idle_session_timeout', :v, false)"),
                                   {"v": f"{LOCK_IDLE_LIMIT}s"})
                connection.commit()
            connection.info["sweep_idle_limit"] = True
        holder = [""]
        wait = Wait(lambda: f"waiting for the study's database lock, held by {holder[0]}",
                    limit, LOCK_ADVICE)
        delay, looked = 0.01, float("-inf")
        while True:
            taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                       {"key": key}).scalar()
            connection.commit()  # the lock is the session's; no transaction stays open
            if taken:
                return connection
            if time.monotonic() - looked >= 1.0:
                looked = time.monotonic()
                holder[0] = _lock_holder(connection, key)
            wait.tick()
            time.sleep(delay)
            delay = min(2 * delay, 0.5)
    except BaseException:
        with suppress(Exception):
            connection.close()
        raise


def _lock_holder(connection: Any, key: int) -> str:
    """The session holding advisory lock ``key``, as the server describes it."""
    from sqlalchemy import text

    unsigned = key & 0xFFFFFFFFFFFFFFFF
    try:
        row = connection.execute(text(
            "SELECT a.pid, a.application_name, host(a.client_addr), a.backend_start, "
            "a.state FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid::bigint = :hi AND l.objid::bigint = :lo "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
            {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF}).first()
        connection.commit()
    except Exception:  # noqa: BLE001  (the description only helps the message)
        with suppress(Exception):
            connection.rollback()
        return "another session"
    if row is None:
        return "another session (gone now)"
    return describe_session(*row)


def lock_files(paths: StudyPaths) -> tuple[Path, Path]:
    """The study's lock file and its journal's write lock: the files whose holders a run
    watches (sweep/execution/controller.py)."""
    return paths.lock, Path(str(paths.journal) + ".flock")

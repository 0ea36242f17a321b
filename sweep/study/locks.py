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
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from optuna.storages import BaseStorage, RDBStorage

from .paths import StudyPaths

_held = threading.local()  # per thread: lock file path -> depth


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
    with study_lock(paths), database_lock(storage, paths.name):
        held[key] = 1
        try:
            yield
        finally:
            held.pop(key, None)


@contextmanager
def study_lock(paths: StudyPaths) -> Iterator[None]:
    """An exclusive lock between all processes on this machine that run this study."""
    paths.root.mkdir(parents=True, exist_ok=True)
    with open(paths.lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextmanager
def database_lock(storage: BaseStorage, study_name: str) -> Iterator[None]:
    """Hold the study's advisory lock while the block runs (PostgreSQL only)."""
    if not isinstance(storage, RDBStorage) or storage.engine.dialect.name != "postgresql":
        yield
        return
    from sqlalchemy import text

    key = lock_key(study_name)
    connection = storage.engine.connect()
    try:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        connection.commit()  # the lock is the session's; no transaction stays open
        try:
            yield
        finally:
            try:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
            except Exception:
                connection.invalidate()  # closed, so the server releases the lock
                raise
    finally:
        connection.close()

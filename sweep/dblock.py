"""A lock in the database, between every machine that runs a study.

The study lock of study.py is a file lock: it orders the processes of one machine
only. Where a study lives in a PostgreSQL database that several machines share,
counting its trials and creating the next one must be one step for all of them, or
two machines that both counted 9 of 10 would both start a tenth. A session-level
PostgreSQL advisory lock, keyed by the study's name, makes it one: the server
releases it when the holding connection ends, so a machine that dies holding it
blocks nobody.

Other databases (SQLite, a file of one machine; MySQL, untested here) get no lock
beyond the file lock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from optuna.storages import BaseStorage, RDBStorage


def lock_key(study_name: str) -> int:
    """A signed 64-bit key for the study (PostgreSQL's advisory lock key type)."""
    digest = hashlib.blake2b(f"mlp-sweep:{study_name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


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

"""A database storage that outlives a dropped connection and fails in one line.

Optuna's `RDBStorage` keeps its connections in a pool and reports any database error
as "An exception is raised during the commit ... e.g. exceeding max length", whatever
happened. A server restarted or killed, a network gone, a full ``max_connections`` or
a user who may only read then surface as pages of traceback with a misleading last
line. `Database` is Optuna's storage with:

- connections checked before use (SQLAlchemy's ``pool_pre_ping``), so that the pool's
  connections to a server that has restarted are replaced, not used;
- every operation retried while the failure is one of connection or availability
  (a dropped connection, a server starting or shutting down, too many clients, a
  deadlock), for up to `RECONNECT_LIMIT` seconds since the database was last seen
  working, saying on one line what it waits for; after that, or for any other
  failure, one line naming the database and the server's own reason
  (`DatabaseUnavailable`, `DatabaseError`: StudyErrors, exit code 1).

Once the limit has passed, later operations try once each, until one succeeds: a
worker whose database is gone fails fast instead of waiting again at every step.

A row or table lock held by another session (a migration's ``LOCK TABLE``, a psql
transaction left open, a process stopped inside a transaction) is a wait like the
study's own locks: harness sessions run with a short ``lock_timeout`` (storage.py), and
an operation it cancels is retried, saying on one line which sessions hold locks on the
study's tables, for up to `TABLE_LOCK_LIMIT` seconds; then one line names them.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from optuna.exceptions import StorageInternalError
from optuna.storages import RDBStorage

from ..errors import StudyError
from .silence import Attempts, unwatch, watch
from .waiting import (
    FILE_LOCK_LIMIT,
    LOCK_ADVICE,
    NOTICE_AFTER,
    NOTICE_EVERY,
    Wait,
    say,
    saying_here,
)

RECONNECT_LIMIT = 30.0  # seconds a database may be away before operations give up
LOCK_TIMEOUT_S = 5  # a statement waits this long for a lock before it is cancelled
TABLE_LOCK_LIMIT = FILE_LOCK_LIMIT  # seconds an operation waits for another's table lock

T = TypeVar("T")


class DatabaseUnavailable(StudyError):
    """The database could not be reached (or kept failing) for `RECONNECT_LIMIT` seconds."""


class DatabaseError(StudyError):
    """The database refused an operation (a permission, a time-out, a bad value)."""


# the storage's operations, as Optuna's _CachedStorage and the harness call them;
# each is retried as a whole (an inner call made by an outer one is not retried twice)
OPERATIONS = (
    "create_new_study", "delete_study", "set_study_user_attr", "set_study_system_attr",
    "get_study_id_from_name", "get_study_name_from_id", "get_study_directions",
    "get_study_user_attrs", "get_study_system_attrs", "get_all_studies",
    "create_new_trial", "_create_new_trial", "set_trial_param", "_set_trial_param",
    "get_trial_param", "set_trial_state_values", "set_trial_intermediate_value",
    "set_trial_user_attr", "set_trial_system_attr", "get_trial_id_from_study_id_trial_number",
    "get_trial", "get_all_trials", "_get_trials", "get_best_trial", "_get_best_trial_id",
    "get_trial_user_attrs", "get_trial_system_attrs", "record_heartbeat",
    "_get_stale_trial_ids",
)

_depth = threading.local()


def transient(exc: BaseException) -> str | None:
    """The server's reason when ``exc`` is a failure worth retrying (the connection, the
    server's availability, a deadlock); None for any other."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    for e in exception_chain(exc):
        if not isinstance(e, DBAPIError):
            continue
        reason = first_line(e.orig) if e.orig is not None else first_line(e)
        if e.connection_invalidated:
            return reason
        module = type(e.orig).__module__
        if module.startswith("psycopg"):
            import psycopg

            if isinstance(e.orig, psycopg.errors.QueryCanceled):
                return None  # statement_timeout: the statement would only run as long again
            return reason if isinstance(e.orig, psycopg.OperationalError) else None
        if module.startswith("sqlite3"):
            return reason if "locked" in reason or "busy" in reason else None
        return reason if isinstance(e, OperationalError) else None
    return None


def lock_timed_out(exc: BaseException) -> bool:
    """Whether ``exc`` is a statement cancelled by ``lock_timeout``: another session holds
    a lock the statement needs."""
    for e in exception_chain(exc):
        orig = getattr(e, "orig", None)
        if getattr(orig, "sqlstate", None) == "55P03":  # lock_not_available
            return True
    return False


def lock_holders(storage: RDBStorage) -> str:
    """The other sessions that hold locks on this database's tables (or sit in an open
    transaction), as the server describes them: who to look at when a statement waits."""
    from sqlalchemy import text

    try:
        with storage.engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT a.pid, a.application_name, host(a.client_addr), a.backend_start, "
                "a.state, string_agg(DISTINCT c.relname || ' ' || l.mode, ', ') "
                "FROM pg_stat_activity a "
                "LEFT JOIN pg_locks l ON l.pid = a.pid AND l.granted "
                "AND l.locktype = 'relation' "
                "AND l.mode NOT IN ('AccessShareLock', 'RowShareLock', 'RowExclusiveLock') "
                "LEFT JOIN pg_class c ON c.oid = l.relation AND c.relname NOT LIKE 'pg_%' "
                "WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() "
                "AND (c.relname IS NOT NULL OR (a.state LIKE 'idle in transaction%' "
                f"AND a.xact_start < now() - interval '{LOCK_TIMEOUT_S} seconds')) "
                "GROUP BY a.pid, a.application_name, a.client_addr, a.backend_start, a.state "
                "ORDER BY a.backend_start LIMIT 3")).all()
    except Exception:  # noqa: BLE001  (the description only helps the message)
        return "another session"
    if not rows:
        return "another session (gone now)"
    return "; ".join(describe_session(pid, application, client, since, state, locks)
                     for pid, application, client, since, state, locks in rows)


def blocking_sessions(storage: RDBStorage, pid: int) -> str:
    """The sessions that block the statement of process ``pid`` of this machine (found by
    its `application_name`), described; "" when none does (or the server cannot say)."""
    import socket

    from sqlalchemy import text

    application = f"mlp-sweep pid {pid} on {socket.gethostname()}"[:63]
    try:
        with storage.engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT b.pid, b.application_name, host(b.client_addr), b.backend_start, "
                "b.state FROM pg_stat_activity a "
                "CROSS JOIN LATERAL unnest(pg_blocking_pids(a.pid)) AS blocker(pid) "
                "JOIN pg_stat_activity b ON b.pid = blocker.pid "
                "WHERE a.application_name = :application "
                "AND a.datname = current_database() ORDER BY b.backend_start LIMIT 3"),
                {"application": application}).all()
    except Exception:  # noqa: BLE001  (the description only helps the message)
        return ""
    return "; ".join(describe_session(*row) for row in rows)


def describe_session(pid: int, application: str | None, client: str | None,
                     since: Any, state: str | None, locks: str | None = None) -> str:
    """``another session (server process 12, application 'psql', client 10.0.0.2, ...)``."""
    parts = [f"server process {pid}"]
    if application:
        parts.append(f"application {application!r}")
    if client:
        parts.append(f"client {client}")
    if since is not None:
        parts.append(f"connected at {since:%Y-%m-%d %H:%M:%S}")
    if state:
        parts.append(str(state))
    if locks:
        parts.append(f"holding {locks}")
    return f"another session ({', '.join(parts)})"


def reason_of(exc: BaseException) -> str:
    """The database's own words for what went wrong (not Optuna's wrapper text)."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    for e in exception_chain(exc):
        if isinstance(e, DBAPIError) and e.orig is not None:
            reason = first_line(e.orig)
            import_name = type(e.orig).__name__
            if import_name == "QueryCanceled":
                return f"{reason} (a statement ran into the server's statement_timeout)"
            return reason
        if isinstance(e, SQLAlchemyError):
            return first_line(e)
    return first_line(exc)


def first_line(exc: object) -> str:
    """``exc``'s first line, without the "[Errno -2] " a driver copies from the OS's
    error (libpq's "failed to resolve host 'h': [Errno -2] Name or service not known")."""
    text = re.sub(r"\[Errno -?\d+\] ", "", str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def exception_chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in seen:
        seen.append(e)
        e = e.__cause__ or e.__context__
    return seen


def hint(reason: str) -> str:
    """What to do about a reason the server gives, where it does not say."""
    text = reason.lower()
    if "too many clients" in text or "remaining connection slots" in text:
        return ("; the server's max_connections is used up (each run holds about 2 "
                "connections and each of its workers up to 3): raise it, or run fewer workers")
    if "too many connections for role" in text:
        return ("; the database user's CONNECTION LIMIT is used up (each run holds about 2 "
                "connections and each of its workers up to 3): raise it (ALTER ROLE ... "
                "CONNECTION LIMIT), or run fewer workers")
    if "permission denied" in text or "read-only transaction" in text:
        return ("; the database user may not write Optuna's tables: a run needs SELECT, INSERT, "
                "UPDATE and DELETE on them and USAGE on their sequences (reading needs SELECT)")
    return ""


class Outage:
    """A database away: since when, and when that was last said. Each failed attempt
    waits (backing off), says so now and then, or, past `RECONNECT_LIMIT` seconds, gives
    up in one line (`DatabaseUnavailable`)."""

    def __init__(self, masked: str, doing: str = "unavailable") -> None:
        self.masked, self.doing = masked, doing
        self.since: float | None = None
        self.noticed = 0.0

    def failed(self, reason: str, delay: float) -> float:
        """After an attempt failed for ``reason``: wait ``delay``; the next delay."""
        now = time.monotonic()
        if self.since is None:
            self.since = now
        away = now - self.since
        if away >= RECONNECT_LIMIT:
            raise DatabaseUnavailable(f"database {self.masked}: unavailable for {away:.0f}s "
                                      f"({reason}){hint(reason)}") from None
        if away >= NOTICE_AFTER and now - self.noticed >= NOTICE_EVERY:
            self.noticed = now
            say(f"database {self.masked}: {self.doing} ({reason}); retrying for up to "
                f"{RECONNECT_LIMIT - away:.0f}s more")
        time.sleep(min(delay, max(0.0, RECONNECT_LIMIT - away)))
        return min(2 * delay, 2.0)


def reopen(make: Callable[[], T], masked: str) -> T:
    """``make()``, which opens a database the run had open a moment ago (a worker's, the
    run's own at its end): a failure to reach it now is the database being away (a
    restart, ``max_connections`` filled), retried like an operation for up to
    `RECONNECT_LIMIT` seconds and said on one line; then `DatabaseUnavailable`."""
    outage, delay = Outage(masked, "cannot connect"), 0.25
    while True:
        try:
            return make()
        except Exception as exc:  # noqa: BLE001  (sorted by `transient` below)
            reason = transient(exc)
            if reason is None:
                raise
            delay = outage.failed(reason, delay)


class _RetriedHere(logging.Filter):
    """Drops Optuna's warning that a query failed and it falls back to another ("Caught an
    error from sqlalchemy: ... [SQL: ...]", eight lines quoting the statement) when the
    error is one `Database` retries and says in one line: a lock time-out, a connection."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not (text.startswith("Caught an error from sqlalchemy")
                    and ("psycopg" in text or "lock timeout" in text
                         or "database is locked" in text))


_RETRIED_HERE = _RetriedHere()


class Database(RDBStorage):
    """Optuna's RDBStorage whose operations survive a dropped connection (see the module).

    ``masked``: the URL with its password hidden, for messages.
    """

    def __init__(self, url: str, *, masked: str, **kwargs: Any) -> None:
        self.masked = masked
        self._outage = Outage(masked)  # operations failing since, and said when
        self.attempts = Attempts(masked)  # the attempts in flight, for silence.py
        logging.getLogger("optuna.storages._rdb.storage").addFilter(_RETRIED_HERE)  # once
        if url.startswith("postgresql"):
            watch(self, self.attempts)  # a server that never answers: said, then cut
        try:
            super().__init__(url, **kwargs)
        except BaseException:  # refused (a wrong password): nothing of it is kept watched
            unwatch(self)
            raise

    def close(self) -> None:
        """Let the database go: its connections closed, its watch ended (whatever still
        refers to it, as a traceback's frames may for a while)."""
        unwatch(self)
        self.engine.dispose()

    def retrying(self, operation: Callable[[], T]) -> T:
        """``operation()``, retried while it fails for a transient reason, for up to
        `RECONNECT_LIMIT` seconds since the database was last seen working."""
        if getattr(_depth, "inside", False):
            return operation()  # the outermost call retries
        _depth.inside = True
        try:
            delay = 0.25
            locked: Wait | None = None
            while True:
                try:
                    result = self._attempt(operation)
                except (StorageInternalError, Exception) as exc:
                    if lock_timed_out(exc):
                        locked = self._locked(locked)
                        continue
                    delay = self._failed(exc, delay)
                    continue
                if self._outage.since is not None:
                    away = time.monotonic() - self._outage.since
                    self._outage.since = None
                    if away >= NOTICE_AFTER:
                        say(f"database {self.masked}: reachable again after {away:.0f}s")
                return result
        finally:
            _depth.inside = False

    def _attempt(self, operation: Callable[[], T]) -> T:
        """One try of ``operation``, watched while it runs (silence.py): one whose server
        never answered is `DatabaseUnavailable`, not a connection to open again."""
        attempt = self.attempts.begin(saying_here())
        answered = False
        try:
            result = operation()
            answered = True
            return result
        except Exception:
            silent = attempt.cut or self.attempts.silent
            if silent:  # not to be reached again now: no reconnecting for RECONNECT_LIMIT
                raise DatabaseUnavailable(f"database {self.masked}: {silent}") from None
            raise
        finally:
            self.attempts.end(answered)

    def _locked(self, wait: Wait | None) -> Wait:
        """After an attempt cancelled by ``lock_timeout``: the wait, said and bounded."""
        holders = [""]
        if wait is None:
            wait = Wait(lambda: f"database {self.masked}: waiting for a lock on the "
                                f"study's tables, held by {holders[0]}",
                        TABLE_LOCK_LIMIT, LOCK_ADVICE)
            wait.started -= LOCK_TIMEOUT_S  # the cancelled statement waited already
            wait.next_notice -= LOCK_TIMEOUT_S
        if wait.seconds >= NOTICE_AFTER and time.monotonic() >= wait.next_notice \
                or wait.limit is not None and wait.seconds >= wait.limit:
            holders[0] = lock_holders(self)
        wait.tick()
        return wait

    def _failed(self, exc: BaseException, delay: float) -> float:
        """After a failed attempt: the delay before the next, or the one-line error."""
        from sqlalchemy.exc import SQLAlchemyError

        if not isinstance(exc, StorageInternalError | SQLAlchemyError):
            raise exc  # Optuna's own errors (a missing study, a finished trial) and bugs
        reason = transient(exc)
        if reason is None:
            why = reason_of(exc)
            raise DatabaseError(f"database {self.masked}: {why}{hint(why)}") from None
        return self._outage.failed(reason, delay)


def _operation(name: str) -> Callable[..., Any]:
    original = getattr(RDBStorage, name)

    @functools.wraps(original)
    def operation(self: Database, *args: Any, **kwargs: Any) -> Any:
        return self.retrying(lambda: original(self, *args, **kwargs))

    return operation


for _name in OPERATIONS:
    setattr(Database, _name, _operation(_name))

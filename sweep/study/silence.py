"""A database server that keeps its connections but never answers.

A PostgreSQL server that is stopped (SIGSTOP, a debugger, a host suspended or cut off
behind a firewall that drops nothing) leaves every connection to it open: the kernel
still acknowledges what is sent and answers TCP keepalives, the server's own
``statement_timeout`` never fires, and a statement waits for an answer for ever. No
driver setting bounds that wait (``tcp_user_timeout`` needs unacknowledged data), so the
harness watches its own: each attempt of a `Database` operation is registered while it
runs, counted from its last answered statement (an attempt that polls, as the study's
lock does, is answered every second), and one watcher thread per process

- says, after `NOTICE_AFTER_S` seconds without an answer, what the operation waits for
  (once for the silence, on the line the operation's thread would use);
- after `UNANSWERED_LIMIT_S`, shuts down the sockets of the process's PostgreSQL
  connections, which ends the wait at once with a connection error, and marks the
  attempt so that the operation stops in one line (`DatabaseUnavailable`) instead of
  reconnecting to a server that does not answer. (A process of the harness talks to
  one database; another one's connections, cut too, are replaced by their next use.)

Connections are found through SQLAlchemy's pool ``connect`` event (psycopg's only);
shutting a socket down, unlike closing it, leaves its descriptor to its owner.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

NOTICE_AFTER_S = 10.0  # an attempt unanswered this long is said
UNANSWERED_LIMIT_S = 60.0  # then its server's connections are cut
WATCH_EVERY_S = 1.0
SILENT_CONNECT_TIMEOUT = 2  # seconds to connect while silent (libpq's shortest)

_connections: weakref.WeakSet[Any] = weakref.WeakSet()  # every psycopg connection made
_watched: weakref.WeakSet[Any] = weakref.WeakSet()  # the Databases whose attempts run
_current: dict[int, Attempt] = {}  # each thread's attempt in flight
_lock = threading.Lock()
_started = False


@dataclass
class Attempt:
    """One operation's attempt in flight on one thread."""

    started: float
    say: Callable[[str], None]
    cut: str = ""  # why its connection was cut, once it was
    silence: str = ""  # its database's silence when it began, if any


@dataclass
class Attempts:
    """A Database's attempts in flight, by thread, and its silence: from the first cut
    until an attempt succeeds, later attempts are cut sooner (after `NOTICE_AFTER_S`)
    and nothing more is said; the database's operations fail at once (database.py)."""

    masked: str  # the URL with its password hidden, for what is said
    running: dict[int, Attempt] = field(default_factory=dict)
    said: bool = False  # the silence has been said
    silent: str = ""  # why the first attempt was cut, while the silence lasts

    def begin(self, say: Callable[[str], None]) -> Attempt:
        attempt = Attempt(time.monotonic(), say, silence=self.silent)
        with _lock:
            self.running[threading.get_ident()] = _current[threading.get_ident()] = attempt
        return attempt

    def end(self, answered: bool) -> None:
        with _lock:
            self.running.pop(threading.get_ident(), None)
            _current.pop(threading.get_ident(), None)
            if answered:
                self.said, self.silent = False, ""


def watch(database: Any, attempts: Attempts) -> None:
    """Watch ``database`` (whose ``attempts`` its operations register) from now on."""
    global _started
    _listen_for_connections()
    with _lock:
        _watched.add(database)
        if not _started:
            _started = True
            threading.Thread(target=_watch_forever, name="sweep-database-silence",
                             daemon=True).start()


def unwatch(database: Any) -> None:
    """Stop watching ``database`` (let go: its connections closed)."""
    with _lock:
        _watched.discard(database)


def unanswered_text(seconds: float) -> str:
    return (f"no answer to a statement for {seconds:.0f}s (the server stopped, or its host "
            "unreachable)")


def _watch_forever() -> None:
    """Look every `WATCH_EVERY_S` while any database is watched; end once none is (the
    next `watch` starts another): a process that has let its databases go keeps no
    thread, and no database is kept alive by this one between two looks."""
    while True:
        time.sleep(WATCH_EVERY_S)
        if not _look():
            return


def _look() -> bool:
    """One look at every watched database's running attempts; False once none is
    watched (and the watch marked stopped, under the lock)."""
    global _started
    with _lock:
        if not _watched:
            _started = False
            return False
        watched = [(db.attempts, list(db.attempts.running.values())) for db in _watched]
    for attempts, running in watched:
        for attempt in running:
            _check(attempts, attempt)
    return True


def _check(attempts: Attempts, attempt: Attempt) -> None:
    waited = time.monotonic() - attempt.started
    if waited >= NOTICE_AFTER_S and not attempts.said:
        attempts.said = True
        attempt.say(f"database {attempts.masked}: {unanswered_text(waited)}; giving up if "
                    f"none comes within {UNANSWERED_LIMIT_S:.0f}s")
    limit = NOTICE_AFTER_S if attempts.silent else UNANSWERED_LIMIT_S
    if waited >= limit and not attempt.cut:
        with _lock:
            attempts.silent = attempts.silent or unanswered_text(waited)
            attempt.cut = attempts.silent
        _cut()


def _cut() -> None:
    """Shut down the sockets of every open PostgreSQL connection of the process."""
    for conn in list(_connections):
        try:
            if conn.closed:
                continue
            duplicate = os.dup(conn.fileno())
        except Exception:  # noqa: BLE001  (closed meanwhile: nothing to cut)
            continue
        try:
            socket.socket(fileno=duplicate).shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        finally:
            try:
                os.close(duplicate)
            except OSError:
                pass


def _listen_for_connections() -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    if not event.contains(Pool, "connect", _on_connect):
        event.listen(Pool, "connect", _on_connect)
    if not event.contains(Engine, "after_cursor_execute", _on_answer):
        event.listen(Engine, "after_cursor_execute", _on_answer)
    if not event.contains(Engine, "do_connect", _on_connecting):
        event.listen(Engine, "do_connect", _on_connecting)


def _on_connecting(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
    """A connection opened by an attempt that was cut (the pool's check before use opens
    a new one at once) or begun during a silence: the server has not answered, so it gets
    `SILENT_CONNECT_TIMEOUT` seconds to accept, not the usual ten."""
    attempt = _current.get(threading.get_ident())
    if dialect.name == "postgresql" and attempt is not None and (attempt.cut or attempt.silence):
        cparams["connect_timeout"] = SILENT_CONNECT_TIMEOUT


def _on_answer(*args: Any) -> None:
    """A statement of this thread was answered: what the attempt waits for is counted
    from now (an operation that polls, the study's lock, waits long between answers)."""
    attempt = _current.get(threading.get_ident())
    if attempt is not None:
        attempt.started = time.monotonic()


def _on_connect(dbapi_connection: Any, record: Any) -> None:
    if type(dbapi_connection).__module__.startswith("psycopg"):
        _connections.add(dbapi_connection)

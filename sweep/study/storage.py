"""Where a study's trials are kept: Optuna's journal file by default, or a database.

The journal file (``studies/<name>/journal.log``) is Optuna's own format, read and
written here through a backend of ours that never tears or glues lines and names
the file and line of any damage; Optuna's tools (optuna-dashboard, ``optuna``'s
CLI) read it as it is. ``--storage URL`` takes any Optuna database URL instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

from optuna.exceptions import ExperimentalWarning
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages.journal import BaseJournalBackend, JournalStorage

from ..errors import StudyError, UsageError

# Journal op codes (part of Optuna's file format) of appends that ride on a later
# fsync: SET_TRIAL_PARAM, SET_TRIAL_INTERMEDIATE_VALUE, SET_TRIAL_USER_ATTR and
# SET_TRIAL_SYSTEM_ATTR.
IN_TRIAL = frozenset((5, 7, 8, 9))


# A database study's running trials beat (sweep/execution/heartbeat.py): every
# heartbeat seconds, and a trial silent for GRACE_BEATS of them counts as dead.
DEFAULT_HEARTBEAT = 10
MAX_HEARTBEAT = 3600
GRACE_BEATS = 6


def grace_seconds(heartbeat: int) -> int:
    return GRACE_BEATS * heartbeat


def beats(storage: BaseStorage) -> bool:
    """Whether the storage's running trials beat: a database opened with a heartbeat."""
    return isinstance(storage, RDBStorage) and storage.heartbeat_interval is not None


class JournalDamaged(StudyError):
    """A line of a journal file that is not one of Optuna's log records."""


def mask_url(url: str | None) -> str:
    """The URL with any password replaced by ***, safe for logs and files.

    Parsed the way the database layer parses it (SQLAlchemy's URL), so a password
    holding '/', '#', '?' or '@' is masked whole; text that does not parse at all
    is masked from the first ':' after the scheme to the last '@'.
    """
    if not url:
        return ""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
        if parsed.password is None:
            return url
        return parsed.render_as_string(hide_password=True)
    except (ArgumentError, ValueError, TypeError):
        scheme, sep, rest = url.rpartition("://")
        if "@" not in rest:
            return url
        user, _, _ = rest.rpartition("@")[0].partition(":")
        return f"{scheme}{sep}{user}:***@{rest.rpartition('@')[2]}"


class JournalFile(BaseJournalBackend):
    """Optuna's journal file format, with appends that never leave a torn line behind.

    Optuna appends through a buffered write: on a full disk part of a line can land,
    every later append is glued onto it, and the journal never loads again. Here a
    failed append is cut back off, a torn tail left by a killed writer is cut before
    the next append, and a line that is not a log record stops every reader and
    writer with the file and line number, so that nothing is ever written after it
    (``sweep doctor`` repairs it).

    An append is made durable (fsync) when it creates or finishes something: a study,
    a trial, a trial's state. A running trial's parameters, reports and attributes are
    written without their own fsync (about 20 per trial, 2-3 ms each, a tenth of a
    short trial): fsync flushes every earlier write to the file, whoever made it, so
    the fsync of the trial's end makes them durable with it. A kill never loses them
    (the kernel has them); a power cut loses at most a running trial's latest reports.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        self.lock = FileLock(self.path + ".flock")
        if not os.path.exists(self.path):
            open(self.path, "ab").close()
        self._offsets: dict[int, int] = {0: 0}  # log number -> byte offset of its line

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        start = max((n for n in self._offsets if n <= log_number_from), default=0)
        with open(self.path, "rb") as f:
            f.seek(self._offsets[start])
            offset = self._offsets[start]
            for number, line in enumerate(f, start=start):
                if not line.endswith(b"\n"):
                    return  # a torn tail: a writer is mid-append, or died there
                record = parse_line(line, self.path, number + 1)
                offset += len(line)
                self._offsets[number + 1] = offset
                if number >= log_number_from:
                    yield record

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        payload = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs)
                   + "\n").encode("utf-8")
        self.lock.acquire()
        try:
            with open(self.path, "r+b", buffering=0) as f:
                end = _whole_lines_length(f, self.path)
                f.truncate(end)
                f.seek(end)
                try:
                    view = memoryview(payload)
                    while view:
                        view = view[f.write(view):]
                    if any(log.get("op_code") not in IN_TRIAL for log in logs):
                        os.fsync(f.fileno())
                except OSError as exc:
                    with suppress(OSError):
                        f.truncate(end)
                    raise OSError(exc.errno, f"cannot write the study journal ({exc.strerror})",
                                  self.path) from None
        finally:
            self.lock.release()


class FileLock:
    """An exclusive ``flock`` on a file beside the journal. The kernel drops it when its
    holder dies, so a writer killed mid-append never blocks the others (Optuna's own
    lock file would stay behind, and every writer would wait 30 s before breaking it)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._held = threading.local()

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._held.fd = fd
        return True

    def release(self) -> None:
        fd = getattr(self._held, "fd", None)
        self._held.fd = None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def parse_line(line: bytes, path: str, line_number: int) -> dict[str, Any]:
    """One journal line as Optuna's log record, or `JournalDamaged` naming it."""
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        reason = "not UTF-8"
    except json.JSONDecodeError:
        reason = "empty" if not line.strip() else "not JSON"
    else:
        if isinstance(record, dict) and "op_code" in record:
            return record
        reason = "not an Optuna log record"
    folder = Path(path).parent
    raise JournalDamaged(f"{path}: line {line_number} is damaged ({reason}); `python -m sweep "
                         f"doctor --study {folder.name} --studies-dir {folder.parent}` keeps a "
                         "copy and drops such lines")


def _whole_lines_length(f: Any, path: str) -> int:
    """The length of the file up to and including its last newline, after checking that
    the last whole line is a record: nothing is ever appended after damage."""
    end = f.seek(0, os.SEEK_END)
    data, pos = b"", end
    while pos > 0:
        start = max(0, pos - 65536)
        f.seek(start)
        data = f.read(pos - start) + data
        pos = start
        last = data.rfind(b"\n")
        prev = data.rfind(b"\n", 0, last) if last >= 0 else -1
        if last < 0 or (prev < 0 and pos > 0):
            continue  # the last whole line is not in view yet
        line_start = pos + prev + 1
        try:
            parse_line(data[prev + 1:last + 1], path, 0)
        except JournalDamaged:
            f.seek(0)
            number = f.read(line_start).count(b"\n") + 1
            parse_line(data[prev + 1:last + 1], path, number)
        return pos + last + 1
    return 0


CONNECT_TIMEOUT = 10  # seconds to reach a database server before giving up
STATEMENT_TIMEOUT_MS = 120_000  # a server that accepts and never answers
TABLE_RACE_ATTEMPTS = 5  # tries to open a new database that other machines set up too

# per driver: how to bound the connection and each statement, so a silent server is
# a one-line error within seconds, never a hang
_TIMEOUTS: dict[str, dict[str, Any]] = {
    "postgresql": {"connect_timeout": CONNECT_TIMEOUT,
                   "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"},
    "mysql": {"connect_timeout": CONNECT_TIMEOUT, "read_timeout": STATEMENT_TIMEOUT_MS // 1000,
              "write_timeout": STATEMENT_TIMEOUT_MS // 1000},
}


def open_storage(journal: Path, url: str | None = None, *, create: bool = True,
                 heartbeat: int | None = None) -> BaseStorage:
    """The journal file storage at ``journal``, or any Optuna database URL.

    With ``create`` false (the reading commands) nothing is created: a missing SQLite
    file or a database without Optuna's tables is an error, not a new empty study.
    ``heartbeat``: a database storage whose running trials beat every that many
    seconds, and whose trials silent for `GRACE_BEATS` beats are dead (see heartbeat.py
    in sweep/execution).
    A plain ``postgresql://`` URL gets the psycopg (3) driver, whatever SQLAlchemy's
    default for it is (psycopg2 before SQLAlchemy 2.1).
    """
    if not url:
        if not create and not journal.is_file():
            raise StudyError(f"no study journal at {journal}")
        journal.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFile(journal))
    parsed = _parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file::memory:"):
            raise UsageError(f"--storage {url}: an in-memory database lives in one process; "
                             "the workers cannot share it (give a file: sqlite:///study.db)")
        if not create and not Path(database).is_file():
            raise StudyError(f"--storage {mask_url(url)}: no such database file")
        _check_sqlite_is_optunas(Path(database), url)
    connect_args = _TIMEOUTS.get(parsed.get_backend_name(), {})
    engine_url = url
    if parsed.drivername == "postgresql":
        engine_url = parsed.set(drivername="postgresql+psycopg").render_as_string(
            hide_password=False)
    beats = {} if heartbeat is None else {"heartbeat_interval": heartbeat,
                                          "grace_period": grace_seconds(heartbeat)}
    from optuna.exceptions import StorageInternalError
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    try:
        for attempt in range(TABLE_RACE_ATTEMPTS):
            try:
                with warnings.catch_warnings():  # the heartbeat is "experimental" (Optuna 2.9)
                    warnings.simplefilter("ignore", ExperimentalWarning)
                    return RDBStorage(engine_url, engine_kwargs={"connect_args": connect_args}
                                      if connect_args else None,
                                      skip_table_creation=not create, **beats)
            except (IntegrityError, ProgrammingError, StorageInternalError):
                # machines that start on a new database together all create Optuna's
                # tables; the losers fail on a duplicate (or on a table another one has
                # not finished), and find the tables made
                if not create or attempt == TABLE_RACE_ATTEMPTS - 1:
                    raise
                time.sleep(0.2 + random.random())
        raise AssertionError("unreachable")
    except Exception as exc:  # SQLAlchemy raises many kinds; all mean the same to the user
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"--storage {mask_url(url)}: cannot open ({mask_url(reason)})") from None


def sqlite_file(url: str | None) -> Path | None:
    """The file of a SQLite URL, or None for anything else."""
    if not url or not url.startswith("sqlite:///"):
        return None
    database = _parse_url(url).database or ""
    return None if database in ("", ":memory:") or database.startswith("file:") else \
        Path(database)


def absolute_url(url: str) -> str:
    """A SQLite URL with its file's path made absolute, so that a study records where
    its database is, not where it was relative to the first run's directory."""
    if not url.startswith("sqlite:///") or url.startswith("sqlite:////"):
        return url
    parsed = _parse_url(url)
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return url
    return parsed.set(database=str(Path(database).resolve())).render_as_string(
        hide_password=False)


def _check_sqlite_is_optunas(database: Path, url: str) -> None:
    """An existing SQLite file that holds tables, none of them Optuna's, is someone
    else's database: Optuna would add its tables to it."""
    if not database.is_file() or database.stat().st_size == 0:
        return
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True,
                                                timeout=CONNECT_TIMEOUT)) as db:
            tables = {row[0] for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        raise UsageError(f"--storage {mask_url(url)}: not a SQLite database ({exc})") from None
    if tables and "studies" not in tables:
        raise UsageError(f"--storage {mask_url(url)}: a database of something else "
                         f"({len(tables)} tables, none of Optuna's); name a new file")


def _parse_url(url: str) -> Any:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if "://" not in url:
        raise UsageError(f"--storage {mask_url(url)!r}: not a database URL "
                         "(e.g. sqlite:///study.db, postgresql://user:pass@host/db)")
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018  (a non-integer port raises here)
    except (ArgumentError, ValueError) as exc:
        raise UsageError(f"--storage {mask_url(url)}: not a valid database URL "
                         f"({mask_url(str(exc))})") from None
    return parsed

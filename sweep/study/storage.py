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
import re
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from optuna.exceptions import ExperimentalWarning
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages.journal import BaseJournalBackend, JournalStorage

from ..errors import StudyError, UsageError
from .database import LOCK_TIMEOUT_S
from .journal_records import JournalContext, record_problem
from .waiting import take_flock

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


class JournalCut(StudyError):
    """A journal file shorter than a reader has already read: emptied or replaced."""


# a key whose value is a secret, in a URL's query or a libpq keyword string: password,
# sslpassword, and their misspellings and kin (pasword, pass-word, db_password2, passwd,
# pwd, pw, passphrase, secret, token), judged by the key's letters alone
SECRET_LETTERS = re.compile(r"pass|pasw|pw|secret|token")


def is_secret_key(key: str) -> bool:
    return SECRET_LETTERS.search(re.sub(r"[^a-z]", "", unquote(key).lower())) is not None


def ambiguous_password(url: str) -> str | None:
    """The password of a URL whose host part holds more than one '@' (a password with
    an unescaped '@'), taken up to the last one; None for any other URL."""
    head = url.partition("://")[2].split("/", 1)[0]
    if head.count("@") < 2:
        return None
    return head[:head.rfind("@")].partition(":")[2] or None


def mask_url(url: str | None) -> str:
    """The URL with any password replaced by ***, safe for logs and files.

    Parsed the way the database layer parses it (SQLAlchemy's URL), so a password
    holding '/', '#' or '?' is masked whole, and so is the value of every query
    parameter whose key looks like a secret however it is written (misspelt,
    percent-encoded); a password holding '@' (which a URL must write as %40) is masked
    up to the host part's last '@'; text that does not parse is masked from the first
    ':' after the scheme to the last '@', and so is every secret-looking value of a
    libpq keyword string ("host=h password='p w'").
    """
    if not url:
        return ""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    scheme, sep, rest = url.rpartition("://")
    shown = url
    if ambiguous_password(url) is not None:
        head, slash, tail = rest.partition("/")
        user = head[:head.rfind("@")].partition(":")[0]
        shown = f"{scheme}{sep}{user}:***@{head[head.rfind('@') + 1:]}{slash}{tail}"
    elif sep:
        try:
            parsed = make_url(url)
            secret = [k for k in parsed.query if is_secret_key(k)]
            if parsed.password is not None or secret:
                query = {k: ("***" if k in secret else v) for k, v in parsed.query.items()}
                shown = parsed.set(query=query).render_as_string(hide_password=True) \
                    .replace("%2A%2A%2A", "***")
        except (ArgumentError, ValueError, TypeError):
            shown = _mask_userinfo(scheme, sep, rest)
    elif "@" in rest and " " not in rest.rpartition("@")[0]:  # user:pw@host without a scheme
        shown = _mask_userinfo(scheme, sep, rest)
    # any query text left (a URL that did not parse): secret-looking keys, as written
    shown = re.sub(r"([?&])([^=&#]*)=([^&#]*)",
                   lambda m: f"{m[1]}{m[2]}=***" if is_secret_key(m[2]) else m[0], shown)
    # a libpq keyword string ("host=h user=u password='p w'"), refused as no URL but
    # named in the refusal: a value is quoted, or runs to a space not escaped
    shown = re.sub(r"(^|\s)([A-Za-z0-9_%-]+)(\s*=\s*)('(?:[^'\\]|\\.)*'?|(?:[^\s\\]|\\.)*)",
                   lambda m: f"{m[1]}{m[2]}{m[3]}***" if is_secret_key(m[2]) else m[0],
                   shown)
    # the password's text elsewhere in the URL (a database named as it is, its port)
    # starred as every message about the URL stars it: else the stars would point at it
    return hide_secret(shown, url)


def _mask_userinfo(scheme: str, sep: str, rest: str) -> str:
    """``scheme://user:***@host...``: everything between the first ':' and the last '@'."""
    if "@" not in rest:
        return f"{scheme}{sep}{rest}"
    user = rest.rpartition("@")[0].partition(":")[0]
    return f"{scheme}{sep}{user}:***@{rest.rpartition('@')[2]}"


def named(url: str) -> str:
    """The storage as an error names it: ``--storage URL``, or ``SWEEP_STORAGE=URL`` when
    that is where it came from; the password masked."""
    if os.environ.get("SWEEP_STORAGE") == url:
        return f"SWEEP_STORAGE={mask_url(url)}"
    return f"--storage {mask_url(url)}"


def hide_secret(text: str, url: str) -> str:
    """``text`` (a server's or a parser's message about ``url``) with the URL's password
    replaced by ***, wherever it is quoted; nothing else in it is touched (a database
    named "x@y" stays whole)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    secrets: list[str] = []
    whole = ambiguous_password(url)
    if whole is not None:  # and its pieces, which a parser may quote as a host's name
        secrets += [whole, *(piece for piece in whole.split("@") if len(piece) >= 3)]
    try:
        parsed = make_url(url)
        secrets += [parsed.password] if parsed.password else []
        secrets += [str(v) for k, v in parsed.query.items() if is_secret_key(k)]
        secrets += [m[2] for m in re.finditer(r"[?&]([^=&#]*)=([^&#]*)", url)
                    if is_secret_key(m[1])]  # as written, encoded or not
    except (ArgumentError, ValueError, TypeError):
        rest = url.rpartition("://")[2]
        if "@" in rest:
            secrets.append(rest.rpartition("@")[0].partition(":")[2])
    secrets += [m[3] for m in re.finditer(
        r"(^|\s)([A-Za-z0-9_%-]+)\s*=\s*('(?:[^'\\]|\\.)*'?|(?:[^\s\\]|\\.)*)", url)
        if is_secret_key(m[2])]
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = _masked(text, secret)
    return text


SURE_SECRET = 8  # characters: a secret this long is not in a message by chance


def _masked(text: str, secret: str) -> str:
    """``text`` with ``secret`` replaced by ***. A short one only where it stands alone:
    within a longer word or address it is there by chance (the password "127" in the
    server's address 127.0.0.1, "p" in "import"), and stars there would give it away."""
    if len(secret) >= SURE_SECRET:
        return text.replace(secret, "***")
    return re.sub(rf"(?<![\w.-]){re.escape(secret)}(?![\w-]|\.\w)", "***", text)


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
        self._context = JournalContext()  # what the lines read so far established

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        start = max((n for n in self._offsets if n <= log_number_from), default=0)
        if start < self._context.position:  # read again from before: checked afresh
            self._context, start = JournalContext(), 0
        start = min(start, self._context.position)  # no line goes unchecked in between
        with open(self.path, "rb") as f:
            self._check_whole(os.fstat(f.fileno()).st_size)
            f.seek(self._offsets[start])
            offset = self._offsets[start]
            for number, line in enumerate(f, start=start):
                if not line.endswith(b"\n"):
                    return  # a torn tail: a writer is mid-append, or died there
                record = parse_line(line, self.path, number + 1, self._context)
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
                self._check_whole(end)  # at the length it appends at
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


    def _check_whole(self, size: int) -> None:
        """A journal only grows: one shorter (``size`` bytes) than what this process has
        read of it was emptied, cut or replaced while in use, and is neither read on
        (Optuna's replay of what is left fails deep inside) nor written to (the appends
        would record trials of a study that is not there)."""
        read = max(self._offsets.values())
        if size < read:
            raise JournalCut(f"{self.path}: the study's journal holds {size} bytes, fewer "
                             f"than the {read} already read from it: it was emptied, cut or "
                             "replaced while in use; put the whole journal back and run "
                             "again")


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
            take_flock(fd, self.path, f"the journal's write lock {self.path}")
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


def parse_line(line: bytes, path: str, line_number: int,
               context: JournalContext | None = None) -> dict[str, Any]:
    """One journal line as Optuna's log record, or `JournalDamaged` naming it."""
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        reason = "not UTF-8"
    except json.JSONDecodeError:
        reason = "empty" if not line.strip() else "not JSON"
    else:
        reason = record_problem(record)
        if reason is None and context is not None:
            reason = context.check(record)
        if reason is None:
            return record
    folder = Path(path).parent
    if line_number == 1:  # the study's creation: nothing can stand without it
        raise JournalDamaged(f"{path}: line 1, the study's creation, is damaged ({reason}); "
                             "restore the journal from a copy, or start the study again")
    raise JournalDamaged(f"{path}: line {line_number} is damaged ({reason}); `python -m sweep "
                         f"doctor --study {folder.name} --studies-dir {folder.parent}` keeps a "
                         "copy and drops such lines, unless one held a trial's creation")


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
# TCP keepalives, both ways: the server ends the session of a machine that died without
# closing its connections (and so frees the study's lock) within about a minute, and the
# client gives up on a server that vanished (a network gone) in as long
KEEPALIVE = (30, 10, 3)  # idle seconds, seconds between probes, probes
UNACKNOWLEDGED_MS = 60_000  # data sent and never acknowledged: the server is gone

# per driver: how to bound the connection and each statement, so a silent server is
# a one-line error within seconds, never a hang
_TIMEOUTS: dict[str, dict[str, Any]] = {
    "postgresql": {"connect_timeout": CONNECT_TIMEOUT,
                   "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS} "
                              f"-c lock_timeout={LOCK_TIMEOUT_S * 1000} "
                              f"-c tcp_keepalives_idle={KEEPALIVE[0]} "
                              f"-c tcp_keepalives_interval={KEEPALIVE[1]} "
                              f"-c tcp_keepalives_count={KEEPALIVE[2]}",
                   "keepalives": 1, "keepalives_idle": KEEPALIVE[0],
                   "keepalives_interval": KEEPALIVE[1], "keepalives_count": KEEPALIVE[2],
                   "tcp_user_timeout": UNACKNOWLEDGED_MS},
    "mysql": {"connect_timeout": CONNECT_TIMEOUT, "read_timeout": STATEMENT_TIMEOUT_MS // 1000,
              "write_timeout": STATEMENT_TIMEOUT_MS // 1000},
}


def application_name() -> str:
    """How this process names itself to a PostgreSQL server (pg_stat_activity): a lock's
    holder is then named by machine and process."""
    import socket

    return f"mlp-sweep pid {os.getpid()} on {socket.gethostname()}"[:63]


def open_storage(journal: Path, url: str | None = None, *, create: bool = True,
                 heartbeat: int | None = None, in_run: bool = False) -> BaseStorage:
    """The journal file storage at ``journal``, or any Optuna database URL.

    With ``create`` false (the reading commands, and the workers of a run) nothing is
    created: a missing journal or SQLite file, or a database without Optuna's tables, is
    an error, not a new empty study. With ``create`` a database's user must be allowed
    to write Optuna's tables (PostgreSQL), or the run stops before it makes anything.
    ``heartbeat``: a database storage whose running trials beat every that many
    seconds, and whose trials silent for `GRACE_BEATS` beats are dead (see heartbeat.py
    in sweep/execution).
    A plain ``postgresql://`` URL gets the psycopg (3) driver, whatever SQLAlchemy's
    default for it is (psycopg2 before SQLAlchemy 2.1). A database is a `Database`:
    its connections are checked before use and its operations retried while it is
    briefly away (sweep/study/database.py). ``in_run``: the run has this database open
    already (a worker's storage, the run's own at its end), so failing to reach it is the
    database being away, waited for like an operation and then `DatabaseUnavailable`
    (exit 1), not a usage error.
    """
    if not url:
        if not create and not journal.is_file():
            raise StudyError(f"no study journal at {journal}")
        journal.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFile(journal))
    parsed = _parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_file(parsed.database or "", url, create)
    engine_url, engine = _engine(url, parsed)
    beats = {} if heartbeat is None else {"heartbeat_interval": heartbeat,
                                          "grace_period": grace_seconds(heartbeat)}
    from optuna.exceptions import StorageInternalError
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    from .database import Database, DatabaseUnavailable, reopen

    def make() -> Database:
        for attempt in range(TABLE_RACE_ATTEMPTS):
            try:
                with warnings.catch_warnings():  # the heartbeat is "experimental" (Optuna 2.9)
                    warnings.simplefilter("ignore", ExperimentalWarning)
                    return Database(engine_url, masked=mask_url(url), engine_kwargs=engine,
                                    skip_table_creation=not create, **beats)
            except (IntegrityError, ProgrammingError, StorageInternalError) as exc:
                # machines that start on a new database together all create Optuna's
                # tables; the losers fail on a duplicate (or on a table another one has
                # not finished), and find the tables made
                if not create or attempt == TABLE_RACE_ATTEMPTS - 1 or _refused(exc):
                    raise
                time.sleep(0.2 + random.random())
        raise AssertionError("unreachable")

    try:
        with closed_on_error(reopen(make, mask_url(url)) if in_run else make()) as storage:
            if create:
                _check_writable(storage)
            return storage
    except DatabaseUnavailable:
        raise
    except Exception as exc:  # SQLAlchemy raises many kinds; all mean the same to the user
        raise _open_error(exc, url, create) from None


@contextmanager
def closed_on_error(storage: BaseStorage) -> Iterator[BaseStorage]:
    """``storage``, its database connections closed if the block fails: a refused call
    of the API (a study not there) leaves no connection to the server behind, nor the
    silent-server watch that runs while one is open (silence.py)."""
    try:
        yield storage
    except BaseException:
        release(storage)
        raise


def release(storage: BaseStorage) -> None:
    """A storage's database connections closed, and its silence watch ended; nothing for
    a journal file (a database's next use opens connections again)."""
    from .database import Database

    if isinstance(storage, Database):
        storage.close()
    elif isinstance(storage, RDBStorage):
        storage.engine.dispose()


def _open_error(exc: Exception, url: str, create: bool) -> StudyError:
    """Why a database could not be opened, in one line naming it (password hidden)."""
    from .database import exception_chain, hint, reason_of

    if isinstance(exc, StudyError):  # the database's own message names it already
        text = str(exc).removeprefix(f"database {mask_url(url)}: ")
        return UsageError(f"{named(url)}: {text}")
    if not create and _no_tables(exc):
        return NoStudyTables(f"{named(url)}: no study there (the database has "
                             "none of Optuna's tables; a run with --storage makes them)")
    missing = next((e.name for e in exception_chain(exc)
                    if isinstance(e, ModuleNotFoundError) and e.name), None)
    if missing:  # Optuna's words: "Please install appropriate one."
        return UsageError(f"{named(url)}: cannot open (its database driver, the Python "
                          f"module {missing}, is not installed)")
    reason = reason_of(exc)
    return UsageError(f"{named(url)}: cannot open ({hide_secret(reason, url)})"
                      f"{hint(reason)}")


class NoStudyTables(StudyError):
    """A database read before any study was made in it: it has no Optuna tables."""


def _no_tables(exc: BaseException) -> bool:
    """Whether ``exc`` says a table is missing (PostgreSQL's undefined_table, MySQL's
    1146, SQLite's "no such table")."""
    from .database import exception_chain

    for e in exception_chain(exc):
        orig = getattr(e, "orig", None)
        if getattr(orig, "sqlstate", None) == "42P01":
            return True
        text = str(orig if orig is not None else e)
        if "no such table" in text or ("1146" in text and "doesn't exist" in text):
            return True
    return False


def _check_sqlite_file(database: str, url: str, create: bool) -> None:
    """A SQLite storage is a file the workers can share, and Optuna's if it exists."""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        raise UsageError(f"{named(url)}: an in-memory database lives in one process; "
                         "the workers cannot share it (give a file: sqlite:///study.db)")
    if not create and not Path(database).is_file():
        raise StudyError(f"{named(url)}: no such database file")
    _check_sqlite_is_optunas(Path(database), url)


def _engine(url: str, parsed: Any) -> tuple[str, dict[str, Any]]:
    """The URL SQLAlchemy opens (a plain postgresql:// with the psycopg 3 driver) and the
    engine's options: connections checked before use, the backend's time-outs, and on
    PostgreSQL a name that lock waits can show (`application_name`)."""
    connect_args = dict(_TIMEOUTS.get(parsed.get_backend_name(), {}))
    # the URL's own settings win over the harness's defaults (its connect_timeout), and
    # its server options (a search_path) come after the harness's, not instead of them
    given = {k: v for k, v in parsed.query.items() if isinstance(v, str)}
    for key in list(connect_args):
        if key == "options" and key in given:
            connect_args[key] = f"{connect_args[key]} {given[key]}"
        elif key in given:
            del connect_args[key]
    engine_url = url
    if parsed.get_backend_name() == "postgresql":
        connect_args["application_name"] = application_name()
    if parsed.drivername == "postgresql":
        engine_url = parsed.set(drivername="postgresql+psycopg").render_as_string(
            hide_password=False)
    engine: dict[str, Any] = {"pool_pre_ping": True}
    if connect_args:
        engine["connect_args"] = connect_args
    return engine_url, engine


def _refused(exc: BaseException) -> bool:
    """A failure to open that no retry mends (a permission)."""
    from .database import reason_of

    return "permission denied" in reason_of(exc).lower()


# what a run writes in a PostgreSQL database: Optuna's tables, and their sequences
OPTUNA_TABLES = ("studies", "study_directions", "study_user_attributes",
                 "study_system_attributes", "trials", "trial_params", "trial_values",
                 "trial_intermediate_values", "trial_user_attributes",
                 "trial_system_attributes", "trial_heartbeats")


def _check_writable(storage: BaseStorage) -> None:
    """A run needs to write Optuna's tables; a user who may only read them learns it
    now, in one line, not from the first trial's commit."""
    if not isinstance(storage, RDBStorage) or storage.engine.dialect.name != "postgresql":
        return
    from sqlalchemy import text

    def missing() -> list[str]:
        with storage.engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT t.name || ' (' || p.privilege || ')' "
                "FROM unnest(CAST(:tables AS text[])) AS t(name), "
                "unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS p(privilege) "
                "WHERE to_regclass(t.name) IS NOT NULL "
                "AND NOT has_table_privilege(to_regclass(t.name), p.privilege) "
                "UNION ALL "
                "SELECT DISTINCT s.relname || ' (USAGE)' FROM pg_class s "
                "JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i') "
                "WHERE s.relkind = 'S' AND d.refobjid IN "
                "(SELECT to_regclass(n) FROM unnest(CAST(:tables AS text[])) AS u(n)) "
                "AND CASE WHEN s.relkind = 'S' THEN NOT has_sequence_privilege(s.oid, 'USAGE') "
                "ELSE false END"),
                {"tables": list(OPTUNA_TABLES)}).scalars().all()
        return list(rows)

    retrying = getattr(storage, "retrying", None)
    lacking = retrying(missing) if retrying is not None else missing()
    if lacking:
        shown = ", ".join(lacking[:4]) + (f" and {len(lacking) - 4} more" if len(lacking) > 4
                                          else "")
        raise StudyError(f"the database user may not write Optuna's tables ({shown} "
                         "not granted): a run needs SELECT, INSERT, UPDATE and DELETE on them "
                         "and USAGE on their sequences; the reading commands (best, trials, "
                         "report) need SELECT only")


def same_storage(a: str | None, b: str | None) -> bool:
    """Whether two storage URLs name the same database, however spelled: the driver,
    the password, the user, query options and the spelling of the host (localhost,
    127.0.0.1) aside; SQLite files by their path. Journals (None) only equal each other."""
    if not a or not b:
        return not a and not b
    if a == b or mask_url(a) == mask_url(b):
        return True
    try:
        x, y = _parse_url(a), _parse_url(b)
    except UsageError:
        return False
    if x.get_backend_name() != y.get_backend_name():
        return False
    if x.get_backend_name() == "sqlite":
        fx, fy = sqlite_file(absolute_url(a)), sqlite_file(absolute_url(b))
        return fx is not None and fy is not None and (fx == fy or _same_file(fx, fy))
    return (x.database == y.database and _port(x) == _port(y)
            and bool(_addresses(_host(x)) & _addresses(_host(y))))


_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433,
                  "oracle": 1521}


def _query(url: Any, key: str) -> str | None:
    """A libpq-style query parameter (``?host=...&port=...``): its last value."""
    value = url.query.get(key)
    if isinstance(value, tuple):
        value = value[-1] if value else None
    return value or None


def _host(url: Any) -> str | None:
    given = _query(url, "host")
    if given and given.startswith("/"):  # a Unix socket's folder: this machine
        given = None
    return url.host or given


def _port(url: Any) -> int | None:
    given = _query(url, "port")
    if url.port is None and given is not None and given.isdigit():
        return int(given)
    return url.port or _DEFAULT_PORTS.get(url.get_backend_name())


def _addresses(host: str | None) -> set[str]:
    """The addresses a host name stands for (itself if it does not resolve); no host is
    the local socket, which is this machine as localhost is."""
    import socket

    name = (host or "localhost").strip("[]").lower()
    found = {name}
    try:
        found |= {info[4][0] for info in socket.getaddrinfo(name, None)}
    except (OSError, UnicodeError):
        pass
    if found & {"127.0.0.1", "::1", "localhost"}:
        found |= {"127.0.0.1", "::1", "localhost"}
    return found


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def sqlite_file(url: str | None) -> Path | None:
    """The file of a SQLite URL, or None for anything else."""
    if not url or not url.startswith("sqlite:///"):
        return None
    database = _parse_url(url).database or ""
    return None if database in ("", ":memory:") or database.startswith("file:") else \
        Path(database)


def absolute_url(url: str) -> str:
    """A SQLite URL with its file's path made absolute, so that a study records where
    its database is, not where it was relative to the first run's directory. What is no
    database URL at all (a libpq keyword string) is refused here, before a folder's own
    storage is compared with it."""
    parsed = _parse_url(url)
    if not url.startswith("sqlite:///") or url.startswith("sqlite:////"):
        return url
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
        raise UsageError(f"{named(url)}: not a SQLite database ({exc})") from None
    if tables and "studies" not in tables:
        raise UsageError(f"{named(url)}: a database of something else "
                         f"({len(tables)} tables, none of Optuna's); name a new file")


def _address_fault(url: str) -> str | None:
    """What is wrong with the URL's host or port, in words, or None (SQLAlchemy's own
    words for these are int()'s: "invalid literal for int() with base 10: ':1'"). Asked
    only of a URL SQLAlchemy refused: urllib ends the host part at a '#', '?' or '/' of
    a password, which SQLAlchemy reads whole."""
    from urllib.parse import urlsplit

    try:
        split = urlsplit(url)
    except ValueError:  # urllib: "Invalid IPv6 URL"
        return "a '[' opens an IPv6 host that no ']' closes"
    try:
        split.port  # noqa: B018
    except ValueError:  # its text unsaid: read so, it may be part of a password
        port = split.netloc.rpartition(":")[2]
        return "its port is " + ("past 65535" if port.isdigit() else "not a number")
    return None


def _parse_url(url: str) -> Any:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if "://" not in url:
        raise UsageError(f"{named(url)}: not a database URL "
                         "(e.g. sqlite:///study.db, postgresql://user:pass@host/db)")
    if ambiguous_password(url) is not None:
        raise UsageError(f"{named(url)}: the password holds '@', which a URL must write as "
                         "%40 (else the host is read from inside the password)")
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018  (a non-integer port raises here)
    except (ArgumentError, ValueError) as exc:
        why = _address_fault(url) or hide_secret(str(exc), url)
        raise UsageError(f"{named(url)}: not a valid database URL ({why})") from None
    if parsed.drivername.partition("+")[0] == "postgres":  # libpq's spelling, not SQLAlchemy's
        raise UsageError(f"{named(url)}: write the scheme postgresql://, not postgres:// "
                         "(the database library knows only the first)")
    return parsed

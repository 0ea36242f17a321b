"""Where a study's trials are kept (sweep/study/storage.py), in process: the journal file
backend that names damage by file and line and never writes after it, never leaves a
torn line, and syncs what creates or finishes something; database URLs checked and
their passwords masked; a study's storage never mixed with another, never created by a
reader, never someone else's database. One real process: a database that never answers.
(The repair of a damaged journal: commands/test_doctor.py.)"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import sqlite3
import time
from urllib.parse import quote

import optuna
import pytest
from optuna.storages import JournalStorage

from sweep.errors import StudyError, UsageError
from sweep.study.paths import StudyPaths, storage_url_of
from sweep.study.storage import (
    IN_TRIAL,
    JournalDamaged,
    JournalFile,
    absolute_url,
    mask_url,
    open_storage,
    same_storage,
)
from tests.sweep.conftest import error_lines
from tests.sweep.faults.harness import SilentServer, sweep
from tests.sweep.studies import DAMAGE, damage, finished_study

REASONS = {"junk-last-line": "not JSON", "empty-line-inside": "empty",
           "not-utf8-inside": "not UTF-8", "json-not-an-object": "not an Optuna log record",
           "object-not-a-record": "not an Optuna log record",
           "record-of-unknown-kind": "a record of unknown kind (op_code 99)",
           "record-without-its-fields": "a record of kind 6 without trial_id, state, values"}


def load(journal) -> optuna.Study:
    storage = JournalStorage(JournalFile(journal))
    return optuna.load_study(study_name=journal.parent.name, storage=storage)


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_a_damaged_journal_is_named_and_never_written_after(kind, tmp_path):
    root = finished_study(tmp_path, "done")
    journal = root / "journal.log"
    _, line = damage(journal, kind)
    damaged = journal.read_bytes()
    with pytest.raises(JournalDamaged) as caught:
        load(journal).get_trials()
    message = str(caught.value)
    assert message.startswith(f"{journal}: line {line} is damaged ({REASONS[kind]})"), message
    assert "doctor --study done" in message and "\n" not in message
    with pytest.raises(JournalDamaged):  # a write reads the log first
        optuna.create_study(study_name="another", storage=JournalStorage(JournalFile(journal)))
    if kind == "junk-last-line":  # and an append checks the last line itself
        with pytest.raises(JournalDamaged):
            JournalFile(journal).append_logs([{"op_code": 0, "worker_id": "x"}])
    assert journal.read_bytes() == damaged


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_every_command_names_a_damaged_journal_and_leaves_it_alone(kind, made_study, cli,
                                                                   check_error):
    journal = made_study / "journal.log"
    _, line = damage(journal, kind)
    damaged = journal.read_bytes()
    for command in ("best", "trials", "report", "studies"):
        proc = cli(command, "--studies-dir", made_study.parent,
                   *(["--study", "done"] if command != "studies" else []))
        if command == "studies":
            row = next(r for r in proc.stdout.splitlines() if r.startswith("done "))
            assert f"line {line} is damaged" in row, proc.stdout
        else:
            check_error(proc, 1, str(journal), f"line {line}", "doctor")
        assert journal.read_bytes() == damaged, f"{command} wrote to the journal"


def test_a_torn_last_line_is_not_read_and_is_cut_before_the_next_append(tmp_path):
    """A writer killed mid-append leaves a line without its end: readers stop before it,
    and the next append cuts it off instead of gluing a record onto it."""
    root = finished_study(tmp_path, "done")
    journal = root / "journal.log"
    whole = journal.read_bytes()
    journal.write_bytes(whole + b'{"op_code": 5, "worker_id": "TORN')
    assert len(load(journal).get_trials()) == 3
    study = load(journal)
    study.set_user_attr("after", 1)
    assert journal.read_bytes().startswith(whole)
    assert journal.read_bytes().endswith(b"\n") and b'TORN' not in journal.read_bytes()
    assert load(journal).user_attrs["after"] == 1


def test_a_failed_append_is_cut_back_and_names_the_journal(tmp_path, monkeypatch):
    """A full disk during an append: the journal is as it was (Optuna's own backend left
    a torn line, and every later append glued onto it), and the error names the file."""
    root = finished_study(tmp_path, "done")
    journal = root / "journal.log"
    before = journal.read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as caught:
        load(journal).set_user_attr("x", 1)  # not in a trial: synced, so it fails here
    assert caught.value.filename == str(journal) and "No space left" in str(caught.value)
    assert journal.read_bytes() == before
    monkeypatch.undo()
    assert len(load(journal).get_trials()) == 3


def test_only_appends_inside_a_running_trial_skip_their_own_fsync(tmp_path):
    """The journal's op codes the fsync skips are Optuna's in-trial operations (a code
    renumbered by Optuna would make a trial's end skip its fsync), and an append that
    finishes a trial is synced."""
    from optuna.storages.journal._storage import JournalOperation as Op

    assert IN_TRIAL == {Op.SET_TRIAL_PARAM, Op.SET_TRIAL_INTERMEDIATE_VALUE,
                        Op.SET_TRIAL_USER_ATTR, Op.SET_TRIAL_SYSTEM_ATTR}
    synced: list[list[int]] = []
    real_fsync = os.fsync

    class Counting(JournalFile):
        def append_logs(self, logs):
            before = len(calls)
            super().append_logs(logs)
            synced.append([log["op_code"] for log in logs] + [len(calls) - before])

    calls: list[int] = []
    os.fsync = lambda fd: (calls.append(fd), real_fsync(fd))[1]
    try:
        storage = optuna.storages.JournalStorage(Counting(tmp_path / "j.log"))
        study = optuna.create_study(storage=storage, direction="maximize")
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        trial.report(0.5, 1)
        trial.set_user_attr("a", 1)
        study.tell(trial, 0.5)
    finally:
        os.fsync = real_fsync
    for *codes, fsyncs in synced:
        assert fsyncs == (0 if set(codes) <= IN_TRIAL else 1), (codes, fsyncs)
    assert synced[-1][0] == Op.SET_TRIAL_STATE_VALUES and synced[-1][-1] == 1


# -- database URLs -------------------------------------------------------------------------

PASSWORDS = ["se/cret", "p#ss", "p?ss", "p@ss", "p:ss", "p%20ss", "p&s=s+", "p ss", "pä$s!'\"`"]


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+psycopg2", "mysql"])
def test_a_password_is_never_shown(password, scheme, tmp_path):
    secret = quote(password, safe="")
    url = f"{scheme}://user:{secret}@127.0.0.1:1/db?connect_timeout=1"
    assert mask_url(url).startswith(f"{scheme}://user:***@127.0.0.1:1/db")
    with pytest.raises(UsageError) as caught:
        open_storage(tmp_path / "journal.log", url)
    message = str(caught.value)
    assert message.startswith("--storage ") and "***" in message and "\n" not in message
    for shown in (password, secret):
        assert shown not in message, message
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(("url", "needle"), [
    ("notaurl", "not a database URL"),
    ("user:s3cret@127.0.0.1:1/db", "not a database URL"),
    # hostile tester 19: int()'s "invalid literal for int() with base 10: 'abc'"
    ("postgresql://u:s3cret@127.0.0.1:abc/db", "not a valid database URL (its port is "
                                               "not a number)"),
    ("postgresql://u:s3cret@127.0.0.1:99999/db", "invalid port number"),  # libpq's words
    ("postgresql://u:s3cret@[::1/db", "not a valid database URL (a '[' opens an IPv6 host "
                                      "that no ']' closes)"),
    # hostile tester 20: a password with a bare '#', '?' or '/' (read whole by SQLAlchemy)
    # was read by urllib as ending the host part, and its start called the "port"
    ("postgresql://u:s3cret#x@127.0.0.1:1/db", "cannot open"),
    ("postgresql://u:s3cret?x@127.0.0.1:1/db", "cannot open"),
    ("postgresql://u:s3cret/x@127.0.0.1:1/db", "cannot open"),
    ("mysql://u:s3cret@h:-1/db", "mysql://u:***@h:-1/db"),
    ("sqlite://", "in-memory"),
    ("sqlite:///:memory:", "in-memory"),
    ("sqlite:////nonexistent/dir/x.db", "cannot open"),
    # hostile tester 15: "Can't load plugin: sqlalchemy.dialects:postgres"
    ("postgres://u:s3cret@127.0.0.1:1/db", "write the scheme postgresql://, not postgres://"),
    ("postgres+psycopg://u:s3cret@127.0.0.1:1/db", "write the scheme postgresql://"),
])
def test_a_bad_storage_url_is_one_line_without_the_password(url, needle, tmp_path):
    with pytest.raises(UsageError) as caught:
        open_storage(tmp_path / "journal.log", url)
    message = str(caught.value)
    assert message.startswith("--storage") and needle in message, message
    assert "s3cret" not in message and "\n" not in message
    assert not any(tmp_path.iterdir())


def test_someone_elses_sqlite_database_is_never_touched(tmp_path):
    db = tmp_path / "theirs.db"
    with contextlib.closing(sqlite3.connect(db)) as con:
        con.execute("CREATE TABLE invoices (id INTEGER)")
        con.commit()
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    with pytest.raises(UsageError, match="none of Optuna's"):
        open_storage(tmp_path / "s" / "journal.log", f"sqlite:///{db}")
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert not (tmp_path / "s").exists()


def test_a_reader_never_creates_a_storage(tmp_path):
    with pytest.raises(StudyError, match="no study journal"):
        open_storage(tmp_path / "s" / "journal.log", create=False)
    with pytest.raises(StudyError, match="no such database file"):
        open_storage(tmp_path / "j.log", f"sqlite:///{tmp_path / 'new.db'}", create=False)
    assert not any(tmp_path.iterdir())


def test_read_commands_never_create_storage(made_study, tmp_path, cli, check_error):
    db = tmp_path / "new.db"
    for command in ("best", "trials", "report"):
        # a study that lives in its journal: another storage is refused, nothing made
        proc = cli(command, "--storage", f"sqlite:///{db}", "--studies-dir", made_study.parent,
                   "--study", "done")
        check_error(proc, 2, "journal")
        assert not db.exists()
    studies = tmp_path / "others"  # a study whose study.json names a database now gone
    (studies / "gone").mkdir(parents=True)
    (studies / "gone" / "study.json").write_text(json.dumps({"storage": f"sqlite:///{db}"}))
    for command in ("best", "trials", "report"):
        proc = cli(command, "--studies-dir", studies, "--study", "gone")
        check_error(proc, 1, "no such database file")
        assert not db.exists()


def test_a_journal_study_is_never_mixed_with_another_storage(made_study, tmp_path, cli,
                                                            check_error):
    paths = StudyPaths(made_study)
    db = tmp_path / "o.db"
    with pytest.raises(UsageError, match="journal"):
        storage_url_of(paths, f"sqlite:///{db}")
    for how in ({"args": ["--storage", f"sqlite:///{db}"]},
                {"env": {"SWEEP_STORAGE": f"sqlite:///{db}"}}):
        best = cli("best", "--studies-dir", made_study.parent, "--study", "done",
                   *how.get("args", []), env=how.get("env"))
        check_error(best, 2, "journal")
    assert not db.exists()



def test_the_same_database_spelled_otherwise_is_the_same_storage(tmp_path, monkeypatch):
    """The driver, the password, the user, query options and the host's spelling aside,
    the backend, database name and port must match; SQLite files by their path. (With a
    real server and real runs: study/test_database_outage.py.)"""
    url = "postgresql+psycopg://sweep:pw@127.0.0.1:5433/db"
    for other in ("postgresql://sweep:pw@127.0.0.1:5433/db",
                  "postgresql://other:secret@localhost:5433/db",
                  "postgresql+psycopg://sweep:pw@127.0.0.1:5433/db?connect_timeout=5"):
        assert same_storage(url, other), other
    for other in ("postgresql://sweep:pw@127.0.0.1:5433/db2",
                  "postgresql://sweep:pw@127.0.0.1/db",  # the default port, 5432
                  "mysql://sweep:pw@127.0.0.1:5433/db", "sqlite:///db"):
        assert not same_storage(url, other), other
    assert same_storage("postgresql://localhost/db", "postgresql://localhost:5432/db")
    monkeypatch.chdir(tmp_path)
    assert same_storage("sqlite:///a.db", f"sqlite:///{tmp_path / 'a.db'}")
    assert not same_storage("sqlite:///a.db", "sqlite:///b.db")
    assert same_storage(None, None) and not same_storage(None, "sqlite:///a.db")

@pytest.mark.slow  # creates a SQLite database of Optuna's: seconds
def test_a_relative_sqlite_path_is_stored_absolute(tmp_path, monkeypatch, cli):
    """A study in ``sqlite:///rel.db`` made from folder a is found from folder b: its
    study.json records where the database is, not where it was relative to a."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    url = absolute_url("sqlite:///rel.db")
    assert url == f"sqlite:///{tmp_path / 'a' / 'rel.db'}"
    assert absolute_url(url) == url and absolute_url("postgresql://h/db") == "postgresql://h/db"
    paths = StudyPaths(tmp_path / "studies" / "q")
    assert storage_url_of(paths, "sqlite:///rel.db") == url
    finished_study(tmp_path / "studies", "q", trials=1, storage=url)
    assert json.loads(paths.meta.read_text())["storage"] == url
    monkeypatch.chdir(tmp_path / "b")
    assert storage_url_of(paths, None) == url  # no --storage: the recorded one
    best = cli("best", "--studies-dir", tmp_path / "studies", "--study", "q")
    assert best.returncode == 0, best.stderr
    assert not (tmp_path / "b" / "rel.db").exists()


@pytest.mark.slow
def test_a_database_that_never_answers_is_an_error_within_seconds(tmp_path):
    """A server that accepts the connection and never says a word: a one-line error
    within the connect time-out (10 s), exit 2, never a hang."""
    pytest.importorskip("psycopg", reason="the PostgreSQL driver comes with the test extra")
    server = SilentServer()
    try:
        started = time.monotonic()
        proc = sweep("run", "--trials", 1, "--storage",
                     f"postgresql://u:secret@127.0.0.1:{server.port}/db", "--studies-dir",
                     tmp_path / "s", "--study", "x", cwd=tmp_path, timeout=120)
        took = time.monotonic() - started
    finally:
        server.close()
    assert proc.returncode == 2, proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and "--storage" in lines[0] and "***" in lines[0], proc.stderr
    assert "secret" not in proc.stderr and "Traceback" not in proc.stderr
    assert took < 40, f"took {took:.0f}s"
    assert server.conns, "the run never connected"


def test_a_database_driver_not_installed_is_named(tmp_path):
    """Hostile tester 20: Optuna's "Failed to import DB access module for the specified
    storage URL. Please install appropriate one." named neither the module nor which."""
    import importlib.util

    drivers = {"mysql+pymysql": "pymysql", "mysql+mysqldb": "MySQLdb",
               "postgresql+pg8000": "pg8000", "mssql+pymssql": "pymssql"}
    scheme, module = next((s, m) for s, m in drivers.items()
                          if importlib.util.find_spec(m) is None)
    with pytest.raises(UsageError) as caught:
        open_storage(tmp_path / "journal.log", f"{scheme}://u:s3cret@127.0.0.1:1/db")
    message = str(caught.value)
    assert f"the Python module {module}, is not installed" in message, message
    assert "s3cret" not in message and "appropriate" not in message

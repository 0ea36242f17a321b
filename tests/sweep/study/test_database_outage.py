"""A PostgreSQL study whose server restarts, dies, refuses or is spelled otherwise
(issue 25): real servers (initdb in a temporary folder), really restarted with
``pg_ctl restart -m fast`` and killed with SIGKILL, real roles, real connections."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from tests.sweep.conftest import error_lines
from tests.sweep.faults.harness import (
    Running,
    check_retries,
    finished_for_the_budget,
    sweep,
    wait_for,
)
from tests.sweep.postgres import SUPERUSER, Cluster, running_cluster

pytestmark = pytest.mark.slow
STUDY = "outage"


class OwnCluster(Cluster):
    """A server of this module's own, which its tests restart and kill."""

    def __init__(self, settings: str = "") -> None:
        super().__init__()
        self.settings = settings
        if settings:
            self.restart()

    def _options(self) -> str:
        return (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c max_connections=200 {self.settings}")

    def restart(self) -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w",
                  "-t", "60", "-o", self._options(), "restart")

    def start(self) -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", self._options(), "start")

    def kill(self) -> None:
        """SIGKILL to the server (the postmaster): its sessions end with it."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not Path(f"/proc/{pid}").exists(), 10, "the server to die")

    def sql(self, statement: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=database,
                             autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement)


def _cluster(settings: str = "") -> Iterator[OwnCluster]:
    yield from running_cluster(lambda: OwnCluster(settings))


@pytest.fixture(scope="module")
def server() -> Iterator[OwnCluster]:
    yield from _cluster()


def trials_in(url: str, study: str = STUDY) -> list[FrozenTrial]:
    """The study's trials as the database has them (Optuna's own storage; [] while the
    server is away or the study not made yet)."""
    from optuna.storages import RDBStorage

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            storage = RDBStorage(url, skip_table_creation=True)
            try:
                return optuna.load_study(study_name=study, storage=storage).get_trials()
            finally:
                storage.engine.dispose()
        except Exception:  # noqa: BLE001  (away, or not made yet)
            return []


def in_flight(url: str) -> list[FrozenTrial]:
    return [t for t in trials_in(url) if t.state == TrialState.RUNNING and t.intermediate_values]


def check_books(url: str, studies: Path, trials: int) -> list[FrozenTrial]:
    """Nothing RUNNING, the budget exact, every trial.json saying what the database says."""
    stored = trials_in(url)
    assert stored and not [t.number for t in stored if not t.state.is_finished()], \
        [(t.number, t.state.name) for t in stored]
    check_retries(stored)
    assert len(finished_for_the_budget(stored)) == trials, [(t.number, t.state.name)
                                                            for t in stored]
    for t in stored:
        doc = json.loads((studies / STUDY / "trials" / f"{t.number:04d}" / "trial.json")
                         .read_text())
        assert doc["state"] == t.state.name, (t.number, doc["state"], t.state.name)
    return stored


def one_line(stderr: str, *needles: str) -> str:
    lines = error_lines(stderr)
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def test_a_server_restarted_mid_study_costs_the_study_nothing(tmp_path, run_args, server):
    """pg_ctl restart -m fast while trials train: every connection the run and its
    workers hold is cut. The pool replaces them (pre-ping) and the operation that hit the
    cut is retried: the run ends normally, with a row for every trial and no trial left
    RUNNING anywhere."""
    url = server.new_database()
    studies = tmp_path / "studies"
    loud = [a for a in run_args(studies, STUDY, trials=6, jobs=2, epochs=4) if a != "--quiet"]
    run = Running(*loud, "--storage", url, "--lag", "off", cwd=tmp_path, log=tmp_path / "run",
                  faults={"SWEEP_FAULT_SLEEP": 0.5})
    try:
        wait_for(lambda: in_flight(url), 90, "a trial past its first epoch")
        server.restart()
        rc = run.wait(180)
    finally:
        run.close()
    assert rc == 0, run.output()
    assert "Traceback" not in run.stderr and "exceeding max length" not in run.output(), \
        run.output()
    stored = check_books(url, studies, 6)
    rows = [line.split()[0] for line in run.stderr.splitlines()  # a row per finished trial
            if line.split() and line.split()[0].isdigit() and len(line.split()) > 3]
    assert sorted(map(int, rows)) == sorted(t.number for t in stored), run.output()


def test_a_server_killed_mid_trial_is_one_line_and_the_next_run_resumes(tmp_path, run_args,
                                                                        server):
    """The server SIGKILLed while trials train and not started again: the run retries for
    a bounded time, then stops with one line naming the database (exit 1), its workers
    gone. Once the server is back, the same command fails the trials the outage left
    RUNNING, retries them and reaches the total."""
    url = server.new_database()
    studies = tmp_path / "studies"
    args = [*run_args(studies, STUDY, trials=4, jobs=2, epochs=4), "--storage", url,
            "--lag", "off"]
    # the database given up after 8 s away, not 30
    run = Running(*args, cwd=tmp_path, log=tmp_path / "run",
                  faults={"SWEEP_FAULT_SLEEP": 0.5, "SWEEP_FAULT_RECONNECT": 8})
    try:
        wait_for(lambda: in_flight(url), 90, "a trial past its first epoch")
        server.kill()
        rc = run.wait(150)  # the run ends by itself: no hang
    finally:
        run.close()
        server.start()
    assert rc == 1, run.output()
    line = one_line(run.stderr, "database", "unavailable", "***")
    assert "pw@" not in run.output(), line  # the password never shows
    assert [t for t in trials_in(url) if t.state == TrialState.RUNNING]  # the outage's
    again = sweep(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    stored = check_books(url, studies, 4)
    assert [t for t in stored if t.state == TrialState.FAIL and "found by a later run" in
            t.user_attrs.get("reason", "")], [(t.number, t.user_attrs) for t in stored]


def test_a_statement_timeout_is_one_line_and_not_retried(tmp_path, server):
    """A statement that runs into the server's statement_timeout (a table locked by
    another session, here a sleep) is a `DatabaseError` of one line with the server's
    reason, at once: not retried for 30 s, not Optuna's "exceeding max length"."""
    from sqlalchemy import text

    from sweep.study.database import Database, DatabaseError
    from sweep.study.storage import open_storage

    storage = open_storage(tmp_path / "journal.log", server.new_database())
    assert isinstance(storage, Database)

    def sleepy() -> None:
        with storage.engine.connect() as connection:
            connection.execute(text("SET statement_timeout = 200"))
            connection.execute(text("SELECT pg_sleep(5)"))

    started = time.monotonic()
    try:
        with pytest.raises(DatabaseError) as caught:
            storage.retrying(sleepy)
    finally:
        storage.engine.dispose()
    message = str(caught.value)
    assert time.monotonic() - started < 4  # once, not retried
    assert "\n" not in message and "***" in message and "pw@" not in message, message
    assert "statement timeout" in message and "statement_timeout" in message, message

def test_a_user_who_may_only_read_is_told_before_anything_is_made(tmp_path, run_args, server):
    """A run as a SELECT-only user stops at once with the permission the user lacks, not
    Optuna's "exceeding max length"; nothing is left in the studies folder; the reading
    commands work for that user."""
    url = server.new_database()
    database = url.rsplit("/", 1)[1]
    made = sweep(*run_args(tmp_path / "owner", STUDY, trials=2), "--storage", url,
                 cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    server.sql("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'reader') "
               "THEN CREATE ROLE reader LOGIN; END IF; END $$")
    server.sql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader", database)
    reader = url.replace(f"{SUPERUSER}:pw@", "reader:pw@")
    studies = tmp_path / "studies"
    proc = sweep(*run_args(studies, STUDY, trials=4), "--storage", reader, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    one_line(proc.stderr, "may not write", "INSERT")
    assert not studies.exists(), list(studies.rglob("*"))
    read = sweep("trials", "--storage", reader, "--study", STUDY, "--studies-dir", studies,
                 cwd=tmp_path)
    assert read.returncode == 0 and read.stdout.count("complete") == 2, read.stderr


def test_a_database_study_is_read_from_a_folder_that_never_ran_it(tmp_path, run_args, server):
    """best, trials, report and sweep.load with --storage read the database from any
    machine, as the README says: a studies folder that never ran the study is only where
    trial folders are looked for; the best trial's folder is named as elsewhere."""
    url = server.new_database()
    ran = sweep(*run_args(tmp_path / "ran-here", STUDY, trials=3), "--storage", url,
                cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    elsewhere = tmp_path / "elsewhere"
    where = ["--storage", url, "--study", STUDY, "--studies-dir", elsewhere]
    for command in (["trials"], ["best"], ["report"]):
        proc = sweep(*command, *where, cwd=tmp_path)
        assert proc.returncode == 0, (command, proc.stderr)
    trials = sweep("trials", "-f", "json", *where, cwd=tmp_path)
    assert len(json.loads(trials.stdout)["trials"]) == 3
    assert "have no experiment files" in sweep("best", *where, cwd=tmp_path).stderr
    assert (elsewhere / STUDY / "report" / "index.html").is_file()
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, sweep; r = sweep.load(sys.argv[1], sys.argv[2], "
         "sys.argv[3]); print(r.counts.finished)", STUDY, str(tmp_path / "nowhere"), url],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0 and loaded.stdout.strip() == "3", loaded.stderr
    missing = sweep("trials", "--storage", url, "--study", "other", "--studies-dir", elsewhere,
                    cwd=tmp_path)
    assert missing.returncode == 1, missing.stderr
    one_line(missing.stderr, "no study named 'other' in the database", "***", repr(STUDY))
    # the run's own summary, on a machine whose best trial ran elsewhere, names no folder
    # that is not there
    more = sweep(*run_args(tmp_path / "second", STUDY, trials=4), "--storage", url,
                 cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    best = " ".join(more.stdout.split("best:", 1)[1].split())
    if "its folder is on" not in best:
        assert Path(best.rsplit("-> ", 1)[1]).is_dir(), best


def test_the_same_database_spelled_otherwise_is_the_same_storage(tmp_path, run_args, server):
    """A study folder made with one spelling of its database URL takes another spelling
    of the same database (driver, host name, query options) instead of refusing it as
    another storage; a really different database is still refused."""
    url = server.new_database()
    studies = tmp_path / "studies"
    first = sweep(*run_args(studies, STUDY, trials=2), "--storage", url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    spellings = {"driver": url.replace("postgresql+psycopg://", "postgresql://"),
                 "localhost": url.replace("@127.0.0.1:", "@localhost:"),
                 "options": url + "?connect_timeout=5"}
    for trials, (spelling, other) in enumerate(spellings.items(), start=3):
        again = sweep(*run_args(studies, STUDY, trials=trials), "--storage", other,
                      cwd=tmp_path)
        assert again.returncode == 0, (spelling, again.stderr)
        assert len(trials_in(url)) == trials, spelling
    different = sweep(*run_args(studies, STUDY, trials=6), "--storage",
                      server.new_database(), cwd=tmp_path)
    assert different.returncode == 2, different.stderr
    one_line(different.stderr, "another storage")


def test_watch_carries_on_over_a_server_restart(tmp_path, run_args, server):
    """trials --watch against a database whose server restarts: the view goes on (as it
    does for a journal being repaired) and ends by itself once the study is done."""
    url = server.new_database()
    studies = tmp_path / "studies"
    made = sweep(*run_args(studies, STUDY, trials=2), "--storage", url, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    server.sql("SELECT 1")
    watch = Running("trials", "--watch", "0.5", "--storage", url, "--study", STUDY,
                    "--studies-dir", studies, cwd=tmp_path, log=tmp_path / "watch")
    try:
        wait_for(lambda: "finished" in watch.stdout, 60, "a first frame")
        server.restart()
        rc = watch.wait(120)
    finally:
        watch.close()
    assert rc == 0, watch.output()
    assert "Traceback" not in watch.stderr and "error" not in watch.stderr, watch.output()
    assert "the view ends" in watch.stdout, watch.output()


@pytest.fixture(scope="module")
def small_server() -> Iterator[OwnCluster]:
    """A server that takes few connections."""
    yield from _cluster("-c max_connections=8 -c superuser_reserved_connections=0")


def test_a_server_out_of_connections_is_named(tmp_path, run_args, small_server):
    """max_connections used up: one line saying so (and what a run holds), not Optuna's
    "exceeding max length"."""
    import psycopg

    url = small_server.new_database()
    held = []
    try:
        while True:
            try:
                held.append(psycopg.connect(host="127.0.0.1", port=small_server.port,
                                            user=SUPERUSER, dbname="postgres",
                                            connect_timeout=5))
            except psycopg.OperationalError:
                break
        proc = sweep(*run_args(tmp_path / "studies", STUDY, trials=2), "--storage", url,
                     cwd=tmp_path)
    finally:
        for conn in held:
            conn.close()
    assert proc.returncode == 2, proc.stderr
    one_line(proc.stderr, "max_connections", "too many clients")

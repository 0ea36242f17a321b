"""A PostgreSQL server that keeps its connections but stops answering (SIGSTOP: a hung
or suspended database host). Hostile tester 9: the run printed nothing more for 100 s
and never stopped; no server time-out fires and the kernel still acknowledges, so the
harness watches its own statements (sweep/study/silence.py)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.sweep.faults.harness import Running, wait_for


def _server_pids(data: Path) -> list[int]:
    """The postmaster and its children (every backend, every auxiliary process)."""
    main = int((data / "postmaster.pid").read_text().split()[0])
    pids = [main]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == main:
                pids.append(int(entry.name))
    return pids


@pytest.mark.slow
def test_a_database_that_stops_answering_mid_run_is_said_then_ends_the_run(
        postgres, run_args, tmp_path):
    url = postgres.new_database()
    studies = tmp_path / "studies"
    args = [*run_args(studies, "frozen", trials=12, jobs=2, epochs=2), "--storage", url]
    args.remove("--quiet")
    # said after 2 s without an answer, cut after 6 (10 and 60 s outside tests)
    run = Running(*args, cwd=tmp_path, log=tmp_path / "run",
                  faults={"SWEEP_FAULT_SLEEP": 0.5, "SWEEP_FAULT_UNANSWERED": "2:6",
                          "PYTHONUNBUFFERED": 1})
    stopped: list[int] = []
    try:
        wait_for(lambda: list((studies / "frozen" / "trials").glob("*/metrics.json")), 120,
                 "a first finished trial")
        before = len(run.stdout + run.stderr)
        stopped = _server_pids(postgres.data)
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and run.proc.poll() is None:
            time.sleep(1)
        ended = run.proc.poll()
        said = (run.stdout + run.stderr)[before:]
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        run.close()
    assert ended == 1, (ended, said[-3000:])
    notices = [line for line in said.splitlines() if "giving up if none comes" in line]
    assert len(notices) == 1, said[-3000:]  # said once, not by every waiting thread
    assert "Traceback" not in said, said[-3000:]
    errors = [line for line in said.splitlines() if "error:" in line]
    assert len(errors) == 1 and "no answer to a statement" in errors[0], said[-3000:]


@pytest.mark.slow  # a real server
def test_a_long_wait_for_the_studys_lock_is_not_taken_for_a_silent_server(
        postgres, tmp_path, monkeypatch):
    """The study's database lock is waited for by polling inside one operation: each
    poll is answered, so a lock held longer than the silence limits is a lock wait
    (said as one, ended by its own limit), never a server said to be stopped and cut."""
    import psycopg

    from sweep.study import silence
    from sweep.study.locks import database_lock, lock_key
    from sweep.study.storage import open_storage
    from sweep.study.waiting import WaitedTooLong, saying

    monkeypatch.setattr(silence, "NOTICE_AFTER_S", 1.0)
    monkeypatch.setattr(silence, "UNANSWERED_LIMIT_S", 2.0)
    url = postgres.new_database()
    storage = open_storage(tmp_path / "journal.log", url, create=True)
    other = psycopg.connect(host="127.0.0.1", port=postgres.port, user="sweep",
                            dbname=url.rsplit("/", 1)[1], autocommit=True)
    said: list[str] = []
    try:
        other.execute("SELECT pg_advisory_lock(%s)", (lock_key("held"),))
        with saying(said.append), pytest.raises(WaitedTooLong):
            with database_lock(storage, "held", limit=5):
                pass
    finally:
        other.close()
    assert not [line for line in said if "no answer" in line], said
    storage.get_all_studies()  # its connections were not cut: it still works


@pytest.mark.slow  # a real server
def test_a_connection_opened_in_a_silence_waits_briefly_for_the_server(postgres, tmp_path):
    """Cutting a silent server's connections makes the pool open a new one at once (its
    check before use), to the same silent server: that connection, and any other opened
    while the silence lasts, gets `SILENT_CONNECT_TIMEOUT` seconds to be accepted, not
    the usual ten, so the run's one line comes soon after the limit. Once an answer
    comes, connections get the usual time again."""
    from sqlalchemy import event

    from sweep.study import silence
    from sweep.study.storage import CONNECT_TIMEOUT, open_storage

    storage = open_storage(tmp_path / "journal.log", postgres.new_database(), create=True)
    given: list[object] = []
    event.listen(storage.engine, "do_connect",
                 lambda dialect, record, cargs, cparams: given.append(
                     cparams.get("connect_timeout")))
    storage.engine.dispose()  # the next operation opens a connection
    storage.attempts.silent = "no answer to a statement for 60s"
    storage.retrying(storage.get_all_studies)  # answered: the silence is over
    storage.engine.dispose()
    storage.retrying(storage.get_all_studies)
    assert given == [silence.SILENT_CONNECT_TIMEOUT, CONNECT_TIMEOUT], given
    assert not storage.attempts.silent

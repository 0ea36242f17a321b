"""Runs that wait for a lock someone holds (issue 25): a real ``flock`` held by
``flock(1)``, a real advisory lock held by another PostgreSQL session. Every such wait
says who holds the lock, and the run goes on once it is free. The waits themselves (their
lines, their bound): study/test_waiting.py; a worker stopped while it holds the study's
lock: execution/test_faults.py."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sweep.execution.controller import LOOK_EVERY
from sweep.study.waiting import who_holds
from tests.sweep.conftest import error_lines
from tests.sweep.faults.harness import Running, check_study, sweep, wait_for

pytestmark = pytest.mark.slow

STUDY = "waits"


@pytest.fixture
def two_trials(tmp_path, run_args) -> Path:
    """The studies folder of a finished 2-trial journal study."""
    studies = tmp_path / "studies"
    proc = sweep(*run_args(studies, STUDY, trials=2), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return studies


def hold(path: Path, seconds: float) -> subprocess.Popen:
    """``flock PATH sleep SECONDS``, the lock taken before it returns."""
    holder = subprocess.Popen(["flock", str(path), "sleep", str(seconds)],
                              start_new_session=True)
    wait_for(lambda: who_holds(path) == holder.pid, 10, "flock to take the lock")
    return holder


def release(holder: subprocess.Popen) -> None:
    """End flock and its sleep (which shares the locked file, and so the lock)."""
    try:
        os.killpg(holder.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    holder.wait(10)


@pytest.mark.parametrize("lock", [".lock", "journal.log.flock"])
def test_a_run_names_who_holds_the_studys_lock_and_goes_on_when_it_is_free(
        two_trials, tmp_path, run_args, lock):
    """``flock studies/s/.lock sleep 100`` (or the journal's write lock): a new run says on
    one line which process holds the lock and how long it has waited, and carries on as
    soon as the lock is free. Its workers, waiting meanwhile for a lock the run holds,
    add no line naming the run: it is the run's own wait that says who holds things up."""
    path = two_trials / STUDY / lock
    holder = hold(path, 100)
    try:
        run = Running(*run_args(two_trials, STUDY, trials=4), cwd=tmp_path,
                      log=tmp_path / "run")
        try:
            wait_for(lambda: "held by" in run.stderr, 30, "a line about the wait")
            time.sleep(2 * LOOK_EVERY)  # past the workers' own first lines, if any
            assert run.proc.poll() is None, run.output()
            release(holder)
            rc = run.wait(120)
        finally:
            run.close()
    finally:
        release(holder)
    assert rc == 0, run.output()
    lines = [line for line in run.stderr.splitlines() if "held by" in line]
    assert lines and all(f"held by process {holder.pid} (flock)" in line for line in lines), \
        run.output()
    assert str(path) in lines[0], lines
    assert "Traceback" not in run.stderr, run.output()
    check_study(two_trials / STUDY, finished=4)


def test_a_database_lock_held_by_another_session_is_named_and_waited_for(
        tmp_path, run_args, postgres):
    """Another machine (here: a session of the test) holding the study's advisory lock:
    a new run says on one line which session holds it, and goes on once it is free;
    the bound ends the wait in one line naming the session, not a QueryCanceled
    traceback two minutes later."""
    import psycopg

    from sweep.study.locks import database_lock, lock_key
    from sweep.study.storage import open_storage
    from sweep.study.waiting import WaitedTooLong

    url = postgres.new_database()
    studies = tmp_path / "studies"
    made = sweep(*run_args(studies, STUDY, trials=2), "--storage", url, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    other = psycopg.connect(host="127.0.0.1", port=postgres.port, user="sweep",
                            dbname=url.rsplit("/", 1)[1], autocommit=True,
                            application_name="another machine")
    try:
        other.execute("SELECT pg_advisory_lock(%s)", (lock_key(STUDY),))
        run = Running(*run_args(studies, STUDY, trials=4), "--storage", url, cwd=tmp_path,
                      log=tmp_path / "run")
        try:
            wait_for(lambda: "database lock" in run.stderr, 30, "a line about the wait")
            storage = open_storage(studies / STUDY / "journal.log", url, create=False)
            with pytest.raises(WaitedTooLong) as caught, \
                    database_lock(storage, STUDY, limit=2):
                pass
            other.execute("SELECT pg_advisory_unlock(%s)", (lock_key(STUDY),))
            rc = run.wait(120)
        finally:
            run.close()
    finally:
        other.close()
    assert rc == 0, run.output()
    line = next(line for line in run.stderr.splitlines() if "database lock" in line)
    assert "held by another session" in line and "'another machine'" in line, line
    message = str(caught.value)
    assert "'another machine'" in message and "gave up after 2s" in message, message
    assert "\n" not in message
    assert not error_lines(run.stderr) and "Traceback" not in run.stderr, run.output()

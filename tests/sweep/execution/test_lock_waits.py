"""Waits for a lock that someone holds (issue 25): a real ``flock`` held by ``flock(1)``
or by a worker stopped with SIGSTOP, a real advisory lock held by another PostgreSQL
session. Every such wait says who holds the lock, and ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.sweep.conftest import error_lines
from tests.sweep.faults.harness import (
    Running,
    check_study,
    pid_alive,
    stored_trials,
    sweep,
    wait_for,
)

STUDY = "waits"


def held_by(path: Path) -> int | None:
    """The pid /proc/locks names as holding a flock on ``path``."""
    st = path.stat()
    for line in Path("/proc/locks").read_text().splitlines():
        parts = line.split()
        if len(parts) > 5 and parts[1] == "FLOCK":
            major, minor, inode = parts[5].split(":")
            if int(inode) == st.st_ino and (int(major, 16), int(minor, 16)) == \
                    (os.major(st.st_dev), os.minor(st.st_dev)):
                return int(parts[4])
    return None


@pytest.fixture
def made_study(tmp_path, run_args) -> Path:
    studies = tmp_path / "studies"
    proc = sweep(*run_args(studies, STUDY, trials=2), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return studies


def hold(path: Path, seconds: float) -> subprocess.Popen:
    """``flock PATH sleep SECONDS``, the lock taken before it returns."""
    holder = subprocess.Popen(["flock", str(path), "sleep", str(seconds)],
                              start_new_session=True)
    wait_for(lambda: held_by(path) == holder.pid, 10, "flock to take the lock")
    return holder


def release(holder: subprocess.Popen) -> None:
    """End flock and its sleep (which shares the locked file, and so the lock)."""
    try:
        os.killpg(holder.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    holder.wait(10)


@pytest.mark.slow
@pytest.mark.parametrize("lock", [".lock", "journal.log.flock"])
def test_a_run_names_who_holds_the_studys_lock_and_goes_on_when_it_is_free(
        made_study, tmp_path, run_args, lock):
    """``flock studies/s/.lock sleep 100`` (or the journal's write lock): a new run says on
    one line which process holds the lock and how long it has waited, and carries on as
    soon as the lock is free."""
    path = made_study / STUDY / lock
    holder = hold(path, 100)
    try:
        run = Running(*run_args(made_study, STUDY, trials=4), cwd=tmp_path,
                      log=tmp_path / "run")
        try:
            wait_for(lambda: "held by" in run.stderr, 30, "a line about the wait")
            assert run.proc.poll() is None, run.output()
            release(holder)
            rc = run.wait(120)
        finally:
            run.close()
    finally:
        release(holder)
    assert rc == 0, run.output()
    line = next(line for line in run.stderr.splitlines() if "held by" in line)
    assert f"held by process {holder.pid} (flock)" in line and str(path) in line, line
    assert "Traceback" not in run.stderr, run.output()
    check_study(made_study / STUDY, finished=4)


def test_a_wait_for_the_studys_lock_ends_in_one_line_naming_its_holder(tmp_path):
    """The bound: a lock held longer than the wait's limit is an error that names the
    holding process; the holder keeps its lock, nothing else is touched."""
    from sweep.study.locks import study_lock
    from sweep.study.paths import StudyPaths
    from sweep.study.waiting import WaitedTooLong

    paths = StudyPaths(tmp_path / STUDY)
    paths.root.mkdir()
    paths.lock.touch()
    holder = hold(paths.lock, 60)
    try:
        started = time.monotonic()
        with pytest.raises(WaitedTooLong) as caught, study_lock(paths, limit=2):
            pass
        assert time.monotonic() - started < 10
        assert held_by(paths.lock) == holder.pid
    finally:
        release(holder)
    message = str(caught.value)
    assert "\n" not in message and f"process {holder.pid} (flock)" in message, message
    assert "gave up after 2s" in message and str(paths.lock) in message, message
    with study_lock(paths, limit=2):  # free again
        pass


def test_a_lock_wait_names_a_stopped_holder(tmp_path):
    """A holder stopped with SIGSTOP is named as stopped: the one to look at."""
    from sweep.study.waiting import describe_process, who_holds

    path = tmp_path / "lock"
    path.touch()
    holder = hold(path, 60)
    try:
        os.kill(holder.pid, signal.SIGSTOP)
        wait_for(lambda: "stopped" in describe_process(holder.pid), 10, "the stop")
        assert who_holds(path) == holder.pid
        assert describe_process(who_holds(path)) == f"process {holder.pid} (flock, stopped)"
    finally:
        os.kill(holder.pid, signal.SIGCONT)
        release(holder)


@pytest.mark.slow
def test_a_worker_stopped_while_it_holds_the_studys_lock_is_replaced(tmp_path, run_args):
    """SIGSTOP to a worker inside ``ask`` (it holds the study's lock; its new trial has no
    worker recorded yet): every other worker waits for that lock, and --stall-timeout
    watches it too. The stopped worker is replaced, the trial it was creating fails with
    the stall's reason, and the study reaches its total."""
    studies = tmp_path / "studies"
    run = Running(*run_args(studies, STUDY, trials=5), "--stall-timeout", "8s", "--lag", "off",
                  cwd=tmp_path, log=tmp_path / "run", faults={"SWEEP_FAULT_ASK_SLEEP": 2})
    lock = studies / STUDY / ".lock"
    try:
        victim = wait_for(lambda: lock.exists() and (pid := held_by(lock)) not in
                          (None, run.pid) and pid, 60, "a worker inside ask")
        os.kill(victim, signal.SIGSTOP)
        stopped_at = time.monotonic()
        rc = run.wait(120)
        seconds = time.monotonic() - stopped_at
    finally:
        run.close()
        if pid_alive(victim):
            os.kill(victim, signal.SIGKILL)
    assert rc == 0, run.output()
    assert seconds < 60, seconds
    assert not pid_alive(victim), "the stopped worker was left behind"
    assert f"worker {victim}: holding the study's lock" in run.stderr, run.output()
    trials = check_study(studies / STUDY, finished=5)
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert len(failed) == 1, [(t.number, t.state.name) for t in trials]
    assert "no progress" in failed[0].user_attrs["reason"], failed[0].user_attrs
    assert "holding the study's lock" in failed[0].user_attrs["reason"]


@pytest.mark.slow
def test_a_short_stall_timeout_fails_no_healthy_trial(tmp_path, mnist):
    """--stall-timeout 1s with trials whose epochs take longer than that: a worker that
    computes is making progress, so none is taken for stalled (2 of 4 were)."""
    studies = tmp_path / "studies"
    space = tmp_path / "space.toml"
    space.write_text("[params.hidden_size]\nlow = 256\nhigh = 512\n"
                     "[params.batch_size]\nchoices = [32]\n")
    proc = sweep("run", "--trials", 4, "--jobs", 2, "--epochs", 2, "--train-limit", 8000,
                 "--space", space, "--pruner", "none", "--studies-dir", studies, "--study",
                 STUDY, "--no-report", "--no-plots", "--quiet", "--stall-timeout", "1s",
                 cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    trials = stored_trials(studies / STUDY)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4, \
        [(t.number, t.state.name, t.user_attrs.get("reason")) for t in trials]
    epochs = [s for t in trials for s in _epoch_seconds(studies / STUDY, t.number)]
    assert max(epochs) > 1.0, epochs  # the limit was really shorter than an epoch


def _epoch_seconds(root: Path, number: int) -> list[float]:
    import csv

    with open(root / "trials" / f"{number:04d}" / "history.csv") as f:
        return [float(row["seconds"]) for row in csv.DictReader(f)]


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_stopped_worker_of_the_run_is_named_as_stopped_not_dead(tmp_path, run_args,
                                                                 postgres):
    """In a database study a SIGSTOPped worker stops beating. The run it belongs to is
    alive: the trial is failed as its worker "stopped or hung" (not "its run or machine
    died"), the worker is replaced and the study reaches its total."""
    from optuna.trial import TrialState

    from tests.sweep.test_machines import shared_trials

    url = postgres.new_database()
    run = Running(*run_args(tmp_path / "studies", "shared", trials=4, epochs=3),
                  "--storage", url, "--heartbeat", 1, "--lag", "off", cwd=tmp_path,
                  log=tmp_path / "run", faults={"SWEEP_FAULT_SLEEP": 1.0})
    try:
        victim = wait_for(lambda: [t for t in shared_trials(url)
                                   if t.state == TrialState.RUNNING and t.intermediate_values],
                          90, "a trial past its first epoch")[0]
        pid = victim.user_attrs["pid"]
        os.kill(pid, signal.SIGSTOP)
        rc = run.wait(120)
    finally:
        run.close()
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    assert rc == 0, run.output()
    assert not pid_alive(pid), "the stopped worker was left behind"
    dead = next(t for t in shared_trials(url) if t.number == victim.number)
    reason = dead.user_attrs["reason"]
    assert dead.state == TrialState.FAIL and "stopped or hung" in reason, (reason, run.output())
    assert "machine died" not in reason, reason


def test_waits_say_what_they_wait_for_and_end(capsys):
    """A `Wait`: silent at first, one line after `NOTICE_AFTER` seconds, then every
    `NOTICE_EVERY`; at its limit one error line naming what it waited for."""
    from sweep.study import waiting

    said: list[str] = []
    with waiting.saying(said.append):
        wait = waiting.Wait(lambda: "waiting for a thing, held by nobody", limit=0.6)
        wait.started -= waiting.NOTICE_AFTER  # as if it had waited that long already
        wait.next_notice -= waiting.NOTICE_AFTER
        wait.limit = waiting.NOTICE_AFTER + 0.5
        wait.tick()
        wait.tick()
        time.sleep(0.6)
        with pytest.raises(waiting.WaitedTooLong) as caught:
            wait.tick()
    assert said == ["waiting for a thing, held by nobody: 5s"], said
    assert str(caught.value).startswith("waiting for a thing, held by nobody: gave up after")
    threading.Thread(target=waiting.say, args=("to stderr",)).start()
    time.sleep(0.2)
    assert "to stderr" in capsys.readouterr().err
    assert sys.stderr is not None


@pytest.mark.slow
def test_a_worker_stopped_while_idle_does_not_hold_up_the_end_of_the_run(tmp_path, run_args):
    """A worker with nothing left to run, stopped (SIGSTOP) while the last trial trains:
    the run's end waited for it for ever; it is killed instead, and the run ends."""
    studies = tmp_path / "studies"
    root = studies / STUDY
    run = Running(*run_args(studies, STUDY, trials=3, jobs=2, epochs=6), "--lag", "off",
                  cwd=tmp_path, log=tmp_path / "run", faults={"SWEEP_FAULT_SLEEP": 1.0})
    try:
        def idle_worker() -> int | None:
            if not (root / "study.json").is_file():
                return None
            trials = stored_trials(root)
            running = [t for t in trials if t.state.name == "RUNNING"]
            done = [t for t in trials if t.state.is_finished()]
            if len(done) != 2 or len(running) != 1:
                return None
            idle = {t.user_attrs["pid"] for t in done} - {running[0].user_attrs["pid"]}
            return idle.pop() if idle else None

        pid = wait_for(idle_worker, 120, "one worker idle while the last trial trains")
        os.kill(pid, signal.SIGSTOP)
        rc = run.wait(90)
    finally:
        run.close()
    assert rc == 0, run.output()
    assert not pid_alive(pid), "the stopped worker was left behind"
    check_study(root, finished=3)

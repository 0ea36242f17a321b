"""Waits that say what they wait for, and end (sweep/study/waiting.py, issue 25): a
`Wait`'s lines and bound, the study's file lock taken without blocking in the kernel,
its holder named from /proc/locks. Runs that wait for a lock someone holds:
execution/test_lock_waits.py."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sweep.study import waiting
from sweep.study.locks import study_lock
from sweep.study.paths import StudyPaths
from tests.sweep.faults.harness import wait_for


def test_waits_say_what_they_wait_for_and_end(capsys):
    """A `Wait`: silent at first, one line after `NOTICE_AFTER` seconds, then every
    `NOTICE_EVERY`; at its limit one error line naming what it waited for."""
    said: list[str] = []
    with waiting.saying(said.append):
        wait = waiting.Wait(lambda: "waiting for a thing, held by nobody",
                            limit=waiting.NOTICE_AFTER + 0.2)
        wait.started -= waiting.NOTICE_AFTER  # as if it had waited that long already
        wait.next_notice -= waiting.NOTICE_AFTER
        wait.tick()
        wait.tick()
        time.sleep(0.25)
        with pytest.raises(waiting.WaitedTooLong) as caught:
            wait.tick()
    assert said == ["waiting for a thing, held by nobody: 5s"], said
    assert str(caught.value).startswith("waiting for a thing, held by nobody: gave up after")
    # outside `saying`, and in another thread: to stderr
    thread = threading.Thread(target=waiting.say, args=("to stderr",))
    thread.start()
    thread.join()
    assert "to stderr" in capsys.readouterr().err
    assert sys.stderr is not None


def _hold(path: Path):
    """The lock on ``path`` taken through a file of its own (flock locks belong to the
    open file, so this process then waits for itself as another process would)."""
    f = open(path, "a")  # noqa: SIM115  (closed by the caller)
    fcntl.flock(f, fcntl.LOCK_EX)
    return f


def test_a_wait_for_the_studys_lock_ends_in_one_line_naming_its_holder(tmp_path):
    """The bound: a lock held longer than the wait's limit is an error that names the
    holding process; the holder keeps its lock, nothing else is touched."""
    paths = StudyPaths(tmp_path / "s")
    paths.root.mkdir()
    paths.lock.touch()
    held = _hold(paths.lock)
    try:
        with pytest.raises(waiting.WaitedTooLong) as caught, study_lock(paths, limit=1):
            pass
        assert waiting.who_holds(paths.lock) == os.getpid()
    finally:
        held.close()
    message = str(caught.value)
    assert "\n" not in message and f"held by process {os.getpid()} (" in message, message
    assert "gave up after 1s" in message and str(paths.lock) in message, message
    with study_lock(paths, limit=1):  # free again
        pass


def test_a_lock_freed_while_waited_for_is_taken(tmp_path):
    """A wait that polls takes the lock soon after its holder lets go."""
    path = tmp_path / "lock"
    path.touch()
    held = _hold(path)
    threading.Timer(0.3, held.close).start()
    with open(path, "a") as f:
        started = time.monotonic()
        waiting.take_flock(f.fileno(), path, "a lock", limit=30)
        assert 0.25 < time.monotonic() - started < 10
        assert waiting.who_holds(path) == os.getpid()


def test_nobody_holds_an_unlocked_file(tmp_path):
    path = tmp_path / "lock"
    path.touch()
    assert waiting.who_holds(path) is None
    assert waiting.who_holds(tmp_path / "missing") is None
    assert "another machine" in waiting.describe_process(None)


@pytest.mark.slow  # starts flock(1)
def test_a_lock_wait_names_a_stopped_holder(tmp_path):
    """A holder stopped with SIGSTOP is named as stopped: the one to look at."""
    path = tmp_path / "lock"
    path.touch()
    holder = subprocess.Popen(["flock", str(path), "sleep", "60"], start_new_session=True)
    try:
        wait_for(lambda: waiting.who_holds(path) == holder.pid, 10, "flock to take the lock")
        os.kill(holder.pid, signal.SIGSTOP)
        wait_for(lambda: waiting.stopped(holder.pid), 10, "the stop")
        assert waiting.describe_process(waiting.who_holds(path)) == \
            f"process {holder.pid} (flock, stopped)"
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(10)

"""Waits that say what they wait for, and end.

Every wait of the harness that can last (a lock another process holds, a database that
went away, a cluster without workers) is a `Wait`: after `NOTICE_AFTER` seconds it says
on one line what it waits for and how long it has waited, again every `NOTICE_EVERY`
seconds, and with a limit it ends in one `WaitedTooLong` line naming the cause. Where
the lines go is the caller's: `say` prints to stderr unless a run routes them above its
progress line (`saying`). A worker process's stderr is the study's workers.log, which
nobody watching the run reads: there its lines are marked with its pid (`mark_notices`)
and its run passes them on (`read_notice`).

`who_holds` names the process holding a ``flock`` on a file of this machine, from
/proc/locks, so that a wait for a lock can say who to look at.
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from ..errors import StudyError

NOTICE_AFTER = 5.0  # seconds of waiting before the first line about it
NOTICE_EVERY = 30.0  # seconds between the next ones
# A wait for a file lock of the study ends after this long. Longer than the default
# --stall-timeout, after which the run that owns a stopped holder replaces it.
FILE_LOCK_LIMIT = 600.0
NOTICE_MARK = "sweep notice from worker "  # "sweep notice from worker 1234: <line>"
LOCK_ADVICE = ("a process stopped or hung while holding it? End it (or let its run replace "
               "it) and run again")

_SAY: ContextVar[Callable[[str], None] | None] = ContextVar("sweep_say", default=None)
# while a thread waits for a lock: called with the holder's pid (or None) and the seconds
# waited, so that a run can act on a holder of its own (sweep/execution/controller.py)
_WATCH: ContextVar[Callable[[int | None, float], None] | None] = ContextVar(
    "sweep_wait_watch", default=None)


class WaitedTooLong(StudyError):
    """A bounded wait ran out: its message names what was awaited and why it did not come."""


def say(message: str) -> None:
    """One line about a wait: to the run's progress output if one is set, else stderr."""
    saying_here()(message)


def saying_here() -> Callable[[str], None]:
    """Where `say` goes in this thread now: for another thread to say it there."""
    return _SAY.get() or _to_stderr


_marked: list[bool] = []  # in a worker process: its lines are marked for its run


def _to_stderr(message: str) -> None:
    if _marked:
        message = f"{NOTICE_MARK}{os.getpid()}: {message}"
    try:
        print(message, file=sys.stderr, flush=True)
    except (OSError, ValueError):  # stderr closed: the line is only a courtesy
        pass


def mark_notices() -> None:
    """In a worker process whose stderr is its run's log: from now on, `say` lines on
    stderr carry `NOTICE_MARK` and this process's pid, for the run to find them there."""
    if not _marked:
        _marked.append(True)


def read_notice(line: str) -> tuple[int, str] | None:
    """A worker's marked line (`mark_notices`): its pid and its message; None for any
    other line of the log (a traceback, a library's warning)."""
    if not line.startswith(NOTICE_MARK):
        return None
    pid, sep, message = line[len(NOTICE_MARK):].partition(": ")
    if not sep or not pid.isdigit() or not message.strip():
        return None
    return int(pid), message.strip()


@contextmanager
def saying(target: Callable[[str], None]) -> Iterator[None]:
    """Within the block (and this thread), `say` goes to ``target``."""
    token = _SAY.set(target)
    try:
        yield
    finally:
        _SAY.reset(token)


@contextmanager
def watching(callback: Callable[[int | None, float], None]) -> Iterator[None]:
    """Within the block (and this thread), a lock wait calls ``callback(holder, waited)``
    at each look."""
    token = _WATCH.set(callback)
    try:
        yield
    finally:
        _WATCH.reset(token)


def watch_holder(holder: int | None, waited: float) -> None:
    callback = _WATCH.get()
    if callback is not None:
        callback(holder, waited)


class Wait:
    """A wait that says what it waits for now and then, and ends at ``limit`` seconds.

    ``what()`` describes the wait as it is now (it may name a holder that changed);
    ``tick()`` is called at each look and returns the seconds waited so far.
    """

    def __init__(self, what: Callable[[], str], limit: float | None = None,
                 advice: str = "") -> None:
        self.what, self.limit, self.advice = what, limit, advice
        self.started = time.monotonic()
        self.next_notice = self.started + NOTICE_AFTER
        self.said = False

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def tick(self) -> float:
        waited = self.seconds
        if self.limit is not None and waited >= self.limit:
            advice = f"; {self.advice}" if self.advice else ""
            raise WaitedTooLong(f"{self.what()}: gave up after {waited:.0f}s{advice}")
        now = time.monotonic()
        if now >= self.next_notice:
            self.next_notice = now + NOTICE_EVERY
            self.said = True
            say(f"{self.what()}: {waited:.0f}s")
        return waited


def take_flock(fd: int, path: str | os.PathLike, what: str,
               limit: float | None = FILE_LOCK_LIMIT, watched: bool = False,
               explain: Callable[[int | None], str] | None = None) -> None:
    """An exclusive ``flock`` on ``fd`` (the file ``path``), waited for without blocking
    in the kernel: the wait names its holder now and then, gives up after ``limit``
    seconds, and with ``watched`` lets a run act on a holder of its own (`watching`: only
    where the waiting thread holds nothing the run's watch needs, such as a storage's
    own thread lock). ``explain(holder)`` adds what the holder itself waits for."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    holder: list[int | None] = [None]
    wait = Wait(lambda: f"waiting for {what}, held by {describe_process(holder[0])}"
                        f"{explain(holder[0]) if explain else ''}", limit, LOCK_ADVICE)
    delay, looked = 0.002, float("-inf")
    while True:
        time.sleep(delay)
        delay = min(2 * delay, 0.1)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if time.monotonic() - looked >= 1.0:
            looked = time.monotonic()
            holder[0] = who_holds(path)
            if watched:
                watch_holder(holder[0], wait.seconds)
        wait.tick()


# -- who holds a lock -------------------------------------------------------------------

def who_holds(path: str | os.PathLike) -> int | None:
    """The pid of the process holding a ``flock`` on ``path`` (as /proc/locks names it),
    or None when none is found (nobody, or a holder on another machine of a network
    filesystem)."""
    try:
        st = os.stat(path)
        with open("/proc/locks") as f:
            lines = f.readlines()
    except OSError:
        return None
    device = (os.major(st.st_dev), os.minor(st.st_dev))
    for line in lines:
        # "1: FLOCK  ADVISORY  WRITE 7279 fe:00:2146603 0 EOF"; waiters have "->" after 1:
        parts = line.split()
        if len(parts) < 6 or parts[1] != "FLOCK":
            continue
        try:
            major, minor, inode = parts[5].split(":")
            pid = int(parts[4])
            if int(inode) == st.st_ino and (int(major, 16), int(minor, 16)) == device:
                return pid if pid > 0 else None
        except ValueError:
            continue
    return None


def process_state(pid: int) -> str:
    """The one-letter state of a process (R running, S sleeping, T stopped, t traced, Z
    zombie ...), or "" when it is gone or unreadable."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def cpu_seconds(pid: int) -> float | None:
    """The CPU time a process has used so far (user and system, all threads), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def stopped(pid: int) -> bool:
    """Whether a process is stopped (SIGSTOP, a terminal's Ctrl-Z) or held by a debugger."""
    return process_state(pid) in ("T", "t")


def holder_named(line: str) -> int | None:
    """The pid a wait line (`describe_process`) names as a lock's holder, if any."""
    found = re.search(r"held by process (\d+)", line)
    return int(found.group(1)) if found else None


def describe_process(pid: int | None) -> str:
    """``process 1234 (flock)``, ``process 1234 (python3, stopped)``."""
    if pid is None:
        return "a process this machine does not show (another machine's, on a shared folder?)"
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return f"process {pid}"
    state = {"T": ", stopped", "t": ", stopped by a debugger", "Z": ", a zombie"}.get(
        process_state(pid), "")
    return f"process {pid} ({name}{state})"

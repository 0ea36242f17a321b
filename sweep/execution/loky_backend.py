"""Workers that are processes of this machine, started by loky.

loky is the process executor behind joblib. Each worker is its own one-process
executor, not one slot of a shared pool: when a worker dies (killed, out of memory,
sent SIGTERM), only its own task is lost, its slot starts a new worker, and the other
workers never notice (joblib's ``Parallel`` would abandon the whole batch). Worker
processes live as long as their run: a run's workers start with it and end with it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from loky import ProcessPoolExecutor
from loky.process_executor import (
    BrokenProcessPool,
    ShutdownExecutorError,
    TerminatedWorkerError,
)
from optuna.trial import FrozenTrial

from ..errors import StudyError
from ..process_state import hold_standard_descriptors
from ..study.waiting import mark_notices, read_notice, stopped
from .backend import INTERRUPT_GRACE, Backend, Lost, Worker
from .ledger import RunGone, WorkerTerminated
from .liveness import Selector, either, pid_alive, run_by, unclaimed

WORKER_START_LIMIT = 120.0  # seconds a new worker may take to answer
NOTICE_READ_LIMIT = 1 << 20  # bytes of workers.log read at one look for workers' notices
_TRACKER_LOCK = threading.Lock()


def _init_worker(threads: int, run: int | None = None) -> None:
    """Runs first in every worker: BLAS threads, and signals turned into exceptions.

    SIGINT comes from the run (or a Ctrl-C to the terminal's process group) and
    interrupts the trial; SIGTERM from anything else (an out-of-memory killer, a
    user) ends this worker like a kill, failing only its trial. After the first,
    signals are ignored so that recording the trial's state is never interrupted.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")
    received: list[int] = []
    orphaned: list[bool] = []

    def on_signal(signum: int, frame: Any) -> None:
        if not received:
            received.append(signum)
            if orphaned:
                raise RunGone
            raise KeyboardInterrupt if signum == signal.SIGINT else WorkerTerminated
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # started with SIGINT blocked (`_sigint_blocked`): a Ctrl-C to the terminal while
    # this process started is its run's to act on, not a traceback of this one's imports
    if signal.SIGINT in signal.sigpending():
        signal.sigtimedwait([signal.SIGINT], 0)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    # after: the watch's own SIGINT (its run gone) must not be taken for the terminal's
    threading.Thread(target=_watch_parent, args=(run or os.getppid(), orphaned),
                     daemon=True).start()


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread within the block. A process started meanwhile starts
    with it blocked (the mask survives fork and exec), so a Ctrl-C to the terminal's
    process group cannot interrupt its interpreter while it starts and imports (a
    traceback on the user's terminal, or "Fatal Python error: init_import_site"), until
    `_init_worker` has its handlers and unblocks it."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


@contextmanager
def _standard_streams() -> Iterator[None]:
    """Standard streams for a worker to start with, where the caller started without
    (a script run with ``>&-``): the descriptors held on /dev/null, and within the block
    a ``sys.stdout`` for loky to flush (its start of a process does, and None has no
    flush)."""
    hold_standard_descriptors()
    if sys.stdout is not None:
        yield
        return
    with open(os.devnull, "w") as nowhere:
        sys.stdout = nowhere
        try:
            yield
        finally:
            sys.stdout = None


def _watch_parent(parent: int, orphaned: list[bool]) -> None:
    """A worker whose run died (SIGKILL, a crash) interrupts its trial, so that the
    trial is recorded as failed, and exits: workers never outlive their run. The run's
    pid comes from the run: a run killed while its worker was still starting has left
    the worker another parent by the time it looks."""
    while os.getppid() == parent:
        time.sleep(1.0)
    orphaned.append(True)
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(INTERRUPT_GRACE)
    os._exit(1)


def _output_to(log: str) -> None:
    """In the worker: what it prints from now on, on stderr and on stdout (loky prints a
    dying worker's traceback there), goes to ``log``; to nowhere if the log cannot be
    opened (a full disk): never over the run's progress lines."""
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        fd = os.open(os.devnull, os.O_WRONLY)
    sys.stdout.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    mark_notices()


class LogNotices:
    """The notices (`mark_notices`) that workers append to ``log``, read on from where
    the last read stopped; the log's earlier runs are not this run's news."""

    def __init__(self, log: Path) -> None:
        self.log = log
        try:
            self.offset = log.stat().st_size
        except OSError:
            self.offset = 0

    def read(self) -> list[tuple[int, str]]:
        try:
            with open(self.log, "rb") as f:
                if os.fstat(f.fileno()).st_size < self.offset:
                    self.offset = 0  # emptied by hand
                f.seek(self.offset)
                chunk = f.read(NOTICE_READ_LIMIT)
        except OSError:
            return []
        whole = chunk.rfind(b"\n") + 1  # a line still being written waits for its end
        if whole == 0 and len(chunk) == NOTICE_READ_LIMIT:
            whole = len(chunk)  # a line longer than a look reads: not a notice
        self.offset += whole
        lines = chunk[:whole].decode(errors="replace").splitlines()
        return [n for n in map(read_notice, lines) if n is not None]


def _death_reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for sig in ("SIGKILL", "SIGTERM", "SIGSEGV", "SIGABRT"):
        if sig in str(exc):
            return f"worker process was killed ({sig})"
    return f"worker process died ({text[:200]})"


_DIED = (BrokenProcessPool, TerminatedWorkerError, ShutdownExecutorError)


class LokyWorker(Worker):
    """One worker process with ``threads`` BLAS threads, replaced when it dies."""

    def __init__(self, threads: int, log: Path | None = None) -> None:
        self.threads, self.log = threads, log
        self.executor: ProcessPoolExecutor | None = None
        self.pid: int | None = None
        self.pids: set[int] = set()  # every process this slot ran, replacements included
        self._pid: Any = None  # the future of the new process's pid

    def begin(self) -> LokyWorker:
        """Start the process without waiting for it (a run starts its likely workers
        while it opens the study)."""
        if self.executor is None:
            env = {v: str(self.threads) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                  "MKL_NUM_THREADS")}
            # loky replaces a worker whose memory grew by 300 MB since its first task, as a
            # leak; ours grow by design (the dataset it keeps for its trials), and a worker
            # replaced behind the run's back would lose its log, its data and its pid
            env["LOKY_MAX_MEMORY_LEAK_SIZE"] = str(1 << 60)
            # the process starts as the first task is submitted
            with _sigint_blocked(), _standard_streams():
                self.executor = ProcessPoolExecutor(max_workers=1, initializer=_init_worker,
                                                    initargs=(self.threads, os.getpid()),
                                                    env=env)
                self.pid = None
                self._pid = self.executor.submit(os.getpid)
        return self

    def start(self) -> None:
        self.begin()
        if self.pid is not None:
            return
        assert self.executor is not None
        try:
            self.pid = self._pid.result(timeout=WORKER_START_LIMIT)
            if self.log is not None:  # the study's folder exists once the pool runs
                self.executor.submit(_output_to, str(self.log)).result(WORKER_START_LIMIT)
        except _DIED as exc:
            self.executor.shutdown(wait=False, kill_workers=True)
            self.executor = None
            raise Lost(_death_reason(exc), lambda t: False) from None
        except FutureTimeout:
            self.executor.shutdown(wait=False, kill_workers=True)
            self.executor = None
            raise StudyError(f"a worker process did not start within {WORKER_START_LIMIT:.0f}s "
                             "(the machine overloaded, or out of memory?)") from None
        except BaseException:
            self.executor.shutdown(wait=False, kill_workers=True)
            self.executor = None
            raise
        self.pids.add(self.pid)
        self.spent = False

    def run(self, function: Callable[[Any], Any], argument: Any) -> Any:
        self.start()
        assert self.executor is not None
        try:
            return self.executor.submit(function, argument).result()
        except _DIED as exc:
            raise self._lost(_death_reason(exc)) from None
        except WorkerTerminated:
            raise self._lost("worker process was terminated (SIGTERM)") from None

    def _lost(self, reason: str) -> Lost:
        """The process is gone (or going): a new one starts for the next task."""
        which = run_by({self.pid} if self.pid is not None else set())
        if self.executor is not None:
            self.executor.shutdown(wait=False, kill_workers=True)
        self.executor = None
        return Lost(reason, which)

    def interrupt(self) -> None:
        if self.pid is not None and self.executor is not None:
            self.spent = True
            try:
                os.kill(self.pid, signal.SIGINT)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """Kill the worker now and wait until it is gone, so that its trial can be failed."""
        pid, executor = self.pid, self.executor
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if executor is not None:
            executor.shutdown(wait=False, kill_workers=True)
        deadline = time.monotonic() + 3
        while pid is not None and pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)

    def holds(self, trial: FrozenTrial) -> bool:
        return self.pid is not None and self.executor is not None and \
            run_by({self.pid})(trial)

    @property
    def process_id(self) -> int | None:
        return self.pid if self.executor is not None else None

    def close(self, kill: bool = False) -> None:
        if self.executor is not None:
            # a stopped process (SIGSTOP while idle) would be waited for for ever
            kill = kill or (self.pid is not None and stopped(self.pid))
            self.executor.shutdown(wait=not kill, kill_workers=kill)
            self.executor = None


class LokyBackend(Backend):
    """Worker processes of this machine, whose stderr goes to ``log`` (the study's
    workers.log), so that what they print never lands over the run's progress line."""

    def __init__(self, log: Path | None = None) -> None:
        _start_tracker_quietly()  # from the main thread, before any worker
        self.log = log
        self.spare: list[LokyWorker] = []
        self.said = LogNotices(log) if log is not None else None

    def prestart(self, jobs: int, threads: int) -> None:
        """Start ``jobs`` workers now, for the pool to take: a guess made before the study
        is opened; the ones the run does not take end with `close`."""
        self.spare += [LokyWorker(threads, self.log).begin() for _ in range(jobs)]

    def new_worker(self, threads: int) -> Worker:
        ready = next((w for w in self.spare if w.threads == threads), None)
        if ready is not None:
            self.spare.remove(ready)
            return ready
        return LokyWorker(threads, self.log)

    def close(self) -> None:
        for worker in self.spare:
            worker.close(kill=True)
        self.spare = []

    def notices(self) -> list[tuple[str, str]]:
        said = self.said.read() if self.said is not None else []
        return [(f"worker {pid}", line) for pid, line in said]

    def held_by_run(self, workers: list[Worker], local: bool) -> Selector:
        pids = set().union(*(w.pids for w in workers if isinstance(w, LokyWorker)))
        return either(run_by(pids), unclaimed(local))


def _start_tracker_quietly() -> None:
    """loky's resource tracker keeps the stderr it starts with for the life of the
    process, and prints a traceback for every resource of a killed worker it never
    saw. Started by a worker, under the run's stderr, it would print over the run's
    progress line: it is started first, with /dev/null (multiprocessing's with it)."""
    from multiprocessing import resource_tracker as mp_tracker

    from loky.backend import resource_tracker

    trackers = (resource_tracker, mp_tracker)
    with _TRACKER_LOCK:  # two runs in two threads would swap sys.stderr over each other
        if all(getattr(t._resource_tracker, "_pid", None) is not None for t in trackers):
            return
        saved = sys.stderr
        with open(os.devnull, "w") as quiet:
            sys.stderr = quiet
            try:
                # both now: multiprocessing's, started by loky as it starts the first
                # worker, would unblock SIGINT in the starting thread (`_sigint_blocked`)
                for tracker in trackers:
                    tracker.ensure_running()
            finally:
                sys.stderr = saved

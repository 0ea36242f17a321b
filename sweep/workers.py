"""Worker processes: one per slot, fed tasks by a thread of the parent.

Each slot owns a one-process executor (loky, the process backend of joblib), so
work flows as workers free up, and a worker that dies (killed, out of memory, sent
SIGTERM) takes only its own task down: the slot reports it, starts a replacement
worker and goes on, while the other slots never notice. Slots tell the parent what
happened through typed events. `sweep run` (runner.py) and `sweep confirm` feed
slots their own tasks.
"""

from __future__ import annotations

import atexit
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from loky import ProcessPoolExecutor
from loky.process_executor import (
    BrokenProcessPool,
    ShutdownExecutorError,
    TerminatedWorkerError,
)

from .liveness import pid_alive
from .trial import RunGone, WorkerTerminated

INTERRUPT_GRACE = 15.0  # seconds the tasks in flight get to record an interrupt
WORKERS_LOG = "workers.log"  # in the study folder: what worker processes print


# -- what slots tell the parent ------------------------------------------------------

@dataclass(frozen=True)
class TaskDone:
    result: Any


@dataclass(frozen=True)
class WorkerDied:
    reason: str
    task: Any  # what the worker was doing when it died
    # the RUNNING trials it lost; None: those whose recorded pid is dead (liveness.py)
    which: Callable[[Any], bool] | None = None


@dataclass(frozen=True)
class SlotFailed:
    error: BaseException


@dataclass(frozen=True)
class SlotClosed:
    pass


Event = TaskDone | WorkerDied | SlotFailed | SlotClosed


# -- the worker process ----------------------------------------------------------

def blas_threads_per_worker(jobs: int) -> int:
    from .jobs import cores

    return max(1, cores() // jobs)


def _init_worker(threads: int) -> None:
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
    threading.Thread(target=_watch_parent, args=(os.getppid(), orphaned), daemon=True).start()


def _watch_parent(parent: int, orphaned: list[bool]) -> None:
    """A worker whose run died (SIGKILL, a crash) interrupts its trial, so that the
    trial is recorded as failed, and exits: workers never outlive their run."""
    while os.getppid() == parent:
        time.sleep(1.0)
    orphaned.append(True)
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(INTERRUPT_GRACE)
    os._exit(1)


Task = tuple[Callable[[Any], Any], Any]  # a function run in the worker, and its argument


class Slot(threading.Thread):
    """One worker process and the loop that feeds it tasks.

    ``next_task()`` gives the next (function, argument) to run in the worker, or None
    when there is no more work; a task that returns None also ends the slot (a study
    that has all its trials).
    """

    def __init__(self, next_task: Callable[[], Task | None], threads: int,
                 events: queue.Queue[Event], stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.next_task, self.threads, self.events, self.stop = next_task, threads, events, stop
        self.executor: ProcessPoolExecutor | None = None
        self.pid: int | None = None
        self.log: Path | None = None  # where the worker's stderr goes (the pool's log)
        self.spent = False  # its worker has taken a signal: its handler is used up
        self.interrupted_outside = False  # its worker took a SIGINT this run never sent

    def _start_worker(self) -> None:
        kept = _take_kept(self.threads, self.stop)
        if kept is not None:
            self.executor, self.pid = kept
            # as a new worker would: this run's working directory (its tasks' paths may
            # be relative: --studies-dir studies after an os.chdir in a notebook), and
            # this run's log (it wrote to the log of the run that started it)
            self.executor.submit(_adopt, os.getcwd(),
                                 None if self.log is None else str(self.log)).result()
            return
        self.executor, self.pid = _new_worker(self.threads)

    def _replace_worker(self, reason: str, task: Any) -> None:
        self.events.put(WorkerDied(reason, task))
        if self.executor is not None:
            self.executor.shutdown(wait=False, kill_workers=True)
        self.executor = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                task = self.next_task()
                if task is None:
                    break
                function, argument = task
                try:
                    if self.executor is None:
                        self._start_worker()
                        if self.stop.is_set():  # stopped while the worker started
                            break
                    result = self.executor.submit(function, argument).result()
                except (BrokenProcessPool, TerminatedWorkerError, ShutdownExecutorError) as exc:
                    self._replace_worker(_death_reason(exc), argument)
                    continue
                except WorkerTerminated:
                    self._replace_worker("worker process was terminated (SIGTERM)", argument)
                    continue
                except KeyboardInterrupt:  # the task was interrupted and recorded as such
                    # not by this run (which marks the slot spent first): a Ctrl-C to the
                    # whole group, whose signal the main thread may not see in time
                    self.interrupted_outside = not self.spent
                    self.spent = True
                    break
                if result is None:
                    break
                self.events.put(TaskDone(result))
        except BaseException as exc:  # anything else: report it, never hang the run
            self.events.put(SlotFailed(exc))
        finally:
            self.events.put(SlotClosed())

    def interrupt(self) -> None:
        if self.pid is not None:
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


@contextmanager
def stderr_to(log: Path) -> Iterator[IO[str]]:
    """For the length of a run, file descriptor 2 (and so every process started
    meanwhile: workers, loky's resource tracker) writes to ``log``; the run's own
    messages go to the terminal through the stream this yields. Worker warnings are
    kept in the log, a trial's own failure is in its trial.json anyway, and nothing a
    helper process prints (loky's tracker, restarted after a kill, prints a traceback
    per resource it never saw) lands over the progress line."""
    sys.stderr.flush()
    terminal = os.dup(2)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    os.close(fd)
    stream = os.fdopen(os.dup(terminal), "w", buffering=1)
    try:
        yield stream
    finally:
        sys.stderr.flush()
        stream.close()
        os.dup2(terminal, 2)
        os.close(terminal)


def _adopt(cwd: str, log: str | None) -> None:
    """A kept worker taken by a new run: its working directory and stderr."""
    os.chdir(cwd)
    if log is not None:
        _stderr_to_file(log)


def _stderr_to_file(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    os.close(fd)


def _death_reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for sig in ("SIGKILL", "SIGTERM", "SIGSEGV", "SIGABRT"):
        if sig in str(exc):
            return f"worker process was killed ({sig})"
    return f"worker process died ({text[:200]})"


class _Terminate(Exception):
    pass


def _raise_terminate(signum: int, frame: Any) -> None:
    raise _Terminate


class Pool:
    """``jobs`` slots running tasks in worker processes, until there are no more.

    `run` hands every event to ``on_event`` (and None every half second without one).
    Ctrl-C or SIGTERM interrupts the tasks in flight, gives them `INTERRUPT_GRACE`
    seconds to record it, then kills what is left (at once on a second signal).
    """

    def __init__(self, next_task: Callable[[], Task | None], jobs: int, folder: Path,
                 say: Callable[[str], None] | None = None,
                 on_start: Callable[[IO[str]], None] | None = None,
                 threads: int | None = None) -> None:
        lock = threading.Lock()

        def one_at_a_time() -> Task | None:
            with lock:
                return next_task()

        self.events: queue.Queue[Event] = queue.Queue()
        self.stop = threading.Event()
        self.slots = self._make_slots(one_at_a_time, jobs,
                                      threads or blas_threads_per_worker(jobs))
        for slot in self.slots:
            slot.log = folder / WORKERS_LOG
        self.folder = folder
        self.interrupted = False
        self.say = say or (lambda message: print(message, flush=True))
        self.on_start = on_start

    def _make_slots(self, next_task: Callable[[], Task | None], jobs: int,
                    threads: int) -> list[Any]:
        return [Slot(next_task, threads, self.events, self.stop) for _ in range(jobs)]

    def run(self, on_event: Callable[[Event | None], None]) -> None:
        # only the main thread may set a handler: a run started from another thread (a
        # notebook's background study) leaves SIGTERM to the process's own handler
        main = threading.current_thread() is threading.main_thread()
        old_term = signal.signal(signal.SIGTERM, _raise_terminate) if main else None
        with stderr_to(self.folder / WORKERS_LOG) as terminal:
            if self.on_start is not None:
                self.on_start(terminal)
            try:
                self._loop(on_event)
            except (KeyboardInterrupt, _Terminate):
                self.interrupt()
            finally:
                if main:
                    signal.signal(signal.SIGTERM, old_term)
                self._close()

    def _loop(self, on_event: Callable[[Event | None], None]) -> None:
        for slot in self.slots:
            slot.start()
        open_slots = len(self.slots)
        while open_slots:
            try:
                event = self.events.get(timeout=0.5)
            except queue.Empty:
                on_event(None)
                continue
            open_slots -= isinstance(event, SlotClosed)
            on_event(event)
            if any(slot.interrupted_outside for slot in self.slots):
                raise KeyboardInterrupt

    def pids(self) -> set[int]:
        return {s.pid for s in self.slots if s.pid is not None}

    def interrupt(self) -> None:
        self.interrupted = True
        self.stop.set()
        self.say("interrupted: stopping the work in flight (again to stop at once)")
        try:
            for slot in self.slots:
                slot.interrupt()
            deadline = time.monotonic() + INTERRUPT_GRACE
            for slot in self.slots:
                slot.join(max(0.0, deadline - time.monotonic()))
        except (KeyboardInterrupt, _Terminate):
            pass
        for slot in self.slots:
            slot.kill()

    def _close(self) -> None:
        for slot in self.slots:
            if not self.interrupted:
                slot.join()
            if slot.executor is None:
                continue
            if self.interrupted or slot.spent or \
                    not _keep(slot.executor, slot.pid, slot.threads):
                slot.executor.shutdown(wait=not self.interrupted, kill_workers=self.interrupted)


# -- workers kept between runs ------------------------------------------------------
# A process that runs several studies or confirmations (a notebook calling sweep.run
# again, a resumed study) keeps its idle workers, with their imports and loaded data,
# instead of paying a worker's start-up (about 2 s) again. Only workers that were never
# signalled are kept: an interrupted worker has used up its signal handler.

_KEPT: list[tuple[int, ProcessPoolExecutor, int]] = []  # (threads, executor, pid)
_KEPT_LOCK = threading.Condition()
_STARTING: dict[int, int] = {}  # threads -> workers `prestart` is still starting


WORKER_START_LIMIT = 120.0  # seconds a new worker may take to answer


def _new_worker(threads: int) -> tuple[ProcessPoolExecutor, int]:
    env = {v: str(threads) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                     "MKL_NUM_THREADS")}
    executor = ProcessPoolExecutor(max_workers=1, initializer=_init_worker,
                                   initargs=(threads,), env=env)
    try:
        return executor, executor.submit(os.getpid).result(timeout=WORKER_START_LIMIT)
    except BaseException:
        executor.shutdown(wait=False, kill_workers=True)
        raise


def _start_tracker_quietly() -> None:
    """loky's resource tracker keeps the stderr it starts with for the life of the
    process, and prints a traceback for every resource of a killed worker it never
    saw. Started here, before any worker and outside `stderr_to`, it would print over
    the run's progress line: it gets /dev/null instead."""
    from loky.backend import resource_tracker

    if getattr(resource_tracker._resource_tracker, "_pid", None) is not None:
        return
    saved = sys.stderr
    with open(os.devnull, "w") as quiet:
        sys.stderr = quiet
        try:
            resource_tracker.ensure_running()
        finally:
            sys.stderr = saved


def _import(modules: tuple[str, ...]) -> None:
    import importlib

    for name in modules:
        importlib.import_module(name)


def prestart(jobs: int, threads: int, modules: tuple[str, ...] = ()) -> None:
    """Start ``jobs`` workers with ``threads`` BLAS threads in the background, importing
    ``modules`` in each, and keep them for the next `Pool`: a run starts its workers
    while it opens the study, instead of after. A guess that turns out wrong (the run
    wants other threads, or fails) costs only those processes, ended at exit."""
    _start_tracker_quietly()
    with _KEPT_LOCK:
        have = sum(1 for k in _KEPT if k[0] == threads) + _STARTING.get(threads, 0)
        missing = max(0, jobs - have)
        _STARTING[threads] = _STARTING.get(threads, 0) + missing

    def start() -> None:
        started = None
        try:
            started = _new_worker(threads)
            started[0].submit(_import, modules).result(timeout=WORKER_START_LIMIT)
        except BaseException:  # the slot will start one itself
            if started is not None:
                started[0].shutdown(wait=False, kill_workers=True)
            started = None
        finally:
            with _KEPT_LOCK:
                _STARTING[threads] -= 1
                if started is not None:
                    _KEPT.append((threads, *started))
                _KEPT_LOCK.notify_all()

    for _ in range(missing):
        threading.Thread(target=start, daemon=True).start()


def trim_kept(threads: int, jobs: int) -> None:
    """End the kept workers a run with ``jobs`` workers of ``threads`` threads will not
    use: other thread counts, and any beyond ``jobs``. Kept workers hold the data they
    loaded, so they never pile up across runs."""
    with _KEPT_LOCK:
        wanted = [k for k in _KEPT if k[0] == threads][:jobs]
        spare = [k for k in _KEPT if k not in wanted]
        _KEPT[:] = wanted
    for _, executor, _ in spare:
        executor.shutdown(wait=False, kill_workers=True)


def _keep(executor: ProcessPoolExecutor, pid: int | None, threads: int) -> bool:
    if pid is None or not pid_alive(pid):
        return False
    with _KEPT_LOCK:
        _KEPT.append((threads, executor, pid))
    return True


def _take_kept(threads: int, stop: threading.Event | None = None
               ) -> tuple[ProcessPoolExecutor, int] | None:
    deadline = time.monotonic() + WORKER_START_LIMIT
    while True:
        with _KEPT_LOCK:
            found = next((k for k in _KEPT if k[0] == threads), None)
            while found is None and _STARTING.get(threads, 0) and \
                    time.monotonic() < deadline and not (stop and stop.is_set()):
                _KEPT_LOCK.wait(0.5)  # one being started is nearer than a new one
                found = next((k for k in _KEPT if k[0] == threads), None)
            if found is None:
                return None
            _KEPT.remove(found)
        _, executor, pid = found
        try:
            if executor.submit(os.getpid).result(timeout=10) == pid:
                return executor, pid
        except Exception:  # died while idle: start a new one
            pass
        executor.shutdown(wait=False, kill_workers=True)


def close_kept_workers() -> None:
    """End the workers kept for a next run (also done at exit)."""
    with _KEPT_LOCK:
        kept, _KEPT[:] = list(_KEPT), []
    for _, executor, _ in kept:
        executor.shutdown(wait=False, kill_workers=True)


def _close_at_exit() -> None:
    """At exit, kept workers end with the process's stderr silenced: their shutdown
    talks to loky's resource tracker, and one restarted after a crash would print a
    traceback for every resource it never saw, after the run's last line. Workers still
    starting (a run that stopped at a usage error) are waited for first: one whose
    parent is gone mid-start prints a traceback of its own."""
    deadline = time.monotonic() + 15
    with _KEPT_LOCK:
        while any(_STARTING.values()) and time.monotonic() < deadline:
            _KEPT_LOCK.wait(0.2)
    if not _KEPT:
        return
    for stream in (sys.stdout, sys.stderr):  # what is still buffered is not for /dev/null
        with suppress(Exception):
            stream.flush()
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 2)
    os.close(quiet)
    close_kept_workers()


atexit.register(_close_at_exit)

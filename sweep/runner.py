"""Running a study: worker processes pulling trials until the study has enough.

Each of the ``jobs`` worker slots owns a one-process executor (loky, the process
backend of joblib), so trials flow as workers free up, and a worker that dies
(killed, out of memory, sent SIGTERM) takes only its own trial down: the slot
fails that trial, starts a replacement worker and goes on, while the other slots
never notice. Slots tell the run what happened through typed events; the run's
loop only reacts to them.
"""

from __future__ import annotations

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
from optuna.trial import TrialState

from mlp.experiment import read_history

from .liveness import fail_stale_trials, pid_alive, sync_records
from .progress import Progress
from .records import TrialOutcome
from .storage import open_storage
from .study import Settings, StudyPaths, load_study
from .trial import RunGone, TrialJob, WorkerTerminated, run_trial

FAIL_STREAK = 5  # this many failed trials in a row stop the run
INTERRUPT_GRACE = 15.0  # seconds the trials in flight get to record an interrupt
WORKERS_LOG = "workers.log"  # in the study folder: what worker processes print
STALL_LIMIT = 300.0  # seconds without a sign of progress before a trial counts as stalled
STALL_EPOCHS = 10  # ... or this many times the trial's mean epoch time, if longer


def timeout_grace(timeout: float) -> float:
    """How long trials in flight may run past --timeout: a tenth of it, 5 s to 5 min."""
    return min(300.0, max(5.0, 0.1 * timeout))


def stall_seconds(trial_dir: Path, floor: float) -> tuple[float, float]:
    """How long a trial has shown no progress (no file of its directory written), and
    how long it may: ``floor``, or `STALL_EPOCHS` times its mean epoch so far."""
    try:
        files = [p for p in trial_dir.iterdir() if p.is_file()]
        last = max((p.stat().st_mtime for p in files), default=None)
    except OSError:
        return 0.0, floor
    if last is None:
        return 0.0, floor
    limit = floor
    history = trial_dir / "history.csv"
    if history.is_file():
        with suppress(OSError, ValueError, KeyError):
            rows = read_history(history)
            if rows:
                limit = max(floor, STALL_EPOCHS * sum(r["seconds"] for r in rows) / len(rows))
    return time.time() - last, limit


@dataclass
class RunSummary:
    interrupted: bool = False
    stopped_reason: str = ""
    seconds: float = 0.0


# -- what slots tell the run ------------------------------------------------------

@dataclass(frozen=True)
class TrialFinished:
    outcome: TrialOutcome


@dataclass(frozen=True)
class WorkerDied:
    reason: str


@dataclass(frozen=True)
class SlotFailed:
    error: BaseException


@dataclass(frozen=True)
class SlotClosed:
    pass


Event = TrialFinished | WorkerDied | SlotFailed | SlotClosed


# -- the worker process ----------------------------------------------------------

def blas_threads_per_worker(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // jobs)


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


class _Slot(threading.Thread):
    """One worker process and the loop that feeds it trials."""

    def __init__(self, job: TrialJob, threads: int, events: queue.Queue[Event],
                 stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.job, self.threads, self.events, self.stop = job, threads, events, stop
        self.executor: ProcessPoolExecutor | None = None
        self.pid: int | None = None

    def _start_worker(self) -> None:
        env = {v: str(self.threads) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                               "MKL_NUM_THREADS")}
        self.executor = ProcessPoolExecutor(max_workers=1, initializer=_init_worker,
                                            initargs=(self.threads,), env=env)
        self.pid = self.executor.submit(os.getpid).result()

    def _replace_worker(self, reason: str) -> None:
        self.events.put(WorkerDied(reason))
        if self.executor is not None:
            self.executor.shutdown(wait=False, kill_workers=True)
        self.executor = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    if self.executor is None:
                        self._start_worker()
                    outcome = self.executor.submit(run_trial, self.job).result()
                except (BrokenProcessPool, TerminatedWorkerError, ShutdownExecutorError) as exc:
                    self._replace_worker(_death_reason(exc))
                    continue
                except WorkerTerminated:
                    self._replace_worker("worker process was terminated (SIGTERM)")
                    continue
                except KeyboardInterrupt:
                    break  # the worker's trial was interrupted and recorded as such
                if outcome is None:
                    break  # the study has all the trials it needs
                self.events.put(TrialFinished(outcome))
        except BaseException as exc:  # anything else: report it, never hang the run
            self.events.put(SlotFailed(exc))
        finally:
            self.events.put(SlotClosed())

    def interrupt(self) -> None:
        if self.pid is not None:
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


def _death_reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for sig in ("SIGKILL", "SIGTERM", "SIGSEGV", "SIGABRT"):
        if sig in str(exc):
            return f"worker process was killed ({sig})"
    return f"worker process died ({text[:200]})"


# -- the run ---------------------------------------------------------------------

class _Terminate(Exception):
    pass


def _raise_terminate(signum: int, frame: Any) -> None:
    raise _Terminate


class _Run:
    """The parent's side of a run: reacts to slot events until every slot has closed."""

    def __init__(self, job: TrialJob, jobs: int, timeout: float | None, stall_limit: float,
                 progress: Progress | None, on_result: Callable[[TrialOutcome], None] | None
                 ) -> None:
        self.job, self.timeout, self.progress, self.on_result = job, timeout, progress, on_result
        self.storage = open_storage(job.paths.journal, job.storage_url)
        self.study = load_study(job.paths, self.storage)
        self.events: queue.Queue[Event] = queue.Queue()
        self.stop = threading.Event()
        threads = blas_threads_per_worker(jobs)
        self.slots = [_Slot(job, threads, self.events, self.stop) for _ in range(jobs)]
        self.summary = RunSummary()
        self.started = time.monotonic()
        self.fail_streak = 0
        self.stall_limit = stall_limit
        self.stalls_checked = 0.0
        self.cut_at: float | None = None  # when the time-out's grace ran out

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress.line(message)

    def halt(self, reason: str) -> None:
        """Start no more trials; the ones in flight finish."""
        if not self.stop.is_set():
            self.stop.set()
            self.summary.stopped_reason = reason
            self.say(reason)

    def refresh(self) -> None:
        if self.progress is not None:
            self.progress.update(self.study.get_trials(deepcopy=False),
                                 time.monotonic() - self.started)

    def loop(self) -> None:
        for slot in self.slots:
            slot.start()
        open_slots = len(self.slots)
        while open_slots:
            self.watch_the_clock()
            self.watch_for_stalls()
            try:
                event = self.events.get(timeout=0.5)
            except queue.Empty:
                self.refresh()
                continue
            open_slots -= isinstance(event, SlotClosed)
            self.handle(event)
            self.refresh()

    def watch_the_clock(self) -> None:
        """--timeout: start no trial after it; interrupt the ones in flight `timeout_grace`
        later; kill what has not stopped `INTERRUPT_GRACE` after that."""
        if self.timeout is None:
            return
        over = time.monotonic() - self.started - self.timeout
        if over < 0:
            return
        grace = timeout_grace(self.timeout)
        self.halt(f"time-out reached; trials in flight get {grace:.0f}s to finish")
        if over > grace and self.cut_at is None:
            self.cut_at = time.monotonic()
            self.say("time-out grace over: interrupting the trials in flight")
            for slot in self.slots:
                slot.interrupt()
        elif self.cut_at is not None and time.monotonic() - self.cut_at > INTERRUPT_GRACE:
            self.cut_at = float("inf")  # once
            self.kill_slots(self.slots, "stopped at the run's time-out (worker did not respond)")

    def watch_for_stalls(self) -> None:
        """Fail the trial of a worker that shows no sign of progress (stopped, hung) for
        longer than the stall limit, and replace the worker."""
        if time.monotonic() - self.stalls_checked < 2.0:
            return
        self.stalls_checked = time.monotonic()
        by_pid = {slot.pid: slot for slot in self.slots if slot.pid is not None}
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            slot = by_pid.get(t.user_attrs.get("pid"))
            if slot is None:
                continue
            quiet, limit = stall_seconds(self.job.paths.trial_dir(t.number), self.stall_limit)
            if quiet > limit:
                self.say(f"trial {t.number}: no progress for {quiet:.0f}s (limit {limit:.0f}s); "
                         f"its worker {slot.pid} is stopped or hung: replacing it")
                self.kill_slots([slot], f"no progress for {quiet:.0f}s: worker stopped or hung")

    def kill_slots(self, slots: list[_Slot], reason: str) -> None:
        pids = {s.pid for s in slots if s.pid is not None}
        for slot in slots:
            slot.kill()
        fail_stale_trials(self.storage, self.study, self.job.paths, reason, pids=pids)

    def handle(self, event: Event) -> None:
        if isinstance(event, TrialFinished):
            self.trial_finished(event.outcome)
        elif isinstance(event, WorkerDied):
            failed = fail_stale_trials(self.storage, self.study, self.job.paths, event.reason)
            sync_records(self.study, self.job.paths)  # it may have died after tell
            for number in failed:
                self.say(f"trial {number} failed: {event.reason}")
        elif isinstance(event, SlotFailed):
            first_line = (str(event.error).splitlines() or [""])[0]
            self.halt(f"worker error: {type(event.error).__name__}: {first_line}")

    def trial_finished(self, outcome: TrialOutcome) -> None:
        if self.on_result is not None:
            self.on_result(outcome)
        failed = outcome.state == "FAIL" and outcome.reason != "interrupted"
        self.fail_streak = self.fail_streak + 1 if failed else 0
        if self.fail_streak >= FAIL_STREAK:
            self.halt(f"{self.fail_streak} trials failed in a row (last: {outcome.reason}); "
                      "stopping instead of burning the budget")

    def interrupt(self) -> None:
        """Ctrl-C or SIGTERM: interrupt the trials in flight, give them time to record it,
        then kill what is left (at once on a second signal) and fail its trials."""
        self.summary.interrupted = True
        self.stop.set()
        self.say("interrupted: stopping the trials in flight (again to stop at once)")
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
        fail_stale_trials(self.storage, self.study, self.job.paths, "interrupted",
                          pids={s.pid for s in self.slots if s.pid is not None})

    def close(self) -> None:
        for slot in self.slots:
            if not self.summary.interrupted:
                slot.join()
            if slot.executor is not None:
                slot.executor.shutdown(wait=not self.summary.interrupted,
                                       kill_workers=self.summary.interrupted)
        self.refresh()
        if self.progress is not None:
            self.progress.close()
        self.summary.seconds = time.monotonic() - self.started


def run_workers(paths: StudyPaths, storage_url: str | None, settings: Settings, target: int,
                jobs: int, timeout: float | None = None, progress: Progress | None = None,
                plots: bool = True, on_result: Callable[[TrialOutcome], None] | None = None,
                stall_limit: float = STALL_LIMIT) -> RunSummary:
    """Run trials with ``jobs`` workers until the study has ``target`` finished trials.

    Ctrl-C or SIGTERM stops it: in-flight trials are interrupted and recorded as
    failed ("interrupted"); a second signal kills the workers at once. Either way
    no trial is left RUNNING by a worker of this run.
    """
    run = _Run(TrialJob(paths, storage_url, settings, target, plots), jobs, timeout,
               stall_limit, progress, on_result)
    fail_stale_trials(run.storage, run.study, paths, "worker process gone (found by a later run)")
    sync_records(run.study, paths)
    old_term = signal.signal(signal.SIGTERM, _raise_terminate)
    with stderr_to(paths.root / WORKERS_LOG) as terminal:
        if progress is not None:
            progress.stream = terminal
        try:
            run.loop()
        except (KeyboardInterrupt, _Terminate):
            run.interrupt()
        finally:
            signal.signal(signal.SIGTERM, old_term)
            run.close()
    return run.summary

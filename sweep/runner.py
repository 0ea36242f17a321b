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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loky import ProcessPoolExecutor
from loky.process_executor import BrokenProcessPool, TerminatedWorkerError

from .liveness import fail_stale_trials, pid_alive, sync_records
from .progress import Progress
from .records import TrialOutcome
from .storage import open_storage
from .study import Settings, StudyPaths, load_study
from .trial import TrialJob, WorkerTerminated, run_trial

FAIL_STREAK = 5  # this many failed trials in a row stop the run
INTERRUPT_GRACE = 15.0  # seconds the trials in flight get to record an interrupt


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

    def on_signal(signum: int, frame: Any) -> None:
        if not received:
            received.append(signum)
            raise KeyboardInterrupt if signum == signal.SIGINT else WorkerTerminated
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


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
                except (BrokenProcessPool, TerminatedWorkerError) as exc:
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
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.executor is not None:
            self.executor.shutdown(wait=False, kill_workers=True)
        deadline = time.monotonic() + 3
        while self.pid is not None and pid_alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.02)


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

    def __init__(self, job: TrialJob, jobs: int, timeout: float | None,
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
            if self.timeout is not None and time.monotonic() - self.started > self.timeout:
                self.halt("time-out reached; in-flight trials finish")
            try:
                event = self.events.get(timeout=0.5)
            except queue.Empty:
                self.refresh()
                continue
            open_slots -= isinstance(event, SlotClosed)
            self.handle(event)
            self.refresh()

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
                plots: bool = True,
                on_result: Callable[[TrialOutcome], None] | None = None) -> RunSummary:
    """Run trials with ``jobs`` workers until the study has ``target`` finished trials.

    Ctrl-C or SIGTERM stops it: in-flight trials are interrupted and recorded as
    failed ("interrupted"); a second signal kills the workers at once. Either way
    no trial is left RUNNING by a worker of this run.
    """
    run = _Run(TrialJob(paths, storage_url, settings, target, plots), jobs, timeout, progress,
               on_result)
    fail_stale_trials(run.storage, run.study, paths, "worker process gone (found by a later run)")
    sync_records(run.study, paths)
    old_term = signal.signal(signal.SIGTERM, _raise_terminate)
    try:
        run.loop()
    except (KeyboardInterrupt, _Terminate):
        run.interrupt()
    finally:
        signal.signal(signal.SIGTERM, old_term)
        run.close()
    return run.summary

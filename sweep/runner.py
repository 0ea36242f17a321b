"""Running a study: worker processes pulling trials until the study has enough.

Each of the ``jobs`` worker slots owns a one-process executor from joblib's loky
backend, so trials flow as workers free up, and a worker that dies (killed, out
of memory) takes only its own trial down: the slot fails that trial, starts a
replacement worker and goes on, while the other slots never notice.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from joblib.externals.loky import ProcessPoolExecutor
from joblib.externals.loky.process_executor import BrokenProcessPool, TerminatedWorkerError

from .progress import Progress
from .records import sync_records
from .study import StudyPaths, count, fail_stale_trials, load_study, open_storage, pid_alive
from .trial import TrialJob, run_trial

FAIL_STREAK = 5  # this many failed trials in a row stop the run


@dataclass
class RunSummary:
    finished: int = 0
    interrupted: bool = False
    stopped_reason: str = ""
    results: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def blas_threads_per_worker(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // jobs)


def _init_worker(threads: int) -> None:
    from threadpoolctl import threadpool_limits

    global _LIMITS
    _LIMITS = threadpool_limits(limits=threads, user_api="blas")
    interrupted = []

    def on_signal(signum: int, frame: Any) -> None:
        # The first SIGINT or SIGTERM interrupts the trial; later ones are ignored so
        # that the trial's cleanup (recording its state) is never itself interrupted.
        if not interrupted:
            interrupted.append(signum)
            raise KeyboardInterrupt
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


_LIMITS = None


class _Slot(threading.Thread):
    def __init__(self, job: TrialJob, threads: int, events: queue.Queue,
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

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    if self.executor is None:
                        self._start_worker()
                    result = self.executor.submit(run_trial, self.job).result()
                except (BrokenProcessPool, TerminatedWorkerError) as exc:
                    self.events.put(("died", self.pid, _death_reason(exc)))
                    if self.executor is not None:
                        self.executor.shutdown(wait=False, kill_workers=True)
                    self.executor = None
                    continue
                if result["number"] is None:
                    break  # the study has all the trials it needs
                self.events.put(("trial", self.pid, result))
        except BaseException as exc:  # anything else: report it, never hang the run
            self.events.put(("error", self.pid, exc))
        finally:
            self.events.put(("exit", self.pid, None))

    def interrupt(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGTERM)
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


class _Terminate(Exception):
    pass


def _raise_terminate(signum: int, frame: Any) -> None:
    raise _Terminate


def run_workers(paths: StudyPaths, storage_url: str | None, target: int, jobs: int,
                timeout: float | None = None, progress: Progress | None = None,
                plots: bool = True,
                on_result: Callable[[dict[str, Any]], None] | None = None) -> RunSummary:
    """Run trials with ``jobs`` workers until the study has ``target`` finished trials.

    Ctrl-C or SIGTERM stops it: in-flight trials are interrupted and recorded as
    failed ("interrupted"); a second signal kills the workers at once. Either way
    no trial is left RUNNING by a worker of this run.
    """
    storage = open_storage(paths, storage_url)
    study = load_study(paths, storage)
    fail_stale_trials(study, paths, "worker process gone (found by a later run)")
    sync_records(study, paths)
    job = TrialJob(str(paths.root.parent), paths.name, storage_url, target, plots)
    threads = blas_threads_per_worker(jobs)
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    slots = [_Slot(job, threads, events, stop) for _ in range(jobs)]
    summary, started = RunSummary(), time.monotonic()
    fail_streak = 0
    old_term = signal.signal(signal.SIGTERM, _raise_terminate)

    def refresh() -> None:
        if progress is not None:
            trials = study.get_trials(deepcopy=False)
            progress.update(count(trials), trials, time.monotonic() - started)

    try:
        for slot in slots:
            slot.start()
        alive = len(slots)
        while alive:
            if timeout is not None and time.monotonic() - started > timeout and not stop.is_set():
                stop.set()
                summary.stopped_reason = "time-out reached; in-flight trials finish"
                _say(progress, summary.stopped_reason)
            try:
                kind, pid, payload = events.get(timeout=0.5)
            except queue.Empty:
                refresh()
                continue
            if kind == "exit":
                alive -= 1
            elif kind == "died":
                failed = fail_stale_trials(study, paths, payload)
                sync_records(study, paths)  # it may have died between tell and trial.json
                for number in failed:
                    _say(progress, f"trial {number} failed: {payload}")
                summary.finished += len(failed)
            elif kind == "error":
                stop.set()
                first_line = (str(payload).splitlines() or [""])[0]
                summary.stopped_reason = f"worker error: {type(payload).__name__}: {first_line}"
                _say(progress, summary.stopped_reason)
            elif kind == "trial":
                summary.results.append(payload)
                summary.finished += 1
                if on_result is not None:
                    on_result(payload)
                if payload["state"] == "FAIL" and not payload.get("reason") == "interrupted":
                    fail_streak += 1
                else:
                    fail_streak = 0
                if fail_streak >= FAIL_STREAK and not stop.is_set():
                    stop.set()
                    summary.stopped_reason = (
                        f"{fail_streak} trials failed in a row (last: {payload['reason']}); "
                        "stopping instead of burning the budget")
                    _say(progress, summary.stopped_reason)
            refresh()
    except (KeyboardInterrupt, _Terminate):
        summary.interrupted = True
        stop.set()
        _say(progress, "interrupted: stopping the trials in flight (again to stop at once)")
        try:
            for slot in slots:
                slot.interrupt()
            deadline = time.monotonic() + 15
            for slot in slots:
                slot.join(max(0.0, deadline - time.monotonic()))
        except (KeyboardInterrupt, _Terminate):
            pass
        for slot in slots:
            slot.kill()
        fail_stale_trials(study, paths, "interrupted",
                          pids={s.pid for s in slots if s.pid is not None})
    finally:
        signal.signal(signal.SIGTERM, old_term)
        for slot in slots:
            if not summary.interrupted:
                slot.join()
            if slot.executor is not None:
                slot.executor.shutdown(wait=not summary.interrupted,
                                       kill_workers=summary.interrupted)
        refresh()
        if progress is not None:
            progress.close()
    summary.seconds = time.monotonic() - started
    return summary


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress.line(message)

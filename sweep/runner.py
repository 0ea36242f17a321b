"""Running a study: worker slots (workers.py) pulling trials until the study has enough.

The parent's loop only reacts to what slots report: a finished trial, a worker that
died (its trial is failed and the worker replaced), a worker stalled or past the
time-out, Ctrl-C. Every way out leaves no trial RUNNING.
"""

from __future__ import annotations

import io
import socket
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from optuna.storages import JournalStorage
from optuna.trial import TrialState

from mlp.experiment import read_history

from .dask_backend import DaskPool
from .heartbeat import beats, fail_dead_trials
from .jobs import Workers
from .liveness import fail_stale_trials, sync_records
from .progress import Progress
from .records import TrialOutcome
from .storage import open_storage
from .study import Settings, StudyPaths, load_study, study_locks
from .trial import TrialJob, run_trial
from .workers import (
    INTERRUPT_GRACE,
    Event,
    Pool,
    Slot,
    SlotFailed,
    TaskDone,
    WorkerDied,
    blas_threads_per_worker,
)

__all__ = ["RunSummary", "blas_threads_per_worker", "run_workers"]

FAIL_STREAK = 5  # this many failed trials in a row stop the run
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


# -- the run ---------------------------------------------------------------------

class _Run:
    """The parent's side of a run: reacts to what the worker slots report."""

    def __init__(self, job: TrialJob, workers: Workers, timeout: float | None,
                 stall_limit: float,
                 progress: Progress | None, on_result: Callable[[TrialOutcome], None] | None,
                 client: Any = None) -> None:
        self.job, self.timeout, self.progress, self.on_result = job, timeout, progress, on_result
        self.storage = open_storage(job.paths.journal, job.storage_url,
                                    heartbeat=job.settings.heartbeat)
        self.study = load_study(job.paths, self.storage)
        if client is None:
            self.pool = Pool(lambda: (run_trial, job), workers.jobs, job.paths.root,
                             say=self.say, on_start=self.use_terminal, threads=workers.threads)
        else:
            self.pool = DaskPool(client, lambda: (run_trial, job), workers.jobs,
                                 job.paths.root, say=self.say, on_start=self.use_terminal,
                                 threads=workers.threads)
        self.summary = RunSummary()
        self.started = time.monotonic()
        self.fail_streak = 0
        self.stall_limit = stall_limit
        self.stalls_checked = 0.0
        self.dead_checked = time.monotonic()
        self.cut_at: float | None = None  # when the time-out's grace ran out

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress.line(message)

    def use_terminal(self, terminal: IO[str]) -> None:
        """While the pool runs, file descriptor 2 goes to workers.log: progress written to
        the process's real stderr goes to ``terminal`` instead. A stream of another kind
        (a notebook kernel's, which sends text to the notebook) is left as it is."""
        if self.progress is not None and _is_descriptor_2(self.progress.stream):
            self.progress.stream = terminal

    def halt(self, reason: str) -> None:
        """Start no more trials; the ones in flight finish."""
        if not self.pool.stop.is_set():
            self.pool.stop.set()
            self.summary.stopped_reason = reason
            self.say(reason)

    def refresh(self, final: bool = False) -> None:
        if self.progress is not None:
            self.progress.update(self.study.get_trials(deepcopy=False),
                                 time.monotonic() - self.started, final)

    def run(self) -> RunSummary:
        fail_stale_trials(self.storage, self.study, self.job.paths,
                          "worker process gone (found by a later run)")
        dask = isinstance(self.pool, DaskPool)
        if dask:
            fail_stale_trials(self.storage, self.study, self.job.paths,
                              "Dask worker gone (found by a later run)", which=self.pool.gone())
        self.pool.run(self.on_event)
        if self.progress is not None and self.progress.stream.closed:
            self.progress.stream = sys.stderr  # the pool's terminal stream is closed now
        if self.pool.interrupted:
            self.summary.interrupted = True
            fail_stale_trials(self.storage, self.study, self.job.paths, "interrupted",
                              pids=self.pool.pids())
        if not dask:
            self.fail_leftovers()
        if dask:  # cancelled (Ctrl-C, time-out): their Dask workers' results are discarded
            cut = self.pool.interrupted or self.cut_at is not None
            fail_stale_trials(self.storage, self.study, self.job.paths,
                              "interrupted" if cut else "lost with its Dask task (the "
                              "scheduler gone, or the task run again after a worker died)",
                              which=self.pool.own)
        self.refresh(final=True)
        if self.progress is not None:
            self.progress.close()
        self.summary.seconds = time.monotonic() - self.started
        return self.summary

    def fail_leftovers(self) -> None:
        """Once the pool has ended no worker of this run is in a trial: a trial still
        RUNNING under one of its pids (kept workers live on), or without a pid in a
        journal study, was lost on the way, e.g. to a time-out's interrupt inside
        ``Study.ask`` (the sampler runs there), before the worker recorded its pid."""
        own, here = self.pool.pids(), socket.gethostname()
        local = isinstance(self.storage, JournalStorage)

        def lost(t: Any) -> bool:
            pid = t.user_attrs.get("pid")
            return (pid is None and local) or (pid in own and t.user_attrs.get("host") == here)

        cut = self.pool.interrupted or self.cut_at is not None
        fail_stale_trials(self.storage, self.study, self.job.paths,
                          "interrupted" if cut else "lost by its worker", which=lost)

    def on_event(self, event: Event | None) -> None:
        self.watch_the_clock()
        self.watch_for_stalls()
        self.watch_other_machines()
        if isinstance(event, TaskDone):
            self.trial_finished(event.result)
        elif isinstance(event, WorkerDied):
            failed = fail_stale_trials(self.storage, self.study, self.job.paths, event.reason,
                                       which=event.which)
            sync_records(self.study, self.job.paths)  # it may have died after tell
            for number in failed:
                self.say(f"trial {number} failed: {event.reason}")
        elif isinstance(event, SlotFailed):
            first_line = (str(event.error).splitlines() or [""])[0]
            self.halt(f"worker error: {type(event.error).__name__}: {first_line}")
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
            for slot in self.pool.slots:
                slot.interrupt()
        elif self.cut_at is not None and time.monotonic() - self.cut_at > INTERRUPT_GRACE:
            self.cut_at = float("inf")  # once
            self.kill_slots(self.pool.slots,
                            "stopped at the run's time-out (worker did not respond)")

    def watch_for_stalls(self) -> None:
        """Fail the trial of a worker that shows no sign of progress (stopped, hung) for
        longer than the stall limit, and replace the worker."""
        if time.monotonic() - self.stalls_checked < 2.0:
            return
        self.stalls_checked = time.monotonic()
        by_pid = {slot.pid: slot for slot in self.pool.slots if slot.pid is not None}
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            slot = by_pid.get(t.user_attrs.get("pid"))
            if slot is None:
                continue
            quiet, limit = stall_seconds(self.job.paths.trial_dir(t.number), self.stall_limit)
            if quiet > limit:
                self.say(f"trial {t.number}: no progress for {quiet:.0f}s (limit {limit:.0f}s); "
                         f"its worker {slot.pid} is stopped or hung: replacing it")
                self.kill_slots([slot], f"no progress for {quiet:.0f}s: worker stopped or hung")

    def watch_other_machines(self) -> None:
        """In a shared database study, fail (and retry) trials whose heartbeat stopped,
        also while every worker of this run is busy training (heartbeat.py)."""
        if not beats(self.storage) or \
                time.monotonic() - self.dead_checked < self.job.settings.heartbeat:
            return
        self.dead_checked = time.monotonic()
        with study_locks(self.job.paths, self.storage):
            failed = fail_dead_trials(self.storage, self.job.paths.name)
        for number in failed:
            self.say(f"trial {number} failed: its heartbeat stopped (run or machine died); "
                     "retry enqueued")

    def kill_slots(self, slots: list[Slot], reason: str) -> None:
        pids = {s.pid for s in slots if s.pid is not None}
        for slot in slots:
            slot.kill()
        fail_stale_trials(self.storage, self.study, self.job.paths, reason, pids=pids)

    def trial_finished(self, outcome: TrialOutcome) -> None:
        if self.on_result is not None:
            self.on_result(outcome)
        failed = outcome.state == "FAIL" and outcome.reason != "interrupted"
        self.fail_streak = self.fail_streak + 1 if failed else 0
        if self.fail_streak >= FAIL_STREAK:
            self.halt(f"{self.fail_streak} trials failed in a row (last: {outcome.reason}); "
                      "stopping instead of burning the budget")


def _is_descriptor_2(stream: IO[str]) -> bool:
    try:
        return isinstance(stream, io.TextIOWrapper) and stream.fileno() == 2
    except (OSError, ValueError):
        return False


def run_workers(paths: StudyPaths, storage_url: str | None, settings: Settings, target: int,
                workers: Workers, timeout: float | None = None,
                progress: Progress | None = None, plots: str = "best",
                on_result: Callable[[TrialOutcome], None] | None = None,
                stall_limit: float = STALL_LIMIT, client: Any = None) -> RunSummary:
    """Run trials with ``workers`` until the study has ``target`` finished trials.

    Ctrl-C or SIGTERM stops it: in-flight trials are interrupted and recorded as
    failed ("interrupted"); a second signal kills the workers at once. Either way
    no trial is left RUNNING by a worker of this run. With a Dask ``client`` the trials
    run on its cluster's workers, ``jobs`` at a time (sweep/dask_backend.py).
    """
    not_after = time.time() + timeout if timeout is not None else None
    job = TrialJob(paths, storage_url, settings, target, plots, not_after, workers,
                   uuid.uuid4().hex)
    return _Run(job, workers, timeout, stall_limit, progress, on_result, client).run()

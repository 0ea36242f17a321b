"""The parent's side of a run: worker slots pull trials until the study has enough.

The controller only reacts to what the pool reports (a finished trial, a lost worker,
a slot that failed) and watches three clocks: the run's time-out, trials that show no
progress (a stopped or hung worker), and, in a database shared by machines, trials
whose heartbeat stopped. Every trial it ends goes through the ledger, and every way
out leaves no trial of this run RUNNING. It knows no backend: loky and Dask differ
only behind `backend.Backend`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from optuna.storages import JournalStorage
from optuna.trial import TrialState

from mlp.experiment import read_history

from ..study.locks import study_locks
from ..study.paths import StudyPaths
from ..study.records import TrialOutcome
from ..study.settings import Settings, load_study
from ..study.storage import beats, open_storage
from .backend import (
    INTERRUPT_GRACE,
    Backend,
    Event,
    Pool,
    SlotFailed,
    TaskDone,
    Worker,
    WorkerLost,
)
from .heartbeat import fail_silent_trials
from .jobs import Workers
from .ledger import Ledger
from .liveness import dead_worker, either, unclaimed
from .progress import Progress
from .trial import TrialJob, run_trial

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


class Controller:
    """Runs one study's trials on a backend's workers and reacts to what they report."""

    def __init__(self, job: TrialJob, backend: Backend, workers: Workers,
                 timeout: float | None, stall_limit: float, progress: Progress | None,
                 on_result: Callable[[TrialOutcome], None] | None,
                 fail_streak: int = FAIL_STREAK) -> None:
        self.job, self.backend = job, backend
        self.max_fail_streak = fail_streak
        self.timeout, self.stall_limit = timeout, stall_limit
        self.progress, self.on_result = progress, on_result
        self.storage = open_storage(job.paths.journal, job.storage_url,
                                    heartbeat=job.settings.heartbeat)
        self.ledger = Ledger(job.paths, self.storage)
        self.study = load_study(job.paths, self.storage)
        self.local = isinstance(self.storage, JournalStorage)
        self.pool = Pool(backend, lambda: (run_trial, job), workers.jobs,
                         threads=workers.threads, say=self.say)
        self.summary = RunSummary()
        self.started = time.monotonic()
        self.fail_streak = 0
        self.stalls_checked = 0.0
        self.silent_checked = time.monotonic()
        self.cut_at: float | None = None  # when the time-out's grace ran out

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress.line(message)

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
        found_by = "found by a later run"
        self.ledger.fail(dead_worker(self.local), f"worker process gone ({found_by})")
        lost = self.backend.lost_earlier()
        if lost is not None:
            self.ledger.fail(lost, f"its worker is gone ({found_by})")
        self.pool.run(self.on_event)
        self.summary.interrupted = self.pool.interrupted
        # No worker of this run is in a trial now: what is still RUNNING under one was
        # lost on the way (an interrupt, a cancelled task, a time-out's interrupt inside
        # Study.ask before the worker recorded itself).
        cut = self.pool.interrupted or self.cut_at is not None
        self.ledger.fail(self.backend.held_by_run(self.pool.workers, self.local),
                         "interrupted" if cut else self.backend.leftover_reason)
        self.refresh(final=True)
        if self.progress is not None:
            self.progress.close()
        self.summary.seconds = time.monotonic() - self.started
        return self.summary

    def on_event(self, event: Event | None) -> None:
        self.watch_the_clock()
        self.watch_for_stalls()
        self.watch_other_machines()
        if isinstance(event, TaskDone):
            self.trial_finished(event.result)
        elif isinstance(event, WorkerLost):
            # in a journal study a trial without a worker is one lost between its creation
            # and its worker recording itself (both under the study's locks): this one's
            failed = self.ledger.fail(either(event.which, unclaimed(self.local)), event.reason)
            self.ledger.mend()  # it may have died after its trial's tell
            for number in failed:
                self.say(f"trial {number} failed: {event.reason}{self.retry_text(number)}")
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
            for worker in self.pool.workers:
                worker.interrupt()
        elif self.cut_at is not None and time.monotonic() - self.cut_at > INTERRUPT_GRACE:
            self.cut_at = float("inf")  # once
            self.kill(self.pool.workers, "stopped at the run's time-out (worker did not respond)")

    def watch_for_stalls(self) -> None:
        """Fail the trial of a worker that shows no sign of progress (stopped, hung) for
        longer than the stall limit, and replace the worker."""
        if time.monotonic() - self.stalls_checked < 2.0:
            return
        self.stalls_checked = time.monotonic()
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            worker = next((w for w in self.pool.workers if w.holds(t)), None)
            if worker is None:
                continue
            quiet, limit = stall_seconds(self.job.paths.trial_dir(t.number), self.stall_limit)
            if quiet > limit:
                self.say(f"trial {t.number}: no progress for {quiet:.0f}s (limit {limit:.0f}s); "
                         "its worker is stopped or hung: replacing it")
                self.kill([worker], f"no progress for {quiet:.0f}s: worker stopped or hung")

    def watch_other_machines(self) -> None:
        """In a shared database study, fail (and retry) trials whose heartbeat stopped,
        also while every worker of this run is busy training (heartbeat.py)."""
        if not beats(self.storage) or \
                time.monotonic() - self.silent_checked < self.job.settings.heartbeat:
            return
        self.silent_checked = time.monotonic()
        with study_locks(self.job.paths, self.storage):
            failed = fail_silent_trials(self.ledger)
        for number in failed:
            self.say(f"trial {number} failed: its heartbeat stopped (run or machine died)"
                     f"{self.retry_text(number)}")

    def kill(self, workers: list[Worker], reason: str) -> None:
        """Stop these workers now and fail the trials they held."""
        held = [t for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                if any(w.holds(t) for w in workers)]
        numbers = {t.number for t in held}
        for worker in workers:
            worker.kill()
        for number in self.ledger.fail(lambda t: t.number in numbers, reason):
            self.say(f"trial {number} failed: {reason}{self.retry_text(number)}")

    def retry_text(self, number: int) -> str:
        retry = self.ledger.retried_as.get(number)
        return f"; retried as trial {retry}" if retry is not None else ""

    def trial_finished(self, outcome: TrialOutcome) -> None:
        if self.on_result is not None:
            self.on_result(outcome)
        failed = outcome.state == "FAIL" and not outcome.lost  # its own code failed
        self.fail_streak = self.fail_streak + 1 if failed else 0
        if self.fail_streak >= self.max_fail_streak:
            self.halt(f"{self.fail_streak} trials failed in a row (last: {outcome.reason}); "
                      "stopping instead of burning the budget")


def run_trials(paths: StudyPaths, storage_url: str | None, settings: Settings, target: int,
               backend: Backend, workers: Workers, timeout: float | None = None,
               progress: Progress | None = None, plots: str = "best",
               on_result: Callable[[TrialOutcome], None] | None = None,
               stall_limit: float = STALL_LIMIT, fail_streak: int = FAIL_STREAK) -> RunSummary:
    """Run trials on ``backend`` until the study has ``target`` finished trials.

    Ctrl-C or SIGTERM stops it: in-flight trials are interrupted and recorded as
    failed ("interrupted"); a second signal kills the workers at once. Either way no
    trial is left RUNNING by a worker of this run.
    """
    not_after = time.time() + timeout if timeout is not None else None
    job = TrialJob(paths, storage_url, settings, target, plots, not_after, workers,
                   uuid.uuid4().hex)
    return Controller(job, backend, workers, timeout, stall_limit, progress, on_result,
                      fail_streak).run()

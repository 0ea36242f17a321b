"""The parent's side of a run: worker slots pull trials until the study has enough.

The controller only reacts to what the pool reports (a finished trial, a lost worker,
a slot that failed) and watches: the run's time-out; its workers' progress (CPU time,
files written) while they hold a trial or one of the study's locks, so that a stopped
or hung worker is replaced; who holds the study's lock files, named while the workers
wait; what the backend waits for (a Dask cluster without workers), for at most the
stall limit; and, in a database shared by machines, trials whose heartbeat stopped.
Every trial it ends goes through the ledger, and every way out leaves no trial of this
run RUNNING that a later run cannot fail: when the storage itself goes away (a
database gone, a damaged journal, a full disk) the run stops at once, in one line. It
knows no backend: loky and Dask differ only behind `backend.Backend`.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from optuna.storages import JournalStorage, RDBStorage
from optuna.trial import FrozenTrial, TrialState

from mlp.experiment import read_history

from ..errors import StudyError, os_error_text
from ..study.database import DatabaseError, DatabaseUnavailable
from ..study.locks import database_wait_of, lock_files, study_locks
from ..study.paths import StudyPaths
from ..study.records import TrialOutcome, retry_links
from ..study.settings import Settings, load_study
from ..study.storage import JournalDamaged, beats, open_storage
from ..study.waiting import (
    NOTICE_AFTER,
    NOTICE_EVERY,
    Wait,
    WaitedTooLong,
    cpu_seconds,
    describe_process,
    holder_named,
    saying,
    stopped,
    watching,
    who_holds,
)
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
from .ledger import Ledger, machine_fault
from .liveness import claim_grace, dead_worker, either, unclaimed
from .progress import Progress
from .trial import TrialJob, run_trial

FAIL_STREAK = 5  # this many failed trials in a row stop the run
STALL_LIMIT = 300.0  # seconds without a sign of progress before a trial counts as stalled
STALL_EPOCHS = 10  # ... or this many times the trial's mean epoch time, if longer
NOTICE_REPEAT = NOTICE_EVERY - 5  # a worker's line said this soon after its like is not
LOOK_EVERY = 2.0  # seconds between the run's looks at its workers, locks and cluster
ACTIVE_SHARE = 0.05  # a worker using this share of a core between two looks is working
# what stops the run at once, its trials in flight interrupted: nothing can be recorded
FATAL = (DatabaseUnavailable, DatabaseError, JournalDamaged, OSError)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def timeout_grace(timeout: float) -> float:
    """How long trials in flight may run past --timeout: a tenth of it, 5 s to 5 min."""
    return min(300.0, max(5.0, 0.1 * timeout))


def stall_seconds(trial_dir: Path, floor: float,
                  started: float | None = None) -> tuple[float, float]:
    """How long a trial has shown no progress (no file of its directory written since
    ``started``, a time.time()), and how long it may: ``floor``, or `STALL_EPOCHS` times
    its mean epoch so far."""
    try:
        files = [p for p in trial_dir.iterdir() if p.is_file()]
        last = max((p.stat().st_mtime for p in files), default=None)
    except OSError:
        last = None
    if started is not None:
        last = started if last is None else max(last, started)
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


def _gist(line: str) -> str:
    """A line with its numbers and paths left out: the same wait said again, or by
    another process (pids, seconds, a path relative or absolute), has the same gist."""
    return re.sub(r"\d+", "#", re.sub(r"\S*/\S*", "/", line))


@dataclass
class Activity:
    """What the run last saw of one worker process: its CPU time, and when it last
    worked (used `ACTIVE_SHARE` of a core between two looks) or stopped."""

    cpu: float | None
    seen: float
    active_at: float
    stopped_since: float | None = None
    held: int | None = None  # the trial it ran at the last look


@dataclass
class Holder:
    """A process seen holding one of the study's lock files, and since when."""

    pid: int
    since: float
    noticed: float = field(default=float("-inf"))


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
                                    heartbeat=job.settings.heartbeat, in_run=True)
        self.ledger = Ledger(job.paths, self.storage)
        self.study = load_study(job.paths, self.storage)
        self.local = isinstance(self.storage, JournalStorage)
        self.pool = Pool(backend, lambda: (run_trial, job), workers.jobs,
                         threads=workers.threads, say=self.say)
        self.summary = RunSummary()
        self.started = time.monotonic()
        self.fail_streak = 0
        self.silent_checked = time.monotonic()
        self.cut_at: float | None = None  # when the time-out's grace ran out
        self.looked = 0.0
        self.activity: dict[int, Activity] = {}  # by worker pid
        self.holders: dict[Path, Holder] = {}  # the study's lock files' holders
        self.backend_wait: Wait | None = None
        self.fatal: BaseException | None = None  # what stopped the run at once
        self.fatal_at = 0.0
        self._watching = False
        self.said_lost: set[int] = set()  # lost trials whose failure the console has had
        self.shown: set[int] = set()  # finished trials whose row the console has had
        self.began = datetime.now()  # Optuna's trial times are naive local times
        self.waits_said: dict[str, float] = {}  # when each wait (its gist) was last said

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress.line(message)

    def say_wait(self, line: str, about: str = "") -> None:
        """A line about a wait (``about``, if the line adds who says it), unless this run
        or one of its workers said the same wait less than `NOTICE_REPEAT` ago."""
        gist, now = _gist(about or line), time.monotonic()
        if now - self.waits_said.get(gist, -NOTICE_REPEAT) >= NOTICE_REPEAT:
            self.waits_said[gist] = now
            self.say(line)

    def own_pids(self) -> set[int]:
        """This run's process and its workers' processes on this machine."""
        return {w.process_id for w in self.pool.workers
                if w.process_id is not None} | {os.getpid()}

    def pass_on_notices(self) -> None:
        """What the workers said about their waits (a database they cannot connect to)
        is in workers.log: said here too, once for all the workers that say it. A wait
        for a lock this run or one of its workers holds is not: the run says what that
        holder itself waits for (`watch_locks`)."""
        own = self.own_pids()
        for worker, message in self.backend.notices():
            if holder_named(message) not in own:
                self.say_wait(f"{worker}: {message}", about=message)

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
        with saying(self.say), watching(self.on_lock_wait):
            try:
                found_by = "found by a later run"
                grace = claim_grace(self.local, self.job.settings.heartbeat)
                self.ledger.fail(dead_worker(self.local, grace),
                                 f"worker process gone ({found_by})")
                lost = self.backend.lost_earlier()
                if lost is not None:
                    self.ledger.fail(lost, f"its worker is gone ({found_by})")
            except BaseException:
                for worker in self.pool.workers:  # never started: nothing to wait for
                    worker.close(kill=True)
                raise
            self.pool.run(self.on_event)
            self.summary.interrupted = self.pool.interrupted
            # No worker of this run is in a trial now: what is still RUNNING under one was
            # lost on the way (an interrupt, a cancelled task, a time-out's interrupt inside
            # Study.ask before the worker recorded itself).
            cut = self.pool.interrupted or self.cut_at is not None or self.fatal is not None
            left_running = False
            try:
                self.ledger.fail(self.backend.held_by_run(self.pool.workers, self.local),
                                 "interrupted" if cut else self.backend.leftover_reason)
                self.show_the_unshown()
                self.refresh(final=True)
            except FATAL + (StudyError,) as exc:
                self.fatal = self.fatal or exc
                left_running = True
            if self.progress is not None:
                self.progress.close()
        self.summary.seconds = time.monotonic() - self.started
        if self.fatal is not None:
            if not left_running:
                raise self.fatal
            if not self.job.paths.journal.exists() and self.job.storage_url is None:
                raise StudyError(f"the study's journal {self.job.paths.journal} is gone "
                                 "(moved or deleted while the run ran): put it back to "
                                 "resume the study") from None
            raise StudyError(f"{self.fatal_text()}; its trials left RUNNING are failed by "
                             "the next run") from None
        return self.summary

    def on_event(self, event: Event | None) -> None:
        if self.fatal is not None:
            self.after_fatal(event)
            return
        try:
            self.handle(event)
        except FATAL + (WaitedTooLong,) as exc:
            self.stop_for(exc)

    def handle(self, event: Event | None) -> None:
        self.watch_the_clock()
        self.look()
        self.watch_other_machines()
        if isinstance(event, TaskDone):
            self.trial_finished(event.result)
        elif isinstance(event, WorkerLost):
            # in a journal study a trial without a worker is one lost between its creation
            # and its worker recording itself (both under the study's locks): this one's
            failed = self.ledger.fail(either(event.which, unclaimed(self.local)), event.reason)
            self.ledger.mend()  # it may have died after its trial's tell
            for number in failed:
                self.say_lost(number, event.reason)
            self.say_failed_on_the_way_out(event.which)
        elif isinstance(event, SlotFailed):
            self.slot_failed(event.error)
        self.refresh()

    def slot_failed(self, error: BaseException) -> None:
        if isinstance(error, FATAL):
            self.stop_for(error)  # the storage is gone for the workers too
        elif isinstance(error, StudyError):  # already one line for the user
            self.halt(str(error))
        else:
            first_line = (str(error).splitlines() or [""])[0]
            self.halt(f"worker error: {type(error).__name__}: {first_line}")

    def stop_for(self, error: BaseException) -> None:
        """Stop at once: what the run needs is gone (its storage). The trials in flight
        are interrupted (they cannot be recorded either) and the workers killed
        `INTERRUPT_GRACE` later; the error ends the run."""
        self.fatal, self.fatal_at = error, time.monotonic()
        self.pool.stop.set()
        self.summary.stopped_reason = (self.fatal_text().splitlines() or [""])[0]
        for worker in self.pool.workers:
            worker.interrupt()

    def fatal_text(self) -> str:
        """What stopped the run, in words (an OSError's path named, not "[Errno 2]")."""
        return os_error_text(self.fatal) if isinstance(self.fatal, OSError) else \
            str(self.fatal)

    def after_fatal(self, event: Event | None) -> None:
        if isinstance(event, TaskDone):
            self.show(event.result)  # finished before the end: still worth its line
        if self.fatal_at and time.monotonic() - self.fatal_at > INTERRUPT_GRACE:
            self.fatal_at = 0.0  # once
            for worker in self.pool.workers:
                worker.kill()

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

    def look(self) -> None:
        """Every `LOOK_EVERY` seconds: the workers' progress, the holders of the study's
        locks, and what the backend waits for."""
        if self._watching or time.monotonic() - self.looked < LOOK_EVERY:
            return
        self._watching = True
        try:
            if self.looked and time.monotonic() - self.looked > 5 * LOOK_EVERY:
                # the run itself was not looking (suspended with its workers, Ctrl-Z): it
                # cannot tell whether they worked meanwhile, and judges them from now on
                self.activity.clear()
                self.holders.clear()
            self.looked = time.monotonic()
            self.pass_on_notices()
            self.watch_locks()
            self.watch_for_stalls()
            self.watch_backend()
        finally:
            self._watching = False

    def on_lock_wait(self, holder: int | None, waited: float) -> None:
        """While this thread waits for a lock: a worker of this run that holds it and is
        stopped or hung is replaced, as it would be by `look`."""
        self.look()

    def watch_locks(self) -> None:
        """Who holds the study's lock files, and since when (continuously, as far as
        looks every `LOOK_EVERY` seconds tell). A holder that is not a worker of this run
        is named now and then: this run's workers wait for it."""
        now = time.monotonic()
        own = self.own_pids()
        for path in lock_files(self.job.paths):
            pid = who_holds(path) if path.exists() else None
            known = self.holders.get(path)
            if pid is None:
                self.holders.pop(path, None)
                continue
            if known is None or known.pid != pid:
                known = self.holders[path] = Holder(pid, now)
            held = now - known.since
            if held < NOTICE_AFTER or now - known.noticed < NOTICE_EVERY:
                continue
            if pid not in own:
                known.noticed = now
                self.say_wait(f"waiting for the study's lock {path}, held by "
                              f"{describe_process(pid)}: {held:.0f}s")
                continue
            blocked = database_wait_of(self.storage, pid)  # a worker of ours, held up there
            if blocked:
                known.noticed = now
                self.say_wait(f"waiting: the study's lock {path} is held by this run's "
                              f"worker {describe_process(pid)}{blocked}: {held:.0f}s")

    def watch_for_stalls(self) -> None:
        """Replace a worker of this machine that shows no progress (stopped, hung) for
        longer than the stall limit, and fail the trial it held: progress is a file of
        its trial's directory written, or CPU time used; a worker that holds no trial
        stalls when it holds one of the study's locks, or is stopped."""
        now = time.monotonic()
        running = None
        for worker in self.pool.workers:
            pid = worker.process_id
            if pid is None:
                continue  # no process here (a Dask worker): its scheduler watches it
            seen = self._activity(pid, now)
            if running is None:
                running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            held = [t for t in running if worker.holds(t)]
            quiet = now - seen.active_at
            lost, seen.held = seen.held, held[0].number if held else None
            if not held and lost is not None and seen.stopped_since is not None:
                # its trial was failed under it (a heartbeat sweep): nothing to wait for
                self.say(f"worker {pid}: stopped, and its trial {lost} failed meanwhile: "
                         "replacing it")
                self.kill([worker], "worker stopped")
                continue
            if held:
                t = held[0]
                start = t.datetime_start.timestamp() if t.datetime_start else None
                files, limit = stall_seconds(self.job.paths.trial_dir(t.number),
                                             self.stall_limit, start)
                quiet = min(quiet, files)
                if quiet > limit:
                    self.say(f"trial {t.number}: no progress for {quiet:.0f}s (limit "
                             f"{limit:.0f}s); its worker is stopped or hung: replacing it")
                    self.kill([worker], f"no progress for {quiet:.0f}s: worker stopped or hung")
                continue
            holding = [h for h in self.holders.values() if h.pid == pid]
            if holding:  # inside Study.ask, or failing trials: under the study's lock
                quiet = min(quiet, now - min(h.since for h in holding))
                what = "holding the study's lock"
            elif seen.stopped_since is not None:
                quiet, what = now - seen.stopped_since, "stopped"
            else:
                continue  # waiting for its turn (the lag, other machines' trials)
            if quiet > self.stall_limit:
                self.say(f"worker {pid}: {what} with no progress for {quiet:.0f}s (limit "
                         f"{self.stall_limit:.0f}s): replacing it")
                self.kill([worker], f"no progress for {quiet:.0f}s: worker stopped or hung "
                                    f"({what})", in_ask=bool(holding))

    def _activity(self, pid: int, now: float) -> Activity:
        cpu = cpu_seconds(pid)
        seen = self.activity.get(pid)
        if seen is None:
            seen = self.activity[pid] = Activity(cpu, now, now)
        elif cpu is not None and seen.cpu is not None and \
                cpu - seen.cpu >= ACTIVE_SHARE * (now - seen.seen):
            seen.active_at = now
        seen.cpu, seen.seen = cpu, now
        if stopped(pid):
            seen.stopped_since = seen.stopped_since or now
        else:
            seen.stopped_since = None
        return seen

    def watch_backend(self) -> None:
        """What the workers wait for that only the backend sees (a Dask cluster left
        without workers): named now and then; after the stall limit, the run stops."""
        what = self.backend.waiting_for(self.pool.workers)
        if what is None:
            self.backend_wait = None
            return
        if self.backend_wait is None:
            self.backend_wait = Wait(lambda: f"waiting for {what}", self.stall_limit,
                                     f"the run stops at --stall-timeout "
                                     f"({self.stall_limit:.0f}s)")
        try:
            self.backend_wait.tick()
        except WaitedTooLong as exc:
            self.halt(str(exc))
            for worker in self.pool.workers:
                worker.interrupt()

    def watch_other_machines(self) -> None:
        """In a shared database study, fail (and retry) trials whose heartbeat stopped,
        also while every worker of this run is busy training (heartbeat.py)."""
        if not beats(self.storage) or \
                time.monotonic() - self.silent_checked < self.job.settings.heartbeat:
            return
        self.silent_checked = time.monotonic()
        self.silent_own_workers()
        with study_locks(self.job.paths, self.storage):
            failed = fail_silent_trials(self.ledger)
        for number in failed:
            self.say_lost(number, "its heartbeat stopped (run or machine died)")

    def silent_own_workers(self) -> None:
        """A trial of this run's own worker whose heartbeat stopped: that worker is
        stopped or hung (its run is alive: this is it), and is replaced."""
        assert isinstance(self.storage, RDBStorage)
        stale = set(self.storage._get_stale_trial_ids(self.ledger.study_id))
        if not stale:
            return
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            worker = next((w for w in self.pool.workers
                           if t._trial_id in stale and w.holds(t)), None)
            if worker is not None:
                self.say(f"trial {t.number}: no heartbeat for over {self.storage.grace_period}s;"
                         " its worker is stopped or hung: replacing it")
                self.kill([worker], f"no heartbeat for over {self.storage.grace_period}s: "
                                    "worker stopped or hung")

    def kill(self, workers: list[Worker], reason: str, in_ask: bool = False) -> None:
        """Stop these workers now and fail the trials they held. ``in_ask``: they held the
        study's lock, so a trial of a journal study not yet claimed by its worker was
        theirs (trials are created and claimed under that lock)."""
        mine = unclaimed(self.local) if in_ask else (lambda t: False)
        held = [t for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                if any(w.holds(t) for w in workers) or mine(t)]
        numbers = {t.number for t in held}
        for worker in workers:
            worker.kill()
        for number in self.ledger.fail(lambda t: t.number in numbers, reason):
            self.say_lost(number, reason)

    def say_failed_on_the_way_out(self, which: Callable[[FrozenTrial], bool]) -> None:
        """The trials a lost worker failed itself as it went (a SIGTERM, an interrupt:
        `Ledger.fail_own`), which `Ledger.fail` then finds failed already."""
        trials = self.study.get_trials(deepcopy=False)
        retries = retry_links(trials)
        for t in trials:
            if t.state == TrialState.FAIL and t.user_attrs.get("lost") and which(t):
                self.say_lost(t.number, t.user_attrs.get("reason", "lost"),
                              retries.get(t.number))

    def say_lost(self, number: int, reason: str, retry: int | None = None) -> None:
        """The console's one line for a trial lost to a fault, said once whichever of the
        ways that find it comes first."""
        if number in self.said_lost:
            return
        self.said_lost.add(number)
        retry = self.ledger.retried_as.get(number, retry)
        self.say(f"trial {number} failed: {reason}"
                 + (f"; retried as trial {retry}" if retry is not None else ""))

    def show(self, outcome: TrialOutcome | None) -> None:
        if outcome is not None and self.on_result is not None:
            self.shown.add(outcome.number)
            self.on_result(outcome)

    def show_the_unshown(self) -> None:
        """The rows of this run's trials that finished without their outcome reaching
        the run: recorded, then their worker went with an interrupt, or the outcome was
        lost on the way (a Dask scheduler stopped meanwhile)."""
        mine = self.backend.held_by_run(self.pool.workers, self.local)
        for t in self.study.get_trials(deepcopy=False, states=FINISHED):
            if (t.number not in self.shown | self.said_lost and not t.user_attrs.get("lost")
                    and t.datetime_complete and t.datetime_complete >= self.began and mine(t)):
                self.show(TrialOutcome.from_frozen(t))

    def trial_finished(self, outcome: TrialOutcome) -> None:
        self.show(outcome)
        failed = outcome.state == "FAIL" and not outcome.lost  # its own code failed
        if outcome.state == "FAIL" and machine_fault(outcome.reason or ""):  # lost, retried
            self.halt(f"trial {outcome.number} failed: {outcome.reason}; every trial would "
                      "fail the same way: stopping (the next run retries what it failed)")
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
    # absolute: a Dask worker runs in a folder of its own (also on this machine)
    job = TrialJob(StudyPaths(paths.root.absolute()), storage_url, settings, target, plots,
                   not_after, workers, uuid.uuid4().hex)
    return Controller(job, backend, workers, timeout, stall_limit, progress, on_result,
                      fail_streak).run()

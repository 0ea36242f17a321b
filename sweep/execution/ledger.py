"""The ledger: every change of a trial's state, and the one writer of trial.json.

A trial goes RUNNING -> COMPLETE, PRUNED or FAIL. Whoever makes such a change makes it
here: the worker that runs the trial (`claim`, `open`, `finish`, `fail_own`) or anyone
who finds trials whose worker is gone (`fail`, given a selector that says which:
liveness.py, heartbeat.py and the backends build them). Every change rewrites the
trial's trial.json, so the file never says what the storage does not; `mend` rewrites
the files a kill left behind.

**The retry rule**, in every storage: a trial lost to the infrastructure (an interrupt,
a killed, terminated or stalled worker, a dead run or machine, a time-out's cut, a disk
full or read-only) is
marked ``lost`` as it fails and gets one retry, a WAITING copy with the same settings
(those it had suggested when it was lost; the retry suggests the rest), seed and marks
(``classic``), linked by ``retry_of``, enqueued in the same hold of the
study's locks, so that nobody counts the lost trial before its retry exists. A trial
whose own code raised is not retried (it would raise again), nor is a retry lost in a
way the trial may cause again (its worker killed or stalled: out of memory, say); a
retry lost because its run was stopped (an interrupt, a SIGTERM, the run killed, a
full disk, which stops it) gets a retry of its own, as the run's stop says nothing of it. The lost
trial then no longer counts toward --trials; its retry does (records.count). A retry a
kill kept from being enqueued is enqueued by the next `mend`.

Only Optuna's public storage API changes states, so optuna-dashboard and Optuna's own
tools see the same study.
"""

from __future__ import annotations

import errno
import os
import socket
import traceback
import warnings
from contextlib import nullcontext, suppress
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from mlp.atomic import write_json
from mlp.experiment import ExperimentResult

from ..errors import os_error_text
from ..study.locks import study_locks
from ..study.paths import StudyPaths
from ..study.records import RECORD, TrialOutcome, read_record, retry_links
from ..study.storage import beats
from .liveness import Selector


class WorkerTerminated(BaseException):
    """The worker process was sent SIGTERM by something other than its run."""


class RunGone(BaseException):
    """The run that started this worker has died."""


# what ends a trial without its code having failed: it is lost, and retried once
LOST = (KeyboardInterrupt, SystemExit, WorkerTerminated, RunGone)
# a lost trial's user attributes its retry keeps: what the trial is, not how it ran
KEPT = ("classic", "enqueued")
# losses that are the run's stop, not the trial's doing: a retry lost so is retried again
RUN_STOPPED = ("interrupted", "the run process died", "worker process gone (found by a "
               "later run)", "worker process was terminated (SIGTERM)")  # never the trial's
# a trial failed for one of these failed for the machine, not for its settings: a disk
# that is full or read-only fails every trial after it (os_error_text's words); it is
# lost, and its run stops (controller.py)
MACHINE_FAULTS = tuple(os.strerror(code) for code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS))


def machine_fault(reason: str) -> bool:
    """Whether a trial's failure ``reason`` is the machine's (`MACHINE_FAULTS`)."""
    return any(cause in reason for cause in MACHINE_FAULTS)


def reason_of(exc: BaseException) -> str:
    if isinstance(exc, WorkerTerminated):
        return "worker process was terminated (SIGTERM)"
    if isinstance(exc, RunGone):
        return "the run process died"
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return "interrupted"
    if isinstance(exc, OSError) and exc.strerror:  # the path and the cause, in words
        return os_error_text(exc)
    return f"{type(exc).__name__}: {exc}"


class Ledger:
    """The trials of one study, as one machine changes them."""

    def __init__(self, paths: StudyPaths, storage: BaseStorage) -> None:
        self.paths, self.storage = paths, storage
        self._study_id: int | None = None
        self.retried_as: dict[int, int] = {}  # the retries this ledger enqueued, by trial

    @property
    def study_id(self) -> int:
        if self._study_id is None:
            self._study_id = self.storage.get_study_id_from_name(self.paths.name)
        return self._study_id

    # -- the worker's own trial -------------------------------------------------------

    def claim(self, trial: optuna.Trial, attrs: dict[str, Any] | None = None) -> None:
        """Record the worker that runs a trial just created, in the step that created
        it (under the study's locks): a trial without a worker is then a lost one."""
        if beats(self.storage):  # before anything else: a trial that never beat is not stale
            self.storage.record_heartbeat(trial._trial_id)
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("host", socket.gethostname())
        for key, value in (attrs or {}).items():
            trial.set_user_attr(key, value)

    def open(self, trial: optuna.Trial, seed: int) -> Path:
        """The trial's experiment directory, made new, with its RUNNING trial.json."""
        trial_dir = self.paths.trial_dir(trial.number)
        trial.set_user_attr("seed", seed)
        # resolve() raises RuntimeError on a symbolic link loop (Python 3.11)
        trial.set_user_attr("experiment_dir", str(trial_dir.resolve()))
        _make_trial_dir(trial_dir)
        _write(trial_dir, TrialOutcome.running(trial))
        return trial_dir

    def finish(self, study: optuna.Study, trial: optuna.Trial, result: ExperimentResult,
               measured: dict[str, Any] | None = None) -> TrialOutcome:
        """Tell the storage how a training ended: completed runs COMPLETE with their best
        validation accuracy; runs stopped by the pruner, or diverged, PRUNED (both are
        runs the sampler should learn to avoid)."""
        completed = result.status == "completed"
        outcome = replace(
            TrialOutcome.running(trial), epochs_trained=len(result.history),
            train_seconds=round(result.train_seconds, 3),
            parameter_count=result.parameter_count,
            test_accuracy=result.test_accuracy if completed else None,
            best_epoch=result.best_epoch if completed else None,
            reason="" if completed else result.message,
            diverged=result.status == "diverged", **(measured or {}))
        for key, value in outcome.to_attrs().items():
            if key not in trial.user_attrs:
                trial.set_user_attr(key, value)
        try:
            return self._tell(study, trial, result)
        except LOST:
            # interrupted as it told the storage, before or after the storage took it:
            # the training stands, so the storage is told (again) and trial.json written
            # as the storage has it before the interrupt goes on
            with suppress(Exception):
                self._tell(study, trial, result, again=True)
            raise

    def _tell(self, study: optuna.Study, trial: optuna.Trial, result: ExperimentResult,
              again: bool = False) -> TrialOutcome:
        trial_dir = self.paths.trial_dir(trial.number)
        try:  # told again: a trial the storage has finished is returned as it has it
            frozen = (study.tell(trial, result.val_accuracy, skip_if_finished=again)
                      if result.status == "completed"
                      else study.tell(trial, state=TrialState.PRUNED, skip_if_finished=again))
        except UpdateFinishedTrialError:
            # failed meanwhile by a run that found it silent (a machine too loaded to
            # beat in time); its retry is enqueued, and the storage's word stands
            frozen = self.storage.get_trial(trial._trial_id)
            trials = self.storage.get_all_trials(self.study_id, deepcopy=False)
            outcome = TrialOutcome.from_frozen(frozen, retry_links(trials).get(trial.number))
            with suppress(OSError):
                _write(trial_dir, outcome)
            return outcome
        _write(trial_dir, TrialOutcome.from_frozen(frozen))
        return TrialOutcome.from_frozen(frozen)

    def fail_own(self, study: optuna.Study, trial: optuna.Trial,
                 exc: BaseException) -> TrialOutcome:
        """Fail the worker's own trial for ``exc``, with its reason and traceback; one
        lost to the infrastructure (`LOST`) is marked so and gets its retry, in the
        same hold of the study's locks."""
        reason = reason_of(exc)
        lost = isinstance(exc, LOST) or machine_fault(reason)
        with study_locks(self.paths, self.storage) if lost else nullcontext():
            try:
                trial.set_user_attr("reason", reason)
                if lost:
                    trial.set_user_attr("lost", True)
                trial.set_user_attr("traceback", traceback.format_exc())
                frozen = study.tell(trial, state=TrialState.FAIL)
            except UpdateFinishedTrialError:  # already failed by a run that found it silent
                frozen = self.storage.get_trial(trial._trial_id)
            retry = self._retry(frozen)
        if retry is None and lost:  # failed and retried first by a run that found it silent
            trials = self.storage.get_all_trials(self.study_id, deepcopy=False)
            retry = retry_links(trials).get(trial.number)
        outcome = TrialOutcome.from_frozen(frozen, retry)
        # the storage has it; a folder that cannot be written (or a link loop:
        # RuntimeError) is why
        with suppress(OSError, RuntimeError):
            _write(self.paths.trial_dir(trial.number), outcome)
        return outcome

    # -- anyone's trials -----------------------------------------------------------------

    def fail(self, which: Selector, reason: str) -> list[int]:
        """Fail the RUNNING trials ``which`` selects (their worker is gone: their own
        worker can no longer do it) with ``reason``, under the study's locks. Each is
        lost to the infrastructure and gets its retry (`retried_as` says which).
        Returns their numbers."""
        failed = []
        with study_locks(self.paths, self.storage):
            running = self.storage.get_all_trials(self.study_id, deepcopy=False,
                                                  states=(TrialState.RUNNING,))
            for t in running:
                if not which(t):
                    continue
                try:
                    self.storage.set_trial_user_attr(t._trial_id, "reason", reason)
                    self.storage.set_trial_user_attr(t._trial_id, "lost", True)
                    if not self.storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                        continue
                except UpdateFinishedTrialError:
                    continue  # finished meanwhile, or failed first by another run
                frozen = self.storage.get_trial(t._trial_id)
                self._rewrite(frozen, self._retry(frozen), clean=True)
                failed.append(t.number)
        return failed

    def mend(self) -> list[int]:
        """What a kill left behind: enqueue the retry of a lost trial whose failing
        process died before it could, and rewrite the trial.json of finished trials
        whose file still says otherwise (a worker killed between telling the storage and
        writing it): the storage is the truth. Returns the trials whose file changed."""
        with study_locks(self.paths, self.storage):
            trials = self.storage.get_all_trials(self.study_id, deepcopy=False)
            links = retry_links(trials)
            for t in trials:
                if t.number not in links and self._retry(t, trials) is not None:
                    links[t.number] = self.retried_as[t.number]
        fixed = []
        for t in self.storage.get_all_trials(self.study_id, deepcopy=False):
            trial_dir = self.paths.trial_dir(t.number)
            if not t.state.is_finished() or not trial_dir.is_dir():
                continue
            outcome = TrialOutcome.from_frozen(t, links.get(t.number))
            record = read_record(trial_dir)
            if record.get("state") != t.state.name or \
                    record.get("retried_as") != outcome.retried_as:
                _write(trial_dir, outcome)
                fixed.append(t.number)
        return fixed

    # -- helpers -------------------------------------------------------------------------

    def _rewrite(self, trial: FrozenTrial, retried_as: int | None = None,
                 clean: bool = False) -> None:
        """The trial's trial.json, where this machine reaches its folder (this studies
        folder, or the recorded one on a shared filesystem; a trial lost before it had
        one gets one); otherwise the storage alone says it. ``clean``: remove the
        half-written files of a dead worker first."""
        recorded = trial.user_attrs.get("experiment_dir")
        folders = [self.paths.trial_dir(trial.number), *([Path(recorded)] if recorded else [])]
        folder = next((f for f in folders if f.is_dir()), None)
        if folder is None and recorded:
            return  # opened on a machine whose folders are not shared with this one
        if folder is None:  # lost before its folder was made: it gets one for its record
            folder = self.paths.trial_dir(trial.number)
            with suppress(OSError):
                folder.mkdir(parents=True, exist_ok=True)
        if clean:
            for leftover in folder.glob("**/.*.tmp"):
                leftover.unlink(missing_ok=True)
            # a worker lost after its training wrote the experiment's final metrics: kept
            # for a look, under a name that no reader takes for a finished experiment
            with suppress(OSError):
                (folder / METRICS).replace(folder / LOST_METRICS)
        with suppress(OSError):
            _write(folder, TrialOutcome.from_frozen(trial, retried_as))

    def _retry(self, trial: FrozenTrial,
               trials: list[FrozenTrial] | None = None) -> int | None:
        """The retry rule (see the module's docstring), applied to a trial just failed:
        enqueue its retry if it gets one and has none yet. The retry's number, or None.
        The caller holds the study's locks."""
        reason = trial.user_attrs.get("reason", "")
        if trial.state != TrialState.FAIL or not trial.user_attrs.get("lost") \
                or ("retry_of" in trial.user_attrs and reason not in RUN_STOPPED
                    and not machine_fault(reason)):
            return None
        if trials is None:
            trials = self.storage.get_all_trials(self.study_id, deepcopy=False)
        if trial.number in retry_links(trials):
            return None
        study = optuna.load_study(study_name=self.paths.name, storage=self.storage)
        # what it was enqueued with (a trial lost before its settings were suggested has
        # only those), then what it suggested; and the marks that say what it is
        params = {**trial.system_attrs.get("fixed_params", {}), **trial.params}
        attrs = {k: trial.user_attrs[k] for k in KEPT if k in trial.user_attrs}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # enqueue warns of fixed params outside a space
            # "original": the first trial of a chain of retries, whose seed they all train with
            study.enqueue_trial(params, user_attrs={
                **attrs, "retry_of": trial.number,
                "original": trial.user_attrs.get("original", trial.number)})
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        number = max(t.number for t in waiting if t.user_attrs.get("retry_of") == trial.number)
        self.retried_as[trial.number] = number
        return number


METRICS, LOST_METRICS = "metrics.json", "metrics.lost.json"


def _write(trial_dir: Path, outcome: TrialOutcome) -> Path:
    return write_json(trial_dir / RECORD, outcome.to_json())


def _make_trial_dir(trial_dir: Path) -> None:
    """A new trial's own directory. One that is already there belongs to no trial of
    this study (a study deleted and started again, another storage): it is kept,
    renamed aside, rather than mixed with this trial's files."""
    if trial_dir.is_symlink() or trial_dir.exists():
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        trial_dir.rename(trial_dir.with_name(f"{trial_dir.name}.orphan-{stamp}-{os.getpid()}"))
    trial_dir.mkdir(parents=True)

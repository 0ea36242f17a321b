"""The ledger: every change of a trial's state, and the one writer of trial.json.

A trial goes RUNNING -> COMPLETE, PRUNED or FAIL, and a trial lost to the
infrastructure (a killed worker, an interrupt, a dead machine) may get one retry: a
WAITING copy with the same settings and seed, linked by ``retry_of``. Whoever makes
such a change makes it here: the worker that runs the trial (`claim`, `open`,
`finish`, `fail_own`) or anyone who finds trials whose worker is gone (`fail`, given
a selector that says which: liveness.py, heartbeat.py and the backends build
them). Every change rewrites the trial's trial.json, so the file never
says what the storage does not; `mend` rewrites the files a kill left behind.

Only Optuna's public storage API changes states, so optuna-dashboard and Optuna's own
tools see the same study.
"""

from __future__ import annotations

import os
import socket
import traceback
import warnings
from contextlib import suppress
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

from ..study.locks import study_locks
from ..study.paths import StudyPaths
from ..study.records import RECORD, TrialOutcome, read_record_state
from ..study.storage import beats
from .liveness import Selector


class WorkerTerminated(BaseException):
    """The worker process was sent SIGTERM by something other than its run."""


class RunGone(BaseException):
    """The run that started this worker has died."""


# what ends a trial without its code having failed: it is retried where retries apply
LOST = (KeyboardInterrupt, SystemExit, WorkerTerminated, RunGone)


def reason_of(exc: BaseException) -> str:
    if isinstance(exc, WorkerTerminated):
        return "worker process was terminated (SIGTERM)"
    if isinstance(exc, RunGone):
        return "the run process died"
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return "interrupted"
    return f"{type(exc).__name__}: {exc}"


class Ledger:
    """The trials of one study, as one machine changes them."""

    def __init__(self, paths: StudyPaths, storage: BaseStorage) -> None:
        self.paths, self.storage = paths, storage
        self._study_id: int | None = None

    @property
    def study_id(self) -> int:
        if self._study_id is None:
            self._study_id = self.storage.get_study_id_from_name(self.paths.name)
        return self._study_id

    @property
    def retries(self) -> bool:
        """Whether a trial lost to the infrastructure gets a retry: in a database study,
        whose trials beat, so that a machine that dies costs the study nothing."""
        return beats(self.storage)

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
        trial_dir = self.paths.trial_dir(trial.number)
        try:
            frozen = (study.tell(trial, result.val_accuracy) if completed
                      else study.tell(trial, state=TrialState.PRUNED))
        except UpdateFinishedTrialError:
            # failed meanwhile by a run that found it silent (a machine too loaded to
            # beat in time); its retry is enqueued, and the storage's word stands
            frozen = self.storage.get_trial(trial._trial_id)
            with suppress(OSError):
                _write(trial_dir, TrialOutcome.from_frozen(frozen))
            return TrialOutcome.from_frozen(frozen)
        _write(trial_dir, TrialOutcome.from_frozen(frozen))
        return TrialOutcome.from_frozen(frozen)

    def fail_own(self, study: optuna.Study, trial: optuna.Trial,
                 exc: BaseException) -> TrialOutcome:
        """Fail the worker's own trial for ``exc``, with its reason and traceback; one
        lost to the infrastructure (`LOST`) gets its retry where retries apply."""
        try:
            trial.set_user_attr("reason", reason_of(exc))
            trial.set_user_attr("traceback", traceback.format_exc())
            frozen = study.tell(trial, state=TrialState.FAIL)
        except UpdateFinishedTrialError:  # already failed by a run that found it silent
            frozen = self.storage.get_trial(trial._trial_id)
        outcome = TrialOutcome.from_frozen(frozen)
        # the storage has it; a folder that cannot be written (or a link loop:
        # RuntimeError) is why
        with suppress(OSError, RuntimeError):
            _write(self.paths.trial_dir(trial.number), outcome)
        if isinstance(exc, LOST) and self.retries:
            with study_locks(self.paths, self.storage):
                self._retry(self.storage.get_trial(trial._trial_id))
        return outcome

    # -- anyone's trials -----------------------------------------------------------------

    def fail(self, which: Selector, reason: str) -> list[int]:
        """Fail the RUNNING trials ``which`` selects (their worker is gone: their own
        worker can no longer do it) with ``reason``, under the study's locks; each gets
        its retry where retries apply. Returns their numbers."""
        failed = []
        with study_locks(self.paths, self.storage):
            running = self.storage.get_all_trials(self.study_id, deepcopy=False,
                                                  states=(TrialState.RUNNING,))
            for t in running:
                if not which(t):
                    continue
                try:
                    self.storage.set_trial_user_attr(t._trial_id, "reason", reason)
                    if not self.storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                        continue
                except UpdateFinishedTrialError:
                    continue  # finished meanwhile, or failed first by another run
                frozen = self.storage.get_trial(t._trial_id)
                self._rewrite(frozen, clean=True)
                if self.retries:
                    self._retry(frozen)
                failed.append(t.number)
        return failed

    def mend(self) -> list[int]:
        """Rewrite the trial.json of finished trials whose file still says otherwise (a
        worker killed between telling the storage and writing it): the storage is the
        truth."""
        fixed = []
        for t in self.storage.get_all_trials(self.study_id, deepcopy=False):
            trial_dir = self.paths.trial_dir(t.number)
            if not t.state.is_finished() or not trial_dir.is_dir():
                continue
            if read_record_state(trial_dir) != t.state.name:
                _write(trial_dir, TrialOutcome.from_frozen(t))
                fixed.append(t.number)
        return fixed

    # -- helpers -------------------------------------------------------------------------

    def _rewrite(self, trial: FrozenTrial, clean: bool = False) -> None:
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
        with suppress(OSError):
            _write(folder, TrialOutcome.from_frozen(trial))

    def _retry(self, trial: FrozenTrial) -> int | None:
        """Enqueue the trial again with its settings, linked by ``retry_of``; the retry's
        number, or None for a trial that is a retry itself or was retried already."""
        if "retry_of" in trial.user_attrs:
            return None
        study = optuna.load_study(study_name=self.paths.name, storage=self.storage)
        trials = study.get_trials(deepcopy=False)
        if any(t.user_attrs.get("retry_of") == trial.number for t in trials):
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # enqueue warns of fixed params outside a space
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        return max(t.number for t in waiting if t.user_attrs.get("retry_of") == trial.number)


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

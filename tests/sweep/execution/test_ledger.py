"""The ledger, in process, on Optuna's own storages: every change of a trial's state and
every trial.json it writes (sweep/execution/ledger.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.exceptions import ExperimentalWarning
from optuna.storages import InMemoryStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from mlp.experiment import ExperimentResult
from sweep.execution.heartbeat import fail_silent_trials
from sweep.execution.ledger import Ledger, WorkerTerminated
from sweep.execution.liveness import (
    PID_GRACE,
    dead_worker,
    never_claimed,
    run_by,
    started_ago,
)
from sweep.study.paths import StudyPaths
from sweep.study.records import count

NAME = "s"


def record(paths: StudyPaths, number: int) -> dict:
    return json.loads((paths.trial_dir(number) / "trial.json").read_text())


def new_study(tmp_path: Path, storage=None) -> tuple[StudyPaths, optuna.Study, Ledger]:
    paths = StudyPaths(tmp_path / NAME)
    storage = storage or InMemoryStorage()
    study = optuna.create_study(study_name=NAME, storage=storage, direction="maximize")
    return paths, study, Ledger(paths, storage)


def database(tmp_path: Path, heartbeat: int = 1) -> RDBStorage:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        return RDBStorage(f"sqlite:///{tmp_path / 'db.sqlite'}", heartbeat_interval=heartbeat,
                          grace_period=2 * heartbeat)


def started(ledger: Ledger, study: optuna.Study, **params: float) -> optuna.Trial:
    trial = study.ask()
    for k, v in params.items():
        trial.suggest_float(k, v, v)
    ledger.claim(trial)
    ledger.open(trial, seed=123)
    return trial


def result(out_dir: Path, status: str = "completed", value: float = 0.9) -> ExperimentResult:
    return ExperimentResult(out_dir=out_dir, status=status, history=[], best_epoch=1,
                            val_accuracy=value, test_accuracy=0.8, train_seconds=1.0,
                            parameter_count=10,
                            message="" if status == "completed" else "pruned at epoch 1")


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_started_trial_records_its_worker_and_a_running_trial_json(tmp_path):
    paths, study, ledger = new_study(tmp_path)
    trial = started(ledger, study, lr=0.1)
    attrs = study.trials[0].user_attrs
    assert attrs["pid"] == os.getpid() and attrs["seed"] == 123
    assert attrs["experiment_dir"] == str(paths.trial_dir(0).resolve())
    assert record(paths, trial.number)["state"] == "RUNNING"


def test_an_old_folder_of_the_same_number_is_kept_aside(tmp_path):
    paths, study, ledger = new_study(tmp_path)
    paths.trial_dir(0).mkdir(parents=True)
    (paths.trial_dir(0) / "old.txt").write_text("another study's")
    started(ledger, study)
    aside = [p for p in paths.trials.iterdir() if p.name.startswith("0000.orphan-")]
    assert len(aside) == 1 and (aside[0] / "old.txt").read_text() == "another study's"
    assert not (paths.trial_dir(0) / "old.txt").exists()


@pytest.mark.parametrize(("status", "state"), [("completed", "COMPLETE"),
                                               ("stopped", "PRUNED"), ("diverged", "PRUNED")])
def test_finish_tells_the_state_and_writes_it(tmp_path, status, state):
    paths, study, ledger = new_study(tmp_path)
    trial = started(ledger, study)
    outcome = ledger.finish(study, trial, result(paths.trial_dir(0), status),
                            {"worker_peak_rss_mb": 12.5})
    assert outcome.state == study.trials[0].state.name == record(paths, 0)["state"] == state
    assert record(paths, 0)["worker_peak_rss_mb"] == 12.5
    assert (outcome.value == 0.9) is (state == "COMPLETE")
    assert outcome.diverged is (status == "diverged")


def test_a_trial_that_raises_fails_with_its_reason_and_traceback(tmp_path):
    paths, study, ledger = new_study(tmp_path)
    trial = started(ledger, study)
    try:
        raise ValueError("bad value")
    except ValueError as exc:
        outcome = ledger.fail_own(study, trial, exc)
    assert outcome.state == record(paths, 0)["state"] == "FAIL"
    assert outcome.reason == "ValueError: bad value"
    assert "raise ValueError" in study.trials[0].user_attrs["traceback"]


def test_fail_takes_only_the_selected_running_trials(tmp_path):
    paths, study, ledger = new_study(tmp_path)
    keep, lose = started(ledger, study), started(ledger, study)
    done = started(ledger, study)
    ledger.finish(study, done, result(paths.trial_dir(2)))
    (paths.trial_dir(lose.number) / ".history.csv.123.tmp").write_text("half a file")
    failed = ledger.fail(lambda t: t.number in (lose.number, done.number), "gone")
    assert failed == [lose.number]  # a finished trial is never failed
    states = {t.number: t.state for t in study.get_trials()}
    assert states == {0: TrialState.RUNNING, 1: TrialState.FAIL, 2: TrialState.COMPLETE,
                      3: TrialState.WAITING}  # 3: the lost trial's retry
    assert record(paths, 1)["reason"] == "gone" and record(paths, 1)["state"] == "FAIL"
    assert record(paths, 1)["retried_as"] == 3
    assert not list(paths.trial_dir(1).glob(".*.tmp"))
    assert record(paths, keep.number)["state"] == "RUNNING"


def test_mend_rewrites_the_record_a_kill_left_behind(tmp_path):
    paths, study, ledger = new_study(tmp_path)
    trial = started(ledger, study)
    study.tell(trial, 0.5)  # told, killed before its trial.json was rewritten
    assert record(paths, 0)["state"] == "RUNNING"
    assert ledger.mend() == [0]
    assert record(paths, 0)["state"] == "COMPLETE" and record(paths, 0)["value"] == 0.5
    assert ledger.mend() == []


@pytest.mark.parametrize("kind", ["journal", "database"])
def test_a_lost_trial_is_retried_once_with_its_settings_in_every_storage(tmp_path, kind):
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "journal.log"))) \
        if kind == "journal" else database(tmp_path)
    paths, study, ledger = new_study(tmp_path, storage)
    started(ledger, study, lr=0.25)
    assert ledger.fail(lambda t: True, "gone") == [0]
    retry = study.get_trials(states=(TrialState.WAITING,))
    assert len(retry) == 1 and retry[0].user_attrs["retry_of"] == 0
    assert ledger.retried_as == {0: retry[0].number} and record(paths, 0)["lost"] is True
    assert record(paths, 0)["retried_as"] == retry[0].number
    # the retry is never retried, and the original never twice
    again = study.ask()
    ledger.claim(again)
    assert again.number == retry[0].number
    assert again.suggest_float("lr", 0.001, 1.0) == 0.25  # the same settings
    ledger.fail(lambda t: True, "gone again")
    assert not study.get_trials(states=(TrialState.WAITING,))
    assert ledger._retry(study.get_trials()[0]) is None
    # the lost trial counts apart; its retry, lost again, counts as failed
    c = count(study.get_trials())
    assert (c.failed, c.retried, c.finished) == (1, 1, 1)


def test_a_retry_lost_to_its_runs_stop_is_retried_again(tmp_path):
    """Hostile tester 9: a run interrupted while it trained the retries of an earlier
    interrupt lost them for good, the classic trial's too. A loss the trial may cause
    again (its worker killed) ends at one retry; an interrupt, the run's own stop, does
    not count against the trial."""
    from sweep.execution.ledger import RUN_STOPPED

    paths, study, ledger = new_study(tmp_path)
    started(ledger, study, lr=0.25)
    for reason in RUN_STOPPED:  # each retry, lost to a stop of its run, is retried
        assert len(ledger.fail(lambda t: t.state == TrialState.RUNNING, reason)) == 1
        again = study.ask()
        ledger.claim(again)
        assert again.suggest_float("lr", 0.001, 1.0) == 0.25
        # hostile tester 10: a retry of a retry trained with its first retry's seed
        assert again.user_attrs["original"] == 0
    ledger.fail(lambda t: t.state == TrialState.RUNNING, "worker process was killed (SIGKILL)")
    assert not study.get_trials(states=(TrialState.WAITING,))
    c = count(study.get_trials())
    assert (c.failed, c.retried, c.finished) == (1, len(RUN_STOPPED), 1)


def test_a_lost_classic_trial_is_retried_as_the_classic_trial(tmp_path):
    paths, study, ledger = new_study(tmp_path)
    study.enqueue_trial({"lr": 0.1}, user_attrs={"classic": True})
    trial = study.ask()  # lost before it suggested anything: only what it was enqueued with
    ledger.claim(trial)
    ledger.fail_own(study, trial, KeyboardInterrupt())
    retry = study.get_trials(states=(TrialState.WAITING,))[0]
    assert retry.user_attrs == {"classic": True, "retry_of": 0, "original": 0}
    again = study.ask()
    assert again.number == retry.number and again.suggest_float("lr", 0.001, 1.0) == 0.1
    assert again.user_attrs["classic"] is True


def test_a_retry_is_counted_before_it_starts_and_the_lost_trial_is_not(tmp_path):
    paths, study, ledger = new_study(tmp_path)
    done, lost = started(ledger, study), started(ledger, study)
    ledger.finish(study, done, result(paths.trial_dir(0)))
    ledger.fail_own(study, lost, KeyboardInterrupt())
    c = count(study.get_trials())
    assert (c.complete, c.failed, c.retried, c.retries_waiting, c.finished) == (1, 0, 1, 1, 1)
    assert c.retried_text() == "; 1 lost and retried, 1 retry waiting"


def test_mend_enqueues_a_retry_a_kill_kept_from_being_made(tmp_path):
    paths, study, ledger = new_study(tmp_path)
    trial = started(ledger, study, lr=0.3)
    trial.set_user_attr("lost", True)
    study.tell(trial, state=TrialState.FAIL)  # failed as lost, killed before its retry
    bug = started(ledger, study)
    study.tell(bug, state=TrialState.FAIL)  # its own code failed: no retry
    assert ledger.mend() == [0, 1]  # trial.json rewritten, the link included
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [(t.user_attrs["retry_of"], t.params) for t in waiting] == [(0, {})]
    assert waiting[0].system_attrs["fixed_params"] == {"lr": 0.3}
    assert record(paths, 0)["retried_as"] == waiting[0].number
    assert ledger.mend() == [] and len(study.get_trials()) == 3


def test_a_trial_lost_to_an_interrupt_is_retried_but_a_bug_is_not(tmp_path):
    paths, study, ledger = new_study(tmp_path, database(tmp_path))
    bug, lost = started(ledger, study), started(ledger, study)
    assert ledger.fail_own(study, bug, RuntimeError("a bug")).lost is False
    ledger.fail_own(study, lost, WorkerTerminated())
    assert record(paths, lost.number)["reason"] == "worker process was terminated (SIGTERM)"
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [t.user_attrs["retry_of"] for t in waiting] == [lost.number]
    assert record(paths, lost.number)["retried_as"] == waiting[0].number
    assert record(paths, bug.number)["retried_as"] is None


def test_a_silent_heartbeat_fails_and_retries_its_trial(tmp_path):
    paths, study, ledger = new_study(tmp_path, database(tmp_path, heartbeat=1))
    started(ledger, study)  # claimed: one heartbeat, then silence
    time.sleep(3.2)  # grace 2 s; SQLite's clock (CURRENT_TIMESTAMP) counts whole seconds
    assert fail_silent_trials(ledger) == [0]
    assert "heartbeat stopped" in record(paths, 0)["reason"]
    assert len(study.get_trials(states=(TrialState.WAITING,))) == 1


def test_dead_workers_are_found_by_pid(tmp_path):
    paths, study, ledger = new_study(tmp_path)
    alive, dead, unclaimed = started(ledger, study), started(ledger, study), study.ask()
    study._storage.set_trial_user_attr(dead._trial_id, "pid", dead_pid())
    failed = ledger.fail(dead_worker(local=True), "gone")
    assert failed == [dead.number, unclaimed.number]  # no pid in a journal: lost at once
    assert study.get_trials()[alive.number].state == TrialState.RUNNING
    assert ledger.fail(run_by({os.getpid()}), "ours") == [alive.number]


def test_a_database_gives_an_unclaimed_trial_time_whatever_the_time_zone(tmp_path,
                                                                        monkeypatch):
    paths, study, ledger = new_study(tmp_path, database(tmp_path))
    study.ask()
    for zone in ("America/New_York", "Asia/Tokyo", "UTC"):
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        t = study.get_trials()[0]
        # a time-zone error shows as whole hours of age; a right reading rounds to none
        assert round(started_ago(t).total_seconds() / 3600) == 0, zone
        assert not never_claimed(PID_GRACE)(t) and not dead_worker(local=False)(t)
    monkeypatch.delenv("TZ")
    time.tzset()


def test_the_study_locks_can_be_taken_again_by_the_holder(tmp_path):
    from threading import Thread

    from sweep.study.locks import study_locks

    paths, study, ledger = new_study(tmp_path)
    started(ledger, study)
    done = []

    def nested() -> None:
        with study_locks(paths, ledger.storage):
            ledger.fail(lambda t: True, "inside the lock")  # takes it again
            done.append(True)

    thread = Thread(target=nested, daemon=True)
    thread.start()
    thread.join(10)
    assert done == [True]


def test_every_value_is_json(tmp_path):
    paths, study, ledger = new_study(tmp_path)
    trial = started(ledger, study)
    ledger.finish(study, trial, result(paths.trial_dir(0), value=float(np.float32(0.5))))
    assert json.loads((paths.trial_dir(0) / "trial.json").read_text())["value"] == 0.5

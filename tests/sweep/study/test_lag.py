"""The lag (sweep/study/lag.py), in process on Optuna's in-memory storage: which trials a
new trial learns from, and the view of the study that hides the rest. (That a study does
not then depend on timing: execution/test_reproducible.py.)"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from sweep.study.lag import LaggedStorage, next_number, unfinished_before


def _study_with(states: list[TrialState]) -> tuple[optuna.Study, optuna.storages.BaseStorage]:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    for number, state in enumerate(states):
        if state == TrialState.WAITING:
            study.enqueue_trial({"x": float(number)})
            continue
        trial = study.ask()
        trial.suggest_float("x", 0, 100)
        trial.report(float(number), 1)
        if state == TrialState.COMPLETE:
            study.tell(trial, float(number))
        elif state in (TrialState.PRUNED, TrialState.FAIL):
            study.tell(trial, state=state)
    return study, storage


def test_a_trial_sees_only_the_trials_behind_its_lag_and_itself():
    done, running = TrialState.COMPLETE, TrialState.RUNNING
    study, storage = _study_with([done, TrialState.PRUNED, done, running, done, running])
    trials = study.get_trials(deepcopy=False)
    assert next_number(trials) == 6
    assert unfinished_before(trials, 6, lag=2) == [3]  # trials 0..3 are learned from
    assert unfinished_before(trials, 6, lag=3) == []
    view = LaggedStorage(storage, cutoff=3)
    viewed = optuna.load_study(study_name="s", storage=view)
    trial = viewed.ask()
    assert trial.number == 6
    seen = [t.number for t in viewed.get_trials(deepcopy=False)]
    assert seen == [0, 1, 2, 6]
    assert [t.number for t in viewed.get_trials(states=(running,))] == [6]
    viewed.tell(trial, 1.0)  # writes reach the storage underneath
    assert storage.get_all_trials(study._study_id)[6].state == done


def test_an_enqueued_trial_is_still_taken_through_the_view():
    study, storage = _study_with([TrialState.COMPLETE, TrialState.WAITING])
    assert next_number(study.get_trials(deepcopy=False)) == 1
    viewed = optuna.load_study(study_name="s", storage=LaggedStorage(storage, cutoff=-3))
    trial = viewed.ask()
    assert trial.number == 1 and trial.suggest_float("x", 0, 100) == 1.0
    assert [t.number for t in viewed.get_trials(deepcopy=False)] == [1]

"""A study is fixed by its settings and seed, not by timing: with two workers, one run
undisturbed and one with every epoch delayed at random in the workers, the trials
are the same (sweep/lag.py). And the lag itself: what a trial sees, the option, and
a worker waiting for earlier trials: a killed run's trial, the time-out."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from sweep.study.lag import LaggedStorage, next_number, unfinished_before
from sweep.study.settings import settings_record
from tests.sweep.faults.harness import (
    Running,
    check_retries,
    running_trials,
    stored_trials,
    sweep,
    wait_for,
    worker_pids,
)

TRIALS = 18  # TPE leaves its 10 random start-up trials at trial 10 + lag
SPACE = "[params.hidden_size]\nlow = 16\nhigh = 64\n"


def _signature(root: Path) -> list[tuple]:
    """What a study did: every trial's settings, state, epochs, values and seed."""
    return [(t.number, t.state.name, sorted(t.params.items()), t.value,
             sorted(t.intermediate_values.items()), t.user_attrs.get("seed"),
             t.user_attrs.get("reason", ""))
            for t in stored_trials(root)]


def test_two_workers_give_the_same_study_however_fast_each_is(tmp_path, data_args):
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    runs = {}
    for name, faults in (("calm", {}), ("jittered", {"SWEEP_FAULT_JITTER": 0.4})):
        figures = [] if name == "calm" else ["--no-plots"]  # the calm run draws them
        proc = sweep("run", "--trials", TRIALS, "--jobs", 2, "--epochs", 4, *data_args,
                     "--space", space, "--seed", 7, "--studies-dir", tmp_path / name,
                     "--study", "s", *figures, "--no-report", "--quiet", cwd=tmp_path,
                     faults=faults, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        runs[name] = _signature(tmp_path / name / "s")
    calm, jittered = runs["calm"], runs["jittered"]
    assert len(calm) == TRIALS
    states = {t[1] for t in calm}
    assert states == {"COMPLETE", "PRUNED"}, states  # the pruner had decisions to make
    for a, b in zip(calm, jittered, strict=True):
        assert a == b, f"trial {a[0]} differs:\n{a}\n{b}"
    _check_figures(tmp_path / "calm", calm, data_args)


def _check_figures(studies: Path, trials: list[tuple], data_args: list[str]) -> None:
    """By default figures are drawn for completed trials only, the best one among them;
    `sweep plots` draws a pruned one's."""
    root = studies / "s"
    for number, state, *_ in trials:
        drawn = (root / "trials" / f"{number:04d}" / "plots").is_dir()
        assert not drawn or state == "COMPLETE", (number, state)
    best = max((t for t in trials if t[1] == "COMPLETE"), key=lambda t: t[3])
    assert (root / "trials" / f"{best[0]:04d}" / "plots").is_dir(), best
    pruned = next(t[0] for t in trials if t[1] == "PRUNED" and not t[-1].startswith("at "))
    proc = sweep("plots", "--studies-dir", studies, "--study", "s", "--trial", pruned,
                 cwd=studies)
    assert proc.returncode == 0, proc.stderr
    plots = root / "trials" / f"{pruned:04d}" / "plots"
    assert sorted(p.name for p in plots.iterdir()) == sorted(
        ["learning_curves.png", "confusion_matrix.png", "per_class_f1.png", "misclassified.png"])
    missing = sweep("plots", "--studies-dir", studies, "--study", "s", "--trial", 999,
                    cwd=studies)
    assert missing.returncode == 2 and "--trial 999" in missing.stderr


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


@pytest.mark.parametrize("value", ["-1", "abc", "10001", "4.5", ""])
def test_a_bad_lag_is_named(value, sweep_cli, data_args, tmp_path, check_error):
    proc = sweep_cli("run", "--trials", 1, "--lag", value, *data_args,
                     "--studies-dir", tmp_path, "--no-report")
    check_error(proc, 2, f"--lag {value}:")
    assert not any(tmp_path.iterdir())


def test_the_lag_is_a_setting_of_the_study(sweep_cli, data_args, tmp_path, check_error,
                                          open_optuna):
    where = ["--studies-dir", tmp_path, "--study", "s", "--no-report", "--quiet",
             "--no-plots", "--epochs", 1, *data_args]
    made = sweep_cli("run", "--trials", 1, "--lag", "off", *where)
    assert made.returncode == 0, made.stderr
    assert settings_record(open_optuna(tmp_path, "s"))["lag"] is None
    check_error(sweep_cli("run", "--trials", 2, "--lag", 3, *where), 2, "lag")
    resumed = sweep_cli("run", "--trials", 2, *where)  # left out: the stored one
    assert resumed.returncode == 0, resumed.stderr


def test_a_worker_waiting_for_a_killed_runs_trial_fails_it_and_goes_on(tmp_path, data_args,
                                                                       tiny_space):
    """Run A's trial 0 is what run B's worker waits for (lag 0); A is SIGKILLed whole.
    Nobody else would ever fail that trial: B's waiting worker must, and finish."""
    where = ["--studies-dir", tmp_path, "--study", "s", "--space", tiny_space, "--lag", 0,
             "--epochs", 3, *data_args, "--pruner", "none", "--no-plots", "--no-report",
             "--quiet"]
    a = Running("run", "--trials", 3, "--jobs", 1, *where, cwd=tmp_path, log=tmp_path / "a",
                faults={"SWEEP_FAULT_SLEEP": 2})
    b = None
    try:
        wait_for(lambda: running_trials(tmp_path / "s"), 120, "run A's first trial")
        b = Running("run", "--trials", 3, "--jobs", 1, *where, cwd=tmp_path,
                    log=tmp_path / "b")
        wait_for(lambda: worker_pids(b.pid), 120, "run B's worker")
        # B's workers start while B opens the study: wait until B has also made its own
        # check for dead trials at the start of its run, so that only the waiting worker
        # is left to find A's
        wait_for(lambda: "trials finished;" in b.stderr, 120, "run B's start")
        time.sleep(3)
        a.signal_group(signal.SIGKILL)
        assert b.wait(180) == 0, b.output()
    finally:
        a.close()
        if b is not None:
            b.close()
    trials = stored_trials(tmp_path / "s")
    # trial 0 lost with run A, retried (the classic trial still) with the other two
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE", "COMPLETE"], \
        trials
    assert "waiting worker" in trials[0].user_attrs["reason"]
    retry = check_retries(trials)[0]
    assert retry.state.name == "COMPLETE" and retry.user_attrs["classic"] is True


def test_no_trial_starts_after_the_time_out_while_a_worker_waits(tmp_path, data_args,
                                                                 tiny_space):
    """With lag 0 one worker waits for the other's trial; when that ends past the
    time-out, the waiting worker must not start one (it would be cut, FAIL, counted)."""
    proc = sweep("run", "--trials", 10, "--jobs", 2, "--lag", 0, "--timeout", "6s",
                 "--studies-dir", tmp_path, "--study", "s", "--space", tiny_space,
                 "--epochs", 3, *data_args, "--pruner", "none", "--no-plots", "--no-report",
                 "--quiet", cwd=tmp_path, faults={"SWEEP_FAULT_SLEEP": 2}, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "time-out" in proc.stdout + proc.stderr
    states = [t.state.name for t in stored_trials(tmp_path / "s")]
    assert "FAIL" not in states and "RUNNING" not in states, states
    assert len(states) <= 2, states  # trials of 6 s or more, none begun after 6 s

"""A study is fixed by its settings and seed, not by timing: with two workers, one run
undisturbed and one with every epoch delayed at random in the workers, the trials are
the same (sweep/study/lag.py); a trial re-trained from its config.json gives the same
numbers to the last bit; and a worker waiting for the trials it learns from neither
waits for a killed run's trial for ever nor starts a trial after the time-out. (The
lag's view of a study, in process: study/test_lag.py.)"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from mlp.experiment import read_history
from sweep.execution.jobs import cores
from tests.sweep.faults.harness import (
    Running,
    check_retries,
    running_trials,
    stored_trials,
    sweep,
    wait_for,
    worker_pids,
)

pytestmark = pytest.mark.slow

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


# ------------------------------------------------------------------ reproduction from config.json

@pytest.fixture(scope="module")
def best_trial(main_study):
    done = main_study.optuna().get_trials(states=(TrialState.COMPLETE,))
    return max(done, key=lambda t: (t.value, -t.number))


@pytest.fixture(scope="module")
def retrained(main_study, best_trial, sweep_cli, tmp_path_factory):
    """The best trial re-trained from its config.json, in the default environment."""
    config = main_study.root / "trials" / f"{best_trial.number:04d}" / "config.json"
    out = tmp_path_factory.mktemp("retrain") / "default"
    proc = sweep_cli("train", "--config", config, "--out", out, "--no-plots", "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _trained(trial_dir):
    metrics = json.loads((trial_dir / "metrics.json").read_text())
    history = [{k: v for k, v in row.items() if k != "seconds"}
               for row in read_history(trial_dir / "history.csv")]
    return metrics, history


def test_retraining_with_the_recorded_blas_threads_is_bit_for_bit(
        main_study, best_trial, sweep_cli, tmp_path):
    trial_dir = main_study.root / "trials" / f"{best_trial.number:04d}"
    config = json.loads((trial_dir / "config.json").read_text())
    threads = str(config["environment"]["blas"]["threads"])
    out = tmp_path / "same-threads"
    proc = sweep_cli("train", "--config", trial_dir / "config.json", "--out", out,
                     "--no-plots", "--quiet", env={"OPENBLAS_NUM_THREADS": threads,
                                                   "OMP_NUM_THREADS": threads})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((out / "config.json").read_text())["environment"]["blas"]["threads"] \
        == int(threads)
    metrics, history = _trained(out)
    want_metrics, want_history = _trained(trial_dir)
    assert history == want_history
    for key in ("val_accuracy", "val_loss", "test_accuracy", "test_loss", "best_epoch"):
        assert metrics[key] == want_metrics[key], key


def test_retraining_in_the_default_environment_is_bit_for_bit(
        main_study, best_trial, retrained):
    """`train --config` re-uses the recorded BLAS thread count (the worker had fewer), and
    gives the trial's value, history and test accuracy to the last bit."""
    config = json.loads((retrained / "config.json").read_text())
    assert config["environment"]["blas"]["threads"] == max(1, cores() // main_study.jobs)
    metrics, history = _trained(retrained)
    want_metrics, want_history = _trained(main_study.root / "trials"
                                          / f"{best_trial.number:04d}")
    assert history == want_history
    for key in ("val_accuracy", "val_loss", "test_accuracy", "test_loss", "best_epoch"):
        assert metrics[key] == want_metrics[key], key


# ------------------------------------------------------------------ a worker waiting for its lag


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

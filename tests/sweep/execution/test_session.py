"""A run of a study from start to end (sweep/execution/session.py), in real ``sweep run``
processes: the study, its trial directories and records, resuming and extending, and a
first run that is rejected or interrupted removing only what it made.

`main_study` (conftest.py) is one 6-trial, 2-worker study shared by the tests that
read it; `resumed_study` is one run three times (3 trials, then 6 with every option
left out, then 6 again)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from optuna.trial import TrialState

from mlp.experiment import read_history
from sweep.execution.jobs import cores
from sweep.study.paths import StudyPaths
from sweep.study.settings import settings_record, stored_settings
from tests.sweep.conftest import error_lines
from tests.sweep.faults.harness import (
    Running,
    SilentServer,
    check_study,
    default_signals,
    sweep,
    sweep_env,
    wait_for,
)

pytestmark = pytest.mark.slow

# the mission's classic configuration, spelled out rather than imported
CLASSIC = {"hidden_size": 512, "dropout": 0.3, "l2": 1e-4, "lr": 0.1, "batch_size": 128}
TRIAL_FILES = ("config.json", "history.csv", "metrics.json", "trial.json")
PLOTS = ("learning_curves.png", "confusion_matrix.png", "per_class_f1.png", "misclassified.png")


# ------------------------------------------------------------------ the shared 2-worker study

def test_main_study_has_the_trials_asked_for(main_study):
    study = main_study.optuna()
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(main_study.trials))
    assert all(t.state == TrialState.COMPLETE for t in trials), [t.state for t in trials]
    dirs = sorted(p.name for p in (main_study.root / "trials").iterdir())
    assert dirs == [f"{n:04d}" for n in range(main_study.trials)]
    assert (f"{main_study.trials} of {main_study.trials} trials finished "
            f"({main_study.trials} completed, 0 pruned, 0 failed)") in main_study.proc.stdout
    assert stored_settings(study).sampler == "tpe"  # the default
    best = max(trials, key=lambda t: (t.value, -t.number))
    assert f"best: trial {best.number}:" in main_study.proc.stdout


def test_by_default_a_trial_draws_figures_when_it_is_the_best_so_far(main_study):
    """--plots best: the best trial has every figure; a trial has figures only if no trial
    completed before it started was better, and lacks them only if one completed before
    it finished was better."""
    trials = main_study.optuna().get_trials()
    best = max(trials, key=lambda t: t.value)
    for t in trials:
        folder = StudyPaths(main_study.root).trial_dir(t.number) / "plots"
        drawn = [(folder / name).is_file() for name in PLOTS]
        assert all(drawn) or not any(drawn), (t.number, drawn)
        before_start = [u.value for u in trials if u.datetime_complete < t.datetime_start]
        before_end = [u.value for u in trials if u.datetime_complete < t.datetime_complete]
        if all(drawn):
            assert all(t.value >= v for v in before_start), t.number
        else:
            assert any(v > t.value for v in before_end), t.number
    assert all((StudyPaths(main_study.root).trial_dir(best.number) / "plots" / name).is_file()
               for name in PLOTS)


def test_every_trial_directory_is_complete_and_matches_the_storage(main_study):
    study = main_study.optuna()
    for t in study.get_trials():
        d = StudyPaths(main_study.root).trial_dir(t.number)
        for name in TRIAL_FILES:
            assert (d / name).is_file(), f"{d / name} missing"
        if t.state == TrialState.COMPLETE:
            assert (d / "checkpoints" / "best.npz").is_file()
        record = json.loads((d / "trial.json").read_text())
        assert record["number"] == t.number
        assert record["state"] == t.state.name
        assert record["value"] == t.value
        assert record["params"] == t.params
        assert record["pid"] == t.user_attrs["pid"]
        assert record["seed"] == t.user_attrs["seed"]
        assert record["intermediate_values"] == {str(k): v
                                                 for k, v in t.intermediate_values.items()}

        metrics = json.loads((d / "metrics.json").read_text())
        assert metrics["status"] == "completed"
        assert metrics["val_accuracy"] == t.value
        assert metrics["test_accuracy"] == t.user_attrs["test_accuracy"]
        assert metrics["best_epoch"] == t.user_attrs["best_epoch"]

        config = json.loads((d / "config.json").read_text())
        assert config["model"]["hidden_size"] == t.params["hidden_size"]
        assert config["model"]["dropout"] == t.params["dropout"]
        assert config["training"]["l2"] == t.params["l2"]
        assert config["training"]["lr"] == t.params["lr"]
        assert config["training"]["batch_size"] == t.params["batch_size"]
        assert config["training"]["epochs"] == main_study.epochs
        assert config["training"]["seed"] == t.user_attrs["seed"]
        assert config["environment"]["study"] == "main"
        assert config["environment"]["trial"] == t.number
        assert config["environment"]["workers"] == {
            "jobs": main_study.jobs, "threads": max(1, cores() // main_study.jobs),
            "rule": f"--jobs {main_study.jobs}"}

        history = read_history(d / "history.csv")
        assert [h["epoch"] for h in history] == list(range(1, main_study.epochs + 1))
        assert max(h["val_acc"] for h in history) == t.value
        assert {int(k): v for k, v in record["intermediate_values"].items()} == {
            h["epoch"]: h["val_acc"] for h in history}


def test_two_workers_ran_the_trials(main_study):
    trials = main_study.optuna().get_trials()
    pids = {t.user_attrs["pid"] for t in trials}
    assert len(pids) == main_study.jobs, pids
    assert os.getpid() not in pids
    seeds = [t.user_attrs["seed"] for t in trials]
    assert len(set(seeds)) == len(seeds)  # every trial trains with its own seed
    # each worker limits its BLAS pool to its share of the cores, and records it
    threads = max(1, cores() // main_study.jobs)
    for t in trials:
        config = json.loads((main_study.root / "trials" / f"{t.number:04d}" / "config.json")
                            .read_text())
        assert config["environment"]["blas"]["threads"] == threads


def test_classic_configuration_is_trial_zero(main_study):
    trials = main_study.optuna().get_trials()
    assert trials[0].params == CLASSIC
    assert trials[0].user_attrs.get("classic") is True
    assert not any(t.user_attrs.get("classic") for t in trials[1:])
    assert not any(t.params == CLASSIC for t in trials[1:])


def test_pruner_none_prunes_nothing(main_study):
    study = main_study.optuna()
    assert stored_settings(study).pruner == "none"
    assert not study.get_trials(states=(TrialState.PRUNED,))
    for t in study.get_trials():
        assert len(t.intermediate_values) == main_study.epochs


# ------------------------------------------------------------------ resume and extend

def test_resume_runs_only_the_missing_trials(resumed_study):
    r = resumed_study
    assert [n for n, _ in r.after_first] == [0, 1, 2]
    assert r.dirs_after_first == ["0000", "0001", "0002"]
    study = r.optuna()
    trials = study.get_trials()
    numbers = [t.number for t in trials]
    assert numbers == list(range(6))
    finished = [t for t in trials if t.state.is_finished()]
    assert len(finished) == 6
    # the first three trials are untouched by the second run
    assert [(t.number, t.state.name) for t in trials[:3]] == r.after_first
    dirs = sorted(p.name for p in (r.root / "trials").iterdir())
    assert dirs == [f"{n:04d}" for n in range(6)]
    for t in trials:
        record = json.loads((r.root / "trials" / f"{t.number:04d}" / "trial.json").read_text())
        assert record["number"] == t.number and record["state"] == t.state.name
    assert "0 of 3 trials finished" in r.first.stderr
    assert "3 of 6 trials finished" in r.second.stderr


def test_a_complete_study_runs_nothing(resumed_study):
    r = resumed_study
    assert r.third.returncode == 0, r.third.stderr
    assert "nothing to run" in r.third.stdout
    assert "already has 6 finished trials" in r.third.stdout
    assert (r.root / "journal.log").read_bytes() == r.journal_after_second
    assert len(r.optuna().get_trials()) == 6


def test_classic_values_that_fit_a_narrowed_space_are_still_trial_zero(resumed_study):
    """hidden_size is capped at 64: the classic 512 is sampled, the other four enqueued."""
    trials = resumed_study.optuna().get_trials()
    zero = trials[0]
    assert zero.user_attrs.get("classic") is True
    expected = {k: v for k, v in CLASSIC.items() if k != "hidden_size"}
    assert {k: zero.params[k] for k in expected} == expected
    assert 32 <= zero.params["hidden_size"] <= 64
    assert not any(t.user_attrs.get("classic") for t in trials[1:])


def test_options_left_out_on_resume_keep_the_stored_values(resumed_study, tiny_idx_dir):
    r = resumed_study
    study = r.optuna()
    assert settings_record(study) == r.settings_after_first
    assert (r.root / "study.json").read_text() == r.meta_after_first
    settings = stored_settings(study)
    assert settings.space.param("hidden_size").high == 64
    for t in study.get_trials()[3:]:  # run by the resume that gave no options
        config = json.loads((r.root / "trials" / f"{t.number:04d}" / "config.json").read_text())
        assert config["training"]["epochs"] == 2
        assert config["data"]["dataset"] == "idx"
        assert config["data"]["data_dir"] == str(tiny_idx_dir)
        assert 32 <= t.params["hidden_size"] <= 64


# ------------------------------------------------------- a first run rejected or interrupted


def test_an_interrupted_first_run_never_deletes_other_studies(tmp_path, run_args):
    """Study b waits for a dataset from a mirror that never answers while study a runs
    in the same, new studies folder; b is then interrupted (Ctrl-C): it removes its own
    study folder, and study a goes on whole."""
    studies = tmp_path / "studies"
    server = SilentServer()
    cache = tmp_path / "empty-cache"
    env = {"MLP_DATA_MIRRORS": f"http://127.0.0.1:{server.port}/", "XDG_CACHE_HOME": str(cache)}
    b = None
    try:
        b_args = ["run", "--trials", 2, "--dataset", "fashion-mnist", "--studies-dir", studies,
                  "--study", "b", "--no-report", "--quiet"]
        b = subprocess.Popen([sys.executable, "-m", "sweep", *map(str, b_args)],
                             cwd=tmp_path, env=sweep_env() | env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True,
                             preexec_fn=default_signals)
        wait_for(lambda: server.conns, 60, "b to connect to the silent mirror")
        a = Running(*run_args(studies, "a", trials=4, epochs=2), cwd=tmp_path,
                    log=tmp_path / "a", faults={"SWEEP_FAULT_SLEEP": 0.5})
        try:
            wait_for(lambda: (studies / "a" / "study.json").exists(), 60, "study a")
            os.killpg(b.pid, signal.SIGINT)
            _, err = b.communicate(timeout=120)
            assert b.returncode == 130, err
            assert (studies / "a" / "journal.log").is_file(), "study a was deleted"
            assert a.wait(120) == 0, a.output()
        finally:
            a.close()
    finally:
        if b is not None and b.poll() is None:
            b.kill()
        server.close()
    check_study(studies / "a", finished=4)
    assert not (studies / "b").exists()


def test_conflicting_first_run_never_deletes_the_other_study(tmp_path, run_args):
    # The loser starts first, finds no study folder, and is slow to check its data (a
    # first download); meanwhile the winner creates the study with other settings and
    # runs trials. The loser must be refused without touching the winner's study.
    studies, root = tmp_path / "studies", tmp_path / "studies" / "race"
    loser = Running(*run_args(studies, "race", trials=6, epochs=8), "--seed", 2, cwd=tmp_path,
                    log=tmp_path / "loser", faults={"SWEEP_FAULT_LOAD_SLEEP": 5})
    try:
        wait_for(root.exists, 60, "the loser to make the study folder")
        winner = Running(*run_args(studies, "race", trials=6, epochs=8), "--seed", 1,
                         cwd=tmp_path, log=tmp_path / "winner",
                         faults={"SWEEP_FAULT_SLEEP": 0.2})
        try:
            wait_for(lambda: (root / "study.json").exists(), 60, "the winner's study")
            rc_loser = loser.wait(60)
            rc_winner = winner.wait(120)
        finally:
            winner.close()
    finally:
        loser.close()
    assert rc_loser == 2 and "exists with other settings" in loser.stderr, loser.output()
    assert rc_winner == 0 and (root / "journal.log").exists(), (
        "regressed: sweep/commands.py cmd_run: a rejected run that found no study folder when it "
        "started removes the folder on error (shutil.rmtree(created)) even though another "
        "run has since created the study in it and is running trials: the other study is "
        "deleted. Fix: remove only under study_lock, and only if the storage holds no study "
        "of that name (or check the settings before creating anything).\n"
        + winner.output())
    check_study(root, finished=6)


# 7. ------------------------------------------------------------------------------------


def test_a_rejected_first_run_removes_only_what_it_made(tmp_path, tiny_idx_dir):
    """Refused after the run has started its workers and made the study's folder and
    storage (a dataset that does not verify; a missing data file, with a new SQLite
    database): the run exits 2 with one line and leaves no studies folder and no database
    behind."""
    missing = tmp_path / "missing"
    shutil.copytree(tiny_idx_dir, missing)
    (missing / "t10k-labels-idx1-ubyte.gz").unlink()
    studies, db = tmp_path / "studies", tmp_path / "new.db"
    problems = []
    for case in (["--dataset", "mnist", "--data-dir", tiny_idx_dir],
                 ["--dataset", "idx", "--data-dir", missing, "--storage", f"sqlite:///{db}"]):
        proc = sweep("run", "--trials", 2, "--jobs", 1, "--epochs", 1, *case, "--studies-dir",
                     studies, "--study", "bad", "--no-report", "--no-plots", "--quiet",
                     cwd=tmp_path)
        assert proc.returncode == 2 and len(error_lines(proc.stderr)) == 1, proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr
        if studies.exists():
            problems.append(f"{case}: left {studies} ({list(studies.rglob('*'))})")
            shutil.rmtree(studies)
        if db.exists():
            problems.append(f"{case}: left the database {db} it made")
            db.unlink()
    assert not problems, (
        "regressed: sweep/execution/session.py _cleaned_up_on_failure: a rejected first run "
        "must remove the folders it created (the --studies-dir too) and a SQLite file it "
        "made:\n" + "\n".join(problems))

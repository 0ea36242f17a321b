"""End-to-end studies: real worker processes, a real JournalStorage, real trial directories."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest
from optuna.trial import TrialState

from mlp.experiment import read_history
from sweep.execution.jobs import cores
from sweep.study.paths import StudyPaths
from sweep.study.settings import stored_settings

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


def test_retraining_from_config_gives_the_trial_value(main_study, best_trial, retrained):
    metrics, _ = _trained(retrained)
    assert metrics["val_accuracy"] == best_trial.value  # exactly


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
    """`train --config` re-uses the recorded BLAS thread count (the worker had fewer)."""
    config = json.loads((retrained / "config.json").read_text())
    assert config["environment"]["blas"]["threads"] == max(1, cores() // main_study.jobs)
    metrics, history = _trained(retrained)
    want_metrics, want_history = _trained(main_study.root / "trials"
                                          / f"{best_trial.number:04d}")
    assert history == want_history
    for key in ("val_accuracy", "val_loss", "test_accuracy", "test_loss", "best_epoch"):
        assert metrics[key] == want_metrics[key], key


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


# ------------------------------------------------------------------ samplers and pruners

@pytest.mark.parametrize(("sampler", "pruner"),
                         [("random", "hyperband"), ("cmaes", "median"), ("qmc", "none")])
def test_each_sampler_runs(sampler, pruner, sweep_cli, data_args, narrow_space, tmp_path,
                           open_optuna):
    proc = sweep_cli("run", "--trials", 3, "--jobs", 1, "--epochs", 1, *data_args,
                     "--train-limit", 300, "--space", narrow_space, "--sampler", sampler,
                     "--pruner", pruner, "--studies-dir", tmp_path, "--study", sampler,
                     "--no-report", "--no-plots", "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    study = open_optuna(tmp_path, sampler)
    settings = stored_settings(study)
    assert (settings.sampler, settings.pruner) == (sampler, pruner)
    assert settings.config.data.train_limit == 300
    trials = study.get_trials()
    assert [t.number for t in trials] == [0, 1, 2]
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert trials[0].user_attrs.get("classic") is True
    for t in trials:
        p = t.params
        assert 32 <= p["hidden_size"] <= 64
        assert 0.0 <= p["dropout"] <= 0.7
        assert 1e-6 <= p["l2"] <= 1e-2
        assert 1e-3 <= p["lr"] <= 1.0
        assert p["batch_size"] in (32, 64, 128, 256, 512)
    # the sampler proposed something other than the enqueued classic point
    assert trials[1].params != trials[0].params and trials[2].params != trials[1].params
    if pruner == "none":
        assert not study.get_trials(states=(TrialState.PRUNED,))


def test_gp_sampler_runs_or_names_the_missing_package(sweep_cli, data_args, narrow_space,
                                                      tmp_path, open_optuna, check_error):
    studies = tmp_path / "studies"
    proc = sweep_cli("run", "--trials", 2, "--jobs", 1, "--epochs", 1, *data_args,
                     "--train-limit", 300, "--space", narrow_space, "--sampler", "gp",
                     "--studies-dir", studies, "--study", "gp", "--no-report", "--no-plots",
                     "--quiet")
    have = all(importlib.util.find_spec(m) is not None for m in ("torch", "scipy"))
    if have:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert len(open_optuna(studies, "gp").get_trials()) == 2
    else:
        check_error(proc, 2, "--sampler gp", "PyTorch")
        assert not (studies / "gp").exists()

"""Each sampler and pruner (sweep/study/samplers.py) in a real small study: the sampler
proposes points in the space, the classic configuration is still trial 0, ``--explore``
is quasi-random without pruning."""

from __future__ import annotations

import importlib.util

import pytest
from optuna.trial import TrialState

from sweep.study.results import load
from sweep.study.settings import stored_settings

pytestmark = pytest.mark.slow


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


def test_explore_is_quasi_random_without_pruning(sweep_cli, run_args, tmp_path):
    args = [a for a in run_args(tmp_path, "ex", 3) if a not in ("--pruner", "none")]
    proc = sweep_cli(*args, "--explore")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    settings = load("ex", tmp_path).settings
    assert (settings.sampler, settings.pruner) == ("qmc", "none")

"""``sweep confirm`` and ``sweep rerun`` refusing what they cannot do, in process, before
any worker starts (what they do: execution/test_confirm.py)."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from sweep.commands.confirm import ConfirmRequest
from sweep.options import build
from tests.sweep.studies import add, api_study


@pytest.mark.parametrize(("args", "code", "needle"), [
    (["--study", "nope"], 1, "no study named 'nope'"),
    (["--within", "0"], 2, "--within 0"),
    (["--max-candidates", "1"], 2, "--max-candidates 1"),
    (["--seeds", "9"], 2, "--seeds 9"),
    (["--seeds", "101"], 2, "--seeds 101"),
    (["--margin", "0"], 2, "--margin 0"),
    (["--rule", "fastest"], 2, "--rule fastest"),
    (["--cost", "watts"], 2, "--cost watts"),
    (["--jobs", "0"], 2, "--jobs 0"),
    (["--top", "5"], 2, "--top"),
])
def test_confirm_bad_input(args, code, needle, made_study, cli, check_error):
    proc = cli("confirm", "--studies-dir", made_study.parent, "--study", "done", *args)
    check_error(proc, code, needle)
    assert not (made_study / "confirm").exists()


def test_confirm_takes_jobs_auto_as_run_does():
    """`sweep run --jobs auto` is the default, yet `sweep confirm --jobs auto` was refused
    ("invalid int value")."""
    assert build(ConfirmRequest, {"jobs": "auto"}, cli=True).jobs is None
    assert build(ConfirmRequest, {"jobs": " AUTO"}, cli=True).jobs is None
    assert build(ConfirmRequest, {"jobs": "3"}, cli=True).jobs == 3


def test_confirm_needs_a_completed_trial(tmp_path, cli, check_error):
    study, dists, rng = api_study(tmp_path, "f")
    for _ in range(2):
        add(study, dists, rng, TrialState.FAIL, reason="RuntimeError: boom")
    proc = cli("confirm", "--studies-dir", tmp_path, "--study", "f")
    check_error(proc, 1, "no completed trial")
    assert not (tmp_path / "f" / "confirm").exists()


@pytest.mark.parametrize(("trial", "needle"), [(99, "--trial 99"), (-1, "--trial -1")])
def test_rerun_bad_trial(trial, needle, made_study, cli, check_error):
    proc = cli("rerun", "--studies-dir", made_study.parent, "--study", "done", "--trial", trial)
    check_error(proc, 2, needle)


def test_rerun_of_a_damaged_directory(made_study, cli, check_error):
    (made_study / "trials" / "0002" / "config.json").write_text("{not json")
    proc = cli("rerun", "--studies-dir", made_study.parent, "--study", "done", "--trial", 2)
    check_error(proc, 1, "trial 2", "config.json")

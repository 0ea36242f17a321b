"""Reading a study (sweep/study/results.py), in process on studies written through Optuna:
the API the reading commands, the report and the notebook share, and the note on
trials whose folders this machine does not have."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

import sweep
from sweep.study.results import load
from tests.sweep.conftest import load_optuna


def test_load_agrees_with_optuna(made_study):
    results = load("done", made_study.parent)
    study = load_optuna(made_study.parent, "done")
    assert results is not None and results.name == "done"
    assert len(results.trials) == len(study.trials) == 3
    assert results.counts.complete == results.counts.finished == 3
    assert int(results.best(1).iloc[0]["number"]) == 2 == study.best_trial.number
    assert [o.number for o in results.best_outcomes(3)] == [2, 0, 1]
    assert results.trial_dir(0) == made_study / "trials" / "0000"
    assert list(results.trials.columns[:5]) == ["number", "state", "value", "test_accuracy",
                                                "params_hidden_size"]
    assert results.outcomes[0].classic and not results.outcomes[1].classic


def test_load_is_the_package_api(made_study):
    results = sweep.load("done", made_study.parent)
    assert isinstance(results, sweep.StudyResults)
    assert int(results.best(1).iloc[0]["number"]) == 2


def test_histories_are_read_from_the_trial_folders(made_study):
    results = load("done", made_study.parent)
    histories = results.histories()
    assert sorted(histories) == [0, 1, 2]
    on_disk = pd.read_csv(made_study / "trials" / "0002" / "history.csv")
    pd.testing.assert_frame_equal(results.history(2), on_disk)
    assert results.history(2)["val_acc"].max() == results.outcomes[2].value
    (made_study / "trials" / "0001" / "history.csv").write_text("not,a\nhistory")
    assert results.history(1) is None and results.history(99) is None


def test_a_missing_study_is_a_study_error(tmp_path):
    with pytest.raises(sweep.StudyError, match="no study named 'nope'"):
        load("nope", tmp_path)
    assert not (tmp_path / "nope").exists()


def test_the_note_on_missing_trial_directories_of_this_machine(made_study, tmp_path, cli):
    """Trial folders moved, replaced by a file or a link loop, or all gone: `best` and
    `trials` still answer, and the note counts them. Trials that ran on this very machine
    were said to be "on <this host>" with the advice to "read from a machine that has
    them": they were moved or deleted here."""
    where = ("--studies-dir", made_study.parent, "--study", "done")
    whole = cli("best", *where)
    assert whole.returncode == 0 and "note:" not in whole.stderr, whole.stderr
    trials = made_study / "trials"
    (trials / "0000").rename(tmp_path / "moved")
    shutil.rmtree(trials / "0001")
    (trials / "0001").write_text("not a folder")
    shutil.rmtree(trials / "0002")
    (trials / "0002").symlink_to("0002")
    for command in ("best", "trials"):
        out = cli(command, *where)
        assert out.returncode == 0, out.stderr
        notes = [line for line in out.stderr.splitlines() if line.startswith("note: ")]
        assert len(notes) == 1, out.stderr
        assert "3 of 3 trained trials have no experiment files" in notes[0], notes
        assert "trials 0, 1, 2, run here: moved or deleted" in notes[0], notes
        assert "Read from a machine that has them" not in notes[0], notes
    shutil.rmtree(trials)
    out = cli("best", *where)
    assert out.returncode == 0 and "note: 3 of 3 trained trials" in out.stderr, out.stderr

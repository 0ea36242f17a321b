"""Hostile tester 6: a study that sweep did not make (plain Optuna, no settings) is named
as such by every reader; `trials` and `confirm` blamed a missing trial instead ("has no
trials yet", "has no completed trial to confirm"), so the user waited for trials that
never come (results.py: `StudyResults` refuses it as it is made)."""

from __future__ import annotations

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage


@pytest.fixture
def plain_study(tmp_path):
    folder = tmp_path / "studies" / "plain"
    folder.mkdir(parents=True)
    storage = JournalStorage(JournalFileBackend(str(folder / "journal.log")))
    optuna.create_study(study_name="plain", storage=storage, direction="maximize")
    return folder.parent


@pytest.mark.parametrize("command", ["trials", "confirm", "best", "report"])
def test_a_study_sweep_did_not_make_is_named_so(cli, plain_study, command):
    proc = cli(command, "--study", "plain", "--studies-dir", plain_study)
    assert proc.returncode in (1, 2), proc.stderr
    assert "not created by sweep" in proc.stderr, proc.stderr

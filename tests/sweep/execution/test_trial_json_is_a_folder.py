"""A folder where a finished trial's trial.json goes.

Before: resuming a study whose ``trials/0001/trial.json`` is a folder ended in
``sweep run: error: [Errno 21] Is a directory:
'.../trials/0001/.trial.json.ojvl_sl0.tmp' -> '.../trials/0001/trial.json'``: the raw OS
error, naming a temporary file the user never made. A file where the ``trials`` folder
goes is refused in words before any trial is trained."""

from __future__ import annotations

import pytest

from tests.sweep.conftest import one_clear_line

pytestmark = pytest.mark.slow


def test_a_folder_named_trial_json_is_refused_in_words(tiny_run, tmp_path):
    assert tiny_run("t", 2).returncode == 0
    trial_json = tmp_path / "studies" / "t" / "trials" / "0001" / "trial.json"
    trial_json.unlink()
    trial_json.mkdir()
    line = one_clear_line(tiny_run("t", 3), str(trial_json))
    assert ".tmp" not in line, line
    assert not list((tmp_path / "studies").rglob("*.tmp")), "a temporary file left behind"

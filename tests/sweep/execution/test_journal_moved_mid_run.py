"""The study's journal.log moved away, deleted or emptied while ``run`` runs.

Hostile tester 15: the run stopped with "sweep run: error: [Errno 2] No such file or
directory: '.../journal.log'; its trials left RUNNING are failed by the next run": the
raw OS error, and a promise the next run could not keep (without its journal there is
no study to resume). Now one line in words, and the way back.

Hostile tester 17: emptied (``: > journal.log``, a restore gone wrong), the run printed
Optuna's internals ("worker error: AttributeError: 'JournalStorageReplayResult' object
has no attribute '_last_created_trial_id_by_this_process'"), and a worker could append
records of trials the emptied journal does not hold."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.sweep.conftest import error_lines
from tests.sweep.faults.harness import sweep_env

pytestmark = pytest.mark.slow


def _running(tmp_path, data_args, tiny_space) -> subprocess.Popen:
    """A 12-trial run of two workers, once its second trial has started."""
    studies = tmp_path / "studies"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sweep", "run", "--trials", "12", "--jobs", "2", "--epochs", "3",
         *map(str, data_args), "--space", str(tiny_space), "--pruner", "none",
         "--studies-dir", str(studies), "--study", "j", "--no-report", "--no-plots",
         "--quiet"], cwd=tmp_path, env=sweep_env({"SWEEP_FAULT_SLEEP": 0.5}),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (studies / "j" / "trials" / "0001").exists():
        time.sleep(0.1)
    time.sleep(1)
    return proc


def test_a_journal_gone_mid_run_is_said_in_words(tmp_path, data_args, tiny_space):
    studies = tmp_path / "studies"
    journal = studies / "j" / "journal.log"
    proc = _running(tmp_path, data_args, tiny_space)
    journal.rename(tmp_path / "moved.log")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, (out, err)
    lines = error_lines(err)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0] == (f"sweep run: error: the study's journal {journal} is gone (moved or "
                        "deleted while the run ran): put it back to resume the study"), lines[0]
    (tmp_path / "moved.log").rename(journal)  # put back: the study resumes, whole
    again = subprocess.run(
        [sys.executable, "-m", "sweep", "run", "--trials", "4", "--jobs", "1", "--epochs", "3",
         *map(str, data_args), "--space", str(tiny_space), "--pruner", "none",
         "--studies-dir", str(studies), "--study", "j", "--no-report", "--no-plots",
         "--quiet"], cwd=tmp_path, env=sweep_env(), capture_output=True, text=True,
        timeout=180)
    assert again.returncode == 0, again.stderr


def test_a_journal_emptied_mid_run_is_said_and_nothing_is_written_to_it(
        tmp_path, data_args, tiny_space):
    journal = tmp_path / "studies" / "j" / "journal.log"
    proc = _running(tmp_path, data_args, tiny_space)
    whole = journal.read_bytes()
    journal.write_bytes(b"")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, (out, err)
    lines = error_lines(err)
    assert len(lines) == 1 and "Traceback" not in err and "AttributeError" not in err, err
    assert lines[0].startswith(f"sweep run: error: {journal}: the study's journal holds "
                               "0 bytes, fewer than the "), lines[0]
    assert "put the whole journal back" in lines[0], lines[0]
    assert journal.read_bytes() == b"", "records were appended to the emptied journal"
    assert len(whole) > 0

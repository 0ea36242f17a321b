"""A finished trial's files deleted while the run goes on (``rm -rf studies/s/trials``).

Hostile tester 17: the run ended, exit 0, without a word, and its last line pointed the
best trial at a folder the run had made again for the trial's record, holding only
trial.json: no history, no checkpoint. The run's summary now says which trained trials
have lost their files, and the best line says its files are gone."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sweep.faults.harness import sweep_env

pytestmark = pytest.mark.slow


def test_trained_trials_whose_files_were_deleted_are_named_at_the_end(
        tmp_path, data_args, tiny_space):
    studies = tmp_path / "studies"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sweep", "run", "--trials", "4", "--jobs", "1", "--epochs", "2",
         *map(str, data_args), "--space", str(tiny_space), "--pruner", "none",
         "--studies-dir", str(studies), "--study", "d", "--no-report", "--no-plots"],
        cwd=tmp_path, env=sweep_env({"SWEEP_FAULT_SLEEP": 0.3}), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    first = studies / "d" / "trials" / "0000"
    deadline = time.monotonic() + 120
    while not (first / "trial.json").exists() or '"COMPLETE"' not in (
            first / "trial.json").read_text():
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    shutil.rmtree(studies / "d" / "trials" / "0000")
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    notes = [line for line in out.splitlines() if line.startswith("note: ")]
    assert notes and "trained trials have no experiment files" in notes[0], out
    assert "trial 0, run here: moved or deleted" in " ".join(out.split()), out
    best = " ".join(out[out.index("best: "):].split())
    if " -> " in best:  # a folder shown holds the trial's experiment
        assert (Path(best.rsplit(" -> ", 1)[1]) / "history.csv").is_file(), best
    else:
        assert f"its files are gone from {first} (moved or deleted)" in best, best

"""What a run prints: the test set stays out of sight until the run has chosen."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_the_run_shows_test_accuracy_for_the_selected_trial_only(sweep_cli, data_args,
                                                                 tmp_path):
    proc = sweep_cli("run", "--trials", 4, "--jobs", 2, "--epochs", 1, *data_args,
                     "--studies-dir", tmp_path, "--study", "quiet-test", "--no-report",
                     "--no-plots")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = (proc.stdout + proc.stderr).splitlines()
    rows = [line for line in lines if line.split()[:2] and line.split()[0].isdigit()
            and line.split()[1] in ("complete", "pruned", "fail")]
    assert len(rows) == 4, lines  # one row per finished trial
    mentions = [line for line in lines if "test acc" in line.lower()]
    assert len(mentions) == 1 and mentions[0].startswith("best: trial"), mentions

"""Hostile tester 4: a study read from a folder that holds only some of its trial directories: the
trials whose folder is missing are counted as 'converged' although the storage has
every epoch's value (best epoch = last epoch, the same as the others), so the report's
counts and the statements built on them change with the folders present."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.sweep.faults.harness import sweep

pytestmark = pytest.mark.slow


def _improving(report: str) -> int:
    found = re.search(r"(\d+) completed trials were still improving", report)
    return int(found.group(1)) if found else 0


def test_missing_trial_folders_do_not_change_the_convergence_counts(tmp_path: Path,
                                                                     run_args) -> None:
    studies = tmp_path / "studies"
    proc = sweep(*run_args(studies, "part", trials=6, epochs=2), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    root = studies / "part"
    assert sweep("report", "--study", "part", "--studies-dir", studies,
                 cwd=tmp_path).returncode == 0
    whole = (root / "report" / "report.md").read_text()
    assert _improving(whole) == 6, whole  # 2 epochs each: all at their best at the last
    for number in (1, 2, 3):
        shutil.rmtree(root / "trials" / f"{number:04d}")
    proc = sweep("report", "--study", "part", "--studies-dir", studies, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    partial = (root / "report" / "report.md").read_text()
    # the storage still says each of the 6 was best at its last epoch
    assert _improving(partial) == 6, [ln for ln in partial.splitlines() if "improving" in ln
                                      or "converged" in ln][:4]

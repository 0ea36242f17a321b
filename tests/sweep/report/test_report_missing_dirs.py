"""Hostile tester 4: a study read from a folder that holds only some of its trial
folders counted the trials without a history as converged, so "N completed trials were
still improving" changed with the folders present. Now the trials it cannot judge are
counted and said, and kept (not silently called converged)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.sweep.faults.harness import sweep

pytestmark = pytest.mark.slow


def _count(pattern: str, report: str) -> int:
    found = re.search(pattern, report)
    return int(found.group(1)) if found else 0


def test_trials_without_a_folder_here_are_said_unjudged_not_converged(tmp_path: Path,
                                                                      run_args) -> None:
    studies = tmp_path / "studies"
    proc = sweep(*run_args(studies, "part", trials=6, epochs=2), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    root = studies / "part"
    for number in (1, 2, 3):
        shutil.rmtree(root / "trials" / f"{number:04d}")
    proc = sweep("report", "--study", "part", "--studies-dir", studies, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = " ".join((root / "report" / "report.md").read_text().split())
    improving = _count(r"(\d+) completed trials? (?:were|was) still improving", text)
    unjudged = _count(r"(\d+) completed trials? ha(?:ve|s) no readable history on this "
                      r"machine", text)
    # 2 epochs each: the three with folders were at their best at the last one
    assert (improving, unjudged) == (3, 3), text[:3000]


HEADER = b"epoch,lr_end,train_loss,train_acc,val_loss,val_acc,seconds\n"
DAMAGE = {  # what is written at trial 1's history.csv, and the warning's words for it
    "torn": (HEADER + b"1,0.", "line 2 is cut short"),
    # hostile tester 19: the codec's and the csv module's words, naming no file
    "not-utf8": (HEADER + b"1,0.1,2.2,0.3,1.4,0.6\xff\xfe,0.09\n", "line 2 is not UTF-8 text"),
    "huge-field": (HEADER + b"1,0.1,2.2,0.3,1.4,0.6," + b"9" * 200_000 + b"\n",
                   "line 2 is not CSV a run writes"),
    "columns": (b"epoch,foo,bar\n1,0.1,2.2\n", "not a run's history (no column 'lr_end')"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_history_is_named_on_the_console_not_called_elsewhere(tmp_path: Path,
                                                                        damage: str):
    """Hostile tester 18: trial 1's history.csv torn in its first row: the page said the
    trial "has no history on this machine (the folder is elsewhere)", though its folder
    is right here, and the console said nothing."""
    from tests.sweep.studies import finished_study

    root = finished_study(tmp_path / "studies", "torn", trials=3)
    history = root / "trials" / "0001" / "history.csv"
    content, said = DAMAGE[damage]
    history.write_bytes(content)
    proc = sweep("report", "--study", "torn", "--studies-dir", tmp_path / "studies",
                 cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [f"warning: {history}: {said}; that trial's history is left out"], \
        proc.stderr
    page = " ".join((root / "report" / "report.md").read_text().split())
    assert "a history.csv missing or damaged" in page and "the folder is elsewhere" not in page

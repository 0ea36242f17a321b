"""Hostile tester 11: Ctrl-C while `sweep run` wrote its report left the study without
one, and the same command then said "nothing to run" and wrote none. The same command
finishes what the last one began: a missing report is written. (Here the report is
removed instead of cut by a signal, whose timing a test cannot choose.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.sweep.conftest import run_sweep


@pytest.mark.slow
def test_the_same_command_writes_a_missing_report(tmp_path: Path, run_args) -> None:
    studies = tmp_path / "studies"
    args = [a for a in run_args(studies, "rep", trials=2, jobs=1) if a != "--quiet"]
    made = run_sweep(*args, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "writing the report" not in made.stdout  # --no-report: none asked for
    args = [a for a in args if a != "--no-report"]
    first = run_sweep(*args, cwd=tmp_path)
    assert "nothing to run" in first.stdout + first.stderr, first.stdout
    report = studies / "rep" / "report" / "index.html"
    assert first.returncode == 0 and report.is_file(), first.stdout + first.stderr
    shutil.rmtree(studies / "rep" / "report")
    again = run_sweep(*args, cwd=tmp_path)
    assert again.returncode == 0 and report.is_file(), again.stdout + again.stderr
    written = report.stat().st_mtime
    once_more = run_sweep(*args, cwd=tmp_path)  # a report there: nothing is redone
    assert once_more.returncode == 0 and report.stat().st_mtime == written

"""A run whose report is cut short (an interrupt, a failure while writing it) leaves no
page of the earlier, smaller study: the same command then writes the report.

Hostile tester 21: a run sent SIGTERM while writing its report kept the last run's
index.html; the same command said "nothing to run", and the report stayed one trial
short of `best`, without a word."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_a_report_cut_short_is_written_by_the_same_command(tiny_run, tmp_path):
    report = tmp_path / "studies" / "s" / "report"
    first = tiny_run("s", 1, "--report")
    assert first.returncode == 0 and "1 finished" in (report / "report.md").read_text()
    (report / "report.md").unlink()
    (report / "report.md").mkdir()  # the report's writing fails here, after the figures
    cut = tiny_run("s", 2, "--report")
    assert cut.returncode != 0, cut.stdout + cut.stderr
    assert not (report / "index.html").exists()  # no page of the 1-trial study left
    (report / "report.md").rmdir()
    again = tiny_run("s", 2, "--report")
    assert again.returncode == 0, again.stderr
    assert "nothing to run" in again.stdout + again.stderr
    assert "2 finished" in (report / "report.md").read_text()[:2000]
    assert (report / "index.html").is_file()

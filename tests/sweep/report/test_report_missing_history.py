"""A trained trial whose folder is in place but whose history.csv is gone: the readers
name the missing file, never the folder.

Hostile tester 21: report, plots, rerun and export said the trial had "no directory ...
(moved or deleted)" and left out its checkpoints and figures, though only history.csv was
gone; a folder holding none of the experiment's files (its record alone, made again by
the run) is still called away."""

from __future__ import annotations

import shutil

import pytest

from tests.sweep.conftest import one_clear_line

pytestmark = pytest.mark.slow


def test_a_missing_history_is_named_not_its_folder(tiny_run, sweep_cli, tmp_path):
    assert tiny_run("s", 2).returncode == 0
    studies = tmp_path / "studies"
    history = studies / "s" / "trials" / "0001" / "history.csv"
    history.unlink()
    where = ["--study", "s", "--studies-dir", studies]
    report = sweep_cli("report", *where, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    said = report.stdout + report.stderr
    assert "no directory" not in said, said
    assert f"warning: {history}: No such file or directory; that trial's history is left " \
        "out" in report.stderr, report.stderr
    for command in ("rerun", "plots"):
        one_clear_line(sweep_cli(command, *where, "--trial", 1, cwd=tmp_path),
                       f"{history}: No such file or directory")
    # the folder with its record alone (the run makes it again for trial.json): away
    for path in history.parent.iterdir():
        if path.name != "trial.json":
            path.unlink() if path.is_file() else shutil.rmtree(path)
    again = sweep_cli("report", *where, cwd=tmp_path)
    assert "1 of 2 trained trials have no experiment files" in again.stderr, again.stderr

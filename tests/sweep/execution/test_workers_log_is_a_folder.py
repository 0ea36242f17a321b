"""A folder, or a link to a place that is gone, where the study's workers.log goes.

Hostile tester 15: `run` carried on, exit 0, with no word of it: what the workers print
(their tracebacks, and the waits the run passes on from that file) was lost in silence,
while a file where trials/, artifacts/ or report/ go is named before a run. Named now,
before any worker starts; by `confirm` too, whose re-runs write their reasons there."""

from __future__ import annotations

import pytest

from tests.sweep.conftest import one_clear_line

pytestmark = pytest.mark.slow


def test_a_folder_named_workers_log_is_named_before_a_run(tiny_run, sweep_cli, tmp_path):
    assert tiny_run("w", 2).returncode == 0
    log = tmp_path / "studies" / "w" / "workers.log"
    log.unlink()
    log.mkdir()
    one_clear_line(tiny_run("w", 4), f"{log} is a folder where the study's workers' log goes")
    trials = sorted(p.name for p in (tmp_path / "studies" / "w" / "trials").iterdir())
    assert trials == ["0000", "0001"]  # nothing ran
    confirm = sweep_cli("confirm", "--study", "w", "--studies-dir", tmp_path / "studies",
                        "--seeds", 10, cwd=tmp_path)
    one_clear_line(confirm, f"{log} is a folder")
    assert not (tmp_path / "studies" / "w" / "confirm").exists() or not any(
        (tmp_path / "studies" / "w" / "confirm").rglob("metrics.json"))


def test_a_workers_log_linked_to_a_place_that_is_gone_is_named_before_a_run(
        tiny_run, sweep_cli, tmp_path):
    """Hostile tester 17: workers.log a symlink into a folder that is gone; the workers
    fell back to /dev/null, and their waits were never said."""
    assert tiny_run("d", 2).returncode == 0
    log = tmp_path / "studies" / "d" / "workers.log"
    log.unlink()
    log.symlink_to(tmp_path / "gone" / "workers.log")
    one_clear_line(tiny_run("d", 4), str(log), "cannot be written there",
                   "No such file or directory")
    trials = sorted(p.name for p in (tmp_path / "studies" / "d" / "trials").iterdir())
    assert trials == ["0000", "0001"] and not (tmp_path / "gone").exists()
    confirm = sweep_cli("confirm", "--study", "d", "--studies-dir", tmp_path / "studies",
                        "--seeds", 10, cwd=tmp_path)
    one_clear_line(confirm, str(log), "cannot be written there")


def test_a_workers_log_that_cannot_take_a_line_is_named_before_a_run(tiny_run, tmp_path):
    """Hostile tester 17 (unsure): workers.log linked to /dev/full took the workers'
    output and waits in silence. Each run opens its part of the log with a line, so a
    log that cannot be written is named first; one that can holds the line."""
    assert tiny_run("f", 1).returncode == 0 and tiny_run("f", 2).returncode == 0
    log = tmp_path / "studies" / "f" / "workers.log"
    assert "-- sweep run, process " in log.read_text(), log.read_text()  # the second run's
    log.unlink()
    log.symlink_to("/dev/full")
    one_clear_line(tiny_run("f", 3), str(log), "No space left on device")
    trials = sorted(p.name for p in (tmp_path / "studies" / "f" / "trials").iterdir())
    assert trials == ["0000", "0001"]

"""A folder, a link to nothing, a device or a pipe where the study's workers.log goes.

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


@pytest.mark.parametrize(("kind", "said"), [
    ("dangling", "is a link to nothing"),  # the workers fell back to /dev/null
    ("device", "is not a regular file"),  # /dev/full took their output
    ("pipe", "is not a regular file"),  # hostile tester 18: the run hung opening it
])
def test_a_workers_log_that_takes_no_output_is_named_before_a_run(
        tiny_run, sweep_cli, tmp_path, kind, said):
    """Hostile testers 17 and 18: workers.log a link to a place that is gone, a link to
    /dev/full or a named pipe. The workers' output and waits went nowhere in silence (or
    the run waited for ever for a reader of the pipe). Named before a run or a confirm,
    and nothing is written."""
    import os

    assert tiny_run("d", 2).returncode == 0
    log = tmp_path / "studies" / "d" / "workers.log"
    log.unlink()
    if kind == "dangling":
        log.symlink_to(tmp_path / "gone" / "workers.log")
    elif kind == "device":
        log.symlink_to("/dev/full")
    else:
        os.mkfifo(log)
    one_clear_line(tiny_run("d", 4, timeout=60), str(log), said)
    trials = sorted(p.name for p in (tmp_path / "studies" / "d" / "trials").iterdir())
    assert trials == ["0000", "0001"] and not (tmp_path / "gone").exists()
    confirm = sweep_cli("confirm", "--study", "d", "--studies-dir", tmp_path / "studies",
                        "--seeds", 10, cwd=tmp_path, timeout=60)
    one_clear_line(confirm, str(log), said)

"""Hostile tester 10: ``trials --watch`` on a study interrupted before any trial finished.

README: "`--watch [SECONDS]` redraws it ... until no trial runs or waits (or Ctrl-C); ...
trials left waiting with none running (for the next run) end the view after 30 s,
counted in its header."
"""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.sweep.faults.harness import Running, wait_for


@pytest.mark.slow
def test_watch_ends_when_only_retries_wait_and_nothing_has_finished(run_args, sweep_cli,
                                                                    tmp_path):
    """Found: Ctrl-C to a run while its first two trials trained (none finished yet)
    leaves trials 0 and 1 failed "interrupted" and their retries 2 and 3 waiting, 0
    finished. ``trials --watch 1`` then says "0 finished ..., 0 running, 2 waiting" and
    redraws for ever (killed after 100 s): `idle` wants a finished trial (retried
    failures do not count), so the 30 s end for stranded waiting trials never comes."""
    studies = tmp_path / "studies"
    root = studies / "stranded"
    args = run_args(studies, "stranded", trials=2, jobs=2, epochs=3)
    run = Running(*args, cwd=tmp_path, log=tmp_path / "run", faults={"SWEEP_FAULT_SLEEP": 2})
    try:
        wait_for(lambda: all((root / "trials" / f"{n:04d}" / "config.json").exists()
                             for n in (0, 1)), 120, "trials 0 and 1 in flight")
        run.signal_group(signal.SIGINT)
        assert run.wait(120) == 130, run.output()
    finally:
        run.close()
    listed = sweep_cli("trials", "--study", "stranded", "--studies-dir", studies,
                       "--columns", "number,state,retry_of")
    assert "waiting" in listed.stdout, listed.stdout
    try:
        watched = sweep_cli("trials", "--study", "stranded", "--studies-dir", studies,
                            "--watch", "1", env={"SWEEP_FAULT_SETTLE": "3"}, timeout=90)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"trials --watch still redrawing after 90 s:\n{str(exc.stdout)[-800:]}")
    assert watched.returncode == 0, watched.stderr

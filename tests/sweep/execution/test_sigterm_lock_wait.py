"""Hostile tester 11.
A batch scheduler's SIGTERM reaching a `sweep run` that waits for the study's lock
kills it by the signal (exit -15, not a word said), where the README promises for
"Ctrl-C (or SIGTERM from a batch scheduler)": it stops, says so, exit code 130 (Ctrl-C in
the same wait does exactly that)."""

from __future__ import annotations

import fcntl
import signal
from pathlib import Path

import pytest

from tests.sweep.faults.harness import Running, wait_for


@pytest.mark.slow
def test_sigterm_while_waiting_for_the_lock_is_an_interrupt(tmp_path: Path, run_args) -> None:
    studies = tmp_path / "studies"
    from tests.sweep.conftest import run_sweep

    done = run_sweep(*run_args(studies, "locked", trials=2), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lock = studies / "locked" / ".lock"
    assert lock.exists()
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        run = Running(*run_args(studies, "locked", trials=4), cwd=tmp_path,
                      log=tmp_path / "run")
        try:
            wait_for(lambda: "waiting for the study's lock" in run.stderr, 60,
                     "the run to say it waits for the lock")
            run.signal(signal.SIGTERM)
            code = run.wait(60)
        finally:
            run.close()
    assert code == 130, run.output()
    assert "interrupted" in run.stderr, run.output()

"""Hostile tester 4. README, "the run process dies (SIGKILL)": its workers notice
within a second, fail their trials and exit. They failed the trials at once but then
lingered about 15 s (INTERRUPT_GRACE), holding the run's stdout and stderr open: whoever
reads the run's output (a pipe, `| tee`, CI) waited for them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sweep.faults.harness import (
    default_signals,
    pid_alive,
    running_trials,
    sweep_env,
    wait_for,
    worker_pids,
)

pytestmark = pytest.mark.slow


def test_workers_exit_soon_after_the_run_is_killed(tmp_path: Path, run_args) -> None:
    args = run_args(tmp_path / "studies", "killed", trials=4, jobs=2, epochs=20)
    proc = subprocess.Popen([sys.executable, "-m", "sweep", *map(str, args)], cwd=tmp_path,
                            env=sweep_env({"SWEEP_FAULT_SLEEP": 1}), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=default_signals)
    root = tmp_path / "studies" / "killed"
    try:
        wait_for(lambda: len(running_trials(root)) == 2, 60, "two trials running")
        workers = worker_pids(proc.pid)
        assert workers
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        # the trials are failed within a second or two ...
        wait_for(lambda: not running_trials(root), 10, "the trials failed")
        # ... and the workers, their job done, should be gone soon after, not 15 s later
        wait_for(lambda: not any(pid_alive(w) for w in workers), 5,
                 "the workers of the killed run to exit")
        proc.stdout.read()
        proc.stderr.read()  # EOF once nothing holds the run's pipes
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the run's own group: its workers
        except ProcessLookupError:
            pass
        proc.stdout.close()
        proc.stderr.close()

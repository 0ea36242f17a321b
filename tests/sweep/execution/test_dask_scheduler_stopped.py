"""Hostile tester 8. README: bounded waits that say what they wait for. The Dask
scheduler stopped (SIGSTOP: a suspended VM, a debugger) mid-run, not killed: the run
must end within --stall-timeout plus a margin, saying the scheduler is what it waited
for (it waited in silence past 90 s)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.sweep.execution.test_dask import STUDY, own_dask_cluster  # noqa: F401
from tests.sweep.faults.harness import Running, stored_trials, wait_for

pytestmark = pytest.mark.slow


def test_a_stopped_scheduler_ends_the_run_within_the_stall_timeout(tmp_path, run_args,
                                                                    own_dask_cluster):  # noqa: F811
    studies = tmp_path / "studies"
    args = run_args(studies, STUDY, trials=6, jobs=2, epochs=20)
    run = Running(*args, "--backend", "dask", "--scheduler", own_dask_cluster.address,
                  "--lag", "off", "--stall-timeout", "10s", cwd=tmp_path, log=tmp_path / "run")
    root = studies / STUDY
    pid = own_dask_cluster.scheduler.pid
    try:
        wait_for(lambda: [t for t in (stored_trials(root) if (root / "study.json").is_file()
                                      else []) if t.intermediate_values],
                 90, "a trial past its first epoch")
        os.killpg(pid, signal.SIGSTOP)
        started = time.monotonic()
        deadline = started + 90
        while run.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(1)
        rc = run.proc.poll()
        took = time.monotonic() - started
        stderr = run.stderr
    finally:
        try:
            os.killpg(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        run.close()
    # ended within --stall-timeout and a margin (exit 1), saying what it waited for
    said = [line for line in stderr.splitlines()[1:]
            if "Dask scheduler" in line and "not answered" in line]
    assert rc == 1 and said, (took, stderr)
    assert any(line.startswith("stopped: ") and "Dask scheduler" in line
               for line in stderr.splitlines()), stderr

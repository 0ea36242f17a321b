"""A worker signalled mid-trial, as the run's console says it (hostile tester 3).

Found by hostile testing: a worker SIGKILLed mid-trial gets its line on the console
("trial 0 failed: worker process was killed (SIGKILL); retried as trial 2"); a worker
sent SIGTERM gets none: no row, no reason, only "1 lost to a fault and retried" in the
summary, although the storage records "worker process was terminated (SIGTERM)" (seen
twice in a row, 3 trials, 2 workers). README: "the same: only its trial fails ("worker
process was terminated (SIGTERM)"), and is retried".
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.sweep.faults.harness import Running, running_trials, stored_trials, wait_for

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("sig, reason", [(signal.SIGKILL, "killed (SIGKILL)"),
                                         (signal.SIGTERM, "terminated (SIGTERM)")])
def test_a_signalled_worker_is_said_on_the_console(tmp_path: Path, run_args, sig, reason):
    studies = tmp_path / "studies"
    args = [a for a in run_args(studies, "term", trials=4, epochs=3) if a != "--quiet"]
    run = Running(*args, cwd=tmp_path, log=tmp_path / "run",
                  faults={"SWEEP_FAULT_SLEEP": 0.3})
    try:
        victim = wait_for(lambda: running_trials(studies / "term"), 60, "a trial in flight")[0]
        os.kill(victim["pid"], sig)
        rc = run.wait(120)
    finally:
        run.close()
    assert rc == 0, run.output()
    failed = [t for t in stored_trials(studies / "term") if t.state.name == "FAIL"]
    assert [t.user_attrs.get("reason") for t in failed] == [f"worker process was {reason}"]
    # observed for SIGTERM: no line names the trial or its reason
    assert f"trial {victim['number']} failed: worker process was {reason}" in \
        run.stdout + run.stderr, run.output()

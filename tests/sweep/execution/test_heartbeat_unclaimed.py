"""A machine sharing a database study that dies right after creating its trial (before
its worker records itself or beats) leaves a RUNNING trial with no pid and no heartbeat
row. It is lost once it has gone unclaimed for the heartbeat's grace (at least
`CLAIM_FLOOR`, sweep/execution/liveness.py), not after `PID_GRACE` (10 minutes):
`trials --watch` ends on it, and a surviving run fails and retries it."""

import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

FLOOR = 8  # seconds, for CLAIM_FLOOR (30 s) in the processes under test
DIE_AFTER_ASK = """
import os, sys, optuna
study = optuna.load_study(study_name=sys.argv[2], storage=sys.argv[1])
study.ask()
os._exit(0)   # the machine dies: no heartbeat, no pid recorded
"""


def test_a_dead_machines_unclaimed_trial_ends_the_watch_and_is_retried_by_a_survivor(
        postgres, sweep_cli, run_args, tmp_path):
    url = postgres.new_database()
    first = sweep_cli(*run_args(tmp_path / "a", "shared", 1, jobs=1), "--storage", url,
                      "--heartbeat", "1", timeout=120)
    assert first.returncode == 0, first.stderr
    subprocess.run([sys.executable, "-c", DIE_AFTER_ASK, url, "shared"], check=True,
                   timeout=60)
    died = time.monotonic()
    try:  # the watch runs "until no trial runs or waits"
        watch = sweep_cli("trials", "--study", "shared", "--storage", url, "--watch", "1",
                          env={"SWEEP_FAULT_CLAIM_FLOOR": str(FLOOR)}, timeout=FLOOR + 40)
    except subprocess.TimeoutExpired:
        pytest.fail("trials --watch still redrawing a trial no process runs")
    assert watch.returncode == 0, watch.stderr
    assert time.monotonic() - died >= FLOOR  # not judged too soon
    assert "with their worker gone: trial 1" in watch.stdout, watch.stdout[-2000:]
    # heartbeat 1 s: the grace is the floor, long past; the survivor fails it at once
    proc = sweep_cli(*run_args(tmp_path / "a", "shared", 3, jobs=1), "--storage", url,
                     env={"SWEEP_FAULT_CLAIM_FLOOR": str(FLOOR)}, timeout=90)
    assert proc.returncode == 0, proc.stderr
    done = sweep_cli("trials", "--study", "shared", "--storage", url, "-f", "csv")
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()
    assert sum(",FAIL," in r for r in rows) == 1 and sum(",COMPLETE," in r for r in rows) == 3, \
        done.stdout

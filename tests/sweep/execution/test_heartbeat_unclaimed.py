"""A machine sharing a database study that dies right after creating its trial (before
its worker records itself or beats) leaves a RUNNING trial with no heartbeat row: the
surviving run waits silently for PID_GRACE (10 minutes) instead of failing it after 6
heartbeat intervals, as README's "What happens when..." promises."""

import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

DIE_AFTER_ASK = """
import os, sys, optuna
study = optuna.load_study(study_name=sys.argv[2], storage=sys.argv[1])
study.ask()
os._exit(0)   # the machine dies: no heartbeat, no pid recorded
"""


def test_survivor_fails_a_dead_machines_unbeaten_trial_within_the_heartbeat_grace(
        postgres, sweep_cli, run_args, tmp_path):
    url = postgres.new_database()
    base = run_args(tmp_path / "a", "shared", 1, jobs=1)
    first = sweep_cli(*base, "--storage", url, "--heartbeat", "1", timeout=120)
    assert first.returncode == 0, first.stderr
    subprocess.run([sys.executable, "-c", DIE_AFTER_ASK, url, "shared"], check=True,
                   timeout=60)
    started = time.monotonic()
    try:
        proc = sweep_cli(*run_args(tmp_path / "a", "shared", 3, jobs=1), "--storage", url,
                         timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("the survivor waited > 90 s for a trial with no heartbeat "
                    "(heartbeat 1 s: 6 s grace promised)")
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 60


def test_watch_ends_when_the_only_running_trial_belongs_to_a_dead_machine(
        postgres, sweep_cli, run_args, tmp_path):
    """`trials --watch` runs "until no trial runs or waits": a RUNNING trial with no
    heartbeat, no worker and no live run anywhere is redrawn for ever."""
    url = postgres.new_database()
    first = sweep_cli(*run_args(tmp_path / "a", "shared", 1, jobs=1), "--storage", url,
                      "--heartbeat", "1", timeout=120)
    assert first.returncode == 0, first.stderr
    subprocess.run([sys.executable, "-c", DIE_AFTER_ASK, url, "shared"], check=True,
                   timeout=60)
    try:
        proc = sweep_cli("trials", "--study", "shared", "--storage", url, "--watch", "1",
                         timeout=40)
    except subprocess.TimeoutExpired:
        pytest.fail("trials --watch still redrawing after 40 s a trial no process runs")
    assert proc.returncode in (0, 1)

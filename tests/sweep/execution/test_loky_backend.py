"""Worker processes started by loky (sweep/execution/loky_backend.py), in real ``sweep
run`` processes: the workers a run starts before it has read its study never outlive
it, and loky's resource tracker killed mid-run prints no traceback over the progress."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest

from tests.sweep.faults.harness import (
    Running,
    check_study,
    children,
    cmdline,
    running_trials,
    wait_for,
)

pytestmark = pytest.mark.slow


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                environ = open(f"/proc/{entry}/environ", "rb").read()
            except OSError:
                continue
            if marker.encode() in environ:
                found.append(int(entry))
    return found


def test_workers_started_while_the_study_opens_never_outlive_the_run(sweep_cli, run_args,
                                                                      tmp_path):
    """A run starts its likely workers before it has read the study; when it then stops
    (a finished run, or a setting that contradicts the stored study: exit 2), every
    worker process it started is gone once it has exited."""
    args = [a for a in run_args(tmp_path, "s", 2, epochs=1)]
    marker = f"SWEEP_TEST_MARK_{uuid.uuid4().hex}"
    done = sweep_cli(*args, env={marker: "1"})
    assert done.returncode == 0, done.stderr
    refused = sweep_cli(*args[:2], "3", *args[3:], "--sampler", "random", env={marker: "1"})
    assert refused.returncode == 2 and "sampler" in refused.stderr, refused.stderr
    deadline = time.monotonic() + 5
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with(marker) == []


def test_killing_lokys_resource_tracker_prints_no_traceback(tmp_path, run_args):
    studies = tmp_path / "studies"
    run = Running(*run_args(studies, "tracker", trials=6, epochs=4), cwd=tmp_path,
                  log=tmp_path / "run", faults={"SWEEP_FAULT_SLEEP": 0.3})
    try:
        tracker = wait_for(lambda: [c for c in children(run.pid)
                                    if "loky.backend.resource_tracker" in cmdline(c)],
                           60, "loky's resource tracker")[0]
        wait_for(lambda: running_trials(studies / "tracker"), 60, "a trial in flight")
        os.kill(tracker, signal.SIGKILL)
        rc = run.wait(120)
    finally:
        run.close()
    assert rc == 0, run.output()
    assert "Traceback" not in run.stderr, run.stderr
    check_study(studies / "tracker", finished=6)
    assert (studies / "tracker" / "workers.log").is_file()

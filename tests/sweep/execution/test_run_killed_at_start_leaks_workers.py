"""``sweep run`` killed (SIGKILL) just after its worker processes started.

Before: a run killed 0.8 to 1.0 s after it started (its two loky workers and their
resource trackers already there, no trial yet) left all four processes behind, orphaned,
still alive 10 s and more than a minute later (each such kill added two idle workers). A
run killed later has its workers notice within a second and exit (README: "the run
process dies ... its workers notice within a second ... and exit")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.sweep.faults.harness import sweep_env

pytestmark = pytest.mark.slow


def _session(sid: int) -> dict[int, str]:
    """The live processes of session ``sid`` (the killed run's), but the run itself."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == sid:
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) != sid or fields[0] == "Z":
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                found[int(entry)] = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
    return found


def _kill_as_workers_start(cmd: list[str], cwd) -> dict[int, str]:
    """Start the run, SIGKILL it as soon as a loky worker exists; what is left of it 10 s
    on (or nothing, as soon as all of it is gone)."""
    run = subprocess.Popen(cmd, cwd=cwd, env=sweep_env(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not any("popen_loky" in c for c in _session(run.pid).values()):
            assert run.poll() is None and time.monotonic() < deadline, "no worker started"
            time.sleep(0.01)
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        deadline = time.monotonic() + 10
        while _session(run.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        return _session(run.pid)
    finally:
        for pid in _session(run.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if run.poll() is None:
            run.kill()


def test_workers_of_a_run_killed_as_they_start_exit(tiny_idx_dir, tiny_space, tmp_path):
    """The window is a fraction of a second wide: three runs, each killed as soon as its
    first worker shows (about 3 kills in 4 landed in it here)."""
    for attempt in range(3):
        cmd = [sys.executable, "-m", "sweep", "run", "--trials", 4, "--jobs", 2,
               "--epochs", 50, "--dataset", "idx", "--data-dir", tiny_idx_dir, "--space",
               tiny_space, "--pruner", "none", "--quiet", "--no-report", "--studies-dir",
               tmp_path / "studies", "--study", f"k{attempt}"]
        left = _kill_as_workers_start([str(a) for a in cmd], tmp_path)
        assert not left, f"attempt {attempt}: 10 s after the run was killed: {left}"

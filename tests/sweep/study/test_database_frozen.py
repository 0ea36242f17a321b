"""A PostgreSQL server that keeps its connections but stops answering (SIGSTOP: a hung
or suspended database host). Hostile tester 9: the run printed nothing more for 100 s
and never stopped; no server time-out fires and the kernel still acknowledges, so the
harness watches its own statements (sweep/study/silence.py)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.sweep.faults.harness import Running, wait_for


def _server_pids(data: Path) -> list[int]:
    """The postmaster and its children (every backend, every auxiliary process)."""
    main = int((data / "postmaster.pid").read_text().split()[0])
    pids = [main]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == main:
                pids.append(int(entry.name))
    return pids


@pytest.mark.slow
def test_a_database_that_stops_answering_mid_run_is_said_then_ends_the_run(
        postgres, run_args, tmp_path):
    url = postgres.new_database()
    studies = tmp_path / "studies"
    args = [*run_args(studies, "frozen", trials=12, jobs=2, epochs=4), "--storage", url]
    args.remove("--quiet")
    # said after 3 s without an answer, cut after 12 (10 and 60 s outside tests)
    run = Running(*args, cwd=tmp_path, log=tmp_path / "run",
                  faults={"SWEEP_FAULT_SLEEP": 1.0, "SWEEP_FAULT_UNANSWERED": "3:12",
                          "PYTHONUNBUFFERED": 1})
    stopped: list[int] = []
    try:
        wait_for(lambda: list((studies / "frozen" / "trials").glob("*/metrics.json")), 120,
                 "a first finished trial")
        before = len(run.stdout + run.stderr)
        stopped = _server_pids(postgres.data)
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and run.proc.poll() is None:
            time.sleep(1)
        ended = run.proc.poll()
        said = (run.stdout + run.stderr)[before:]
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        run.close()
    assert ended == 1, (ended, said[-3000:])
    notices = [line for line in said.splitlines() if "giving up if none comes" in line]
    assert len(notices) == 1, said[-3000:]  # said once, not by every waiting thread
    assert "Traceback" not in said, said[-3000:]
    errors = [line for line in said.splitlines() if "error:" in line]
    assert len(errors) == 1 and "no answer to a statement" in errors[0], said[-3000:]

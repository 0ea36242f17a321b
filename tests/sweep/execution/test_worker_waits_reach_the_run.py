"""A worker's wait is said where the run is watched, not only in workers.log.

A database role limited to two connections: the run holds them, its workers cannot
connect and retry for the reconnect limit. Their lines ("database ...: cannot connect
(... too many connections for role ...); retrying for up to Ns more") went to their
stderr, the study's workers.log, and the run's terminal stayed silent until the error
(the fourteenth hostile pass). Now the run passes a worker's wait on, once for all the
workers that wait alike.
"""

from __future__ import annotations

import re

import pytest

from sweep.execution.loky_backend import LogNotices
from sweep.study.waiting import NOTICE_MARK, read_notice
from tests.sweep.conftest import run_sweep
from tests.sweep.faults.harness import sweep_env

pytestmark = pytest.mark.slow


def test_workers_that_cannot_connect_are_said_on_the_runs_output(postgres, run_args,
                                                                 tmp_path):
    url = postgres.database_of_limited_role("two", "twopw", 2)
    args = [*run_args(tmp_path / "studies", "two", 4, jobs=2), "--storage", url]
    run = run_sweep(*args, cwd=tmp_path, timeout=180,
                    env=sweep_env({"SWEEP_FAULT_RECONNECT": 15}))

    assert "Traceback" not in run.stderr, run.stderr[-4000:]
    assert "twopw" not in run.stdout + run.stderr
    lines = run.stderr.splitlines()
    waits = [i for i, line in enumerate(lines)
             if re.match(r"worker \d+: database .*: cannot connect \(.*too many connections "
                         r"for role", line)]
    assert run.returncode == 1, run.stderr
    errors = [i for i, line in enumerate(lines) if "error:" in line]
    # said while waiting, before the run's error; two workers waiting alike: one line
    assert len(waits) == 1 and errors and waits[0] < errors[0], run.stderr
    assert "too many connections for role" in lines[errors[0]], run.stderr
    assert "CONNECTION LIMIT" in lines[errors[0]], run.stderr  # what to do about it
    log = (tmp_path / "studies" / "two" / "workers.log").read_text()
    assert log.count(NOTICE_MARK) >= 2, log  # both workers waited, each said so there


def test_only_marked_whole_lines_of_this_run_are_notices(tmp_path):
    log = tmp_path / "workers.log"
    log.write_text(f"{NOTICE_MARK}11: an earlier run's wait\n")
    notices = LogNotices(log)
    with log.open("a") as f:
        f.write("Traceback (most recent call last):\n")
        f.write(f"{NOTICE_MARK}12: database x: cannot connect (refused)\n")
        f.write(f"{NOTICE_MARK}zz: not a pid\n{NOTICE_MARK}13:\n")
        f.write(f"{NOTICE_MARK}14: half a li")
    assert notices.read() == [(12, "database x: cannot connect (refused)")]
    with log.open("a") as f:
        f.write("ne\n")
    assert notices.read() == [(14, "half a line")]
    assert notices.read() == []
    log.write_text("")  # emptied by hand: read from its start again
    with log.open("a") as f:
        f.write(f"{NOTICE_MARK}15: again\n")
    assert notices.read() == [(15, "again")]
    assert read_notice(f"x {NOTICE_MARK}1: not at the start") is None
    log.unlink()
    assert notices.read() == []

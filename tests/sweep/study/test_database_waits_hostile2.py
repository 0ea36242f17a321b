"""Hostile tester 2: a table lock held by another database session is a wait like the
others: said, with its holder, not a silent pause of up to the statement time-out."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from tests.sweep.faults.harness import sweep_env
from tests.sweep.studies import finished_study

pytestmark = pytest.mark.slow  # a real server


def test_a_table_lock_held_by_another_session_is_said_not_waited_for_in_silence(
        postgres, tmp_path):
    # found: with another session holding `LOCK TABLE trials IN ACCESS EXCLUSIVE MODE`
    # (a DBA's migration, a hung psql transaction), `sweep best --storage URL` printed
    # nothing for 44 s and `sweep run` nothing for 40 s, then went on; the study's file and
    # advisory lock waits say who holds them after 5 s
    import psycopg

    url = postgres.new_database()
    studies = tmp_path / "studies"
    finished_study(studies, "q", trials=2, storage=url)
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with psycopg.connect(conninfo, application_name="table-locker") as conn:
            conn.execute("LOCK TABLE trials IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(60)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert locked.wait(20)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "sweep", "best", "--study", "q",
                                 "--studies-dir", str(studies), "--storage", url],
                                cwd=tmp_path, env=sweep_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(15)
    finally:
        release.set()
    out, err = proc.communicate(timeout=150)
    holder.join(10)
    assert proc.returncode == 0, err
    assert "waiting" in err and "table-locker" in err, \
        f"15 s blocked by another session's lock without a word: {err!r}"

"""README, "a lock is held (... an open transaction on the study's tables)": the wait
says who holds it. With `SELECT ... FOR UPDATE` left open on the study's rows in another
session, a run is silent for ~15 s, then blames its own worker process holding the
study's file lock, never the database session that blocks them all."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.sweep.faults.harness import sweep, sweep_env

pytestmark = pytest.mark.slow


def test_a_row_lock_wait_names_the_session_holding_it(tmp_path: Path, run_args,
                                                      postgres) -> None:
    import psycopg

    url = postgres.new_database()
    studies = tmp_path / "studies"
    args = [*run_args(studies, "rows", trials=2, epochs=1), "--storage", url]
    first = sweep(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    dbname = url.rsplit("/", 1)[1]
    holder = psycopg.connect(host="127.0.0.1", port=postgres.port, user="sweep", dbname=dbname,
                             application_name="held-open")
    holder.execute("SELECT * FROM studies FOR UPDATE")
    holder.execute("SELECT 1")
    pid = holder.info.backend_pid
    released: list[float] = []

    def release_the_rows() -> None:
        released.append(time.monotonic())
        holder.rollback()

    release = threading.Timer(20, release_the_rows)  # the wait is said after about 10 s
    release.start()
    args[args.index("--trials") + 1] = 4
    proc = subprocess.Popen([sys.executable, "-m", "sweep", *map(str, args)], cwd=tmp_path,
                            env=sweep_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    seen: list[tuple[float, str]] = []
    try:
        for line in proc.stderr:
            seen.append((time.monotonic(), line.rstrip()))
        proc.wait(120)
    finally:
        release.join()
        holder.close()
    waits = [(t, ln) for t, ln in seen if "waiting" in ln]
    assert waits and waits[0][0] < released[0], seen  # said while the rows were held
    assert any(str(pid) in ln or "held-open" in ln for _, ln in waits), waits

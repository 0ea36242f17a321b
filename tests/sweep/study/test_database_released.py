"""A process that reads or runs a database study many times keeps no connection or
thread of the ones it let go (hostile tester 18).

Before: 40 ``sweep.load(..., storage=URL)`` in one process held 24 connections after
the results were dropped and collected (a notebook reloading a study would run the
server out of ``max_connections``), and ``sweep.run`` left the thread that watches for
a silent server. That thread held every watched database alive between two looks, so
none was ever collected; now it holds none, and it ends once none is watched."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.sweep.faults.harness import sweep, sweep_env

pytestmark = pytest.mark.slow

PROBE = """
import contextlib, gc, io, threading, time, psycopg, sweep
port, database, url, studies, runs = {port}, {database!r}, {url!r}, {studies!r}, {runs}
def held():
    with psycopg.connect(host="127.0.0.1", port=port, user="sweep", dbname="postgres",
                         autocommit=True) as c:
        return c.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                         (database,)).fetchone()[0]
for _ in range(40):
    r = sweep.load("pg", storage=url, studies_dir=studies)
    r.trials
del r
for _ in range(runs):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        sweep.run("pg", storage=url, studies_dir=studies, trials=2, report=False)
gc.collect()
time.sleep(2.5)  # past the watch's next look
print(held(), sorted(t.name for t in threading.enumerate() if t.name != "MainThread"))
"""


@pytest.mark.parametrize("runs", [0, 3])
def test_loads_and_runs_let_go_of_their_connections_and_threads(postgres, run_args, tmp_path,
                                                                runs):
    url = postgres.new_database()
    studies = tmp_path / "studies"
    made = sweep(*run_args(studies, "pg", trials=2, jobs=1), "--storage", url, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    code = PROBE.format(port=postgres.port, database=url.rsplit("/", 1)[1], url=url,
                        studies=str(studies), runs=runs)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=sweep_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    held, threads = proc.stdout.strip().splitlines()[-1].split(" ", 1)
    assert int(held) <= 1 and threads == "[]", proc.stdout  # 1: the probe's own


REFUSED = """
import threading, time, psycopg, sweep
port, database, url, studies = {port}, {database!r}, {url!r}, {studies!r}
def held():
    with psycopg.connect(host="127.0.0.1", port=port, user="sweep", dbname="postgres",
                         autocommit=True) as c:
        return c.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                         (database,)).fetchone()[0]
for name in ("nosuch", "other"):
    try:
        sweep.load(name, storage=url, studies_dir=studies)
    except sweep.StudyError as exc:
        print("refused:", exc)
from sweep.study.results import reader as make_reader
for _ in range(3):  # hostile tester 21: a storage refused as it opened kept the thread
    try:
        sweep.load("there", storage=url.rsplit("/", 1)[0] + "/no_such_database",
                   studies_dir=studies)
    except sweep.UsageError as exc:
        assert "no_such_database" in str(exc), exc
reader = make_reader("nosuch", storage=url, studies_dir=studies)
try:
    reader()
except sweep.StudyError as exc:
    print("refused:", exc)
time.sleep(2.5)  # past the watch's next look; no collection asked for
print(held(), sorted(t.name for t in threading.enumerate() if t.name != "MainThread"))
"""


def test_a_refused_load_lets_go_of_its_connections_and_thread(postgres, tmp_path):
    """Hostile tester 19: ``sweep.load("nosuch", storage=URL)`` raised StudyError and kept
    two connections and the silence watch for as long as the traceback's frames lived
    (a cycle: no collection came in an idle process)."""
    import optuna

    url = postgres.new_database()
    storage = optuna.storages.RDBStorage(url)
    optuna.create_study(study_name="there", storage=storage)
    storage.engine.dispose()
    code = REFUSED.format(port=postgres.port, database=url.rsplit("/", 1)[1], url=url,
                          studies=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=sweep_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert [line.startswith("refused: no study named") for line in lines[:3]] == [True] * 3, \
        lines
    held, threads = lines[-1].split(" ", 1)
    assert int(held) <= 1 and threads == "[]", proc.stdout  # 1: the probe's own

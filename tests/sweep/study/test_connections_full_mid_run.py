"""README: an environment failure is one line, exit 1 (exit 2 is for usage errors; a full
max_connections is exit 2 only *at the start*). When a non-superuser role's connection
limit fills after the run has started, the run stops with exit 2 and two lines (a
"worker error: UsageError: ..." and the error)."""

import subprocess
import sys
import threading
import time

import pytest

from tests.sweep.faults.harness import sweep_env

pytestmark = pytest.mark.slow


def test_connections_filling_after_the_start_is_an_environment_failure(postgres, run_args,
                                                                       tmp_path):
    import psycopg

    url = postgres.new_database()
    dbname = url.rsplit("/", 1)[1]
    with psycopg.connect(host="127.0.0.1", port=postgres.port, user="sweep", dbname="postgres",
                         autocommit=True) as admin:
        admin.execute("CREATE ROLE lim LOGIN PASSWORD 'limpw' CONNECTION LIMIT 3")
        admin.execute(f'ALTER DATABASE "{dbname}" OWNER TO lim')
    lim_url = url.replace("sweep:pw@", "lim:limpw@")
    args = [*run_args(tmp_path / "studies", "full", 20, jobs=1, epochs=3), "--storage", lim_url]
    args = [a for a in args if a != "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "sweep", *map(str, args)], cwd=tmp_path,
                            env=sweep_env({"SWEEP_FAULT_RECONNECT": 8}),  # 30 s outside tests
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    held, stop = [], threading.Event()

    def grab() -> None:
        while not stop.is_set():
            try:
                held.append(psycopg.connect(host="127.0.0.1", port=postgres.port, user="lim",
                                            password="limpw", dbname=dbname, connect_timeout=2))
            except psycopg.OperationalError:
                time.sleep(0.05)

    first = proc.stderr.readline() + proc.stdout.readline()  # the run has started
    grabber = threading.Thread(target=grab)
    grabber.start()
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        stop.set()
        grabber.join()
        for c in held:
            c.close()
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err, err[-6000:]
    if proc.returncode != 0:
        errors = [ln for ln in err.splitlines() if "error" in ln.lower()]
        assert proc.returncode == 1, (first, proc.returncode, err)
        assert len(errors) == 1, err

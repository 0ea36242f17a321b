"""``--backend dask`` where the cluster is not what it should be (issue 25): an address
where something else answers, a cluster whose workers are all gone, a worker in another
folder. Real ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, real
listeners; nothing of Dask is mocked."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.sweep.conftest import error_lines
from tests.sweep.faults.harness import Running, read_json, stored_trials, sweep, wait_for
from tests.sweep.test_hardening import SilentServer

distributed = pytest.importorskip("distributed", reason="dask[distributed] comes with the "
                                  "test extra")

from tests.sweep.test_dask import DaskCluster, _dask, _env, _start_cluster, _stop  # noqa: E402

pytestmark = pytest.mark.slow
STUDY = "dask-waits"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[DaskCluster]:
    folder = tmp_path / "cluster"
    folder.mkdir()
    yield from _start_cluster(folder)


@pytest.fixture
def scheduler_alone(tmp_path: Path) -> Iterator[str]:
    """A scheduler without a single worker; its address."""
    file = tmp_path / "scheduler.json"
    proc = subprocess.Popen(
        _dask("scheduler", "--host", "127.0.0.1", "--port", 0, "--no-dashboard",
              "--scheduler-file", file),
        env=_env({}), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        wait_for(file.is_file, 30, "the scheduler's file")
        yield read_json(file)["address"]
    finally:
        _stop(proc)


def one_line(stderr: str, *needles: str) -> str:
    lines = error_lines(stderr)
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("listener", ["silent", "http"])
def test_an_address_where_no_scheduler_answers_is_one_line_within_seconds(
        tmp_path, run_args, listener):
    """A listener that accepts and never speaks, or an HTTP server: Client(timeout=5)
    bounds only the connection, and the handshake after it hung for ever."""
    if listener == "silent":
        server = SilentServer()
        port, close = server.port, server.close
    else:
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        port, close = httpd.server_address[1], httpd.shutdown
    address = f"tcp://127.0.0.1:{port}"
    studies = tmp_path / "studies"
    try:
        started = time.monotonic()
        proc = sweep(*run_args(studies, STUDY, trials=2), "--backend", "dask", "--scheduler",
                     address, cwd=tmp_path, timeout=60)
        seconds = time.monotonic() - started
    finally:
        close()
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    one_line(proc.stderr, address, "no Dask scheduler answers")
    assert seconds < 20, seconds
    assert not studies.exists()


def test_a_cluster_whose_workers_are_all_gone_stops_the_run_with_a_reason(
        tmp_path, run_args, cluster):
    """Every Dask worker killed (their whole process group) mid-trial: the lost trial
    fails as before, and then the run says what it waits for and, after
    --stall-timeout, stops (exit 1) instead of waiting for ever in silence."""
    studies = tmp_path / "studies"
    run = Running(*run_args(studies, STUDY, trials=6, jobs=2, epochs=20),
                  "--backend", "dask", "--scheduler", cluster.address, "--lag", "off",
                  "--stall-timeout", "15s", cwd=tmp_path, log=tmp_path / "run")
    root = studies / STUDY
    try:
        wait_for(lambda: [t for t in (stored_trials(root) if (root / "study.json").is_file()
                                      else []) if t.intermediate_values],
                 90, "a trial past its first epoch")
        os.killpg(cluster.workers.pid, signal.SIGKILL)
        started = time.monotonic()
        rc = run.wait(120)
        seconds = time.monotonic() - started
    finally:
        run.close()
    assert rc == 1, run.output()
    assert seconds < 60, seconds
    assert "waiting for a Dask worker" in run.stderr, run.output()
    assert "stopped: waiting for a Dask worker" in run.stderr, run.output()
    assert "the run stops at --stall-timeout (15s)" in run.stderr, run.output()
    assert "Traceback" not in run.stderr
    stored = stored_trials(root)
    assert stored and all(t.state.is_finished() or t.state == TrialState.WAITING
                          for t in stored), [(t.number, t.state.name) for t in stored]
    assert [t for t in stored if "died" in t.user_attrs.get("reason", "")]


def test_jobs_on_a_cluster_without_workers_stops_with_a_reason(tmp_path, run_args,
                                                               scheduler_alone):
    """--jobs 1 on a cluster that has no worker at all: said at once, and the run stops
    after --stall-timeout, exit 1; --stall-timeout with Dask gets its note."""
    run = sweep(*run_args(tmp_path / "studies", STUDY, trials=2, jobs=1), "--backend", "dask",
                "--scheduler", scheduler_alone, "--stall-timeout", "10s", cwd=tmp_path,
                timeout=90)
    assert run.returncode == 1, run.stderr
    assert "note: --stall-timeout watches no Dask worker" in run.stderr, run.stderr
    assert "stopped: waiting for a Dask worker: the cluster at" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


def test_a_worker_in_another_folder_runs_a_study_with_a_relative_studies_dir(
        tmp_path, run_args, cluster):
    """The Dask workers run in a folder of their own (the cluster's log folder); the run
    names its studies folder relative to its own: the workers find the same journal, and
    leave no journal or lock of their own where they run."""
    before = {p.name for p in cluster.logs.iterdir()}
    args = run_args(Path("studies"), STUDY, trials=3, jobs=2)
    proc = sweep(*args, "--backend", "dask", "--scheduler", cluster.address, cwd=tmp_path,
                 timeout=180)
    assert proc.returncode == 0, proc.stderr
    stored = stored_trials(tmp_path / "studies" / STUDY)
    assert [t.state for t in stored] == [TrialState.COMPLETE] * 3, \
        [(t.number, t.state.name, t.user_attrs.get("reason")) for t in stored]
    assert {p.name for p in cluster.logs.iterdir()} == before, \
        sorted(p.name for p in cluster.logs.rglob("*"))


def test_a_worker_that_cannot_see_the_runs_journal_says_so_and_makes_none(tmp_path):
    """A worker (a Dask worker on a machine without the run's studies folder) never
    makes a journal, lock or folder of its own: it names the journal it cannot see."""
    import socket

    from mlp.config import Config
    from sweep.errors import StudyError
    from sweep.execution.trial import TrialJob, _storage
    from sweep.study.paths import StudyPaths
    from sweep.study.settings import Settings
    from sweep.study.space import default_space

    job = TrialJob(StudyPaths(tmp_path / "elsewhere" / STUDY), None,
                   Settings(Config(), default_space()), 3)
    with pytest.raises(StudyError) as caught:
        _storage(job)
    message = str(caught.value)
    assert str(job.paths.journal) in message and socket.gethostname() in message, message
    assert not (tmp_path / "elsewhere").exists()

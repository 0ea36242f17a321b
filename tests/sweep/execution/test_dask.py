"""``sweep run --backend dask`` on a real Dask cluster on 127.0.0.1.

The cluster is started as the README says: ``dask scheduler``, then ``dask worker
--nworkers 2 --nthreads 1`` (each worker process under a nanny that restarts it), as
real processes; the run is the real CLI in its own process. Nothing of Dask is mocked.
Also where the cluster is not what it should be (issue 25): an address where something
else answers, a cluster whose workers are all gone or that never had any, workers
started in another folder than the run's.
"""

from __future__ import annotations

import http.server
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.sweep.faults.harness import (
    Running,
    SilentServer,
    check_retries,
    cmdline,
    pid_alive,
    read_json,
    stored_trials,
    sweep,
    sweep_env,
    wait_for,
)

distributed = pytest.importorskip("distributed", reason="dask[distributed] comes with the "
                                  "test extra")

pytestmark = pytest.mark.slow

STUDY = "on-dask"


def _dask(*args: object) -> list[str]:
    """The ``dask`` command of this interpreter's environment."""
    return [str(Path(sys.executable).with_name("dask")), *map(str, args)]


@dataclass
class DaskCluster:
    address: str
    scheduler: subprocess.Popen
    workers: subprocess.Popen
    logs: Path

    def client(self):
        return distributed.Client(self.address, timeout=10, set_as_default=False)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(10)


def scheduler_address(file: Path) -> str:
    """The address in a scheduler's file, once the scheduler has written it whole: Dask
    writes the file in place, so it can be seen empty or half-written."""
    def address() -> str | None:
        try:
            return read_json(file)["address"]
        except (OSError, ValueError, KeyError):
            return None
    return wait_for(address, 30, "the scheduler's file")


def _start_cluster(folder: Path) -> Iterator[DaskCluster]:
    """A scheduler and two one-thread worker processes whose epochs sleep 1 s (the fault
    injection on their path): trials slow enough to be killed mid-way."""
    env = sweep_env({"SWEEP_FAULT_SLEEP": 1.0})  # this checkout first on the path
    file = folder / "scheduler.json"
    logs = folder / "dask-logs"
    logs.mkdir()
    scheduler = subprocess.Popen(
        _dask("scheduler", "--host", "127.0.0.1", "--port", 0, "--no-dashboard",
              "--scheduler-file", file),
        env=env, cwd=logs, stdout=open(logs / "scheduler.log", "w"), stderr=subprocess.STDOUT,
        start_new_session=True)
    workers = None
    try:
        address = scheduler_address(file)
        workers = subprocess.Popen(
            _dask("worker", address, "--nworkers", 2, "--nthreads", 1, "--host", "127.0.0.1",
                  "--no-dashboard"),
            env=env, cwd=logs, stdout=open(logs / "workers.log", "w"),
            stderr=subprocess.STDOUT, start_new_session=True)
        cluster = DaskCluster(address, scheduler, workers, logs)
        with cluster.client() as client:
            client.wait_for_workers(2, timeout=60)
        yield cluster
    finally:
        if workers is not None:
            _stop(workers)
        _stop(scheduler)


@pytest.fixture(scope="module")
def shared_dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    yield from _start_cluster(tmp_path_factory.mktemp("dask"))


@pytest.fixture
def dask_cluster(shared_dask_cluster: DaskCluster) -> DaskCluster:
    """One cluster for the tests that kill no more than its workers, whole again (both
    workers back) before each test."""
    with shared_dask_cluster.client() as client:
        client.wait_for_workers(2, timeout=60)
    return shared_dask_cluster


@pytest.fixture
def own_dask_cluster(tmp_path: Path) -> Iterator[DaskCluster]:
    """A cluster for a test that breaks it."""
    yield from _start_cluster(tmp_path)


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _dask_worker_processes(cluster: DaskCluster) -> set[int]:
    """The pids of the cluster's worker processes, as the workers report them."""
    with cluster.client() as client:
        return set(client.run(os.getpid).values())


def test_a_killed_dask_worker_fails_only_its_trial_and_the_study_completes(
        tmp_path, run_args, dask_cluster):
    """A Dask worker process SIGKILLed mid-trial: that trial fails naming the worker,
    no task is run again (which would ask for a new trial), the restarted worker goes
    on, and the study ends with exactly its trials, all agreeing with their folders."""
    studies = tmp_path / "studies"
    trials = 6
    run = Running(*run_args(studies, STUDY, trials=trials, jobs=2, epochs=3),
                  "--backend", "dask", "--scheduler", dask_cluster.address, "--lag", "off",
                  cwd=tmp_path, log=tmp_path / "run")
    root = studies / STUDY
    try:
        workers_before = _dask_worker_processes(dask_cluster)
        victim = wait_for(lambda: [t for t in (stored_trials(root) if (root / "study.json")
                                               .is_file() else [])
                                   if t.state == TrialState.RUNNING and t.intermediate_values
                                   and "dask_worker" in t.user_attrs],
                          90, "a trial past its first epoch on a Dask worker")[0]
        pid = victim.user_attrs["pid"]
        # the trial runs in a Dask worker process, not in the run or a process of its own
        assert pid in workers_before and pid_alive(pid), (pid, workers_before)
        assert _parent(pid) == dask_cluster.workers.pid, (pid, cmdline(pid))
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not pid_alive(pid), 10, "the killed worker to be gone")
        rc = run.wait(180)
    finally:
        run.close()
    assert rc == 0, run.output()
    stored = stored_trials(root)
    by_number = {t.number: t for t in stored}
    # exact, none extra: the lost trial and its retry in place of one
    assert sorted(by_number) == list(range(trials + 1)), sorted(by_number)
    assert not [t.number for t in stored if not t.state.is_finished()]
    dead = by_number[victim.number]
    assert dead.state == TrialState.FAIL, dead.state
    reason = dead.user_attrs["reason"]
    assert victim.user_attrs["dask_worker"] in reason and "died" in reason, reason
    retry = check_retries(stored)[victim.number]  # with its settings and seed
    assert retry.state == TrialState.COMPLETE
    others = [t for t in stored if t.number != victim.number]
    assert all(t.state == TrialState.COMPLETE for t in others), \
        [(t.number, t.state.name, t.user_attrs.get("reason")) for t in others]
    assert {t.user_attrs["dask_run"] for t in stored} == {victim.user_attrs["dask_run"]}
    assert len({t.user_attrs["dask_worker"] for t in stored}) >= 2  # both workers ran trials
    assert not [t for t in stored if t.user_attrs["pid"] == os.getpid()
                or t.user_attrs["pid"] == run.pid]
    for t in stored:
        folder = root / "trials" / f"{t.number:04d}"
        assert Path(t.user_attrs["experiment_dir"]) == folder.resolve()
        doc = read_json(folder / "trial.json")
        assert doc["state"] == t.state.name, (t.number, doc["state"], t.state.name)
        assert doc["reason"] == t.user_attrs.get("reason", ""), (t.number, doc["reason"])
        if t.state == TrialState.COMPLETE:
            assert doc["value"] == t.value and (folder / "metrics.json").is_file()
    assert f"trial {victim.number} failed: Dask worker" in run.stdout + run.stderr, run.output()
    log = (dask_cluster.logs / "workers.log").read_text()
    assert f"Worker process {pid} was killed by signal 9" in log  # the nanny saw the SIGKILL
    # the nanny restarted the killed worker; the cluster is whole again
    with dask_cluster.client() as client:
        client.wait_for_workers(2, timeout=30)
    assert pid not in _dask_worker_processes(dask_cluster)


def test_ctrl_c_fails_the_trials_in_flight_and_their_workers_let_go(tmp_path, run_args,
                                                                    dask_cluster):
    """A Ctrl-C cancels the futures in flight and fails their trials ("interrupted");
    the Dask workers, which cannot be interrupted from outside, find their trial failed
    at its next epoch and stop it, leaving the storage's word and trial.json alone."""
    studies = tmp_path / "studies"
    run = Running(*run_args(studies, STUDY, trials=6, jobs=2, epochs=20),
                  "--backend", "dask", "--scheduler", dask_cluster.address, "--lag", "off",
                  cwd=tmp_path, log=tmp_path / "run")
    root = studies / STUDY
    try:
        in_flight = wait_for(lambda: len(busy := [
            t for t in (stored_trials(root) if (root / "study.json").is_file() else [])
            if t.state == TrialState.RUNNING and t.intermediate_values]) == 2 and busy,
            90, "two trials past their first epoch")
        run.signal(signal.SIGINT)
        rc = run.wait(30)
    finally:
        run.close()
    assert rc == 130, run.output()
    numbers = {t.number for t in in_flight}

    # a task for each worker runs once the worker's thread is free: bounded by a time-out
    # shorter than the 20 one-second epochs a trial left to run would take
    with dask_cluster.client() as client:
        for address in {t.user_attrs["dask_worker"] for t in in_flight}:
            client.submit(os.getpid, workers=[address], pure=False).result(timeout=15)
    stored = [t for t in stored_trials(root) if t.state != TrialState.WAITING]
    assert not [t.number for t in stored if not t.state.is_finished()]
    assert numbers <= set(check_retries(stored_trials(root)))  # each retried by the next run
    for t in stored:
        if t.number in numbers:
            assert t.state == TrialState.FAIL and t.user_attrs["reason"] == "interrupted", t
            assert len(t.intermediate_values) < 10, t.intermediate_values  # stopped early
        doc = read_json(root / "trials" / f"{t.number:04d}" / "trial.json")
        assert doc["state"] == t.state.name and doc["reason"] == t.user_attrs.get("reason", "")


def test_a_lost_scheduler_stops_the_run_with_a_reason(tmp_path, run_args, own_dask_cluster):
    """The scheduler SIGKILLed mid-run: the run stops within seconds (exit 1, saying
    why, in one line: Dask's client's reconnection errors and their tracebacks go to
    workers.log), and its trials in flight are failed, not left RUNNING."""
    studies = tmp_path / "studies"
    # with the report, which gives Dask's client the seconds it takes to log its errors
    args = [a for a in run_args(studies, STUDY, trials=6, jobs=2, epochs=20)
            if a != "--no-report"]
    run = Running(*args, "--backend", "dask", "--scheduler", own_dask_cluster.address,
                  "--lag", "off",
                  cwd=tmp_path, log=tmp_path / "run")
    root = studies / STUDY
    try:
        wait_for(lambda: [t for t in (stored_trials(root) if (root / "study.json").is_file()
                                      else []) if t.intermediate_values],
                 90, "a trial past its first epoch")
        os.killpg(own_dask_cluster.scheduler.pid, signal.SIGKILL)
        rc = run.wait(60)  # None (a failure below) if it did not stop
    finally:
        run.close()
    assert rc == 1, run.output()
    # one whole line naming the cluster (hostile tester 7: "worker error: RuntimeError:"
    # and Dask's first line, cut inside its parenthesis)
    last = [line for line in run.stderr.splitlines() if line.strip()][-1]
    assert last.startswith(f"stopped: the Dask cluster at {own_dask_cluster.address} "
                           "cancelled"), \
        run.output()
    assert "scheduler is gone" in last and last.count("(") == last.count(")"), last
    assert "Traceback" not in run.output(), run.output()  # hostile tester 3: three of them
    assert "distributed" in (root / "workers.log").read_text()
    everything = stored_trials(root)
    stored = [t for t in everything if t.state != TrialState.WAITING]
    assert stored and all(t.state == TrialState.FAIL for t in stored), \
        [(t.number, t.state.name) for t in stored]
    assert all("scheduler gone" in t.user_attrs["reason"] for t in stored)
    assert set(check_retries(everything)) == {t.number for t in stored}  # for the next run


def test_in_a_database_a_killed_dask_workers_trial_is_retried(tmp_path, run_args,
                                                               dask_cluster, postgres):
    """With PostgreSQL storage the Dask worker's lost trial gets its one retry, with the
    same settings and seed, and the retry counts toward --trials instead."""
    from tests.sweep.postgres import STUDY as SHARED
    from tests.sweep.postgres import finished_for_the_budget, shared_trials

    url = postgres.new_database()
    trials = 4
    run = Running(*run_args(tmp_path / "studies", SHARED, trials=trials, jobs=2, epochs=3),
                  "--storage", url, "--backend", "dask", "--scheduler", dask_cluster.address,
                  "--lag", "off", cwd=tmp_path, log=tmp_path / "run")
    try:
        victim = wait_for(lambda: [t for t in shared_trials(url)
                                   if t.state == TrialState.RUNNING and t.intermediate_values],
                          90, "a trial past its first epoch")[0]
        os.kill(victim.user_attrs["pid"], signal.SIGKILL)
        rc = run.wait(180)
    finally:
        run.close()
    assert rc == 0, run.output()
    stored = shared_trials(url)
    assert all(t.state.is_finished() for t in stored), [(t.number, t.state.name) for t in stored]
    dead = next(t for t in stored if t.number == victim.number)
    assert dead.state == TrialState.FAIL
    assert victim.user_attrs["dask_worker"] in dead.user_attrs["reason"], dead.user_attrs
    retries = [t for t in stored if t.user_attrs.get("retry_of") == victim.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE, retries
    assert retries[0].params == dead.params
    assert retries[0].user_attrs["seed"] == dead.user_attrs["seed"]
    assert len(finished_for_the_budget(stored)) == trials and len(stored) == trials + 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_is_a_one_line_error_within_seconds(tmp_path, run_args,
                                                                      sweep_cli, check_error):
    address = f"tcp://127.0.0.1:{_closed_port()}"
    studies = tmp_path / "studies"
    proc = sweep_cli(*run_args(studies, STUDY, trials=2), "--backend", "dask",
                     "--scheduler", address, timeout=60)  # a hang fails here
    check_error(proc, 2, address, "Dask scheduler")
    assert not studies.exists()  # nothing made


class _QuietHTTP(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("listener", ["silent", "http", "speaks-first", "hangs-up"])
def test_an_address_where_no_scheduler_answers_is_one_line_within_seconds(
        tmp_path, run_args, sweep_cli, check_error, listener):
    """A listener that accepts and never speaks, or an HTTP server: Client(timeout=5)
    bounds only the connection, and the handshake after it hung for ever. Hostile tester
    20: one that speaks first (its bytes read as Dask's frame lengths: "MemoryError:
    Unable to allocate 3.07 EiB") or hangs up ("in <TCP (closed) ...>: Stream is
    closed") gave Dask's internals."""
    if listener in ("silent", "speaks-first", "hangs-up"):
        server = SilentServer(
            reply=b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
            if listener == "speaks-first" else b"", hang_up=listener == "hangs-up")
        port, close = server.port, server.close
    else:
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _QuietHTTP)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        port = httpd.server_address[1]

        def close() -> None:
            httpd.shutdown()
            httpd.server_close()
    address = f"tcp://127.0.0.1:{port}"
    studies = tmp_path / "studies"
    try:  # a hang is bounded by the process time-out; the probe's own bound is its message
        proc = sweep_cli(*run_args(studies, STUDY, trials=2), "--backend", "dask",
                         "--scheduler", address, timeout=60)
    finally:
        close()
    said = {"speaks-first": "not a Dask scheduler (what answers there does not speak Dask)",
            "hangs-up": "not a Dask scheduler (it closed the connection without answering)"}
    line = check_error(proc, 2, address, said.get(listener, "no Dask scheduler answers"))
    assert "<" not in line and "Error" not in line, line
    assert not studies.exists()  # nothing made


def test_a_cluster_whose_workers_are_all_gone_stops_the_run_with_a_reason(
        tmp_path, run_args, own_dask_cluster):
    """Every Dask worker killed (their whole process group) mid-trial: the lost trial
    fails as before, and then the run says what it waits for and, after
    --stall-timeout, stops (exit 1) instead of waiting for ever in silence."""
    studies = tmp_path / "studies"
    run = Running(*run_args(studies, STUDY, trials=6, jobs=2, epochs=20),
                  "--backend", "dask", "--scheduler", own_dask_cluster.address, "--lag", "off",
                  "--stall-timeout", "15s", cwd=tmp_path, log=tmp_path / "run")
    root = studies / STUDY
    try:
        wait_for(lambda: [t for t in (stored_trials(root) if (root / "study.json").is_file()
                                      else []) if t.intermediate_values],
                 90, "a trial past its first epoch")
        os.killpg(own_dask_cluster.workers.pid, signal.SIGKILL)
        rc = run.wait(120)
    finally:
        run.close()
    assert rc == 1, run.output()
    assert "waiting for a Dask worker" in run.stderr, run.output()
    assert "stopped: waiting for a Dask worker" in run.stderr, run.output()
    assert "the run stops at --stall-timeout (15s)" in run.stderr, run.output()
    assert "Traceback" not in run.stderr
    stored = stored_trials(root)
    assert stored and all(t.state.is_finished() or t.state == TrialState.WAITING
                          for t in stored), [(t.number, t.state.name) for t in stored]
    assert [t for t in stored if "died" in t.user_attrs.get("reason", "")]


@pytest.fixture
def scheduler_alone(tmp_path: Path) -> Iterator[str]:
    """A scheduler without a single worker; its address."""
    file = tmp_path / "scheduler.json"
    proc = subprocess.Popen(
        _dask("scheduler", "--host", "127.0.0.1", "--port", 0, "--no-dashboard",
              "--scheduler-file", file),
        env=sweep_env(), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        yield scheduler_address(file)
    finally:
        _stop(proc)


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
        tmp_path, run_args, dask_cluster):
    """The Dask workers run in a folder of their own (the cluster's log folder); the run
    names its studies folder relative to its own: the workers find the same journal, and
    leave no journal or lock of their own where they run."""
    before = {p.name for p in dask_cluster.logs.iterdir()}
    args = run_args(Path("studies"), STUDY, trials=3, jobs=2)
    proc = sweep(*args, "--backend", "dask", "--scheduler", dask_cluster.address, cwd=tmp_path,
                 timeout=180)
    assert proc.returncode == 0, proc.stderr
    stored = stored_trials(tmp_path / "studies" / STUDY)
    assert [t.state for t in stored] == [TrialState.COMPLETE] * 3, \
        [(t.number, t.state.name, t.user_attrs.get("reason")) for t in stored]
    assert {p.name for p in dask_cluster.logs.iterdir()} == before, \
        sorted(p.name for p in dask_cluster.logs.rglob("*"))


def test_a_dask_workers_wait_for_the_database_is_said_by_the_run(tmp_path, run_args,
                                                                  dask_cluster, postgres):
    """A Dask worker that cannot connect (the role's connection limit used up by the run)
    says so on the run's output, through a Dask event, while it waits; once the limit is
    lifted the run goes on and finishes."""
    url = postgres.database_of_limited_role("dlim", "dlimpw", 2)
    run = Running(*run_args(tmp_path / "studies", STUDY, trials=2, jobs=1), "--storage",
                  url, "--backend", "dask",
                  "--scheduler", dask_cluster.address, cwd=tmp_path, log=tmp_path / "run")
    said = r"Dask worker tcp://127\.0\.0\.1:\d+: database .*: cannot connect \(.*too many"
    try:
        wait_for(lambda: re.search(said, run.stderr), 60, "the worker's wait on the run's "
                 "output")
        postgres.admin("ALTER ROLE dlim CONNECTION LIMIT -1")
        rc = run.wait(120)
    finally:
        run.close()
    assert rc == 0, run.output()
    assert "dlimpw" not in run.stdout + run.stderr
    assert len(re.findall(said, run.stderr)) == 1, run.stderr  # once, not at every retry

"""Where `sweep export --mlflow` sends a study: a store on the study's own PostgreSQL
database (hostile tester 2), a server that never answers, a store named by the
environment (hostile tester 3)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

from tests.sweep.conftest import assert_one_line_error
from tests.sweep.faults.harness import SilentServer, sweep_env
from tests.sweep.studies import finished_study

pytestmark = pytest.mark.slow  # a real server, MLflow in a subprocess


def test_a_store_on_the_studys_own_database_is_refused_and_adds_no_table(postgres,
                                                                          tmp_path):
    # found: `sweep export --mlflow postgresql://sweep:PW@127.0.0.1:54329/sweep --study p1
    # --storage postgresql://sweep:PW@127.0.0.1:54329/sweep` was not refused (as the same
    # on a study's SQLite file is): MLflow added experiments, runs, tags, metrics and
    # params tables to the Optuna database, then stopped on Optuna's alembic_version
    # ("Can't locate revision identified by 'v3.2.0.a'") with a whole traceback, exit 1
    pytest.importorskip("mlflow")
    import psycopg

    url = postgres.new_database()
    studies = tmp_path / "studies"
    finished_study(studies, "q", trials=2, storage=url)
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    proc = subprocess.run([sys.executable, "-m", "sweep", "export", "--mlflow", plain,
                           "--study", "q", "--studies-dir", str(studies), "--storage", url],
                          cwd=tmp_path, env=sweep_env(), capture_output=True, text=True,
                          timeout=300)
    assert_one_line_error(proc, 2, "--mlflow")
    with psycopg.connect(plain) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema='public'")}
    assert not tables & {"experiments", "runs", "metrics"}, sorted(tables)


def _export(studies, cwd, *mlflow: str, env: dict[str, str] | None = None,
            timeout: float = 120) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "sweep", "export", "--mlflow", *mlflow,
                           "--study", "done", "--studies-dir", str(studies)],
                          cwd=cwd, env=sweep_env() | (env or {}), capture_output=True,
                          text=True, timeout=timeout)
    return proc, time.monotonic() - started


def test_a_tracking_server_that_never_answers_is_one_line_within_seconds(made_study,
                                                                        tmp_path):
    # found (hostile tester 3): a server that accepts and never answers kept export silent
    # for about 38 s (MLflow's retries), then an error
    pytest.importorskip("mlflow")
    server = SilentServer()
    try:
        # MLflow's imports, then 5 s; its own retries took 38 s: the time-out fails those
        proc, _ = _export(made_study.parent, tmp_path,
                          f"http://ml:Sup3rSecret@127.0.0.1:{server.port}/", timeout=30)
    finally:
        server.close()
    line = assert_one_line_error(proc, 1, "no answer within 5s", "ml:***@")
    assert "Sup3rSecret" not in proc.stderr + proc.stdout, line
    refused = SilentServer()
    port = refused.port
    refused.close()  # nothing listens there now
    proc, _ = _export(made_study.parent, tmp_path, f"http://127.0.0.1:{port}")
    assert_one_line_error(proc, 1, "cannot reach it")


def test_a_tracking_store_from_the_environment_is_checked_like_one_named(made_study, tmp_path,
                                                                        postgres):
    # found (hostile tester 3): MLFLOW_TRACKING_URI naming a database that does not exist
    # went past the checks --mlflow URI gets: 106 s of MLflow's retries, then a traceback
    pytest.importorskip("mlflow")
    uri = postgres.url("no_such_database_here")
    proc, _ = _export(made_study.parent, tmp_path, env={"MLFLOW_TRACKING_URI": uri},
                      timeout=40)  # MLflow's own retries took 106 s
    assert_one_line_error(proc, 1, "MLFLOW_TRACKING_URI=", "cannot open it",
                          "no_such_database_here")
    # and a store inside the study folder is refused as it is when named
    inside = f"sqlite:///{made_study}/mlflow.db"
    proc, _ = _export(made_study.parent, tmp_path, env={"MLFLOW_TRACKING_URI": inside})
    assert_one_line_error(proc, 2, "MLFLOW_TRACKING_URI=", "inside the study folder")
    assert not (made_study / "mlflow.db").exists()


def test_a_keyword_string_given_as_the_store_never_shows_its_password(made_study, tmp_path):
    # hostile tester 4: "--mlflow host=127.0.0.1 password=S3cretPW" was echoed whole in
    # MLflow's refusal
    pytest.importorskip("mlflow")
    proc, _ = _export(made_study.parent, tmp_path, "host=127.0.0.1 password=S3cretPW")
    assert proc.returncode != 0
    assert "S3cretPW" not in proc.stdout + proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


def test_a_store_whose_tables_this_user_may_not_read_is_one_line(made_study, tmp_path,
                                                                  postgres):
    """Hostile tester 18: a database user who may connect but not read MLflow's tables
    (another user made them): a 90-line traceback (InsufficientPrivilege on
    alembic_version). Now one line naming --mlflow and the server's words."""
    pytest.importorskip("mlflow")
    import uuid

    url = postgres.new_database()
    first, _ = _export(made_study.parent, tmp_path, url, timeout=240)
    assert first.returncode == 0, first.stderr
    role = f"reader_{uuid.uuid4().hex[:8]}"
    postgres.admin(f"CREATE ROLE {role} LOGIN PASSWORD 'x'")
    proc, _ = _export(made_study.parent, tmp_path, url.replace("sweep:pw@", f"{role}:x@"),
                      timeout=240)
    line = assert_one_line_error(proc, 1, "--mlflow", "permission denied")
    assert "ProgrammingError" not in line and "InsufficientPrivilege" not in line, line


def test_a_store_that_cannot_be_reached_names_no_driver_class(made_study, tmp_path):
    """Hostile tester 18: "cannot open it: (psycopg.OperationalError) connection failed:
    ...": the driver's exception class, in the line meant for the user."""
    pytest.importorskip("mlflow")
    proc, _ = _export(made_study.parent, tmp_path, "postgresql+psycopg://u:pw@127.0.0.1:1/db")
    line = assert_one_line_error(proc, 1, "--mlflow", "cannot open it", "Connection refused")
    assert "OperationalError" not in line and "(psycopg" not in line, line


def test_a_scheme_mlflow_knows_no_store_of_is_one_line_about_tracking(made_study, tmp_path):
    """Hostile tester 20: ``--mlflow bogus://x`` gave MLflow's paragraph on its *model
    registry*, with its list of schemes and a link; nothing was written."""
    pytest.importorskip("mlflow")
    proc, _ = _export(made_study.parent, tmp_path, "bogus://x")
    line = assert_one_line_error(proc, 2, "--mlflow bogus://x",
                                 "MLflow has no tracking store for bogus://")
    assert "registry" not in line and "http" not in line.split("give")[0], line
    assert not list(tmp_path.glob("ml*")), list(tmp_path.iterdir())


@pytest.mark.parametrize("store", ["existing-sqlite", "new-sqlite", "new-folder"])
def test_a_store_on_a_read_only_disk_is_one_line_within_seconds(made_study, tmp_path, store):
    """Hostile tester 20: an MLflow database on a read-only disk gave 67 lines of MLflow's
    logging and SQLAlchemy tracebacks, then "could not be made" without a cause; a new
    one in a read-only folder ran MLflow's silent retries for about 105 s."""
    pytest.importorskip("mlflow")
    disk = tmp_path / "ro"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}): needs root")
    try:
        uri = {"existing-sqlite": f"sqlite:///{disk}/mlflow.db",
               "new-sqlite": f"sqlite:///{disk}/new.db", "new-folder": str(disk / "mlruns")}
        if store == "existing-sqlite":
            made = subprocess.run(
                [sys.executable, "-c", "import mlflow, sys; mlflow.set_tracking_uri("
                 "sys.argv[1]); mlflow.create_experiment('other')", uri[store]],
                capture_output=True, text=True, timeout=300, cwd=tmp_path, env=sweep_env())
            assert made.returncode == 0, made.stderr[-2000:]
        before = sorted(p.name for p in disk.iterdir())
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        # MLflow's own retries took about 105 s: they would pass the process's time-out
        proc, _ = _export(made_study.parent, tmp_path, uri[store], timeout=60)
        assert_one_line_error(proc, 1, "--mlflow", f"cannot write {disk}",
                              "read-only file system")
        assert sorted(p.name for p in disk.iterdir()) == before
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


@pytest.mark.slow
@pytest.mark.parametrize("room", [0, 150 * 1024])
def test_a_new_store_on_a_full_disk_is_one_line_and_leaves_nothing(made_study, tmp_path,
                                                                   mounts, room):
    """Hostile tester 22: ``export --mlflow sqlite:///full/m.db`` on a full disk said
    "database or disk is full" and left an empty m.db behind; with room for MLflow's
    first tables only, a half-made store. A store the export made is removed."""
    pytest.importorskip("mlflow")
    disk = tmp_path / "full"
    disk.mkdir()
    mounts("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk))
    free = shutil.disk_usage(disk).free
    with open(disk / "filler", "wb") as f:
        f.write(b"\0" * max(free - room, 0))
    proc, _ = _export(made_study.parent, tmp_path, f"sqlite:///{disk}/m.db", timeout=120)
    assert_one_line_error(proc, 1, "--mlflow", "full")
    assert sorted(p.name for p in disk.iterdir()) == ["filler"]

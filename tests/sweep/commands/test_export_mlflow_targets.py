"""Hostile tester 2: an MLflow store on the study's own PostgreSQL database."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.sweep.conftest import assert_one_line_error
from tests.sweep.faults.harness import sweep_env
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

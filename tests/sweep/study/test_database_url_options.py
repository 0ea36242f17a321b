"""Hostile tester 7: a database URL's own options are kept (a search_path), and a password
under a percent-encoded query key is neither printed nor stored."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.engine import make_url


def connect(url: str):
    import psycopg

    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database,
                           autocommit=True, connect_timeout=10)


@pytest.mark.slow  # a real server and a real run
def test_the_urls_own_options_are_kept(postgres, run_args, sweep_cli, tmp_path):
    # found: `--storage 'postgresql://.../db?options=-csearch_path%3Dmine'` (a team's own
    # schema in a shared database) wrote Optuna's tables into "public": the harness's
    # connect_args (options=-c statement_timeout=... -c lock_timeout=...) replace the
    # URL's "options" instead of adding to them, so the URL's search_path is dropped
    url = postgres.new_database()
    with connect(url) as conn:
        conn.execute("CREATE SCHEMA mine")
    proc = sweep_cli(*run_args(tmp_path / "studies", "sp", trials=1, jobs=1), "--storage",
                     url + "?options=-csearch_path%3Dmine", timeout=300)
    assert proc.returncode == 0, proc.stderr
    with connect(url) as conn:
        where = conn.execute("SELECT table_schema FROM information_schema.tables "
                             "WHERE table_name = 'trials'").fetchall()
    assert where == [("mine",)], where


@pytest.mark.slow  # a real server and a real run
def test_a_percent_encoded_password_key_is_not_stored_in_study_json(postgres, run_args,
                                                                   sweep_cli, tmp_path):
    # found: `--storage 'postgresql://sweep@host/db?%70assword=S3cretH7'` (SQLAlchemy decodes
    # the key; the server gets the password) was printed on the run's first line and
    # recorded so in study.json
    studies = tmp_path / "studies"
    proc = sweep_cli(*run_args(studies, "pk", trials=1, jobs=1), "--storage",
                     postgres.new_database().replace(":pw@", "@") + "?%70assword=S3cretH7",
                     timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "S3cretH7" not in proc.stdout + proc.stderr
    stored = json.loads((studies / "pk" / "study.json").read_text())["storage"]
    assert "S3cretH7" not in stored, stored

"""Hostile tester 2: a password is never printed or stored, however the URL carries it.

libpq, psycopg and SQLAlchemy take a password from the URL's query
(``postgresql://user@host/db?password=...``) as well as from its userinfo; a Dask
address can carry userinfo too. "No command, error or log line may ever print a
password from a URL, whatever the arguments."
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from sweep.study.storage import hide_secret, mask_url

SECRET = "Sup3rSecret"


def test_mask_url_masks_a_password_given_in_the_query():
    for url in (f"postgresql://user@127.0.0.1:1/x?password={SECRET}",
                f"postgresql://user@127.0.0.1:1/x?connect_timeout=1&password={SECRET}",
                f"postgresql+psycopg://user@h/x?password={SECRET}&sslmode=disable"):
        assert SECRET not in mask_url(url), mask_url(url)


@pytest.mark.parametrize("command", ["best", "trials", "studies", "report"])
def test_a_password_in_the_query_of_a_bad_storage_url_is_never_printed(cli, tmp_path,
                                                                       command):
    # found: `sweep best --storage 'postgresql://sweep@127.0.0.1:54329/sweep?password=hunter2'`
    # printed "--storage postgresql://sweep@127.0.0.1:54329/sweep?password=hunter2: cannot
    # open (... password authentication failed ...)"
    proc = cli(command, "--studies-dir", tmp_path, "--storage",
               f"postgresql://user@127.0.0.1:1/x?connect_timeout=1&password={SECRET}")
    assert proc.returncode in (1, 2), proc
    assert SECRET not in proc.stdout + proc.stderr, proc.stderr


@pytest.mark.slow  # a real server and a real run
def test_a_run_never_prints_or_stores_a_password_given_in_the_query(postgres, run_args,
                                                                   tmp_path, sweep_cli):
    # found: the run's first line said "storage postgresql://sweep@...:54329/sweep?password=
    # S3cr%23t..." and study.json recorded it so
    url = postgres.new_database() + f"?password={SECRET}"
    studies = tmp_path / "studies"
    proc = sweep_cli(*run_args(studies, "q", trials=1, jobs=1), "--storage", url,
                     timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    for path in (studies / "q").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    stored = json.loads((studies / "q" / "study.json").read_text())["storage"]
    assert SECRET not in stored


@pytest.mark.slow  # `run` makes its worker pool before it looks at the address
def test_a_password_in_a_scheduler_address_is_never_printed(cli, tmp_path, check_error):
    # found: "--scheduler tcp://sched:hunter2@127.0.0.1:38786: not a scheduler address ...
    # (invalid address 'sched:hunter2@127.0.0.1:38786'; ...)"
    # hostile tester 7: "tcp://127.0.0.1:1?password=..." was quoted in the parser's reason
    for address in (f"tcp://user:{SECRET}@127.0.0.1:1", f"tcp://127.0.0.1:1?password={SECRET}",
                    f"tcp://127.0.0.1:1#{SECRET}"):
        proc = cli("run", "--trials", "1", "--studies-dir", tmp_path, "--backend", "dask",
                   "--scheduler", address)
        check_error(proc, 2, "--scheduler")
        assert SECRET not in proc.stdout + proc.stderr, proc.stderr


@pytest.mark.slow  # MLflow's own retries; a subprocess
def test_an_mlflow_database_that_cannot_be_opened_is_one_line_not_a_traceback(
        made_study, tmp_path, check_error):
    # found: `sweep export --mlflow postgresql://sweep:wrong@127.0.0.1:54329/sweep2` (or a
    # closed port) printed MLflow's WARNING and retries for 105 s, then a whole Python
    # traceback ending in sqlalchemy.exc.OperationalError, exit 1, no "error:" line
    pytest.importorskip("mlflow")
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "sweep", "export", "--mlflow",
         f"postgresql://user:{SECRET}@127.0.0.1:1/x", "--study", "done",
         "--studies-dir", str(made_study.parent)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    took = time.monotonic() - start
    check_error(proc, 1, "--mlflow")
    assert SECRET not in proc.stdout + proc.stderr
    assert took < 60, f"{took:.0f}s of silent retries"




def test_a_libpq_keyword_string_is_refused_without_its_password(cli, tmp_path, check_error):
    # hostile tester 4: "host=... password=S3cretPW dbname=db1", what psql users type, was
    # refused as no URL with the password quoted whole
    dsn = "host=127.0.0.1 port=1 user=sweep password=S3cretPW dbname=db1"
    proc = cli("trials", "--study", "a", "--studies-dir", tmp_path, "--storage", dsn)
    line = check_error(proc, 2, "not a database URL", "password=***")
    assert "S3cretPW" not in proc.stdout + proc.stderr, line
    assert mask_url("host=h password='p w\\' x' dbname=d") == "host=h password=*** dbname=d"


@pytest.mark.slow
def test_a_server_reason_naming_a_database_with_an_at_sign_is_whole(cli, postgres, tmp_path,
                                                                     check_error):
    # hostile tester 4: the server's "database "x@y" does not exist" was masked as if it
    # were a URL, to "...failed:***@y..."
    url = postgres.url("x@y").replace(":pw@", ":S3cretPW@")
    proc = cli("trials", "--study", "a", "--studies-dir", tmp_path, "--storage", url)
    line = check_error(proc, 2, "cannot open")
    assert "S3cretPW" not in proc.stdout + proc.stderr, line
    assert "failed:***@" not in line and '"x@y"' in line, line


@pytest.mark.parametrize(("text", "url", "shown"), [
    # hostile tester 17: every occurrence was starred, so the stars gave a short password
    # away ("***.0.0.1": it is 127) and garbled the message ("im***ort")
    ('at "127.0.0.1", port 5432 failed', "postgresql://u:127@127.0.0.1/d",
     'at "127.0.0.1", port 5432 failed'),
    ("Failed to import DB access module for the specified storage URL",
     "mysql://u:p@127.0.0.1/x", "Failed to import DB access module for the specified "
                                "storage URL"),
    # where a short one stands alone, it is still masked
    ("url postgresql://u:127@127.0.0.1/d; password=127. said: '127'",
     "postgresql://u:127@127.0.0.1/d",
     "url postgresql://u:***@127.0.0.1/d; password=***. said: '***'"),
    # a long one is masked wherever it is, even glued to other text
    (f"x{SECRET}y and {SECRET}.", f"postgresql://u:{SECRET}@h/d", "x***y and ***."),
])
def test_a_password_is_masked_where_it_stands_alone_not_where_it_is_chance(text, url, shown):
    assert hide_secret(text, url) == shown


@pytest.mark.slow
def test_a_short_password_is_not_given_away_by_the_masking_of_the_servers_address(
        cli, postgres, tmp_path):
    """Hostile tester 17: the password "127" masked in the server's reason read
    'connection to server at "***.0.0.1"'."""
    url = postgres.url("no_such_database").replace(":pw@", ":127@")
    proc = cli("best", "--storage", url, "--study", "s", "--studies-dir", tmp_path)
    line = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and "no_such_database" in line, proc.stderr
    assert '"127.0.0.1"' in line and "***.0.0.1" not in line, line


def test_a_password_that_is_also_the_port_is_starred_in_the_url_as_in_the_message(cli,
                                                                                  tmp_path):
    """Hostile tester 18: with the password "1" and the port 1, the line showed the URL's
    port and starred the server's "port *** failed": the stars pointed at the password.
    Every standalone mention is starred alike, the URL's included."""
    proc = cli("best", "--storage", "postgresql+psycopg://u:1@127.0.0.1:1/db", "--study", "s",
               "--studies-dir", tmp_path)
    line = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and "port *** failed" in line, proc.stderr
    assert "127.0.0.1:***/db" in line and "127.0.0.1:1/" not in line, line
    assert mask_url("postgresql://u:1@127.0.0.1:1/db") == "postgresql://u:***@127.0.0.1:***/db"


@pytest.mark.slow
def test_a_password_that_is_also_the_database_name_is_starred_alike(cli, postgres, tmp_path):
    """Hostile tester 18: 'database "***" does not exist' beside a URL ending in /zz9db."""
    url = postgres.url("zz9db").replace(":pw@", ":zz9db@")
    proc = cli("best", "--storage", url, "--study", "s", "--studies-dir", tmp_path)
    line = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and 'database "***" does not exist' in line, proc.stderr
    assert "zz9db" not in line, line


@pytest.mark.parametrize("storage", [
    "host=127.0.0.1 port=1 user=alice pasword=S3cretPW dbname=d",  # misspelt keywords
    "host=127.0.0.1 port=1 user=alice passwd=S3cretPW dbname=d",
    "host=127.0.0.1 port=1 user=alice pwd='S3cretPW' dbname=d",
    "postgresql://alice@127.0.0.1:1/d?pasword=S3cretPW",  # and query options
    "postgresql://alice@127.0.0.1:1/d?connect_timeout=1&passwd=S3cretPW",
    # hostile tester 7: a key written percent-encoded (SQLAlchemy decodes it and libpq
    # takes the password), with a hyphen or a digit, and a libpq value with an escaped space
    "postgresql://alice@127.0.0.1:1/d?connect_timeout=1&%70assword=S3cretPW",
    "postgresql://alice@127.0.0.1:1/d?connect_timeout=1&pass-word=S3cretPW",
    "postgresql://alice@127.0.0.1:1/d?connect_timeout=1&db_password2=S3cretPW",
    "host=127.0.0.1 port=1 user=alice password=ab\\ S3cretPW dbname=d",
])
def test_a_misspelt_password_key_is_masked_too(cli, tmp_path, storage):
    # hostile tester 6: only "password" and "sslpassword" were masked
    proc = cli("studies", "--storage", storage, "--studies-dir", tmp_path)
    assert proc.returncode in (1, 2), proc.stderr
    assert "S3cretPW" not in proc.stdout + proc.stderr, proc.stderr
    assert "S3cretPW" not in mask_url(storage)


def test_a_password_holding_an_at_sign_is_refused_without_any_of_it(cli, tmp_path,
                                                                     check_error):
    # hostile tester 6: user:S3c@retPW@host was read as password "S3c" on host
    # "retPW@host", and "retPW" was printed twice (the URL and the resolver's message)
    url = "postgresql+psycopg://alice:S3c@retPW@127.0.0.1:1/d1"
    proc = cli("studies", "--storage", url, "--studies-dir", tmp_path)
    line = check_error(proc, 2, "the password holds '@'", "%40")
    assert "S3c" not in line and "retPW" not in proc.stdout + proc.stderr, line
    assert mask_url(url) == "postgresql+psycopg://alice:***@127.0.0.1:1/d1"

"""A throw-away PostgreSQL cluster for the tests: initdb in a temporary folder, a free
port on 127.0.0.1, stopped and deleted at the end.

The server runs as the current user, or, when the tests run as root (initdb refuses
root), as ``nobody``. Each test asks for a database of its own (`new_database`), so
tests never see each other's studies.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import optuna
from optuna.exceptions import StorageInternalError
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.exc import SQLAlchemyError

SUPERUSER = "sweep"
STUDY = "shared"  # the study the machines of a test share


C = TypeVar("C")


def find_binary(name: str) -> str | None:
    """A PostgreSQL program from PATH, or from Debian's versioned folder."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def running_cluster(make: Callable[[], C]) -> Iterator[C]:
    """A fixture's body: the server ``make`` starts, stopped afterwards (also when a test
    fails); the test skips only where PostgreSQL or its driver is missing."""
    import pytest

    pytest.importorskip("psycopg", reason="the PostgreSQL driver comes with the test extra")
    try:
        cluster = make()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One running PostgreSQL server on 127.0.0.1 (trust authentication, loopback only)."""

    def __init__(self) -> None:
        initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
        if not initdb or not pg_ctl:
            raise FileNotFoundError("PostgreSQL's initdb/pg_ctl are not installed "
                                    "(Debian: apt-get install postgresql)")
        self.pg_ctl = pg_ctl
        self.folder = Path(tempfile.mkdtemp(prefix="sweep-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.port = free_port()
        self.run_as = "nobody" if os.geteuid() == 0 else None
        if self.run_as:
            shutil.chown(self.folder, self.run_as)
        self._run(initdb, "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
                  "--no-sync")
        self._run(pg_ctl, "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o",
                  f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                  "-c fsync=off -c max_connections=200", "start")

    def _run(self, *command: str) -> None:
        if self.run_as:
            command = ("runuser", "-u", self.run_as, "--", *command)
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120,
                              cwd=self.folder)
        if proc.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed: {proc.stderr.strip()}\n{log}")

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of a database, with the psycopg (3) driver named."""
        return f"postgresql+psycopg://{SUPERUSER}:pw@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER,
                             dbname="postgres", autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def admin(self, *statements: str) -> None:
        """Run these statements as the superuser, each on its own."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER,
                             dbname="postgres", autocommit=True, connect_timeout=10) as conn:
            for statement in statements:
                conn.execute(statement)

    def database_of_limited_role(self, role: str, password: str, limit: int) -> str:
        """A fresh database owned by a new role that may hold ``limit`` connections; the
        URL that connects as that role."""
        url = self.new_database()
        self.admin(f"CREATE ROLE {role} LOGIN PASSWORD '{password}' CONNECTION LIMIT {limit}",
                   f'ALTER DATABASE "{url.rsplit("/", 1)[1]}" OWNER TO {role}')
        return url.replace(f"{SUPERUSER}:pw@", f"{role}:{password}@")

    def stop(self) -> None:
        try:
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


_STORAGES: dict[str, RDBStorage] = {}


def shared_trials(url: str) -> list[FrozenTrial]:
    """The study's trials as the database has them; none while the machines are still
    creating its tables (the test only reads: it must not race them to create them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        storage = _STORAGES.get(url)
        if storage is None:
            try:
                storage = RDBStorage(url, skip_table_creation=True)
                optuna.get_all_study_names(storage)
            except (SQLAlchemyError, StorageInternalError):  # no tables yet
                return []
            _STORAGES[url] = storage
        try:
            study = optuna.load_study(study_name=STUDY, storage=storage)
            return study.get_trials(deepcopy=False)
        except KeyError:  # not created yet
            return []
        except (SQLAlchemyError, StorageInternalError):  # tables half made
            del _STORAGES[url]
            return []


def finished_for_the_budget(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Finished trials that count toward --trials: a failed trial that was retried does
    not (its retry does)."""
    retried = {t.user_attrs.get("retry_of") for t in trials}
    return [t for t in trials if t.state.is_finished()
            and not (t.state == TrialState.FAIL and t.number in retried)]

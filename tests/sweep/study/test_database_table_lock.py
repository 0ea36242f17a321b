"""A row or table lock held by another database session is a wait like the study's own
locks (issue 25, found by the second hostile pass): said on one line with its holder,
bounded, and gone when the lock is. Real server, real sessions holding real locks."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import optuna
import pytest
from optuna.trial import TrialState

from sweep.study import database
from sweep.study.storage import open_storage
from sweep.study.waiting import WaitedTooLong, saying
from tests.sweep.faults.harness import sweep_env
from tests.sweep.studies import finished_study

pytestmark = pytest.mark.slow  # a real server


@contextmanager
def held(url: str, statement: str, name: str) -> Iterator[None]:
    """Another session, named ``name``, that runs ``statement`` in a transaction and
    sits in it (holding what it locked) until the block ends."""
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with psycopg.connect(conninfo, application_name=name) as conn:
            conn.execute(statement)
            locked.set()
            release.wait(120)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert locked.wait(20), "the other session never took its lock"
    try:
        yield
    finally:
        release.set()
        holder.join(20)


def test_a_table_lock_held_by_another_session_is_said_not_waited_for_in_silence(
        postgres, tmp_path):
    # found: with another session holding `LOCK TABLE trials IN ACCESS EXCLUSIVE MODE`
    # (a migration, a hung psql transaction) `sweep best --storage URL` printed nothing
    # for 44 s, `sweep run` nothing for 40 s
    url = postgres.new_database()
    studies = tmp_path / "studies"
    finished_study(studies, "q", trials=2, storage=url)
    with held(url, "LOCK TABLE trials IN ACCESS EXCLUSIVE MODE", "table-locker"):
        proc = subprocess.Popen([sys.executable, "-m", "sweep", "best", "--study", "q",
                                 "--studies-dir", str(studies), "--storage", url],
                                cwd=tmp_path, env=sweep_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        said: list[str] = []
        reader = threading.Thread(target=lambda: said.extend(proc.stderr), daemon=True)
        reader.start()
        deadline = time.monotonic() + 30  # the first line is due after 5 s
        while not any("waiting for a lock" in s for s in said) and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, "best did not wait for the lock"
    out = proc.stdout.read()
    proc.wait(60)
    reader.join(10)
    err = "".join(said)
    assert proc.returncode == 0, err
    lines = [line for line in err.splitlines() if "waiting for a lock" in line]
    assert lines, f"30 s blocked by another session's lock without a word: {err!r}"
    assert "table-locker" in lines[0] and "trials AccessExclusiveLock" in lines[0], lines
    assert "trial" in out
    # hostile tester 3: and not drowned in Optuna's eight-line warnings quoting the SQL
    # of the query it falls back from
    assert "[SQL:" not in err and "Caught an error" not in err, err


def test_a_table_lock_wait_ends_in_one_line_naming_the_holder(postgres, tmp_path,
                                                               monkeypatch):
    url = postgres.new_database()
    finished_study(tmp_path / "studies", "q", trials=1, storage=url)
    storage = open_storage(tmp_path / "unused.log", url, create=False)
    study_id = storage.get_study_id_from_name("q")
    monkeypatch.setattr(database, "TABLE_LOCK_LIMIT", 8.0)
    said: list[str] = []
    with held(url, "LOCK TABLE trials IN ACCESS EXCLUSIVE MODE", "migration"), \
            saying(said.append), pytest.raises(WaitedTooLong) as raised:
        storage.get_all_trials(study_id)
    message = str(raised.value)
    assert "\n" not in message and "gave up after" in message, message
    assert "'migration'" in message and "trials AccessExclusiveLock" in message, message
    assert said and all("waiting for a lock on the study's tables" in s for s in said)
    # the lock gone, the same storage works at once
    assert len(storage.get_all_trials(study_id)) == 1


def test_a_row_lock_of_a_session_idle_in_its_transaction_is_named_and_outlived(
        postgres, tmp_path):
    # a process stopped inside a transaction (or a psql left open after SELECT ... FOR
    # UPDATE) holds a trial's row: finishing that trial waits, says so, and goes on
    url = postgres.new_database()
    storage = open_storage(tmp_path / "unused.log", url)
    study = optuna.create_study(study_name="rows", storage=storage)
    trial = study.ask()
    said: list[str] = []
    done: list[bool] = []

    def finish() -> None:
        with saying(said.append):
            done.append(storage.set_trial_state_values(trial._trial_id,
                                                       TrialState.COMPLETE, [0.5]))

    with held(url, f"BEGIN; SELECT * FROM trials WHERE trial_id = {trial._trial_id} "
                   "FOR UPDATE", "row-locker"):
        finisher = threading.Thread(target=finish)
        finisher.start()
        deadline = time.monotonic() + 30  # the first line is due after 5 s
        while not said and finisher.is_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert finisher.is_alive() and not done, "the locked row was not waited for"
    finisher.join(30)
    assert done == [True]
    assert study.trials[0].state == TrialState.COMPLETE and study.trials[0].value == 0.5
    assert said and "'row-locker'" in said[0] and "idle in transaction" in said[0], said

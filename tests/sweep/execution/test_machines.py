"""One study shared by several machines through a real PostgreSQL server.

Each "machine" is a ``sweep run`` process with its own studies folder and its own host
name (the fault injection's SWEEP_FAULT_HOST), all sharing one database on 127.0.0.1.
A worker that stops beating while its run is alive is told from a dead machine.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from optuna.trial import FrozenTrial, TrialState

from tests.sweep.faults.harness import Running, pid_alive, sweep, wait_for
from tests.sweep.postgres import STUDY, finished_for_the_budget, shared_trials

pytestmark = pytest.mark.slow

MACHINES = ("machine-a", "machine-b", "machine-c")


def start_machines(tmp_path: Path, run_args, url: str, trials: int, faults: dict,
                   extra: tuple = ()) -> dict[str, Running]:
    runs = {}
    for host in MACHINES:
        args = [*run_args(tmp_path / host, STUDY, trials=trials, jobs=1, epochs=3),
                "--storage", url, *extra]
        runs[host] = Running(*args, cwd=tmp_path, log=tmp_path / host,
                             faults={"SWEEP_FAULT_HOST": host, **faults})
    return runs


def check_where_they_ran(tmp_path: Path, trials: list[FrozenTrial]) -> None:
    """Every trial that started has its directory in the studies folder of the machine
    that ran it, and its trial.json agrees with the database."""
    for t in trials:
        if t.state == TrialState.WAITING:
            continue
        host = t.user_attrs["host"]
        folder = tmp_path / host / STUDY / "trials" / f"{t.number:04d}"
        assert Path(t.user_attrs["experiment_dir"]) == folder.resolve(), (t.number, host)
        doc = json.loads((folder / "trial.json").read_text())
        assert doc["state"] == t.state.name, (t.number, doc["state"], t.state.name)
        others = [m for m in MACHINES if m != host]
        assert not any((tmp_path / m / STUDY / "trials" / folder.name).exists() for m in others)


def test_a_dead_machines_trial_is_failed_by_its_heartbeat_and_retried(tmp_path, run_args,
                                                                      postgres):
    """The bug: machine-c dies (its whole run SIGKILLed) mid-trial. Its trial recorded
    another host, so no pid check can judge it; it must not stay RUNNING, count toward
    --trials and stop the study short."""
    url = postgres.new_database()
    runs = start_machines(tmp_path, run_args, url, trials=8,
                          faults={"SWEEP_FAULT_SLEEP": 1.0}, extra=("--heartbeat", 1))
    try:
        victim = wait_for(lambda: [t for t in shared_trials(url)
                                   if t.state == TrialState.RUNNING and t.intermediate_values
                                   and t.user_attrs.get("host") == "machine-c"],
                          90, "a trial of machine-c past its first epoch")[0]
        runs["machine-c"].signal_group(signal.SIGKILL)
        codes = {host: runs[host].wait(180) for host in MACHINES[:2]}
    finally:
        for run in runs.values():
            run.close()
    assert codes == {"machine-a": 0, "machine-b": 0}, [r.output() for r in runs.values()]
    trials = shared_trials(url)
    assert not [t.number for t in trials if not t.state.is_finished()], \
        [(t.number, t.state.name) for t in trials]
    dead = next(t for t in trials if t.number == victim.number)
    assert dead.state == TrialState.FAIL and "heartbeat" in dead.user_attrs["reason"], dead
    retries = [t for t in trials if t.user_attrs.get("retry_of") == victim.number]
    assert len(retries) == 1 and retries[0].state.is_finished(), retries
    retry = retries[0]
    assert retry.user_attrs["host"] in MACHINES[:2] and retry.params == dead.params
    assert retry.user_attrs["seed"] == dead.user_attrs["seed"]
    assert len(finished_for_the_budget(trials)) == 8
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    check_where_they_ran(tmp_path, trials)


def test_three_machines_reach_exactly_the_total(tmp_path, run_args, postgres):
    """Each machine counts, then asks: with the count made stale on purpose (a pause
    between the two), only a lock in the database keeps them from overshooting. The
    machines and the readers are given a plain ``postgresql://`` URL (no driver named),
    which gets psycopg."""
    url = postgres.new_database()
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    trials = 7
    runs = start_machines(tmp_path, run_args, plain, trials=trials,
                          faults={"SWEEP_FAULT_COUNT_SLEEP": 0.5})
    try:
        codes = {host: run.wait(180) for host, run in runs.items()}
    finally:
        for run in runs.values():
            run.close()
    assert set(codes.values()) == {0}, [r.output() for r in runs.values()]
    stored = shared_trials(url)
    assert len(stored) == trials and all(t.state.is_finished() for t in stored), \
        [(t.number, t.state.name) for t in stored]
    assert sorted(t.number for t in stored) == list(range(trials))
    assert len({t.user_attrs["host"] for t in stored}) >= 2  # more than one machine worked
    check_where_they_ran(tmp_path, stored)
    check_readers_name_what_they_cannot_reach(tmp_path, plain, stored)


def check_readers_name_what_they_cannot_reach(tmp_path: Path, url: str,
                                              stored: list[FrozenTrial]) -> None:
    """Read from one machine's studies folder, `best`, `trials` and `report` name the
    trials whose directories are on the other machines, by host."""
    here = next(t.user_attrs["host"] for t in stored)
    away = sorted(t.number for t in stored if t.user_attrs["host"] != here
                  and t.state in (TrialState.COMPLETE, TrialState.PRUNED))
    assert away  # more than one machine worked
    for command in (["trials", "-f", "json"], ["best"], ["report"]):
        proc = sweep(*command, "--storage", url, "--study", STUDY, "--studies-dir",
                     tmp_path / here, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        notes = [line for line in proc.stderr.splitlines() if line.startswith("note: ")]
        assert len(notes) == 1, proc.stderr
        assert f"{len(away)} of " in notes[0] and "left out" in notes[0]
        for host in {t.user_attrs["host"] for t in stored if t.number in away}:
            assert host in notes[0]
        assert f"on {here}" not in notes[0]
        if command[0] == "trials":
            listed = sorted(row["number"] for row in json.loads(proc.stdout)["trials"])
            assert listed == sorted(t.number for t in stored)
    report = (tmp_path / here / STUDY / "report" / "report.md").read_text()
    assert f"{len(away)} of " in report and "left out" in report


def test_a_killed_worker_is_retried_and_a_raising_trial_is_not(tmp_path, run_args, postgres):
    """Infrastructure failures are retried once with the same settings and seed; a
    trial whose own code raised fails for good (it would raise again)."""
    url = postgres.new_database()
    studies = tmp_path / "studies"
    run = Running(*run_args(studies, STUDY, trials=5, jobs=2, epochs=3), "--storage", url,
                  cwd=tmp_path, log=tmp_path / "run",
                  faults={"SWEEP_FAULT_RAISE": 1, "SWEEP_FAULT_SLEEP": 1.0})
    try:
        victim = wait_for(lambda: [t for t in shared_trials(url) if t.number != 1
                                   and t.state == TrialState.RUNNING and t.intermediate_values],
                          90, "a trial past its first epoch")[0]
        os.kill(victim.user_attrs["pid"], signal.SIGKILL)
        rc = run.wait(180)
    finally:
        run.close()
    assert rc == 0, run.output()
    trials = shared_trials(url)
    by_number = {t.number: t for t in trials}
    assert "killed" in by_number[victim.number].user_attrs["reason"]
    retries = {t.user_attrs["retry_of"]: t for t in trials if "retry_of" in t.user_attrs}
    assert list(retries) == [victim.number], retries
    assert retries[victim.number].state == TrialState.COMPLETE
    assert retries[victim.number].user_attrs["seed"] == by_number[victim.number].user_attrs["seed"]
    assert by_number[1].state == TrialState.FAIL
    assert "InjectedFault" in by_number[1].user_attrs["reason"]
    assert len(finished_for_the_budget(trials)) == 5 and len(trials) == 6
    assert all(t.state.is_finished() for t in trials)
    doc = json.loads((studies / STUDY / "trials" / f"{retries[victim.number].number:04d}"
                      / "trial.json").read_text())
    assert doc["retry_of"] == victim.number


def test_an_interrupted_trial_is_retried_by_the_next_run(tmp_path, run_args, postgres):
    """Ctrl-C fails the trials in flight ("interrupted") and leaves one retry of each
    waiting; the same command again runs the retries and reaches the total."""
    url = postgres.new_database()
    studies = tmp_path / "studies"
    args = [*run_args(studies, STUDY, trials=3, jobs=1, epochs=3), "--storage", url]
    run = Running(*args, cwd=tmp_path, log=tmp_path / "first",
                  faults={"SWEEP_FAULT_SLEEP": 1.0})
    try:
        wait_for(lambda: [t for t in shared_trials(url)
                          if t.state == TrialState.RUNNING and t.intermediate_values],
                 90, "a trial past its first epoch")
        run.signal_group(signal.SIGINT)
        assert run.wait(60) == 130, run.output()
    finally:
        run.close()
    interrupted = [t for t in shared_trials(url) if t.state == TrialState.FAIL]
    assert [t.user_attrs["reason"] for t in interrupted] == ["interrupted"]
    waiting = [t for t in shared_trials(url) if t.state == TrialState.WAITING]
    assert [t.user_attrs["retry_of"] for t in waiting] == [interrupted[0].number]
    again = Running(*args, cwd=tmp_path, log=tmp_path / "second")
    try:
        assert again.wait(120) == 0, again.output()
    finally:
        again.close()
    trials = shared_trials(url)
    assert all(t.state.is_finished() for t in trials)
    assert len(finished_for_the_budget(trials)) == 3
    retry = next(t for t in trials if t.number == waiting[0].number)
    assert retry.state == TrialState.COMPLETE and retry.params == interrupted[0].params


def test_a_stopped_worker_of_the_run_is_named_as_stopped_not_dead(tmp_path, run_args,
                                                                 postgres):
    """In a database study a SIGSTOPped worker stops beating. The run it belongs to is
    alive: the trial is failed as its worker "stopped or hung" (not "its run or machine
    died"), the worker is replaced and the study reaches its total."""
    url = postgres.new_database()
    run = Running(*run_args(tmp_path / "studies", STUDY, trials=4, epochs=3),
                  "--storage", url, "--heartbeat", 1, "--lag", "off", cwd=tmp_path,
                  log=tmp_path / "run", faults={"SWEEP_FAULT_SLEEP": 1.0})
    pid = None
    try:
        victim = wait_for(lambda: [t for t in shared_trials(url)
                                   if t.state == TrialState.RUNNING and t.intermediate_values],
                          90, "a trial past its first epoch")[0]
        pid = victim.user_attrs["pid"]
        os.kill(pid, signal.SIGSTOP)
        rc = run.wait(120)
    finally:
        run.close()
        if pid is not None and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    assert rc == 0, run.output()
    assert not pid_alive(pid), "the stopped worker was left behind"
    dead = next(t for t in shared_trials(url) if t.number == victim.number)
    reason = dead.user_attrs["reason"]
    assert dead.state == TrialState.FAIL and "stopped or hung" in reason, (reason, run.output())
    assert "machine died" not in reason, reason

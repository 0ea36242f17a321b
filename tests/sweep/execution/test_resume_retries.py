"""Resuming keeps every trial: a journal study interrupted by Ctrl-C, then the same
command again, ends with its full count of trained trials, the classic trial 0 included.

Real ``sweep run`` processes on the tiny data (faults/sitecustomize.py slows each epoch
so that trials are in flight when the signal comes), Ctrl-C as a terminal sends it: SIGINT
to the run's whole process group.
"""

from __future__ import annotations

import json
import signal

import pytest
from optuna.trial import TrialState

from tests.sweep.faults.harness import (
    Running,
    check_retries,
    check_study,
    running_trials,
    stored_trials,
    sweep,
    trial_docs,
    wait_for,
)

pytestmark = pytest.mark.slow

SLOW = {"SWEEP_FAULT_SLEEP": 0.3}  # 4 epochs: a trial is in flight for over a second


def test_ctrl_c_then_the_same_command_retries_every_interrupted_trial(tmp_path, run_args):
    studies, root = tmp_path / "studies", tmp_path / "studies" / "ic"
    cmd = run_args(studies, "ic", trials=6, jobs=2, epochs=4)
    run = Running(*cmd, cwd=tmp_path, log=tmp_path / "first", faults=SLOW)
    try:
        flying = wait_for(lambda: running_trials(root) if len(running_trials(root)) >= 2
                          else None, 90, "two trials in flight")
        run.signal_group(signal.SIGINT)
        assert run.wait(60) == 130, run.output()
    finally:
        run.close()
    interrupted = {d["number"] for d in flying}
    assert 0 in interrupted, flying  # the classic trial is among the first two
    trials = stored_trials(root)
    retries = check_retries(trials)
    lost = {t.number for t in trials if t.state == TrialState.FAIL}
    assert interrupted <= lost == set(retries), (interrupted, lost, retries)
    for number in lost:
        t = next(t for t in trials if t.number == number)
        assert t.user_attrs["reason"] == "interrupted" and t.user_attrs["lost"], t
        assert retries[number].state == TrialState.WAITING
    assert retries[0].user_attrs["classic"] is True
    docs = trial_docs(root)
    assert {n: docs[n]["retried_as"] for n in lost} == {n: r.number for n, r in retries.items()}
    n = len(lost)
    assert f"; {n} lost and retried, {n} retries waiting)" in run.stdout, \
        run.output()
    assert f"the same command runs the {n} retries of lost trials first" in run.stdout

    again = sweep(*cmd, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"({n} retries of lost trials first)" in again.stderr, again.stderr
    assert (f"6 of 6 trials finished (6 completed, 0 pruned, 0 failed; {n} lost "
            f"and retried)") in again.stdout, again.stdout
    trials = check_study(root, finished=6)
    retries = check_retries(trials)
    assert set(retries) == lost
    assert all(r.state == TrialState.COMPLETE for r in retries.values())
    counted = [t for t in trials if t.number not in lost]
    assert len(counted) == 6 and all(t.state == TrialState.COMPLETE for t in counted)
    classic = [t for t in counted if t.user_attrs.get("classic")]
    assert [t.number for t in classic] == [retries[0].number]
    # the retries ran first, with the settings and seeds of the trials they replace
    second_run = sorted((t for t in counted if t.number > max(lost)),
                        key=lambda t: t.datetime_start)
    assert {t.number for t in second_run[:n]} == {r.number for r in retries.values()}
    for number, retry in retries.items():
        original = next(t for t in trials if t.number == number)
        config = json.loads((root / "trials" / f"{retry.number:04d}" / "config.json")
                            .read_text())
        assert config["training"]["seed"] == original.user_attrs["seed"]

    # the readers show the link and the count
    listed = sweep("trials", "-f", "json", "--studies-dir", studies, "--study", "ic",
                   cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = {r["number"]: r for r in json.loads(listed.stdout)["trials"]}
    for number, retry in retries.items():
        assert rows[number]["retried_as"] == retry.number
        assert rows[retry.number]["retry_of"] == number
    table = sweep("studies", "-f", "json", "--studies-dir", studies, cwd=tmp_path)
    assert json.loads(table.stdout)["studies"][0]["retried"] == n, table.stdout

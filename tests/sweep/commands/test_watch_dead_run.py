"""Hostile tester 4: `trials --watch` redraws until no trial runs or waits. When the run
and its workers were killed together (SIGKILL to the group: an OOM killer, a node lost),
their trial stays RUNNING in the storage until the next run; the watch on this very
machine, whose records name the dead pids, showed it running for ever. Now it says the
worker is gone and ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sweep.conftest import load_optuna
from tests.sweep.faults.harness import default_signals, running_trials, sweep_env, wait_for

pytestmark = pytest.mark.slow


def test_watch_ends_when_the_running_trials_belong_to_dead_processes(tmp_path: Path,
                                                                     run_args) -> None:
    studies = tmp_path / "studies"
    args = run_args(studies, "dead", trials=2, jobs=1, epochs=30)
    proc = subprocess.Popen([sys.executable, "-m", "sweep", *map(str, args)], cwd=tmp_path,
                            env=sweep_env({"SWEEP_FAULT_SLEEP": 1}), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=default_signals)
    wait_for(lambda: running_trials(studies / "dead"), 60, "a trial running")
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its workers at once
    proc.wait(10)
    time.sleep(2)
    watch = subprocess.Popen([sys.executable, "-m", "sweep", "trials", "--study", "dead",
                              "--studies-dir", studies, "--watch", "0.5"], cwd=tmp_path,
                             env=sweep_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        out, err = watch.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        watch.kill()
        out, err = watch.communicate()
        pytest.fail("--watch still redrawing a dead run's trial as running after 30 s: "
                    + out.strip().splitlines()[-2])
    assert watch.returncode == 0, err
    assert "with their worker gone" in out and "the view ends" in out, out[-2000:]
    # hostile tester 6: the last line said "no trial running" under "1 running"
    end = [line for line in out.splitlines() if "the view ends" in line][-1]
    assert "but trials nobody will finish" in end, end


def test_watch_names_trials_left_waiting_and_ends(tmp_path: Path, sweep_cli, run_args,
                                                  monkeypatch) -> None:
    """Hostile tester 9: a trial enqueued past the study's total (then by `run --trials 1
    --enqueue lr=0.05` on a finished 1-trial study, refused since; here through Optuna)
    waits for the next run; the watch redrew "0 running" for ever, never naming it. It is
    counted in the header, and once it has waited `STRANDED_SETTLE` seconds with none
    running, the view ends saying so (the constant is shortened here; 30 s outside)."""
    import io

    from sweep.commands import watch
    from sweep.study.results import load

    studies = tmp_path / "studies"
    made = sweep_cli(*run_args(studies, "w", trials=1, jobs=1), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    done = load_optuna(studies, "w").trials[0]
    load_optuna(studies, "w").enqueue_trial({**done.params, "lr": 0.05})
    monkeypatch.setattr(watch, "STRANDED_SETTLE", 1.5)
    screen = io.StringIO()
    started = time.monotonic()
    assert watch.watch(lambda: load("w", studies), 0.3, screen, settle=0.3) == 0
    assert time.monotonic() - started >= 1.5  # not ended as a finished study would be
    lines = screen.getvalue().splitlines()
    assert "1 finished" in lines[0] and lines[0].endswith(", 1 waiting"), lines[0]
    ends = [line for line in lines if "the view ends" in line]
    assert len(ends) == 1 and "1 waiting that no run has started" in ends[0], lines
    # while it waits, the view says what it waits for and for how long
    assert "1 waiting for a run to start it, watched for up to 1.5s" in lines[1], lines

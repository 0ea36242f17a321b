"""Hostile tester 23: a trial that finished (its storage told) just before a Ctrl-C
reached its worker is counted by the run's summary, but the run printed no row for it:
its outcome went with the interrupt. The run's end prints the rows of its trials that
finished without one."""

from __future__ import annotations

import signal
import time

import pytest

from tests.sweep.faults.harness import Running, open_journal, wait_for


@pytest.mark.slow
def test_a_trial_told_before_an_interrupt_has_its_row(run_args, tmp_path):
    studies = tmp_path / "studies"
    args = [a for a in run_args(studies, "rows", trials=3, jobs=1, epochs=1)
            if a != "--quiet"]
    run = Running(*args, cwd=tmp_path, log=tmp_path / "run",
                  faults={"SWEEP_FAULT_TELL_SLEEP": 3})
    trial = studies / "rows" / "trials" / "0001"
    try:
        wait_for((trial / "metrics.json").exists, 120, "trial 1's metrics.json",
                 interval=0.005)
        time.sleep(1.0)  # trial 1 told, inside the window after tell()
        run.signal_group(signal.SIGINT)
        rc = run.wait(120)
    finally:
        run.close()
    assert rc in (0, 130), run.output()
    stored = {t.number: t.state.name for t in open_journal(studies / "rows").get_trials()}
    assert stored[1] == "COMPLETE", stored
    rows = [line.split() for line in run.err_path.read_text().splitlines()]  # the log
    numbers = [r[0] for r in rows if r and r[0].isdigit()]
    assert numbers.count("0") == 1 and numbers.count("1") == 1, run.output()

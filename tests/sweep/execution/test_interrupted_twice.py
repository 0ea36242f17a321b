"""Hostile tester 9: a study interrupted twice in a row, the second time while it ran
the retries of the first interrupt (an operator pressing Ctrl-C again, a batch
scheduler's SIGTERM twice)."""

from __future__ import annotations

import json

import pytest

from tests.sweep.faults.harness import interrupt_when


@pytest.mark.slow
def test_a_retry_interrupted_in_turn_is_retried_and_the_classic_trial_is_not_lost(
        sweep_cli, run_args, tmp_path):
    """Found (first with a run killed -9 at its start, then SIGTERM to the next run while
    it trained the retries): the retries 2 and 3 of trials 0 (classic) and 1 fail as
    "interrupted" with no retry of their own (retried_as empty), and the same command then
    "reaches the total" with 2 failed trials and no completed classic trial: the classic
    configuration is lost for good. README, Ctrl-C: "trials in flight fail as
    'interrupted', each with a retry waiting ... no trial is lost, the classic trial 0
    included"."""
    studies = tmp_path / "studies"
    root = studies / "twice"
    args = run_args(studies, "twice", trials=3, jobs=2, epochs=3)
    interrupt_when(root, [0, 1], args, tmp_path, tmp_path / "first")
    interrupt_when(root, [2, 3], args, tmp_path, tmp_path / "second")
    done = sweep_cli(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    docs = [json.loads(p.read_text()) for p in sorted(root.glob("trials/*/trial.json"))]
    summary = [(d["number"], d["state"], d["classic"], d.get("reason"), d.get("retried_as"))
               for d in docs]
    assert any(d["classic"] and d["state"] == "COMPLETE" for d in docs), summary
    lost = [d["number"] for d in docs
            if d.get("reason") == "interrupted" and d.get("retried_as") is None]
    assert not lost, summary

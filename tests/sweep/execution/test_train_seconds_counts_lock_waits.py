"""Hostile tester 23: `train_seconds` ("training", README) counts the time a trial's
epoch report waited for the study's lock or database.

Found twice: a PostgreSQL server SIGSTOPped for 25 s mid-run gave trial 3 train_seconds
25.3 while its history.csv epochs took 0.26 s in all; the journal's flock held 8 s by
`flock` gave trial 0 train_seconds 9.2 against 1.72 s of epochs. `best`, `trials` and
confirm's `--cost seconds` show that number as training time."""

from __future__ import annotations

import csv
import json
import subprocess

import pytest

from tests.sweep.faults.harness import Running, wait_for


@pytest.mark.slow
def test_train_seconds_leaves_out_a_wait_for_the_journal_lock(run_args, tmp_path):
    studies = tmp_path / "studies"
    args = run_args(studies, "lk", trials=1, jobs=1, epochs=3)
    run = Running(*args, cwd=tmp_path, log=tmp_path / "run")
    trial = studies / "lk" / "trials" / "0000"
    try:
        wait_for((trial / "config.json").exists, 120, "trial 0's config.json", interval=0.005)
        subprocess.run(["flock", str(studies / "lk" / "journal.log.flock"), "sleep", "6"],
                       check=True, timeout=60)
        rc = run.wait(120)
    finally:
        run.close()
    assert rc == 0, run.output()
    epochs = sum(float(r["seconds"]) for r in csv.DictReader(open(trial / "history.csv")))
    train_seconds = json.loads((trial / "metrics.json").read_text())["train_seconds"]
    assert train_seconds < epochs + 2.0, (train_seconds, epochs)

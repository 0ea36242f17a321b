"""Hostile tester 2: `studies -f csv` keeps whole numbers whole."""

from __future__ import annotations

import csv
import io


def test_counts_and_trial_numbers_stay_whole_beside_a_study_with_a_problem(made_study, cli):
    # found: `sweep studies --studies-dir studies -f csv` printed "d5,5.0,5.0,0.0,0.0,0.0,
    # 0.0,0.9132,3.0," (trial number 3.0, 5.0 finished trials) because another study of
    # the folder (a database study read without its password) had empty cells; alone,
    # the same study's row is "d5,5,5,0,0,0,0,0.9132,3,"
    broken = made_study.parent / "broken"
    broken.mkdir()
    (broken / "study.json").write_text("{not json")
    proc = cli("studies", "--studies-dir", made_study.parent, "-f", "csv")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(proc.stdout))}
    assert "broken" in rows and rows["broken"]["problem"], proc.stdout
    done = rows["done"]
    for column in ("finished", "complete", "pruned", "fail", "retried", "running",
                   "best_number"):
        assert done[column].isdigit(), (column, done[column])

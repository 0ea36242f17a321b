"""Hostile tester 7: the report's effect table against the trials behind it (a study in
which no completed trial converged called every setting "never varied")."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow  # a real run
def test_a_setting_that_varied_is_not_called_never_varied(sweep_cli, run_args, tmp_path):
    # found: a 5-trial study of 2 epochs (every completed trial still improving at its last
    # epoch, so none "converged") has the report's table say "never varied" for every
    # setting, hidden_size, lr... though each completed trial has its own value (with 3
    # trials of 1 epoch it says, rightly, "not tested (3 trials, 20 needed)")
    studies = tmp_path / "studies"
    args = [a for a in run_args(studies, "nv", trials=5, jobs=2, epochs=2) if a != "--no-report"]
    proc = sweep_cli(*args)
    assert proc.returncode == 0, proc.stderr
    values = {json.loads(p.read_text())["params"]["hidden_size"]
              for p in (studies / "nv" / "trials").glob("*/trial.json")
              if json.loads(p.read_text())["state"] == "COMPLETE"}
    assert len(values) > 1, values  # hidden_size did vary among the completed trials
    report = (studies / "nv" / "report" / "report.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| hidden_size |")]
    assert rows, report
    assert "never varied" not in rows[0], rows[0]

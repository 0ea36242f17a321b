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


@pytest.mark.parametrize(("completed", "ranked"), [(3, False), (8, True)])
def test_too_few_trials_say_whether_the_settings_are_ranked(tmp_path, completed, ranked):
    # pass 8: with 2 trials the report said "the settings are ranked against the
    # permutation null instead", and no ranking was there (below 5 trials none is made)
    import numpy as np
    from optuna.trial import TrialState

    from sweep.report import prepare
    from sweep.report.effects import analyse
    from sweep.study.results import load
    from tests.sweep.studies import add, api_study

    study, dists, rng = api_study(tmp_path, "few")
    for value in np.linspace(0.8, 0.9, completed):
        add(study, dists, rng, TrialState.COMPLETE, value=float(value))
    analysis = analyse(prepare(load("few", tmp_path)))
    note = next(n for n in analysis.notes() if "no importance share is stated" in n)
    assert ("ranked against the permutation null" in note) == ranked, note
    assert (analysis.importances.mode == "ranks"
            and "no ranking" not in analysis.importances.label) == ranked

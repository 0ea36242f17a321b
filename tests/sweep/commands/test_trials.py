"""``sweep trials`` (sweep/commands/trials.py), in process on a study written through
Optuna: one row per trial, and a running trial's epoch, last value and time so far.
(``--watch``: test_watch.py.)"""

from __future__ import annotations

import csv
import io
import re

from tests.sweep.conftest import load_optuna
from tests.sweep.studies import api_study


def test_trials_csv_has_one_row_per_trial(made_study, tmp_path, cli):
    out = tmp_path / "trials.csv"
    proc = cli("trials", "--csv", out, "--studies-dir", made_study.parent, "--study", "done")
    assert proc.returncode == 0, proc.stderr
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    trials = load_optuna(made_study.parent, "done").get_trials()
    assert len(rows) == len(trials) == 3
    assert [int(r["number"]) for r in rows] == [t.number for t in trials]
    for row, t in zip(rows, trials, strict=True):
        assert row["state"] == t.state.name
        assert float(row["value"]) == t.value
        assert int(row["params_hidden_size"]) == t.params["hidden_size"]
        assert float(row["params_lr"]) == t.params["lr"]
    assert [r["classic"] for r in rows] == ["True", "False", "False"]


def test_trials_table_prints_every_trial(made_study, cli):
    proc = cli("trials", "--studies-dir", made_study.parent, "--study", "done")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["number", "state", "value"]
    assert len(lines) == 1 + 3
    assert all(" complete " in line for line in lines[1:])


def test_a_running_trial_shows_its_epoch_last_value_and_time_so_far(tmp_path, cli):
    """A running trial's last epoch and parameter count stay whole numbers (a column with a
    gap must not turn 2 into 2.0), its duration is the time it has run so far."""
    study, dists, _ = api_study(tmp_path, "live")
    done = study.ask(fixed_distributions=dists)
    done.set_user_attr("parameter_count", 12345)
    study.tell(done, 0.9)
    running = study.ask(fixed_distributions=dists)
    running.report(0.8, 1)
    running.report(0.85, 2)
    proc = cli("trials", "-f", "csv", "--studies-dir", tmp_path, "--study", "live")
    assert proc.returncode == 0, proc.stderr
    rows = {r["state"]: r for r in csv.DictReader(io.StringIO(proc.stdout))}
    r = rows["RUNNING"]
    assert r["last_epoch"] == "2" and float(r["last_value"]) == 0.85
    assert float(r["duration_seconds"]) >= 0 and r["parameter_count"] == ""
    assert re.fullmatch(r"\d+", rows["COMPLETE"]["parameter_count"])

"""A trial's record (sweep/study/records.py), in process: one `TrialOutcome` from Optuna's
trial to trial.json, the trials table and ``sweep best``; counting a study's trials.
One real study: a sampled ``epochs`` keeps a column of its own."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from sweep.study.records import (
    TABLE_COLUMNS,
    TrialOutcome,
    cell,
    columns,
    count,
    read_record,
    retry_links,
)
from sweep.study.results import load

START = datetime(2024, 6, 11, 12, 0, 0)


def frozen(number: int = 0, state: TrialState = TrialState.COMPLETE, value: float | None = 0.9,
           **attrs) -> optuna.trial.FrozenTrial:
    t = create_trial(state=state, value=value if state == TrialState.COMPLETE else None,
                     params={"lr": 0.1}, distributions={"lr": FloatDistribution(1e-3, 1.0)},
                     user_attrs=attrs, intermediate_values={1: 0.8, 2: 0.9})
    t.number = number
    t.datetime_start = START
    t.datetime_complete = START + timedelta(seconds=75) if state.is_finished() else None
    return t


def test_an_outcome_reads_optunas_fields_and_the_workers_attributes():
    o = TrialOutcome.from_frozen(frozen(3, test_accuracy=0.88, epochs_trained=2, seed=7,
                                        classic=True, reason="", pid=11, host="h"))
    assert (o.number, o.state, o.value, o.params) == (3, "COMPLETE", 0.9, {"lr": 0.1})
    assert (o.test_accuracy, o.epochs_trained, o.seed, o.classic, o.pid) == (0.88, 2, 7, True, 11)
    assert o.intermediate_values == {1: 0.8, 2: 0.9} and o.duration_seconds == 75.0
    assert o.to_attrs() == {"test_accuracy": 0.88, "epochs_trained": 2, "seed": 7,
                            "classic": True, "pid": 11, "host": "h"}  # empty and False left out


def test_attributes_under_their_old_names_are_read():
    assert TrialOutcome.from_frozen(frozen(epochs=5)).epochs_trained == 5
    assert TrialOutcome.from_frozen(frozen(epochs=5, epochs_trained=4)).epochs_trained == 4


def test_the_last_epoch_is_the_last_finite_report():
    o = TrialOutcome(0, "PRUNED", intermediate_values={1: 0.5, 2: 0.6, 3: float("nan")})
    assert (o.last_epoch, o.last_value) == (2, 0.6)
    assert TrialOutcome(0, "RUNNING").last_epoch is None


def test_a_running_trials_duration_is_the_time_so_far():
    before = datetime.now()
    running = TrialOutcome(0, "RUNNING", datetime_start=before - timedelta(seconds=30))
    so_far = running.duration_seconds
    elapsed = (datetime.now() - before).total_seconds()
    assert 30 <= so_far <= 30 + elapsed  # now minus the start, read when asked
    assert TrialOutcome(0, "FAIL", datetime_start=START).duration_seconds is None
    assert TrialOutcome(0, "RUNNING").duration_seconds is None


def test_trial_json_is_plain_json_with_every_field():
    o = TrialOutcome.from_frozen(frozen(2, seed=7, traceback="Traceback ..."))
    doc = json.loads(json.dumps(o.to_json()))
    assert doc["datetime_start"] == START.isoformat()
    assert doc["intermediate_values"] == {"1": 0.8, "2": 0.9}
    assert doc["traceback"] == "Traceback ..." and doc["number"] == 2
    assert "traceback" not in TrialOutcome.from_frozen(frozen()).to_json()


def test_the_table_has_the_fields_then_the_sampled_settings():
    assert columns(["lr", "hidden_size"]) == [*TABLE_COLUMNS[:4], "params_lr",
                                              "params_hidden_size", *TABLE_COLUMNS[4:]]
    row = TrialOutcome.from_frozen(frozen(test_accuracy=0.88)).row()
    assert set(row) == set(TABLE_COLUMNS) | {"params_lr"}
    assert (row["last_epoch"], row["params_lr"]) == (2, 0.1)


def test_a_trial_in_one_line():
    o = TrialOutcome(7, "COMPLETE", 0.98765, {"hidden_size": 512, "l2": 1e-4, "lr": 0.00316},
                     test_accuracy=0.9801, experiment_dir="studies/x/trials/0007")
    assert o.line() == ("trial 7: value 98.77%, test accuracy 98.01% (hidden_size=512, "
                        "l2=1.0e-04, lr=0.00316) -> studies/x/trials/0007")
    failed = TrialOutcome(8, "FAIL", params={"lr": 0.5})
    assert failed.line() == "trial 8: fail (lr=0.5)"  # no folder here: none named


@pytest.mark.parametrize(("name", "value", "shown"), [
    ("value", 0.98765, "98.77%"), ("last_value", None, "–"), ("test_accuracy", float("nan"), "–"),
    ("state", "COMPLETE", "complete"), ("worker_peak_rss_mb", 331.6, "332"),
    ("classic", True, "yes"), ("diverged", False, ""), ("params_lr", 1e-4, "1.0e-04"),
    ("datetime_start", START, "2024-06-11 12:00:00"), ("parameter_count", 12345, "12345"),
])
def test_a_cell_reads_as_a_screen_table_shows_it(name, value, shown):
    assert cell(name, value) == shown


def test_counts_leave_a_retried_failure_out_of_the_finished():
    trials = [frozen(0), frozen(1, TrialState.PRUNED), frozen(2, TrialState.FAIL),
              frozen(3, TrialState.FAIL, lost=True), frozen(4, TrialState.RUNNING),
              frozen(5, TrialState.COMPLETE, retry_of=3),
              frozen(6, TrialState.FAIL, lost=True), frozen(7, TrialState.WAITING, retry_of=6)]
    assert retry_links(trials) == {3: 5, 6: 7}
    c = count(trials)
    assert (c.complete, c.pruned, c.failed, c.running, c.retried, c.retries_waiting) == \
        (2, 1, 1, 1, 2, 1)
    assert c.finished == 4
    assert c.retried_text() == "; 2 lost and retried, 1 retry waiting"
    assert count(trials[:3]).retried_text() == ""


def test_a_trial_json_as_it_is(tmp_path):
    assert read_record(tmp_path) == {}
    (tmp_path / "trial.json").write_text('{"state": "COMPLETE"}')
    assert read_record(tmp_path) == {"state": "COMPLETE"}
    for damaged in ("{not json", "[1, 2]"):
        (tmp_path / "trial.json").write_text(damaged)
        assert read_record(tmp_path) == {}, damaged


@pytest.mark.slow
def test_a_sampled_epochs_setting_keeps_its_own_column(tmp_path, data_args, sweep_cli):
    """``epochs`` sampled: the trials table has params_epochs and one epochs_trained, and
    ``best`` and the report read it."""
    path = tmp_path / "space.toml"
    path.write_text("[params.epochs]\ntype = \"int\"\nlow = 1\nhigh = 2\n"
                    "[params.hidden_size]\nlow = 16\nhigh = 32\n")
    studies = tmp_path / "s"
    proc = sweep_cli("run", "--trials", 3, "--jobs", 1, *data_args, "--space", path,
                     "--studies-dir", studies, "--study", "e", "--no-plots", "--no-report",
                     "--quiet")
    assert proc.returncode == 0, proc.stderr
    best = sweep_cli("best", "--json", "--studies-dir", studies, "--study", "e")
    doc = json.loads(best.stdout)["best"][0]
    assert doc["params"]["epochs"] in (1, 2) and doc["epochs_trained"] == doc["params"]["epochs"]
    header = list(load("e", studies).trials.columns)
    assert "params_epochs" in header and header.count("epochs_trained") == 1
    report = sweep_cli("report", "--studies-dir", studies, "--study", "e")
    assert report.returncode == 0, report.stderr
    assert (studies / "e" / "report" / "index.html").is_file()

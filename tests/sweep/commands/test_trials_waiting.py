"""`sweep trials` lists every trial, the waiting ones too: hostile tester 6 found lost
trials naming their retries in `retried_as` while the retries (waiting after a run cut
short by --timeout) were in no listing and no `--state` asked for them."""

from __future__ import annotations

import csv
import io
import json

from optuna.trial import TrialState

from tests.sweep.studies import add, api_study


def test_a_waiting_retry_is_listed_with_its_settings_and_can_be_asked_for(tmp_path, cli):
    study, dists, rng = api_study(tmp_path, "cut")  # the classic one waits as trial 0
    add(study, dists, rng, TrialState.COMPLETE, value=0.9)
    add(study, dists, rng, TrialState.FAIL, lost=True, reason="interrupted")
    lost = study.get_trials()[2]
    study.enqueue_trial(lost.params, user_attrs={"retry_of": 2})
    where = ("--study", "cut", "--studies-dir", tmp_path)
    rows = list(csv.DictReader(io.StringIO(cli("trials", *where, "-f", "csv").stdout)))
    assert [(r["number"], r["state"]) for r in rows] == [
        ("0", "WAITING"), ("1", "COMPLETE"), ("2", "FAIL"), ("3", "WAITING")]
    assert rows[2]["retried_as"] == "3" and rows[0]["classic"] == "True"
    assert float(rows[3]["params_lr"]) == lost.params["lr"]  # what it will train
    doc = json.loads(cli("trials", *where, "--state", "waiting", "-f", "json").stdout)
    assert [(t["number"], t["retry_of"]) for t in doc["trials"]] == [(0, None), (3, 2)]
    screen = cli("trials", *where).stdout
    assert "waiting" in screen.splitlines()[-1], screen


def test_studies_counts_the_waiting_trials(tmp_path, cli):
    """Pass 8: `sweep studies` had no column for the trials `trials --state waiting` lists."""
    study, dists, rng = api_study(tmp_path, "cut")  # the classic one waits as trial 0
    add(study, dists, rng, TrialState.FAIL, lost=True, reason="interrupted")
    study.enqueue_trial(study.get_trials()[1].params, user_attrs={"retry_of": 1})
    rows = list(csv.DictReader(io.StringIO(
        cli("studies", "--studies-dir", tmp_path, "-f", "csv").stdout)))
    assert [(r["name"], r["waiting"], r["retried"], r["finished"]) for r in rows] == [
        ("cut", "2", "1", "0")]


def test_an_empty_columns_list_is_refused(made_study, cli, check_error):
    """Hostile tester 10: `trials --columns ''` showed every column instead."""
    proc = cli("trials", "--study", "done", "--studies-dir", made_study.parent,
               "--columns", "")
    check_error(proc, 2, "--columns: name at least one column")


def test_a_column_named_twice_is_refused(made_study, cli, check_error):
    """Hostile tester 12: `--columns number,number` printed the column twice."""
    for given in ("number,number", "lr,params_lr"):
        proc = cli("trials", "--study", "done", "--studies-dir", made_study.parent,
                   "--columns", given)
        check_error(proc, 2, f"--columns {given}", "named twice")


def test_doctor_on_a_database_study_says_where_it_lives(tmp_path, cli, check_error):
    """Hostile tester 10: doctor on a database study's folder said "no study journal"."""
    folder = tmp_path / "db"
    folder.mkdir()
    (folder / "study.json").write_text(json.dumps(
        {"name": "db", "storage": "postgresql://u:***@db.example/x", "created": "now"}))
    proc = cli("doctor", "--study", "db", "--studies-dir", tmp_path)
    line = check_error(proc, 2, "lives in postgresql://u:***@db.example/x",
                       "doctor repairs journal files")
    assert "***" in line

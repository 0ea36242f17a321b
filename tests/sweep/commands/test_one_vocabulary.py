"""One name per concept: the keys of ``trials -f json`` and ``best -f json``, the columns of
``trials -f csv`` and of ``sweep.load().trials``, the headers of ``--watch``, of the run's
trial rows and of the screen tables are the same names. --watch ends by itself on a
study with nothing running or waiting."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time

import pytest

from sweep.study.records import PARAMS_PREFIX
from sweep.study.results import load

pytestmark = pytest.mark.slow

OWN_TO_JSON = {"intermediate_values"}  # what only the JSON export holds: a dict per trial


def _flat(record: dict) -> set[str]:
    """A JSON record's keys as a flat table names them: params_<name> per setting."""
    keys = set(record) - {"params"} - OWN_TO_JSON
    return keys | {PARAMS_PREFIX + name for name in record["params"]}


def _screen_names(header: str, params: list[str]) -> set[str]:
    """A screen table's header as flat column names (a setting is headed by its name)."""
    return {PARAMS_PREFIX + n if n in params else n for n in header.split()}


def test_every_format_and_view_names_a_concept_alike(main_study, sweep_cli):
    where = ["--studies-dir", main_study.studies_dir, "--study", main_study.name]
    api = load(main_study.name, main_study.studies_dir)
    params = api.param_names
    columns = set(api.trials.columns)
    for name in ("number", "state", "value", "test_accuracy", "last_epoch", "last_value",
                 "epochs_trained", "train_seconds", "duration_seconds"):
        assert name in columns, name

    trials_json = json.loads(sweep_cli("trials", *where, "-f", "json").stdout)["trials"]
    best_json = json.loads(sweep_cli("best", *where, "-f", "json", "--top", 2).stdout)["best"]
    trials_csv = next(csv.reader(io.StringIO(sweep_cli("trials", *where, "-f", "csv").stdout)))
    best_csv = next(csv.reader(io.StringIO(sweep_cli("best", *where, "-f", "csv").stdout)))
    assert all(_flat(r) == columns for r in trials_json + best_json)
    assert set(trials_json[0]) == set(best_json[0])
    assert set(trials_csv) == set(best_csv) == columns
    assert trials_csv == list(api.trials.columns)

    # the screen tables: trials, best (with its rank), and the run's trial rows
    table = sweep_cli("trials", *where).stdout.splitlines()[0]
    assert _screen_names(table, params) <= columns
    best = sweep_cli("best", *where).stdout.splitlines()[0]
    assert _screen_names(best, params) - {"rank"} <= columns

    # --watch, off a terminal: the study has finished, so the view ends by itself
    started = time.monotonic()
    watched = subprocess.run([sys.executable, "-m", "sweep", "trials", "--watch", "0.5",
                              *map(str, where)], capture_output=True, text=True, timeout=120)
    assert watched.returncode == 0, watched.stderr
    assert time.monotonic() - started < 60
    frames = watched.stdout.split("study 'main': ")[1:]
    assert len(frames) >= 2
    assert "no trial running or waiting; the view ends" in frames[-1]
    assert "the view ends" not in "".join(frames[:-1])
    header = next(line for line in frames[-1].splitlines() if line.lstrip().startswith("number"))
    assert _screen_names(header, params) <= columns
    assert "val " not in watched.stdout and "best value" in watched.stdout


def test_the_run_rows_use_the_trials_names(tmp_path, run_args, sweep_cli):
    args = [a for a in run_args(tmp_path / "studies", "rows", trials=2) if a != "--quiet"]
    proc = sweep_cli(*args)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    header = next(line for line in lines if line.split()[:2] == ["number", "state"])
    api = load("rows", tmp_path / "studies")
    assert _screen_names(header, api.param_names) <= set(api.trials.columns)
    assert sum(bool(re.match(r"^\s*\d+\s+complete\b", line)) for line in lines) == 2
    assert f"best: trial {api.best_outcomes(1)[0].number}: value " in proc.stdout
    quiet = sweep_cli(*run_args(tmp_path / "studies", "rows", trials=3))
    assert quiet.returncode == 0, quiet.stderr
    assert not re.search(r"^\s*number\s+state|^\s*\d+\s+complete", quiet.stderr, re.M)
    assert "3 of 3 trials finished" in quiet.stdout

"""``trials --columns/--sort/--state``, ``--watch`` ending when the study's run does, and
every flag of every command with help text and a metavar."""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys

import pytest

from sweep.commands.cli import COMMANDS, build_parser
from sweep.study.results import load
from tests.sweep.faults.harness import Running, sweep_env, wait_for

pytestmark = pytest.mark.slow


def _csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_columns_sort_and_state(main_study, sweep_cli, check_error):
    where = ["--studies-dir", main_study.studies_dir, "--study", main_study.name]
    api = load(main_study.name, main_study.studies_dir)

    picked = sweep_cli("trials", *where, "--columns", "number,value,lr,params_batch_size")
    assert picked.returncode == 0, picked.stderr
    lines = picked.stdout.splitlines()
    assert lines[0].split() == ["number", "value", "lr", "batch_size"]
    assert len(lines) == 1 + main_study.trials
    rows = _csv(sweep_cli("trials", *where, "-f", "csv", "--columns", "number,lr").stdout)
    assert list(rows[0]) == ["number", "params_lr"]

    by_value = _csv(sweep_cli("trials", *where, "-f", "csv", "--sort", "value").stdout)
    values = [float(r["value"]) for r in by_value]
    assert values == sorted(values, reverse=True)  # an accuracy: best first
    assert int(by_value[0]["number"]) == api.best_outcomes(1)[0].number
    by_lr = _csv(sweep_cli("trials", *where, "-f", "csv", "--sort", "lr").stdout)
    assert [float(r["params_lr"]) for r in by_lr] == sorted(float(r["params_lr"])
                                                            for r in by_lr)
    by_time = json.loads(sweep_cli("trials", *where, "-f", "json", "--sort",
                                   "train_seconds").stdout)["trials"]
    times = [t["train_seconds"] for t in by_time]
    assert times == sorted(times)  # not an accuracy: ascending

    complete = _csv(sweep_cli("trials", *where, "-f", "csv", "--state", "complete").stdout)
    assert len(complete) == main_study.trials  # the main study prunes nothing
    for given in (["--state", "pruned"], ["--state", "fail,running"],
                  ["--state", "fail", "--state", "pruned"]):
        none = sweep_cli("trials", *where, "-f", "json", *given)
        assert none.returncode == 0 and json.loads(none.stdout)["trials"] == [], none.stderr
    check_error(sweep_cli("trials", *where, "--state", "done"), 2, "--state done",
                "complete, pruned, fail, running")
    check_error(sweep_cli("trials", *where, "--sort", "val"), 2, "--sort val", "value")
    check_error(sweep_cli("trials", *where, "--columns", "number,trial"), 2,
                "--columns trial", "number")
    check_error(sweep_cli("trials", *where, "--watch", "1", "--sort", "value"), 2, "--watch")


def test_watch_ends_when_the_run_is_over(tmp_path, run_args):
    """Started while a study runs, --watch keeps drawing while trials run, then stops
    by itself (exit 0) with a last frame saying so."""
    run = Running(*run_args(tmp_path / "studies", "live", trials=4, jobs=2, epochs=2),
                  cwd=tmp_path, log=tmp_path / "run", faults={"SWEEP_FAULT_SLEEP": 0.5})
    try:
        wait_for(lambda: (tmp_path / "studies" / "live" / "study.json").is_file(), 60,
                 "the study to be created")
        watched = subprocess.run([sys.executable, "-m", "sweep", "trials", "--watch", "0.5",
                                  "--study", "live", "--studies-dir", str(tmp_path / "studies")],
                                 cwd=tmp_path, env=sweep_env(), capture_output=True, text=True,
                                 timeout=300)
        assert run.wait(60) == 0, run.output()
    finally:
        run.close()
    assert watched.returncode == 0, watched.stderr
    frames = watched.stdout.split("study 'live': ")[1:]
    assert any(" running" in f.splitlines()[0] and not f.startswith("4 finished")
               for f in frames), frames[:3]  # it watched trials run
    assert frames[-1].startswith("4 finished (4 completed, 0 pruned, 0 failed), 0 running")
    assert "no trial running or waiting; the view ends" in frames[-1]


def test_every_flag_has_help_and_a_metavar_and_descriptions_are_prose(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: help still wraps at 100
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(COMMANDS)
    for name, command in sub.choices.items():
        text = command.description or ""
        for markup in ("``", "`", ".py", "sweep/", "sweep.", "\n", "  "):
            assert markup not in text, (name, markup, text)
        for action in command._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            assert action.help, (name, action.option_strings)
            if action.nargs != 0:  # a metavar of its own (argparse's is the dest), or choices
                assert action.metavar or action.choices, (name, action.option_strings)
                assert action.metavar != "VALUE", (name, action.option_strings)
        assert max(len(line) for line in command.format_help().splitlines()) <= 100, name

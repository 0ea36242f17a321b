"""One output option on every reading command, environment defaults, --version, pipes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("command", ["best", "trials", "studies"])
def test_every_reading_command_speaks_table_json_and_csv(command, main_study, sweep_cli):
    where = ["--studies-dir", main_study.studies_dir]
    if command != "studies":
        where += ["--study", main_study.name]
    outputs = {}
    for fmt in ("table", "json", "csv"):
        proc = sweep_cli(command, *where, "-f", fmt)
        assert proc.returncode == 0, proc.stderr
        outputs[fmt] = proc.stdout
    doc = json.loads(outputs["json"])
    rows = list(csv.DictReader(io.StringIO(outputs["csv"])))
    if command == "trials":
        assert len(doc["trials"]) == len(rows) == main_study.trials
        assert [t["number"] for t in doc["trials"]] == [int(r["number"]) for r in rows]
        assert "params_hidden_size" in rows[0]
    elif command == "best":
        assert doc["best"][0]["number"] == int(rows[0]["number"])
        assert outputs["table"].splitlines()[1].split()[:2] == ["1", str(doc["best"][0]["number"])]
    else:
        assert doc["studies"][0]["name"] == rows[0]["name"] == main_study.name
        assert int(rows[0]["finished"]) == main_study.trials


def test_out_writes_a_file_and_env_variables_name_the_study(main_study, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWEEP_")}
    env |= {"SWEEP_STUDY": main_study.name, "SWEEP_STUDIES_DIR": str(main_study.studies_dir)}
    out = tmp_path / "best.json"
    proc = subprocess.run([sys.executable, "-m", "sweep", "best", "-f", "json", "--out", out],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["study"] == main_study.name


def test_version_and_a_closed_pipe(main_study, sweep_cli):
    proc = sweep_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("sweep 0."), proc.stdout
    cmd = [sys.executable, "-m", "sweep", "trials", "-f", "json", "--studies-dir",
           str(main_study.studies_dir), "--study", main_study.name]
    reader = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader.stdout.close()  # the reader is gone before anything is written, like `| head -0`
    _, err = reader.communicate(timeout=120)
    assert b"Traceback" not in err and b"error" not in err, err


def test_help_lists_the_choices_and_every_command_has_a_description(sweep_cli):
    from mlp.config import DATASETS, SCHEDULES
    from sweep.commands.cli import COMMANDS, build_parser
    from sweep.study.samplers import PRUNERS, SAMPLERS

    build_parser()  # every command's module is where the table says, with its two functions

    run = sweep_cli("run", "--help").stdout
    for choices in (DATASETS, SAMPLERS, PRUNERS):
        assert "{" + ",".join(choices) + "}" in run, (choices, run)
    assert "{" + ",".join(DATASETS) + "}" in sweep_cli("data", "--help").stdout
    assert "{" + ",".join(SCHEDULES) + "}" in sweep_cli("train", "--help").stdout
    top = sweep_cli("--help").stdout
    for name, help_line in COMMANDS.items():
        assert help_line and name in top
        assert sweep_cli(name, "--help").returncode == 0


def test_counts_and_epochs_are_whole_numbers_in_every_format(main_study, sweep_cli):
    where = ["--studies-dir", main_study.studies_dir, "--study", main_study.name]
    for command in ("trials", "best"):
        rows = list(csv.DictReader(io.StringIO(
            sweep_cli(command, *where, "-f", "csv").stdout)))
        assert rows
        for row in rows:
            for column in ("number", "parameter_count", "epochs_trained", "last_epoch",
                           "params_hidden_size", "params_batch_size"):
                assert row[column].isdigit(), (command, column, row[column])


@pytest.mark.parametrize(("args", "needle"), [
    (["--watch", "0"], "--watch 0"),
    (["--watch", "nan"], "--watch nan"),
    (["--watch", "1", "-f", "json"], "--watch"),
    (["--watch", "1", "--out", "x.txt"], "--watch"),
])
def test_bad_watch_options_are_usage_errors(args, needle, main_study, sweep_cli, check_error,
                                            tmp_path):
    proc = sweep_cli("trials", "--studies-dir", main_study.studies_dir, "--study",
                     main_study.name, *args, cwd=tmp_path, timeout=60)
    check_error(proc, 2, needle)
    assert not (tmp_path / "x.txt").exists()

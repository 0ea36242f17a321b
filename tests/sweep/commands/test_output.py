"""How the reading commands print (sweep/commands/output.py), in process: a table, JSON or
CSV, to the screen or ``--out FILE``; and an export never lands on a study's files, its
storage, a link, a device or a pipe."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import sqlite3

import pytest

from tests.sweep.studies import finished_study


@pytest.mark.parametrize("command", ["best", "trials", "studies"])
def test_every_reading_command_speaks_table_json_and_csv(command, made_study, cli):
    where = ["--studies-dir", made_study.parent]
    if command != "studies":
        where += ["--study", "done"]
    outputs = {}
    for fmt in ("table", "json", "csv"):
        proc = cli(command, *where, "-f", fmt)
        assert proc.returncode == 0, proc.stderr
        outputs[fmt] = proc.stdout
    doc = json.loads(outputs["json"])
    rows = list(csv.DictReader(io.StringIO(outputs["csv"])))
    if command == "trials":
        assert len(doc["trials"]) == len(rows) == 3
        assert [t["number"] for t in doc["trials"]] == [int(r["number"]) for r in rows]
        assert "params_hidden_size" in rows[0]
    elif command == "best":
        assert doc["best"][0]["number"] == int(rows[0]["number"]) == 2
        assert outputs["table"].splitlines()[1].split()[:2] == ["1", "2"]
    else:
        assert doc["studies"][0]["name"] == rows[0]["name"] == "done"
        assert int(rows[0]["finished"]) == 3


def test_counts_and_epochs_are_whole_numbers_in_every_format(made_study, cli):
    where = ["--studies-dir", made_study.parent, "--study", "done"]
    for command in ("trials", "best"):
        rows = list(csv.DictReader(io.StringIO(cli(command, *where, "-f", "csv").stdout)))
        assert rows
        for row in rows:
            for column in ("number", "parameter_count", "epochs_trained", "last_epoch",
                           "params_hidden_size", "params_batch_size"):
                assert row[column].isdigit(), (command, column, row[column])
        doc = json.loads(cli(command, *where, "-f", "json").stdout)
        first = (doc.get("trials") or doc["best"])[0]
        assert isinstance(first["epochs_trained"], int) and isinstance(first["number"], int)


def test_out_writes_the_file_and_says_where(made_study, tmp_path, cli):
    out = tmp_path / "trials.csv"
    proc = cli("trials", "--csv", out, "--studies-dir", made_study.parent, "--study", "done")
    assert proc.returncode == 0, proc.stderr
    assert len(list(csv.DictReader(out.open(newline="")))) == 3
    again = cli("trials", "-f", "json", "--out", out, "--studies-dir", made_study.parent,
                "--study", "done")
    assert again.returncode == 0 and json.loads(out.read_text())["trials"], again.stderr


@pytest.mark.parametrize("command", ["trials", "best", "studies"])
def test_out_dash_is_standard_output(command, made_study, tmp_path, cli):
    """Hostile pass 13: `--out -` wrote a file named "-"."""
    where = ["--studies-dir", made_study.parent] + (["--study", "done"]
                                                    if command != "studies" else [])
    proc = cli(command, "-f", "csv", "--out", "-", *where, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == cli(command, "-f", "csv", *where, cwd=tmp_path).stdout
    assert "done" in proc.stdout and not (tmp_path / "-").exists()


def test_no_export_lands_on_any_study_its_storage_or_a_special_file(tmp_path, cli,
                                                                   check_error):
    """Onto a journal, another study's study.json or trial file, a new file inside a study
    folder, a copy of a journal outside any study, a SQLite database, a FIFO or a link:
    refused with one line naming the target, exit 2, nothing changed."""
    studies = tmp_path / "studies"
    finished_study(studies, "done")
    finished_study(studies, "other")
    journal = studies / "done" / "journal.log"
    copy = tmp_path / "elsewhere.log"  # a copy of a journal outside any study folder
    shutil.copy(journal, copy)
    database = tmp_path / "o.db"  # any SQLite database: it may hold a study
    with contextlib.closing(sqlite3.connect(database)) as con:
        con.execute("CREATE TABLE studies (id INTEGER)")
        con.commit()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "target.txt")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    targets = {journal: str(journal), studies / "other" / "study.json": "inside the study",
               studies / "other" / "trials" / "0000" / "trial.json": "inside the study",
               studies / "done" / "new.csv": "inside the study", copy: "storage",
               database: "storage", fifo: "not a regular file", link: "not a regular file"}
    where = ["--studies-dir", studies]
    for target, why in targets.items():
        check_error(cli("trials", *where, "--study", "done", "-f", "csv", "--out", target), 2,
                    str(target), why)
        check_error(cli("trials", *where, "--study", "done", "--csv", target), 2, "--csv", why)
    for command in (["studies", *where], ["best", *where, "--study", "done"]):  # one check
        check_error(cli(*command, "-f", "json", "--out", journal), 2, str(journal))
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    assert fifo.exists() and not fifo.is_file() and link.is_symlink()
    assert not (tmp_path / "target.txt").exists()
    assert not (studies / "done" / "new.csv").exists()


@pytest.mark.parametrize("command", ["best", "trials", "studies"])
def test_out_takes_its_format_from_its_suffix_unless_told(command, made_study, tmp_path, cli):
    """Hostile tester 22: ``best --out x.csv`` wrote the screen's table into x.csv, and
    made the missing folder it named. The suffix names the format where -f does not;
    -f still wins; a folder that is not there is refused, nothing written."""
    where = ["--studies-dir", made_study.parent] + (["--study", "done"] if command != "studies"
                                                    else [])
    as_csv, as_json, as_text = tmp_path / "x.CSV", tmp_path / "x.json", tmp_path / "x.txt"
    for out in (as_csv, as_json, as_text):
        proc = cli(command, *where, "--out", out)
        assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.read_text())))
    assert rows and "number" in rows[0] or "name" in rows[0], as_csv.read_text()
    assert isinstance(json.loads(as_json.read_text()), dict)
    assert "table -> " in proc.stdout and not as_text.read_text().startswith("{")
    told = cli(command, *where, "-f", "table", "--out", tmp_path / "told.csv")
    assert told.returncode == 0 and "table -> " in told.stdout, told.stderr
    missing = tmp_path / "no" / "such" / "x.csv"
    refused = cli(command, *where, "--out", missing)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().endswith(f"--out {missing}: no folder {missing.parent}; "
                                           "make it first"), refused.stderr
    assert not (tmp_path / "no").exists()

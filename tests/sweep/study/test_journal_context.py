"""Hostile tester 8: journal records of a known kind whose fields look valid but do not
fit the study (journal_records.JournalContext): every command stops with one line naming
the file and line, and doctor finds it."""

from __future__ import annotations

import json
from pathlib import Path


def _rewrite(journal: Path, pick, change) -> int:
    lines = journal.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        rec = json.loads(line)
        if pick(rec):
            change(rec)
            lines[i] = json.dumps(rec) + "\n"
            journal.write_text("".join(lines))
            return i + 1
    raise AssertionError("no such record")


def _complete(rec: dict) -> bool:
    return rec.get("op_code") == 6 and rec.get("state") == 1


def test_two_values_on_a_single_objective_trial_is_named_not_a_traceback(cli, made_study):
    """A COMPLETE record with values [a, b] on a one-objective study: `trials` dies with
    Optuna's RuntimeError traceback ("not available during multi-objective")."""
    journal = made_study / "journal.log"
    line = _rewrite(journal, _complete, lambda r: r.update(values=[0.9, 0.8]))
    studies = made_study.parent
    for command in ("trials", "best"):
        got = cli(command, "--studies-dir", studies, "--study", "done")
        assert got.returncode == 1, (command, got)
        assert "Traceback" not in got.stderr
        assert f"line {line}" in got.stderr and "journal.log" in got.stderr, got.stderr


def test_doctor_reports_two_values_on_a_single_objective_trial(cli, made_study):
    journal = made_study / "journal.log"
    line = _rewrite(journal, _complete, lambda r: r.update(values=[0.9, 0.8]))
    got = cli("doctor", "--check", "--studies-dir", made_study.parent, "--study", "done")
    assert "no damage" not in got.stdout + got.stderr
    assert f"line {line}" in got.stdout + got.stderr


def test_trial_created_in_a_study_that_does_not_exist_is_damage(cli, made_study):
    """A trial-creation record naming study_id 1 (the journal holds only study 0): the
    trials after it silently take other trials' numbers and records (trial 1 shows no
    params, the last trial disappears), and doctor says "no damage"."""
    journal = made_study / "journal.log"
    creations = [i for i, ln in enumerate(journal.read_text().splitlines())
                 if json.loads(ln).get("op_code") == 4]
    second = creations[1]
    seen = iter(range(10**6))
    line = _rewrite(journal, lambda r: r.get("op_code") == 4 and next(seen) == 1,
                    lambda r: r.update(study_id=1))
    assert line == second + 1
    got = cli("doctor", "--check", "--studies-dir", made_study.parent, "--study", "done")
    assert "no damage" not in got.stdout + got.stderr, got.stdout
    listed = cli("trials", "--studies-dir", made_study.parent, "--study", "done")
    assert listed.returncode == 1 and f"line {line}" in listed.stderr, listed.stdout


def test_a_duplicated_trial_creation_is_damage_that_doctor_drops(cli, made_study):
    """A trial-creation line written twice, byte for byte (the same worker and start
    time: no two real creations look so): a phantom RUNNING trial appeared and doctor
    said "no damage". Now every reader names the line, and doctor drops the copy."""
    journal = made_study / "journal.log"
    where = ("--studies-dir", made_study.parent, "--study", "done")
    before = cli("trials", *where, "-f", "csv")
    lines = journal.read_text().splitlines(keepends=True)
    creations = [i for i, ln in enumerate(lines) if json.loads(ln).get("op_code") == 4]
    at = creations[1]
    journal.write_text("".join(lines[:at + 1] + [lines[at]] + lines[at + 1:]))
    listed = cli("trials", *where)
    assert listed.returncode == 1 and f"line {at + 2} is damaged (a copy of an earlier " \
        "trial's creation" in listed.stderr, listed.stderr
    fixed = cli("doctor", *where)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    after = cli("trials", *where, "-f", "csv")
    assert after.stdout == before.stdout

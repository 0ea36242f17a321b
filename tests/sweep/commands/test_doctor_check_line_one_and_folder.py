"""Hostile tester 23: doctor on a damaged study creation and on a journal that is not a
regular file.

- `doctor --check` on a journal whose line 1 (the study's creation) is damaged ends with
  "N damaged lines; run without --check to repair", yet `doctor` then refuses ("line 1
  held the study's creation ... nothing was changed (restore the journal from a copy)").
  The check should say what every reader says: restore from a copy.
- `doctor` on a journal.log that is a folder (or a FIFO) says "no study journal at ...",
  while every other command says "is not a regular file".
"""

from __future__ import annotations

import os

from tests.sweep.conftest import one_clear_line


def _where(study):
    return ("--study", study.name, "--studies-dir", study.parent)


def test_doctor_check_on_a_damaged_creation_does_not_advise_a_repair_that_refuses(
        made_study, cli):
    journal = made_study / "journal.log"
    lines = journal.read_bytes().split(b"\n")
    lines[0] = b"X" + lines[0]
    journal.write_bytes(b"\n".join(lines))
    check = cli("doctor", "--check", *_where(made_study))
    repair = cli("doctor", *_where(made_study))
    assert repair.returncode == 1 and "creation" in repair.stderr, repair.stderr
    said = check.stdout + check.stderr
    assert "run without --check to repair" not in said, said
    assert "copy" in said, said


def test_doctor_on_a_journal_that_is_a_folder_says_not_a_regular_file(made_study, cli):
    journal = made_study / "journal.log"
    journal.unlink()
    journal.mkdir()
    best = cli("best", *_where(made_study))
    assert "not a regular file" in best.stderr, best.stderr
    for args in (("doctor",), ("doctor", "--check")):
        proc = cli(*args, *_where(made_study))
        line = one_clear_line(proc, str(journal))
        assert "not a regular file" in line, line


def test_doctor_on_a_journal_that_is_a_fifo_says_not_a_regular_file(made_study, cli):
    journal = made_study / "journal.log"
    journal.unlink()
    os.mkfifo(journal)
    proc = cli("doctor", "--check", *_where(made_study))
    line = one_clear_line(proc, str(journal))
    assert "not a regular file" in line, line


def test_doctor_on_an_empty_journal_says_it_is_empty(made_study, cli):
    """Hostile tester 23 (unsure): an empty journal.log was "every line is a record, but
    the study does not load: no study named ...", where the readers say "missing or
    empty"."""
    (made_study / "journal.log").write_bytes(b"")
    for args in (("doctor",), ("doctor", "--check")):
        proc = cli(*args, *_where(made_study))
        line = one_clear_line(proc, str(made_study / "journal.log"))
        assert "is empty" in line and proc.returncode == 1, line

"""Damage that touches a record's meaning, not only its bytes (sweep/commands/doctor.py).
A record of a kind Optuna does not know is one line naming the file for every reader,
not Optuna's "Should not reach" traceback. A trial's creation is the one record that
cannot be dropped: trials are numbered by the order of their creations, so every later
trial would take another's number and records. Doctor recovers such a record where its
bytes are intact, and refuses the repair where they are not."""

from __future__ import annotations

import json
from pathlib import Path

import optuna

from sweep.study.storage import open_storage
from tests.sweep.conftest import error_lines


def _trials(journal: Path) -> dict[int, tuple[str, float | None, dict]]:
    study = optuna.load_study(study_name="done", storage=open_storage(journal))
    return {t.number: (t.state.name, t.value, t.params) for t in study.get_trials()}


def _creations(lines: list[bytes]) -> list[int]:
    return [i for i, ln in enumerate(lines) if ln.strip() and json.loads(ln)["op_code"] == 4]


def test_a_record_of_unknown_kind_is_one_line_for_every_reader(cli, made_study):
    journal = made_study / "journal.log"
    lines = journal.read_bytes().splitlines(keepends=True)
    at = len(lines) // 2
    lines.insert(at, b'{"op_code": 99, "worker_id": "w"}\n')
    journal.write_bytes(b"".join(lines))
    where = ["--study", "done", "--studies-dir", made_study.parent]
    for command in ("trials", "best", "report"):
        proc = cli(command, *where)
        assert proc.returncode == 1, (command, proc.returncode, proc.stderr)
        assert "Traceback" not in proc.stderr and len(error_lines(proc.stderr)) == 1
        assert f"line {at + 1} is damaged (a record of unknown kind " \
               "(op_code 99))" in proc.stderr, proc.stderr
    check = cli("doctor", "--check", *where)
    assert f"line {at + 1}: a record of unknown kind" in check.stdout


def test_a_trial_creation_behind_junk_bytes_is_recovered_with_every_trial_as_it_was(
        cli, made_study):
    journal = made_study / "journal.log"
    before = _trials(journal)
    lines = journal.read_bytes().splitlines(keepends=True)
    first = _creations(lines)[0]
    lines[first] = b"\xff\xfe" + lines[first]  # trial 0's creation: not UTF-8 any more
    journal.write_bytes(b"".join(lines))
    proc = cli("doctor", "--study", "done", "--studies-dir", made_study.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"line {first + 1}: not UTF-8; 1 whole record recovered from it" in proc.stdout
    assert "keeping the 1 whole record inside them" in proc.stdout, proc.stdout
    assert _trials(journal) == before


def test_a_torn_trial_creation_is_refused_and_nothing_changes(cli, made_study):
    journal = made_study / "journal.log"
    lines = journal.read_bytes().splitlines(keepends=True)
    first = _creations(lines)[0]
    lines[first] = lines[first][:30] + b"\n"  # cut inside the record: its bytes are lost
    damaged = b"".join(lines)
    journal.write_bytes(damaged)
    proc = cli("doctor", "--study", "done", "--studies-dir", made_study.parent)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"line {first + 1} held a trial's creation" in proc.stderr, proc.stderr
    assert "nothing was changed" in proc.stderr and len(error_lines(proc.stderr)) == 1
    assert journal.read_bytes() == damaged
    assert not list(journal.parent.glob("journal.log.damaged-*"))


def test_a_creation_lost_without_a_trace_is_found_by_the_numbers_it_leaves(cli, made_study):
    """Junk with no sign of what it was, where trial 0's creation stood: the records of
    trial 0 that follow name a trial not yet created, so the repair is refused."""
    journal = made_study / "journal.log"
    lines = journal.read_bytes().splitlines(keepends=True)
    first = _creations(lines)[0]
    lines[first] = b"\x00\x00\x00 junk\n"
    damaged = b"".join(lines)
    journal.write_bytes(damaged)
    proc = cli("doctor", "--study", "done", "--studies-dir", made_study.parent)
    assert proc.returncode == 1 and "held a trial's creation" in proc.stderr, proc.stderr
    assert journal.read_bytes() == damaged


def test_a_record_glued_behind_a_torn_one_is_recovered(cli, made_study):
    """A torn write followed by a whole record on the same line: the torn part (not a
    creation) is dropped, the record after it kept."""
    journal = made_study / "journal.log"
    before = _trials(journal)
    lines = journal.read_bytes().splitlines(keepends=True)
    last = len(lines) - 1
    assert json.loads(lines[last])["op_code"] != 4
    lines[last] = b'{"op_code": 8, "worker_id": "w", "tri' + lines[last]
    journal.write_bytes(b"".join(lines))
    proc = cli("doctor", "--study", "done", "--studies-dir", made_study.parent)
    assert proc.returncode == 0 and "1 whole record recovered" in proc.stdout, proc.stdout
    assert "lost with it: part of a trial's attribute" in proc.stdout, proc.stdout
    assert _trials(journal) == before


def _completed_by_tell(studies: Path) -> tuple[Path, int]:
    """The study plus a trial finished by ask and tell, so that its completion is a
    record of its own (op_code 6) in the journal; the journal and the trial's number."""
    journal = studies / "done" / "journal.log"
    study = optuna.load_study(study_name="done", storage=open_storage(journal))
    trial = study.ask()
    study.tell(trial, 0.97)
    return journal, trial.number


def _completion(lines: list[bytes], number: int) -> int:
    return next(i for i, ln in enumerate(lines) if json.loads(ln)["op_code"] == 6
                and json.loads(ln).get("trial_id") == number and json.loads(ln)["state"] == 1)


def test_two_whole_records_glued_on_one_line_are_both_kept(cli, made_study):
    # hostile tester 6: a lost newline glued a trial's completion to the next record, and
    # doctor kept only the second: the completed trial was RUNNING afterwards
    journal, number = _completed_by_tell(made_study.parent)
    before = _trials(journal)
    lines = journal.read_bytes().splitlines()
    lines.append(b'{"op_code": 3, "worker_id": "w", "study_id": 0, "system_attr": {"x": 1}}')
    i = _completion(lines, number)
    lines[i:i + 2] = [lines[i] + lines[i + 1]]
    journal.write_bytes(b"\n".join(lines) + b"\n")
    proc = cli("doctor", "--study", "done", "--studies-dir", made_study.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 whole records recovered from it" in proc.stdout, proc.stdout
    assert _trials(journal) == before and before[number][:2] == ("COMPLETE", 0.97)


def test_a_whole_record_followed_by_junk_with_a_brace_is_kept(cli, made_study):
    # hostile tester 6: "{...} x}" was dropped whole, the trial's completion with it
    journal, number = _completed_by_tell(made_study.parent)
    before = _trials(journal)
    lines = journal.read_bytes().splitlines()
    i = _completion(lines, number)
    lines[i] = lines[i] + b" x}"
    journal.write_bytes(b"\n".join(lines) + b"\n")
    proc = cli("doctor", "--study", "done", "--studies-dir", made_study.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _trials(journal) == before


def test_a_dropped_completion_is_said(cli, made_study):
    """A completion whose own bytes are damaged cannot be recovered: doctor says what
    was lost with the line (the trial is RUNNING until a run fails and retries it)."""
    journal, number = _completed_by_tell(made_study.parent)
    lines = journal.read_bytes().splitlines()
    i = _completion(lines, number)
    lines[i] = lines[i][:-10]
    journal.write_bytes(b"\n".join(lines) + b"\n")
    proc = cli("doctor", "--study", "done", "--studies-dir", made_study.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"line {i + 1}: not JSON; lost with it: part of a trial's state or value" \
        in proc.stdout, proc.stdout


def test_a_damaged_first_line_is_the_studys_creation_for_every_reader_and_doctor(cli,
                                                                                made_study):
    """Hostile tester 22: junk on line 1 made `best` advise `doctor`, which then refused,
    saying the line held "a trial's creation". Line 1 is the study's creation: every
    reader and doctor say so, and point to a copy instead."""
    journal = made_study / "journal.log"
    lines = journal.read_bytes().splitlines(keepends=True)
    lines[0] = b"NOT JSON AT ALL\n"
    damaged = b"".join(lines)
    journal.write_bytes(damaged)
    where = ["--study", "done", "--studies-dir", made_study.parent]
    for command in ("best", "trials"):
        proc = cli(command, *where)
        assert proc.returncode == 1 and len(error_lines(proc.stderr)) == 1, proc.stderr
        assert "line 1, the study's creation, is damaged (not JSON); restore the journal " \
               "from a copy" in proc.stderr, proc.stderr
        assert "doctor" not in proc.stderr, proc.stderr
    proc = cli("doctor", *where)
    assert proc.returncode == 1 and len(error_lines(proc.stderr)) == 1, proc.stderr
    assert "line 1 held the study's creation" in proc.stderr, proc.stderr
    assert journal.read_bytes() == damaged

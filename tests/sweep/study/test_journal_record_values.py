"""Hostile tester 7: journal records that are JSON of a known kind but carry a bad value
(a state no TrialState has, a step that is not a number, a date, a distribution, an
attribute, a value) are one line naming the file and line for every reader, and doctor
names them (sweep/study/journal_records.py)."""

from __future__ import annotations

import json

import pytest

RECORDS = {
    # a trial's state that no TrialState has
    "state": lambda tid: {"op_code": 6, "worker_id": "x", "trial_id": tid, "state": 9,
                          "values": None},
    # an intermediate value at a step that is not a number
    "step": lambda tid: {"op_code": 7, "worker_id": "x", "trial_id": tid, "step": "a",
                         "intermediate_value": 0.5},
}


def damage(journal, kind: str) -> int:
    """Insert the bad record just before the last trial's completion; its line number."""
    lines = journal.read_bytes().split(b"\n")
    at = max(i for i, line in enumerate(lines)
             if line.startswith(b"{") and json.loads(line).get("op_code") == 6
             and json.loads(line).get("state") == 1)
    tid = json.loads(lines[at])["trial_id"]
    lines.insert(at, json.dumps(RECORDS[kind](tid)).encode())
    journal.write_bytes(b"\n".join(lines))
    return at + 1


@pytest.mark.parametrize("kind", sorted(RECORDS))
@pytest.mark.parametrize("command", ["trials", "best"])
def test_a_record_with_a_bad_value_is_one_line_naming_its_line(cli, made_study, kind,
                                                               command):
    # found: `trials` and `best` print a whole traceback ("ValueError: 9 is not a valid
    # TrialState"; "TypeError: '<' not supported between instances of 'int' and 'str'")
    line = damage(made_study / "journal.log", kind)
    proc = cli(command, "--study", "done", "--studies-dir", made_study.parent)
    assert proc.returncode == 1, proc
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [x for x in proc.stderr.splitlines() if ": error: " in x]
    assert len(errors) == 1 and f"line {line}" in errors[0], proc.stderr


@pytest.mark.parametrize("kind", sorted(RECORDS))
def test_doctor_check_names_a_record_with_a_bad_value(cli, made_study, kind):
    # found: `doctor --check` says "N records, no damage" for the bad step (and the
    # readers then fail with a traceback); for the bad state it says "every line is a
    # record, but the study does not load: ValueError ..." without a line
    line = damage(made_study / "journal.log", kind)
    proc = cli("doctor", "--check", "--study", "done", "--studies-dir", made_study.parent)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "no damage" not in text, text
    assert f"line {line}" in text, text


def mutate(journal, op_code: int, which: int, change) -> int:
    """Change the ``which``-th record of kind ``op_code`` (a dict edit); its line."""
    lines = journal.read_bytes().split(b"\n")
    at = [i for i, line in enumerate(lines)
          if line.startswith(b"{") and json.loads(line).get("op_code") == op_code][which]
    record = json.loads(lines[at])
    change(record)
    lines[at] = json.dumps(record).encode()
    journal.write_bytes(b"\n".join(lines))
    return at + 1


def _completion(key, value):
    def change(r):
        if r.get("state") == 1:
            r[key] = value
    return change


MUTATIONS = {
    "datetime": (6, -1, _completion("datetime_complete", "notadate")),
    "value-text": (6, -1, _completion("values", ["x"])),
    "distribution": (5, -1, lambda r: r.update(distribution="{}")),
    "user-attr-list": (8, -1, lambda r: r.update(user_attr=[1])),
}


@pytest.mark.parametrize(("command", "kind"), [
    (command, kind) for command in ("trials", "best") for kind in sorted(MUTATIONS)
    if (command, kind) != ("trials", "value-text")])  # `trials` shows that one as "–"
def test_a_record_with_a_bad_field_is_one_line_not_a_traceback(cli, made_study, kind,
                                                               command):
    # found: tracebacks: "ValueError: Invalid isoformat string: 'notadate'", "KeyError:
    # 'type'", "TypeError: 'list' object is not a mapping", and in `best` "TypeError: bad
    # operand type for unary -: 'str'"
    op_code, which, change = MUTATIONS[kind]
    mutate(made_study / "journal.log", op_code, which, change)
    try:
        proc = cli(command, "--study", "done", "--studies-dir", made_study.parent)
    except Exception as exc:  # main() let it out: the command line shows a traceback
        pytest.fail(f"traceback: {type(exc).__name__}: {exc}")
    if proc.returncode != 0:
        assert "Traceback" not in proc.stderr, proc.stderr
        errors = [x for x in proc.stderr.splitlines() if ": error: " in x]
        assert len(errors) == 1 and "journal.log: line" in errors[0], proc.stderr


@pytest.mark.parametrize("value", ["[NaN]", "[1e308]", "[-0.5]"])
def test_a_completed_trial_with_a_value_no_accuracy_has_is_damage_named_by_line(
        cli, made_study, value):
    # found: with trial 1's stored value NaN, `best --top 3` ranked "0, 1 (–), 2" whatever
    # 2's value. Optuna fails a trial told NaN, so a NaN beside COMPLETE was written by
    # something else: it is damage, named by line, and doctor drops it. Pass 8: 1e308
    # was shown as "inf%"; a sweep trial's value is an accuracy, from 0 to 1
    journal = made_study / "journal.log"
    lines = journal.read_bytes().split(b"\n")
    done = [i for i, line in enumerate(lines) if line.startswith(b"{")
            and json.loads(line).get("op_code") == 6 and json.loads(line).get("state") == 1]
    record = json.loads(lines[done[1]])
    lines[done[1]] = json.dumps(record).replace(json.dumps(record["values"]),
                                                value).encode()
    journal.write_bytes(b"\n".join(lines))
    where = ("--study", "done", "--studies-dir", made_study.parent)
    proc = cli("best", "--top", "3", "-f", "json", *where)
    assert proc.returncode == 1, proc.stderr
    assert f"line {done[1] + 1} is damaged (a record of kind 6 whose values is not valid)" \
        in proc.stderr, proc.stderr
    check = cli("doctor", "--check", *where)
    assert f"line {done[1] + 1}: a record of kind 6 whose values is not valid" in check.stdout

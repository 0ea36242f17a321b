"""What a journal line must hold to be a record Optuna's replay can apply.

Optuna's journal replay trusts every record: a kind it does not know ends in
``AssertionError: Should not reach``, a missing field in a KeyError, a state no
`TrialState` has, a date that does not parse, a distribution that is not one, in a
ValueError or TypeError from deep inside whatever command read the study. A record
is therefore checked as it is read (storage.py's `parse_line`) for what the replay
reads from it, by kind, so that damage is named by its file and line like a line of
junk, and `sweep doctor` finds it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from optuna.distributions import json_to_distribution
from optuna.trial import TrialState

# the fields the replay reads from each kind of record, by op_code (optuna.storages.
# journal's JournalOperation: 0 create study, 1 delete study, 2-3 a study's attribute,
# 4 create trial, 5 a trial's setting, 6 its state and values, 7 an epoch's value,
# 8-9 a trial's attribute, 10 discard trials)
RECORD_FIELDS: dict[int, tuple[str, ...]] = {
    0: ("study_name", "directions"),
    1: ("study_id",),
    2: ("study_id", "user_attr"),
    3: ("study_id", "system_attr"),
    4: ("study_id", "datetime_start"),
    5: ("trial_id", "param_name", "param_value_internal", "distribution"),
    6: ("trial_id", "state", "values"),
    7: ("trial_id", "step", "intermediate_value"),
    8: ("trial_id", "user_attr"),
    9: ("trial_id", "system_attr"),
    10: (),
}
STATES = {s.value for s in TrialState}


def record_problem(record: Any) -> str | None:
    """Why a parsed journal line is not a record Optuna can replay, or None."""
    if not isinstance(record, dict) or "op_code" not in record:
        return "not an Optuna log record"
    op = record["op_code"]
    if not _whole(op) or op not in RECORD_FIELDS:
        return f"a record of unknown kind (op_code {op!r})"
    missing = [f for f in ("worker_id", *RECORD_FIELDS[op]) if f not in record]
    if missing:
        return f"a record of kind {op} without {', '.join(missing)}"
    bad = next((name for name, ok in _checks(op, record) if not ok()), None)
    return f"a record of kind {op} whose {bad} is not valid" if bad else None


def _checks(op: int, r: dict[str, Any]) -> list[tuple[str, Any]]:
    """(field, test) pairs for a record of kind ``op``, each test a callable."""
    checks: list[tuple[str, Any]] = []
    if op in (1, 2, 3, 4):
        checks.append(("study_id", lambda: _whole(r["study_id"])))
    if op in (5, 6, 7, 8, 9):
        checks.append(("trial_id", lambda: _whole(r["trial_id"])))
    if op == 0:
        checks += [("study_name", lambda: isinstance(r["study_name"], str)),
                   ("directions", lambda: isinstance(r["directions"], list)
                    and all(_whole(d) and d in (0, 1, 2) for d in r["directions"]))]
    if op in (2, 8):
        checks.append(("user_attr", lambda: _one_entry(r["user_attr"])))
    if op in (3, 9):
        checks.append(("system_attr", lambda: _one_entry(r["system_attr"])))
    if op == 4:
        checks += [("datetime_start", lambda: _date(r["datetime_start"], none=True)),
                   ("state", lambda: _whole(r.get("state", 0)) and r.get("state", 0) in STATES),
                   ("distributions", lambda: _distributions(r.get("distributions", {}))),
                   ("user_attrs", lambda: isinstance(r.get("user_attrs", {}), dict)),
                   ("system_attrs", lambda: isinstance(r.get("system_attrs", {}), dict)),
                   ("intermediate_values", lambda: _steps(r.get("intermediate_values", {})))]
    if op == 5:
        checks += [("param_name", lambda: isinstance(r["param_name"], str)),
                   ("param_value_internal", lambda: _number(r["param_value_internal"])),
                   ("distribution", lambda: _distributions({"x": r["distribution"]}))]
    if op == 6:
        state = r["state"]
        checks += [("state", lambda: _whole(state) and state in STATES),
                   ("values", lambda: _values(r["values"], state))]
        if state == TrialState.RUNNING.value:
            checks.append(("datetime_start", lambda: _date(r.get("datetime_start"))))
        elif _whole(state) and state in STATES and TrialState(state).is_finished():
            checks.append(("datetime_complete", lambda: _date(r.get("datetime_complete"))))
    if op == 7:
        checks += [("step", lambda: _whole(r["step"])),
                   ("intermediate_value", lambda: r["intermediate_value"] is None
                    or _number(r["intermediate_value"]))]
    return checks


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _one_entry(v: Any) -> bool:
    return isinstance(v, dict) and len(v) == 1


def _date(v: Any, none: bool = False) -> bool:
    if v is None:
        return none
    try:
        datetime.fromisoformat(v)
    except (TypeError, ValueError):
        return False
    return True


def _distributions(v: Any) -> bool:
    if not isinstance(v, dict):
        return False
    try:
        for text in v.values():
            json_to_distribution(text)
    except Exception:  # noqa: BLE001  (anything Optuna cannot read back is damage)
        return False
    return True


def _steps(v: Any) -> bool:
    if not isinstance(v, dict):
        return False
    try:
        return all(isinstance(int(k), int) for k in v)
    except (TypeError, ValueError):
        return False


def _values(v: Any, state: Any) -> bool:
    """None, or a list of numbers; a completed trial's values accuracies, from 0 to 1
    (Optuna fails a trial told NaN, and a sweep trial tells a validation accuracy: a NaN
    or a 1e308 beside COMPLETE was written by something else)."""
    if v is None:
        return True
    if not isinstance(v, list) or not all(_number(x) for x in v):
        return False
    return state != TrialState.COMPLETE.value or all(0.0 <= x <= 1.0 for x in v)


class JournalContext:
    """What the records before a line established, for the checks one line cannot make
    alone: the studies made (their number of objectives) and each trial's study.
    Optuna numbers studies and trials by the order of their creation records, so a
    trial created in a study no record made would shift every later trial's number,
    and a completed trial with more values than its study has objectives breaks every
    reader of its value."""

    def __init__(self) -> None:
        self.position = 0  # the lines checked so far
        self.objectives: dict[int, int] = {}  # study id -> its number of objectives
        self.names: set[str] = set()
        self.studies_made = 0
        self.trial_study: list[int] = []
        self.creations: set[tuple[str, str]] = set()  # (worker, start) of each trial made

    def check(self, record: dict[str, Any]) -> str | None:
        """Why ``record`` does not fit what came before it, or None; the context then
        takes it in."""
        self.position += 1
        op = record["op_code"]
        if op == 0 and record["study_name"] not in self.names:
            self.names.add(record["study_name"])
            self.objectives[self.studies_made] = len(record["directions"])
            self.studies_made += 1
        elif op == 4:
            study = record["study_id"]
            if study >= self.studies_made:
                return (f"a trial created in study {study}, which no earlier record made "
                        "(every later trial would take another's number)")
            # one thread never starts two trials in one microsecond: such a line is a copy
            made = (str(record["worker_id"]), str(record["datetime_start"]))
            if record["datetime_start"] is not None and made in self.creations:
                return ("a copy of an earlier trial's creation (the same worker and start "
                        "time): it would add a trial that never ran")
            self.creations.add(made)
            if study in self.objectives:
                self.trial_study.append(study)
        elif op == 6 and record["values"] is not None:
            trial = record["trial_id"]
            if 0 <= trial < len(self.trial_study):
                wanted = self.objectives[self.trial_study[trial]]
                if len(record["values"]) != wanted:
                    return (f"{len(record['values'])} values for a trial of a study with "
                            f"{wanted} objective{'s' if wanted != 1 else ''}")
        return None

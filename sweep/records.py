"""trial.json: what a trial's experiment directory says about the trial itself.

Written when the trial starts (state RUNNING) and rewritten when it ends, by the
worker that ran it or, for a worker that died, by whoever noticed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial

from mlp.atomic import write_json

if TYPE_CHECKING:
    from .study import StudyPaths


def trial_record(t: FrozenTrial | optuna.Trial, state: str) -> dict[str, Any]:
    attrs = dict(t.user_attrs)
    attrs.pop("traceback", None)
    params = t.params
    if isinstance(t, FrozenTrial):
        start, end, value = t.datetime_start, t.datetime_complete, t.value
        intermediate = {str(k): v for k, v in sorted(t.intermediate_values.items())}
    else:
        start, end, value, intermediate = t.datetime_start, None, None, {}
    return {
        "number": t.number,
        "state": state,
        "value": value,
        "params": params,
        "intermediate_values": intermediate,
        "reason": attrs.pop("reason", ""),
        "seed": attrs.pop("seed", None),
        "pid": attrs.pop("pid", None),
        "host": attrs.pop("host", None),
        "datetime_start": start.isoformat() if start else None,
        "datetime_complete": end.isoformat() if end else None,
        "user_attrs": attrs,
    }


def record_start(paths: StudyPaths, trial: optuna.Trial) -> None:
    write_json(paths.trial_dir(trial.number) / "trial.json", trial_record(trial, "RUNNING"))


def record_end(paths: StudyPaths, t: FrozenTrial) -> None:
    doc = trial_record(t, t.state.name)
    tb = t.user_attrs.get("traceback")
    if tb:
        doc["traceback"] = tb
    write_json(paths.trial_dir(t.number) / "trial.json", doc)


def sync_records(study: optuna.Study, paths: StudyPaths) -> list[int]:
    """Rewrite the trial.json of finished trials whose file still says otherwise.

    A worker killed between telling the storage and writing trial.json leaves the two
    disagreeing; the storage is the truth.
    """
    fixed = []
    for t in study.get_trials(deepcopy=False):
        if not t.state.is_finished():
            continue
        path = paths.trial_dir(t.number) / "trial.json"
        try:
            state = json.loads(path.read_text()).get("state")
        except FileNotFoundError:
            continue
        except (OSError, ValueError):
            state = None
        if state != t.state.name:
            record_end(paths, t)
            fixed.append(t.number)
    return fixed

"""A trial's outcome: one record from the worker that ran it to every table and file.

`TrialOutcome` is what a trial is, once read back: Optuna's own fields (number,
state, value, params, times, intermediate values) and the harness's, which the
worker stores as Optuna user attributes of the same names (`to_attrs`). Every
reader builds it the same way (`from_frozen`), and every output is made from it:
trial.json (`to_json`), the trials table (`row` and `columns`), ``sweep best``.
Accuracies are fractions everywhere; only displays turn them into percent.

States are Optuna's (COMPLETE, PRUNED, FAIL, RUNNING); a diverged trial is PRUNED
with ``diverged`` set, so that the sampler learns to avoid its region.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from mlp.experiment import read_json

from ..text import finite, percent, plural, short

# Optuna keeps these itself; every other field is a user attribute of the same name.
_OPTUNA_FIELDS = ("number", "state", "value", "params", "datetime_start",
                  "datetime_complete", "intermediate_values")
# Found among the study's trials, never stored as an attribute.
_DERIVED = ("retried_as",)
# Earlier versions stored these attributes under other names.
_OLD_NAMES = {"epochs_trained": "epochs"}


def _shown(template: str) -> Any:
    """Field metadata: show the field in ``sweep best`` with this format."""
    return {"brief": template}


@dataclass(frozen=True)
class TrialOutcome:
    number: int
    state: str
    value: float | None = None  # the objective: best validation accuracy over the epochs
    params: dict[str, Any] = field(default_factory=dict)
    test_accuracy: float | None = None  # of the best validation epoch; never chooses anything
    epochs_trained: int | None = field(default=None, metadata=_shown("{} epochs"))
    best_epoch: int | None = None
    train_seconds: float | None = field(default=None, metadata=_shown("{:.1f}s"))
    parameter_count: int | None = None
    worker_peak_rss_mb: float | None = field(default=None, metadata=_shown("{:.0f} MB peak"))
    classic: bool = False  # trial 0: the classic configuration
    diverged: bool = False
    reason: str = ""  # why a trial was pruned or failed
    # failed by the infrastructure (an interrupt, a killed or stalled worker, a dead run or
    # machine, a time-out's cut), not by its own code: it gets one retry (ledger.py)
    lost: bool = False
    seed: int | None = None
    retry_of: int | None = None  # the lost trial this one retries, with its settings and seed
    # the trial that retries this one: not stored with it (a finished trial takes no more
    # attributes) but found among the study's trials by whoever reads them all
    retried_as: int | None = None
    pid: int | None = None
    host: str | None = None
    experiment_dir: str | None = None
    traceback: str | None = None
    datetime_start: datetime | None = None
    datetime_complete: datetime | None = None
    intermediate_values: dict[int, float] = field(default_factory=dict)

    @classmethod
    def from_frozen(cls, t: FrozenTrial, retried_as: int | None = None) -> TrialOutcome:
        """The trial as the storage has it; ``retried_as``: its retry's number, which
        only the study's other trials say (`retry_links`)."""
        outcome = cls._from(t.number, t.state.name, t.value, t.params, t.user_attrs,
                            t.datetime_start, t.datetime_complete, t.intermediate_values)
        return replace(outcome, retried_as=retried_as) if retried_as is not None else outcome

    @classmethod
    def running(cls, trial: optuna.Trial) -> TrialOutcome:
        """A trial in flight, as its own worker sees it."""
        return cls._from(trial.number, "RUNNING", None, trial.params, trial.user_attrs,
                         trial.datetime_start, None, {})

    @classmethod
    def _from(cls, number: int, state: str, value: float | None, params: dict[str, Any],
              attrs: dict[str, Any], start: datetime | None, end: datetime | None,
              intermediate: dict[int, float]) -> TrialOutcome:
        own = {}
        for f in fields(cls):
            key = f.name if f.name in attrs else _OLD_NAMES.get(f.name, f.name)
            if f.name not in _OPTUNA_FIELDS + _DERIVED and key in attrs:
                own[f.name] = attrs[key]
        return cls(number=number, state=state, value=value, params=dict(params),
                   datetime_start=start, datetime_complete=end,
                   intermediate_values=dict(sorted(intermediate.items())), **own)

    def to_attrs(self) -> dict[str, Any]:
        """The harness's fields that are set, as Optuna user attributes."""
        attrs = {f.name: getattr(self, f.name) for f in fields(self)
                 if f.name not in _OPTUNA_FIELDS + _DERIVED}
        return {k: v for k, v in attrs.items() if v is not None and v != "" and v is not False}

    @property
    def last_epoch(self) -> int | None:
        """The last epoch that reported a finite validation accuracy."""
        epochs = [k for k, v in self.intermediate_values.items() if finite(v)]
        return max(epochs) if epochs else None

    @property
    def last_value(self) -> float | None:
        epoch = self.last_epoch
        return None if epoch is None else self.intermediate_values[epoch]

    @property
    def duration_seconds(self) -> float | None:
        """Start to finish; for a trial still running, how long it has run so far (its
        state says which). Optuna's times are the local clock's, without a zone."""
        if self.datetime_start is None:
            return None
        if self.datetime_complete is None:
            if self.state != "RUNNING":
                return None
            return max((datetime.now() - self.datetime_start).total_seconds(), 0.0)
        return (self.datetime_complete - self.datetime_start).total_seconds()

    def to_json(self) -> dict[str, Any]:
        """trial.json: every field, with times as ISO text and epochs as text keys."""
        doc = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("datetime_start", "datetime_complete"):
            doc[key] = doc[key].isoformat() if doc[key] else None
        doc["intermediate_values"] = {str(k): v for k, v in self.intermediate_values.items()}
        if doc["traceback"] is None:
            del doc["traceback"]
        return doc

    def row(self) -> dict[str, Any]:
        """One row of the trials table: sampled settings as ``params_<name>`` columns."""
        row = {}
        for name in TABLE_COLUMNS:
            row[name] = getattr(self, name)
        row.update({f"params_{k}": v for k, v in self.params.items()})
        return row

    def line(self) -> str:
        """The trial in one line: number, accuracies, settings and directory."""
        params = ", ".join(f"{k}={short(v)}" for k, v in self.params.items())
        test = f", test {percent(self.test_accuracy)}" if finite(self.test_accuracy) else ""
        value = f"val {percent(self.value)}" if finite(self.value) else self.state.lower()
        return f"trial {self.number}: {value}{test} ({params}) -> {self.experiment_dir}"

    def brief(self) -> str:
        """The fields marked to be shown in ``sweep best``, e.g. ``20 epochs, 64.1s``."""
        parts = []
        for f in fields(self):
            template, value = f.metadata.get("brief"), getattr(self, f.name)
            if template and value is not None:
                parts.append(template.format(value))
        return ", ".join(parts)


# the trials table: these fields, then the sampled settings, in this order
TABLE_COLUMNS = ("number", "state", "value", "test_accuracy", "epochs_trained", "best_epoch",
                 "last_epoch", "last_value", "train_seconds", "duration_seconds",
                 "parameter_count", "worker_peak_rss_mb", "classic", "diverged", "reason",
                 "retry_of", "retried_as", "datetime_start", "datetime_complete",
                 "experiment_dir")


# columns that hold whole numbers, shown as such even where a running trial leaves a gap
INTEGER_COLUMNS = ("number", "epochs_trained", "best_epoch", "last_epoch", "parameter_count",
                   "retry_of", "retried_as")


def columns(param_names: list[str]) -> list[str]:
    return [*TABLE_COLUMNS[:4], *(f"params_{n}" for n in param_names), *TABLE_COLUMNS[4:]]


RECORD = "trial.json"  # in the trial's directory; written by sweep/execution/ledger.py only


def read_record(trial_dir: Path) -> dict[str, Any]:
    """A trial's trial.json as it is, or {} where it is missing or unreadable."""
    try:
        doc = read_json(trial_dir / RECORD)
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


@dataclass(frozen=True)
class Counts:
    complete: int = 0
    pruned: int = 0
    failed: int = 0  # failed for good: by their own code, or lost with no retry (a retry)
    running: int = 0
    retried: int = 0  # lost trials with a retry: their retry counts instead
    retries_waiting: int = 0  # retries not started yet (the next run starts them first)

    @property
    def finished(self) -> int:
        """What ``--trials`` counts: a retried trial is not finished; its retry is."""
        return self.complete + self.pruned + self.failed

    def retried_text(self) -> str:
        """``; 2 lost to a fault and retried, 1 retry waiting``, or "" when no trial was."""
        if not self.retried:
            return ""
        waiting = (f", {plural(self.retries_waiting, 'retry', 'retries')} waiting"
                   if self.retries_waiting else "")
        return f"; {self.retried} lost to a fault and retried{waiting}"


def retry_links(trials: Iterable[FrozenTrial]) -> dict[int, int]:
    """Lost trials and the trials that retry them, by number (waiting retries included)."""
    return {t.user_attrs["retry_of"]: t.number for t in trials
            if t.user_attrs.get("retry_of") is not None}


def count(trials: list[FrozenTrial]) -> Counts:
    """Trials by state. A failed trial that was retried (sweep/execution/ledger.py) is
    counted apart, not as finished: its retry takes its place toward --trials. Give all
    the study's trials, waiting ones included: a retry not started yet still counts."""
    links = retry_links(trials)
    retried = sum(t.state == TrialState.FAIL and t.number in links for t in trials)
    waiting = sum(t.state == TrialState.WAITING and t.user_attrs.get("retry_of") is not None
                  for t in trials)
    states = [t.state for t in trials]
    return Counts(states.count(TrialState.COMPLETE), states.count(TrialState.PRUNED),
                  states.count(TrialState.FAIL) - retried, states.count(TrialState.RUNNING),
                  retried, waiting)

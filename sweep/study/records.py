"""A trial's outcome: one record from the worker that ran it to every table and file.

`TrialOutcome` is what a trial is, once read back: Optuna's own fields (number,
state, value, params, times, intermediate values) and the harness's, which the
worker stores as Optuna user attributes of the same names (`to_attrs`). Every
reader builds it the same way (`from_frozen`), and every output is made from it:
trial.json (`to_json`), the trials table (`row` and `columns`), the JSON exports
(`record`), the screen tables (`cell`). Accuracies are fractions everywhere; only
displays turn them into percent.

One name per concept, in every table, format, command and the API:

    number            the trial's number (Optuna's)
    value             the objective: the best epoch's validation accuracy (Optuna's)
    test_accuracy     the test accuracy of that epoch (reported, never chooses anything)
    last_epoch        the last epoch that reported a validation accuracy ...
    last_value        ... and that accuracy (a running trial's latest)
    epochs_trained    epochs the trial trained
    train_seconds     seconds of training (the worker's clock, epochs only)
    duration_seconds  start to end in the storage (so far, for a running trial)
    params            the sampled settings by name; flat tables spell a setting
                      ``params_<name>`` (Optuna's trials_dataframe does the same),
                      screen tables just ``<name>``

States are Optuna's (COMPLETE, PRUNED, FAIL, RUNNING); screen tables write them in
lower case, as ``trials --state`` takes them. A diverged trial is PRUNED with
``diverged`` set, so that the sampler learns to avoid its region.
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

from ..text import Column, finite, percent, plural, seconds, short

# Optuna keeps these itself; every other field is a user attribute of the same name.
_OPTUNA_FIELDS = ("number", "state", "value", "params", "datetime_start",
                  "datetime_complete", "intermediate_values")
# Found among the study's trials, never stored as an attribute.
_DERIVED = ("retried_as",)
# Earlier versions stored these attributes under other names.
_OLD_NAMES = {"epochs_trained": "epochs"}


@dataclass(frozen=True)
class TrialOutcome:
    number: int
    state: str
    value: float | None = None  # the objective: best validation accuracy over the epochs
    params: dict[str, Any] = field(default_factory=dict)
    test_accuracy: float | None = None  # of the best validation epoch; never chooses anything
    epochs_trained: int | None = None
    best_epoch: int | None = None
    train_seconds: float | None = None
    parameter_count: int | None = None
    worker_peak_rss_mb: float | None = None
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
        row.update({f"{PARAMS_PREFIX}{k}": v for k, v in self.params.items()})
        return row

    def record(self) -> dict[str, Any]:
        """The trial for a JSON export: every column of the trials table under the same
        name (the settings as one ``params`` object), then the epochs' validation
        accuracies; never the traceback (it is in trial.json)."""
        doc = {name: getattr(self, name) for name in TABLE_COLUMNS}
        doc = {**{k: doc[k] for k in TABLE_COLUMNS[:4]}, "params": dict(self.params),
               **{k: doc[k] for k in TABLE_COLUMNS[4:]}}
        doc["intermediate_values"] = {str(k): v for k, v in self.intermediate_values.items()}
        return doc

    def line(self) -> str:
        """The trial in one line: number, accuracies, settings and directory."""
        params = ", ".join(f"{k}={short(v)}" for k, v in self.params.items())
        test = f", test accuracy {percent(self.test_accuracy)}" \
            if finite(self.test_accuracy) else ""
        value = f"value {percent(self.value)}" if finite(self.value) else self.state.lower()
        where = f" -> {self.experiment_dir}" if self.experiment_dir else ""
        return f"trial {self.number}: {value}{test} ({params}){where}"


# the trials table: these fields, then the sampled settings, in this order
TABLE_COLUMNS = ("number", "state", "value", "test_accuracy", "epochs_trained", "best_epoch",
                 "last_epoch", "last_value", "train_seconds", "duration_seconds",
                 "parameter_count", "worker_peak_rss_mb", "classic", "diverged", "reason",
                 "seed", "retry_of", "retried_as", "pid", "host", "datetime_start",
                 "datetime_complete", "experiment_dir")
PARAMS_PREFIX = "params_"  # a sampled setting's column: params_lr

# columns that hold whole numbers, shown as such even where a running trial leaves a gap
INTEGER_COLUMNS = ("number", "epochs_trained", "best_epoch", "last_epoch", "parameter_count",
                   "seed", "retry_of", "retried_as", "pid")


def columns(param_names: list[str]) -> list[str]:
    return [*TABLE_COLUMNS[:4], *(f"{PARAMS_PREFIX}{n}" for n in param_names),
            *TABLE_COLUMNS[4:]]


# -- how a column reads on the screen (CSV and JSON keep the values themselves) ----------

ACCURACIES = ("value", "test_accuracy", "last_value")  # fractions, shown in percent
SECONDS = ("train_seconds", "duration_seconds")
STATES = ("complete", "pruned", "fail", "running", "waiting")  # as screens write them


def cell(name: str, v: Any) -> str:
    """Column ``name``'s value ``v`` as a screen table shows it: accuracies in percent,
    seconds to a tenth, states in lower case, a setting short, a gap as a dash."""
    if v is None or (isinstance(v, float) and not finite(v)):
        return "–"
    if name in ACCURACIES:
        return percent(v)
    if name in SECONDS:
        return seconds(v)
    if name == "state":
        return str(v).lower()
    if name == "worker_peak_rss_mb":
        return f"{float(v):.0f}"
    if name in ("classic", "diverged"):
        return "yes" if v is True or str(v) == "True" else ""
    if name in ("datetime_start", "datetime_complete"):
        return v.strftime("%Y-%m-%d %H:%M:%S") if hasattr(v, "strftime") else str(v)
    return short(v)


# how the columns give way on a narrow terminal: higher ``keep`` stays longer
_KEEP = {"number": 100, "state": 90, "value": 80, "reason": 60, "test_accuracy": 55,
         "epochs_trained": 40, "duration_seconds": 35, "train_seconds": 30, "last_epoch": 28,
         "last_value": 27, "best_epoch": 20, "diverged": 15, "classic": 14,
         "parameter_count": 12, "worker_peak_rss_mb": 10, "experiment_dir": 5}
PARAMS_KEEP = 70  # the sampled settings: what a sweep is about


def screen_column(name: str, keep: float | None = None) -> Column:
    """Column ``name`` of a screen table (``params_<name>`` is headed by the setting's
    own name). ``keep`` overrides its rank."""
    if name.startswith(PARAMS_PREFIX):
        return Column(name[len(PARAMS_PREFIX):],
                      keep=PARAMS_KEEP if keep is None else keep)
    rank = _KEEP.get(name, 0) if keep is None else keep
    if name in ("reason", "host"):
        return Column(name, right=False, keep=rank, cut=12)
    if name == "experiment_dir":
        return Column(name, right=False, keep=rank, cut=16, cut_start=True)
    return Column(name, right=name not in ("state", "classic", "diverged"), keep=rank)


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
    waiting: int = 0  # every trial not started yet: those retries, and enqueued ones

    @property
    def finished(self) -> int:
        """What ``--trials`` counts: a retried trial is not finished; its retry is."""
        return self.complete + self.pruned + self.failed

    def retried_text(self) -> str:
        """``; 2 lost and retried, 1 retry waiting``, or "" when no trial was (lost:
        interrupted, its worker killed or hung, or failed by the machine)."""
        if not self.retried:
            return ""
        waiting = (f", {plural(self.retries_waiting, 'retry', 'retries')} waiting"
                   if self.retries_waiting else "")
        return f"; {self.retried} lost and retried{waiting}"


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
                  retried, waiting, states.count(TrialState.WAITING))

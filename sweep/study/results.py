"""Reading a study: its trials as records and as a table, the best ones, their directories.

This is the API the CLI's ``best`` and ``trials``, the report and the notebook
share::

    import sweep
    s = sweep.load("mnist-mlp")
    s.outcomes          # one TrialOutcome per trial
    s.trials            # the same as a table: state, value, params_<name>, ...
    s.best(5)           # the five best completed trials
    s.trial_dir(7)      # studies/mnist-mlp/trials/0007
    s.history(7)        # trial 7's epochs: losses, accuracies, learning rate, seconds
    s.histories()       # every trial's, by number
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import TrialState

from mlp.experiment import read_history

from ..errors import UsageError, os_error_text
from .paths import (
    DEFAULT_STUDIES_DIR,
    DEFAULT_STUDY,
    StudyPaths,
    is_study_folder,
    storage_for_existing,
)
from .records import Counts, TrialOutcome, columns, count, retry_links
from .settings import Settings, load_study, settings_record, stored_settings
from .storage import NoStudyTables, closed_on_error, open_storage

if TYPE_CHECKING:  # pandas is imported where a table is made: the CLI's run needs none
    import pandas as pd


@dataclass
class StudyResults:
    paths: StudyPaths
    study: optuna.Study

    def __post_init__(self) -> None:
        self.settings  # noqa: B018  (a study sweep did not make is refused here, by name)

    @property
    def name(self) -> str:
        return self.paths.name

    @cached_property
    def settings(self) -> Settings:
        return stored_settings(self.study)

    @cached_property
    def all_trials(self) -> list[optuna.trial.FrozenTrial]:
        """Every trial, the waiting ones (enqueued, not started) included."""
        return self.study.get_trials(deepcopy=False)

    @cached_property
    def frozen_trials(self) -> list[optuna.trial.FrozenTrial]:
        return [t for t in self.all_trials if t.state != TrialState.WAITING]

    @cached_property
    def outcomes(self) -> list[TrialOutcome]:
        """Every trial but the waiting ones, by number, a lost trial with the number of
        its retry; ``experiment_dir`` as this reader finds it (under its studies folder),
        None where it has none (a trial another machine or folder ran: `unreachable`)."""
        links = retry_links(self.all_trials)
        return [replace(TrialOutcome.from_frozen(t, links.get(t.number)),
                        experiment_dir=self._found_dir(t))
                for t in sorted(self.frozen_trials, key=lambda t: t.number)]

    def _found_dir(self, trial: optuna.trial.FrozenTrial) -> str | None:
        """The trial's folder under this reader's studies folder; None where it is not
        here. A trained trial's folder holding none of its experiment's files is not its
        experiment: its files were deleted, and the run made the folder again for its
        record. One holding some (a history there but damaged, or gone beside its
        config.json) is its readers' to name."""
        folder = self.paths.trial_dir(trial.number)
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            made = [folder / name for name in ("history.csv", "config.json", "metrics.json")]
            return str(folder) if any(f.exists() or f.is_symlink() for f in made) else None
        return str(folder) if folder.is_dir() else None

    def damaged_histories(self) -> dict[int, str]:
        """Trained trials here whose history.csv cannot be read, or holds other than the
        epochs they trained: what is wrong, by trial number."""
        found = {}
        for o in self.outcomes:
            if o.experiment_dir is None or o.state not in ("COMPLETE", "PRUNED"):
                continue
            try:
                read_history(Path(o.experiment_dir) / "history.csv", o.epochs_trained)
            except OSError as exc:
                found[o.number] = os_error_text(exc)
            except ValueError as exc:  # its words name the file and the line
                found[o.number] = str(exc)
        return found

    @cached_property
    def listed(self) -> list[TrialOutcome]:
        """Every trial by number, the waiting ones too (a retry not started yet, named by
        its lost trial's ``retried_as``): what ``sweep trials`` lists."""
        links = retry_links(self.all_trials)
        waiting = [replace(TrialOutcome.from_frozen(t, links.get(t.number)),
                           params=dict(t.system_attrs.get("fixed_params", {})))
                   for t in self.all_trials if t.state == TrialState.WAITING]
        return sorted([*self.outcomes, *waiting], key=lambda o: o.number)

    @property
    def counts(self) -> Counts:
        return count(self.all_trials)

    @property
    def waiting(self) -> int:
        """Trials waiting to start: enqueued ones (the classic configuration, an
        ``--enqueue``, the retry of a trial lost with its machine)."""
        return len(self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))

    @property
    def param_names(self) -> list[str]:
        return self.settings.space.names

    @cached_property
    def trials(self) -> pd.DataFrame:
        """One row per trial (waiting ones left out), sorted by number."""
        import pandas as pd

        return pd.DataFrame([o.row() for o in self.outcomes],
                            columns=columns(self.param_names))

    def completed(self) -> pd.DataFrame:
        df = self.trials
        return df[df["state"] == "COMPLETE"]

    def best_outcomes(self, k: int = 1) -> list[TrialOutcome]:
        """The k completed trials with the highest validation accuracy (ties: lower number)."""
        k = _whole(k, "k", least=1)
        done = [o for o in self.outcomes if o.state == "COMPLETE" and o.value is not None]
        return sorted(done, key=lambda o: (-o.value, o.number))[:k]

    def best(self, k: int = 1) -> pd.DataFrame:
        """`best_outcomes` as rows of the trials table."""
        numbers = [o.number for o in self.best_outcomes(k)]
        df = self.trials.set_index("number", drop=False)
        return df.loc[numbers].reset_index(drop=True)

    def trial_dir(self, number: int) -> Path:
        return self.paths.trial_dir(_whole(number, "number", least=0))

    def unreachable(self) -> dict[str, list[int]]:
        """Trained trials (completed or pruned) whose directory this reader cannot find
        under its studies folder, by the host that ran them: in a study shared by
        machines whose ``--studies-dir`` is each machine's own disk, their histories,
        checkpoints and figures are on those machines."""
        away: dict[str, list[int]] = {}
        for o in self.outcomes:
            if o.state in ("COMPLETE", "PRUNED") and o.experiment_dir is None:
                away.setdefault(o.host or "an unrecorded host", []).append(o.number)
        return away

    def unreachable_note(self) -> str:
        """`unreachable` in one sentence, or "" when every trained trial is here."""
        away = self.unreachable()
        if not away:
            return ""
        import socket

        here = socket.gethostname()
        n = sum(len(v) for v in away.values())
        where = "; ".join(f"trial{'s' if len(v) > 1 else ''} "
                          f"{', '.join(map(str, v[:8]))}{' ...' if len(v) > 8 else ''}"
                          + (", run here: moved or deleted" if host == here
                             else f" on {host}")
                          for host, v in sorted(away.items()))
        advice = " Read from a machine that has them, or share --studies-dir." \
            if set(away) != {here} else ""
        return (f"{n} of {self.counts.complete + self.counts.pruned} trained trials have no "
                f"experiment files under {self.paths.root / 'trials'} on this machine ({where}): "
                "their histories, checkpoints and figures are left out; their values come "
                f"from the storage.{advice}")

    def history(self, number: int) -> pd.DataFrame | None:
        """Trial ``number``'s per-epoch history as its history.csv has it now (a running
        trial's grows): epoch, lr_end, train and validation loss and accuracy (fractions),
        seconds; sorted by epoch. None where the trial has none yet or it is unreadable
        or damaged (a row cut short, text where a number goes: never a made-up NaN)."""
        import pandas as pd

        number = _whole(number, "number", least=0)
        try:
            rows = read_history(self.trial_dir(number) / "history.csv")
        except (OSError, ValueError):
            return None
        if not rows:
            return None
        return pd.DataFrame(rows).sort_values("epoch").reset_index(drop=True)

    def histories(self) -> dict[int, pd.DataFrame]:
        """`history` of every trial that has one, by trial number."""
        found = {o.number: self.history(o.number) for o in self.outcomes}
        return {n: h for n, h in found.items() if h is not None}


def load(study: str = DEFAULT_STUDY, studies_dir: str | os.PathLike = DEFAULT_STUDIES_DIR,
         storage: str | None = None) -> StudyResults:
    """Open a study written by ``sweep run`` for reading. A study in a database is read
    from any folder: ``studies_dir`` is only where its trials' folders are looked for."""
    if not isinstance(study, str):
        raise UsageError(f"study={study!r}: a study's name (str)")
    if not isinstance(studies_dir, str | os.PathLike):
        raise UsageError(f"studies_dir={studies_dir!r}: a folder path (str or Path)")
    paths = StudyPaths.of(studies_dir, study)
    with closed_on_error(storage_for_existing(paths, storage)) as opened:
        return StudyResults(paths, load_study(paths, opened))


def reader(study: str = DEFAULT_STUDY, studies_dir: str | os.PathLike = DEFAULT_STUDIES_DIR,
           storage: str | None = None) -> Callable[[], StudyResults]:
    """`load`, again and again (a live view): a database is opened once and its
    connections kept (they survive a server's restart: sweep/study/database.py); a
    journal is read anew each time (``sweep doctor`` may have replaced it)."""
    paths = StudyPaths.of(studies_dir, study)
    opened: list[BaseStorage] = []

    def read() -> StudyResults:
        if not opened:
            with closed_on_error(storage_for_existing(paths, storage)) as found:
                if not isinstance(found, RDBStorage):
                    return StudyResults(paths, load_study(paths, found))
                study = load_study(paths, found)
            opened.append(found)
            return StudyResults(paths, study)
        return StudyResults(paths, load_study(paths, opened[0]))

    return read


def _whole(value: object, name: str, least: int) -> int:
    """An integer argument of the API (a numpy integer too), at least ``least``."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise UsageError(f"{name}={value!r}: a whole number >= {least}")
    return int(value)


@dataclass(frozen=True)
class BrokenStudy:
    """A study folder that cannot be read, and why."""

    name: str
    problem: str


def list_studies(studies_dir: str | os.PathLike = DEFAULT_STUDIES_DIR,
                 storage: str | None = None) -> list[StudyResults | BrokenStudy]:
    """Every study folder under ``studies_dir`` (`is_study_folder`: a first run killed
    before it wrote study.json leaves a study the other commands read), readable or not;
    with ``storage`` (a database URL), every study in that database instead, its trial
    folders looked for under ``studies_dir``."""
    found: list[StudyResults | BrokenStudy] = []
    root = Path(studies_dir)
    if storage:
        return _database_studies(root, storage)
    if not root.is_dir():
        return found
    for child in sorted(root.iterdir()):
        if is_study_folder(child):
            try:
                found.append(load(child.name, root))
            except Exception as exc:  # noqa: BLE001  (any reason is reported, not raised)
                problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                found.append(BrokenStudy(child.name, problem))
    return found


def _database_studies(root: Path, url: str) -> list[StudyResults | BrokenStudy]:
    """The studies of one database: sweep's, readable from any machine that reaches it
    (their settings are in the database), and any other study with what keeps it from
    being read as one of sweep's."""
    try:
        storage = open_storage(root / "journal.log", url, create=False)
    except NoStudyTables:
        return []  # a database no run has used yet
    found: list[StudyResults | BrokenStudy] = []
    for name in sorted(optuna.get_all_study_names(storage)):
        try:
            paths = StudyPaths.of(root, name)
        except UsageError:
            found.append(BrokenStudy(name, "not a study sweep made (a name sweep never gives)"))
            continue
        study = load_study(paths, storage)
        if settings_record(study) is None:
            found.append(BrokenStudy(name, "not a study sweep made (no settings)"))
            continue
        found.append(StudyResults(paths, study))
    return found

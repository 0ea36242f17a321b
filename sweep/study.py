"""A study on disk: its folder, its settings, its storage and its lock.

    studies/<name>/journal.log    Optuna's JournalStorage (file backend), unless --storage
    studies/<name>/study.json     where the storage is (password masked), when it was made
    studies/<name>/trials/NNNN/   one experiment directory per trial
    studies/<name>/report/        the report

The settings (base config, space, sampler, pruner, seed) are stored in the study
itself, as a study user attribute, so that a study is always resumed the way it
was started, from any machine that reaches its storage; a different space or
config is refused rather than silently mixed.
"""

from __future__ import annotations

import fcntl
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from mlp.atomic import write_json
from mlp.config import Config
from mlp.experiment import read_json

from .dblock import database_lock
from .errors import StudyError, UsageError
from .heartbeat import DEFAULT_HEARTBEAT
from .lag import DEFAULT_LAG
from .samplers import DEFAULT_PRUNER, make_pruner, make_sampler
from .space import Space, describe_difference
from .storage import absolute_url, mask_url, open_storage

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass(frozen=True)
class Settings:
    """Everything fixed for the life of a study: stored in the study when it is created,
    and every later run must agree with it.

    ``config`` is the base configuration of every trial (the space's fixed values and
    the run's options applied); each trial overrides the sampled settings and its seed.
    ``lag``: trial k learns from trials 0..k-1-lag only (sweep/lag.py); None in studies
    made before it existed, whose trials learn from whatever has finished.
    ``heartbeat``: seconds between a running trial's heartbeats in a database storage
    (sweep/heartbeat.py); stored so that every machine judges dead trials alike.
    """

    config: Config
    space: Space
    sampler: str = "tpe"
    pruner: str = DEFAULT_PRUNER
    seed: int = 0
    lag: int | None = DEFAULT_LAG
    heartbeat: int = DEFAULT_HEARTBEAT

    def to_dict(self) -> dict[str, Any]:
        """The stored form. The space's fixed values live in the config; the space
        names which settings they are."""
        space = self.space.to_dict()
        space["fixed"] = sorted(space["fixed"])
        return {"config": self.config.to_dict(), "space": space, "sampler": self.sampler,
                "pruner": self.pruner, "seed": self.seed, "lag": self.lag,
                "heartbeat": self.heartbeat}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Settings:
        config = Config.from_record(raw["config"])
        fixed = raw["space"].get("fixed", [])  # names; studies before 0.2 stored values
        space = Space.from_dict({"params": raw["space"].get("params", {}),
                                 "fixed": {name: config.value(name) for name in fixed}})
        lag = raw.get("lag")
        return cls(config, space, raw["sampler"], raw["pruner"], int(raw["seed"]),
                   None if lag is None else int(lag),
                   int(raw.get("heartbeat", DEFAULT_HEARTBEAT)))


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageError(f"--study {name!r}: a study name is letters, digits, '.', '_' and '-' "
                         "(not starting with '.' or '-', at most 100 characters)")
    return name


@dataclass(frozen=True)
class StudyPaths:
    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def journal(self) -> Path:
        return self.root / "journal.log"

    @property
    def trials(self) -> Path:
        return self.root / "trials"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def meta(self) -> Path:
        return self.root / "study.json"

    def trial_dir(self, number: int) -> Path:
        return self.trials / f"{number:04d}"

    @classmethod
    def of(cls, studies_dir: str | os.PathLike, name: str) -> StudyPaths:
        return cls(Path(studies_dir) / check_name(name))


@contextmanager
def study_lock(paths: StudyPaths) -> Iterator[None]:
    """An exclusive lock between all processes on this machine that run this study."""
    paths.root.mkdir(parents=True, exist_ok=True)
    with open(paths.root / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextmanager
def study_locks(paths: StudyPaths, storage: BaseStorage) -> Iterator[None]:
    """The study lock of this machine, then, for a study in a PostgreSQL database, the
    lock between all machines (sweep/dblock.py): always taken in this order."""
    with study_lock(paths), database_lock(storage, paths.name):
        yield


def load_study(paths: StudyPaths, storage: BaseStorage, settings: Settings | None = None,
               next_number: int | None = None) -> optuna.Study:
    """Open an existing study; with ``settings``, with the sampler (seeded for the trial
    numbered ``next_number``) and the pruner they name."""
    kwargs: dict[str, Any] = {}
    if settings is not None:
        kwargs["sampler"] = make_sampler(settings.sampler, settings.seed, next_number or 0)
        kwargs["pruner"] = make_pruner(settings.pruner, settings.config.training.epochs)
    try:
        return optuna.load_study(study_name=paths.name, storage=storage, **kwargs)
    except KeyError:
        raise StudyError(f"no study named {paths.name!r} in {paths.root}") from None


def stored_settings(study: optuna.Study) -> Settings:
    raw = study.user_attrs.get("settings")
    if raw is None:
        raise StudyError(f"study {study.study_name!r} was not created by sweep (no settings)")
    try:
        return Settings.from_dict(raw)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StudyError(f"study {study.study_name!r}: its stored settings are unreadable "
                         f"({type(exc).__name__}: {exc})") from None


def create_or_check(paths: StudyPaths, storage: BaseStorage, settings: Settings,
                    storage_url: str | None) -> optuna.Study:
    """Create the study with its settings, or check that an existing one has the same."""
    with study_locks(paths, storage):
        if paths.name in optuna.get_all_study_names(storage):
            study = optuna.load_study(study_name=paths.name, storage=storage)
            stored = stored_settings(study)
            if stored != settings:
                diff = describe_difference(stored.to_dict(), settings.to_dict())
                raise UsageError(f"study {paths.name!r} exists with other settings ({diff}); "
                                 "use a new --study name to change them")
            return study
        study = optuna.create_study(study_name=paths.name, storage=storage, direction="maximize")
        with warnings.catch_warnings():  # experimental since Optuna 3.2, stable in use
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(["val_accuracy"])
        study.set_user_attr("settings", settings.to_dict())
        study.set_user_attr("created", datetime.now(UTC).isoformat())
        classic = settings.space.classic_params()
        if classic:
            study.enqueue_trial(classic, user_attrs={"classic": True})
        write_json(paths.meta, {"name": paths.name, "storage": mask_url(storage_url) or None,
                                "created": study.user_attrs["created"]})
        return study


def read_meta(paths: StudyPaths) -> dict[str, Any]:
    """study.json: where the study's storage is. Checked as a user's file would be."""
    if not paths.meta.exists() and not paths.meta.is_symlink():
        return {}
    try:
        meta = read_json(paths.meta)
    except ValueError as exc:
        raise StudyError(str(exc)) from None
    storage = meta.get("storage") if isinstance(meta, dict) else None
    if not isinstance(meta, dict) or not (storage is None or (isinstance(storage, str)
                                                             and "://" in storage)):
        raise StudyError(f"{paths.meta}: unreadable (not a study's record: expected an object "
                         "whose storage is a database URL or null)")
    return meta


def storage_url_of(paths: StudyPaths, url: str | None) -> str | None:
    """The storage of the study in this folder: the one study.json records (or its
    journal), which ``url``, when given, must name too. A folder never mixes a study
    from one storage with trials from another."""
    url = absolute_url(url) if url else None
    stored = read_meta(paths).get("storage")
    has_journal = paths.journal.is_file() and paths.journal.stat().st_size > 0
    if url and ((stored and mask_url(url) != stored) or (not stored and has_journal)):
        where = stored or f"its journal file {paths.journal}"
        raise UsageError(f"--storage {mask_url(url)}: study {paths.name!r} in {paths.root} "
                         f"lives in {where}; use another --study or --studies-dir")
    if not url and stored:
        if "***" in stored:
            raise UsageError(f"study {paths.name!r} lives in {stored}; pass --storage with "
                             "its password")
        url = stored
    return url


def storage_for_existing(paths: StudyPaths, url: str | None) -> BaseStorage:
    """The storage of a study that must already exist (for best, trials, report)."""
    if not paths.root.is_dir():
        raise StudyError(f"no study named {paths.name!r} in {paths.root.parent}")
    url = storage_url_of(paths, url)
    if not url and not paths.journal.exists():
        raise StudyError(f"study {paths.name!r} has no storage in {paths.root}")
    return open_storage(paths.journal, url, create=False)


@dataclass(frozen=True)
class Counts:
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    retried: int = 0  # failed trials with a retry: their retry counts instead


    @property
    def finished(self) -> int:
        return self.complete + self.pruned + self.failed


def count(trials: list[FrozenTrial]) -> Counts:
    """Trials by state. A failed trial that was retried (sweep/heartbeat.py) is
    counted apart, not as finished: its retry takes its place toward --trials."""
    retried_numbers = {t.user_attrs.get("retry_of") for t in trials} - {None}
    retried = sum(t.state == TrialState.FAIL and t.number in retried_numbers for t in trials)
    states = [t.state for t in trials]
    return Counts(states.count(TrialState.COMPLETE), states.count(TrialState.PRUNED),
                  states.count(TrialState.FAIL) - retried, states.count(TrialState.RUNNING),
                  retried)

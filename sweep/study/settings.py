"""A study's settings, stored in the study itself, and opening or creating the study.

The settings (base config, space, sampler, pruner, seed, lag, heartbeat) are kept in
the study's storage, so that a study is always resumed the way it was started, from
any machine that reaches its storage; a different space or config is refused rather
than silently mixed.

Where: a study *system* attribute, ``sweep:settings`` (the whole settings as JSON),
beside ``sweep:created``. Optuna's tools list a study's user attributes in their
tables (``optuna studies`` printed a line of over 1,000 columns when the settings
were one), and system attributes live in the same storage, journal or database, so
every machine still finds them. The one user attribute, ``sweep``, is a short line
for those tools: what the value is, the dataset, epochs, sampler, pruner and seed.
Studies made before this kept the settings as the user attribute ``settings``; they
are read from there (and stay as they are).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import optuna
from optuna.storages import BaseStorage

from mlp.atomic import write_json
from mlp.config import Config

from ..errors import StudyError, UsageError
from .lag import DEFAULT_LAG
from .locks import study_locks
from .paths import StudyPaths
from .samplers import DEFAULT_PRUNER, make_pruner, make_sampler
from .space import Space, describe_difference
from .storage import DEFAULT_HEARTBEAT, mask_url

SETTINGS_ATTR = "sweep:settings"  # a study system attribute: the settings as JSON
CREATED_ATTR = "sweep:created"  # a study system attribute: when it was made (UTC, ISO)
SUMMARY_ATTR = "sweep"  # the one user attribute: a short line for Optuna's own tools
OLD_SETTINGS_ATTR = "settings"  # the user attribute studies made before kept them in
METRIC_NAME = "value"  # the objective's name in Optuna: the best epoch's validation accuracy


@dataclass(frozen=True)
class Settings:
    """Everything fixed for the life of a study: stored in the study when it is created,
    and every later run must agree with it.

    ``config`` is the base configuration of every trial (the space's fixed values and
    the run's options applied); each trial overrides the sampled settings and its seed.
    ``lag``: trial k learns from trials 0..k-1-lag only (lag.py); None in studies
    made before it existed, whose trials learn from whatever has finished.
    ``heartbeat``: seconds between a running trial's heartbeats in a database storage
    (sweep/execution/heartbeat.py); stored so that every machine judges dead trials alike.
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

    def lag_at(self, number: int) -> int | None:
        """The lag trial ``number`` waits with: the study's, except in a grid study for
        a trial beyond the grid's size. Such a trial takes a point that no earlier trial
        took (one an enqueued retry left), so it must see every earlier trial: it waits
        for all of them (lag 0), and no two trials ever take one point."""
        if self.sampler == "grid" and self.lag is not None \
                and number >= self.space.grid_size():
            return 0
        return self.lag

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

    def summary(self) -> str:
        """One short line for Optuna's tools (``optuna studies``, the dashboard)."""
        data, training = self.config.data, self.config.training
        lag = "off" if self.lag is None else self.lag
        epochs = f"{training.epochs} epoch{'' if training.epochs == 1 else 's'}"
        return (f"value: validation accuracy; {data.dataset}, {epochs}, "
                f"{self.sampler}/{self.pruner}, seed {self.seed}, lag {lag}")


def load_study(paths: StudyPaths, storage: BaseStorage, settings: Settings | None = None,
               next_number: int | None = None) -> optuna.Study:
    """Open an existing study; with ``settings``, with the sampler (seeded for the trial
    numbered ``next_number``) and the pruner they name."""
    kwargs: dict[str, Any] = {}
    if settings is not None:
        kwargs["sampler"] = make_sampler(settings.sampler, settings.seed, next_number or 0,
                                         settings.space)
        kwargs["pruner"] = make_pruner(settings.pruner, settings.config.training.epochs)
    try:
        return optuna.load_study(study_name=paths.name, storage=storage, **kwargs)
    except KeyError:
        raise StudyError(missing_study(paths, storage)) from None


def missing_study(paths: StudyPaths, storage: BaseStorage) -> str:
    """Why study ``paths.name`` is not in ``storage``, naming the studies it holds: a
    study folder renamed after its study was made keeps a journal of the old name."""
    try:
        names = optuna.get_all_study_names(storage)
    except Exception:  # noqa: BLE001  (the names only help the message)
        names = []
    masked = getattr(storage, "masked", None)  # a database (sweep/study/database.py)
    text = f"no study named {paths.name!r} in " + (f"the database {masked}" if masked
                                                    else str(paths.root))
    if not names:
        return text
    held = ", ".join(repr(n) for n in names[:5]) + (" ..." if len(names) > 5 else "")
    if len(names) == 1 and paths.journal.is_file():
        return (f"{text}: its journal holds the study {held} (was the folder renamed? A "
                f"study's folder is named as the study: rename it back to {names[0]})")
    return f"{text}: {'it' if masked else 'the storage'} holds {held}"


def _system_attrs(study: optuna.Study) -> dict[str, Any]:
    # Optuna 5 has no public reader of a study's system attributes; its storage has
    # (the study's id and storage are private, as optuna.artifacts uses them too)
    return study._storage.get_study_system_attrs(study._study_id)


def settings_record(study: optuna.Study) -> Any:
    """The settings as stored (plain JSON): the system attribute, or where an older
    version kept them, the user attribute; None in a study sweep did not make."""
    raw = _system_attrs(study).get(SETTINGS_ATTR)
    return study.user_attrs.get(OLD_SETTINGS_ATTR) if raw is None else raw


def stored_settings(study: optuna.Study) -> Settings:
    raw = settings_record(study)
    if raw is None:
        raise StudyError(f"study {study.study_name!r} was not created by sweep (no settings)")
    try:
        if not isinstance(raw, Mapping):
            raise TypeError(f"not an object but {type(raw).__name__}")
        return Settings.from_dict(dict(raw))
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
            study.set_metric_names([METRIC_NAME])
        created = datetime.now(UTC).isoformat()
        storage.set_study_system_attr(study._study_id, SETTINGS_ATTR, settings.to_dict())
        storage.set_study_system_attr(study._study_id, CREATED_ATTR, created)
        study.set_user_attr(SUMMARY_ATTR, settings.summary())
        # a grid study runs its grid and nothing else (put the classic values in the grid)
        classic = settings.space.classic_params() if settings.sampler != "grid" else {}
        if classic:
            study.enqueue_trial(classic, user_attrs={"classic": True})
        write_json(paths.meta, {"name": paths.name, "storage": mask_url(storage_url) or None,
                                "created": created})
        return study

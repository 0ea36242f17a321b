"""A study on disk: its folder, its Optuna storage, its settings, and its lock.

    studies/<name>/journal.log    Optuna's JournalStorage (file backend), unless --storage
    studies/<name>/study.json     where the storage is (password masked) and the settings
    studies/<name>/trials/NNNN/   one experiment directory per trial
    studies/<name>/report/        the report

The settings (fixed config, space, sampler, pruner, seed) are stored in the study
itself, as study user attributes, so that a study is always resumed the way it
was started; a different space or config is refused rather than silently mixed.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage
from optuna.trial import TrialState

from mlp.atomic import write_json
from mlp.config import Config

from .errors import StudyError, UsageError
from .records import record_end
from .space import Space, describe_difference

SAMPLERS = ("tpe", "random", "cmaes", "gp", "qmc")
PRUNERS = ("median", "hyperband", "none")
DEFAULT_PRUNER = "hyperband"  # chosen on benchmarks/README.md, section 3
DEFAULT_STUDY = "mnist-mlp"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass(frozen=True)
class Settings:
    """Everything fixed for the life of a study."""

    config: dict[str, Any]  # the base Config (fixed values applied) as a dict
    space: dict[str, Any]
    sampler: str = "tpe"
    pruner: str = DEFAULT_PRUNER
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "space": self.space, "sampler": self.sampler,
                "pruner": self.pruner, "seed": self.seed}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Settings:
        return cls(raw["config"], raw["space"], raw["sampler"], raw["pruner"], int(raw["seed"]))

    @property
    def base_config(self) -> Config:
        return Config.from_dict(self.config)

    @property
    def search_space(self) -> Space:
        return Space.from_dict(self.space)


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
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


def mask_url(url: str | None) -> str:
    """The URL with any password replaced by ***, safe for logs and files."""
    if not url:
        return ""
    if "://" not in url:  # not parsed as a URL, but may still carry user:password@host
        return re.sub(r":[^:@/]*@", ":***@", url)
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else f":***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


class _SafeJournalBackend(JournalFileBackend):
    """Optuna's journal file, with appends that never leave a torn line behind.

    Optuna appends through a buffered write: on a full disk part of a line can land,
    every later append is glued onto it, and the journal never loads again. Here a
    failed append is cut back off (and a torn tail left by a killed writer is cut
    before the next append), and the error names the journal.
    """

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        payload = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs)
                   + "\n").encode("utf-8")
        self._lock.acquire()
        try:
            with open(self._file_path, "r+b", buffering=0) as f:
                end = _whole_lines_length(f)
                f.truncate(end)
                f.seek(end)
                try:
                    view = memoryview(payload)
                    while view:
                        view = view[f.write(view):]
                    os.fsync(f.fileno())
                except OSError as exc:
                    with suppress(OSError):
                        f.truncate(end)
                    raise OSError(exc.errno, f"cannot write the study journal ({exc.strerror})",
                                  self._file_path) from None
        finally:
            self._lock.release()


def _whole_lines_length(f: Any) -> int:
    """The length of the file up to and including its last newline."""
    end = f.seek(0, os.SEEK_END)
    pos = end
    while pos > 0:
        start = max(0, pos - 65536)
        f.seek(start)
        chunk = f.read(pos - start)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        pos = start
    return 0


def open_storage(paths: StudyPaths, url: str | None = None) -> BaseStorage:
    """The default journal file storage in the study folder, or any Optuna database URL."""
    if not url:
        paths.root.mkdir(parents=True, exist_ok=True)
        backend = _SafeJournalBackend(str(paths.journal),
                                     lock_obj=JournalFileOpenLock(str(paths.journal)))
        return JournalStorage(backend)
    scheme = urlsplit(url).scheme
    if not scheme or "://" not in url:
        raise UsageError(f"--storage {mask_url(url)!r}: not a database URL "
                         "(e.g. sqlite:///study.db, postgresql://user:pass@host/db)")
    try:
        return RDBStorage(url)
    except Exception as exc:  # SQLAlchemy raises many kinds; all mean the same to the user
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"--storage {mask_url(url)}: cannot open ({mask_url(reason)})") from None


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        try:
            import scipy  # noqa: F401
            import torch  # noqa: F401
        except ImportError:
            raise UsageError("--sampler gp: Optuna's GP sampler needs PyTorch and SciPy "
                             "(pip install -e '.[gp]')") from None
        return optuna.samplers.GPSampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    raise UsageError(f"--sampler {name!r}: unknown sampler (choose from {', '.join(SAMPLERS)})")


def make_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    if name == "median":
        # five trials before it judges anyone, and never in the first two epochs, which
        # say little about where a run ends up
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs,
                                              reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise UsageError(f"--pruner {name!r}: unknown pruner (choose from {', '.join(PRUNERS)})")


def trial_seed(study_seed: int, number: int) -> int:
    """A trial's training seed: fixed by the study seed and the trial number alone."""
    return int(np.random.SeedSequence([study_seed, number]).generate_state(1)[0])


def sampler_seed(settings: Settings, next_number: int) -> int:
    # Every worker builds its own sampler; seeding it by the trial it is about to
    # create keeps workers from drawing the same "random" start-up points. QMC is the
    # exception: its sequence is indexed by trial number and needs one seed.
    if settings.sampler == "qmc":
        return settings.seed
    return trial_seed(settings.seed, next_number) % (2**31)


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


def load_study(paths: StudyPaths, storage: BaseStorage, settings: Settings | None = None,
               next_number: int | None = None) -> optuna.Study:
    """Open an existing study with samplers and pruner built from its stored settings."""
    try:
        study = optuna.load_study(study_name=paths.name, storage=storage)
    except KeyError:
        raise StudyError(f"no study named {paths.name!r} in {paths.root}") from None
    if settings is None:
        settings = stored_settings(study)
    if next_number is None:
        return study
    epochs = settings.base_config.training.epochs
    return optuna.load_study(study_name=paths.name, storage=storage,
                             sampler=make_sampler(settings.sampler,
                                                  sampler_seed(settings, next_number)),
                             pruner=make_pruner(settings.pruner, epochs))


def stored_settings(study: optuna.Study) -> Settings:
    raw = study.user_attrs.get("settings")
    if raw is None:
        raise StudyError(f"study {study.study_name!r} was not created by sweep (no settings)")
    return Settings.from_dict(raw)


def create_or_check(paths: StudyPaths, storage: BaseStorage, settings: Settings,
                    storage_url: str | None) -> optuna.Study:
    """Create the study with its settings, or check that an existing one has the same."""
    with study_lock(paths):
        names = optuna.get_all_study_names(storage)
        if paths.name in names:
            study = optuna.load_study(study_name=paths.name, storage=storage)
            stored = stored_settings(study)
            if stored.to_dict() != settings.to_dict():
                diff = describe_difference(stored.to_dict(), settings.to_dict())
                raise UsageError(f"study {paths.name!r} exists with other settings ({diff}); "
                                 "use a new --study name to change them")
            return study
        study = optuna.create_study(study_name=paths.name, storage=storage, direction="maximize")
        study.set_user_attr("settings", settings.to_dict())
        study.set_user_attr("created", datetime.now(UTC).isoformat())
        classic = settings.search_space.classic_params()
        if classic:
            study.enqueue_trial(classic, user_attrs={"classic": True})
        write_json(paths.meta, {"name": paths.name, "storage": mask_url(storage_url) or None,
                                "created": study.user_attrs["created"],
                                "settings": settings.to_dict()})
        return study


def read_meta(paths: StudyPaths) -> dict[str, Any]:
    try:
        return json.loads(paths.meta.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise StudyError(f"{paths.meta}: unreadable ({exc})") from None


def storage_for_existing(paths: StudyPaths, url: str | None) -> BaseStorage:
    """The storage of a study that must already exist (for best, trials, report)."""
    if not paths.root.is_dir():
        raise StudyError(f"no study named {paths.name!r} in {paths.root.parent}")
    stored = read_meta(paths).get("storage")
    if not url and stored:
        if "***" in stored:
            raise UsageError(f"study {paths.name!r} lives in {stored}; pass --storage with "
                             "its password")
        url = stored
    if not url and not paths.journal.exists():
        raise StudyError(f"study {paths.name!r} has no storage in {paths.root}")
    return open_storage(paths, url)


@dataclass(frozen=True)
class Counts:
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    waiting: int = 0

    @property
    def finished(self) -> int:
        return self.complete + self.pruned + self.failed


def count(trials: list[optuna.trial.FrozenTrial]) -> Counts:
    states = [t.state for t in trials]
    return Counts(states.count(TrialState.COMPLETE), states.count(TrialState.PRUNED),
                  states.count(TrialState.FAIL), states.count(TrialState.RUNNING),
                  states.count(TrialState.WAITING))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child stays a zombie until its parent reaps it: that is dead too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def fail_stale_trials(study: optuna.Study, paths: StudyPaths, reason: str,
                      pids: set[int] | None = None) -> list[int]:
    """Mark RUNNING trials whose worker process is gone as FAIL, with the reason.

    A trial records its worker's pid and host when it starts. On this host a dead
    pid means the trial can never finish; ``pids`` restricts the sweep to trials of
    those workers (a run cleaning up after its own workers).
    """
    with study_lock(paths):
        return _fail_stale(study, paths, reason, pids)


def _fail_stale(study: optuna.Study, paths: StudyPaths, reason: str,
                pids: set[int] | None) -> list[int]:
    host = socket.gethostname()
    local = isinstance(study._storage, JournalStorage)
    failed = []
    now = datetime.now(UTC).replace(tzinfo=None)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = t.user_attrs.get("pid")
        if pid is None:
            # A worker asks for a trial and records its pid under the study lock, which
            # we hold: in a local study a trial without a pid lost its worker in between.
            # A shared database may hold other machines' trials, so give them time.
            started = t.datetime_start or now
            stale = local or now - started > timedelta(minutes=10)
        elif t.user_attrs.get("host") != host:
            stale = False
        elif pids is not None:
            stale = pid in pids and not pid_alive(pid)
        else:
            stale = not pid_alive(pid)
        if stale:
            study._storage.set_trial_user_attr(t._trial_id, "reason", reason)
            study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            record_end(paths, study._storage.get_trial(t._trial_id))
            failed.append(t.number)
    return failed

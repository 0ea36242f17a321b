"""A study's folder, and where its storage is.

    studies/<name>/journal.log    Optuna's JournalStorage (file backend), unless --storage
    studies/<name>/study.json     where the storage is (password masked), when it was made
    studies/<name>/trials/NNNN/   one experiment directory per trial
    studies/<name>/confirm/       what ``sweep confirm`` re-trained (confirmations.py)
    studies/<name>/report/        the report
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optuna.storages import BaseStorage

from mlp.experiment import read_json

from ..errors import StudyError, UsageError
from ..options import culprit, option, text
from .storage import absolute_url, named, open_storage, same_storage

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
DEFAULT_STUDY = "mnist-mlp"
DEFAULT_STUDIES_DIR = "studies"
ARTIFACTS_FOLDER = "artifacts"  # Optuna's artifact store: each trial's figures, checkpoint
WORKERS_LOG = "workers.log"  # in the study folder: what worker processes print
CONFIRM_DIR = "confirm"


NAME_RULE = ("a study name is letters, digits, '.', '_' and '-' (not starting with '.' or "
             "'-', at most 100 characters)")


def study_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(NAME_RULE)
    return name


def check_name(name: str) -> str:
    try:
        return study_name(name)
    except ValueError:
        raise UsageError(f"--study {name!r}: {NAME_RULE}") from None


@dataclass(frozen=True, kw_only=True)
class StudyLocation:
    """Which study a command works on: the options every study command takes."""

    study: str = option(DEFAULT_STUDY, env="SWEEP_STUDY", convert=study_name,
                        metavar="NAME", help=f"the study's name ({DEFAULT_STUDY})")
    studies_dir: str = option(DEFAULT_STUDIES_DIR, env="SWEEP_STUDIES_DIR", convert=text,
                              metavar="DIR", help="the folder of studies (studies)")
    storage: str | None = option(None, env="SWEEP_STORAGE", convert=text, metavar="URL",
                                 help="an Optuna database URL instead of the study's "
                                      "journal file")

    def check(self, cli: bool) -> StudyLocation:
        folder = Path(self.studies_dir)
        for part in (folder, *folder.parents):
            if part.exists() and not part.is_dir():
                named = culprit(StudyLocation, "studies_dir", self.studies_dir, cli)
                raise UsageError(f"{named}: {part} is not a folder")
        return self

    @property
    def paths(self) -> StudyPaths:
        return StudyPaths.of(self.studies_dir, self.study)


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

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def artifacts(self) -> Path:
        return self.root / ARTIFACTS_FOLDER

    def check_layout(self, *, report: bool) -> None:
        """Before a run: what exists of the study's folder is laid out as a study's, each
        folder a folder and each file a file. Every trial would fail on a file named
        trials, each trial's artifacts go missing in silence on one named artifacts,
        and the report would fail after the whole run on one named report."""
        if self.root.is_dir() and not is_study_folder(self.root):
            foreign = sorted(e.name for e in self.root.iterdir() if not _a_studys(e.name))
            if foreign:  # another program's folder (a compare page, a training run)
                raise StudyError(f"{self.root} holds {foreign[0]!r}, which is not a study's: "
                                 "it is no study folder; name another --study (or move it "
                                 "away)")
        folders = [self.root, self.trials, self.artifacts, *([self.report] if report else [])]
        for folder in folders:
            if (folder.exists() or folder.is_symlink()) and not folder.is_dir():
                raise StudyError(f"{folder} is not a folder: move it away and run again")
        files = {self.journal: "journal", self.meta: "record"}
        for file, what in files.items():
            if file.is_dir():
                raise StudyError(f"{file} is a folder where the study's {what} goes: move it "
                                 "away and run again")
        check_workers_log(self.root / WORKERS_LOG)

    def trial_dir(self, number: int) -> Path:
        return self.trials / f"{number:04d}"

    def flags(self, name: str | None = None) -> str:
        """``--study NAME``, and ``--studies-dir DIR`` unless it is the default: what a
        command advised about this study (or a study ``name`` beside it) needs to find
        it where the advice was given, quoted for a shell. A study in a database whose
        password study.json does not keep adds ``--storage`` with the URL and PASSWORD
        where the password goes (the harness never keeps it)."""
        folder = self.root.parent
        where = "" if folder == Path(DEFAULT_STUDIES_DIR) else \
            f" --studies-dir {shlex.quote(str(folder))}"
        try:
            stored = read_meta(self).get("storage") if name is None else None
        except StudyError:
            stored = None
        if isinstance(stored, str) and "***" in stored:
            where += f" --storage {shlex.quote(stored.replace('***', 'PASSWORD'))}"
        return f"--study {shlex.quote(name or self.name)}{where}"

    @classmethod
    def of(cls, studies_dir: str | os.PathLike, name: str) -> StudyPaths:
        return cls(Path(studies_dir) / check_name(name))


def check_workers_log(path: Path) -> None:
    """Before workers start: what is at ``path`` takes their output (their waits, their
    last words). A folder, a link to nothing, a device (/dev/full) or a pipe (whose
    opening waits for a reader) would send it nowhere or hang the worker opening it, so
    each is named now. Nothing is written: a run refused later leaves the study as it
    was."""
    if path.is_dir():
        raise StudyError(f"{path} is a folder where the study's workers' log goes: move it "
                         "away and run again")
    if path.is_symlink() and not path.exists():
        raise StudyError(f"{path}: the study's workers' log is a link to nothing; their "
                         "output and waits would go nowhere: move it away and run again")
    if path.exists() and not path.is_file():
        raise StudyError(f"{path}: the study's workers' log is not a regular file (a "
                         "device or a pipe); their output and waits would go nowhere: move "
                         "it away and run again")


def is_study_folder(folder: Path) -> bool:
    """A study's folder: its study.json, or its journal beside its trials (a first run
    killed before it wrote study.json). A journal.log alone is some other program's."""
    return (folder / "study.json").is_file() or (
        (folder / "journal.log").is_file() and (folder / "trials").is_dir())


def _a_studys(name: str) -> bool:
    """Whether a file or folder of this name may be a study's own (its parts, its locks
    and temporary files, the journal's repaired copies), before its study.json exists."""
    return name in ("trials", ARTIFACTS_FOLDER, "report", CONFIRM_DIR, "study.json",
                    WORKERS_LOG) or name.startswith((".", "journal.log"))


def is_experiment_dir(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / "history.csv").is_file()


def enclosing(path: str | os.PathLike) -> str | None:
    """What ``path`` is, or is inside of, that only the harness writes: "the study folder
    F" or "the experiment directory F"; None for a place of the user's own. Every
    command that writes where the user says (an export, a page, a figure, a studies
    folder) asks this first, so that none overwrites or mixes into a study."""
    resolved = Path(path).resolve()
    for folder in (resolved, *resolved.parents):
        if is_study_folder(folder):
            return f"the study folder {folder}"
        if is_experiment_dir(folder):
            return f"the experiment directory {folder}"
    return None


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
    meta = read_meta(paths)
    stored = meta.get("storage")
    has_journal = paths.journal.is_file() and paths.journal.stat().st_size > 0
    recorded = meta.get("name")
    if isinstance(recorded, str) and recorded != paths.name:
        raise StudyError(f"no study named {paths.name!r} in {paths.root}: its study.json "
                         f"holds the study {recorded!r} (was the folder renamed? A study's "
                         f"folder is named as the study: rename it back to {recorded})")
    if meta and not stored and not url and not has_journal:
        what = ("is not a regular file" if os.path.lexists(paths.journal)
                and not paths.journal.is_file() else "is missing or empty")
        raise StudyError(f"{paths.meta} records a study kept in its journal, but "
                         f"{paths.journal} {what}: restore it, or move "
                         f"{paths.root} away to start a new study there")
    # the same database however spelled (driver, host name, options, user) is the same
    if url and ((stored and not same_storage(url, stored)) or (not stored and has_journal)):
        where = stored or f"its journal file {paths.journal}"
        raise UsageError(f"{named(url)}: study {paths.name!r} in {paths.root} "
                         f"lives in {where}, another storage; a study of this storage needs "
                         "another --study or --studies-dir")
    if not url and stored:
        if "***" in stored:
            raise UsageError(f"study {paths.name!r} lives in {stored}; pass --storage with "
                             "its password")
        url = stored
    return url


def storage_for_existing(paths: StudyPaths, url: str | None) -> BaseStorage:
    """The storage of a study that must already exist (for best, trials, report). A
    database study is read from any folder, also one that never ran it (its trials'
    folders are then on the machines that ran them)."""
    if not paths.root.is_dir() and not url:
        raise StudyError(f"no study named {paths.name!r} in {paths.root.parent}")
    url = storage_url_of(paths, url)
    if not url and not paths.journal.exists():
        raise StudyError(f"study {paths.name!r} has no storage in {paths.root}")
    return open_storage(paths.journal, url, create=False)

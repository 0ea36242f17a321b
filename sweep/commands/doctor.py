"""``python -m sweep doctor``: check a study's journal and repair a damaged one.

A journal line that is not one of Optuna's log records (junk, an empty line, bytes
that are not UTF-8, a torn write glued to the next) stops every command with its
line number. The repair keeps a copy of the journal as it was, drops exactly the
damaged lines, and replaces the journal only if what remains loads as a study.
"""

from __future__ import annotations

import argparse
import shutil
from datetime import datetime
from pathlib import Path

import optuna
from optuna.storages.journal import JournalStorage

from mlp.atomic import write_with

from ..errors import StudyError, UsageError
from ..study.locks import study_lock
from ..study.paths import StudyPaths
from ..study.settings import missing_study
from ..study.storage import JournalDamaged, JournalFile, parse_line
from ..text import plural
from .common import add_study_args, location

DESCRIPTION = (
    "Check a study's journal file and repair a damaged one. A line that is not one of "
    "Optuna's records (junk, an empty line, bytes that are not UTF-8, a torn write) stops "
    "every command with its line number; the repair keeps a copy of the journal as it "
    "was, drops exactly the damaged lines, and replaces the journal only if what remains "
    "loads as the study.")


def damaged_lines(journal: Path) -> tuple[list[bytes], list[tuple[int, str]]]:
    """The journal's good lines, and (line number, reason) of each damaged one; a torn
    last line (no newline) counts as damaged."""
    good, bad = [], []
    with open(journal, "rb") as f:
        for number, line in enumerate(f, start=1):
            if not line.endswith(b"\n"):
                bad.append((number, "torn: no end of line"))
                continue
            try:
                parse_line(line, str(journal), number)
            except JournalDamaged as exc:
                bad.append((number, str(exc).split("(", 1)[1].split(")", 1)[0]))
                continue
            good.append(line)
    return good, bad


def _loads(journal: Path, paths: StudyPaths) -> str | None:
    """Why the journal does not load as the study, or None when it does."""
    try:
        storage = JournalStorage(JournalFile(journal))
        if paths.name not in optuna.get_all_study_names(storage):
            return missing_study(paths, storage)
        optuna.load_study(study_name=paths.name, storage=storage).get_trials(deepcopy=False)
    except Exception as exc:  # noqa: BLE001  (any failure to replay is the answer)
        return f"{type(exc).__name__}: {exc}"
    return None


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_study_args(p)
    p.add_argument("--check", action="store_true",
                   help="only report the damage; change nothing")


def run(args: argparse.Namespace) -> int:
    where = location(args)
    if where.storage:
        raise UsageError("--storage: doctor repairs journal files; a database has its own tools")
    paths = where.paths
    if not paths.journal.is_file():
        raise StudyError(f"no study journal at {paths.journal}")
    lock = JournalFile(paths.journal).lock  # writers of the journal wait while we work
    with study_lock(paths):
        lock.acquire()
        try:
            return _check_and_repair(paths, args.check)
        finally:
            lock.release()


def _check_and_repair(paths: StudyPaths, check_only: bool) -> int:
    good, bad = damaged_lines(paths.journal)
    if not bad:
        problem = _loads(paths.journal, paths)
        if problem:
            raise StudyError(f"{paths.journal}: every line is a record, but the study does "
                             f"not load: {problem}")
        print(f"{paths.journal}: {plural(len(good), 'record')}, no damage")
        return 0
    for number, reason in bad:
        print(f"{paths.journal}: line {number}: {reason}")
    if check_only:
        print(f"{plural(len(bad), 'damaged line')}; run without --check to repair")
        return 1
    return _repair(paths, good, len(bad))


def _repair(paths: StudyPaths, good: list[bytes], n_bad: int) -> int:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    backup = paths.journal.with_name(f"{paths.journal.name}.damaged-{stamp}")
    trial = paths.journal.with_name(f".{paths.journal.name}.repaired")
    try:
        write_with(trial, lambda f: f.writelines(good), mode="wb")
        problem = _loads(trial, paths)
        if problem:
            raise StudyError(f"{paths.journal}: without its {plural(n_bad, 'damaged line')} "
                             f"the study does not load ({problem}); nothing was changed")
        shutil.copy2(paths.journal, backup)
        trial.replace(paths.journal)
    finally:  # an interrupt or a failed check leaves only the journal as it was
        trial.unlink(missing_ok=True)
    print(f"dropped {plural(n_bad, 'damaged line')}; the journal as it was is kept in "
          f"{backup}")
    return 0



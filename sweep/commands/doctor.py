"""``python -m sweep doctor``: check a study's journal and repair a damaged one.

A journal line that is not one of Optuna's log records (junk, an empty line, bytes
that are not UTF-8, a torn write glued to the next) stops every command with its
line number. The repair keeps a copy of the journal as it was, drops exactly the
damaged lines, and replaces the journal only if what remains loads as a study.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import optuna
from optuna.storages.journal import JournalStorage

from mlp.atomic import write_with

from ..errors import StudyError, UsageError
from ..study.journal_records import JournalContext, record_problem
from ..study.locks import study_lock
from ..study.paths import StudyPaths, read_meta
from ..study.settings import missing_study, settings_record, stored_settings
from ..study.storage import JournalDamaged, JournalFile, parse_line
from ..text import plural
from .common import add_study_args, location

DESCRIPTION = (
    "Check a study's journal file and repair a damaged one. A line that is not one of "
    "Optuna's records (junk, an empty line, bytes that are not UTF-8, a torn write) stops "
    "every command with its line number; the repair keeps a copy of the journal as it "
    "was, drops exactly the damaged lines, and replaces the journal only if what remains "
    "loads as the study.")


# what a record of each kind holds, by op_code, for saying what a dropped line lost
KINDS = {0: "a study's creation", 1: "a study's deletion", 2: "a study's attribute",
         3: "a study's attribute", 4: "a trial's creation", 5: "a trial's setting",
         6: "a trial's state or value", 7: "an epoch's value", 8: "a trial's attribute",
         9: "a trial's attribute", 10: "discarded trials"}
OP_CODE = re.compile(rb'"op_code"\s*:\s*(\d+)')


@dataclass
class Damage:
    """One damaged line: its number, why, the whole records recovered from it, and the
    kinds of record whose bytes are lost with the rest of it."""

    number: int
    reason: str
    recovered: list[bytes]
    lost: list[int]

    @property
    def creation(self) -> bool:
        """It held (part of) a study's or a trial's creation, which no repair may drop."""
        return bool({0, 4} & set(self.lost))

    def text(self) -> str:
        said = [f"line {self.number}: {self.reason}"]
        if self.recovered:
            said.append(f"{plural(len(self.recovered), 'whole record')} recovered from it")
        if self.lost:
            kinds = sorted({KINDS.get(op, f"a record of kind {op}") for op in self.lost})
            said.append(f"lost with it: part of {' and '.join(kinds)}")
        return "; ".join(said)


def damaged_lines(journal: Path) -> tuple[list[bytes], list[Damage]]:
    """The journal's lines as they would be repaired (good ones, and the whole records
    recovered from damaged ones), and each damaged line; a torn last line (no newline)
    counts as damaged."""
    kept, bad = [], []
    context = JournalContext()  # what the lines kept so far established
    with open(journal, "rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                if not line.endswith(b"\n"):
                    raise JournalDamaged(f"{journal}: line {number} is damaged (torn: no end "
                                         "of line)")
                record = parse_line(line, str(journal), number)
            except JournalDamaged as exc:
                recovered, rest = recover(line)
                recovered = [r for r in recovered if context.check(json.loads(r)) is None]
                lost = [int(m.group(1)) for m in OP_CODE.finditer(rest)]
                reason = str(exc).split("(", 1)[1].rsplit(")", 1)[0]
                bad.append(Damage(number, reason, recovered, lost))
                kept += recovered
                continue
            misfit = context.check(record)
            if misfit is not None:  # a whole record that does not fit: dropped as it is
                bad.append(Damage(number, misfit, [], []))
                continue
            kept.append(line)
    return kept, bad


def recover(line: bytes) -> tuple[list[bytes], bytes]:
    """The whole records inside a damaged line (junk before, between or after them, a
    torn record glued in front), each as a line, and the bytes left over. A record is
    recovered only where its own bytes are intact: nothing inside one is guessed."""
    decoder = json.JSONDecoder()
    records, rest, pos = [], b"", 0
    for match in re.finditer(rb'\{\s*"op_code"', line):
        start = match.start()
        if start < pos:
            continue  # inside a record already recovered
        try:
            text = line[start:].decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:  # bytes that are not UTF-8 after the record
            text = line[start:start + exc.start].decode("utf-8")
        try:
            record, length = decoder.raw_decode(text)
        except json.JSONDecodeError:
            continue
        if record_problem(record) is not None:
            continue
        end = start + len(text[:length].encode("utf-8"))
        records.append(line[start:end] + b"\n")
        rest += line[pos:start]
        pos = end
    return records, rest + line[pos:]


def shifted_trials(lines: list[bytes]) -> int | None:
    """The first line (1-based, of ``lines``) that names a trial not created before it:
    a dropped creation shifts every later trial's number, so no repair may drop one."""
    created = 0
    for number, line in enumerate(lines, start=1):
        record = json.loads(line)
        if record["op_code"] == 4:
            created += 1
        trial_id = record.get("trial_id")
        if isinstance(trial_id, int) and trial_id >= created:
            return number
    return None


def _loads(journal: Path, paths: StudyPaths) -> str | None:
    """Why the journal does not load as the study, or None when it does."""
    try:
        storage = JournalStorage(JournalFile(journal))
        if paths.name not in optuna.get_all_study_names(storage):
            return missing_study(paths, storage)
        study = optuna.load_study(study_name=paths.name, storage=storage)
        study.get_trials(deepcopy=False)
        if settings_record(study) is None:  # every command would refuse it as not sweep's
            return "the study's settings were on a damaged line"
        stored_settings(study)
    except Exception as exc:  # noqa: BLE001  (any failure to replay is the answer)
        return str(exc) if isinstance(exc, StudyError) else f"{type(exc).__name__}: {exc}"
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
        stored = read_meta(paths).get("storage")
        if stored:
            raise UsageError(f"study {paths.name!r} lives in {stored}: doctor repairs "
                             "journal files; a database has its own tools")
        if os.path.lexists(paths.journal):
            raise StudyError(f"{paths.journal} is not a regular file: restore the journal "
                             "there, or move the folder away")
        raise StudyError(f"no study journal at {paths.journal}")
    if paths.journal.stat().st_size == 0:
        raise StudyError(f"{paths.journal} is empty: nothing to repair (restore the "
                         "journal from a copy, or move the folder away)")
    if args.check and not os.access(paths.root, os.W_OK):
        # a folder this process cannot write (a read-only disk): its locks cannot be
        # made, and the check, which only reads, needs none from this process
        return _check_and_repair(paths, True)
    lock = JournalFile(paths.journal).lock  # writers of the journal wait while we work
    with study_lock(paths):
        lock.acquire()
        try:
            return _check_and_repair(paths, args.check)
        finally:
            lock.release()


def _check_and_repair(paths: StudyPaths, check_only: bool) -> int:
    kept, bad = damaged_lines(paths.journal)
    if not bad:
        problem = _loads(paths.journal, paths)
        if problem:
            raise StudyError(f"{paths.journal}: every line is a record, but the study does "
                             f"not load: {problem}")
        print(f"{paths.journal}: {plural(len(kept), 'record')}, no damage")
        return 0
    for damage in bad:
        print(f"{paths.journal}: {damage.text()}")
    refused = _lost_creation(kept, bad)
    if check_only:
        print(f"{plural(len(bad), 'damaged line')}; " + (
            f"no repair can mend {'them' if len(bad) > 1 else 'it'}: {refused} (restore the "
            "journal from a copy, or start the study again)" if refused
            else "run without --check to repair"))
        return 1
    if refused:
        raise StudyError(f"{paths.journal}: {refused}; nothing was changed (restore the "
                         "journal from a copy, or start the study again)")
    return _repair(paths, kept, bad)


def _lost_creation(kept: list[bytes], bad: list[Damage]) -> str | None:
    """Why no repair may drop these lines, or None: the study's creation (always line
    1) leaves nothing of it; a trial's shifts every later trial's number."""
    study = [d.number for d in bad if d.number == 1 or 0 in d.lost]
    if study:
        return f"line {study[0]} held the study's creation, without which nothing of it stands"
    creations = [d.number for d in bad if d.creation]
    if creations or shifted_trials(kept) is not None:
        where = f"line {creations[0]}" if creations else "a damaged line"
        return (f"{where} held a trial's creation, and without it every later trial would "
                "take another's number and records")
    return None


def _copy_whole(source: Path, copy: Path) -> None:
    """``source`` copied to ``copy``, or no ``copy`` at all (a copy cut by a full disk
    would pass for the journal as it was)."""
    try:
        shutil.copy2(source, copy)
    except BaseException:
        copy.unlink(missing_ok=True)
        raise


def _repair(paths: StudyPaths, good: list[bytes], bad: list[Damage]) -> int:
    recovered = sum(len(d.recovered) for d in bad)
    n_bad = len(bad)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    backup = paths.journal.with_name(f"{paths.journal.name}.damaged-{stamp}")
    trial = paths.journal.with_name(f".{paths.journal.name}.repaired")
    try:
        write_with(trial, lambda f: f.writelines(good), mode="wb")
        problem = _loads(trial, paths)
        if problem:
            raise StudyError(f"{paths.journal}: without its {plural(len(bad), 'damaged line')} "
                             f"the study does not load ({problem}); nothing was changed")
        _copy_whole(paths.journal, backup)
        trial.replace(paths.journal)
    except OSError as exc:  # a full disk: the copies are the tool's, the journal the user's
        raise StudyError(f"{paths.journal}: cannot repair it ({exc.strerror or exc}); "
                         "nothing was changed") from None
    finally:  # an interrupt or a failed check leaves only the journal as it was
        trial.unlink(missing_ok=True)
    inside = f", keeping the {plural(recovered, 'whole record')} inside them" if recovered else ""
    print(f"replaced {plural(n_bad, 'damaged line')}{inside}; the journal as it was is kept "
          f"in {backup}")
    return 0



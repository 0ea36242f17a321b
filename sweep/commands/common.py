"""What every study command shares: the options that name the study, and opening it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import StudyError, UsageError
from ..options import add_arguments, build, from_namespace
from ..study.paths import StudyLocation
from ..study.records import TrialOutcome
from ..study.results import StudyResults, load


def add_study_args(p: argparse.ArgumentParser) -> None:
    """--study, --studies-dir and --storage (defaults from SWEEP_STUDY, SWEEP_STUDIES_DIR
    and SWEEP_STORAGE)."""
    add_arguments(p, StudyLocation)


def location(args: argparse.Namespace) -> StudyLocation:
    return build(StudyLocation, from_namespace(args, StudyLocation), cli=True)


def open_results(args: argparse.Namespace) -> StudyResults:
    """The study the command line names, for reading; a note on stderr for the trials
    whose folders this machine cannot reach."""
    where = location(args)
    results = load(where.study, where.studies_dir, where.storage)
    note = results.unreachable_note()
    if note:
        print(f"note: {note}", file=sys.stderr)
    return results


def trained_trial(results: StudyResults, number: int, diverged: bool = True) -> TrialOutcome:
    """Trial ``number`` of the study, which must have trained (completed or pruned; with
    ``diverged`` False, not diverged): else a usage error naming ``--trial``."""
    outcome = {o.number: o for o in results.listed}.get(number)  # waiting ones too
    if outcome is None:
        raise UsageError(f"--trial {number}: study {results.name!r} has no such trial")
    if outcome.state not in ("COMPLETE", "PRUNED") or (outcome.diverged and not diverged):
        what = "diverged" if outcome.diverged else \
            "waiting (not started yet)" if outcome.state == "WAITING" else outcome.state
        raise UsageError(f"--trial {number}: it is {what}: no trained network")
    return outcome


def check_trials_folder(results: StudyResults, outcome: TrialOutcome, folder: Path) -> None:
    """``folder`` holds trial ``outcome``'s network: its config.json has the settings the
    study recorded for the trial. A folder restored from another trial's backup, or
    copied over, would show another network as this trial's. A config.json that cannot
    be read is left to the caller's own reading, which names it."""
    from mlp.config import ConfigError
    from mlp.experiment import load_config

    try:
        config = load_config(folder / "config.json")
    except ConfigError:
        return
    for p in results.settings.space.params:
        stored, written = outcome.params.get(p.name), config.value(p.key)
        if stored is not None and stored != written:
            raise StudyError(f"trial {outcome.number}: {folder / 'config.json'} says {p.name} "
                             f"{written!r}, the study's record of the trial {stored!r}: the "
                             "folder holds another trial's files, or the file was changed")

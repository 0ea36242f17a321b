"""``sweep.run()``: run, resume or extend a study from Python, as ``sweep run`` does.

It takes the command's options as keyword arguments, by the same names (``--stall-
timeout`` is ``stall_timeout``), declared once in sweep/execution/request.py and
checked by the same code, and does what the command does (`run_and_report`): the same
study, folders, trial directories, printed lines and report. ``help(sweep.run)`` lists
the options.

Where the command has exit codes, this has exceptions: bad arguments raise
`UsageError`, a run stopped by failing trials raises `StudyError`, and Ctrl-C (an
interrupted kernel) raises KeyboardInterrupt once the trials in flight are recorded as
failed, so that the same call resumes the study. A ``timeout`` that runs out is not an
error: the results say how many trials finished.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .commands.run import run_and_report
from .errors import StudyError, UsageError
from .execution.request import RunRequest
from .logs import optuna_quiet
from .options import api_spelling, build, docs, signature
from .process_state import as_found
from .study import results as study_results
from .study.paths import DEFAULT_STUDIES_DIR, DEFAULT_STUDY, StudyLocation
from .study.results import StudyResults


@contextmanager
def api_errors() -> Iterator[None]:
    """Errors as a caller of the API meets them, as the command line's exit codes sort
    them: the network library's errors of input (a data folder, a configuration, a
    checkpoint: exit code 2) are UsageErrors, and a dataset that cannot be had (no
    source reachable, a damaged cache: exit code 1) a StudyError; a message that names
    a command-line option names the keyword."""
    from mlp.checkpoint import CheckpointError
    from mlp.config import ConfigError
    from mlp.data import DataError, DataUnavailable

    try:
        yield
    except DataUnavailable as exc:
        raise StudyError(api_spelling(str(exc), (RunRequest, StudyLocation))) from None
    except (UsageError, ConfigError, CheckpointError, DataError) as exc:
        raise UsageError(api_spelling(str(exc), (RunRequest, StudyLocation))) from None


def run(study: str = DEFAULT_STUDY, **options: Any) -> StudyResults:
    with api_errors():
        request = build(RunRequest, {"study": study, **options})
        with as_found(), optuna_quiet():
            outcome, _ = run_and_report(request)
    summary = outcome.summary
    if summary is not None and summary.interrupted:
        raise KeyboardInterrupt(f"study {study!r} interrupted; run the same call to resume")
    if summary is not None and summary.stopped_reason and \
            "time-out" not in summary.stopped_reason:
        raise StudyError(f"study {study!r} stopped: {summary.stopped_reason}")
    with api_errors():
        return outcome.results()


def load(study: str = DEFAULT_STUDY, studies_dir: str | os.PathLike = DEFAULT_STUDIES_DIR,
         storage: str | None = None) -> StudyResults:
    """Open a study written by ``sweep run`` (or being written) for reading. A study in a
    database is read from any folder: ``studies_dir`` is only where its trials' folders
    are looked for."""
    if storage is not None and not isinstance(storage, str):
        raise UsageError(f"storage={storage!r}: a database URL (str), or None for the "
                         "study's journal file")
    with api_errors():  # the same checks as every reading command's options
        where = build(StudyLocation, {"study": study, "studies_dir": studies_dir,
                                      "storage": storage})
        return study_results.load(where.study, where.studies_dir, where.storage)


run.__signature__ = signature(RunRequest, first=("study",))  # type: ignore[attr-defined]
run.__doc__ = f"""Run the study until it has ``trials`` finished trials; its results.

Options (None: the study's stored value, or the default for a new study); ``space`` is a
`Space`, a dict laid out as a space file (``{{"params": {{"lr": {{"low": 0.01, "high": 0.5}}}},
"fixed": {{"dropout": 0.2}}}}``) or the path of one; durations are seconds or text such as
"30m":

{docs(RunRequest)}
"""

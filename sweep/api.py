"""``sweep.run()``: run, resume or extend a study from Python, as ``sweep run`` does.

It builds the same `RunRequest` the command line builds and hands it to the same
`run_study`, so a study made here is the study the CLI would make: the same folder,
storage, settings, trial directories and report. It prints what the command prints
(trial lines, the summary), and returns the study's results (`sweep.load`'s).

Where the command has exit codes, this has exceptions: bad arguments raise
`UsageError`, a run stopped by failing trials raises `StudyError`, and Ctrl-C (an
interrupted kernel) raises KeyboardInterrupt once the trials in flight are recorded as
failed, so that the same call resumes the study. A ``timeout`` that runs out is not
an error: the results say how many trials finished.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import StudyError, UsageError
from .options import DEFAULT_STUDIES_DIR, DEFAULT_STUDY, parse_duration
from .results import StudyResults
from .runner import STALL_LIMIT
from .space import Space, load_space, space_from_changes
from .study_run import RunRequest, run_study

SpaceLike = Space | dict[str, Any] | str | os.PathLike | None


def run(study: str = DEFAULT_STUDY, *, trials: int, jobs: int | str | None = None,
        threads: int | None = None,
        space: SpaceLike = None, epochs: int | None = None, dataset: str | None = None,
        data_dir: str | os.PathLike | None = None, train_limit: int | None = None,
        sampler: str | None = None, pruner: str | None = None, seed: int | None = None,
        lag: int | str | None = None, timeout: float | str | None = None,
        stall_timeout: float | str | None = None,
        studies_dir: str | os.PathLike = DEFAULT_STUDIES_DIR, storage: str | None = None,
        backend: str = "loky", scheduler: str | None = None,
        plots: str | bool = "best", report: bool = True, quiet: bool = True) -> StudyResults:
    """Run the study until it has ``trials`` finished trials; its results.

    Arguments are the options of ``python -m sweep run`` (None: the study's stored
    value, or the default for a new study). ``space`` is a `Space`, a dict laid out as a
    space file (``{"params": {"lr": {"low": 0.01, "high": 0.5}}, "fixed": {"dropout":
    0.2}}``) or the path of one; ``jobs`` a number or "auto" (None is auto too);
    ``plots`` "best", "all" or "none"; ``lag`` a number or "off"; ``timeout`` and
    ``stall_timeout`` seconds or text such as "30m". ``quiet`` (the default here) prints
    plain lines instead of a progress bar. ``backend="dask"`` with ``scheduler`` (an
    address, ``tcp://HOST:8786``) runs the trials on that Dask cluster.
    """
    if isinstance(jobs, str) and jobs.strip().lower() == "auto":  # as --jobs takes it
        jobs = None
    if plots is True or plots is False:
        plots = "best" if plots else "none"
    for name, value in (("trials", trials), ("jobs", jobs), ("threads", threads)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise UsageError(f"{name} {value!r}: must be a whole number"
                             + (' or "auto"' if name == "jobs" else ""))
    request = RunRequest(
        trials=trials, study=study, studies_dir=studies_dir, storage=storage, jobs=jobs,
        threads=threads,
        overrides=_overrides(epochs=epochs, dataset=dataset, data_dir=data_dir,
                             train_limit=train_limit),
        space=_space(space), space_source=_space_source(space), sampler=sampler,
        pruner=pruner, seed=seed, lag=None if lag is None else str(lag),
        timeout=_seconds(timeout, "timeout"),
        stall_limit=_seconds(stall_timeout, "stall_timeout") or STALL_LIMIT,
        backend=backend, scheduler=scheduler, plots=plots, report=report, quiet=quiet)
    outcome = run_study(request)
    summary = outcome.summary
    if summary is not None and summary.interrupted:
        raise KeyboardInterrupt(f"study {study!r} interrupted; run the same call to resume")
    if summary is not None and summary.stopped_reason and \
            "time-out" not in summary.stopped_reason:
        raise StudyError(f"study {study!r} stopped: {summary.stopped_reason}")
    return outcome.results()



def close_workers() -> None:
    """End the worker processes `run` keeps for a next call in this process (they hold
    the data they loaded); they also end when the process exits."""
    from .workers import close_kept_workers

    close_kept_workers()

_KEYS = {"epochs": "training.epochs", "dataset": "data.dataset", "data_dir": "data.data_dir",
         "train_limit": "data.train_limit"}


def _overrides(**values: Any) -> dict[str, Any]:
    out = {}
    for name, value in values.items():
        if value is not None:
            out[_KEYS[name]] = str(value) if isinstance(value, os.PathLike) else value
    return out


def _space(space: SpaceLike) -> Space | None:
    if space is None or isinstance(space, Space):
        return space
    if isinstance(space, dict):
        return space_from_changes(space, "space")
    if isinstance(space, str | os.PathLike):
        return load_space(Path(space))
    raise UsageError(f"space: expected a Space, a dict or a file, not {type(space).__name__}")


def _space_source(space: SpaceLike) -> str:
    return f"--space {space}" if isinstance(space, str | os.PathLike) else "space"


def _seconds(value: float | str | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_duration(value, name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise UsageError(f"{name} {value!r}: must be a positive number of seconds")
    return float(value)

"""``sweep run``: create, resume or extend a study, run its trials, write its report.

The options are `RunRequest`'s (sweep/execution/request.py), declared once for the
command line and the Python API alike; `run_and_report` is what both then do.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import suppress
from pathlib import Path

from ..execution.request import RunRequest
from ..execution.session import RunOutcome, run_study
from ..options import add_arguments as add_options
from ..options import build, from_namespace

DESCRIPTION = (
    "Run (or resume, or extend) a study. --trials N is the number of finished trials "
    "(completed, pruned or failed) the study should have: running an interrupted study "
    "again runs only what is missing, and a larger N extends it. Options left out on a "
    "resumed study keep the values it was created with; a different value is refused.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_options(p, RunRequest)


def run(args: argparse.Namespace) -> int:
    request = build(RunRequest, from_namespace(args, RunRequest), cli=True)
    outcome, _ = run_and_report(request, cli=True)
    summary = outcome.summary
    if summary is None:
        return 0
    if summary.interrupted:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    if summary.stopped_reason and "time-out" not in summary.stopped_reason:
        print(f"stopped: {summary.stopped_reason}", file=sys.stderr)
        return 1
    return 0


def run_and_report(request: RunRequest, cli: bool = False) -> tuple[RunOutcome, Path | None]:
    """Run the study, then write its report (unless asked not to): the command's and
    ``sweep.run()``'s whole job."""
    outcome = run_study(request, cli)
    # nothing to run: the report is written still if it is missing (a run interrupted
    # while writing it), so that the same command finishes what the last one began
    page = outcome.paths.report / "index.html"
    if not request.report or (outcome.summary is None and page.is_file()):
        return outcome, None
    from ..report import write_report

    print("writing the report...", flush=True)
    with suppress(OSError):  # the page of fewer trials goes first: cut short from here,
        page.unlink(missing_ok=True)  # the report is missing, not stale, and rewritten
    index = write_report(outcome.results())
    print(f"report: {index}", flush=True)
    return outcome, index

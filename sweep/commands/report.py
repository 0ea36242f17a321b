"""``sweep report``: write (or rewrite) a study's report."""

from __future__ import annotations

import argparse
import sys

from ..errors import StudyError
from ..study.confirmations import confirmation_of
from .common import add_study_args, open_results

DESCRIPTION = (
    "Write (or rewrite) a study's report into STUDIES_DIR/STUDY/report/: index.html for a "
    "browser, report.md for a terminal or code host, and the figures. It reads the storage "
    "and the trial directories only, so it can run at any time, also while the study is "
    "still running (it covers the finished trials).")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_study_args(p)
    p.add_argument("--svg", action="store_true",
                   help="draw every figure as SVG too (PNG only by default: drawing a "
                        "figure twice is most of a report's time)")


def run(args: argparse.Namespace) -> int:
    from ..report import write_report

    results = open_results(args)  # StudyError if missing
    try:
        confirmation_of(results)
    except StudyError as exc:  # the report stands without it, and says so too
        print(f"warning: {exc}; the report goes by the single best trial", file=sys.stderr)
    for why in results.damaged_histories().values():  # the page counts them, this names
        print(f"warning: {why}; that trial's history is left out", file=sys.stderr)
    index = write_report(results, vector=args.svg)
    c = results.counts
    print(f"report of {c.finished} finished trials ({c.complete} completed, {c.pruned} pruned, "
          f"{c.failed} failed" + (f", {c.running} running" if c.running else "")
          + c.retried_text() + ")")
    print(f"report: {index}")
    print(f"        {index.with_name('report.md')}")
    return 0



"""The ``report`` command: ``python -m sweep report [--study NAME] [--studies-dir DIR]``."""

from __future__ import annotations

import argparse

from ..options import Command, add_study_args
from ..read_commands import note_unreachable
from ..results import load

HELP = """\
Write (or rewrite) a study's report into STUDIES_DIR/STUDY/report/: index.html for a
browser, report.md for a terminal or code host, and the figures as PNG and SVG. It
reads the storage and the trial directories only, so it can run at any time, also
while the study is still running (it covers the finished trials).
"""



def cmd_report(args: argparse.Namespace) -> int:
    from . import write_report

    results = load(args.study, args.studies_dir, args.storage)  # StudyError if missing
    note_unreachable(results)
    index = write_report(results)
    c = results.counts
    print(f"report of {c.finished} finished trials ({c.complete} completed, {c.pruned} pruned, "
          f"{c.failed} failed" + (f", {c.running} running" if c.running else "") + ")")
    print(f"report: {index}")
    print(f"        {index.with_name('report.md')}")
    return 0


COMMANDS = (Command("report", "write a study's HTML and Markdown report", add_study_args,
                    cmd_report, HELP),)

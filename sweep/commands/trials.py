"""``sweep trials``: every trial of a study as a table, or a live view (``--watch``)."""

from __future__ import annotations

import argparse
import json
import math

from ..errors import StudyError, UsageError
from ..study.results import load
from .common import add_study_args, location, open_results
from .output import add_output_args, emit, json_ready, whole_numbers
from .watch import watch

DESCRIPTION = ("All trials of a study, states included; running ones with the last epoch "
               "and validation accuracy they reported and the time they have run.")
WATCH_EVERY = 2.0  # seconds between frames of --watch


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_study_args(p)
    add_output_args(p)
    p.add_argument("--watch", nargs="?", type=float, const=WATCH_EVERY, default=None,
                   metavar="SECONDS",
                   help="a live view, redrawn every SECONDS (default "
                        f"{WATCH_EVERY:g}) until Ctrl-C: running trials with their epoch, "
                        "last validation accuracy and time")
    p.add_argument("--csv", default=None, metavar="FILE",
                   help=argparse.SUPPRESS)  # the earlier spelling of -f csv --out FILE


def run(args: argparse.Namespace) -> int:
    flag = "--out"
    if args.csv:
        args.format, args.out, flag = "csv", args.csv, "--csv"
    if args.watch is not None:
        return _watch(args)
    results = open_results(args)
    df = whole_numbers(results.trials, results.settings.space)
    if df.empty:
        raise StudyError(f"study {results.name!r} has no trials yet")

    def render(fmt: str) -> str:
        if fmt == "csv":
            return df.to_csv(index=False)
        if fmt == "json":
            rows = [{k: v for k, v in o.to_json().items() if k != "traceback"}
                    for o in results.outcomes]
            return json.dumps({"study": results.name, "trials": json_ready(rows)}, indent=2)
        import pandas as pd

        shown = df.drop(columns=["datetime_start", "datetime_complete", "experiment_dir"])
        with pd.option_context("display.max_rows", None, "display.width", 200,
                               "display.max_columns", None,
                               "display.float_format", "{:.4g}".format):
            return shown.to_string(index=False)

    return emit(args, render, flag)


def _watch(args: argparse.Namespace) -> int:
    if not (math.isfinite(args.watch) and 0.1 <= args.watch <= 3600):
        raise UsageError(f"--watch {args.watch:g}: seconds between refreshes, 0.1 to 3600")
    if args.format != "table" or args.out:
        raise UsageError("--watch shows a table on the screen; leave out -f and --out")
    where = location(args)
    load(where.study, where.studies_dir, where.storage)  # a missing study: an error at once
    return watch(lambda: load(where.study, where.studies_dir, where.storage), args.watch)

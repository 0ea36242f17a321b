"""``sweep best``: the best trial(s) of a study by value (validation accuracy)."""

from __future__ import annotations

import argparse
import json

from ..errors import StudyError, UsageError
from ..study.records import PARAMS_PREFIX, cell, screen_column
from ..study.results import StudyResults
from ..text import Column, percent, table
from .common import add_study_args, open_results
from .output import add_output_args, emit, json_ready, screen_width, table_text, whole_numbers

DESCRIPTION = ("The best completed trials by value (the validation accuracy of the best "
               "epoch), ranked, with test accuracy, settings, epochs, training time, peak "
               "memory and directory; trials still running are listed below, unranked, with "
               "the epoch they reached. -f json and -f csv have every column of sweep trials.")
# the table's columns after rank and the settings; the earlier ones stay longest
AFTER_PARAMS = ("epochs_trained", "train_seconds", "worker_peak_rss_mb", "experiment_dir")
RUNNING_COLUMNS = ("number", "last_epoch", "last_value", "duration_seconds")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_study_args(p)
    p.add_argument("--top", type=int, default=1, metavar="K",
                   help="how many trials to rank (default 1)")
    add_output_args(p)
    p.add_argument("--json", action="store_const", const="json", dest="format",
                   help=argparse.SUPPRESS)  # the earlier spelling of -f json


def run(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise UsageError(f"--top {args.top}: must be >= 1")
    results = open_nonempty(args)
    best = results.best_outcomes(args.top)

    def render(fmt: str) -> str:
        if fmt == "json":
            rows = [o.record() for o in best]
            return json.dumps({"study": results.name, "best": json_ready(rows)}, indent=2)
        if fmt == "csv":
            df = whole_numbers(results.best(args.top), results.settings.space)
            return df.to_csv(index=False)
        return best_table(results, args.top, screen_width(args))

    return emit(args, render)


def best_table(results: StudyResults, top: int, width: int | None) -> str:
    """The ranked table, then the running trials (unranked) as a second one."""
    names = ["number", "value", "test_accuracy",
             *(PARAMS_PREFIX + n for n in results.param_names), *AFTER_PARAMS]
    # a ranking is read for its accuracies: the test accuracy outranks the settings here
    columns = [Column("rank", keep=99),
               *(screen_column(n, 75 if n == "test_accuracy" else None) for n in names)]
    rows = [[str(rank), *(cell(n, row.get(n)) for n in names)]
            for rank, row in enumerate((o.row() for o in results.best_outcomes(top)), 1)]
    text = table_text(table(columns, rows, width), width)
    running = [o for o in results.outcomes if o.state == "RUNNING"]
    if running:
        epochs = results.settings.config.training.epochs
        rows = []
        for o in running:
            values = o.row()
            row = [cell(n, values.get(n)) for n in RUNNING_COLUMNS]
            row[1] = f"{o.last_epoch or 0}/{o.params.get('epochs', epochs)}"
            rows.append(row)
        columns = [screen_column(n, 10 - i) for i, n in enumerate(RUNNING_COLUMNS)]
        text += ("\n\nrunning, not ranked until complete:\n"
                 + table_text(table(columns, rows, width), width))
    return text


def open_nonempty(args: argparse.Namespace) -> StudyResults:
    results = open_results(args)
    if results.counts.complete == 0:
        c = results.counts
        running = running_text(results)
        raise StudyError(f"study {results.name!r} has no completed trial yet ({c.finished} "
                         f"finished: {c.pruned} pruned, {c.failed} failed{c.retried_text()}; "
                         f"{c.running} running"
                         f"{': ' + running if running else ''})")
    return results


def running_text(results: StudyResults) -> str:
    """The running trials in a few words each: ``trial 7 at epoch 3/20 (last value
    97.10%)``. Their accuracy is the last epoch's, not the value: they are not ranked."""
    epochs = results.settings.config.training.epochs
    parts = []
    for o in results.outcomes:
        if o.state != "RUNNING":
            continue
        of = o.params.get("epochs", epochs)
        if o.last_epoch is None:
            parts.append(f"trial {o.number} before its first epoch")
            continue
        parts.append(f"trial {o.number} at epoch {o.last_epoch}/{of} "
                     f"(last value {percent(o.last_value)})")
    return ", ".join(parts)

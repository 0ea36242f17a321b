"""``sweep best``: the best trial(s) of a study by validation accuracy."""

from __future__ import annotations

import argparse
import json

from ..errors import StudyError, UsageError
from ..study.results import StudyResults
from ..text import clock, percent
from .common import add_study_args, open_results
from .output import add_output_args, emit, json_ready, whole_numbers

DESCRIPTION = ("The best completed trial(s) by validation accuracy, with epochs, time and "
               "peak memory; trials still running are listed below, unranked.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_study_args(p)
    p.add_argument("--top", type=int, default=1, help="how many trials (1)")
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
            rows = [{k: v for k, v in o.to_json().items() if k != "traceback"} for o in best]
            return json.dumps({"study": results.name, "best": json_ready(rows)}, indent=2)
        if fmt == "csv":
            df = whole_numbers(results.best(args.top), results.settings.space)
            return df.to_csv(index=False)
        lines = [f"#{rank} {o.line()}  [{o.brief()}]" for rank, o in enumerate(best, 1)]
        running = running_text(results)
        if running:
            lines.append(f"running, not ranked until complete: {running}")
        return "\n".join(lines)

    return emit(args, render)


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
    """The running trials in a few words each: ``trial 7 at epoch 3/20 (val 97.10%, 0:42)``.
    Their accuracy is the last epoch's, not the objective: they are not ranked."""
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
                     f"(val {percent(o.last_value)}, {clock(o.duration_seconds)})")
    return ", ".join(parts)

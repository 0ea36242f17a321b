"""``sweep trials``: every trial of a study as a table, or a live view (``--watch``)."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from ..errors import StudyError, UsageError
from ..study.records import (
    ACCURACIES,
    PARAMS_PREFIX,
    STATES,
    TrialOutcome,
    cell,
    columns,
    screen_column,
)
from ..study.results import StudyResults, reader
from ..text import table
from .common import add_study_args, location, open_results
from .output import add_output_args, emit, json_ready, screen_width, table_text, whole_numbers
from .watch import watch

DESCRIPTION = (
    "Every trial of a study: its number, state, value (the validation accuracy of its best "
    "epoch), test accuracy, settings, epochs and times; a running trial with the last "
    "epoch it reported, that epoch's validation accuracy (last_value) and how long it has "
    "run. On a terminal the table fits the terminal's width, the least useful columns "
    "left out; -f csv and -f json have every column.")
WATCH_EVERY = 2.0  # seconds between frames of --watch
# what the screen table leaves out unless --columns asks for it
NOT_SHOWN = ("seed", "retry_of", "pid", "host", "datetime_start", "datetime_complete",
             "experiment_dir")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_study_args(p)
    add_output_args(p)
    p.add_argument("--columns", default=None, metavar="NAME,...",
                   help="the columns of the table (and of -f csv), in this order, named as "
                        "in -f csv; a setting by its name (lr) or as params_lr. Default: "
                        "all but " + ", ".join(NOT_SHOWN))
    p.add_argument("--sort", default=None, metavar="COLUMN",
                   help="sort the trials by this column: the accuracies ("
                        + ", ".join(ACCURACIES) + ") best first, any other column "
                        "ascending; trials without a value last, ties by number "
                        "(default: by number)")
    p.add_argument("--state", action="append", default=None, metavar="STATE",
                   help="only the trials in this state: " + ", ".join(STATES)
                        + " (repeat the option, or give a comma list, for several)")
    p.add_argument("--watch", nargs="?", type=float, const=WATCH_EVERY, default=None,
                   metavar="SECONDS",
                   help="a live view, redrawn every SECONDS (default "
                        f"{WATCH_EVERY:g}): running trials first, with their last epoch, "
                        "last_value and duration. It ends by itself once no trial is "
                        "running or waiting (or at Ctrl-C)")
    p.add_argument("--csv", default=None, metavar="FILE",
                   help=argparse.SUPPRESS)  # the earlier spelling of -f csv --out FILE


def run(args: argparse.Namespace) -> int:
    flag = "--out"
    if args.csv:
        args.format, args.out, flag = "csv", args.csv, "--csv"
    if args.watch is not None:
        return _watch(args)
    states = state_filter(args.state)
    results = open_results(args)
    if not results.listed:
        raise StudyError(f"study {results.name!r} has no trials yet")
    names = columns(results.param_names)
    chosen = pick_columns(args.columns, names)
    sort = pick_columns(args.sort, names, "--sort")[0] if args.sort else None
    shown = select(results.listed, states, sort)

    def render(fmt: str) -> str:
        if fmt == "json":
            rows = [o.record() for o in shown]
            return json.dumps({"study": results.name, "trials": json_ready(rows)}, indent=2)
        if fmt == "csv":
            import pandas as pd

            df = pd.DataFrame([o.row() for o in shown], columns=names)
            df = whole_numbers(df, results.settings.space)
            return df[chosen or names].to_csv(index=False)
        return screen_table(results, shown, chosen, screen_width(args))

    return emit(args, render, flag)


def state_filter(given: list[str] | None) -> set[str] | None:
    """``--state`` values (repeated or comma lists) as Optuna's state names."""
    if not given:
        return None
    wanted = {s.strip().lower() for item in given for s in item.split(",") if s.strip()}
    unknown = sorted(wanted - set(STATES))
    if unknown or not wanted:
        raise UsageError(f"--state {unknown[0] if unknown else ''}: choose from "
                         f"{', '.join(STATES)}")
    return {s.upper() for s in wanted}


def pick_columns(given: str | None, names: list[str], flag: str = "--columns") -> list[str]:
    """Column names as the user gave them (a setting may go without ``params_``)."""
    if given is None:
        return []
    picked = []
    for name in (n.strip() for n in given.split(",")):
        if not name:
            continue
        full = name if name in names else PARAMS_PREFIX + name
        if full not in names:
            raise UsageError(f"{flag} {name}: no such column (columns: {', '.join(names)})")
        if full in picked:
            raise UsageError(f"{flag} {given}: {full} is named twice")
        picked.append(full)
    if not picked:
        raise UsageError(f"{flag}: name at least one column")
    return picked


def _sort_key(v: Any) -> tuple[int, Any]:
    return (0, float(v)) if isinstance(v, int | float) and not isinstance(v, bool) \
        else (1, str(v))


def select(outcomes: list[TrialOutcome], states: set[str] | None,
           sort: str | None) -> list[TrialOutcome]:
    """The trials in ``states`` (all without), by number or sorted by column ``sort``:
    accuracies best first, any other column ascending, gaps last, ties by number."""
    chosen = [o for o in outcomes if states is None or o.state in states]
    if sort is None:
        return chosen
    rows = {o.number: o.row() for o in chosen}

    def missing(o: TrialOutcome) -> bool:
        v = rows[o.number].get(sort)
        return v is None or (isinstance(v, float) and math.isnan(v))

    present = [o for o in chosen if not missing(o)]
    present.sort(key=lambda o: _sort_key(rows[o.number][sort]), reverse=sort in ACCURACIES)
    return present + [o for o in chosen if missing(o)]


def screen_table(results: StudyResults, shown: list[TrialOutcome], chosen: list[str],
                 width: int | None) -> str:
    names = chosen or [n for n in columns(results.param_names) if n not in NOT_SHOWN]
    ranked = [screen_column(n, len(names) - i if chosen else None)
              for i, n in enumerate(names)]
    rows = [[cell(n, row.get(n)) for n in names] for row in (o.row() for o in shown)]
    return table_text(table(ranked, rows, width), width)


def _watch(args: argparse.Namespace) -> int:
    if not (math.isfinite(args.watch) and 0.1 <= args.watch <= 3600):
        raise UsageError(f"--watch {args.watch:g}: seconds between refreshes, 0.1 to 3600")
    if args.format != "table" or args.out:
        raise UsageError("--watch shows a table on the screen; leave out -f and --out")
    if args.columns or args.sort or args.state:
        raise UsageError("--watch shows its own columns and order; leave out --columns, "
                         "--sort and --state")
    where = location(args)
    read = reader(where.study, where.studies_dir, where.storage)
    read()  # a missing study: an error at once
    return watch(read, args.watch)

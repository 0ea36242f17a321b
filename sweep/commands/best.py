"""``sweep best``: the best trial(s) of a study by value (validation accuracy)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from ..errors import StudyError, UsageError
from ..study.confirmations import Confirmation, confirmation_of
from ..study.records import PARAMS_PREFIX, cell, screen_column
from ..study.results import StudyResults
from ..text import Column, percent, plural, table, wrap
from .common import add_study_args, open_results
from .output import add_output_args, emit, json_ready, screen_width, table_text, whole_numbers

if TYPE_CHECKING:
    import pandas as pd

DESCRIPTION = ("The study's answer. Once sweep confirm has run, it leads with the "
               "configuration confirm recommends (its mean over seeds and interval) and the "
               "best set; then the best completed trials by value (the validation accuracy "
               "of the best epoch, one seed each), ranked, with test accuracy, settings, "
               "epochs, training time, peak memory and directory; trials still running are "
               "listed below, unranked. -f json adds the confirmed answer; -f csv has every "
               "column of sweep trials, and after confirm its findings for each trial.")
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
    try:
        confirmation = confirmation_of(results)
    except StudyError as exc:  # the ranking stands without it
        print(f"warning: {exc}", file=sys.stderr)
        confirmation = None

    def render(fmt: str) -> str:
        if fmt == "json":
            rows = [o.record() for o in best]
            answer = {"study": results.name, "best": json_ready(rows)}
            if confirmation is not None:
                answer["confirmed"] = json_ready(confirmed_record(results, confirmation))
            return json.dumps(answer, indent=2)
        if fmt == "csv":
            df = results.best(args.top)
            if confirmation is not None:
                df = with_confirmed_columns(results, df, confirmation)
            return whole_numbers(df, results.settings.space).to_csv(index=False)
        width = screen_width(args)
        text = best_table(results, args.top, width)
        if confirmation is None:
            return text
        lead = confirmed_lines(results, confirmation, width)
        ranking = wrap("ranked by one seed each (the top value is optimistic):", width)
        return "\n".join([*lead, "", *ranking, text])

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


def confirmed_record(results: StudyResults, conf: Confirmation) -> dict:
    """The confirmed answer for -f json: the recommendation, its interval over seeds, the
    best set, and the trials confirm has not raced."""
    row = conf.row(conf.recommended) or {}
    return {"recommended": conf.recommended, "rule": conf.rule.get("text"),
            "best_val": row.get("best_val"), "seeds": conf.seeds,
            "best_set": conf.best_set, "best_mean": conf.best_mean,
            "margin": conf.margin, "unraced": sorted(conf.unraced(results.outcomes))}


CONFIRMED_COLUMNS = ("recommended", "in_best_set", "confirm_mean", "confirm_low",
                     "confirm_high", "confirm_seeds")


def with_confirmed_columns(results: StudyResults, df: pd.DataFrame,
                           conf: Confirmation) -> pd.DataFrame:
    """The ranked rows with what confirm found of each (its mean best-epoch validation
    accuracy over seeds, 95% t-interval, seeds, whether it is in the best set and the
    recommended one; empty where it was not raced), the recommended trial first when it
    is not among them."""
    import pandas as pd

    if conf.recommended not in set(df["number"]):
        trials = results.trials.set_index("number", drop=False)
        if conf.recommended in trials.index:
            df = pd.concat([trials.loc[[conf.recommended]].reset_index(drop=True), df],
                           ignore_index=True)
    best_set = set(conf.best_set)
    extra: dict[str, list] = {c: [] for c in CONFIRMED_COLUMNS}
    for n in df["number"]:
        row = conf.row(int(n))
        b = (row or {}).get("best_val") or {}
        extra["recommended"].append(int(n) == conf.recommended)
        extra["in_best_set"].append(int(n) in best_set if row else None)
        for column, key in (("confirm_mean", "mean"), ("confirm_low", "low"),
                            ("confirm_high", "high"), ("confirm_seeds", "n")):
            extra[column].append(b.get(key))
    df = df.copy()
    at = list(df.columns).index("value") + 1
    extra["confirm_seeds"] = pd.array(extra["confirm_seeds"], dtype="Int64")
    for offset, column in enumerate(CONFIRMED_COLUMNS):
        df.insert(at + offset, column, extra[column])
    return df


def confirmed_lines(results: StudyResults, conf: Confirmation, width: int | None) -> list[str]:
    """The confirmed answer in a few wrapped lines: what confirm recommends, its mean over
    seeds with the 95% t-interval, the best set, and whether the study has grown since."""
    n = conf.recommended
    row = conf.row(n) or {}
    b = row.get("best_val") or {}
    seeds = b.get("n") or conf.seeds
    interval = (f", 95% t-interval {percent(b['low'])}-{percent(b['high'])}"
                if b.get("low") is not None and b.get("high") is not None else "")
    outside = results.settings.space.classic_outside()
    classic = ("" if not row.get("classic") else " (the classic configuration)" if not outside
               else f" (the classic configuration as far as the space holds it: {outside} "
                    "is outside it, and sampled)")
    rule = conf.rule
    why = (rule.get("text") if rule.get("applied", True)
           else rule.get("reason") or "the highest mean")
    text = [f"recommended by sweep confirm: trial {n}{classic}, {why}: "
            f"mean best-epoch validation accuracy {percent(b.get('mean'))} over "
            f"{plural(seeds, 'seed')}{interval}"
            + (" (each seed with its own validation split, --resplit)."
               if conf.summary.get("resplit") else "."),
            f"best set (holds the configuration with the highest true mean with probability "
            f"at least 95%): {', '.join(f'trial {t}' for t in conf.best_set)}."]
    late = sorted(conf.unraced(results.outcomes))
    if late:
        text.append(f"not raced, as good on one seed: {', '.join(f'trial {t}' for t in late)}"
                    f"; run `python -m sweep confirm {results.paths.flags()}` again.")
    return [line for t in text for line in wrap(t, width)]


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

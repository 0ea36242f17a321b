"""``sweep trials --watch``: a live view of a study, redrawn every few seconds.

On a terminal the view is redrawn in place, like ``watch``: the cursor goes home,
every line is cut to the terminal's width and the table to its height, and what
the last frame left below is cleared, so nothing wraps and nothing is left behind
on a narrow terminal. Off a terminal (a pipe, a log file) each refresh is printed
as plain lines after the last, with a time stamp, and nothing is redrawn.

Running trials come first, with the epoch they reached, their last validation
accuracy and how long they have run; then the finished trials, latest first.
Ctrl-C ends the view (exit 0): watching is left that way.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import IO

from ..errors import StudyError
from ..study.records import TrialOutcome
from ..study.results import StudyResults
from ..text import clock, percent, short

HOME, CLEAR_LINE, CLEAR_BELOW = "\x1b[H", "\x1b[K", "\x1b[J"
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
FIXED_COLUMNS = ("trial", "state", "epoch", "val", "time")


def _epochs_of(o: TrialOutcome, default: int) -> int:
    epochs = o.params.get("epochs", default)
    return epochs if isinstance(epochs, int) else default


def live_row(o: TrialOutcome, epochs: int, names: list[str]) -> list[str]:
    """One trial as the view shows it. A completed trial's accuracy is its objective
    (the best epoch); any other trial's is the last epoch it reported."""
    value = o.value if o.state == "COMPLETE" else o.last_value
    reached = o.last_epoch if o.state != "COMPLETE" else o.epochs_trained or o.last_epoch
    epoch = f"{reached or 0}/{_epochs_of(o, epochs)}"
    return [str(o.number), o.state.lower(), epoch,
            "-" if value is None else percent(value), clock(o.duration_seconds),
            *(short(o.params[n]) if n in o.params else "-" for n in names)]


def ordered(outcomes: list[TrialOutcome]) -> list[TrialOutcome]:
    """Running trials by number, then the finished ones, the latest first."""
    running = [o for o in outcomes if o.state == "RUNNING"]
    done = [o for o in outcomes if o.state != "RUNNING"]
    done.sort(key=lambda o: (o.datetime_complete or datetime.min, o.number), reverse=True)
    return running + done


def header(results: StudyResults, every: float) -> list[str]:
    """Two lines: the counts, then the best trial and the time of this frame."""
    c = results.counts
    best = results.best_outcomes(1)
    best_text = (f"best val {percent(best[0].value)} (trial {best[0].number})" if best
                 else "no completed trial yet")
    return [f"study {results.name!r}: {c.finished} finished ({c.complete} completed, "
            f"{c.pruned} pruned, {c.failed} failed{c.retried_text()}), {c.running} running",
            f"{best_text}; {datetime.now():%H:%M:%S}, every {every:g}s, Ctrl-C quits"]


def render(results: StudyResults, width: int | None = None, height: int | None = None,
           every: float = 2.0) -> list[str]:
    """The view's lines: a header, then the table. ``width`` cuts every line (a cut
    line ends in '~'); ``height`` keeps that many lines, saying how many trials were
    left out."""
    names = results.param_names
    epochs = results.settings.config.training.epochs
    rows = [live_row(o, epochs, names) for o in ordered(results.outcomes)]
    table = [list(FIXED_COLUMNS) + names, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.rjust(w) if i != 1 else cell.ljust(w)
                       for i, (cell, w) in enumerate(zip(r, widths, strict=True))).rstrip()
             for r in table]
    top = [*header(results, every), ""]
    if height is not None and len(top) + len(lines) > height:
        keep = max(height - len(top) - 1, 1)
        left_out = len(lines) - keep
        lines = [*lines[:keep], f"... {left_out} more trials (sweep trials shows them all)"]
    return [_cut(line, width) for line in top + lines]


def _cut(line: str, width: int | None) -> str:
    if width is None or len(line) <= width:
        return line
    return line[:max(width - 1, 0)] + "~"


def watch(load: Callable[[], StudyResults], every: float,
          stream: IO[str] | None = None) -> int:
    """Redraw the view every ``every`` seconds until Ctrl-C; exit code 0."""
    stream = stream or sys.stdout
    live = stream.isatty() and os.environ.get("TERM", "") not in ("dumb", "")
    try:
        if live:  # a clean screen once; every frame then overwrites the last in place
            stream.write(HIDE_CURSOR + HOME + CLEAR_BELOW)
        while True:
            _frame(load, every, stream, live)
            time.sleep(every)
    except KeyboardInterrupt:
        pass
    finally:
        if live:
            stream.write(SHOW_CURSOR)
        stream.flush()
    return 0


def _frame(load: Callable[[], StudyResults], every: float, stream: IO[str],
           live: bool) -> None:
    if live:
        size = os.get_terminal_size(stream.fileno())
        # one column spare: a line that fills the last column makes some terminals wrap
        width, height = size.columns - 1, size.lines - 1
    else:
        width = height = None
    try:
        lines = render(load(), width, height, every)
    except StudyError as exc:  # a study not made yet, a journal being repaired
        lines = [_cut(f"{datetime.now():%H:%M:%S} cannot read the study: {exc}", width)]
    if live:
        stream.write(HOME + "".join(line + CLEAR_LINE + "\n" for line in lines) + CLEAR_BELOW)
    else:
        stream.write("\n".join(lines) + "\n\n")
    stream.flush()

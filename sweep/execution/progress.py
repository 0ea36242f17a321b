"""Live progress of a running study: a bar on a terminal, plain lines elsewhere.

The status line is redrawn in place with a carriage return, which only works while
it fits on one row: a line one character wider than the terminal wraps, and every
redraw then leaves its first row behind. So the line is fitted to the terminal's
width, read again at every redraw (a resized window): the least useful parts go
first, then the bar narrows, and what still does not fit is cut.

Each finished trial is a row of a table whose header comes before the first row,
with the columns and names of ``sweep trials`` (`TRIAL_COLUMNS`, then the settings,
then the reason). On a terminal the rows fit its width as every screen table does
(`sweep.text.layout`): the least useful columns are left out, nothing wraps. In a log
(off a terminal) every column is there, the reason whole. A message (`line`) is
broken between words on a terminal. ``quiet`` leaves out the bar and the trials'
rows: messages and the summary only.
"""

from __future__ import annotations

import os
import sys
import time
from typing import IO

from optuna.trial import FrozenTrial, TrialState

from ..study.records import PARAMS_PREFIX, TrialOutcome, cell, count, screen_column
from ..text import Column, clock, layout, percent, row_line, wrap

# a finished trial's row: these columns, its settings, then the reason; each column as
# wide as its header or the widest value it usually holds. No test accuracy: the test set
# never chooses anything, and shown for every trial while the sweep runs it would invite
# choosing by it; the run's last line gives it for the selected trial only.
TRIAL_COLUMNS = (("number", 6), ("state", 8), ("value", 6))
REASON_WIDTH = 40  # the reason takes what room is left, down to a few words
PARAM_WIDTH = 7  # short(): 0.00316, 1.0e-04, 2048


class Progress:
    """One status line redrawn in place on a terminal; log lines above it.

    Off a terminal nothing is redrawn and each finished trial is one plain line,
    which is what a log file wants; ``quiet`` leaves out the bar and the trial rows.
    """

    def __init__(self, target: int, already: int = 0, stream: IO[str] | None = None,
                 quiet: bool = False) -> None:
        self.target, self.already = target, already
        self.stream = stream or sys.stderr
        self.live = (not quiet and self.stream.isatty()
                     and os.environ.get("TERM", "") not in ("dumb", ""))
        self.quiet = quiet
        self._last = ""
        self._drawn = 0.0
        self._columns: list[tuple[str, Column, int]] | None = None  # set by the first row

    def update(self, trials: list[FrozenTrial], elapsed: float, final: bool = False) -> None:
        """Redraw the status line, at most every 0.2 s; ``final`` always (the run's last
        state must not be dropped for coming soon after a redraw)."""
        if not self.live or (not final and time.monotonic() - self._drawn < 0.2):
            return
        self._drawn = time.monotonic()
        counts = count(trials)
        done = counts.finished
        new = done - self.already
        remaining = ""
        if new > 0 and done < self.target:
            remaining = f", ~{clock(elapsed / new * (self.target - done))} left"
        parts = [f"{done}/{self.target} trials", best_line(trials),
                 f"{clock(elapsed)} elapsed{remaining}",
                 f"{counts.running} running, {counts.pruned} pruned, {counts.failed} failed"
                 + (f", {counts.retried} retried" if counts.retried else "")]
        text = fit_status(done / max(self.target, 1), parts, self.columns())
        self._write("\r\x1b[2K" + text)
        self._last = text

    def columns(self) -> int:
        """The terminal's width now, one column spare (a line that fills the last column
        makes some terminals wrap at the next character)."""
        try:
            return max(os.get_terminal_size(self.stream.fileno()).columns - 1, 1)
        except (OSError, ValueError, AttributeError):
            return 79

    def line(self, message: str) -> None:
        """A message above the bar; on a terminal broken between words to its width."""
        if self.live:
            text = "\n".join(wrap(message, self.columns()))
            self._write("\r\x1b[2K" + text + "\n" + self._last)
        else:
            self._write(message + "\n")

    def trial_done(self, outcome: TrialOutcome) -> None:
        """The finished trial's row (after the header, before the first row)."""
        if self.quiet:
            return
        if self._columns is None:
            self._columns = trial_columns(list(outcome.params))
            self._row([(name, column.name) for name, column, _ in self._columns])
        values = outcome.row()
        self._row([(name, cell(name, values.get(name))) for name, _, _ in self._columns])

    def _row(self, cells: list[tuple[str, str]]) -> None:
        assert self._columns is not None
        columns = [column for _, column, _ in self._columns]
        texts = [text for _, text in cells]
        if self.live:
            width = self.columns()
            sizes = [size for _, _, size in self._columns]
            shown, widths = layout(columns, [["x" * n for n in sizes]], width)
            self.line(row_line(columns, texts, shown, widths, width))
            return
        # a log: every column, a value wider than usual widens its own row only
        widths = [max(size, len(text)) for (_, _, size), text in zip(self._columns, texts,
                                                                     strict=True)]
        self.line(row_line(columns, texts, range(len(columns)), widths))

    def close(self) -> None:
        if self.live and self._last:
            self._write("\r\x1b[2K" + self._last + "\n")
            self._last = ""

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


BAR_WIDTH = 24  # the bar's width when there is room
MIN_BAR = 6


def fit_status(fraction: float, parts: list[str], columns: int) -> str:
    """``[####....] part0 | part1 | ...`` in at most ``columns`` characters: trailing
    parts are dropped until it fits with a bar of at least `MIN_BAR`, the bar then
    shrinks, and a line that still does not fit is cut."""
    fraction = min(max(fraction, 0.0), 1.0)
    while True:
        tail = " | ".join(parts)
        room = columns - len(tail) - 3  # the brackets and a space
        if room >= MIN_BAR or len(parts) <= 1:
            break
        parts = parts[:-1]
    width = min(BAR_WIDTH, max(room, MIN_BAR))
    filled = int(width * fraction)
    return f"[{'#' * filled}{'.' * (width - filled)}] {tail}"[:columns]


def best_line(trials: list[FrozenTrial]) -> str:
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if not done:
        return "best value: none yet"
    best = max(done, key=lambda t: t.value)
    return f"best value {percent(best.value)} (trial {best.number})"


def trial_columns(params: list[str]) -> list[tuple[str, Column, int]]:
    """A trial row's columns: (name in the trials table, screen column, usual width)."""
    named = [*(name for name, _ in TRIAL_COLUMNS), *(PARAMS_PREFIX + p for p in params),
             "reason"]
    usual = dict(TRIAL_COLUMNS) | {"reason": REASON_WIDTH}
    out = []
    for name in named:
        column = screen_column(name)
        out.append((name, column, max(len(column.name), usual.get(name, PARAM_WIDTH))))
    return out

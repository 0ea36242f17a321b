"""Live progress of a running study: a bar on a terminal, plain lines elsewhere.

The status line is redrawn in place with a carriage return, which only works while
it fits on one row: a line one character wider than the terminal wraps, and every
redraw then leaves its first row behind. So the line is fitted to the terminal's
width, read again at every redraw (a resized window): the least useful parts go
first, then the bar narrows, and what still does not fit is cut.
"""

from __future__ import annotations

import os
import sys
import time
from typing import IO

from optuna.trial import FrozenTrial, TrialState

from ..study.records import TrialOutcome, count
from ..text import clock, percent, short


class Progress:
    """One status line redrawn in place on a terminal; log lines above it.

    Off a terminal (or with ``quiet``) nothing is redrawn and each finished trial
    is one plain line, which is what a log file wants.
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
        if self.live:
            self._write("\r\x1b[2K" + message + "\n" + self._last)
        else:
            self._write(message + "\n")

    def trial_done(self, outcome: TrialOutcome) -> None:
        text = f"trial {outcome.number:4d} {outcome.state.lower():9s}"
        if outcome.value is not None and outcome.state == "COMPLETE":
            text += f" val {outcome.value:.2%}"
            if outcome.test_accuracy is not None:
                text += f" test {outcome.test_accuracy:.2%}"
        if outcome.reason:
            text += f" ({outcome.reason})"
        params = ", ".join(f"{k}={short(v)}" for k, v in outcome.params.items())
        self.line(f"{text}  {params}")

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
        return "best: none yet"
    best = max(done, key=lambda t: t.value)
    return f"best {percent(best.value)} (#{best.number})"

"""``sweep trials --watch``: a live view of a study, redrawn every few seconds.

On a terminal the view is redrawn in place, like ``watch``: the cursor goes home,
the table is fitted to the terminal's width (`sweep.text.table`: the least useful
columns give way, nothing wraps) and cut to its height, and what the last frame left
below is cleared. Off a terminal (a pipe, a log file) each refresh is printed as plain
lines after the last, with a time stamp, and nothing is redrawn.

Running trials come first, with the last epoch they reported, that epoch's validation
accuracy (last_value) and how long they have run; then the finished trials, latest
first. The columns are named as in ``sweep trials`` and its CSV.

The view ends by itself (exit 0), with a last frame saying so, once the study has
finished trials and none running or waiting, and has stayed so for `SETTLE` seconds
(over two frames at least): the gap between a trial and the next one a worker starts
is far shorter. Trials left waiting with none running (a retry after an interrupt, an
``--enqueue`` past the total) wait for the next run: after `STRANDED_SETTLE` seconds,
longer than a run takes to start its first trial, the view ends saying so. Ctrl-C ends
it too (exit 0).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import IO

from ..errors import StudyError
from ..study.records import PARAMS_PREFIX, TrialOutcome, cell, screen_column
from ..study.results import StudyResults
from ..text import Column, fit, percent, table

HOME, CLEAR_LINE, CLEAR_BELOW = "\x1b[H", "\x1b[K", "\x1b[J"
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
# the view's columns, then the settings; the earlier ones stay longest on a narrow screen
FIXED_COLUMNS = ("number", "state", "last_epoch", "last_value", "duration_seconds", "value")
SETTLE = 5.0  # seconds the study must stay without running or waiting trials
STRANDED_SETTLE = 30.0  # seconds trials may wait, none running, before the view ends


def _epochs_of(o: TrialOutcome, default: int) -> int:
    epochs = o.params.get("epochs", default)
    return epochs if isinstance(epochs, int) else default


def live_row(o: TrialOutcome, epochs: int, names: list[str]) -> list[str]:
    """One trial as the view shows it; its last epoch out of the epochs it trains."""
    row = o.row()
    cells = [cell(n, row.get(n)) for n in FIXED_COLUMNS]
    cells[2] = f"{o.last_epoch or 0}/{_epochs_of(o, epochs)}"
    return cells + [cell(PARAMS_PREFIX + n, o.params.get(n)) for n in names]


def view_columns(names: list[str]) -> list[Column]:
    fixed = [screen_column(n, 100 - i) for i, n in enumerate(FIXED_COLUMNS)]
    return fixed + [screen_column(PARAMS_PREFIX + n) for n in names]


def finished_watching(results: StudyResults) -> bool:
    """Whether the study has finished trials and none running or waiting to start (a
    trial whose worker on this machine is gone is not running: `orphans`)."""
    return idle(results) and results.waiting == 0


def idle(results: StudyResults) -> bool:
    """Whether the study has run (finished or lost trials), or has trials waiting, and
    none is running now. A study that never ran and has nothing waiting is watched
    while its run starts; waiting trials end the view after `STRANDED_SETTLE`."""
    c = results.counts
    gone = len(orphans(results)) if c.running else 0
    return (c.finished > 0 or c.retried > 0 or gone > 0 or results.waiting > 0) \
        and c.running == gone


def orphans(results: StudyResults) -> list[int]:
    """Trials RUNNING in the storage that nobody will finish: their worker on this
    machine is gone (a run killed with its workers), or, in a database whose trials
    beat, their heartbeat stopped or never started (a machine died). The next run fails
    and retries them."""
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.trial import TrialState

    from ..execution.heartbeat import silent_trial_ids
    from ..execution.liveness import claim_grace, dead_worker

    storage, heartbeat = results.study._storage, results.settings.heartbeat
    local = isinstance(storage, JournalStorage)
    dead = dead_worker(local, claim_grace(local, heartbeat))
    silent = (silent_trial_ids(storage, results.study._study_id, heartbeat)
              if isinstance(storage, RDBStorage) else set())
    return [t.number for t in results.frozen_trials
            if t.state == TrialState.RUNNING and (dead(t) or t._trial_id in silent)]


def ordered(outcomes: list[TrialOutcome]) -> list[TrialOutcome]:
    """Running trials by number, then the finished ones, the latest first."""
    running = [o for o in outcomes if o.state == "RUNNING"]
    done = [o for o in outcomes if o.state != "RUNNING"]
    done.sort(key=lambda o: (o.datetime_complete or datetime.min, o.number), reverse=True)
    return running + done


def header(results: StudyResults, every: float, final: bool = False) -> list[str]:
    """Two lines: the counts, then the best trial and the time of this frame (or, on
    the last frame, that the view ends)."""
    c = results.counts
    best = results.best_outcomes(1)
    best_text = (f"best value {percent(best[0].value)} (trial {best[0].number})" if best
                 else "no completed trial yet")
    gone = orphans(results) if c.running else []
    waiting = results.waiting
    nothing = ("nothing left running or waiting but trials nobody will finish" if gone
               else "no trial running or waiting")
    if waiting:
        nothing = (f"no trial running; {waiting} waiting that no run has started for "
                   f"{STRANDED_SETTLE:.0f}s (the next `sweep run` starts "
                   f"{'them' if waiting > 1 else 'it'})")
    when = (f"{datetime.now():%H:%M:%S}: {nothing}; the view ends" if final
            else f"{datetime.now():%H:%M:%S}, every {every:g}s, Ctrl-C quits")
    if waiting and not final and idle(results):
        when += (f"; no trial running: {waiting} waiting for a run to start "
                 f"{'them' if waiting > 1 else 'it'}, watched for up to {STRANDED_SETTLE:g}s")
    running = f"{c.running} running" + (
        f" ({len(gone)} of them with their worker gone: trial{'s' if len(gone) > 1 else ''} "
        f"{', '.join(map(str, gone))}; the next run fails and retries them)" if gone else "")
    return [f"study {results.name!r}: {c.finished} finished ({c.complete} completed, "
            f"{c.pruned} pruned, {c.failed} failed{c.retried_text()}), {running}"
            + (f", {waiting} waiting" if waiting else ""),
            f"{best_text}; {when}"]


def render(results: StudyResults, width: int | None = None, height: int | None = None,
           every: float = 2.0, final: bool = False) -> list[str]:
    """The view's lines: a header, then the table fitted to ``width`` (columns left out
    on a narrow terminal, a line cut with "…" where nothing else helps); ``height``
    keeps that many lines, saying how many trials were left out."""
    names = results.param_names
    epochs = results.settings.config.training.epochs
    rows = [live_row(o, epochs, names) for o in ordered(results.listed)]
    lines = table(view_columns(names), rows, width).lines
    top = [*header(results, every, final), ""]
    if height is not None and len(top) + len(lines) > height:
        keep = max(height - len(top) - 1, 1)
        left_out = len(lines) - keep
        lines = [*lines[:keep], f"... {left_out} more trials (sweep trials shows them all)"]
    return [fit(line, width) for line in top + lines]


def watch(load: Callable[[], StudyResults], every: float,
          stream: IO[str] | None = None, settle: float = SETTLE) -> int:
    """Redraw the view every ``every`` seconds until the study has stayed without
    running or waiting trials for ``settle`` seconds, or Ctrl-C; exit code 0."""
    stream = stream or sys.stdout
    live = stream.isatty() and os.environ.get("TERM", "") not in ("dumb", "")
    idle_since: float | None = None
    try:
        if live:  # a clean screen once; every frame then overwrites the last in place
            stream.write(HIDE_CURSOR + HOME + CLEAR_BELOW)
        while True:
            results = _load(load)
            quiet = isinstance(results, StudyResults) and idle(results)
            now = time.monotonic()
            idle_since = (idle_since if idle_since is not None else now) if quiet else None
            enough = settle if quiet and results.waiting == 0 else max(settle, STRANDED_SETTLE)
            final = idle_since is not None and now - idle_since >= enough
            _frame(results, every, stream, live, final)
            if final:
                return 0
            time.sleep(every if idle_since is None else min(every, settle))
    except KeyboardInterrupt:
        pass
    finally:
        if live:
            stream.write(SHOW_CURSOR)
        stream.flush()
    return 0


def _load(load: Callable[[], StudyResults]) -> StudyResults | StudyError:
    try:
        return load()
    except StudyError as exc:  # a study not made yet, a journal being repaired
        return exc


def _frame(results: StudyResults | StudyError, every: float, stream: IO[str], live: bool,
           final: bool) -> None:
    if live:
        size = os.get_terminal_size(stream.fileno())
        # one column spare: a line that fills the last column makes some terminals wrap
        width, height = size.columns - 1, size.lines - 1
    else:
        width = height = None
    if isinstance(results, StudyError):
        lines = [fit(f"{datetime.now():%H:%M:%S} cannot read the study: {results}", width)]
    else:
        lines = render(results, width, height, every, final)
    if live:
        stream.write(HOME + "".join(line + CLEAR_LINE + "\n" for line in lines) + CLEAR_BELOW)
    else:
        stream.write("\n".join(lines) + "\n\n")
    stream.flush()

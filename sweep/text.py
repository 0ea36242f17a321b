"""How numbers read on the screen and in the report: one spelling of each.

Accuracies are fractions everywhere in the code and percent only here; a difference
of two accuracies is in percentage points, never "%"; a setting's value is short
(512, 0.3, 1e-04); a duration is a clock (1:02:03), or seconds (12.3) in a table.

A table on the screen (`table`) fits the terminal's width: the least useful columns
give way and nothing wraps. Off a terminal a table is whole.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any


def finite(v: Any) -> bool:
    """A real number that is neither NaN nor infinite (booleans are not numbers here)."""
    if isinstance(v, bool) or not isinstance(v, int | float) and not hasattr(v, "__float__"):
        return False
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def percent(v: Any, digits: int = 2) -> str:
    """A fraction in percent, 0.98765 -> 98.77%; a missing value is a dash."""
    return f"{float(v):.{digits}%}" if finite(v) else "–"


def points(difference: Any, spec: str = "+.2f") -> str:
    """A difference of two fractions in percentage points: 0.0123 -> +1.23 points."""
    return f"{float(difference) * 100:{spec}} points" if finite(difference) else "–"


def short(v: Any) -> str:
    """A setting's value in few characters: 512, 0.3, 1.0e-04, 0.00316."""
    if v is None:
        return "–"
    if hasattr(v, "item") and not isinstance(v, str):
        v = v.item()
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return "–"
        if v == int(v) and abs(v) < 1e6:
            return str(int(v))
        if abs(v) < 1e-3 or abs(v) >= 1e5:
            return f"{v:.1e}"
        return f"{v:.3g}"
    return str(v)


def clock(seconds: float | None) -> str:
    """A duration as m:ss, or h:mm:ss from an hour; a dash when unknown."""
    if seconds is None or not finite(seconds):
        return "-"
    seconds = int(max(seconds, 0))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``1 epoch``, ``2 epochs``; ``many`` for nouns that do not just take an s."""
    return f"{n} {noun if n == 1 else (many or noun + 's')}"


def seconds(v: Any) -> str:
    """A number of seconds as the tables show it: 12.3; a dash when unknown."""
    return f"{float(v):.1f}" if finite(v) else "–"


# -- tables on the screen ---------------------------------------------------------------

GAP = "  "  # between two columns
CUT = "…"  # ends (or, for a path, starts) a shortened cell or line


@dataclass(frozen=True)
class Column:
    """A column of a screen table and how it gives way on a narrow terminal.

    ``name`` is its header, the same name as in the CSV, the JSON and the API. ``keep``
    ranks the columns: the lowest goes first when the table is too wide. ``cut``: a
    text column that may be shortened to that many characters (with "…") before any
    column is dropped; ``cut_start`` shortens it from the start (a path's end tells
    most).
    """

    name: str
    right: bool = True  # numbers align right, text left
    keep: float = 0.0
    cut: int | None = None
    cut_start: bool = False

    def min_width(self, natural: int) -> int:
        return natural if self.cut is None else min(natural, max(len(self.name), self.cut))


@dataclass(frozen=True)
class Table:
    """A table laid out for a width: its lines (the header first) and the names of the
    columns left out for lack of room."""

    lines: list[str]
    dropped: list[str]

    def note(self, width: int | None) -> list[str]:
        """The lines that say which columns were left out (none when none was)."""
        if not self.dropped:
            return []
        return wrap(f"({plural(len(self.dropped), 'column')} left out for the terminal's "
                    f"width: {', '.join(self.dropped)})", width)


def fit(line: str, width: int | None) -> str:
    """``line`` cut to ``width`` characters, ending in "…" where cut."""
    if width is None or len(line) <= width:
        return line
    return line[:max(width - 1, 0)] + CUT


def _cell(text: str, width: int, column: Column) -> str:
    if len(text) > width:
        text = (CUT + text[len(text) - width + 1:]) if column.cut_start else \
            text[:max(width - 1, 0)] + CUT
    return text.rjust(width) if column.right else text.ljust(width)


def layout(columns: Sequence[Column], rows: Sequence[Sequence[str]],
           width: int | None = None) -> tuple[list[int], list[int]]:
    """Which columns a table shows within ``width`` characters, and how wide each is.

    Without a width (off a terminal) every column at its natural width: the widest of
    its header and cells. Otherwise the lowest-ranked columns are dropped until the
    rest fit with their cuttable text at its shortest; cuttable columns then take back
    what room is left. The table never wraps; a single column still too wide is cut."""
    natural = [max([len(c.name), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    shown = list(range(len(columns)))
    if width is None:
        return shown, natural

    def total(widths: dict[int, int]) -> int:
        return sum(widths.values()) + len(GAP) * (len(widths) - 1)

    while True:
        least = {i: columns[i].min_width(natural[i]) for i in shown}
        if len(shown) <= 1 or total(least) <= width:
            break
        shown.remove(min(shown, key=lambda i: (columns[i].keep, -i)))
    room = width - total(least)
    for i in sorted(shown, key=lambda i: -columns[i].keep):
        more = max(min(natural[i] - least[i], room), 0)
        least[i] += more
        room -= more
    return shown, [least.get(i, 0) for i in range(len(columns))]


def table(columns: Sequence[Column], rows: Sequence[Sequence[str]],
          width: int | None = None) -> Table:
    """A table of text cells, fitted to ``width`` (see `layout`); off a terminal
    (``width`` None) the whole table."""
    shown, widths = layout(columns, rows, width)
    lines = [row_line(columns, [c.name for c in columns], shown, widths, width)]
    lines += [row_line(columns, r, shown, widths, width) for r in rows]
    return Table(lines, [columns[i].name for i in range(len(columns)) if i not in shown])


def row_line(columns: Sequence[Column], cells: Sequence[str], shown: Sequence[int],
             widths: Sequence[int], width: int | None = None) -> str:
    """One line of a table laid out by `layout`."""
    parts = [_cell(cells[i], widths[i], columns[i]) for i in shown]
    return fit(GAP.join(parts).rstrip(), width)


def terminal_width(stream: IO[str] | None = None) -> int | None:
    """The width a table may fill on the terminal that ``stream`` (standard output)
    writes to, one column spare (a line that fills the last column makes some terminals
    wrap); None off a terminal (a pipe, a file, TERM=dumb), where tables are whole. A
    terminal that reports no size takes COLUMNS, or none."""
    stream = stream or sys.stdout
    try:
        if not stream.isatty() or os.environ.get("TERM", "") in ("dumb", ""):
            return None
        columns = os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return None
    if columns <= 0:  # a terminal without a size (a pty made by `script`, some CI): COLUMNS
        given = os.environ.get("COLUMNS", "")
        columns = int(given) if given.isdigit() else 0
    return max(columns - 1, 1) if columns > 0 else None


def wrap(text: str, width: int | None, indent: str = "  ") -> list[str]:
    """A line of prose as lines of at most ``width`` characters, broken between words,
    the later ones indented; unchanged without a width."""
    if width is None or len(text) <= width:
        return [text]
    import textwrap

    return textwrap.wrap(text, width, subsequent_indent=indent, break_on_hyphens=False) \
        or [text]

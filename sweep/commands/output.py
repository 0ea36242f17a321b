"""How the reading commands print: a table on the screen, or ``-f json`` / ``-f csv``
(Optuna's CLI has the same ``-f``), to standard output or ``--out FILE``.

A table on a terminal fits its width (`sweep.text.table`: the least useful columns give
way, a line saying which); written to a pipe or a file it is whole. JSON and CSV are
never fitted: they keep every column.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError, cannot_write
from ..study.paths import enclosing
from ..study.records import INTEGER_COLUMNS
from ..study.space import Space
from ..text import Table, terminal_width

if TYPE_CHECKING:  # imported where a table is made: `sweep run` needs no pandas
    import pandas as pd

FORMATS = ("table", "json", "csv")


def add_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", choices=FORMATS, default=None, metavar="FORMAT",
                   help="table (default: fitted to the terminal's width), json or csv "
                        "(every column, never cut); with --out FILE.csv or FILE.json, "
                        "the format its suffix names")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="write the output to this file instead of the screen (a whole "
                        "table), in an existing folder")


SUFFIX_FORMATS = {".csv": "csv", ".json": "json"}


def settle_format(args: argparse.Namespace) -> None:
    """-f as given; else the format --out's suffix names (x.csv: csv); else a table (or,
    with no --out, the command's ``screen_format``: compare's page). Called once, as the
    command line is parsed, for the commands whose -f has no default."""
    if getattr(args, "format", "") is None:
        out = getattr(args, "out", None)
        suffix = Path(out).suffix.lower() if out not in (None, "-") else ""
        otherwise = "table" if out else getattr(args, "screen_format", "table")
        args.format = SUFFIX_FORMATS.get(suffix, otherwise)


def screen_width(args: argparse.Namespace) -> int | None:
    """The width a table must fit: the terminal's, for a table printed on one; None
    (the whole table) for a file, a pipe or a machine format."""
    if args.format != "table" or getattr(args, "out", None) not in (None, "-"):
        return None
    return terminal_width()


def table_text(made: Table, width: int | None) -> str:
    """A table and, where columns were left out for the width, the line saying so."""
    return "\n".join([*made.lines, *made.note(width)])


def emit(args: argparse.Namespace, render: Callable[[str], str], flag: str = "--out") -> int:
    """Print ``render(format)``, or write it atomically to --out (never onto a study)."""
    text = render(args.format)
    if not args.out or args.out == "-":  # "-": standard output, as for every Unix tool
        print(text, end="" if text.endswith("\n") else "\n")
        return 0
    from mlp.atomic import write_text

    check_export_target(Path(args.out), flag)
    try:
        write_text(args.out, text)
    except OSError as exc:  # the atomic write's temporary file is not the user's to see
        raise cannot_write(f"{flag} {args.out}", exc) from None
    print(f"{args.format} -> {args.out}")
    return 0


def json_ready(v: Any) -> Any:
    """NaN and infinities as null (JSON has no such numbers), times as ISO text."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): json_ready(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [json_ready(x) for x in v]
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if hasattr(v, "item"):
        return json_ready(v.item())
    return v


def whole_numbers(df: pd.DataFrame, space: Space) -> pd.DataFrame:
    """Counts, epochs and integer settings as integers: pandas makes a column with a gap
    (a running trial's) float, and a parameter count of 15134.0 reads wrong."""
    import pandas as pd

    names = list(INTEGER_COLUMNS)
    for p in space.params:
        choices = p.choices or ()
        if p.type == "int" or (choices and all(type(c) is int for c in choices)):
            names.append(p.column)
    df = df.copy()
    for name in names:
        if name in df.columns:
            values = pd.to_numeric(df[name], errors="coerce")
            whole = values.dropna()
            if len(whole) == values.notna().sum() == df[name].notna().sum() and \
                    (whole == whole.round()).all():
                df[name] = values.astype("Int64")
    return df


def check_export_folder(folder: Path, flag: str) -> None:
    """A folder an export writes its files into: new or a folder (not a file, device or
    dangling link), and outside every study folder and experiment directory."""
    if (folder.exists() or folder.is_symlink()) and not folder.is_dir():
        raise UsageError(f"{flag} {folder}: not a folder; name a new or existing folder")
    inside = enclosing(folder)
    if inside:
        raise UsageError(f"{flag} {folder}: inside {inside}; write it elsewhere")


def check_export_target(target: Path, flag: str = "--out") -> None:
    """An export lands only on a new or regular file outside every study folder and
    experiment directory, and never on a file that holds a study's storage (a journal,
    a SQLite database). A device, a FIFO or a link is refused: the atomic write would
    replace it."""
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise UsageError(f"{flag} {target}: not a regular file (a link, device, pipe or "
                         "folder); name a new or ordinary file")
    if not target.parent.exists():  # one that is a file is said as the write fails
        raise UsageError(f"{flag} {target}: no folder {target.parent}; make it first")
    inside = enclosing(target.parent)
    if inside:
        raise UsageError(f"{flag} {target}: inside {inside}; write it elsewhere")
    resolved = target.resolve()
    if resolved.is_file():
        with open(resolved, "rb") as f:
            head = f.read(64)
        if head.startswith(b"SQLite format 3") or b'"op_code"' in head:
            raise UsageError(f"{flag} {target}: holds a study's storage; refusing to "
                             "overwrite it")

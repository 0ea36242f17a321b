"""The commands that read a study: ``best``, ``trials`` and ``studies``.

Each prints a table by default, or ``-f json`` / ``-f csv`` (Optuna's CLI has the
same ``-f``), to standard output or ``--out FILE``.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import StudyError, UsageError
from .options import Command, add_studies_dir_arg, add_study_args
from .records import INTEGER_COLUMNS, TrialOutcome
from .results import BrokenStudy, StudyResults, list_studies, load
from .space import Space
from .watch import clock, watch

if TYPE_CHECKING:  # imported where a table is printed: `sweep run` needs no pandas
    import pandas as pd

FORMATS = ("table", "json", "csv")


def best_line(o: TrialOutcome) -> str:
    """A trial in one line: number, accuracies, settings and directory."""
    params = ", ".join(f"{k}={_short(v)}" for k, v in o.params.items())
    test = f", test {o.test_accuracy:.2%}" if _finite(o.test_accuracy) else ""
    value = f"val {o.value:.2%}" if _finite(o.value) else f"{o.state.lower()}"
    return f"trial {o.number}: {value}{test} ({params}) -> {o.experiment_dir}"


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def add_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", choices=FORMATS, default="table",
                   help="output format (table)")
    p.add_argument("--out", default=None, help="write to this file instead of the screen")


def emit(args: argparse.Namespace, render: Callable[[str], str], flag: str = "--out") -> int:
    """Print ``render(format)``, or write it atomically to --out (never onto a study)."""
    text = render(args.format)
    if not args.out:
        print(text, end="" if text.endswith("\n") else "\n")
        return 0
    from mlp.atomic import write_text

    check_export_target(Path(args.out), flag)
    write_text(args.out, text)
    print(f"{args.format} -> {args.out}")
    return 0


def _json_ready(v: Any) -> Any:
    """NaN and infinities as null (JSON has no such numbers), times as ISO text."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _json_ready(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_ready(x) for x in v]
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if hasattr(v, "item"):
        return _json_ready(v.item())
    return v


def note_unreachable(results: StudyResults) -> None:
    note = results.unreachable_note()
    if note:
        print(f"note: {note}", file=sys.stderr)


def _load_nonempty(args: argparse.Namespace) -> StudyResults:
    results = load(args.study, args.studies_dir, args.storage)
    note_unreachable(results)
    if results.counts.complete == 0:
        c = results.counts
        running = running_text(results)
        raise StudyError(f"study {args.study!r} has no completed trial yet ({c.finished} "
                         f"finished: {c.pruned} pruned, {c.failed} failed; {c.running} running"
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
                     f"(val {o.last_value:.2%}, {clock(o.duration_seconds)})")
    return ", ".join(parts)


# -- best ---------------------------------------------------------------------------------

def add_best_arguments(p: argparse.ArgumentParser) -> None:
    add_study_args(p)
    p.add_argument("--top", type=int, default=1, help="how many trials (1)")
    add_output_args(p)
    p.add_argument("--json", action="store_const", const="json", dest="format",
                   help=argparse.SUPPRESS)  # the earlier spelling of -f json


def cmd_best(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise UsageError(f"--top {args.top}: must be >= 1")
    results = _load_nonempty(args)
    best = results.best_outcomes(args.top)

    def render(fmt: str) -> str:
        if fmt == "json":
            rows = [{k: v for k, v in o.to_json().items() if k != "traceback"} for o in best]
            return json.dumps({"study": results.name, "best": _json_ready(rows)}, indent=2)
        if fmt == "csv":
            df = whole_numbers(results.best(args.top), results.settings.space)
            return df.to_csv(index=False)
        lines = [f"#{rank} {best_line(o)}  [{o.brief()}]" for rank, o in enumerate(best, 1)]
        running = running_text(results)
        if running:
            lines.append(f"running, not ranked until complete: {running}")
        return "\n".join(lines)

    return emit(args, render)


# -- trials -------------------------------------------------------------------------------

WATCH_EVERY = 2.0  # seconds between frames of --watch


def add_trials_arguments(p: argparse.ArgumentParser) -> None:
    add_study_args(p)
    add_output_args(p)
    p.add_argument("--watch", nargs="?", type=float, const=WATCH_EVERY, default=None,
                   metavar="SECONDS",
                   help="a live view, redrawn every SECONDS (default "
                        f"{WATCH_EVERY:g}) until Ctrl-C: running trials with their epoch, "
                        "last validation accuracy and time")
    p.add_argument("--csv", default=None, metavar="FILE",
                   help=argparse.SUPPRESS)  # the earlier spelling of -f csv --out FILE


def cmd_trials(args: argparse.Namespace) -> int:
    flag = "--out"
    if args.csv:
        args.format, args.out, flag = "csv", args.csv, "--csv"
    if args.watch is not None:
        return _watch(args)
    results = load(args.study, args.studies_dir, args.storage)
    note_unreachable(results)
    df = whole_numbers(results.trials, results.settings.space)
    if df.empty:
        raise StudyError(f"study {args.study!r} has no trials yet")

    def render(fmt: str) -> str:
        if fmt == "csv":
            return df.to_csv(index=False)
        if fmt == "json":
            rows = [{k: v for k, v in o.to_json().items() if k != "traceback"}
                    for o in results.outcomes]
            return json.dumps({"study": results.name, "trials": _json_ready(rows)}, indent=2)
        import pandas as pd

        shown = df.drop(columns=["datetime_start", "datetime_complete", "experiment_dir"])
        with pd.option_context("display.max_rows", None, "display.width", 200,
                               "display.max_columns", None,
                               "display.float_format", "{:.4g}".format):
            return shown.to_string(index=False)

    return emit(args, render, flag)


def _watch(args: argparse.Namespace) -> int:
    if not (math.isfinite(args.watch) and 0.1 <= args.watch <= 3600):
        raise UsageError(f"--watch {args.watch:g}: seconds between refreshes, 0.1 to 3600")
    if args.format != "table" or args.out:
        raise UsageError("--watch shows a table on the screen; leave out -f and --out")
    load(args.study, args.studies_dir, args.storage)  # a missing study is an error at once
    return watch(lambda: load(args.study, args.studies_dir, args.storage), args.watch)


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


def check_export_target(target: Path, flag: str = "--out") -> None:
    """An export lands only on a new or regular file outside every study folder, and
    never on a file that holds a study's storage (a journal, a SQLite database). A
    device, a FIFO or a link is refused: the atomic write would replace it."""
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise UsageError(f"{flag} {target}: not a regular file (a link, device, pipe or "
                         "folder); name a new or ordinary file")
    resolved = target.resolve()
    for folder in resolved.parents:
        if (folder / "study.json").is_file() or (folder / "journal.log").is_file():
            raise UsageError(f"{flag} {target}: inside the study folder {folder}; write the "
                             "table elsewhere")
    if resolved.is_file():
        with open(resolved, "rb") as f:
            head = f.read(64)
        if head.startswith(b"SQLite format 3") or b'"op_code"' in head:
            raise UsageError(f"{flag} {target}: holds a study's storage; refusing to "
                             "overwrite it")


# -- studies ------------------------------------------------------------------------------

def add_studies_arguments(p: argparse.ArgumentParser) -> None:
    add_studies_dir_arg(p)
    add_output_args(p)


def study_row(r: StudyResults | BrokenStudy) -> dict[str, Any]:
    if isinstance(r, BrokenStudy):
        return {"name": r.name, "problem": r.problem}
    c = r.counts
    best = r.best_outcomes(1)
    return {"name": r.name, "finished": c.finished, "completed": c.complete,
            "pruned": c.pruned, "failed": c.failed, "running": c.running,
            "best_value": best[0].value if best else None,
            "best_trial": best[0].number if best else None, "problem": None}


def _study_line(row: dict[str, Any]) -> str:
    if row["problem"]:
        return f"{row['name']}: unreadable ({row['problem']})"
    best = (f"best val {row['best_value']:.2%} (trial {row['best_trial']})"
            if row["best_trial"] is not None else "no completed trial")
    return (f"{row['name']}: {row['finished']} finished ({row['completed']} completed, "
            f"{row['pruned']} pruned, {row['failed']} failed, {row['running']} running); "
            f"{best}")


def cmd_studies(args: argparse.Namespace) -> int:
    rows = [study_row(r) for r in list_studies(args.studies_dir)]
    if not rows:
        raise StudyError(f"no studies in {args.studies_dir}")

    def render(fmt: str) -> str:
        if fmt == "json":
            return json.dumps({"studies": _json_ready(rows)}, indent=2)
        if fmt == "csv":
            import pandas as pd

            buf = io.StringIO()
            pd.DataFrame(rows).to_csv(buf, index=False)
            return buf.getvalue()
        return "\n".join(_study_line(row) for row in rows)

    return emit(args, render)


COMMANDS = (
    Command("best", "the best trial(s) of a study", add_best_arguments, cmd_best),
    Command("trials", "the table of all trials of a study, running ones with their last "
            "epoch", add_trials_arguments, cmd_trials),
    Command("studies", "the studies in a folder", add_studies_arguments, cmd_studies),
)

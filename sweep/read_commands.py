"""The commands that read a study: ``best``, ``trials`` and ``studies``."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from .errors import StudyError, UsageError
from .options import DEFAULT_STUDIES_DIR, Command, add_study_args
from .records import TrialOutcome
from .results import BrokenStudy, StudyResults, list_studies, load


def best_line(o: TrialOutcome) -> str:
    """A trial in one line: number, accuracies, settings and directory."""
    params = ", ".join(f"{k}={_short(v)}" for k, v in o.params.items())
    test = f", test {o.test_accuracy:.2%}" if _finite(o.test_accuracy) else ""
    return f"trial {o.number}: val {o.value:.2%}{test} ({params}) -> {o.experiment_dir}"


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)


def _load_nonempty(args: argparse.Namespace) -> StudyResults:
    results = load(args.study, args.studies_dir, args.storage)
    if results.counts.complete == 0:
        c = results.counts
        raise StudyError(f"study {args.study!r} has no completed trial yet ({c.finished} "
                         f"finished: {c.pruned} pruned, {c.failed} failed; {c.running} running)")
    return results


def add_best_arguments(p: argparse.ArgumentParser) -> None:
    add_study_args(p)
    p.add_argument("--top", type=int, default=1, help="how many trials (1)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_best(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise UsageError(f"--top {args.top}: must be >= 1")
    results = _load_nonempty(args)
    best = results.best_outcomes(args.top)
    if args.json:
        rows = [_json_ready(o.to_json()) for o in best]
        for row in rows:
            row.pop("traceback", None)
        print(json.dumps({"study": results.name, "best": rows}, indent=2))
        return 0
    for rank, o in enumerate(best, 1):
        print(f"#{rank} {best_line(o)}  [{o.brief()}]")
    return 0


def _json_ready(doc: dict[str, Any]) -> dict[str, Any]:
    """NaN and infinities as null: JSON has no such numbers."""
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        return v
    return {k: clean(v) for k, v in doc.items()}


def add_trials_arguments(p: argparse.ArgumentParser) -> None:
    add_study_args(p)
    p.add_argument("--csv", default=None, help="write the table to this CSV file")


def cmd_trials(args: argparse.Namespace) -> int:
    results = load(args.study, args.studies_dir, args.storage)
    df = results.trials
    if df.empty:
        raise StudyError(f"study {args.study!r} has no trials yet")
    if args.csv:
        from mlp.atomic import write_with

        _check_not_a_study_file(Path(args.csv), results)
        write_with(args.csv, lambda f: df.to_csv(f, index=False), mode="w")
        print(f"{len(df)} trials -> {args.csv}")
        return 0
    shown = df.drop(columns=["datetime_start", "datetime_complete", "experiment_dir"])
    import pandas as pd

    with pd.option_context("display.max_rows", None, "display.width", 200,
                           "display.max_columns", None, "display.float_format", "{:.4g}".format):
        print(shown.to_string(index=False))
    return 0


def _check_not_a_study_file(target: Path, results: StudyResults) -> None:
    """An export never lands on a study's own files (its journal, a database, trial files)."""
    resolved = target.resolve()
    if resolved.is_relative_to(results.paths.root.resolve()):
        raise UsageError(f"--csv {target}: inside the study folder {results.paths.root}; "
                         "write the table elsewhere")
    if resolved.is_file():
        with open(resolved, "rb") as f:
            head = f.read(64)
        if head.startswith(b"SQLite format 3") or b'"op_code"' in head:
            raise UsageError(f"--csv {target}: holds a study's storage; refusing to overwrite it")


def add_studies_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--studies-dir", default=DEFAULT_STUDIES_DIR,
                   help="folder of studies (studies)")


def cmd_studies(args: argparse.Namespace) -> int:
    found = list_studies(args.studies_dir)
    if not found:
        raise StudyError(f"no studies in {args.studies_dir}")
    for r in found:
        if isinstance(r, BrokenStudy):
            print(f"{r.name}: unreadable ({r.problem})")
            continue
        c = r.counts
        best = r.best_outcomes(1)
        best_text = (f"best val {best[0].value:.2%} (trial {best[0].number})" if best
                     else "no completed trial")
        print(f"{r.name}: {c.finished} finished ({c.complete} completed, {c.pruned} pruned, "
              f"{c.failed} failed, {c.running} running); {best_text}")
    return 0


COMMANDS = (
    Command("best", "the best trial(s) of a study", add_best_arguments, cmd_best),
    Command("trials", "the table of all trials of a study", add_trials_arguments, cmd_trials),
    Command("studies", "the studies in a folder", add_studies_arguments, cmd_studies),
)

"""``sweep studies``: the studies in a folder, with their counts and best values."""

from __future__ import annotations

import argparse
import io
import json
from typing import Any

from ..errors import StudyError
from ..options import add_arguments as add_options
from ..study.paths import StudyLocation
from ..study.results import BrokenStudy, StudyResults, list_studies
from ..text import percent
from .common import location
from .output import add_output_args, emit, json_ready

DESCRIPTION = "The studies in a folder, with their counts and best values; broken ones with " \
    "what is wrong."


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_options(p, StudyLocation, only=("studies_dir",))
    add_output_args(p)


def study_row(r: StudyResults | BrokenStudy) -> dict[str, Any]:
    if isinstance(r, BrokenStudy):
        return {"name": r.name, "problem": r.problem}
    c = r.counts
    best = r.best_outcomes(1)
    return {"name": r.name, "finished": c.finished, "completed": c.complete,
            "pruned": c.pruned, "failed": c.failed, "retried": c.retried,
            "running": c.running,
            "best_value": best[0].value if best else None,
            "best_trial": best[0].number if best else None, "problem": None}


def _study_line(row: dict[str, Any]) -> str:
    if row["problem"]:
        return f"{row['name']}: unreadable ({row['problem']})"
    best = (f"best val {percent(row['best_value'])} (trial {row['best_trial']})"
            if row["best_trial"] is not None else "no completed trial")
    return (f"{row['name']}: {row['finished']} finished ({row['completed']} completed, "
            f"{row['pruned']} pruned, {row['failed']} failed, {row['running']} running"
            f"{'; ' + str(row['retried']) + ' lost and retried' if row['retried'] else ''}); "
            f"{best}")


def run(args: argparse.Namespace) -> int:
    folder = location(args).studies_dir
    rows = [study_row(r) for r in list_studies(folder)]
    if not rows:
        raise StudyError(f"no studies in {folder}")

    def render(fmt: str) -> str:
        if fmt == "json":
            return json.dumps({"studies": json_ready(rows)}, indent=2)
        if fmt == "csv":
            import pandas as pd

            buf = io.StringIO()
            pd.DataFrame(rows).to_csv(buf, index=False)
            return buf.getvalue()
        return "\n".join(_study_line(row) for row in rows)

    return emit(args, render)

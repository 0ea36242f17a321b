"""``sweep studies``: the studies in a folder or a database, with their counts and best values."""

from __future__ import annotations

import argparse
import io
import json
from typing import Any

from ..errors import StudyError
from ..options import add_arguments as add_options
from ..study.paths import StudyLocation
from ..study.records import cell
from ..study.results import BrokenStudy, StudyResults, list_studies
from ..text import Column, table
from .common import location
from .output import add_output_args, emit, json_ready, screen_width, table_text

DESCRIPTION = (
    "The studies in a folder (--studies-dir), or with --storage URL every study in that "
    "database, each with its trials by state (waiting: not started yet, such as the retry "
    "of a lost trial, which the next run starts first), its best value (validation accuracy) and "
    "the number of the trial that has it; a study that cannot be read is listed with what "
    "is wrong.")
# one study's row: its name, trials by state (the names of the states), its best trial
COLUMNS = ("name", "finished", "complete", "pruned", "fail", "retried", "running",
           "waiting", "best_value", "best_number", "problem")
_SCREEN = [Column("name", right=False, keep=100, cut=12), Column("finished", keep=60),
           Column("complete", keep=50), Column("pruned", keep=40), Column("fail", keep=45),
           Column("retried", keep=30),
           Column("running", keep=55), Column("waiting", keep=35),
           Column("best_value", keep=90),
           Column("best_number", keep=80), Column("problem", right=False, keep=70, cut=16)]


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_options(p, StudyLocation, only=("studies_dir", "storage"))
    add_output_args(p)


def study_row(r: StudyResults | BrokenStudy) -> dict[str, Any]:
    if isinstance(r, BrokenStudy):
        return {**dict.fromkeys(COLUMNS), "name": r.name, "problem": r.problem}
    c = r.counts
    best = r.best_outcomes(1)
    return {"name": r.name, "finished": c.finished, "complete": c.complete,
            "pruned": c.pruned, "fail": c.failed, "retried": c.retried, "running": c.running,
            "waiting": c.waiting, "best_value": best[0].value if best else None,
            "best_number": best[0].number if best else None, "problem": None}


def _cells(row: dict[str, Any]) -> list[str]:
    out = []
    for name in COLUMNS:
        v = row[name]
        if name == "best_value":
            out.append(cell("value", v))
        elif name == "problem" or name == "name":
            out.append(v or "")
        else:
            out.append("–" if v is None else str(v))
    return out


def run(args: argparse.Namespace) -> int:
    where = location(args)
    folder = where.studies_dir
    rows = [study_row(r) for r in list_studies(folder, where.storage)]
    if not rows:
        raise StudyError(f"no studies in {'the database' if where.storage else folder}")

    def render(fmt: str) -> str:
        if fmt == "json":
            return json.dumps({"studies": json_ready(rows)}, indent=2)
        if fmt == "csv":
            import pandas as pd

            buf = io.StringIO()
            df = pd.DataFrame(rows, columns=list(COLUMNS))
            # a study with a problem has none: still integers
            for name in ("finished", "complete", "pruned", "fail", "retried", "running",
                         "waiting", "best_number"):
                df[name] = pd.array(df[name], dtype="Int64")
            df.to_csv(buf, index=False)
            return buf.getvalue()
        width = screen_width(args)
        screen = list(_SCREEN)
        cells = [_cells(r) for r in rows]
        if not any(r["problem"] for r in rows):  # an empty column says nothing
            screen, cells = screen[:-1], [c[:-1] for c in cells]
        return table_text(table(screen, cells, width), width)

    return emit(args, render)

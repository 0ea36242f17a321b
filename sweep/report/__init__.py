"""The study report: ``studies/<study>/report/`` with index.html, report.md and figures.

    from sweep import load
    from sweep.report import write_report
    write_report(load("mnist-mlp"))        # -> studies/mnist-mlp/report/index.html

Built from the storage and the trial directories only (nothing is re-trained), so
it can be regenerated at any time, also while the study runs. The pieces are
usable on their own, e.g. in a notebook::

    from sweep.report import analyse, figures, prepare
    data = prepare(load("mnist-mlp"))
    figures.setting_effects(data, analyse(data))   # a matplotlib Figure

The modules, one job each: `analysis` (the study as numbers), `effects` (which
settings matter and which values are best, from sweep/statistics), `figures`, `views`
and `best` (the drawings), `findings` (words, warnings, tables), `seeds`
(the seed-noise section: what ``sweep confirm`` found, in tables, words and a figure),
`document` (the layout), `markdown` (the document as Markdown) and `html` (that
Markdown rendered once more, as a page). They are imported on first use, so that registering the
command does not load matplotlib for every other command.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StudyError

if TYPE_CHECKING:
    from ..study.results import StudyResults
    from .document import Document

__all__ = ["Analysis", "Document", "StudyData", "analyse", "best", "build", "effects",
           "figures", "findings", "interaction_pairs", "prepare", "seeds", "style",
           "write_report"]

_LAZY = {"Document": "document", "build": "document", "Analysis": "effects",
         "analyse": "effects", "StudyData": "analysis", "prepare": "analysis",
         "interaction_pairs": "analysis"}
_MODULES = {"analysis", "best", "document", "effects", "figures", "findings", "html",
            "markdown", "seeds", "style"}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def write_report(results: StudyResults, out_dir: str | Path | None = None, *,
                 vector: bool = False) -> Path:
    """Write the report of a study (into ``results.paths.report`` by default); returns the
    path of its index.html. Every file is written atomically. Figures are PNG, and SVG
    too with ``vector``."""
    from mlp.atomic import write_text

    from . import html, markdown
    from .document import build
    from .findings import SPACE_FILE

    out = Path(out_dir) if out_dir is not None else results.paths.report
    if (out.exists() or out.is_symlink()) and not out.is_dir():
        raise StudyError(f"{out} is not a folder: move it away and write the report again")
    out.mkdir(parents=True, exist_ok=True)
    with writing_pages(out):
        doc = build(results, out, vector=vector)
        text = markdown.render(doc)
        write_text(out / SPACE_FILE, results.settings.space.to_toml())  # for advised commands
        write_text(out / "report.md", text)
        index = write_text(out / "index.html", html.render(doc, text))
        _remove_stale_figures(out, doc)
    return index


@contextmanager
def writing_pages(out: Path) -> Iterator[None]:
    """Hold a lock on the report folder, shared, while writing into it. A writer that finds
    no other (the lock free to hold alone) first removes the temporary files a killed
    writer left (``.NAME.XXXXXXXX.tmp``, mlp/atomic.py): with nobody writing, none of
    them is on its way in. Concurrent writers share the lock and clean nothing."""
    import fcntl

    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)  # the folder itself: no file to leave
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # another report is being written: its files are not leftovers
        else:
            for leftover in [*out.glob(".*.tmp"), *out.glob("*/.*.tmp")]:
                leftover.unlink(missing_ok=True)
        fcntl.flock(fd, fcntl.LOCK_SH)  # from exclusive: at once; else waits out a cleaning
        yield
    finally:
        os.close(fd)


def _remove_stale_figures(out: Path, doc: Document) -> None:
    """Figures an earlier report drew but this one has not (e.g. examples now skipped)."""
    from .document import FIGURES_DIR, FigureRef

    drawn = {Path(b.png).stem for s in doc.sections for b in s.blocks
             if isinstance(b, FigureRef)}
    for path in (out / FIGURES_DIR).glob("*"):
        # dot files are another writer's figures on their way in (a concurrent report)
        if path.suffix in (".png", ".svg") and path.stem not in drawn \
                and not path.name.startswith("."):
            path.unlink(missing_ok=True)

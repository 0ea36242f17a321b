"""One look for every report figure: palette, markers, legend entries, and saving.

Trials are told apart the same way in every figure: by outcome (Optuna's state, and
for a pruned trial whether it diverged) through colour and marker, the best trial by
a green ring and the classic configuration's trial by a star. `LOOKS` is the one
mapping from outcome to colour, marker and words, for legends and text alike.
Accuracy axes are fractions drawn as percent (`percent_axis`), zoomed on the completed
trials (`analysis.acc_limits`); a trial below the axis, or one without an accuracy
(failed, diverged), is drawn on the axis floor (`FLOOR`), the former as a filled
downward triangle (`BELOW_MARKER`) in its outcome's colour.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from mlp import plots as P


@dataclass(frozen=True)
class Look:
    """How the trials of one outcome are drawn and named: Optuna's ``state`` and, for a
    pruned trial, its ``diverged`` flag (None: either)."""

    state: str
    diverged: bool | None
    word: str  # the outcome in text and legends: "pruned", "3 diverged"
    color: str
    marker: str
    filled: bool = True
    note: str = ""  # in the scatter legends: where these trials are drawn

    @property
    def label(self) -> str:
        return f"{self.word} ({self.note})" if self.note else self.word

    def of(self, df: pd.DataFrame) -> pd.Series:
        """Which rows of a trials table have this outcome."""
        mask = df["state"] == self.state
        if self.diverged is not None:
            mask &= df["diverged"].astype(bool) == self.diverged
        return mask


COMPLETED = Look("COMPLETE", None, "completed", "#0173B2", "o")
PRUNED = Look("PRUNED", False, "pruned", "#949494", "v", filled=False,
              note="no final accuracy: on the floor")
DIVERGED = Look("PRUNED", True, "diverged", "#D55E00", "X", note="on the floor")
FAILED = Look("FAIL", None, "failed", "#222222", "x", note="on the floor")
RUNNING = Look("RUNNING", None, "running", "#56B4E9", ".")
LOOKS = (COMPLETED, PRUNED, DIVERGED, FAILED, RUNNING)  # legend order


def look(state: str, diverged: bool = False) -> Look:
    """The look of a trial with this state and diverged flag."""
    return next((lk for lk in LOOKS if lk.state == state
                 and lk.diverged in (None, bool(diverged))), RUNNING)


def outcome(row: pd.Series) -> str:
    """A trial's outcome in words, e.g. ``diverged``."""
    return look(row["state"], row["diverged"]).word


BELOW_MARKER = "v"  # filled, on the floor: below the axis (pruned ones are hollow)
FLOOR = 0.025  # height of the floor row, in axes coordinates
BEST_COLOR = "#029E73"
CLASSIC_COLOR = "#CC78BC"
TREND_COLOR = "#0173B2"
NEGATIVE_COLOR = "#DE8F05"
SECOND_COLOR = "#56B4E9"
CMAP = "viridis"
THIN_ALPHA = 0.35  # bins and cells with fewer trials than the report reads anything from
ACC_LABEL = "Validation accuracy (%)"

FONT_SCALE = 0.85  # a report page shows several figures side by side
SVG_TEXT = {"svg.fonttype": "none"}  # text in the SVGs stays text: searchable, smaller


def style() -> AbstractContextManager[None]:
    """The project's look (`mlp.plots.style`) at the report's scale, around the drawing."""
    return P.style(FONT_SCALE, SVG_TEXT)


def new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: Figure, folder: str | os.PathLike, name: str, vector: bool = False
                ) -> tuple[Path, Path | None]:
    """Write ``name.png`` (for the page) atomically, and ``name.svg`` when ``vector``
    (drawing a figure twice is most of a report's time); returns both paths."""
    folder = Path(folder)
    _freeze_layout(fig)
    png = P.save(fig, folder / f"{name}.png", close=not vector)
    svg = P.save(fig, folder / f"{name}.svg", close=True) if vector else None
    return png, svg


def _freeze_layout(fig: Figure) -> None:
    """Lay the figure out once, then keep that layout: saving with a tight bounding box
    draws a figure twice, and the constrained layout, redone on every draw, was most of
    a report's time."""
    engine = fig.get_layout_engine()
    if engine is None:
        return
    engine.execute(fig)
    try:
        fig.set_layout_engine("none")
    except RuntimeError:  # an engine whose colorbars the placeholder cannot take over
        pass


def mark_best(ax: Axes, x, y, size: float = 170, **kw) -> None:
    ax.scatter([x], [y], s=size, facecolors="none", edgecolors=BEST_COLOR, linewidths=2.2,
               zorder=6, **kw)


def mark_classic(ax: Axes, x, y, size: float = 190, **kw) -> None:
    ax.scatter([x], [y], s=size, marker="*", color=CLASSIC_COLOR, edgecolors="black",
               linewidths=0.8, zorder=7, **kw)


def percent_axis(axis) -> None:
    """Label an axis of fractions (``ax.yaxis``, a colour bar's axis) in percent."""
    axis.set_major_formatter(PercentFormatter(xmax=1))


def on_floor(ax: Axes, x, lk: Look, size: float = 34) -> None:
    """Trials whose accuracy is below the axis: filled triangles on its floor."""
    x = list(x)
    ax.scatter(x, [FLOOR] * len(x), s=size * 1.3, marker=BELOW_MARKER, color=lk.color,
               edgecolors="black", linewidths=0.6, transform=ax.get_xaxis_transform(),
               zorder=4, clip_on=False)


SELECTED = "selected trial"  # which one, and why, the caption says


def handles(looks: Iterable[Look], best: bool | str = False, classic: bool = False,
            extra: Iterable[Line2D] = ()) -> list[Line2D]:
    """Legend entries for the outcomes present, the best trial (``best``: its label, or
    True for "best trial") and the classic trial."""
    out = []
    for lk in LOOKS:
        if lk in looks:
            out.append(Line2D([], [], linestyle="none", marker=lk.marker, markersize=7,
                              color=lk.color, markerfacecolor=lk.color if lk.filled
                              else "none", label=lk.label))
    if best:
        out.append(Line2D([], [], linestyle="none", marker="o", markersize=11,
                          markerfacecolor="none", markeredgecolor=BEST_COLOR,
                          markeredgewidth=2,
                          label=best if isinstance(best, str) else SELECTED))
    if classic:
        out.append(Line2D([], [], linestyle="none", marker="*", markersize=13,
                          color=CLASSIC_COLOR, markeredgecolor="black",
                          label="classic configuration"))
    out.extend(extra)
    return out


def line_handle(label: str, color: str, **kw) -> Line2D:
    return Line2D([], [], color=color, label=label, **kw)


def below_handle(counts: dict[Look, int], lower: float | None = None) -> list[Line2D]:
    """The legend entry of the trials drawn on the axis floor because their accuracy is
    below ``lower`` (a fraction), with how many of each outcome; none when there are none."""
    counts = {lk: n for lk, n in counts.items() if n}
    if not counts:
        return []
    what = ", ".join(f"{n} {lk.word}{' early' if lk is PRUNED else ''}"
                     for lk, n in sorted(counts.items(), key=lambda kv: LOOKS.index(kv[0])))
    where = f"{lower * 100:.3g}%" if lower is not None else "the axis"
    color = PRUNED.color if set(counts) == {PRUNED} else "0.35"
    return [Line2D([], [], linestyle="none", marker=BELOW_MARKER, markersize=8, color=color,
                   markeredgecolor="black", markeredgewidth=0.6,
                   label=f"below {where} ({what})")]

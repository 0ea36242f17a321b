"""One look for every report figure: palette, markers, legend entries, and saving.

Trials are told apart the same way in every figure: by kind (completed, pruned,
diverged, failed, running) through colour and marker, the best trial by a green
ring and the classic configuration's trial by a star. Accuracy axes are zoomed on
the completed trials (`analysis.acc_limits`); a trial below the axis, or one without
an accuracy (failed, diverged), is drawn on the axis floor (`FLOOR`), the former as a
filled downward triangle (`BELOW_MARKER`) in its kind's colour.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from mlp import plots as P

KINDS = ("completed", "pruned", "diverged", "failed", "running")
COLORS = {"completed": "#0173B2", "pruned": "#949494", "diverged": "#D55E00",
          "failed": "#222222", "running": "#56B4E9"}
MARKERS = {"completed": "o", "pruned": "v", "diverged": "X", "failed": "x", "running": "."}
LABELS = {"completed": "completed", "pruned": "pruned (accuracy when stopped)",
          "diverged": "diverged", "failed": "failed", "running": "running"}
BELOW_MARKER = "v"  # filled, on the floor: below the axis (pruned ones are hollow)
FLOOR = 0.025  # height of the floor row, in axes coordinates
BEST_COLOR = "#029E73"
CLASSIC_COLOR = "#CC78BC"
TREND_COLOR = "#0173B2"
NEGATIVE_COLOR = "#DE8F05"
SECOND_COLOR = "#56B4E9"
CMAP = "viridis"
ACC_LABEL = "Validation accuracy (%)"

FONT_SCALE = 0.85  # a report page shows several figures side by side
SVG_TEXT = {"svg.fonttype": "none"}  # text in the SVGs stays text: searchable, smaller


def style() -> AbstractContextManager[None]:
    """The project's look (`mlp.plots.style`) at the report's scale, around the drawing."""
    return P.style(FONT_SCALE, SVG_TEXT)


def new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: Figure, folder: str | os.PathLike, name: str) -> tuple[Path, Path]:
    """Write ``name.png`` (for the page) and ``name.svg`` atomically; returns both paths."""
    folder = Path(folder)
    png = P.save(fig, folder / f"{name}.png", close=False)
    svg = P.save(fig, folder / f"{name}.svg", close=True)
    return png, svg


def mark_best(ax: Axes, x, y, size: float = 170, **kw) -> None:
    ax.scatter([x], [y], s=size, facecolors="none", edgecolors=BEST_COLOR, linewidths=2.2,
               zorder=6, **kw)


def mark_classic(ax: Axes, x, y, size: float = 190, **kw) -> None:
    ax.scatter([x], [y], s=size, marker="*", color=CLASSIC_COLOR, edgecolors="black",
               linewidths=0.8, zorder=7, **kw)


def on_floor(ax: Axes, x, kind: str, size: float = 34) -> None:
    """Trials whose accuracy is below the axis: filled triangles on its floor."""
    x = list(x)
    ax.scatter(x, [FLOOR] * len(x), s=size * 1.3, marker=BELOW_MARKER, color=COLORS[kind],
               edgecolors="black", linewidths=0.6, transform=ax.get_xaxis_transform(),
               zorder=4, clip_on=False)


def handles(kinds: Iterable[str], best: bool = False, classic: bool = False,
            extra: Iterable[Line2D] = ()) -> list[Line2D]:
    """Legend entries for the trial kinds present, the best and the classic trial."""
    out = []
    for kind in KINDS:
        if kind in kinds:
            filled = kind != "pruned"
            out.append(Line2D([], [], linestyle="none", marker=MARKERS[kind], markersize=7,
                              color=COLORS[kind], markerfacecolor=COLORS[kind] if filled
                              else "none", label=LABELS[kind]))
    if best:
        out.append(Line2D([], [], linestyle="none", marker="o", markersize=11,
                          markerfacecolor="none", markeredgecolor=BEST_COLOR,
                          markeredgewidth=2, label="best trial"))
    if classic:
        out.append(Line2D([], [], linestyle="none", marker="*", markersize=13,
                          color=CLASSIC_COLOR, markeredgecolor="black",
                          label="classic configuration"))
    out.extend(extra)
    return out


def line_handle(label: str, color: str, **kw) -> Line2D:
    return Line2D([], [], color=color, label=label, **kw)


def below_handle(counts: dict[str, int], lower: float | None = None) -> list[Line2D]:
    """The legend entry of the trials drawn on the axis floor because their accuracy is
    below ``lower``, with how many of each kind; none when there are none."""
    counts = {k: n for k, n in counts.items() if n}
    if not counts:
        return []
    what = ", ".join(f"{n} {'pruned early' if k == 'pruned' else k}"
                     for k, n in sorted(counts.items(), key=lambda kv: KINDS.index(kv[0])))
    where = f"{lower:.3g}%" if lower is not None else "the axis"
    color = COLORS["pruned"] if set(counts) == {"pruned"} else "0.35"
    return [Line2D([], [], linestyle="none", marker=BELOW_MARKER, markersize=8, color=color,
                   markeredgecolor="black", markeredgewidth=0.6,
                   label=f"below {where} ({what})")]

"""The report's study figures. Each function returns a `Figure` (or None when the
study has nothing to draw yet); `style.save_figure` writes it as PNG and SVG, and a
notebook shows it inline.

Every figure tells trial outcomes apart the same way (`style.LOOKS`), marks the
best trial with a green ring and the classic configuration's trial with a star.
Accuracies are fractions; the axes show them in percent.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from ..statistics.effects import ALPHA
from ..study.param import Bins, Param
from ..text import short
from . import style as S
from .analysis import (
    MIN_SUPPORT,
    StudyData,
    acc_limits,
    completed,
    finished,
    interaction_grid,
    pareto_front,
    ranked,
    robust_range,
    trial_acc_limits,
)
from .effects import Analysis, importance_table

TOP_LABELLED = 5  # the best trials whose numbers are written next to them

# ------------------------------------------------------------------ helpers

def _plot_trials(ax: Axes, df: pd.DataFrame, x: pd.Series, ylim: tuple[float, float], *,
                 size: float = 34) -> tuple[set[S.Look], dict[S.Look, int]]:
    """Set the accuracy axis to ``ylim`` and draw completed trials at their accuracy (the
    best of all their epochs); those below the axis, and the pruned, failed and diverged
    ones (no such accuracy: a pruned trial's value when stopped is from an earlier epoch,
    not comparable) on its floor; best ring and classic star. Returns the outcomes drawn
    and how many completed trials are below the axis."""
    ax.set_ylim(*ylim)
    drawn: set[S.Look] = set()
    below: dict[S.Look, int] = {}
    y = df["value"].where(df["state"] == "COMPLETE")
    low = y < ylim[0]
    m = S.COMPLETED.of(df) & y.notna() & x.notna()
    if (m & low).any():
        below[S.COMPLETED] = int((m & low).sum())
        S.on_floor(ax, x[m & low], S.COMPLETED, size)
    m &= ~low
    if m.any():
        drawn.add(S.COMPLETED)
        sns.scatterplot(x=x[m].to_numpy(), y=y[m].to_numpy(), ax=ax, s=size,
                        color=S.COMPLETED.color, marker=S.COMPLETED.marker, alpha=0.85,
                        edgecolor="white", linewidth=0.5, zorder=3, legend=False)
    for lk in (S.PRUNED, S.DIVERGED, S.FAILED):  # no final accuracy: on the floor
        m = lk.of(df) & x.notna()
        if not m.any():
            continue
        drawn.add(lk)
        kw = ({"facecolors": "none", "edgecolors": lk.color} if not lk.filled
              else {"color": lk.color})
        ax.scatter(x[m], np.full(int(m.sum()), S.FLOOR), s=size * 1.1, marker=lk.marker,
                   transform=ax.get_xaxis_transform(), zorder=4, clip_on=False,
                   linewidths=1.3, **kw)
    _mark_best_and_classic(ax, df, x, y, low)
    return drawn, below


def _mark_best_and_classic(ax: Axes, df: pd.DataFrame, x: pd.Series, y: pd.Series,
                           low: pd.Series) -> None:
    """The best trial's ring and the classic trial's star, on the floor when their trial
    is below the axis or has no accuracy."""
    for rows, mark in ((df[df["is_best"]], S.mark_best), (df[df["classic"]], S.mark_classic)):
        for i, row in rows.iterrows():
            if pd.isna(x.get(i)):
                continue
            if pd.notna(y.get(i)) and not low.get(i, False):
                mark(ax, x[i], y[i])
            elif row["state"] != "RUNNING":
                mark(ax, x[i], S.FLOOR, transform=ax.get_xaxis_transform(), clip_on=False)


def _merge(total: dict[S.Look, int], more: dict[S.Look, int]) -> None:
    """Counts below the axis over panels that draw the same trials: the most per outcome."""
    for lk, n in more.items():
        total[lk] = max(total.get(lk, 0), n)


def _flags(data: StudyData, leaders: bool = False) -> pd.DataFrame:
    """The trials table with ``is_best``: the best trial, or with ``leaders`` the trials
    the report treats as the best (the best set over seeds, when confirmed)."""
    df = data.trials.copy()
    if leaders:
        df["is_best"] = df["number"].isin(data.leaders["number"])
        return df
    best = data.best
    df["is_best"] = df["number"] == (best["number"] if best is not None else -1)
    return df


def count_label(v: float) -> str:
    """1500 -> 1.5k, 2000000 -> 2M: parameter counts on an axis."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{v / scale:g}{suffix}"
    return f"{v:g}"


def log_axis(ax: Axes, lo: float, hi: float, axis: str = "x", label=short) -> None:
    """A log axis labelled in plain numbers: 1, 2, 5 steps over up to two decades,
    whole decades beyond."""
    from matplotlib.ticker import LogLocator, NullFormatter

    target = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 1.0
    subs = (1.0, 2.0, 5.0) if decades <= 2.2 else (1.0,)
    target.set_major_locator(LogLocator(base=10, subs=subs))
    target.set_major_formatter(FuncFormatter(lambda v, _: label(v)))
    target.set_minor_formatter(NullFormatter())


def _legend(fig: Figure, handles, ncol: int | None = None) -> None:
    if handles:
        fig.legend(handles=handles, loc="outside lower center",
                   ncol=ncol or min(len(handles), 4), frameon=False)


# ------------------------------------------------------------------ 1. history

def optimisation_history(data: StudyData) -> Figure | None:
    """Validation accuracy per trial in the order they were run, best so far as a line;
    a second panel zooms on the better half when the completed trials spread widely."""
    df = _flags(data)
    n_finished = len(finished(df))
    if not n_finished:
        return None
    done = data.completed.sort_values("number")
    spread = robust_range(done["value"])  # a lone outlier is on the floor, not a reason to zoom
    wide = len(done) >= 4 and spread is not None and spread[1] - spread[0] > 0.10
    limits = [trial_acc_limits(df, data.max_epochs)]
    if wide:
        limits.append(acc_limits(done["value"][done["value"] >= done["value"].median()]))
    looks: set[S.Look] = set()
    below: dict[S.Look, int] = {}
    with S.style():
        fig = S.new_figure(12 if wide else 8, 4.6)
        axes = fig.subplots(1, len(limits), squeeze=False).ravel()
        for k, (ax, ylim) in enumerate(zip(axes, limits, strict=True)):
            drawn, low = _plot_trials(ax, df, df["number"].astype(float), ylim)
            looks |= drawn
            if k == 0:  # in the legend; the zoom leaves the worse half on its floor
                below = low
            if len(done):
                best_so_far = done["value"].cummax()
                xs = np.append(done["number"].to_numpy(), df["number"].max())
                ys = np.append(best_so_far.to_numpy(), best_so_far.iloc[-1])
                sns.lineplot(x=xs, y=ys, ax=ax, drawstyle="steps-post", color=S.BEST_COLOR,
                             linewidth=1.8, zorder=5, label=None, legend=False)
            for _, top in ranked(done).head(TOP_LABELLED).iterrows():
                if ylim[0] <= top["value"] <= ylim[1]:
                    ax.annotate(str(int(top["number"])), (top["number"], top["value"]),
                                xytext=(4, 4), textcoords="offset points", fontsize=7.5,
                                color=S.BEST_COLOR, zorder=7)
            ax.set_xlim(df["number"].min() - 0.8, df["number"].max() + 0.8)
            ax.set_xlabel("Trial number (order of start)")
            ax.set_ylabel(S.ACC_LABEL)
            S.percent_axis(ax.yaxis)
            if wide:
                ax.set_title("All trials" if k == 0
                             else "Zoom: the better half of the completed trials\n"
                             "(the rest on the floor)")
        extra = [S.line_handle("best so far", S.BEST_COLOR, linewidth=1.8)] if len(done) else []
        extra += S.below_handle(below, limits[0][0])
        _legend(fig, S.handles(looks, best=bool(df["is_best"].any()),
                               classic=bool(df["classic"].any()), extra=extra),
                ncol=4 if wide else 3)
        fig.suptitle(f"Optimisation history: validation accuracy per trial "
                     f"({len(done)} completed of {n_finished} finished)")
    return fig


# ------------------------------------------------------------------ 2. effects

def setting_effects(data: StudyData, analysis: Analysis) -> Figure | None:
    """One panel per setting: the trials the analysis uses, at their validation accuracy,
    coloured by the other setting most associated with this one among them (a possible
    confounder); with enough trials, the setting's partial dependence (the others averaged
    out) and its simultaneous 95% band."""
    source = analysis.source
    params = [p for p in source.params if p.varies]
    done = completed(source.trials)
    if not params or done.empty:
        return None
    rank = {n: i for i, n in enumerate(analysis.ranking())}
    params.sort(key=lambda p: rank.get(p.name, 99))
    used = done[~done["number"].isin(analysis.unconverged)]
    late = done[done["number"].isin(analysis.unconverged)]
    band = [v for e in analysis.effects.effects if analysis.tested
            for v in (*e.band_low, *e.band_high)]
    ylim = acc_limits(done["value"], band)
    ncols = min(3, len(params))
    nrows = math.ceil(len(params) / ncols)
    with S.style():
        fig = S.new_figure(4.4 * ncols, 3.7 * nrows + 1.0)
        axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True).ravel()
        for ax, param in zip(axes, params, strict=False):
            _effect_panel(ax, param, analysis, used, late, ylim)
        for ax in axes[len(params):]:
            ax.set_axis_off()
        for ax in axes[::ncols]:
            ax.set_ylabel(S.ACC_LABEL)
        handles = [S.line_handle("trial (colour: the setting named under the panel, "
                                 "dark low, yellow high)", "0.35", linestyle="none",
                                 marker="o"),
                   S.line_handle("trial below the axis", "0.35", linestyle="none",
                                 marker="v")]
        if len(late):
            handles.append(S.line_handle("still improving at its last epoch: left out",
                                         "0.35", linestyle="none", marker="o",
                                         markerfacecolor="none"))
        if analysis.tested:
            handles += [S.line_handle("partial dependence (others averaged out)",
                                      S.TREND_COLOR, linewidth=2),
                        Patch(color=S.TREND_COLOR, alpha=0.18,
                              label="simultaneous 95% band")]
        _legend(fig, handles, ncol=2)
        fig.suptitle(f"Effect of each setting on validation accuracy ({analysis.n} trials"
                     + ("" if analysis.tested else "; too few for a curve or a test") + ")")
    return fig


def _effect_panel(ax: Axes, s: Param, analysis: Analysis, used: pd.DataFrame,
                  late: pd.DataFrame, ylim: tuple[float, float]) -> None:
    e = analysis.effect(s.name)
    partner = analysis.source.param(e.partner) if e is not None and e.partner else None
    x = _positions(s, used)
    colour = (partner.scale(used[partner.column]) if partner is not None
              else np.zeros(len(used)))
    low = (used["value"] < ylim[0]).to_numpy()
    norm = Normalize(np.nanmin(colour), np.nanmax(colour)) if len(used) else None
    for part, y, kw in ((~low, used["value"].to_numpy(), {"marker": "o"}),
                        (low, np.full(len(used), S.FLOOR),  # below the axis: on its floor
                         {"marker": "v", "transform": ax.get_xaxis_transform(),
                          "clip_on": False})):
        if part.any():
            ax.scatter(x[part], y[part], c=colour[part], cmap=S.CMAP, norm=norm, s=30,
                       alpha=0.9, edgecolors="white", linewidths=0.5, zorder=3, **kw)
    late = late[late["value"] >= ylim[0]]
    if len(late):
        ax.scatter(_positions(s, late), late["value"], s=30, facecolors="none",
                   edgecolors="0.45", linewidths=1, zorder=3)
    if e is not None and analysis.tested and len(e.grid):
        gx = e.grid if s.categorical else s.unscale(e.grid)
        ax.fill_between(gx, np.clip(e.band_low, *ylim), np.clip(e.band_high, *ylim),
                        color=S.TREND_COLOR, alpha=0.18, linewidth=0, zorder=1)
        ax.plot(gx, e.pd, color=S.TREND_COLOR, linewidth=2, zorder=4)
    _setting_axis(ax, s)
    ax.set_ylim(*ylim)
    S.percent_axis(ax.yaxis)
    ax.set_xlabel(s.label + (f"\ncolour: {partner.name} (association "
                             f"{e.partner_association:.2f})" if partner is not None else ""))
    ax.set_title(_verdict_title(s.name, e))


def _positions(s: Param, df: pd.DataFrame) -> np.ndarray:
    if s.categorical:
        jitter = ((df["number"] * 0.6180339887) % 1.0 - 0.5) * 0.25
        return s.scale(df[s.column]) + jitter.to_numpy()
    return pd.to_numeric(df[s.column], errors="coerce").to_numpy()


def _setting_axis(ax: Axes, s: Param) -> None:
    if s.categorical:
        ax.set_xticks(range(len(s.choices)), [str(c) for c in s.choices])
        ax.set_xlim(-0.5, len(s.choices) - 0.5)
        return
    lo, hi = float(s.low), float(s.high)
    if s.log:
        f = (hi / lo) ** 0.03
        ax.set_xlim(lo / f, hi * f)
        log_axis(ax, lo, hi)
    else:
        pad = (hi - lo) * 0.03
        ax.set_xlim(lo - pad, hi + pad)
        if s.type == "int":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _verdict_title(name: str, e) -> str:
    if e is None:
        return name
    if e.verdict == "effect":
        size, _, _ = e.points
        return f"{name}: effect, {size:.2f} points (adj. p {_p_text(e.p_adjusted)})"
    if e.verdict == "no effect shown" and e.rests_on:
        return (f"{name}: not stated, rests on {e.rests_on} trial"
                f"{'s' if e.rests_on > 1 else ''} (adj. p {_p_text(e.p_adjusted)})")
    if e.verdict == "no effect shown":
        return f"{name}: no effect shown (adj. p {_p_text(e.p_adjusted)})"
    return f"{name}: not tested"


def _p_text(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else "< 0.001"


# ------------------------------------------------------------------ 3. interactions

def interactions(data: StudyData, pairs: list[tuple[Param, Param]]) -> Figure | None:
    """Heatmaps of mean accuracy over bins of two settings, trials per cell annotated."""
    done = data.completed
    if not pairs or len(done) < 2:
        return None
    nb = int(np.clip(round(math.sqrt(len(done)) / 1.5), 3, 5))
    grids = [(a, b, *interaction_grid(a, b, done, nb)) for a, b in pairs]
    vals = np.concatenate([g[2][g[3] >= MIN_SUPPORT].ravel() for g in grids])
    vals = vals[np.isfinite(vals)]
    # the colours span the completed trials as the accuracy axes do (the few cells with
    # enough trials are too few to tell an outlier from the rest): a cell far below them
    # (a bad trial among its three) gets the lowest colour, its number still written in
    vmin, vmax = robust_range(done["value"]) or (0.0, 1.0)
    if vmax - vmin < 0.005:
        vmin, vmax = vmin - 0.005, vmax + 0.005
    colours = {"vmin": vmin, "vmax": vmax,
               "cbar_kws": {"label": "Mean validation accuracy",
                            "format": PercentFormatter(xmax=1)}}
    if (vals < vmin).any():
        colours["cbar_kws"]["extend"] = "min"
    ncols = min(2, len(grids))
    nrows = math.ceil(len(grids) / ncols)
    with S.style():
        fig = S.new_figure(6.2 * ncols, 4.8 * nrows + 0.6)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for k, (ax, grid) in enumerate(zip(axes, grids, strict=False)):
            _heatmap(ax, *grid, cbar=k % ncols == ncols - 1 or k == len(grids) - 1, **colours)
            _mark_cells(ax, data, *grid)
        for ax in axes[len(grids):]:
            ax.set_axis_off()
        extra = [S.line_handle("cell of the selected trial", S.BEST_COLOR, linewidth=2.5)]
        _legend(fig, S.handles((), classic=data.classic is not None, extra=extra), ncol=2)
        fig.suptitle("Interactions: mean validation accuracy (%) by bins of two settings\n"
                     f"({len(done)} completed trials; n per cell; hatched: fewer than "
                     f"{MIN_SUPPORT}, no colour; grey: none)")
    return fig


def _heatmap(ax: Axes, a: Param, b: Param, mean: np.ndarray, count: np.ndarray, ba: Bins,
             bb: Bins, **colours) -> None:
    """One pair's cells: the mean accuracy in percent and the number of trials."""
    held = count >= MIN_SUPPORT
    annot = np.where(held,
                     np.char.add(np.char.add(np.char.mod("%.1f", np.nan_to_num(mean) * 100),
                                             "\nn="), count.astype(str)), "")
    sns.heatmap(mean, ax=ax, cmap=S.CMAP, annot=annot, fmt="", annot_kws={"fontsize": 7.5},
                linewidths=0.6, linecolor="white", xticklabels=list(ba.labels),
                yticklabels=list(bb.labels), mask=~held, **colours)
    from matplotlib.patches import Rectangle

    for r, c in zip(*np.nonzero((count > 0) & ~held), strict=True):  # too few: no colour
        ax.add_patch(Rectangle((c, r), 1, 1, fill=False, hatch="///", edgecolor="0.6",
                               linewidth=0, zorder=2))
        ax.text(c + 0.5, r + 0.5, f"n={count[r, c]}", ha="center", va="center",
                fontsize=7.5, color="0.35")
    ax.set_facecolor("#f2f2f2")
    ax.invert_yaxis()
    ax.grid(False)
    ax.set_xlabel(a.label + (" bins" if not a.categorical else ""))
    ax.set_ylabel(b.label + (" bins" if not b.categorical else ""))
    ax.tick_params(axis="x", rotation=30)
    ax.tick_params(axis="y", rotation=0)
    for lab in ax.get_xticklabels():
        lab.set_horizontalalignment("right")
    ax.set_title(f"{a.name} × {b.name}")


def _mark_cells(ax: Axes, data: StudyData, a: Param, b: Param, mean: np.ndarray,
                count: np.ndarray, ba: Bins, bb: Bins) -> None:
    """Outline the best trial's cell, star the classic trial's."""
    for row, mark in ((data.best, "best"), (data.classic, "classic")):
        if row is None or pd.isna(row.get(a.column)) or pd.isna(row.get(b.column)):
            continue
        c = int(a.bin_of([row[a.column]], ba)[0])
        r = int(b.bin_of([row[b.column]], bb)[0])
        if c < 0 or r < 0:
            continue
        if mark == "best":
            ax.add_patch(_rect(c, r, S.BEST_COLOR))
        else:
            S.mark_classic(ax, c + 0.15, r + 0.8, size=110)


def _rect(c: int, r: int, color: str):
    from matplotlib.patches import Rectangle

    return Rectangle((c + 0.04, r + 0.04), 0.92, 0.92, fill=False, edgecolor=color,
                     linewidth=2.5, zorder=6)


# ------------------------------------------------------------------ 4. importance

def importance_figure(analysis: Analysis) -> Figure | None:
    """The settings' shares of the main-effect variance with their posterior interval, or
    below the minimum their permutation tests (adjusted p) in rank order."""
    imp = analysis.importances
    t = importance_table(analysis)
    t = t[t["setting"].isin([p.name for p in analysis.source.varied])]
    if t.empty or analysis.n < 5:
        return None
    names = list(t["setting"])
    ypos = np.arange(len(names))
    with S.style():
        fig = S.new_figure(7.5, max(2.8, 0.5 * len(names) + 1.9))
        ax = fig.subplots()
        if imp.mode == "shares":
            stated = t["stated"].astype(bool).to_numpy()
            ax.barh(ypos, t["share"], color=[S.TREND_COLOR if v else "0.75" for v in stated],
                    height=0.6)
            ax.hlines(ypos, t["low"], t["high"], color="0.2", linewidth=1.2)
            for edge in ("low", "high"):
                ax.scatter(t[edge], ypos, marker="|", s=50, color="0.2")
            ax.set_xlim(0, 1)
            S.percent_axis(ax.xaxis)
            ax.set_xlabel("Share of the main-effect variance over the search space "
                          f"(whiskers: {imp.level:.0%} posterior interval)")
            ax.legend(handles=[Patch(color=S.TREND_COLOR, label="effect stated"),
                               Patch(color="0.75", label="no effect shown")],
                      loc="lower right", frameon=True)
        else:
            p = t["p_adjusted"].clip(lower=1e-3).to_numpy(dtype=float)
            ax.barh(ypos, -np.log10(p), color=S.TREND_COLOR, height=0.6)
            ax.axvline(-math.log10(ALPHA), color=S.NEGATIVE_COLOR, linestyle="--",
                       label=f"family-wise {ALPHA:.0%}")
            ax.set_xlabel("−log10 of the adjusted p-value of the permutation test "
                          "(right of the line: an effect)")
            ax.legend(loc="lower right", frameon=True)
        ax.set_yticks(ypos, names)
        ax.invert_yaxis()
        ax.set_title(f"Which settings matter ({analysis.n} trials)")
    return fig


# ------------------------------------------------------------------ 5. learning curves

def learning_curves(data: StudyData) -> Figure | None:
    """Validation accuracy per epoch of every trial; pruned ones end early, best in bold."""
    hist = data.histories
    if not hist:
        return None
    df = _flags(data).set_index("number")
    best = data.best
    best_n = int(best["number"]) if best is not None else None
    done = set(data.completed["number"].astype(int))
    ylim = acc_limits(  # zoomed on the completed trials' curves, as the other figures are
        [v for n, h in hist.items() if n in done for v in h["val_acc"]],
        [v for n, h in hist.items() if n not in done for v in h["val_acc"]])
    epochs = max(data.max_epochs, max(int(h["epoch"].max()) for h in hist.values()))
    looks: set[S.Look] = set()
    below: dict[S.Look, int] = {}
    with S.style():
        fig = S.new_figure(9, 5.2)
        ax = fig.subplots()
        ax.set_ylim(*ylim)
        for n, h in sorted(hist.items(), key=lambda kv: (kv[0] == best_n, kv[0])):
            if n not in df.index:
                continue
            lk = S.look(df.at[n, "state"], df.at[n, "diverged"])
            looks.add(lk)
            if _curve(ax, h, lk, ylim, best=n == best_n, classic=bool(df.at[n, "classic"])):
                below[lk] = below.get(lk, 0) + 1
        ax.axvline(epochs, color="0.4", linestyle=":", linewidth=1.2)
        ax.set_xlim(0.7, epochs + 0.3)
        if epochs <= 25:
            ax.set_xticks(range(1, epochs + 1))
        ax.set_xlabel("Epoch")
        ax.set_ylabel(S.ACC_LABEL)
        S.percent_axis(ax.yaxis)
        classic_n = [int(n) for n in df.index[df["classic"]]]
        handles = _curve_handles(looks, best_n, classic_n, hist, epochs)
        ax.legend(handles=handles + S.below_handle(below, ylim[0]), loc="lower right",
                  frameon=True, fontsize=8)
        fig.suptitle(f"Learning curves: validation accuracy per epoch ({len(hist)} trials)")
    return fig


def _curve(ax: Axes, h: pd.DataFrame, lk: S.Look, ylim: tuple[float, float], *,
           best: bool, classic: bool) -> bool:
    """One trial's curve, its last epoch marked when it did not complete; True when it
    ended below the axis (then its marker is on the floor)."""
    e, v = h["epoch"].to_numpy(), h["val_acc"].to_numpy()
    if best:
        sns.lineplot(x=e, y=v, ax=ax, color=S.BEST_COLOR, linewidth=3, zorder=6,
                     marker="o", markersize=5, legend=False)
        if classic and len(e):
            S.mark_classic(ax, e[-1], v[-1], size=150)
        return False
    ax.plot(e, v, color=S.CLASSIC_COLOR if classic else lk.color,
            linewidth=2 if classic else 1.0, alpha=0.95 if classic else 0.45,
            linestyle="--" if lk is S.RUNNING else "-", zorder=5 if classic else 2)
    if not len(e):
        return False
    if v[-1] < ylim[0]:  # ended below the axis: on its floor
        S.on_floor(ax, [e[-1]], lk)
        if classic:
            S.mark_classic(ax, e[-1], S.FLOOR, size=150, transform=ax.get_xaxis_transform(),
                           clip_on=False)
        return True
    if lk is not S.COMPLETED:
        ax.scatter([e[-1]], [v[-1]], marker=lk.marker, s=36, zorder=3, color=lk.color)
    if classic:
        S.mark_classic(ax, e[-1], v[-1], size=150)
    return False


def _curve_handles(looks: set[S.Look], best_n: int | None, classic_n: list[int],
                   hist: dict[int, pd.DataFrame], epochs: int) -> list[Line2D]:
    """The learning curves' legend: outcomes drawn, best and classic trial, budget."""
    out = [S.line_handle(lk.word, lk.color,
                         marker=lk.marker if lk is not S.COMPLETED else None,
                         linestyle="--" if lk is S.RUNNING else "-")
           for lk in S.LOOKS if lk in looks]
    if best_n is not None:
        both = ", the classic configuration" if best_n in classic_n else ""
        out.append(S.line_handle(f"selected trial ({best_n}{both})", S.BEST_COLOR, linewidth=3))
    if any(n != best_n and n in hist for n in classic_n):
        out.append(S.line_handle("classic configuration", S.CLASSIC_COLOR, linewidth=2,
                                 marker="*", markersize=10, markeredgecolor="black"))
    out.append(S.line_handle(f"epoch budget ({epochs})", "0.4", linestyle=":"))
    return out


# ------------------------------------------------------------------ 6. cost

def _confirmed_means(data: StudyData) -> pd.DataFrame | None:
    """The confirmed configurations: mean validation accuracy over seeds with its
    interval, mean training time of the re-runs and parameter count."""
    conf = data.confirmation
    if conf is None:
        return None
    done = completed(data.trials).set_index("number")
    rows = []
    for r in conf.rows:
        b, n = r["best_val"], int(r["trial"])
        if b.get("mean") is None or n not in done.index:
            continue
        rows.append({"number": n, "mean": b["mean"],
                     "low": b["low"] if b.get("low") is not None else b["mean"],
                     "high": b["high"] if b.get("high") is not None else b["mean"],
                     "train_seconds": r.get("train_seconds"),
                     "parameter_count": done.loc[n, "parameter_count"]})
    return pd.DataFrame(rows) if rows else None


def cost(data: StudyData) -> Figure | None:
    """Accuracy against training time and against parameter count, Pareto fronts marked;
    ringed: the best trial, or the trials in the best set over seeds."""
    df = _flags(data, leaders=True)
    done = completed(df)
    axes_spec = [(c, label) for c, label in (("train_seconds", "Training time (s)"),
                                             ("parameter_count", "Parameters (count)"))
                 if done[c].notna().any()]
    if not axes_spec:
        return None
    with S.style():
        fig = S.new_figure(6 * len(axes_spec), 4.8)
        axes = fig.subplots(1, len(axes_spec), squeeze=False, sharey=True).ravel()
        ylim = trial_acc_limits(done)
        below: dict[str, int] = {}
        means = _confirmed_means(data)
        for ax, (col, label) in zip(axes, axes_spec, strict=True):
            x = done[col].astype(float)
            _merge(below, _plot_trials(ax, done, x, ylim)[1])
            if means is None:  # the front of the single-seed values
                fx, fy = x.to_numpy(), done["value"].to_numpy()
            else:  # the front of the means over seeds, with their intervals
                fx, fy = means[col].to_numpy(dtype=float), means["mean"].to_numpy(dtype=float)
                ax.errorbar(fx, fy, yerr=np.vstack([fy - means["low"], means["high"] - fy]),
                            fmt="D", color="black", markersize=6, capsize=3, zorder=6)
            front = pareto_front(fx, fy)
            order = np.argsort(fx[front])
            ax.scatter(fx[front][order], fy[front][order], s=90, facecolors="none",
                       edgecolors="black", linewidths=1.2, zorder=5)
            ax.step(fx[front][order], fy[front][order], where="post", color="black",
                    linewidth=1.2, zorder=4)
            tick = count_label if col == "parameter_count" else short
            pos = x[x > 0]
            if len(pos) and pos.max() / pos.min() > 20:
                log_axis(ax, float(pos.min()), float(pos.max()), label=tick)
            else:
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _, f=tick: f(v)))
            ax.set_xlabel(label + (", log scale" if ax.get_xscale() == "log" else ""))
            ax.set_ylabel(S.ACC_LABEL)
            S.percent_axis(ax.yaxis)
            ax.set_title(f"Accuracy against {label.split(' (')[0].lower()}")
        extra = [S.line_handle("Pareto front (nothing cheaper is as accurate)"
                               + (" of the means over seeds" if means is not None else ""),
                               "black", marker="o", markerfacecolor="none"),
                 *S.below_handle(below, ylim[0])]
        if means is not None:
            extra.insert(0, S.line_handle("mean over the confirm seeds, 95% t-interval "
                                          "(time: mean of the re-runs)", "black",
                                          linestyle="none", marker="D"))
        tied = data.tied
        best = ("selected trial (one seed)" if tied is None else
                f"best set over seeds ({len(tied)})")
        _legend(fig, S.handles({S.COMPLETED}, best=best, classic=bool(done["classic"].any()),
                               extra=extra), ncol=4)
        fig.suptitle(f"Cost: accuracy against training time and model size "
                     f"({len(done)} completed trials)")
    return fig

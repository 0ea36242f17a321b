"""The views users of Optuna's plots and W&B sweeps expect, drawn the report's way: every
trial at a common pruning rung, parallel coordinates, the empirical distribution of
accuracy, where the sampler looked in trial order, and the timeline of the workers.

Each function returns a `Figure`, or None when the study has nothing to draw; the
captions in `document` say what each shows and how many trials stand behind it.
Accuracies are fractions; the axes show percent.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, NullLocator

from ..statistics.expected_max import expected_max
from ..study.param import Param
from ..text import short
from . import style as S
from .analysis import StudyData, acc_limits, brackets, ranked, rung_epochs, values_at
from .figures import TOP_LABELLED, _legend, log_axis


def _axis_for(ax: Axes, s: Param, axis: str = "x") -> None:
    """A setting's axis on its sampled scale: log where sampled so, choices by name."""
    if s.categorical:
        ticks = (ax.set_xticks if axis == "x" else ax.set_yticks)
        ticks(range(len(s.choices)), [str(c) for c in s.choices])
        (ax.set_xlim if axis == "x" else ax.set_ylim)(-0.5, len(s.choices) - 0.5)
    elif s.log:
        lo, hi = float(s.low), float(s.high)
        log_axis(ax, lo, hi, axis=axis)
        (ax.xaxis if axis == "x" else ax.yaxis).set_minor_locator(NullLocator())
        (ax.set_xlim if axis == "x" else ax.set_ylim)(lo, hi)
    else:
        pad = (float(s.high) - float(s.low)) * 0.03
        (ax.set_xlim if axis == "x" else ax.set_ylim)(float(s.low) - pad, float(s.high) + pad)


def _positions(s: Param, values: pd.Series) -> np.ndarray:
    """Where values sit on `_axis_for`'s axis: choice index, or the value itself."""
    if s.categorical:
        return s.scale(values)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)


# ------------------------------------------------------------------ every trial at a rung

BRACKET_MARKERS = ("o", "s", "^", "D", "P")  # a Hyperband bracket's marker in the rungs


def rungs(data: StudyData) -> Figure | None:
    """One row per pruning rung (the epochs the pruner stopped trials at), one column per
    setting: every trial that trained that far, at its validation accuracy after that
    epoch, so trials the pruner stopped and those it let go on are compared at the same
    point of training. None when nothing was pruned."""
    epochs = rung_epochs(data)
    params = data.varied
    if not epochs or not params:
        return None
    t = data.trials.set_index("number")
    groups = brackets(data)
    ncols = len(params)
    with S.style():
        fig = S.new_figure(3.3 * ncols, 2.7 * len(epochs) + 1.0)
        axes = fig.subplots(len(epochs), ncols, squeeze=False, sharey="row")
        for r, epoch in enumerate(epochs):
            at = values_at(data, epoch)
            at = at[at.index.isin(t.index)]
            stopped = (t.loc[at.index, "state"] == "PRUNED") & \
                (t.loc[at.index, "last_epoch"] == epoch)
            ylim = acc_limits(at[~stopped], at[stopped])
            for c, s in enumerate(params):
                ax = axes[r, c]
                x = pd.Series(_positions(s, t.loc[at.index, s.column]), index=at.index)
                if s.categorical:
                    x = x + ((x.index.to_numpy() * 0.618) % 1.0 - 0.5) * 0.25
                ax.set_ylim(*ylim)
                _rung_points(ax, x, at, stopped, groups, ylim)
                _axis_for(ax, s)
                S.percent_axis(ax.yaxis)
                if r == len(epochs) - 1:
                    ax.set_xlabel(s.name)
                if c == 0:
                    ax.set_ylabel(f"after epoch {epoch}\n({len(at)} trials; "
                                  f"{int(stopped.sum())} stopped)")
        handles = _rung_handles(groups)
        _legend(fig, handles, ncol=3)
        fig.suptitle("Every trial at the pruner's rungs: validation accuracy after the same "
                     "epoch (not the completed trials' best)")
    return fig


def _rung_points(ax, x: pd.Series, at: pd.Series, stopped: pd.Series, groups: dict,
                 ylim: tuple[float, float]) -> None:
    """One panel's trials: hollow if stopped at this rung, filled if they went on, marked
    by Hyperband bracket, those below the axis on its floor."""
    bracket = pd.Series([groups.get(int(n), 0) for n in at.index], index=at.index)
    for mask, look in ((stopped, "hollow"), (~stopped, "filled")):
        for b in sorted(set(bracket[mask])):
            part = mask & (bracket == b)
            y = at[part]
            low = y < ylim[0]
            kw = ({"facecolors": "none", "edgecolors": S.PRUNED.color}
                  if look == "hollow" else {"color": S.COMPLETED.color})
            marker = BRACKET_MARKERS[b % len(BRACKET_MARKERS)] if groups else "o"
            ax.scatter(x[part][~low], y[~low], s=26, marker=marker, linewidths=1.1,
                       zorder=3, **kw)
            if low.any():
                ax.scatter(x[part][low], np.full(int(low.sum()), S.FLOOR), s=30,
                           marker=S.BELOW_MARKER, clip_on=False, zorder=4,
                           transform=ax.get_xaxis_transform(), linewidths=1.1, **kw)


def _rung_handles(groups: dict) -> list:
    handles = [S.line_handle("stopped by the pruner at this epoch", S.PRUNED.color,
                             linestyle="none", marker="o", markerfacecolor="none"),
               S.line_handle("trained on (pruned later or completed)", S.COMPLETED.color,
                             linestyle="none", marker="o"),
               S.line_handle("below the axis", "0.4", linestyle="none",
                             marker=S.BELOW_MARKER)]
    for b in sorted(set(groups.values())):
        handles.append(S.line_handle(f"Hyperband bracket {b}", "0.3", linestyle="none",
                                     marker=BRACKET_MARKERS[b % len(BRACKET_MARKERS)],
                                     markerfacecolor="none"))
    return handles


# ------------------------------------------------------------------ parallel coordinates

def parallel_coordinates(data: StudyData) -> Figure | None:
    """Completed trials as lines across the settings (each axis its range, on the sampled
    scale) to validation accuracy, coloured by accuracy; the best ones numbered."""
    done = data.completed
    params = data.varied
    if len(done) < 2 or not params:
        return None
    ylim = acc_limits(done["value"])
    cols = []
    for s in params:
        x = s.scale(done[s.column])
        if s.categorical:
            cols.append(x / max(len(s.choices) - 1, 1))
        else:
            lo, hi = s.scale([s.low, s.high])
            cols.append((x - lo) / (hi - lo))
    acc = ((done["value"].to_numpy() - ylim[0]) / (ylim[1] - ylim[0])).clip(-0.02, 1.0)
    cols.append(acc)
    grid = np.vstack(cols).T  # trials × axes
    norm = Normalize(*ylim)
    cmap = colormaps[S.CMAP]
    order = np.argsort(done["value"].to_numpy())  # best drawn last, on top
    top = set(ranked(done).head(TOP_LABELLED)["number"].astype(int))
    with S.style():
        fig = S.new_figure(max(8.0, 1.9 * (len(params) + 1)), 5.0)
        ax = fig.subplots()
        xs = np.arange(grid.shape[1])
        for i in order:
            v = float(done["value"].iloc[i])
            n = int(done["number"].iloc[i])
            ax.plot(xs, grid[i], color=cmap(norm(v)), linewidth=2.2 if n in top else 1.1,
                    alpha=0.95 if n in top else 0.6, zorder=3 if n in top else 2)
        _number_lines(ax, done, grid, top)
        for k, s in enumerate(params):
            ax.axvline(k, color="0.6", linewidth=0.8, zorder=1)
            lo, hi = (s.choices[0], s.choices[-1]) if s.categorical else (s.low, s.high)
            ax.text(k, -0.06, short(lo), ha="center", va="top", fontsize=8)
            ax.text(k, 1.04, short(hi), ha="center", va="bottom", fontsize=8)
        k = len(params)
        ax.axvline(k, color="0.6", linewidth=0.8, zorder=1)
        ax.text(k, -0.06, f"{ylim[0]:.1%}", ha="center", va="top", fontsize=8)
        ax.text(k, 1.04, f"{ylim[1]:.1%}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(xs, [s.name + (" (log)" if s.log else "") for s in params]
                      + ["validation accuracy"])
        ax.set_yticks([])
        ax.set_ylim(-0.12, 1.12)
        ax.set_xlim(-0.3, k + 0.6)
        ax.grid(False)
        for side in ("left", "right", "top"):
            ax.spines[side].set_visible(False)
        fig.colorbar(ScalarMappable(norm, cmap), ax=ax, label="Validation accuracy",
                     format=lambda v, _: f"{v:.1%}")
        fig.suptitle(f"Parallel coordinates: the {len(done)} completed trials (each axis "
                     f"spans its range; the {min(TOP_LABELLED, len(done))} best numbered)")
    return fig


def _number_lines(ax: Axes, done: pd.DataFrame, grid: np.ndarray, top: set[int]) -> None:
    """Write the numbers of the ``top`` trials at the accuracy axis, spread apart so that
    trials of nearly equal accuracy stay readable, each joined to its line's end."""
    rows = sorted(((grid[i, -1], int(done["number"].iloc[i])) for i in range(len(done))
                   if int(done["number"].iloc[i]) in top), reverse=True)
    x = grid.shape[1] - 1
    placed = []
    for y, n in rows:
        at = min(y, placed[-1] - 0.055) if placed else y
        placed.append(at)
        ax.annotate(f"trial {n}", (x, y), xytext=(x + 0.12, at), textcoords="data",
                    va="center", fontsize=7.5,
                    arrowprops={"arrowstyle": "-", "color": "0.5", "linewidth": 0.6})


# ------------------------------------------------------------------ EDF

def edf(data: StudyData) -> Figure | None:
    """The empirical distribution of validation accuracy after the same epoch, for every
    trial that reached it and for the survivors (the completed trials) alone: the gap
    between the two is the pruner's selection at equal training, not more epochs or a
    maximum over epochs."""
    done = set(data.completed["number"].astype(int))
    shades = (S.COMPLETED.color, "#DE8F05", "#029E73")
    curves = []
    for k, epoch in enumerate(rung_epochs(data)):
        at = values_at(data, epoch)
        survivors = at[at.index.isin(done)]
        color = shades[k % len(shades)]
        curves.append((f"every trial after epoch {epoch} ({len(at)})", at.to_numpy(),
                       color, "--"))
        curves.append((f"survivors (completed) after epoch {epoch} ({len(survivors)})",
                       survivors.to_numpy(), color, "-"))
    curves = [c for c in curves if len(c[1])]
    if not curves:
        return None
    everything = np.concatenate([c[1] for c in curves])
    lo, hi = acc_limits(everything)
    with S.style():
        fig = S.new_figure(8, 4.6)
        ax = fig.subplots()
        for label, values, color, style in curves:
            v = np.sort(values)
            y = np.arange(1, len(v) + 1) / len(v)
            below = int((v < lo).sum())
            if below:
                label += f"; {below} below {lo:.1%}, off the axis"
            ax.step(np.r_[lo, v], np.r_[0.0, y], where="post", color=color, linestyle=style,
                    linewidth=2 if style == "-" else 1.4, label=label)
        ax.set_xlim(lo, hi)
        ax.set_ylim(0, 1.02)
        S.percent_axis(ax.xaxis)
        S.percent_axis(ax.yaxis)
        ax.set_xlabel(S.ACC_LABEL)
        ax.set_ylabel("Share of the trials at or below")
        ax.legend(loc="upper left", frameon=True, fontsize=8)
        fig.suptitle("Validation accuracy after the same epoch: every trial against the "
                     "survivors")
    return fig


# ------------------------------------------------------------------ trial order

def sampler_trace(data: StudyData) -> Figure | None:
    """Each setting's sampled value against the trial number: where the sampler looked
    as the study went on (converging, or still spread), completed trials filled,
    pruned hollow, failed crossed; the best ones numbered."""
    params = data.varied
    df = data.trials[data.trials["state"] != "RUNNING"]
    if df.empty or not params:
        return None
    ncols = min(3, len(params))
    nrows = math.ceil(len(params) / ncols)
    top = ranked(data.completed).head(TOP_LABELLED)
    with S.style():
        fig = S.new_figure(4.4 * ncols, 3.0 * nrows + 0.8)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, s in zip(axes, params, strict=False):
            for lk in (S.PRUNED, S.DIVERGED, S.FAILED, S.COMPLETED):
                m = lk.of(df)
                if not m.any():
                    continue
                kw = ({"facecolors": "none", "edgecolors": lk.color} if not lk.filled
                      else {"color": lk.color})
                ax.scatter(df.loc[m, "number"], _positions(s, df.loc[m, s.column]), s=24,
                           marker=lk.marker, linewidths=1.0, zorder=3, **kw)
            for _, r in top.iterrows():
                ax.annotate(str(int(r["number"])),
                            (r["number"], _positions(s, pd.Series([r[s.column]]))[0]),
                            xytext=(3, 3), textcoords="offset points", fontsize=7,
                            color=S.BEST_COLOR)
            _axis_for(ax, s, axis="y")
            ax.set_xlabel("Trial number")
            ax.set_title(s.name)
        for ax in axes[len(params):]:
            ax.set_axis_off()
        _legend(fig, S.handles({S.look(st, dv) for st, dv in zip(df["state"], df["diverged"],
                                                                   strict=True)})
                + [S.line_handle(f"{len(top)} best trials, numbered", S.BEST_COLOR,
                                 linestyle="none", marker="$7$")], ncol=5)
        fig.suptitle(f"Where the sampler looked, in trial order ({len(df)} finished trials)")
    return fig


# ------------------------------------------------------------------ timeline

def timeline(data: StudyData) -> Figure | None:
    """Which worker ran which trial, when: one row per worker process (host and pid from
    the trial's user attributes), a bar per trial from its start to its end, coloured by
    outcome and numbered."""
    attrs = {t.number: t.user_attrs for t in data.results.frozen_trials}
    df = data.trials.copy()
    df["start"] = pd.to_datetime(df["datetime_start"], errors="coerce")
    df["end"] = pd.to_datetime(df["datetime_complete"], errors="coerce")
    df = df[df["start"].notna()]
    if df.empty:
        return None
    df["worker"] = [f"{attrs.get(n, {}).get('host', '?')}:{attrs.get(n, {}).get('pid', '?')}"
                    for n in df["number"]]
    t0 = df["start"].min()
    df["s"] = (df["start"] - t0).dt.total_seconds() / 60
    now = df["end"].max() if df["end"].notna().any() else df["start"].max()
    df["e"] = (df["end"].fillna(now) - t0).dt.total_seconds() / 60
    workers = sorted(df["worker"].unique(), key=lambda w: df.loc[df["worker"] == w, "s"].min())
    row = {w: i for i, w in enumerate(workers)}
    span = max(float(df["e"].max()), 1e-3)
    with S.style():
        fig = S.new_figure(11, 0.45 * len(workers) + 2.2)
        ax = fig.subplots()
        seen = set()
        for _, r in df.iterrows():
            lk = S.look(r["state"], r["diverged"])
            seen.add(lk)
            y = row[r["worker"]]
            ax.barh(y, r["e"] - r["s"], left=r["s"], height=0.7, color=lk.color,
                    alpha=0.9 if lk is S.COMPLETED else 0.6, edgecolor="white",
                    linewidth=0.5, hatch="//" if lk in (S.FAILED, S.DIVERGED) else None)
            if r["e"] - r["s"] > 0.025 * span:
                ax.text((r["s"] + r["e"]) / 2, y, str(int(r["number"])), ha="center",
                        va="center", fontsize=7, color="white" if lk is S.COMPLETED
                        else "black")
        ax.set_yticks(range(len(workers)), workers)
        ax.invert_yaxis()
        ax.set_xlim(0, span * 1.01)
        ax.set_xlabel("Minutes since the first trial started")
        ax.set_ylabel("Worker (host:pid)")
        handles = [Patch(color=lk.color, label=lk.word,
                         hatch="//" if lk in (S.FAILED, S.DIVERGED) else None)
                   for lk in S.LOOKS if lk in seen]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=True)
        fig.suptitle(f"Timeline: {len(df)} trials on {len(workers)} worker processes "
                     "(number in each bar)")
    return fig


# ------------------------------------------------------------------ expected best of n trials

def expected_best(data: StudyData) -> Figure | None:
    """The expected best validation accuracy of n trials drawn from this study's trials,
    n = 1..N, with one standard deviation (Dodge et al. 2019); the classic configuration's
    value as the budget-1 reference. Meant for independent trials (an exploration or random
    study): the caller decides whether the study's trials are."""
    done = data.completed
    values = done["value"].to_numpy(dtype=np.float64)
    if len(values) < 2:
        return None
    curve = expected_max(values)
    classic = data.classic
    with S.style():
        fig = S.new_figure(7.5, 4.2)
        ax = fig.subplots()
        n, mean, sd = curve.budgets, curve.mean, curve.sd
        ax.fill_between(n, mean - sd, np.minimum(mean + sd, 1.0), color=S.TREND_COLOR,
                        alpha=0.18, linewidth=0, label="± one standard deviation")
        ax.plot(n, mean, color=S.TREND_COLOR, linewidth=2,
                label="expected best of n trials")
        if classic is not None and classic["state"] == "COMPLETE":
            ax.axhline(classic["value"], color=S.CLASSIC_COLOR, linestyle="--", linewidth=1.5,
                       label=f"classic configuration (trial {int(classic['number'])})")
        lo, hi = acc_limits(mean - sd, [mean.max()])
        ax.set_ylim(lo, hi)
        ax.set_xlim(1, len(values))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        S.percent_axis(ax.yaxis)
        ax.set_xlabel("Trials (n)")
        ax.set_ylabel("Expected best validation accuracy (%)")
        ax.legend(loc="lower right", frameon=True)
        fig.suptitle(f"Expected best of n trials, from {len(values)} completed trials")
    return fig

"""The study as the report sees it: trials by kind, the settings, bins, trends, fronts.

`prepare(results)` reads the storage (through `StudyResults`) and the trial
directories once; everything else here is a plain function of its output, so the
figures, the tables and the notebook all work from the same numbers.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..param import Bins, Param
from ..results import StudyResults
from ..study import Counts

MIN_COMPLETED = 10  # fewer completed trials than this and effects are anecdotes


def kind_of(state: str, diverged: bool) -> str:
    if state == "COMPLETE":
        return "completed"
    if state == "PRUNED":
        return "diverged" if diverged else "pruned"
    if state == "FAIL":
        return "failed"
    return "running"


@dataclass
class StudyData:
    """Everything the report draws from: one row per trial plus the study's settings."""

    name: str
    root: Path
    settings: list[Param]
    trials: pd.DataFrame  # results.trials + kind, acc, last_acc, last_epoch (accuracies in %)
    counts: Counts
    config: dict[str, Any]
    sampler: str
    pruner: str
    fixed: dict[str, Any] = field(default_factory=dict)
    results: StudyResults | None = None

    @property
    def max_epochs(self) -> int:
        return int(self.config.get("training", {}).get("epochs") or 0)

    @property
    def completed(self) -> pd.DataFrame:
        t = self.trials
        return t[(t["kind"] == "completed") & t["acc"].notna()]

    @property
    def varied(self) -> list[Param]:
        return [s for s in self.settings if s.varies]

    def setting(self, name: str) -> Param | None:
        return next((s for s in self.settings if s.name == name), None)

    @property
    def best(self) -> pd.Series | None:
        done = self.completed
        if done.empty:
            return None
        return done.sort_values(["acc", "number"], ascending=[False, True]).iloc[0]

    @property
    def classic(self) -> pd.Series | None:
        rows = self.trials[self.trials["classic"]]
        return rows.iloc[0] if len(rows) else None

    def trial_dir(self, number: int) -> Path:
        return self.results.trial_dir(int(number))

    @cached_property
    def histories(self) -> dict[int, pd.DataFrame]:
        """history.csv of every trial that has one (accuracies in %), by trial number."""
        out = {}
        for n in self.trials["number"]:
            path = self.trial_dir(n) / "history.csv"
            try:
                h = pd.read_csv(path)
            except (OSError, ValueError, pd.errors.ParserError):
                continue
            if {"epoch", "val_acc"} <= set(h.columns) and len(h):
                h = h.sort_values("epoch")
                h["val_acc"] = pd.to_numeric(h["val_acc"], errors="coerce") * 100.0
                out[int(n)] = h
        return out


def prepare(results: StudyResults) -> StudyData:
    """Read a study once: its settings, its trials with kind and accuracy in percent."""
    settings = results.settings
    df = results.trials.copy()
    df["kind"] = [kind_of(s, bool(d)) for s, d in zip(df["state"], df["diverged"], strict=True)]
    df["acc"] = pd.to_numeric(df["value"], errors="coerce") * 100.0
    df.loc[df["kind"] != "completed", "acc"] = np.nan
    df["last_acc"] = pd.to_numeric(df["last_value"], errors="coerce") * 100.0
    df["test_acc"] = pd.to_numeric(df["test_accuracy"], errors="coerce") * 100.0
    for col in ("train_seconds", "parameter_count", "epochs_trained", "best_epoch",
                "last_epoch"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    return StudyData(
        name=results.name, root=results.paths.root,
        settings=list(settings.space.params), trials=df, counts=results.counts,
        config=settings.config.to_dict(), sampler=settings.sampler, pruner=settings.pruner,
        fixed=dict(settings.space.fixed), results=results)


# ---------------------------------------------------------------- statistics

def n_bins(n: int, low: int = 3, high: int = 8) -> int:
    return int(np.clip(round(math.sqrt(max(n, 1))), low, high))


def bootstrap_mean_ci(y: np.ndarray, n_boot: int = 400, seed: int = 0,
                      level: float = 95.0) -> tuple[float, float]:
    y = np.asarray(y, dtype=np.float64)
    if len(y) < 2:
        return (np.nan, np.nan)
    rng = np.random.default_rng(seed)
    means = y[rng.integers(0, len(y), (n_boot, len(y)))].mean(axis=1)
    tail = (100.0 - level) / 2
    lo, hi = np.percentile(means, [tail, 100.0 - tail])
    return float(lo), float(hi)


def binned(setting: Param, df: pd.DataFrame, bins: Bins, column: str = "acc") -> pd.DataFrame:
    """Per bin: trials, mean accuracy with a 95% bootstrap interval, and the best accuracy
    (the isolation curve: the best found in this bin over all other settings)."""
    idx = setting.bin_of(df[setting.column], bins)
    y = df[column].to_numpy(dtype=np.float64)
    rows = []
    for b, label in enumerate(bins.labels):
        vals = y[(idx == b) & np.isfinite(y)]
        lo, hi = bootstrap_mean_ci(vals, seed=b)
        center = (float(b) if bins.edges is None
                  else float((bins.edges[b] + bins.edges[b + 1]) / 2))
        rows.append({"bin": b, "label": label, "center": center, "n": len(vals),
                     "mean": vals.mean() if len(vals) else np.nan,
                     "best": vals.max() if len(vals) else np.nan, "lo": lo, "hi": hi})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Trend:
    x: np.ndarray  # grid on the sampled scale
    y: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    order: int


def trend(x: np.ndarray, y: np.ndarray, n_boot: int = 200, seed: int = 0,
          points: int = 60) -> Trend | None:
    """A polynomial trend of y on x (order 2 with enough distinct x, else a line) with a
    95% bootstrap band; None with fewer than six points or three distinct x."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    distinct = np.unique(x).size
    if len(x) < 6 or distinct < 3:
        return None
    order = 2 if distinct >= 6 and len(x) >= 8 else 1
    grid = np.linspace(x.min(), x.max(), points)
    center, spread = x.mean(), x.std() or 1.0
    xs, gs = (x - center) / spread, (grid - center) / spread
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = np.polyval(np.polyfit(xs, y, order), gs)
        rng = np.random.default_rng(seed)
        curves = []
        for _ in range(n_boot):
            pick = rng.integers(0, len(x), len(x))
            if np.unique(xs[pick]).size <= order:
                continue
            curves.append(np.polyval(np.polyfit(xs[pick], y[pick], order), gs))
    if len(curves) < 10:
        return None
    lo, hi = np.percentile(np.array(curves), [2.5, 97.5], axis=0)
    return Trend(grid, fit, lo, hi, order)


def interaction_grid(a: Param, b: Param, df: pd.DataFrame, n: int
                     ) -> tuple[np.ndarray, np.ndarray, Bins, Bins]:
    """Mean accuracy and trial count per (bin of b, bin of a): rows b, columns a."""
    ba, bb = a.bins(n), b.bins(n)
    ia, ib = a.bin_of(df[a.column], ba), b.bin_of(df[b.column], bb)
    y = df["acc"].to_numpy(dtype=np.float64)
    mean = np.full((len(bb), len(ba)), np.nan)
    count = np.zeros((len(bb), len(ba)), dtype=np.int64)
    for r in range(len(bb)):
        for c in range(len(ba)):
            vals = y[(ia == c) & (ib == r) & np.isfinite(y)]
            count[r, c] = len(vals)
            if len(vals):
                mean[r, c] = vals.mean()
    return mean, count, ba, bb


# ---------------------------------------------------------------- accuracy axes

LATE = 0.75  # a trial pruned after this share of the epoch budget is judged with the completed
MIN_SPAN = 1.0  # percentage points: the narrowest accuracy axis
SPREAD_FLOOR = 1.0  # percentage points: the least interquartile range the outlier cut assumes
OUTLIER_IQRS = 3.0  # values further than this many IQRs below the median fall off the axis


def shown_acc(df: pd.DataFrame) -> pd.Series:
    """The accuracy a trial is drawn at: final for completed, when stopped for pruned."""
    return df["acc"].where(df["kind"] == "completed", df["last_acc"])


def robust_range(values) -> tuple[float, float] | None:
    """The lowest and highest of ``values`` (in %), leaving out the ones far below the
    bulk: more than `OUTLIER_IQRS` interquartile ranges (at least `SPREAD_FLOOR`) below
    the median, e.g. a trial stopped after one epoch at 28% among trials at 97-99%.
    None when no value is finite."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return None
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    cut = med - OUTLIER_IQRS * max(q3 - q1, SPREAD_FLOOR)
    return float(v[v >= cut].min()), float(v.max())


def acc_limits(core, extra=()) -> tuple[float, float]:
    """Limits of an accuracy axis (in %) zoomed on where the information is.

    ``core`` are the accuracies the axis is for (completed trials, pruned ones that ran
    nearly the whole budget); its outliers below (see `robust_range`) and every value of
    ``extra`` below the lower limit are left below the axis, for the figure to draw on its
    floor. ``extra`` can still raise the upper limit. With no finite ``core``, ``extra``
    takes its place; with nothing at all, 0-100%. The data span the axis from 10% of its
    height (room for the floor markers below) to 95%, over at least `MIN_SPAN` points."""
    core = np.asarray(core, dtype=np.float64)
    extra = np.asarray(extra, dtype=np.float64)
    core, extra = core[np.isfinite(core)], extra[np.isfinite(extra)]
    if not len(core):
        core, extra = extra, core
    span = robust_range(core)
    if span is None:
        return (0.0, 100.0)
    lo, top = span[0], max(span[1], float(extra.max()) if len(extra) else -np.inf)
    ceiling = max(100.0, top)
    hi = top
    if hi - lo < MIN_SPAN:
        hi = min((hi + lo + MIN_SPAN) / 2, ceiling)
        lo = hi - MIN_SPAN
    total = (hi - lo) / 0.85
    lower = max(lo - 0.10 * total, min(0.0, lo) - 0.02 * total)
    upper = min(hi + 0.05 * total, ceiling + 0.03 * total)
    return float(lower), float(upper)


def trial_acc_limits(df: pd.DataFrame, max_epochs: int = 0) -> tuple[float, float]:
    """`acc_limits` of the trials as drawn (`shown_acc`): judged by the completed trials
    and those pruned after `LATE` of the epoch budget; with fewer than 5 of those, by
    every trial (still without the outliers below)."""
    y = shown_acc(df)
    core = df["kind"] == "completed"
    if max_epochs:
        late = pd.to_numeric(df["last_epoch"], errors="coerce") >= LATE * max_epochs
        core |= (df["kind"] == "pruned") & late
    core &= y.notna()
    if core.sum() < 5:
        core = y.notna()
    return acc_limits(y[core], y[~core])


def pareto_front(cost: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """True for the trials no other trial beats on both lower cost and higher accuracy."""
    cost, acc = np.asarray(cost, np.float64), np.asarray(acc, np.float64)
    ok = np.isfinite(cost) & np.isfinite(acc)
    front = np.zeros(len(cost), dtype=bool)
    order = [i for i in np.lexsort((-acc, cost)) if ok[i]]
    best = -np.inf
    for i in order:
        if acc[i] > best:
            front[i] = True
            best = acc[i]
    return front


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a proportion p measured on n examples."""
    if not n or p is None or not math.isfinite(p):
        return (np.nan, np.nan)
    denom = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (mid - half, mid + half)


def interaction_pairs(data: StudyData, ranking: list[str], limit: int = 4
                      ) -> list[tuple[Param, Param]]:
    """lr × batch_size and hidden_size × dropout first, then pairs of the most important."""
    varied = {s.name: s for s in data.varied}
    pairs: list[tuple[str, str]] = [p for p in (("lr", "batch_size"), ("hidden_size", "dropout"))
                                    if p[0] in varied and p[1] in varied]
    top = [n for n in ranking if n in varied][:4]
    for i, a in enumerate(top):
        for b in top[i + 1:]:
            if len(pairs) >= limit:
                break
            if (a, b) not in pairs and (b, a) not in pairs:
                pairs.append((a, b))
    return [(varied[a], varied[b]) for a, b in pairs[:limit]]

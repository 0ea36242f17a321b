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

from ..results import StudyResults
from ..study import Counts

# what each setting is measured in, for axis labels
UNITS = {
    "hidden_size": "hidden units",
    "hidden_layers": "layers",
    "dropout": "fraction of units dropped",
    "l2": "weight-decay coefficient",
    "lr": "learning rate per step",
    "batch_size": "images per batch",
    "momentum": "momentum coefficient",
    "epochs": "epochs",
    "warmup_epochs": "epochs",
    "step_every": "epochs",
    "step_gamma": "factor",
    "shift": "pixels",
    "train_limit": "images",
}
MIN_COMPLETED = 10  # fewer completed trials than this and effects are anecdotes


@dataclass(frozen=True)
class Bins:
    """Bins of one setting: edges in the sampled scale (log10 for log settings)."""

    edges: np.ndarray | None  # None: one bin per categorical choice
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Setting:
    """One sampled setting of the space, as stored in the study's settings."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    @classmethod
    def from_spec(cls, name: str, spec: dict[str, Any]) -> Setting:
        kind = spec.get("type", "categorical" if "choices" in spec else "float")
        return cls(name, kind, spec.get("low"), spec.get("high"), bool(spec.get("log", False)),
                   tuple(spec.get("choices") or ()))

    @property
    def categorical(self) -> bool:
        return self.type == "categorical"

    @property
    def numeric_choices(self) -> bool:
        return self.categorical and all(
            isinstance(c, int | float) and not isinstance(c, bool) for c in self.choices)

    @property
    def varies(self) -> bool:
        """Whether the space lets this setting take more than one value."""
        if self.categorical:
            return len(self.choices) > 1
        return self.high > self.low

    @property
    def unit(self) -> str:
        return UNITS.get(self.name, "value")

    @property
    def label(self) -> str:
        scale = ", log scale" if self.log else ""
        return f"{self.name} ({self.unit}{scale})"

    def fixed_text(self) -> str:
        """The single value of a setting that never varies."""
        return fmt(self.choices[0] if self.categorical else self.low)

    def range_text(self) -> str:
        if self.categorical:
            return "{" + ", ".join(str(c) for c in self.choices) + "}"
        text = f"[{fmt(self.low)}, {fmt(self.high)}]"
        return text + (" (log)" if self.log else "")

    def scale(self, values) -> np.ndarray:
        """Values on the axis the setting was sampled on: log10 for log settings,
        the choice's index for categorical ones (NaN where missing)."""
        if self.categorical:
            index = {_key(c): i for i, c in enumerate(self.choices)}
            return np.array([index.get(_key(v), np.nan) for v in values], dtype=np.float64)
        x = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce")
        x = x.to_numpy(dtype=np.float64)
        if self.log:
            with np.errstate(divide="ignore", invalid="ignore"):
                x = np.where(x > 0, np.log10(x), np.nan)
        return x

    def unscale(self, x):
        return np.power(10.0, x) if self.log else x

    def position(self, value) -> float:
        """Where ``value`` sits in the range, 0 (low) to 1 (high), on the sampled scale."""
        if not self.varies:
            return 0.5
        x = float(self.scale([value])[0])
        if self.categorical:
            return x / (len(self.choices) - 1)
        lo, hi = self.scale([self.low, self.high])
        return (x - lo) / (hi - lo)

    def bins(self, n: int) -> Bins:
        """``n`` equal bins on the sampled scale (one per integer for small int ranges)."""
        if self.categorical:
            return Bins(None, tuple(str(c) for c in self.choices))
        lo, hi = self.scale([self.low, self.high])
        if not self.varies:
            return Bins(np.array([lo - 0.5, hi + 0.5]), (fmt(self.low),))
        if self.type == "int" and self.high - self.low + 1 <= n:
            values = np.arange(int(self.low), int(self.high) + 1)
            mids = np.concatenate([[values[0] - 0.5], values[:-1] + 0.5, [values[-1] + 0.5]])
            edges = self.scale(np.maximum(mids, 1e-9 if self.log else -np.inf))
            return Bins(edges, tuple(str(v) for v in values))
        edges = np.linspace(lo, hi, n + 1)
        raw = self.unscale(edges)
        if self.type == "int":
            labels = tuple(f"{math.ceil(raw[i] - 1e-9) if i else int(raw[0])}"
                           f"–{math.floor(raw[i + 1] + 1e-9)}" for i in range(n))
        else:
            labels = tuple(f"{fmt(raw[i])}–{fmt(raw[i + 1])}" for i in range(n))
        return Bins(edges, labels)

    def bin_of(self, values, bins: Bins) -> np.ndarray:
        """The bin index of each value (-1 where missing)."""
        x = self.scale(values)
        if bins.edges is None:
            out = np.where(np.isfinite(x), x, -1)
        else:
            out = np.searchsorted(bins.edges, x, side="right") - 1
            out = np.clip(out, 0, len(bins) - 1)
            out = np.where(np.isfinite(x), out, -1)
        return out.astype(np.int64)

    def fmt(self, value) -> str:
        return fmt(value)


def _key(v):
    """Categorical values compare by a text form in which 64, 64.0 and np.int64(64) agree
    (a column with a missing value turns pandas' ints into floats)."""
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, int | float) and not isinstance(v, bool):
        f = float(v)
        return str(int(f)) if f.is_integer() else repr(f)
    return str(v)


def fmt(v) -> str:
    """A setting's value in few characters: 512, 0.3, 1e-04, 0.00316."""
    if v is None:
        return "–"
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        v = float(v)
        if not math.isfinite(v):
            return "–"
        if v == int(v) and abs(v) < 1e6:
            return str(int(v))
        if abs(v) < 1e-3 or abs(v) >= 1e5:
            return f"{v:.1e}"
        return f"{v:.3g}"
    return str(v)


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
    settings: list[Setting]
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
    def varied(self) -> list[Setting]:
        return [s for s in self.settings if s.varies]

    def setting(self, name: str) -> Setting | None:
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
        return self.root / "trials" / f"{int(number):04d}"

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
    space = settings.space
    names = list(space.get("params", {}))
    df = results.trials.copy()
    last = {t.number: _last_report(t.intermediate_values) for t in results.frozen_trials}
    df["kind"] = [kind_of(s, bool(d)) for s, d in zip(df["state"], df["diverged"], strict=True)]
    df["acc"] = pd.to_numeric(df["value"], errors="coerce") * 100.0
    df.loc[df["kind"] != "completed", "acc"] = np.nan
    df["last_epoch"] = [last.get(n, (np.nan, np.nan))[0] for n in df["number"]]
    df["last_acc"] = [last.get(n, (np.nan, np.nan))[1] * 100.0 for n in df["number"]]
    df["test_acc"] = pd.to_numeric(df["test_accuracy"], errors="coerce") * 100.0
    for col in ("train_seconds", "parameter_count", "epochs", "best_epoch"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    return StudyData(
        name=results.name, root=results.paths.root,
        settings=[Setting.from_spec(n, space["params"][n]) for n in names],
        trials=df, counts=results.counts, config=settings.config, sampler=settings.sampler,
        pruner=settings.pruner, fixed=dict(space.get("fixed", {})), results=results)


def _last_report(values: dict[int, float]) -> tuple[float, float]:
    finite = {k: v for k, v in values.items() if v is not None and math.isfinite(v)}
    if not finite:
        return (np.nan, np.nan)
    step = max(finite)
    return (float(step), float(finite[step]))


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


def binned(setting: Setting, df: pd.DataFrame, bins: Bins, column: str = "acc") -> pd.DataFrame:
    """Per bin: trials, mean accuracy with a 95% bootstrap interval, and the best accuracy
    (the isolation curve: the best found in this bin over all other settings)."""
    idx = setting.bin_of(df[setting.name], bins)
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


def interaction_grid(a: Setting, b: Setting, df: pd.DataFrame, n: int
                     ) -> tuple[np.ndarray, np.ndarray, Bins, Bins]:
    """Mean accuracy and trial count per (bin of b, bin of a): rows b, columns a."""
    ba, bb = a.bins(n), b.bins(n)
    ia, ib = a.bin_of(df[a.name], ba), b.bin_of(df[b.name], bb)
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
                      ) -> list[tuple[Setting, Setting]]:
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

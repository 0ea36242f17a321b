"""The study as the report sees it: its trials, the sampled settings, bins, trends, fronts.

`prepare(results)` reads the storage (through `StudyResults`) and the trial
directories once; everything else here is a plain function of its output, so the
figures, the tables and the notebook all work from the same numbers. The trials
table is `StudyResults.trials`: Optuna's states (a diverged trial is PRUNED with
``diverged`` set), the objective in ``value`` (the best validation accuracy; for a
pruned trial Optuna stores its last reported one there, so the report reads ``value``
of completed trials only and ``last_value`` otherwise), ``test_accuracy``, and every
accuracy a fraction; only the displays turn them into percent. When the study's top
trials have been re-trained over seeds (``python -m sweep confirm``), its summary is
`StudyData.confirmation`, and `StudyData.tied` the trials in its best set.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import StudyError
from ..study.confirmations import Confirmation, confirmation_of
from ..study.param import Bins, Param
from ..study.records import Counts
from ..study.results import StudyResults
from ..study.settings import Settings

MIN_COMPLETED = 10  # fewer completed trials than this and effects are anecdotes
NUMERIC = ("value", "test_accuracy", "last_value", "last_epoch", "train_seconds",
           "parameter_count", "epochs_trained", "best_epoch")


@dataclass
class StudyData:
    """Everything the report draws from: the study (its typed `Settings`), its trials
    table with numeric columns, and the seed-noise results when there are any."""

    results: StudyResults
    trials: pd.DataFrame  # results.trials, numbers as numbers
    confirmation: Confirmation | None = None  # confirm/confirm.json, if written
    confirm_problem: str = ""  # why confirm.json could not be read

    @property
    def name(self) -> str:
        return self.results.name

    @property
    def settings(self) -> Settings:
        return self.results.settings

    @property
    def params(self) -> list[Param]:
        """The sampled settings, in the order of the space."""
        return list(self.settings.space.params)

    @property
    def counts(self) -> Counts:
        return self.results.counts

    @property
    def max_epochs(self) -> int:
        return int(self.settings.config.training.epochs)

    @property
    def completed(self) -> pd.DataFrame:
        return completed(self.trials)

    @property
    def varied(self) -> list[Param]:
        return [p for p in self.params if p.varies]

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    @property
    def pick(self) -> pd.Series | None:
        """What the sweep alone says is best: the highest single-seed validation accuracy
        (an optimistic pick: the best of many trials' best epochs, on one seed each)."""
        done = self.completed
        return None if done.empty else ranked(done).iloc[0]

    @property
    def best(self) -> pd.Series | None:
        """The trial the report treats as the answer: the configuration ``sweep confirm``
        recommends, once it has run, else the single-seed pick."""
        recommended = self.recommended
        return recommended if recommended is not None else self.pick

    @property
    def recommended(self) -> pd.Series | None:
        if self.confirmation is None:
            return None
        done = self.completed
        rows = done[done["number"] == self.confirmation.recommended]
        return rows.iloc[0] if len(rows) else None

    @property
    def best_reason(self) -> str:
        """Why `best` is the selected trial, in a few words."""
        if self.recommended is not None:
            return (f"recommended by `sweep confirm` over {self.confirmation.seeds} seeds; "
                    f"the sweep alone picked trial {int(self.pick['number'])}")
        return "highest single-seed validation accuracy"

    @property
    def tied(self) -> pd.DataFrame | None:
        """The completed trials in the best set over seeds (`Confirmation.tied`), in its
        order; None when the study has no seed-noise results."""
        if self.confirmation is None:
            return None
        done = self.completed.set_index("number", drop=False)
        numbers = [n for n in self.confirmation.tied if n in done.index]
        return done.loc[numbers].reset_index(drop=True) if numbers else None

    @property
    def leaders(self) -> pd.DataFrame:
        """The trials the report treats as the best: the best set over seeds when there
        are seed-noise results, else the single best trial."""
        tied = self.tied
        return tied if tied is not None else ranked(self.completed).head(1)

    @property
    def unconfirmed(self) -> list[int]:
        """Completed trials now at or above the raced configurations' lowest single-seed
        value that the seed-noise results do not cover: the study has grown since
        ``sweep confirm`` ran."""
        if self.confirmation is None:
            return []
        return self.confirmation.unraced(self.results.outcomes)

    @property
    def classic(self) -> pd.Series | None:
        """The classic trial; its retry where one was lost to a fault (the latest)."""
        rows = self.trials[self.trials["classic"]]
        return rows.iloc[-1] if len(rows) else None

    def trial_dir(self, number: int) -> Path:
        return self.results.trial_dir(int(number))

    @cached_property
    def histories(self) -> dict[int, pd.DataFrame]:
        """history.csv of every trial that has one, by trial number."""
        return self.results.histories()


def prepare(results: StudyResults) -> StudyData:
    """Read a study once: its settings and its trials table, numbers as numbers."""
    df = results.trials.copy()
    for col in NUMERIC:
        df[col] = pd.to_numeric(df[col], errors="coerce")
    for col in ("classic", "diverged"):
        df[col] = df[col].eq(True)  # missing: False
    try:
        confirmation = confirmation_of(results)
    except StudyError as exc:
        return StudyData(results, df, None, str(exc))
    return StudyData(results, df, confirmation)


def completed(df: pd.DataFrame) -> pd.DataFrame:
    """The completed trials of a trials table (those with an objective value)."""
    return df[(df["state"] == "COMPLETE") & df["value"].notna()]


def finished(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["state"] != "RUNNING"]


def failed_or_diverged(df: pd.DataFrame) -> pd.Series:
    """Failed trials (not those lost to a fault and retried: their retry stands in for
    them) and diverged ones."""
    return ((df["state"] == "FAIL") & df["retried_as"].isna()) | df["diverged"]


def ranked(df: pd.DataFrame) -> pd.DataFrame:
    """Trials from the highest validation accuracy down (ties: the lower number first)."""
    return df.sort_values(["value", "number"], ascending=[False, True])


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


def binned(setting: Param, df: pd.DataFrame, bins: Bins, column: str = "value"
           ) -> pd.DataFrame:
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
    y = df["value"].to_numpy(dtype=np.float64)
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

MIN_SPAN = 0.01  # one percentage point: the narrowest accuracy axis
SPREAD_FLOOR = 0.01  # one point: the least interquartile range the outlier cut assumes
OUTLIER_IQRS = 3.0  # values further than this many IQRs below the median fall off the axis


def shown_value(df: pd.DataFrame) -> pd.Series:
    """The accuracy a trial is drawn at: its objective when completed, else its last
    reported one (a pruned trial: when it was stopped)."""
    return df["value"].where(df["state"] == "COMPLETE", df["last_value"])


def robust_range(values) -> tuple[float, float] | None:
    """The lowest and highest of ``values``, leaving out the ones far below the bulk:
    more than `OUTLIER_IQRS` interquartile ranges (at least `SPREAD_FLOOR`) below the
    median, e.g. a trial stopped after one epoch at 0.28 among trials at 0.97-0.99.
    None when no value is finite."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return None
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    cut = med - OUTLIER_IQRS * max(q3 - q1, SPREAD_FLOOR)
    return float(v[v >= cut].min()), float(v.max())


def acc_limits(core, extra=()) -> tuple[float, float]:
    """Limits of an accuracy axis (fractions) zoomed on where the information is.

    ``core`` are the accuracies the axis is for (completed trials, pruned ones that ran
    nearly the whole budget); its outliers below (see `robust_range`) and every value of
    ``extra`` below the lower limit are left below the axis, for the figure to draw on its
    floor. ``extra`` can still raise the upper limit. With no finite ``core``, ``extra``
    takes its place; with nothing at all, 0-1. The data span the axis from 10% of its
    height (room for the floor markers below) to 95%, over at least `MIN_SPAN`."""
    core = np.asarray(core, dtype=np.float64)
    extra = np.asarray(extra, dtype=np.float64)
    core, extra = core[np.isfinite(core)], extra[np.isfinite(extra)]
    if not len(core):
        core, extra = extra, core
    span = robust_range(core)
    if span is None:
        return (0.0, 1.0)
    lo, top = span[0], max(span[1], float(extra.max()) if len(extra) else -np.inf)
    ceiling = max(1.0, top)
    hi = top
    if hi - lo < MIN_SPAN:
        hi = min((hi + lo + MIN_SPAN) / 2, ceiling)
        lo = hi - MIN_SPAN
    total = (hi - lo) / 0.85
    lower = max(lo - 0.10 * total, min(0.0, lo) - 0.02 * total)
    upper = min(hi + 0.05 * total, ceiling + 0.03 * total)
    return float(lower), float(upper)


def trial_acc_limits(df: pd.DataFrame, max_epochs: int = 0) -> tuple[float, float]:
    """`acc_limits` of the completed trials' accuracies (the best of all their epochs),
    the only ones the study figures draw on an accuracy axis; a pruned trial's value
    when stopped is from an earlier epoch and is drawn at a common epoch elsewhere
    (the rungs figure). ``max_epochs`` is accepted for older callers and unused."""
    return acc_limits(df["value"].where(df["state"] == "COMPLETE"))


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
    varied = {p.name: p for p in data.varied}
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


# ---------------------------------------------------------------- support and coverage

MIN_SUPPORT = 3  # trials a bin, a level or a cell needs before the report reads anything in it
GAP = 0.15  # a stretch of at least this share of a range with no completed trial is unexplored


def supported(stats: pd.DataFrame) -> pd.DataFrame:
    """The bins of `binned` holding at least `MIN_SUPPORT` trials."""
    return stats[stats["n"] >= MIN_SUPPORT]


@dataclass(frozen=True)
class Difference:
    """The mean accuracy of bin ``high`` minus that of bin ``low`` (rows of `binned`),
    with a 95% percentile-bootstrap interval (trials resampled within each bin)."""

    low: pd.Series
    high: pd.Series
    diff: float
    lo: float
    hi: float

    @property
    def clear(self) -> bool:
        """Whether the interval excludes zero."""
        return bool(self.lo > 0 or self.hi < 0)


def bin_difference(setting: Param, df: pd.DataFrame, bins: Bins, n_boot: int = 400,
                   seed: int = 0) -> Difference | None:
    """The best against the worst supported bin of a setting; None with fewer than two
    supported bins. The two bins are chosen on the data, so the interval is optimistic:
    the text says so."""
    stats = supported(binned(setting, df, bins))
    if len(stats) < 2:
        return None
    low, high = stats.loc[stats["mean"].idxmin()], stats.loc[stats["mean"].idxmax()]
    idx = setting.bin_of(df[setting.column], bins)
    y = df["value"].to_numpy(dtype=np.float64)
    a = y[(idx == int(low["bin"])) & np.isfinite(y)]
    b = y[(idx == int(high["bin"])) & np.isfinite(y)]
    rng = np.random.default_rng(seed)
    boots = (b[rng.integers(0, len(b), (n_boot, len(b)))].mean(axis=1)
             - a[rng.integers(0, len(a), (n_boot, len(a)))].mean(axis=1))
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return Difference(low, high, float(b.mean() - a.mean()), float(lo), float(hi))


def unexplored(setting: Param, df: pd.DataFrame) -> list[str]:
    """Where a setting has no completed trial: its choices without one, or the stretches
    of its range (on the sampled scale) wider than `GAP` of it with none, e.g.
    ``below 0.21`` or ``0.0011–0.0089``."""
    if not setting.varies:
        return []
    values = df[setting.column].dropna()
    if setting.categorical:
        seen = set(setting.scale(values)[np.isfinite(setting.scale(values))].astype(int))
        return [str(c) for i, c in enumerate(setting.choices) if i not in seen]
    x = np.sort(setting.scale(values))
    x = x[np.isfinite(x)]
    lo, hi = (float(v) for v in setting.scale([setting.low, setting.high]))
    points = np.concatenate([[lo], x, [hi]])
    last = len(points) - 2  # the stretch from the last trial to the range's end
    out = []
    for i, (a, b) in enumerate(zip(points[:-1], points[1:], strict=True)):
        if b - a < GAP * (hi - lo):
            continue
        ua, ub = setting.text(setting.unscale(a)), setting.text(setting.unscale(b))
        # by position, not value: a trial sitting on a bound starts a stretch between trials
        if i == 0 and i == last:
            out.append(f"all of it ({setting.range_text()})")
        elif i == 0:
            out.append(f"below {ub}")
        elif i == last:
            out.append(f"above {ua}")
        else:
            out.append(f"{ua}–{ub}")
    return out


def concentration(setting: Param, df: pd.DataFrame, share: float = 0.8) -> str:
    """``13 of 14 at 128`` when at least ``share`` of the completed trials sit at one
    choice or in one third of the range, else ""."""
    if not setting.varies or df.empty:
        return ""
    bins = setting.bins(3)
    idx = setting.bin_of(df[setting.column], bins)
    n = int((idx >= 0).sum())
    if not n:
        return ""
    counts = np.bincount(idx[idx >= 0], minlength=len(bins))
    b = int(counts.argmax())
    if counts[b] < share * n:
        return ""
    where = "at" if bins.edges is None else "in"
    return f"{counts[b]} of {n} {where} {bins.labels[b]}"


def rung_epochs(data: StudyData, limit: int = 3) -> list[int]:
    """The epochs at which the pruner stopped trials (Hyperband's rungs), the most used
    ones, at most ``limit``, in order: where all trials that got that far can be compared."""
    t = data.trials
    pruned = t[(t["state"] == "PRUNED") & ~t["diverged"] & t["last_epoch"].notna()]
    pruned = pruned[pruned["last_epoch"] < data.max_epochs]
    if pruned.empty:
        return []
    counts = pruned["last_epoch"].astype(int).value_counts()
    return sorted(int(e) for e in counts.index[:limit])


def brackets(data: StudyData) -> dict[int, int]:
    """Each trial's Hyperband bracket, by number (empty for other pruners). Hyperband
    compares a trial only with the trials of its own bracket, so a trial stopped at a rung
    can sit above one that trained on in another bracket. The bracket is Optuna's own
    assignment (a hash of the study name and the trial number), asked of the pruner the
    study runs with; a private method of Optuna's, so any failure gives no brackets."""
    from ..study.samplers import make_pruner

    if data.settings.pruner != "hyperband":
        return {}
    try:
        pruner = make_pruner("hyperband", data.max_epochs)
        study = data.results.study
        pruner._try_initialization(study)  # noqa: SLF001
        return {t.number: int(pruner._get_bracket_id(study, t))  # noqa: SLF001
                for t in data.results.frozen_trials}
    except Exception:  # noqa: BLE001
        return {}


def values_at(data: StudyData, epoch: int) -> pd.Series:
    """Each trial's validation accuracy at ``epoch`` (its intermediate value), by trial
    number; trials that did not reach it are left out."""
    out = {}
    for t in data.results.frozen_trials:
        v = t.intermediate_values.get(epoch)
        if v is not None and np.isfinite(v):
            out[t.number] = float(v)
    return pd.Series(out, dtype=np.float64)

"""The report's words: per-setting summaries, warnings, and the tables.

Tables come back as a header and rows of text, ready for HTML or Markdown.
Accuracies arrive as fractions; `pct`, `points` and `ci` write them in percent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..param import Param, fmt
from . import style as S
from .analysis import (
    MIN_COMPLETED,
    StudyData,
    binned,
    failed_or_diverged,
    finished,
    n_bins,
    ranked,
    wilson,
)
from .importance import Importance

EDGE = 0.075  # the outer share of a range (on the sampled scale) that counts as its edge
FAIL_SHARE = 0.15  # warn when at least this share of finished trials failed or diverged


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    highlight: list[str] | None = None  # per row: "", "best" or "classic"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=self.columns)


def pct(v, digits: int = 2) -> str:
    """A fraction in percent: 0.98765 -> 98.77%."""
    return "–" if v is None or not np.isfinite(v) else f"{v:.{digits}%}"


def points(difference: float, spec: str = "+.2f") -> str:
    """A difference of two fractions in percentage points: 0.0123 -> +1.23 points."""
    return f"{difference * 100:{spec}} points"


def ci(p: float, n: int) -> str:
    """The 95% Wilson interval of an accuracy measured on n images, in percent."""
    lo, hi = wilson(p, n)
    return f"95% CI {lo * 100:.1f}–{hi * 100:.1f}%"


def top_k(n: int) -> int:
    return max(3, math.ceil(0.2 * n))


def top_trials(done: pd.DataFrame) -> pd.DataFrame:
    """The best 20% (at least 3) of the completed trials, best first."""
    return ranked(done).head(min(top_k(len(done)), len(done)))


def values_text(s: Param, rows: pd.DataFrame) -> str:
    """Where a setting lies in some trials: ``64 (3×), 128 (1×)`` or ``0.01–0.3``."""
    if s.categorical:
        counts = rows[s.column].map(fmt).value_counts()
        return ", ".join(f"{v} ({c}×)" for v, c in counts.items())
    lo, hi = fmt(rows[s.column].min()), fmt(rows[s.column].max())
    return lo if lo == hi else f"{lo}–{hi}"


# ------------------------------------------------------------------ per setting

def setting_summaries(data: StudyData, imp: Importance | None) -> Table:
    """Per setting, in words: the best range found and how much accuracy changes."""
    done = data.completed
    ranked = imp.ranking() if imp is not None else []
    table = imp.table if imp is not None else pd.DataFrame(columns=["setting", "method"])
    rows = []
    for s in sorted(data.params, key=lambda s: (not s.varies, _rank(ranked, s.name))):
        importance = "–"
        t = table[(table["setting"] == s.name) & (table["method"] == "PED-ANOVA")]
        if len(t):
            r = t.iloc[0]
            importance = (f"{r['importance']:.0%} "
                          f"({r['low']:.0%}–{r['high']:.0%})")
        rows.append([s.name, s.range_text(), importance, *_words(s, done)])
    return Table(["Setting", "Range searched", "Importance (PED-ANOVA; range over resamples)",
                  "Best range found", "How much accuracy changes across the range"], rows,
                 caption="Settings ordered by importance. The best range is where the top "
                         "20% of completed trials (at least 3) lie.")


def _rank(ranked: list[str], name: str) -> int:
    return ranked.index(name) if name in ranked else len(ranked)


def _words(s: Param, done: pd.DataFrame) -> list[str]:
    if not s.varies:
        return [f"fixed at {s.fixed_text()}", "never varied: no effect measurable"]
    values = done[s.column].dropna()
    if len(values) == 0:
        return ["no completed trial yet", "–"]
    if values.nunique() < 3 and not (s.categorical and values.nunique() == len(s.choices)):
        return [_best_range(s, done), f"too few distinct values ({values.nunique()}) among "
                f"{len(values)} completed trials to tell"]
    stats = binned(s, done, s.bins(n_bins(len(done), 3, 6)))
    st = stats[stats["n"] > 0]
    if st.empty:
        return [_best_range(s, done), "–"]
    lo, hi = st.loc[st["mean"].idxmin()], st.loc[st["mean"].idxmax()]
    change = (f"mean accuracy {pct(lo['mean'], 1)} in {lo['label']} (n={lo['n']}) up to "
              f"{pct(hi['mean'], 1)} in {hi['label']} (n={hi['n']}): "
              f"{points(hi['mean'] - lo['mean'], '.1f')}")
    if len(done) < MIN_COMPLETED:
        change += " (few trials: rough)"
    return [_best_range(s, done), change]


def _best_range(s: Param, done: pd.DataFrame) -> str:
    top = top_trials(done)
    where = (f"among the top {len(top)}" if s.categorical else f"(top {len(top)})")
    return f"{values_text(s, top)} {where}; best trial: {fmt(top.iloc[0][s.column])}"


# ------------------------------------------------------------------ warnings

def warnings_for(data: StudyData, imp: Importance | None) -> list[str]:
    out = []
    c = data.counts
    done = data.completed
    if c.running:
        out.append(f"The study is still running ({c.running} trial"
                   f"{'s' if c.running != 1 else ''} running): this report covers the "
                   f"{c.finished} finished trials. Run `python -m sweep report --study "
                   f"{data.name}` again later to update it.")
    if c.finished == 0:
        out.append("No trial has finished yet: there is nothing to analyse.")
    elif len(done) == 0:
        out.append(f"None of the {c.finished} finished trials completed ({c.pruned} pruned, "
                   f"{c.failed} failed): there is no accuracy to compare settings by.")
    elif len(done) < MIN_COMPLETED:
        out.append(f"Only {len(done)} completed trial{'s' if len(done) != 1 else ''} (fewer "
                   f"than {MIN_COMPLETED}): the effects, trends and importances below are "
                   "anecdotes, not evidence. Run more trials.")
    else:
        for s in data.varied:
            distinct = done[s.column].nunique()
            if distinct < 3 and not (s.categorical and distinct == len(s.choices)):
                out.append(f"{s.name}: only {distinct} distinct value(s) among the completed "
                           "trials, too few for its effect to mean anything.")
    best = data.best
    if best is not None and len(done) >= 3:
        for s in data.varied:
            edge = _edge(s, best[s.column])
            if edge:
                out.append(f"{s.name}: the best trial's value {fmt(best[s.column])} sits at the "
                           f"{edge} edge of the range searched {s.range_text()}; the optimum "
                           "may lie outside it: widen the range if the setting allows.")
    for s in data.params:
        if not s.varies:
            out.append(f"{s.name} never varied (the space fixes it at {s.fixed_text()}): "
                       "it has no measurable effect.")
    bad = int(failed_or_diverged(data.trials).sum())
    if c.finished and bad >= 2 and bad / c.finished >= FAIL_SHARE:
        n_fail = int((data.trials["state"] == "FAIL").sum())
        text = (f"{bad} of {c.finished} finished trials ({bad / c.finished:.0%}) failed "
                f"({n_fail}) or diverged ({bad - n_fail})")
        region = worst_region(data)
        if region:
            text += f"; most of them where {region}"
        out.append(text + ". See the failures table.")
    if imp is not None:
        out.extend(imp.notes)
    return out


def _edge(s: Param, value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if s.categorical and (not s.numeric_choices or len(s.choices) < 3):
        return ""
    p = s.position(value)
    if not np.isfinite(p):
        return ""
    if s.categorical:
        return "lower" if p == 0 else "upper" if p == 1 else ""
    return "lower" if p <= EDGE else "upper" if p >= 1 - EDGE else ""


def failure_table(data: StudyData) -> tuple[Table | None, str]:
    """Failed and diverged trials counted by bins of the setting they concentrate in
    (lr when it was searched); returns the table and the setting's name."""
    df = finished(data.trials)
    bad = failed_or_diverged(df)
    if not bad.any() or not data.varied:
        return None, ""
    s = data.param("lr")
    if s is None or not s.varies:
        s = max(data.varied, key=lambda s: _concentration(s, df, bad)[0])
    bins = s.bins(4)
    idx = s.bin_of(df[s.column], bins)
    looks = (S.COMPLETED, S.PRUNED, S.DIVERGED, S.FAILED)
    rows = []
    for b, label in enumerate(bins.labels):
        m = idx == b
        if m.any():
            rows.append([label, str(int(m.sum())),
                         *(str(int((m & lk.of(df)).sum())) for lk in looks),
                         f"{(m & bad).sum() / m.sum():.0%}"])
    return Table([f"{s.name} bin", "Finished trials", *(lk.word.capitalize() for lk in looks),
                  "Failed or diverged"], rows,
                 caption=f"Failed and diverged trials by {s.name} ({s.unit}"
                         f"{', log bins' if s.log else ''})."), s.name


def _concentration(s: Param, df: pd.DataFrame, bad: pd.Series) -> tuple[float, str]:
    bins = s.bins(4)
    idx = s.bin_of(df[s.column], bins)
    best = (0.0, "")
    for b, label in enumerate(bins.labels):
        m = idx == b
        n_bad = int((m & bad.to_numpy()).sum())
        if n_bad >= 2 and m.sum():
            score = n_bad / m.sum() * n_bad / max(int(bad.sum()), 1)
            if score > best[0]:
                best = (score, f"{s.name} is in {label} ({n_bad} of {int(m.sum())} trials there "
                               "failed or diverged)")
    return best


def worst_region(data: StudyData) -> str:
    df = finished(data.trials)
    bad = failed_or_diverged(df)
    found = [_concentration(s, df, bad) for s in data.varied]
    found = [f for f in found if f[0] > 0]
    return max(found)[1] if found else ""


# ------------------------------------------------------------------ tables

def top_table(data: StudyData, k: int = 10) -> Table | None:
    done = data.completed
    if done.empty:
        return None
    top = ranked(done).head(k)
    names = [s.name for s in data.params]
    rows, marks = [], []
    for rank, (_, r) in enumerate(top.iterrows(), 1):
        label = str(int(r["number"])) + (" (classic)" if r["classic"] else "")
        rows.append([str(rank), label, pct(r["value"]), pct(r["test_accuracy"]),
                     *[fmt(r[s.column]) for s in data.params], _int(r["epochs_trained"]),
                     _secs(r["train_seconds"]), _count(r["parameter_count"])])
        marks.append("best" if rank == 1 else "classic" if r["classic"] else "")
    return Table(["Rank", "Trial", "Val. accuracy", "Test accuracy", *names, "Epochs",
                  "Train time", "Parameters"], rows,
                 caption=f"The {len(top)} best of {len(done)} completed trials by validation "
                         "accuracy.", highlight=marks)


def best_vs_classic(data: StudyData, val_n: int | None, test_n: int | None) -> Table | None:
    best, classic = data.best, data.classic
    if best is None:
        return None
    cols = [("Best", best)]
    if classic is not None and int(classic["number"]) != int(best["number"]):
        cols.append(("Classic", classic))
    trials = [r for _, r in cols]
    header = ["", *[f"{name} (trial {int(r['number'])}, {S.outcome(r)})" for name, r in cols]]
    blank = [""] if len(cols) == 2 else []
    if len(cols) == 2:
        header.append("Best − classic")
    val = [r["value"] if r["state"] == "COMPLETE" else np.nan for r in trials]
    test = [r["test_accuracy"] for r in trials]
    seconds = [r["train_seconds"] for r in trials]
    size = [r["parameter_count"] for r in trials]
    val_cells = [_acc_cell(v, val_n, r) for v, r in zip(val, trials, strict=True)]
    rows = [["Validation accuracy", *val_cells, *_diff(val, _gap)],
            ["Test accuracy", *[_acc_cell(v, test_n) for v in test], *_diff(test, _gap)],
            ["Training time", *map(_secs, seconds), *_diff(seconds, _ratio)],
            ["Parameters", *map(_count, size), *_diff(size, _ratio)],
            ["Epochs trained", *[_int(r["epochs_trained"]) for r in trials], *blank]]
    rows += [[s.name, *[fmt(r[s.column]) for r in trials], *blank] for s in data.params]
    caption = ("The best trial beside the classic configuration (trial 0 of every study). "
               "Intervals are binomial (Wilson) over the validation and test images. The best "
               "validation accuracy of many trials is optimistic; the test accuracy is not.")
    if classic is None:
        caption += " This study has no classic trial."
    elif len(cols) == 1:
        caption += " The classic configuration is the best trial."
    return Table(header, rows, caption=caption)


def _acc_cell(v: float, n: int | None, trial: pd.Series | None = None) -> str:
    """An accuracy with its interval; for a validation accuracy a trial never reached,
    the last one it reported (``trial`` given)."""
    if not np.isfinite(v):
        if trial is not None and np.isfinite(trial["last_value"]):
            return (f"{pct(trial['last_value'])} when stopped at epoch "
                    f"{_int(trial['last_epoch'])}")
        return "–"
    return f"{pct(v)} ({ci(v, n)}, n={n:,})" if n else pct(v)


def _diff(values: list[float], show) -> list[str]:
    """The best − classic cell of a row (none without a classic column)."""
    if len(values) < 2:
        return []
    a, b = values
    return [show(a, b) if np.isfinite(a) and np.isfinite(b) else "–"]


def _gap(a: float, b: float) -> str:
    return points(a - b)


def _ratio(a: float, b: float) -> str:
    return f"×{a / b:.2f}" if b else "–"


def confused_table(pairs: list[dict]) -> Table | None:
    if not pairs:
        return None
    return Table(["True class", "Predicted as", "Test images"],
                 [[str(p["true"]), str(p["predicted"]), str(p["count"])] for p in pairs],
                 caption="The best model's most frequent mistakes on the test set.")


def _int(v) -> str:
    return "–" if v is None or not np.isfinite(v) else str(int(v))


def _secs(v) -> str:
    if v is None or not np.isfinite(v):
        return "–"
    return f"{v:.2f} s" if v < 10 else f"{v:.1f} s" if v < 1000 else f"{v:,.0f} s"


def _count(v) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{int(v):,}"

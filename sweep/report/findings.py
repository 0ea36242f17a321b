"""The report's words: per-setting summaries, warnings, and the tables.

Tables come back as a header and rows of text, ready for HTML or Markdown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..param import Param, fmt
from .analysis import MIN_COMPLETED, StudyData, binned, n_bins, wilson
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
    return "–" if v is None or not np.isfinite(v) else f"{v:.{digits}f}%"


def top_k(n: int) -> int:
    return max(3, math.ceil(0.2 * n))


# ------------------------------------------------------------------ per setting

def setting_summaries(data: StudyData, imp: Importance | None) -> Table:
    """Per setting, in words: the best range found and how much accuracy changes."""
    done = data.completed
    ranked = imp.ranking() if imp is not None else []
    table = imp.table if imp is not None else pd.DataFrame(columns=["setting", "method"])
    rows = []
    for s in sorted(data.settings, key=lambda s: (not s.varies, _rank(ranked, s.name))):
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
    spread = hi["mean"] - lo["mean"]
    change = (f"mean accuracy {pct(lo['mean'], 1)} in {lo['label']} (n={lo['n']}) up to "
              f"{pct(hi['mean'], 1)} in {hi['label']} (n={hi['n']}): "
              f"{spread:.1f} points")
    if len(done) < MIN_COMPLETED:
        change += " (few trials: rough)"
    return [_best_range(s, done), change]


def _best_range(s: Param, done: pd.DataFrame) -> str:
    k = min(top_k(len(done)), len(done))
    top = done.sort_values(["acc", "number"], ascending=[False, True]).head(k)
    best = top.iloc[0][s.column]
    if s.categorical:
        counts = top[s.column].map(fmt).value_counts()
        listed = ", ".join(f"{v} ({c}×)" for v, c in counts.items())
        return f"{listed} among the top {k}; best trial: {fmt(best)}"
    lo, hi = fmt(top[s.column].min()), fmt(top[s.column].max())
    if lo == hi:
        return f"{lo} (top {k}); best trial: {fmt(best)}"
    return f"{lo}–{hi} (top {k}); best trial: {fmt(best)}"


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
    for s in data.settings:
        if not s.varies:
            out.append(f"{s.name} never varied (the space fixes it at {s.fixed_text()}): "
                       "it has no measurable effect.")
    bad = int((data.trials["kind"].isin(["failed", "diverged"])).sum())
    if c.finished and bad >= 2 and bad / c.finished >= FAIL_SHARE:
        n_fail = int((data.trials["kind"] == "failed").sum())
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
    df = data.trials[data.trials["kind"] != "running"]
    bad = df["kind"].isin(["failed", "diverged"])
    if not bad.any() or not data.varied:
        return None, ""
    s = data.setting("lr")
    if s is None or not s.varies:
        s = max(data.varied, key=lambda s: _concentration(s, df, bad)[0])
    bins = s.bins(4)
    idx = s.bin_of(df[s.column], bins)
    rows = []
    for b, label in enumerate(bins.labels):
        m = idx == b
        n = int(m.sum())
        if n == 0:
            continue
        f = int((m & (df["kind"] == "failed")).sum())
        d = int((m & (df["kind"] == "diverged")).sum())
        p = int((m & (df["kind"] == "pruned")).sum())
        rows.append([label, str(n), str(int((m & (df["kind"] == "completed")).sum())), str(p),
                     str(d), str(f), f"{(f + d) / n:.0%}"])
    return Table([f"{s.name} bin", "Finished trials", "Completed", "Pruned", "Diverged",
                  "Failed", "Failed or diverged"], rows,
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
    df = data.trials[data.trials["kind"] != "running"]
    bad = df["kind"].isin(["failed", "diverged"])
    found = [_concentration(s, df, bad) for s in data.varied]
    found = [f for f in found if f[0] > 0]
    return max(found)[1] if found else ""


# ------------------------------------------------------------------ tables

def top_table(data: StudyData, k: int = 10) -> Table | None:
    done = data.completed
    if done.empty:
        return None
    top = done.sort_values(["acc", "number"], ascending=[False, True]).head(k)
    names = [s.name for s in data.settings]
    rows, marks = [], []
    for rank, (_, r) in enumerate(top.iterrows(), 1):
        label = str(int(r["number"])) + (" (classic)" if r["classic"] else "")
        rows.append([str(rank), label, pct(r["acc"]), pct(r["test_acc"]),
                     *[fmt(r[f"params_{n}"]) for n in names], _int(r["epochs_trained"]),
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
    header = ["", *[f"{name} (trial {int(r['number'])}, {r['kind']})" for name, r in cols]]
    if len(cols) == 2:
        header.append("Best − classic")

    def acc_cell(r, col, n):
        v = r[col]
        if not np.isfinite(v):
            if col == "acc" and np.isfinite(r["last_acc"]):
                return f"{pct(r['last_acc'])} when stopped at epoch {_int(r['last_epoch'])}"
            return "–"
        if n:
            lo, hi = wilson(v / 100, n)
            return f"{pct(v)} (95% CI {lo * 100:.1f}–{hi * 100:.1f}%, n={n:,})"
        return pct(v)

    def diff(col, kind="num"):
        if len(cols) < 2:
            return []
        a, b = cols[0][1][col], cols[1][1][col]
        if not (np.isfinite(a) and np.isfinite(b)):
            return ["–"]
        if kind == "acc":
            return [f"{a - b:+.2f} points"]
        if kind == "ratio":
            return [f"×{a / b:.2f}" if b else "–"]
        return [f"{a - b:+g}"]

    rows = [["Validation accuracy", *[acc_cell(r, "acc", val_n) for _, r in cols],
             *diff("acc", "acc")],
            ["Test accuracy", *[acc_cell(r, "test_acc", test_n) for _, r in cols],
             *diff("test_acc", "acc")],
            ["Training time", *[_secs(r["train_seconds"]) for _, r in cols],
             *diff("train_seconds", "ratio")],
            ["Parameters", *[_count(r["parameter_count"]) for _, r in cols],
             *diff("parameter_count", "ratio")],
            ["Epochs trained", *[_int(r["epochs_trained"]) for _, r in cols],
             *([""] if len(cols) == 2 else [])]]
    for s in data.settings:
        rows.append([s.name, *[fmt(r[s.column]) for _, r in cols],
                     *([""] if len(cols) == 2 else [])])
    caption = ("The best trial beside the classic configuration (trial 0 of every study). "
               "Intervals are binomial (Wilson) over the validation and test images. The best "
               "validation accuracy of many trials is optimistic; the test accuracy is not.")
    if classic is None:
        caption += " This study has no classic trial."
    elif len(cols) == 1:
        caption += " The classic configuration is the best trial."
    return Table(header, rows, caption=caption)


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

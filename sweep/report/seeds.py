"""Seed noise: what ``python -m sweep confirm`` found, as the report shows it.

``sweep confirm`` re-trains the study's top configurations and the classic one with
the same seeds and writes ``confirm/confirm.json`` (`sweep.confirm.summarize`), read
as `analysis.Confirmation`. Here it becomes the section's two tables, the verdict in
words (every sentence says how many seeds stand behind it) and its figure. Accuracies
are fractions; the text and the axis show percent.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from . import style as S
from .analysis import Confirmation, StudyData
from .findings import (
    Table,
    confirm_command,
    pct,
    points,
    secs,
    seeds_behind,
    seeds_text,
    standing,
    trial_list,
)

SINGLE_SEED_MARKER = "P"  # the trial's value in the sweep: one seed, at its best epoch
SINGLE_SEED_COLOR = S.NEGATIVE_COLOR


def _finite(v: Any) -> bool:
    return v is not None and math.isfinite(v)


def _ci(iv: dict[str, Any]) -> str:
    """A 95% t-interval of accuracies: ``98.31%–98.52%``."""
    if not (_finite(iv.get("low")) and _finite(iv.get("high"))):
        return "none from one seed"
    return f"{pct(iv['low'])}–{pct(iv['high'])}"


def _pts(v: Any) -> str:
    """A difference of fractions in points, signed: ``+0.12``."""
    return f"{v * 100:+.2f}" if _finite(v) else "–"


def _p(v: Any) -> str:
    return f"{v:.3g}" if _finite(v) else "–"


def _tag(conf: Confirmation, trial: int) -> str:
    row = conf.row(trial)
    return " (classic)" if row is not None and row.get("classic") else ""


# ------------------------------------------------------------------ words

def intro(conf: Confirmation) -> str:
    classic = conf.classic
    added = (" and the classic configuration" if classic is not None
             and int(classic["trial"]) not in conf.family else "")
    return (f"`python -m sweep confirm` re-trained the top {len(conf.family)} configurations "
            f"of the sweep{added} with the same {seeds_text(conf.seeds)} each (seed s is the "
            "same for every configuration, so comparisons are paired by seed), for all "
            "epochs and without pruning. The measure is the best-epoch validation accuracy; "
            "the test set chooses nothing. The study's storage is untouched.")


def glance(data: StudyData) -> str:
    """The seed-noise verdict in one sentence, or that the ranking is unchecked."""
    conf = data.confirmation
    if conf is None:
        return ("The ranking of the top trials has not been checked against seed noise: each "
                "trial trained once, with one seed, and the best is the highest of many "
                "trials' best epochs, an optimistic pick whose lead may be within the noise "
                f"between seeds. `{confirm_command(data.name)}` re-trains the top 5 trials "
                "and the classic configuration over 5 seeds each and says which are tied "
                "with the best.")
    b = conf.row(conf.best_mean)["best_val"]
    others = [n for n in conf.tied if n != conf.best_mean]
    text = (f"Seed noise, over {seeds_behind(conf, conf.tied)}: the best mean is trial "
            f"{conf.best_mean}'s ({pct(b['mean'])}); "
            + (f"tied with it: {trial_list(others)}" if others
               else "no other top trial is tied with it")
            + f"; recommended: trial {conf.recommended}{_tag(conf, conf.recommended)}")
    vs = conf.summary.get("versus_classic")
    if vs is not None:
        d = vs["diff"]
        text += (f", {points(d['mean'])} against the classic configuration (trial "
                 f"{vs['other']}; paired over {seeds_text(d['n'])}, t-test p = {_p(vs['t_p'])}, "
                 "unadjusted, on the seeds that chose it)")
    return text + ". See Seed noise."


def verdict(conf: Confirmation) -> list[str]:
    """Which are tied, which is recommended and by which rule, against the classic one,
    the test accuracies, and how optimistic the sweep's pick was; each with its seeds."""
    out = [_best_sentence(conf), *_tied_sentences(conf), _recommended_sentence(conf),
           _classic_sentence(conf), _test_sentence(conf), _optimism_sentence(conf)]
    return [s for s in out if s]


def _best_sentence(conf: Confirmation) -> str:
    b = conf.row(conf.best_mean)["best_val"]
    return (f"Best mean over {seeds_text(b['n'])}: trial {conf.best_mean}"
            f"{_tag(conf, conf.best_mean)}, best-epoch validation accuracy {pct(b['mean'])} "
            f"(sd {pct(b['sd'])}; 95% t-interval {_ci(b)}).")


def _tied_sentences(conf: Confirmation) -> list[str]:
    comps = conf.comparisons
    if not comps:
        return [f"Only one top configuration was re-trained ({seeds_text(conf.seeds)}): "
                "nothing to be tied with it (`--top K` re-trains more)."]
    paired = [int(c["diff"]["n"]) for c in comps]
    rule = (f"paired t-test over {seeds_text(paired)}, Holm-adjusted over the {len(comps)} "
            "comparisons, family-wise 5%")
    tied = [int(c["other"]) for c in comps if not c["distinguishable"]]
    apart = [int(c["other"]) for c in comps if c["distinguishable"]]
    out = []
    if tied:
        out.append(f"Tied with it (not distinguishable; {rule}): {trial_list(tied)}.")
        if apart:
            out.append(f"Distinguishable from it, below it ({rule}): {trial_list(apart)}.")
    else:
        out.append(f"No other top configuration is tied with it: {trial_list(apart)} "
                   f"{'is' if len(apart) == 1 else 'are'} distinguishable ({rule}).")
    n = min(paired)
    floor = 2.0 / 2 ** n if n else math.nan
    if floor >= 0.05:
        out.append(f"With {seeds_text(n)} the exact sign-flip p can never fall below "
                   f"{floor:.3g}: it is shown beside the t-test as a check, not used to decide.")
    return out


def _recommended_sentence(conf: Confirmation) -> str:
    rec = conf.recommended
    row = conf.row(rec)
    return (f"Recommended: trial {rec}{_tag(conf, rec)}, by the rule \"{conf.summary['rule']}\" "
            f"({len(conf.tied)} tied; trial {rec} trains in {secs(row['train_seconds'])} per "
            f"run on average over {seeds_text(row['best_val']['n'])}).")


def _classic_sentence(conf: Confirmation) -> str:
    classic, rec = conf.classic, conf.recommended
    if classic is None:
        return (f"No classic configuration was re-trained with the {seeds_text(conf.seeds)} "
                "(the study has no completed classic trial): no comparison with it.")
    c = int(classic["trial"])
    if c == rec:
        return (f"The recommended configuration is the classic one (trial {c}): over "
                f"{seeds_text(classic['best_val']['n'])}, no top trial of the sweep is "
                "distinguishably better.")
    vs = conf.summary.get("versus_classic")
    if vs is None:
        return f"The classic configuration (trial {c}) has no finished re-run: no comparison."
    d = vs["diff"]
    word = ("not distinguishable from" if not vs["distinguishable"]
            else "better than" if d["mean"] > 0 else "worse than")
    return (f"Trial {rec} against the classic configuration (trial {c}), paired over "
            f"{seeds_text(d['n'])}: {points(d['mean'])} (95% t-interval {_pts(d['low'])} to "
            f"{_pts(d['high'])} points; paired t-test p = {_p(vs['t_p'])}, sign-flip p = "
            f"{_p(vs['sign_flip_p'])}): {word} the classic configuration at 5%. "
            f"Trial {rec} was chosen on these same seeds and this test is outside the Holm "
            "family, so its p-value is unadjusted and optimistic; more seeds (a larger "
            "`sweep confirm --seeds`) would narrow the interval.")


def _test_sentence(conf: Confirmation) -> str:
    tests = conf.summary.get("test_accuracy") or {}
    order = sorted(tests, key=lambda t: (int(t) != conf.recommended, int(t)))
    parts = [f"trial {t}{_tag(conf, int(t))} {pct(tests[t]['mean'])} (sd "
             f"{pct(tests[t]['sd'])}, {seeds_text(tests[t]['n'])})" for t in order]
    if not parts:
        return ""
    return ("Test accuracy, for the recommended and the classic configuration only (the test "
            "set never chooses), mean over seeds: " + "; ".join(parts) + ".")


def _optimism_sentence(conf: Confirmation) -> str:
    rows = [r for r in map(conf.row, conf.family)
            if r is not None and _finite(r.get("original_value"))]
    if not rows:
        return ""
    pick = max(rows, key=lambda r: (r["original_value"], -int(r["trial"])))
    b, opt = pick["best_val"], pick["optimism"]
    how = (f"optimistic by {points(opt, '.2f')}" if opt >= 0
           else f"below the mean by {points(-opt, '.2f')}")
    return (f"The sweep's pick, trial {pick['trial']} at {pct(pick['original_value'])} with one "
            f"seed, averages {pct(b['mean'])} over {seeds_text(b['n'])}: its single-seed value "
            f"was {how}" + ("" if int(pick["trial"]) == conf.best_mean
                            else f", and its mean is not the best (trial {conf.best_mean}'s is)")
            + ".")


# ------------------------------------------------------------------ tables

def configuration_table(conf: Confirmation) -> Table:
    rows, marks = [], []
    for r in conf.rows:
        n = int(r["trial"])
        b, f = r["best_val"], r["final_val"]
        seeds = str(b["n"]) + (f" (+{r['diverged_seeds']} diverged)"
                               if r.get("diverged_seeds") else "")
        optimism = points(r["optimism"]) if _finite(r.get("optimism")) else "–"
        rows.append([f"{n}{_tag(conf, n)}", pct(b["mean"]), pct(b["sd"]), _ci(b),
                     pct(f["mean"]), pct(f["sd"]), _ci(f), seeds,
                     pct(r.get("original_value")), optimism,
                     secs(r["train_seconds"]), standing(conf, n)])
        marks.append("best" if n == conf.recommended else "classic" if r.get("classic")
                     else "")
    return Table(["Trial", "Best-epoch val. mean", "Best-epoch sd", "Best-epoch 95% t-interval",
                  "Final-epoch val. mean", "Final-epoch sd", "Final-epoch 95% t-interval",
                  "Seeds", "Single-seed value (sweep)", "Optimism", "Train time (mean)",
                  "Verdict"], rows, highlight=marks, caption=(
        f"Each configuration over the seeds it was re-trained with (up to "
        f"{seeds_text(conf.seeds)}, the same for all): mean and standard deviation of the "
        "best-epoch validation accuracy (what the sweep ranks by) and of the final-epoch one, "
        "each with a 95% Student-t interval for the mean. \"Single-seed value\" is the "
        "trial's objective in the sweep; the optimism is that value minus the mean over "
        "seeds. Highlighted: the recommended configuration (green), the classic one (pink)."))


def comparison_table(conf: Confirmation) -> Table | None:
    comps = conf.comparisons
    if not comps:
        return None
    b = conf.best_mean
    rows, marks = [], []
    for c in comps:
        n, d = int(c["other"]), c["diff"]
        rows.append([f"{n}{_tag(conf, n)}", _pts(d["mean"]),
                     f"{_pts(d['low'])} to {_pts(d['high'])}", str(d["n"]), _p(c["t_p"]),
                     _p(c["holm_p"]), _p(c["sign_flip_p"]),
                     "distinguishable" if c["distinguishable"] else "tied with the best"])
        marks.append("" if c["distinguishable"] else "best")
    return Table(["Trial", f"Trial {b} − trial (points)", "95% t-interval (points)",
                  "Paired seeds", "Paired t-test p", "Holm-adjusted p", "Sign-flip p",
                  "Verdict"], rows, highlight=marks, caption=(
        f"The best mean (trial {b}) against each other top configuration, paired by seed: "
        "the mean of the per-seed differences in percentage points with its 95% t-interval, "
        f"and the test: {conf.summary.get('test', 'paired t-test, Holm-adjusted')}. Tied "
        "(highlighted) when the Holm-adjusted p is not below 5%."))


# ------------------------------------------------------------------ the figure

def figure(conf: Confirmation) -> Figure | None:
    """Each configuration's seeds as points, its mean with the 95% t-interval, its
    single-seed value in the sweep; the tied set shaded, the classic mean as a line."""
    rows = [r for r in conf.rows if r.get("per_seed")]
    if not rows:
        return None
    classic = conf.classic
    with S.style():
        fig = S.new_figure(max(8.5, 1.3 * len(rows) + 3.5), 5.6)
        ax = fig.subplots()
        for x, row in enumerate(rows):
            _configuration(ax, x, row, tied=int(row["trial"]) in conf.tied)
        if classic is not None and _finite(classic["best_val"]["mean"]):
            ax.axhline(classic["best_val"]["mean"], color=S.CLASSIC_COLOR, linestyle="--",
                       linewidth=1.6, zorder=1)
        ax.set_xticks(range(len(rows)), [_tick(conf, int(r["trial"])) for r in rows])
        ax.set_xlim(-0.6, len(rows) - 0.4)
        ax.grid(False, axis="x")
        added = classic is not None and int(classic["trial"]) not in conf.family
        ax.set_xlabel("Configuration (the top ones by mean over seeds"
                      + (", then the classic one)" if added else ")"))
        ax.set_ylabel("Best-epoch validation accuracy (%)")
        S.percent_axis(ax.yaxis)
        fig.legend(handles=_handles(classic), loc="outside lower center", ncol=2,
                   frameon=False)
        ns = [int(r["best_val"]["n"]) for r in rows]
        fig.suptitle(f"Seed noise: each configuration re-trained with {seeds_text(ns)}\n"
                     "(best-epoch validation accuracy, the same seeds for all)")
    return fig


def _configuration(ax, x: int, row: dict[str, Any], tied: bool) -> None:
    values = [v for _, v in sorted(row["per_seed"].items(), key=lambda kv: int(kv[0]))]
    if tied:
        ax.axvspan(x - 0.45, x + 0.45, color=S.BEST_COLOR, alpha=0.12, linewidth=0, zorder=0)
    spread = np.linspace(-0.1, 0.1, len(values)) if len(values) > 1 else np.zeros(1)
    ax.scatter(x - 0.14 + spread, values, s=32, color=S.COMPLETED.color, edgecolors="white",
               linewidths=0.5, alpha=0.9, zorder=3, label="_seeds")
    b = row["best_val"]
    if _finite(b.get("low")):
        ax.errorbar([x + 0.16], [b["mean"]], yerr=[[b["mean"] - b["low"]], [b["high"] - b["mean"]]],
                    fmt="D", color="black", markersize=6, capsize=5, linewidth=1.6, zorder=4)
    else:
        ax.scatter([x + 0.16], [b["mean"]], marker="D", color="black", s=36, zorder=4,
                   label="_mean")
    if _finite(row.get("original_value")):
        ax.scatter([x + 0.16], [row["original_value"]], marker=SINGLE_SEED_MARKER, s=120,
                   color=SINGLE_SEED_COLOR, edgecolors="black", linewidths=0.7, zorder=5,
                   label="_single_seed")


def _tick(conf: Confirmation, trial: int) -> str:
    roles = [w for w, on in (("classic", _tag(conf, trial)), ("best mean", trial == conf.best_mean),
                             ("recommended", trial == conf.recommended)) if on]
    return "\n".join([f"trial {trial}", *roles])


def _handles(classic: dict[str, Any] | None) -> list:
    out = [Line2D([], [], linestyle="none", marker="o", markersize=6, color=S.COMPLETED.color,
                  label="one seed (re-run)"),
           Line2D([], [], color="black", marker="D", markersize=6,
                  label="mean over seeds, 95% t-interval"),
           Line2D([], [], linestyle="none", marker=SINGLE_SEED_MARKER, markersize=10,
                  color=SINGLE_SEED_COLOR, markeredgecolor="black",
                  label="single-seed value in the sweep (what it ranked by)"),
           Patch(color=S.BEST_COLOR, alpha=0.12, label="tied with the best mean")]
    if classic is not None and _finite(classic["best_val"]["mean"]):
        out.append(Line2D([], [], color=S.CLASSIC_COLOR, linestyle="--", linewidth=1.6,
                          label=f"classic configuration (trial {classic['trial']}): mean over "
                                f"{seeds_text(classic['best_val']['n'])}"))
    return out

"""Seed noise: what ``python -m sweep confirm`` found, as the report shows it.

``sweep confirm`` races the study's near-best configurations and the classic one over
paired seeds and writes ``confirm/confirm.json`` (`sweep.commands.confirm.summarize`),
read as `study.confirmations.Confirmation`. Here it becomes the section's tables (accuracy against
cost, with each configuration's verdict; the race round by round), the verdict in words
(every sentence says how many seeds stand behind it) and its figure. Accuracies are
fractions; the text and the axis show percent.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..study.confirmations import Confirmation
from . import style as S
from .analysis import StudyData
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
SHORT_VERDICT = {"equivalent to the best within the margin": "equivalent within the margin",
                 "worse": "worse", "not shown different at this power":
                 "not shown different at this power"}


def _finite(v: Any) -> bool:
    return v is not None and math.isfinite(v)


def _ci(iv: dict[str, Any]) -> str:
    """A 95% t-interval of accuracies: ``98.31%–98.52%``."""
    if not (_finite(iv.get("low")) and _finite(iv.get("high"))):
        return "none from one seed"
    return f"{pct(iv['low'])}–{pct(iv['high'])}"


def _pts(v: Any, decimals: int = 2) -> str:
    """A difference of fractions in points, signed: ``+0.12``."""
    return f"{v * 100:+.{decimals}f}" if _finite(v) else "–"


def _tag(conf: Confirmation, trial: int) -> str:
    row = conf.row(trial)
    return " (classic)" if row is not None and row.get("classic") else ""


def _margin(conf: Confirmation) -> str:
    return f"{conf.margin * 100:.2g} points"


# ------------------------------------------------------------------ words

def intro(conf: Confirmation) -> str:
    s = conf.summary
    cand = s["candidates"]
    split = s.get("split")
    drew = (f"its own {split['val']:,} validation images from the {split['pool']:,} "
            if isinstance(split, dict) else "its own validation images from the ")
    resplit = (f" Each seed also drew {drew}training+validation images (`--resplit`; the "
               "test set untouched)." if s.get("resplit") else "")
    return (f"`python -m sweep confirm` raced the configurations whose single-seed value lay "
            f"within {cand['window'] * 100:.2f} points of the leader's ({cand['within']:g} "
            f"standard deviations of a paired single-seed difference), those the pruner "
            f"stopped at its last rung judged there, and the classic configuration: "
            f"{len(conf.family)} in all (at most {cand['max_candidates']})"
            + (f"; left out by that cap, though within the window: "
               f"{trial_list([int(c['trial']) for c in cand['left_out']])}, which the best "
               "set's guarantee does not cover" if cand.get("left_out") else "")
            + f". Every one trained "
            f"with the same {seeds_text(s['looks'][0])} first (seed s is the same for every "
            f"configuration, so comparisons are paired by seed), for all epochs and without "
            f"pruning; at each look the configurations shown worse stopped and the others went "
            f"on, to {seeds_text(conf.seeds)}. The measure is the best-epoch validation "
            f"accuracy; the test set chooses nothing. The study's storage is untouched."
            + resplit)


def glance(data: StudyData) -> str:
    """The seed-noise verdict in one sentence, or that the ranking is unchecked."""
    conf = data.confirmation
    if conf is None:
        return ("The ranking of the top trials has not been checked against seed noise: each "
                "trial trained once, with one seed, and the best is the highest of many "
                "trials' best epochs, an optimistic pick whose lead may be within the noise "
                f"between seeds. `{confirm_command(data)}` races the near-best "
                "configurations and the classic one over paired seeds and names the best set.")
    b = conf.row(conf.best_mean)["best_val"]
    others = [n for n in conf.tied if n != conf.best_mean]
    text = (f"Seed noise, over {seeds_behind(conf, conf.tied)}: the best mean is trial "
            f"{conf.best_mean}'s ({pct(b['mean'])}); "
            + (f"the best set also holds {trial_list(others)} (of the {len(conf.family)} "
               "configurations raced)" if others
               else "every other configuration raced is shown worse")
            + f"; recommended: trial {conf.recommended}{_tag(conf, conf.recommended)}")
    h = conf.holdout
    if "mean" in h:
        interval = (f", 95% t-interval {points(h['low'])} to {points(h['high'])}"
                    if h.get("low") is not None and h.get("high") is not None else "")
        small = abs(h["mean"]) < conf.margin
        text += (f", {points(h['mean'])} against the classic configuration on "
                 f"{seeds_text(h['n'])} that chose nothing ({h['verdict']}{interval}"
                 + (f"; the estimate, not the interval, is below the "
                    f"{conf.margin * 100:g}-point margin" if small else "")
                 + ")")
    return text + ". See Seed noise."


def verdict(conf: Confirmation) -> list[str]:
    """The best set, the equivalence verdicts, the recommendation and its rule, the
    fresh-seed comparison with the classic one, the test accuracies, the optimism of the
    sweep's pick, the pairing and the guarantee; each with its seeds."""
    out = [_best_sentence(conf), _set_sentence(conf), _race_sentence(conf),
           _recommended_sentence(conf), _classic_sentence(conf), _test_sentence(conf),
           _optimism_sentence(conf), _pairing_sentence(conf),
           f"What this guarantees: {conf.summary['guarantee']}"]
    return [s for s in out if s]


def _best_sentence(conf: Confirmation) -> str:
    b = conf.row(conf.best_mean)["best_val"]
    return (f"Best mean over {seeds_text(b['n'])}: trial {conf.best_mean}"
            f"{_tag(conf, conf.best_mean)}, best-epoch validation accuracy {pct(b['mean'])} "
            f"(sd {pct(b['sd'])}; 95% t-interval {_ci(b)}).")


def _set_sentence(conf: Confirmation) -> str:
    equivalent = conf.equivalent
    worse = [r for r in conf.rows if r["verdict"] == "worse"]
    text = (f"The best set (it holds every configuration with the highest true mean with "
            f"probability at least 95%) over {seeds_behind(conf, conf.tied)}: "
            f"{trial_list(conf.tied)}. Equivalent to the best within {_margin(conf)}: "
            + (trial_list(equivalent) if equivalent else "none shown at these seeds"))
    if worse:
        text += (f"; worse: {trial_list([r['trial'] for r in worse])} (over "
                 f"{seeds_text([r['best_val']['n'] for r in worse])})")
    rest = [r["trial"] for r in conf.rows if r["verdict"] not in ("worse",)
            and int(r["trial"]) not in equivalent]
    if rest:
        text += f"; not shown different at this power: {trial_list(rest)}"
    return text + "."


def _race_sentence(conf: Confirmation) -> str:
    race = conf.summary["race"]
    out = race.get("eliminated") or []
    last = max((int(e["seeds"]) for e in out), default=0)
    early = [e for e in out if int(e["seeds"]) < conf.seeds]
    at_end = [e for e in out if int(e["seeds"]) >= max(conf.seeds, last)]
    return (f"The race trained {race['trainings']} runs ({race['reason']}); every candidate "
            f"to the last look would have taken {race['fixed_design_trainings']}"
            + ("; stopped early as worse: " + ", ".join(
                f"trial {e['trial']} after {seeds_text(e['seeds'])}" for e in early)
               if early else "")
            + ("; shown worse at the last look: " + ", ".join(
                f"trial {e['trial']}" for e in at_end) if at_end else "") + ".")


def _recommended_sentence(conf: Confirmation) -> str:
    rec, rule = conf.recommended, conf.rule
    row = conf.row(rec)
    by = f", by {rule['cost_text']}" if rule.get("name") != "best" else ""
    text = (f"Recommended: trial {rec}{_tag(conf, rec)}, by the rule \"{rule['text']}\"{by}"
            f" (`--rule {rule['name']}`, `--cost {rule['cost']}`); it trains in "
            f"{secs(row['seconds']['mean'])} per run on average over "
            f"{seeds_text(row['best_val']['n'])}")
    if _finite(row["seconds"].get("sd")):
        text += f" (sd {secs(row['seconds']['sd'])})"
    text += "."
    if not rule.get("applied", True):
        text += f" The rule had no candidate: {rule['reason']}."
    return text


def _classic_sentence(conf: Confirmation) -> str:
    classic, h = conf.classic, conf.holdout
    if classic is None:
        return ("No classic configuration was raced (the study has no classic trial): no "
                "comparison with it.")
    if "skipped" in h:
        return f"Against the classic configuration: not estimated ({h['skipped']})."
    if "refused" in h:
        return f"Against the classic configuration on fresh seeds: {h['refused']}."
    return (f"Trial {h['chosen']} against the classic configuration (trial {h['classic']}) "
            f"on {seeds_text(h['n'])} that played no part in choosing it, paired: "
            f"{points(h['mean'])} (95% t-interval {_pts(h['low'])} to {_pts(h['high'])} "
            f"points; paired t-test p = {h['p_value']:.3g}): {h['verdict']}.")


def _test_sentence(conf: Confirmation) -> str:
    tests = conf.summary.get("test_accuracy") or {}
    order = sorted(tests, key=lambda t: (int(t) != conf.recommended, int(t)))
    parts = [f"trial {t}{_tag(conf, int(t))} {pct(tests[t]['mean'])} (sd "
             f"{pct(tests[t]['sd'])}, {seeds_text(tests[t]['n'])})" for t in order]
    if not parts:
        return ""
    return ("Test accuracy, for the recommended and the classic configuration only (the test "
            "set never chooses), mean over their seeds: " + "; ".join(parts) + ".")


def _optimism_sentence(conf: Confirmation) -> str:
    rows = [r for r in conf.rows if _finite(r.get("optimism"))]
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


def _pairing_sentence(conf: Confirmation) -> str:
    p = conf.summary.get("pairing") or {}
    if not p:
        return ""
    text = p["statement"]
    if p.get("correlations"):
        text += (f" Measured correlation of the per-seed accuracies between configurations: "
                 f"{p['min']:+.2f} to {p['max']:+.2f} (median {p['median']:+.2f}, "
                 f"{len(p['correlations'])} pairs).")
    return text


# ------------------------------------------------------------------ tables

def configuration_table(conf: Confirmation) -> Table:
    """Accuracy against cost, with each configuration's verdict."""
    rows, marks = [], []
    for r in conf.rows:
        n = int(r["trial"])
        b, f, sec = r["best_val"], r["final_val"], r["seconds"]
        seeds = str(b["n"]) + (f" (+{r['diverged_seeds']} diverged)"
                               if r.get("diverged_seeds") else "")
        optimism = points(r["optimism"]) if _finite(r.get("optimism")) else "–"
        time = secs(sec["mean"]) + (f" ± {secs(sec['sd'])}" if _finite(sec.get("sd")) else "")
        rows.append([f"{n}{_tag(conf, n)}", SHORT_VERDICT.get(r["verdict"], r["verdict"]),
                     pct(b["mean"]), _ci(b), seeds,
                     f"{_pts(r['mcb_low'], 3)} to {_pts(r['mcb_high'], 3)}",
                     pct(f["mean"]), pct(r.get("original_value")), optimism, time,
                     f"{r['param_steps']:.3g}" if _finite(r.get("param_steps")) else "–",
                     f"{r['cost_ratio']:.2f}×" if _finite(r.get("cost_ratio")) else "–",
                     standing(conf, n)])
        marks.append("best" if n == conf.recommended else "classic" if r.get("classic")
                     else "")
    rule = conf.rule
    return Table(["Trial", "Verdict", "Best-epoch val. mean", "95% t-interval", "Seeds",
                  "MCB interval (points)", "Final-epoch val. mean",
                  "Single-seed value (sweep)", "Optimism", "Train time (mean ± sd)",
                  "Parameters × steps", "Cost", "Standing"], rows, highlight=marks, caption=(
        "Accuracy against cost. Each configuration over the seeds it raced (the same seeds "
        "for all; one stopped as worse has fewer): mean best-epoch validation accuracy (what "
        "the sweep ranks by) with its 95% Student-t interval, and the simultaneous 95% MCB "
        "interval of its mean minus the best other mean, in points to three decimals, so "
        "that an end near the margin is not rounded onto it (equivalent to the best "
        f"when its lower end is above −{_margin(conf)}). \"Single-seed value\" is the "
        "trial's objective in the sweep (for a trial stopped at the last rung, its value "
        "there); the optimism is that value minus the mean over seeds. Cost: training "
        "seconds (mean ± sd over the seeds, this machine and its load) and parameters × "
        "optimiser steps (the same on any machine); the cost column is relative to the "
        f"recommended configuration, by {rule['cost_text']}. Highlighted: the recommended "
        "configuration (green), the classic one (pink)."))


def race_table(conf: Confirmation) -> Table | None:
    rounds = conf.summary["race"].get("rounds") or []
    if not rounds:
        return None
    out = {int(e["seeds"]): [] for e in conf.summary["race"].get("eliminated") or []}
    for e in conf.summary["race"].get("eliminated") or []:
        out[int(e["seeds"])].append(int(e["trial"]))
    rows = [[str(r["look"]), str(r["seeds"]), f"{r['alpha']:.4g}", str(r["configurations"]),
             str(r["trainings"]), str(r["total"]), str(r["fixed_design_total"]),
             trial_list(out[r["seeds"]]) if out.get(r["seeds"]) else "none"]
            for r in rounds]
    return Table(["Look", "Seeds", "Alpha spent", "Configurations raced", "Trainings",
                  "Total", "Fixed design total", "Shown worse, stopped"], rows, caption=(
        "The race, look by look: every configuration raced to the look's seeds, the closed "
        "test of the best set at that look's share of alpha (α·t², summing to "
        f"{conf.summary['alpha']:g}), with the original family size in its counts; the "
        "configurations it shows worse stop. \"Fixed design\": every candidate to the same "
        "seeds."))


# ------------------------------------------------------------------ the figure

def figure(conf: Confirmation) -> Figure | None:
    """Each configuration's seeds as points, its mean with the 95% t-interval, its
    single-seed value in the sweep; the best set shaded, the classic mean as a line."""
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
        ax.set_xlabel("Configuration raced (by mean over its seeds)")
        ax.set_ylabel("Best-epoch validation accuracy (%)")
        S.percent_axis(ax.yaxis)
        fig.legend(handles=_handles(classic), loc="outside lower center", ncol=2,
                   frameon=False)
        ns = [int(r["best_val"]["n"]) for r in rows]
        fig.suptitle(f"Seed noise: each configuration raced over {seeds_text(ns)}\n"
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
    row = conf.row(trial) or {}
    roles = [w for w, on in (("classic", _tag(conf, trial)), ("best mean", trial == conf.best_mean),
                             ("recommended", trial == conf.recommended),
                             ("worse", row.get("verdict") == "worse")) if on]
    return "\n".join([f"trial {trial}", *roles])


def _handles(classic: dict[str, Any] | None) -> list:
    out = [Line2D([], [], linestyle="none", marker="o", markersize=6, color=S.COMPLETED.color,
                  label="one seed (re-run)"),
           Line2D([], [], color="black", marker="D", markersize=6,
                  label="mean over seeds, 95% t-interval"),
           Line2D([], [], linestyle="none", marker=SINGLE_SEED_MARKER, markersize=10,
                  color=SINGLE_SEED_COLOR, markeredgecolor="black",
                  label="single-seed value in the sweep (what it ranked by)"),
           Patch(color=S.BEST_COLOR, alpha=0.12, label="in the best set")]
    if classic is not None and _finite(classic["best_val"]["mean"]):
        out.append(Line2D([], [], color=S.CLASSIC_COLOR, linestyle="--", linewidth=1.6,
                          label=f"classic configuration (trial {classic['trial']}): mean over "
                                f"{seeds_text(classic['best_val']['n'])}"))
    return out

"""``sweep confirm``: re-train the top trials over fresh seeds, and say which are really
the best.

A sweep picks its best trial on one seed's validation accuracy, maximised over epochs and
over trials: an optimistic pick, and the differences it ranks are often the size of
the noise between seeds. Confirm re-trains the top K configurations and the classic one
(trial 0), each with the same S seeds (full epochs, no pruning), through the same worker
processes as ``run``, and compares them paired by seed. It never touches the study's
storage, so the sampler never sees these runs; it resumes and extends like ``run``.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlp.atomic import write_json

from ..errors import StudyError
from ..execution.confirm import plan, run_missing
from ..execution.jobs import cores
from ..execution.request import jobs_option
from ..options import add_arguments as add_options
from ..options import build, from_namespace, option, whole
from ..statistics.seeds import Interval, compare_with_best, smallest_sign_flip_p, t_interval
from ..study.confirmations import CONFIRM_DIR, SUMMARY, Seeded, candidates, read_seeded
from ..study.paths import StudyLocation
from ..study.results import load
from ..text import Column, percent, points, table, terminal_width, wrap

DESCRIPTION = (
    "A sweep picks its best trial on one seed's validation accuracy, the best over epochs "
    "and over trials: an optimistic pick, and the differences it ranks are often the size "
    "of the noise between seeds. This re-trains the top K configurations and the classic "
    "one (trial 0) with the same S seeds each (all epochs, no pruning), compares them seed "
    "by seed and names the configuration it recommends: the cheapest of those not "
    "distinguishable from the best. The study's trials are not touched; running it again "
    "trains only what is missing, and a larger --top or --seeds extends it.")
MAX_SEEDS = 100
# the verdict's table: a configuration's value (best-epoch validation accuracy) over the
# seeds, as mean, standard deviation (in percentage points) and 95% t-interval, and the
# value the sweep picked it with (one seed)
VERDICT_COLUMNS = (Column("number", keep=100), Column("classic", right=False, keep=50),
                   Column("value_mean", keep=90), Column("value_sd", keep=60),
                   Column("value_low", keep=70), Column("value_high", keep=70),
                   Column("seeds", keep=40), Column("value", keep=80))


@dataclass(frozen=True, kw_only=True)
class ConfirmRequest(StudyLocation):
    top: int = option(5, convert=whole(1), metavar="K",
                      help="how many of the best configurations to re-train (default 5)")
    seeds: int = option(5, convert=whole(1, MAX_SEEDS), metavar="S",
                        help=f"seeds for each configuration (default 5, at most {MAX_SEEDS})")
    jobs: int | None = jobs_option()


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_options(p, ConfirmRequest)


def run(args: argparse.Namespace) -> int:
    request = build(ConfirmRequest, from_namespace(args, ConfirmRequest), cli=True)
    jobs = request.jobs if request.jobs is not None else cores()  # as `sweep run` counts
    results = load(request.study, request.studies_dir, request.storage)
    chosen = candidates(results, request.top)
    units = plan(results, chosen, request.seeds)
    _, interrupted = run_missing(results, units, jobs)
    if interrupted:
        print("interrupted; run the same command again to finish the re-runs")
        return 130
    summary = summarize(read_seeded(results.paths.root, chosen, request.seeds), request.seeds)
    write_json(results.paths.root / CONFIRM_DIR / SUMMARY, summary)
    print("\n".join(verdict_lines(summary, terminal_width())))
    return 0


def summarize(seeded: list[Seeded], seeds: int) -> dict[str, Any]:
    """The confirm summary: per configuration, the comparisons with the best mean, the
    tied set and the recommendation, in plain JSON (see README, "Seed noise")."""
    rows = {s.outcome.number: s for s in seeded if s.best_val}
    family = sorted((s for s in rows.values() if not s.reference),
                    key=lambda s: (-t_interval(list(s.best_val.values())).mean, s.outcome.number))
    if not family:
        raise StudyError("no re-run of the top trials has finished yet; run `sweep confirm` "
                         "again")
    ranked = family + [s for s in rows.values() if s.reference]
    first = family[0]
    comparisons = compare_with_best(first.best_val,
                                    {s.outcome.number: s.best_val for s in family[1:]})
    tied = [first.outcome.number] + [c.other for c in comparisons if not c.distinguishable]
    cost = {n: np.mean(list(rows[n].seconds.values())) for n in tied}
    recommended = min(tied, key=lambda n: (cost[n], n))
    classic = next((s for s in ranked if s.outcome.classic), None)
    versus_classic = None
    if classic is not None and classic.outcome.number != recommended:
        versus_classic = compare_with_best(rows[recommended].best_val,
                                           {classic.outcome.number: classic.best_val})[0]
    return {
        "seeds": seeds, "metric": "best-epoch validation accuracy, paired by seed",
        "test": "paired t-test, Holm-adjusted over the comparisons with the best "
                f"(family-wise 5%); sign-flip p beside it (its smallest possible value at "
                f"{seeds} seeds is {smallest_sign_flip_p(seeds):.3g})",
        "rule": "the cheapest by mean training time among the configurations "
                "not distinguishable from the best mean",
        "configurations": [_config_row(s) for s in ranked],
        "comparisons": [_comparison_row(c) for c in comparisons],
        "tied_with_best": tied, "best_mean": first.outcome.number,
        "recommended": recommended,
        "versus_classic": _comparison_row(versus_classic) if versus_classic else None,
        "test_accuracy": {str(n): _interval(t_interval(list(rows[n].test.values())))
                          for n in {recommended, *( [classic.outcome.number] if classic
                                                   else [])}},
    }



def _interval(i: Interval) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in i.__dict__.items()}


def _config_row(s: Seeded) -> dict[str, Any]:
    best = t_interval(list(s.best_val.values()))
    return {"trial": s.outcome.number, "classic": s.outcome.classic,
            "params": s.outcome.params, "original_value": s.outcome.value,
            "best_val": _interval(best), "final_val": _interval(
                t_interval(list(s.final_val.values()))),
            "optimism": (s.outcome.value - best.mean if s.outcome.value is not None
                         else None),
            "train_seconds": float(np.mean(list(s.seconds.values()))),
            "diverged_seeds": s.diverged,
            "per_seed": {str(k): v for k, v in sorted(s.best_val.items())}}


def _comparison_row(c: Any) -> dict[str, Any]:
    return {"other": c.other, "diff": _interval(c.diff), "t_p": c.t_p,
            "sign_flip_p": c.sign_flip_p, "holm_p": c.holm_p,
            "distinguishable": c.distinguishable}



def sd_points(sd: Any) -> str:
    """A standard deviation of accuracies, in percentage points (not a percent)."""
    return "–" if sd is None else points(sd, ".2f")


def verdict_lines(summary: dict[str, Any], width: int | None = None) -> list[str]:
    """The verdict: a table of the configurations over the seeds (fitted to ``width``),
    then sentences, each figure with the seeds behind it. Differences and standard
    deviations of accuracies are in percentage points."""
    n = summary["seeds"]
    rows = {r["trial"]: r for r in summary["configurations"]}
    cells = []
    for r in summary["configurations"]:
        b = r["best_val"]
        cells.append([str(r["trial"]), "yes" if r["classic"] else "", percent(b["mean"]),
                      sd_points(b["sd"]), percent(b["low"]), percent(b["high"]), str(b["n"]),
                      percent(r["original_value"])])
    made = table(VERDICT_COLUMNS, cells, width)
    head = wrap(f"over {n} seeds ({summary['metric']}); value_low to value_high: the 95% "
                "t-interval of the mean; value: the sweep's pick, one seed", width)
    lines: list[str] = []
    tied = summary["tied_with_best"]
    rec = summary["recommended"]
    lines.append(f"tied with the best mean (trial {summary['best_mean']}): "
                 f"{', '.join(str(t) for t in tied)} ({summary['test']})")
    lines.append(f"recommended: trial {rec} (rule: {summary['rule']})")
    vs = summary["versus_classic"]
    if vs is not None:
        d = vs["diff"]
        lines.append(f"trial {rec} against the classic trial {vs['other']}: "
                     f"{points(d['mean'])} (95% t-interval {points(d['low'])} to "
                     f"{points(d['high'])}, "
                     f"paired t-test p = {vs['t_p']:.3g}, {d['n']} seeds)")
    for trial, t in summary["test_accuracy"].items():
        lines.append(f"test accuracy of trial {trial}"
                     f"{' (classic)' if rows[int(trial)]['classic'] else ''}: "
                     f"mean {t['mean']:.2%}, sd {sd_points(t['sd'])} over {t['n']} seeds")
    return [*head, *made.lines, *made.note(width),
            *(part for line in lines for part in wrap(line, width))]




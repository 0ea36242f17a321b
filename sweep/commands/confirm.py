"""``sweep confirm``: race the sweep's near-best configurations over seeds, name the best set
with a stated guarantee, and recommend one by a rule the user chooses.

A sweep picks its best trial on one seed's validation accuracy, maximised over epochs and
over trials: an optimistic pick, and its lead is often within the noise between seeds.

1. Candidates (`study.confirmations.choose_candidates`): every configuration whose
   single-seed value lies within ``--within`` standard deviations of a paired single-seed
   difference of the leader's (completed trials, and trials stopped at the pruner's last
   rung, judged at that rung), plus the classic configuration; at most
   ``--max-candidates``, the classic included.
2. A race over seeds (`statistics.racing`): every candidate gets 5 paired seeds; the
   closed test of the best set runs at that look's share of alpha and the configurations
   it calls worse stop; the contenders go on to ``--seeds`` (at least 10). Each round's
   cost is printed before it runs. The seed folders are the race's state: running the
   command again continues it.
3. The best set and verdicts (`statistics.selection`): "equivalent to the best within the
   margin" (``--margin``, 0.1 points), "worse", or "not shown different at this power";
   the classic configuration is in the family like any other.
4. The recommendation (`selection.recommend`): a table of accuracy against cost (training
   seconds with their spread over seeds, and parameters x steps, which do not drift with
   the machine's load) and ``--rule``; then the chosen configuration against the classic
   one on 5 fresh seeds that played no part in choosing it (`selection.holdout_difference`).

It never touches the study's storage, so the sampler never sees these runs.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlp.atomic import write_json
from mlp.experiment import read_json

from ..errors import StudyError
from ..execution.confirm import plan as plan_runs
from ..execution.confirm import run_missing, set_aside_foreign
from ..execution.jobs import cores
from ..execution.request import jobs_option
from ..options import add_arguments as add_options
from ..options import build, from_namespace, one_of, option, switch, whole
from ..statistics.racing import RacePlan, RaceStatus, race_plan, race_status
from ..statistics.selection import (
    COSTS,
    DEFAULT_MARGIN,
    MIN_SEEDS,
    Refusal,
    Selection,
    clipped_t_interval,
    holdout_difference,
    recommend,
)
from ..study.confirmations import (
    CONFIRM_DIR,
    DEFAULT_MAX_CANDIDATES,
    DEFAULT_WITHIN,
    SEED_SD,
    SUMMARY,
    SUMMARY_VERSION,
    Candidate,
    CandidateChoice,
    Runs,
    choose_candidates,
    read_runs,
    resplit_note,
)
from ..study.paths import WORKERS_LOG, StudyLocation, check_workers_log
from ..study.results import StudyResults, load
from ..text import Column, clock, percent, plural, points, table, terminal_width, wrap

DESCRIPTION = (
    "A sweep picks its best trial on one seed's validation accuracy, the best over epochs "
    "and over trials: an optimistic pick, whose lead is often within the noise between "
    "seeds. This re-trains every configuration within --within seed-noise units of the "
    "leader (also those the pruner stopped at its last rung) and the classic one, as a "
    "race over paired seeds: 5 seeds each, the clear losers stop, the contenders go on to "
    "--seeds. It names the best set (with probability at least 95% it holds every "
    "configuration whose true mean is the highest), calls each configuration equivalent "
    "within --margin, worse, or not shown different, and recommends one by --rule; the "
    "recommended one is then compared with the classic one on fresh seeds. The study's "
    "trials are not touched; running it again continues where it stopped.")
MAX_SEEDS = 100
FIRST_LOOK = 5
HOLDOUT_SEEDS = 5
RULE_NAMES = {"cheapest": "cheapest_equivalent", "cheapest-in-set": "cheapest_in_set",
              "best": "best_mean"}
COST_NAMES = {"param-steps": "param_steps", "seconds": "seconds"}
PAIRING = (
    "Pairing: seed s is the same for every configuration (the batch order, the "
    "initial-weight and dropout streams, and with --resplit the validation split), but "
    "configurations of different sizes draw different weights and masks from those "
    "streams, so across hidden sizes only the data order is shared; the methods assume no "
    "correlation and use whatever pairing each pair has.")
def number(low: float, high: float):
    """A real number in (low, high]."""
    def convert(value: Any) -> float:
        try:
            v = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise ValueError(f"must be a number above {low:g}, at most {high:g}") from None
        if isinstance(value, bool) or not math.isfinite(v) or not low < v <= high:
            raise ValueError(f"must be a number above {low:g}, at most {high:g}")
        return v
    return convert


@dataclass(frozen=True, kw_only=True)
class ConfirmRequest(StudyLocation):
    within: float = option(DEFAULT_WITHIN, convert=number(0, 1000), metavar="W",
                           help=f"candidates: the configurations within W standard deviations "
                                f"of a paired single-seed difference ({SEED_SD * 100:.2g} "
                                f"points x sqrt 2) of the leader's value (default "
                                f"{DEFAULT_WITHIN:g}: {DEFAULT_WITHIN * SEED_SD * 141.42:.2f}"
                                " points), plus the classic one")
    max_candidates: int = option(DEFAULT_MAX_CANDIDATES, convert=whole(2, 50), metavar="N",
                                 help="the budget: at most N configurations raced, the classic "
                                      f"included (default {DEFAULT_MAX_CANDIDATES}); those "
                                      "furthest from the leader are left out, and named")
    seeds: int = option(10, convert=whole(10, MAX_SEEDS), metavar="S",
                        help="seeds the contenders end with: looks at 5, 10 (and S) seeds "
                             f"(default 10, from 10 to {MAX_SEEDS})")
    margin: float = option(DEFAULT_MARGIN * 100, convert=number(0, 5), metavar="POINTS",
                           help="equivalent to the best within this many accuracy points "
                                f"(default {DEFAULT_MARGIN * 100:g})")
    rule: str = option("cheapest", convert=one_of(*RULE_NAMES), metavar="{" + ",".join(
        RULE_NAMES) + "}", help="the recommendation: the cheapest configuration shown "
                                "equivalent within the margin (default), the cheapest in "
                                "the best set, or the best mean")
    cost: str = option("param-steps", convert=one_of(*COST_NAMES), metavar="{" + ",".join(
        COST_NAMES) + "}", help="what cheapest means: parameters x optimiser steps "
                                "(default; the same on any machine) or mean training "
                                "seconds over the seeds (this machine, its load)")
    resplit: bool = option(False, switch=True, convert=switch,
                           help="each seed draws its own validation split (as many images as "
                                "the data's validation set, from the training+validation "
                                "images; the test set untouched)")
    jobs: int | None = jobs_option()


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_options(p, ConfirmRequest)


def looks_for(seeds: int) -> tuple[int, ...]:
    """The race's looks: 5 and 10 seeds, and ``seeds`` when more."""
    return (FIRST_LOOK, 10) if seeds <= 10 else (FIRST_LOOK, 10, seeds)


def run(args: argparse.Namespace) -> int:
    request = build(ConfirmRequest, from_namespace(args, ConfirmRequest), cli=True)
    jobs = request.jobs if request.jobs is not None else cores()  # as `sweep run` counts
    results = load(request.study, request.studies_dir, request.storage)
    choice = choose_candidates(results, request.within, request.max_candidates)
    width = terminal_width()
    for line in candidate_lines(choice):
        print(*wrap(line, width), sep="\n")
    trials = [c.number for c in choice.chosen]
    _check_confirm_folder(results.paths.root)
    earlier = _earlier_plans(results.paths.root)
    for line in set_aside_foreign(results, trials):
        print(*wrap(line, width), sep="\n")
    plan = race_plan(len(trials), looks_for(request.seeds), margin=request.margin / 100)
    root = results.paths.root
    costs = run_costs(results, trials)
    status, interrupted = race(results, trials, plan, request, jobs, costs, width)
    if interrupted:
        print("interrupted; run the same command again to continue the race")
        return 130
    runs = read_runs(root, trials, max(plan.looks[-1], 1), request.resplit)
    chosen = choose(status, runs, costs, request)
    holdout, interrupted = run_holdout(results, choice, chosen, plan, request, jobs, costs,
                                       width)
    if interrupted:
        print("interrupted; run the same command again to finish the fresh seeds")
        return 130
    summary = summarize(choice, runs, status, costs, request, holdout, earlier)
    write_json(root / CONFIRM_DIR / SUMMARY, summary)
    print("\n".join(verdict_lines(summary, width)))
    return 0


def _earlier_plans(root: Path) -> list[dict[str, Any]]:
    """The plans under which an earlier confirm of this study showed its verdicts, from
    the summary it wrote (one written before the list was kept showed its own plan; one
    of the confirm before the race, none of this race's). A summary that cannot be read
    is named before any training: its plans would go uncounted."""
    path = root / CONFIRM_DIR / SUMMARY
    if not path.exists() and not path.is_symlink():
        return []
    try:
        earlier = read_json(path)
    except (OSError, ValueError) as exc:
        raise StudyError(f"{path}: unreadable ({exc}); the plans its verdicts were shown "
                         "under would go uncounted: move it away to start again") from None
    if isinstance(earlier, dict) and "version" not in earlier:
        return []  # the confirm before the race (top K over S seeds)
    listed = earlier.get("plans_shown") if isinstance(earlier, dict) else None
    if isinstance(earlier, dict) and listed is None:
        listed = [{"looks": earlier.get("looks"), "margin": earlier.get("margin"),
                   "resplit": earlier.get("resplit", False)}]
    if not isinstance(listed, list) or not all(_is_plan(p) for p in listed):
        raise StudyError(f"{path}: not a confirm summary (its plans are not lists of looks, "
                         "margins and splits); move it away to start again")
    return [dict(p) for p in listed]


def _is_plan(p: Any) -> bool:
    return (isinstance(p, dict) and isinstance(p.get("looks"), list) and bool(p["looks"])
            and all(isinstance(n, int) and not isinstance(n, bool) for n in p["looks"])
            and isinstance(p.get("margin"), int | float)
            and not isinstance(p.get("margin"), bool) and isinstance(p.get("resplit"), bool))


def _check_confirm_folder(root: Path) -> None:
    """The folder the race writes into, and its summary, must be what they say, before
    any training: a file in place of ``confirm/`` or a folder in place of the summary is
    named, not met after an hour of re-runs."""
    folder, summary = root / CONFIRM_DIR, root / CONFIRM_DIR / SUMMARY
    if (folder.exists() or folder.is_symlink()) and not folder.is_dir():
        raise StudyError(f"{folder} is not a folder: move it away and run again")
    if summary.is_dir():
        raise StudyError(f"{summary} is a folder, not confirm's summary: move it away and "
                         "run again")
    check_workers_log(root / WORKERS_LOG)  # the re-runs' reasons go there
    try:  # a read-only disk is named now, not as every re-run failing twice
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StudyError(f"{folder}: cannot make it ({exc.strerror or exc}); confirm "
                         "writes its re-runs there") from None
    if not os.access(folder, os.W_OK):
        raise StudyError(f"{folder}: cannot write into it (a read-only disk, or not "
                         "yours); confirm writes its re-runs there")
    for place in _run_folders(folder):  # (a link there is no run's: the re-run clears it)
        if place.exists() and not place.is_dir() and not place.is_symlink():
            raise StudyError(f"{place} is not a folder (confirm keeps re-runs there): move "
                             "it away and run again")


def _run_folders(folder: Path) -> Iterator[Path]:
    """What stands in confirm/ where a configuration's folder (NNNN) or one of its
    re-runs' (NNNN/seed-S, NNNN/resplit-S) goes."""
    for entry in folder.iterdir():
        if re.fullmatch(r"\d{4,}", entry.name):
            yield entry
            if entry.is_dir():
                yield from (run for run in entry.iterdir()
                            if re.fullmatch(r"(seed|resplit)-\d+", run.name))


# ------------------------------------------------------------------ the race

@dataclass(frozen=True)
class RunCost:
    """What one run of a configuration costs, before it runs."""

    epochs: int
    steps: int  # optimiser steps: epochs x batches per epoch
    parameter_count: int | None

    @property
    def param_steps(self) -> float | None:
        return None if self.parameter_count is None else float(self.parameter_count * self.steps)


def run_costs(results: StudyResults, trials: list[int]) -> dict[int, RunCost]:
    """Each configuration's epochs, steps and parameters (from the network's shape)."""
    from mlp.data import load_dataset
    from mlp.network import MLP

    units = plan_runs(results, [(t, 0) for t in trials])
    config = units[0].config
    data = load_dataset(config.data.dataset, config.data.data_dir, progress=False,
                        train_limit=config.data.train_limit)
    n_train, n_in, n_out = len(data.train_y), data.n_features, data.n_classes
    out = {}
    for u in units:
        m, t = u.config.model, u.config.training
        size = MLP(n_in, n_out, hidden_size=m.hidden_size, hidden_layers=m.hidden_layers,
                   batch_norm=m.batch_norm).parameter_count()
        out[u.trial] = RunCost(t.epochs, t.epochs * math.ceil(n_train / t.batch_size), size)
    return out


def race(results: StudyResults, trials: list[int], plan: RacePlan, request: ConfirmRequest,
         jobs: int, costs: dict[int, RunCost], width: int | None) -> tuple[RaceStatus, bool]:
    """Run the race to its end (or an interrupt): read the seed folders, ask the race
    what to train, say what the round costs, train it; again."""
    root = results.paths.root
    attempts: dict[tuple[int, int], int] = {}
    announced = 0
    while True:
        runs = read_runs(root, trials, plan.looks[-1], request.resplit)
        status = race_status(runs.best_val, plan, done=runs.done, labels=trials)
        for r in status.rounds[announced:]:
            print(*wrap(look_line(r, trials, plan), width), sep="\n")
        announced = len(status.rounds)
        if status.over:
            return status, False
        pairs = [(trials[i], s) for i, s in status.to_train]
        again = [p for p in pairs if attempts.get(p, 0) >= 2]  # lost, retried, lost again
        if again:
            shown = ", ".join(f"trial {t} seed {s}" for t, s in again[:5])
            raise StudyError(f"{plural(len(again), 're-run')} failed twice ({shown}): the "
                             f"reasons are above (and in {root / 'workers.log'}); run the "
                             "command again once they are dealt with")
        for p in pairs:
            attempts[p] = attempts.get(p, 0) + 1
        print(*wrap(round_line(status, pairs, costs, runs, trials), width), sep="\n")
        started = time.monotonic()
        _, interrupted = run_missing(results, plan_runs(results, pairs, request.resplit), jobs)
        if interrupted:
            return status, True
        print(f"round done in {clock(time.monotonic() - started)}")


def round_line(status: RaceStatus, pairs: list[tuple[int, int]], costs: dict[int, RunCost],
               runs: Runs, trials: list[int]) -> str:
    """What the next round trains and what it costs: trainings, epochs, parameter-steps,
    and a time from the seconds of the runs so far (when there are any)."""
    look = len(status.rounds) + 1
    configs = sorted({t for t, _ in pairs})
    epochs = sum(costs[t].epochs for t, _ in pairs)
    steps = sum(costs[t].param_steps or 0 for t, _ in pairs)
    seen = {t: float(np.nanmean(runs.seconds[trials.index(t)])) for t in configs
            if np.isfinite(runs.seconds[trials.index(t)]).any()}
    guess = ""
    if len(seen) == len(configs):
        guess = f", about {clock(sum(seen[t] for t, _ in pairs))} of training"
    return (f"race, look {look} of {len(status.plan.looks)}: {plural(len(pairs), 'training')} "
            f"({plural(len(configs), 'configuration')} up to {status.next_seeds} seeds: "
            f"trials {', '.join(map(str, configs))}), {epochs} epochs, {steps:.3g} "
            f"parameter-steps{guess}; {status.trainings_done} trained so far, at most "
            f"{status.trainings_most} to come")


def look_line(r: Any, trials: list[int], plan: RacePlan) -> str:
    out = [trials[i] for i in r.eliminated]
    return (f"look {r.look} ({r.seeds} seeds, alpha {r.alpha:.4g} of {plan.alpha:g}): "
            f"{len(r.raced)} raced, " + (f"worse and stopped: trials "
                                         f"{', '.join(map(str, out))}" if out
                                         else "none shown worse"))


# ------------------------------------------------------------------ recommendation, holdout

def race_matrix(runs: Runs, status: RaceStatus) -> tuple[np.ndarray, np.ndarray]:
    """The seeds the race used: (mask, seconds) with NaN beyond each configuration's race."""
    n = max((r.seeds for r in status.rounds), default=0)
    mask = np.zeros_like(runs.best_val, dtype=bool)
    stop = {i: n for i in range(len(runs.trials))}
    for r in status.rounds:
        for i in r.eliminated:
            stop[i] = r.seeds
    for i, s in stop.items():
        mask[i, :s] = True
    return mask, np.where(mask, runs.seconds, np.nan)


def choose(status: RaceStatus, runs: Runs, costs: dict[int, RunCost],
           request: ConfirmRequest) -> Any:
    _, secs = race_matrix(runs, status)
    return recommend(status.final, seconds=secs,
                     param_steps=[costs[t].param_steps for t in runs.trials],
                     rule=RULE_NAMES[request.rule], cost_by=COST_NAMES[request.cost])


def run_holdout(results: StudyResults, choice: CandidateChoice, chosen: Any, plan: RacePlan,
                request: ConfirmRequest, jobs: int, costs: dict[int, RunCost],
                width: int | None) -> tuple[dict[str, Any], bool]:
    """The chosen configuration and the classic one on `HOLDOUT_SEEDS` fresh seeds (seed
    indices from the race's last look on, which no comparison has used)."""
    classic = next((c for c in choice.chosen if c.classic), None)
    if classic is None:
        return {"skipped": "the study has no classic trial"}, False
    if classic.number == chosen.chosen:
        return {"skipped": "the recommended configuration is the classic one"}, False
    first = plan.looks[-1]
    pair = [chosen.chosen, classic.number]
    seeds = list(range(first, first + HOLDOUT_SEEDS))
    units = plan_runs(results, [(t, s) for t in pair for s in seeds], request.resplit)
    runs = read_runs(results.paths.root, pair, HOLDOUT_SEEDS, request.resplit, first)
    missing = int((~runs.done).sum())
    if missing:
        epochs = sum(costs[t].epochs for t in pair) * HOLDOUT_SEEDS
        print(*wrap(f"fresh seeds: trial {pair[0]} and the classic trial {pair[1]} on seeds "
                    f"{seeds[0]}-{seeds[-1]}, which chose nothing: {plural(missing, 'training')}"
                    f" (at most {epochs} epochs)", width), sep="\n")
        _, interrupted = run_missing(results, units, jobs)
        if interrupted:
            return {}, True
        runs = read_runs(results.paths.root, pair, HOLDOUT_SEEDS, request.resplit, first)
    out: dict[str, Any] = {"chosen": pair[0], "classic": pair[1], "seeds": seeds,
                           "chosen_per_seed": _per_seed(runs.best_val[0], seeds),
                           "classic_per_seed": _per_seed(runs.best_val[1], seeds),
                           "test": {str(t): _per_seed(runs.test[i], seeds)
                                    for i, t in enumerate(pair)}}
    try:
        h = holdout_difference(runs.best_val[0], runs.best_val[1], seeds=seeds,
                               used_seeds=list(range(first)), margin=request.margin / 100,
                               min_seeds=MIN_SEEDS)
    except Refusal as exc:
        return out | {"refused": exc.reason}, False
    return out | {"n": h.n_seeds, "mean": h.mean, "sd": h.sd, "low": h.low, "high": h.high,
                  "p_value": h.p_value, "level": h.level, "verdict": h.verdict,
                  "chosen_interval": _interval(*h.chosen, n=h.n_seeds),
                  "classic_interval": _interval(*h.reference, n=h.n_seeds)}, False


# ------------------------------------------------------------------ the summary

def _num(v: Any) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def _interval(mean: float, sd: float, low: float, high: float, n: int) -> dict[str, Any]:
    return {"mean": _num(mean), "sd": _num(sd), "low": _num(low), "high": _num(high), "n": n}


def _per_seed(values: np.ndarray, seeds: list[int]) -> dict[str, float]:
    return {str(s): float(v) for s, v in zip(seeds, values, strict=True) if np.isfinite(v)}


def interval_of(values: np.ndarray) -> dict[str, Any]:
    v = np.asarray(values, dtype=np.float64)
    return _interval(*clipped_t_interval(v), n=int(np.isfinite(v).sum()))


def correlations(acc: np.ndarray, trials: list[int], least: int = 5) -> list[dict[str, Any]]:
    """Pearson's r of the per-seed accuracies of every pair, on the seeds both have."""
    out = []
    for i in range(len(trials)):
        for j in range(i + 1, len(trials)):
            both = np.isfinite(acc[i]) & np.isfinite(acc[j])
            a, b = acc[i][both], acc[j][both]
            if both.sum() < least or a.std() == 0 or b.std() == 0:
                continue
            out.append({"a": trials[i], "b": trials[j], "r": float(np.corrcoef(a, b)[0, 1]),
                        "n": int(both.sum())})
    return out


def guarantee(alpha: float, margin: float, plans: list[dict[str, Any]] | None = None) -> str:
    """What confirm guarantees, in two sentences (README, docs/confirm-statistics.md).

    ``plans``: every plan (looks, margin, split) under which this race's verdicts were
    shown. Each plan holds its rates; a plan chosen after seeing another's verdict (more
    seeds because the first was inconclusive) does not, so with n plans the verdicts'
    rates are stated n times over (Bonferroni: the verdict reported is wrong only if one
    of the n is). The fresh seeds' interval is for the configuration it is about,
    whatever chose it, and keeps its level."""
    shown = plans or []
    n = max(len(shown), 1)
    before = "" if n == 1 else (
        f"This race's verdicts were shown under {n} plans ("
        + "; ".join(_plan_text(p) for p in shown) + "), and a plan chosen after a "
        f"verdict was seen makes each error rate {n} times the planned one (Bonferroni "
        "over the plans): ")
    race_alpha = min(n * alpha, 1.0)
    return before + (
            f"With probability at least {1 - race_alpha:.0%}, the best set contains every "
            f"configuration whose true mean validation accuracy over seeds is the highest, "
            f"the classic configuration included, so a configuration called worse is worse; "
            f"and, with probability at least {max(1 - 2 * race_alpha, 0):.0%} (the race's "
            f"eliminations and the final intervals may each fail {race_alpha:.0%} of the "
            f"time), every "
            f"configuration called equivalent is within {margin * 100:.2g} accuracy points "
            f"of the best, with seeds as paired blocks and no equal spreads or correlations "
            f"assumed. The recommended configuration's difference from the classic one is "
            f"estimated, with a {1 - alpha:.0%} interval, on fresh seeds that played no part "
            f"in choosing it.")


def _plan_text(plan: dict[str, Any]) -> str:
    looks = ", ".join(map(str, plan["looks"]))
    return (f"looks at {looks} seeds, margin {plan['margin'] * 100:.2g} points"
            + (", own splits" if plan["resplit"] else ""))


def plans_shown(earlier: list[dict[str, Any]], plan: RacePlan,
                resplit: bool) -> list[dict[str, Any]]:
    """The plans whose verdicts this race has shown: the earlier ones, then this one,
    each once."""
    this = {"looks": list(plan.looks), "margin": plan.margin, "resplit": resplit}
    out = [{"looks": list(p["looks"]), "margin": p["margin"], "resplit": p["resplit"]}
           for p in earlier]
    return out if this in out else [*out, this]


def _row(i: int, c: Candidate, r: dict[str, Any], runs: Runs, mask: np.ndarray,
         best: np.ndarray, final_val: np.ndarray, cost: RunCost,
         eliminated_at: int | None) -> dict[str, Any]:
    """One configuration's row of confirm.json: what it is, its numbers over the seeds the
    race gave it, its costs and its verdict."""
    b = _interval(r["mean"], r["sd"], r["low"], r["high"], r["n_seeds"])
    optimism = (c.outcome.value - r["mean"]
                if c.outcome.state == "COMPLETE" and c.outcome.value is not None
                and np.isfinite(r["mean"]) else None)
    return {
        "trial": c.number, "classic": c.classic, "params": c.outcome.params,
        "original_value": c.outcome.value, "state": c.outcome.state, "reason": c.reason,
        "gap": c.gap, "rung": c.rung, "best_val": b, "final_val": interval_of(final_val[i]),
        "optimism": optimism, "train_seconds": r["seconds_mean"],
        "seconds": {"mean": r["seconds_mean"], "sd": r["seconds_sd"],
                    "min": r["seconds_min"], "max": r["seconds_max"]},
        "epochs": cost.epochs, "steps": cost.steps,
        "parameter_count": cost.parameter_count, "param_steps": r["param_steps"],
        "cost_ratio": r["cost_ratio"], "in_best_set": r["in_best_set"],
        "worse_p": _num(r["worse_p"]), "diff": _num(r["diff"]),
        "mcb_low": _num(r["mcb_low"]), "mcb_high": _num(r["mcb_high"]),
        "equivalent": r["equivalent"], "verdict": r["verdict"],
        "eliminated_at": eliminated_at,
        "diverged_seeds": int((runs.diverged[i] & mask[i]).sum()),
        "rule_candidate": r["candidate"], "chosen": r["chosen"],
        "per_seed": _per_seed(best[i], list(range(best.shape[1])))}


def _test_accuracy(numbers: list[int], runs: Runs, mask: np.ndarray,
                   holdout: dict[str, Any]) -> dict[str, Any]:
    """Test accuracy over every seed each of ``numbers`` trained with (the race's and the
    fresh ones): reported, never used to choose."""
    tests = {}
    for t in dict.fromkeys(numbers):
        i = runs.trials.index(t)
        values = list(runs.test[i][mask[i]])
        values += list((holdout.get("test") or {}).get(str(t), {}).values())
        tests[str(t)] = interval_of(np.array(values, dtype=np.float64))
    return tests


def _pairing(best: np.ndarray, trials: list[int]) -> dict[str, Any]:
    """What pairing by seed means here, and the correlations it measured."""
    pairs = correlations(best, trials)
    rs = [p["r"] for p in pairs]
    return {"statement": PAIRING, "correlations": pairs,
            "min": min(rs) if rs else None, "max": max(rs) if rs else None,
            "median": float(np.median(rs)) if rs else None}


def summarize(choice: CandidateChoice, runs: Runs, status: RaceStatus,
              costs: dict[int, RunCost], request: ConfirmRequest,
              holdout: dict[str, Any], earlier: list[dict[str, Any]] | None = None
              ) -> dict[str, Any]:
    """The confirm summary (confirm.json): the candidates, the race round by round, every
    configuration's numbers and verdict, the recommendation, the fresh-seed comparison
    with the classic one, the measured pairing, and the guarantee in words."""
    if not status.over or status.final is None:
        raise StudyError("the race is not over: run `sweep confirm` again")
    final: Selection = status.final
    plan = status.plan
    trials = runs.trials
    mask, secs = race_matrix(runs, status)
    best = np.where(mask, runs.best_val, np.nan)
    final_val = np.where(mask, runs.final_val, np.nan)
    rec = recommend(final, seconds=secs, param_steps=[costs[t].param_steps for t in trials],
                    rule=RULE_NAMES[request.rule], cost_by=COST_NAMES[request.cost])
    by_label = {r["label"]: r for r in rec.rows}
    eliminated = {trials[i]: r.seeds for r in status.rounds for i in r.eliminated}
    candidates = {c.number: c for c in choice.chosen}
    rows = [_row(i, candidates[t], by_label[t], runs, mask, best, final_val, costs[t],
                 eliminated.get(t)) for i, t in enumerate(trials)]
    rows.sort(key=lambda r: (-(r["best_val"]["mean"] or 0), r["trial"]))
    means = {r["trial"]: r["best_val"]["mean"] for r in rows if r["best_val"]["mean"] is not None}
    best_mean = max(means, key=lambda t: (means[t], -t))
    classic = next((t for t in trials if candidates[t].classic), None)
    tests = _test_accuracy([rec.chosen, *([classic] if classic is not None else [])],
                           runs, mask, holdout)
    shown = plans_shown(earlier or [], plan, request.resplit)
    return {
        "version": SUMMARY_VERSION,
        "metric": "best-epoch validation accuracy, paired by seed",
        # the seeds the contenders reached: the last look, or fewer when the race ended
        # early (one contender left); "looks" has the plan
        "seeds": int(mask.sum(axis=1).max()),
        "looks": list(plan.looks), "alpha": plan.alpha,
        "margin": plan.margin, "resplit": request.resplit,
        "split": runs.split if request.resplit else None,
        "candidates": choice.to_dict() | {"max_candidates": request.max_candidates},
        "race": {"rounds": status.cost_table(), "reason": status.reason,
                 "trainings": status.trainings_done,
                 "fixed_design_trainings": plan.fixed_design_trainings,
                 "eliminated": [{"trial": t, "seeds": s} for t, s in eliminated.items()]},
        "configurations": rows,
        "best_set": [t for t in trials if final.configurations[trials.index(t)].in_best_set],
        "equivalent": [t for t in trials if final.configurations[trials.index(t)].equivalent],
        "best_mean": best_mean, "classic_trial": classic,
        "recommended": rec.chosen,
        "rule": {"name": request.rule, "text": rec.rule_text, "cost": request.cost,
                 "cost_text": COSTS[COST_NAMES[request.cost]], "applied": rec.applied,
                 "reason": rec.reason},
        "holdout": holdout,
        "test_accuracy": tests,
        "pairing": _pairing(best, trials),
        "diverged_runs": int((runs.diverged & mask).sum()),
        "plans_shown": shown,
        "guarantee": guarantee(plan.alpha, plan.margin, shown),
    }


# ------------------------------------------------------------------ on the screen

TABLE_COLUMNS = (
    Column("number", keep=100), Column("classic", right=False, keep=50),
    Column("verdict", right=False, keep=95, cut=12),
    Column("value_mean", keep=90), Column("value_low", keep=70), Column("value_high", keep=70),
    Column("seeds", keep=60), Column("mcb_low", keep=65), Column("seconds", keep=55),
    Column("seconds_sd", keep=40), Column("param_steps", keep=58), Column("cost", keep=45),
    Column("value", keep=30), Column("chosen", right=False, keep=85))

SHORT_VERDICTS = {"equivalent to the best within the margin": "equivalent",
                  "worse": "worse", "not shown different at this power": "not shown"}


def candidate_lines(choice: CandidateChoice) -> list[str]:
    near = [c for c in choice.chosen if c.gap is not None and c.gap <= choice.window + 1e-12]
    outside = [c for c in choice.chosen if c.gap is not None and c not in near]
    rung = [c.number for c in near if c.rung is not None]
    out = [f"candidates: {plural(len(near), 'configuration')} within "
           f"{choice.window * 100:.2f} points of the leader, trial {choice.leader} at "
           f"{percent(choice.leader_value)} ({choice.within:g} x {SEED_SD * 100:.2g} points x "
           f"sqrt 2, the sd of a paired single-seed difference): trials "
           f"{', '.join(str(c.number) for c in near)}"
           + (f" (trials {', '.join(map(str, rung))} stopped at the last rung, epoch "
              f"{choice.last_rung}, and judged there)" if rung else "")
           + "".join(f"; trial {c.number}, {c.gap * 100:.2f} points below, outside the "
                     "window (a race needs two)" for c in outside)
           + next((f"; and the classic configuration, trial {c.number}"
                   for c in choice.chosen if c.classic and c.gap is None), "")]
    if choice.left_out:
        out.append(f"left out by the budget (--max-candidates): trials "
                   f"{', '.join(str(c.number) for c in choice.left_out)}")
    return out


def verdict_lines(summary: dict[str, Any], width: int | None = None) -> list[str]:
    """The verdict: the accuracy-against-cost table (fitted to ``width``), then sentences,
    each figure with the seeds behind it. Differences are in percentage points."""
    cells = [_cells(r) for r in summary["configurations"]]
    made = table(TABLE_COLUMNS, cells, width)
    rule = summary["rule"]
    lines = [
        f"over {summary['seeds']} paired seeds for the contenders ({summary['metric']}); "
        "value_low to value_high: each mean's 95% t-interval; mcb_low: the simultaneous lower "
        "bound of its mean minus the best other mean, in points (equivalent when above "
        f"-{summary['margin'] * 100:.2g}); seconds: mean training time and its sd over the "
        "seeds; param_steps: parameters x optimiser steps; cost: relative to the recommended "
        f"one, by {rule['cost_text']}; value: the sweep's pick, one seed"]
    race = summary["race"]
    lines.append(f"race: {race['trainings']} trainings ({race['reason']}); a fixed design of "
                 f"every candidate to the last look: {race['fixed_design_trainings']}")
    best_set = summary["best_set"]
    lines.append(f"best set (may hold the best, 95%): trials {', '.join(map(str, best_set))}"
                 f"; equivalent to the best within {summary['margin'] * 100:.2g} points: "
                 + (f"trials {', '.join(map(str, summary['equivalent']))}"
                    if summary["equivalent"] else "none shown at these seeds"))
    lines.append(f"recommended: trial {summary['recommended']} (rule: {rule['text']}"
                 + (f", by {rule['cost_text']}" if rule["name"] != "best" else "") + ")"
                 + ("" if rule["applied"] else f"; {rule['reason']}"))
    lines.append(_holdout_line(summary["holdout"]))
    rows = {r["trial"]: r for r in summary["configurations"]}
    for trial, t in summary["test_accuracy"].items():
        lines.append(f"test accuracy of trial {trial}"
                     f"{' (classic)' if rows[int(trial)]['classic'] else ''}: mean "
                     f"{percent(t['mean'])}, sd {points(t['sd'], '.2f')} over {t['n']} seeds "
                     "(never used to choose)")
    p = summary["pairing"]
    measured = (f" Measured correlation of the per-seed accuracies between configurations: "
                f"{p['min']:+.2f} to {p['max']:+.2f} (median {p['median']:+.2f}, "
                f"{plural(len(p['correlations']), 'pair')})." if p["correlations"] else "")
    lines.append(p["statement"] + measured)
    if summary["diverged_runs"]:
        lines.append(f"{plural(summary['diverged_runs'], 'run')} diverged (missing in their "
                     "pairs; a diverged run is not a random loss, so read the verdicts of "
                     "those configurations with care)")
    if summary["resplit"]:
        lines.append(resplit_note(summary.get("split")))
    lines.append("guarantee: " + summary["guarantee"])
    return [*made.lines, *made.note(width), *(part for line in lines
                                              for part in wrap(line, width))]


def _cells(r: dict[str, Any]) -> list[str]:
    """One configuration's row of the verdict table (`TABLE_COLUMNS`)."""
    b, s = r["best_val"], r["seconds"]
    return [str(r["trial"]), "yes" if r["classic"] else "",
            SHORT_VERDICTS.get(r["verdict"], r["verdict"]), percent(b["mean"]),
            percent(b["low"]), percent(b["high"]), str(b["n"]),
            points(r["mcb_low"], "+.3f").replace(" points", ""),
            _secs(s["mean"]), _secs(s["sd"]),
            f"{r['param_steps']:.3g}" if r["param_steps"] else "–",
            f"{r['cost_ratio']:.2f}x" if r["cost_ratio"] else "–",
            percent(r["original_value"]), "<- recommended" if r["chosen"] else ""]


def _holdout_line(h: dict[str, Any]) -> str:
    """The recommended configuration against the classic one on fresh seeds, or why not."""
    if "skipped" in h:
        return f"against the classic configuration: not estimated ({h['skipped']})"
    if "refused" in h:
        return f"against the classic configuration on fresh seeds: {h['refused']}"
    return (f"trial {h['chosen']} against the classic trial {h['classic']} on {h['n']} fresh "
            f"seeds (which chose nothing): {points(h['mean'])} (95% t-interval "
            f"{points(h['low'])} to {points(h['high'])}, p = {h['p_value']:.3g}): "
            f"{h['verdict']}")


def _secs(v: Any) -> str:
    return f"{v:.1f}" if v is not None and np.isfinite(v) else "–"


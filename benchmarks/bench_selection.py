"""Error rates and power of confirm's statistics (sweep/statistics/selection.py, racing.py),
measured by simulation with many repetitions: what docs/confirm-statistics.md quotes.

Simulated (configurations x seeds) accuracy matrices (sweep/statistics/selection_sim.py):
six configurations (five top ones and the classic, all in the family), a per-seed sd of
0.0005 (0.05 points), seeds as blocks with the correlations confirm measured between
configurations (-0.32 to +0.86, "varied"), or 0.4, or none; accuracies rounded to
1/10,000. Every rate comes with its Monte Carlo standard error. Run from the repository
root (about 3 minutes on 2 cores; nice it):

    nice python benchmarks/bench_selection.py                    # 20,000 repetitions a cell
    nice python benchmarks/bench_selection.py --reps 2000 --out /tmp/quick.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import scipy
from scipy import stats

from sweep.statistics.racing import race_batch, race_plan
from sweep.statistics.selection import (
    ALPHA,
    DEFAULT_MARGIN,
    holdout_difference,
    pair_statistics,
    power_equivalent,
    power_worse,
    select_batch,
)
from sweep.statistics.selection_sim import (
    SEED_SD,
    equicorrelation,
    mc_error,
    simulate,
    varied_correlation,
)

K = 6  # the top 5 and the classic
TOP = 0.985  # a top configuration's mean validation accuracy
DELTA = 0.001  # the planted difference: 0.1 points
SEEDS = (5, 10, 20)
CHUNK = 2000


def correlations(k: int = K) -> dict[str, np.ndarray]:
    return {"varied": varied_correlation(k), "0.4": equicorrelation(k, 0.4),
            "none": np.eye(k)}


def chunks(reps: int) -> Iterator[int]:
    while reps > 0:
        yield min(CHUNK, reps)
        reps -= CHUNK


def measure(reps: int, rng: np.random.Generator, means: np.ndarray, sds: float | np.ndarray,
            corr: np.ndarray, n: int, events: Callable[[np.ndarray], dict[str, np.ndarray]],
            noise: str = "normal") -> dict[str, dict[str, float]]:
    """The rate of each event (a boolean per repetition) with its Monte Carlo error."""
    counts: dict[str, float] = {}
    for size in chunks(reps):
        x = simulate(means, sds, corr, n, size, rng, noise=noise)
        for name, hit in events(x).items():
            counts[name] = counts.get(name, 0.0) + float(np.sum(hit))
    return {name: {"rate": c / reps, "mc_se": mc_error(c / reps, reps)}
            for name, c in counts.items()}


# -- the methods compared with the proposed one ---------------------------------------------

def todays_method(x: np.ndarray) -> np.ndarray:
    """Confirm today: paired two-sided t-tests of the best mean against each other, Holm at
    5%; True where a configuration is declared distinguishable (R, K)."""
    mean, se, n = pair_statistics(x)
    r, k = x.shape[:2]
    best = np.argmax(np.nanmean(x, axis=2), axis=1)
    rows = np.arange(r)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = mean[rows, best, :] / se[rows, best, :]  # best minus each
    p = 2 * stats.t.sf(np.abs(t), n[rows, best, :] - 1)
    p[rows, best] = np.inf
    p = np.where(np.isnan(p), 1.0, p)  # a pair without spread: not distinguishable
    order = np.argsort(p, axis=1)
    sorted_p = np.take_along_axis(p, order, axis=1)
    m = k - 1
    with np.errstate(invalid="ignore"):
        adjusted = np.maximum.accumulate(np.minimum(1, (m - np.arange(k)) * sorted_p), axis=1)
    rejected_sorted = (adjusted < ALPHA) & np.isfinite(sorted_p)
    rejected = np.zeros_like(rejected_sorted)
    np.put_along_axis(rejected, order, rejected_sorted, axis=1)
    return rejected


def gupta_bonferroni(x: np.ndarray) -> np.ndarray:
    """Gupta's subset with the Bonferroni MCB constant over K-1 (no step-down): True where
    excluded. Guarantees a set containing *a* best, not every best."""
    mean, se, n = pair_statistics(x)
    k = x.shape[1]
    d = stats.t.ppf(1 - ALPHA / (k - 1), n - 1)
    off = ~np.eye(k, dtype=bool)
    keep = np.where(off, mean + d * se >= 0, True).all(axis=2)
    return ~keep


# -- the sections ----------------------------------------------------------------------------

def null_events(x: np.ndarray) -> dict[str, np.ndarray]:
    b = select_batch(x)
    return {"any_worse": ~b.in_set.all(axis=1), "given_best_excluded": ~b.in_set[:, 0],
            "all_equivalent": b.equivalent.all(axis=1)}


def null_section(reps: int, rng: np.random.Generator) -> list[dict]:
    """All six equal: coverage of the best set (it keeps every configuration, all being
    best) = 1 - FWER of "worse"; and the rate at which a given best is excluded."""
    rows = []
    for cname, corr in correlations().items():
        for n in SEEDS:
            out = measure(reps, rng, np.full(K, TOP), SEED_SD, corr, n, null_events)
            rows.append({"correlation": cname, "seeds": n, **out})
    sds = np.linspace(0.0003, 0.0008, K)
    for n in SEEDS:
        out = measure(reps, rng, np.full(K, TOP), sds, varied_correlation(K), n, lambda x: {
            "any_worse": ~select_batch(x).in_set.all(axis=1)})
        rows.append({"correlation": "varied, sds 0.03-0.08 points", "seeds": n, **out})
    return rows


def robustness_section(reps: int, rng: np.random.Generator) -> list[dict]:
    """All equal, non-normal seed noise: heavy tails (t3) and bad seeds (skewed)."""
    rows = []
    for noise in ("t3", "bad-seeds"):
        for n in SEEDS:
            out = measure(reps, rng, np.full(K, TOP), SEED_SD, varied_correlation(K), n,
                          lambda x: {"any_worse": ~select_batch(x).in_set.all(axis=1)},
                          noise=noise)
            rows.append({"noise": noise, "seeds": n, **out})
    return rows


def planted_section(reps: int, rng: np.random.Generator) -> list[dict]:
    """One configuration 0.1 points below five equal ones: the power to exclude it, the
    false "worse" rate among the five, and the power formula's lower bound."""
    rows = []
    cases = {"varied (worse one at an end: corr 0.86, 0.67, 0.37, 0.03, -0.32)":
             (varied_correlation(K), 0),
             "varied (worse one in the middle)": (varied_correlation(K), 2),
             "none": (np.eye(K), 0),
             "0.28 (paired-difference sd 0.06 points)": (equicorrelation(K, 0.28), 0)}
    for cname, (corr, pos) in cases.items():
        mu = np.full(K, TOP)
        mu[pos] -= DELTA
        others = np.delete(np.arange(K), pos)
        sd_diff = min(SEED_SD * math.sqrt(2 * (1 - corr[pos, j])) for j in others)
        for n in SEEDS:
            def events(x: np.ndarray, pos: int = pos, others: np.ndarray = others) -> dict:
                b = select_batch(x)
                return {"excluded": ~b.in_set[:, pos],
                        "false_worse": ~b.in_set[:, others].all(axis=1),
                        "called_equivalent": b.equivalent[:, pos]}
            out = measure(reps, rng, mu, SEED_SD, corr, n, events)
            rows.append({"correlation": cname, "seeds": n, **out,
                         "formula_lower_bound": power_worse(sd_diff, n, DELTA, n_configs=K)})
    return rows


def better_section(reps: int, rng: np.random.Generator) -> list[dict]:
    """One configuration 0.1 points above five equal ones: how often the set is it alone."""
    rows = []
    for cname, corr in (("varied", varied_correlation(K)), ("none", np.eye(K))):
        mu = np.full(K, TOP - DELTA)
        mu[2] = TOP
        for n in SEEDS:
            sizes = []

            def events(x: np.ndarray, sizes: list = sizes) -> dict:
                b = select_batch(x)
                sizes.append(b.in_set.sum(axis=1))
                return {"set_is_the_best_alone": (b.in_set.sum(axis=1) == 1) & b.in_set[:, 2],
                        "best_excluded": ~b.in_set[:, 2]}
            out = measure(reps, rng, mu, SEED_SD, corr, n, events)
            rows.append({"correlation": cname, "seeds": n, **out,
                         "mean_set_size": float(np.concatenate(sizes).mean())})
    return rows


def equivalence_section(reps: int, rng: np.random.Generator) -> list[dict]:
    """False equivalence at the boundary (exactly the margin below the best) and the power
    to show equivalence when equal."""
    rows = []
    corr = varied_correlation(K)
    lfc = np.full(K, TOP - DEFAULT_MARGIN)
    lfc[0] = TOP
    for n in SEEDS:
        out = measure(reps, rng, lfc, SEED_SD, corr, n, lambda x: {
            "any_false_equivalent": select_batch(x).equivalent[:, 1:].any(axis=1)})
        rows.append({"case": "one best, five exactly the margin below (least favourable)",
                     "correlation": "varied", "seeds": n, **out})
    for n in SEEDS:
        out = measure(reps, rng, np.array([TOP, TOP - DEFAULT_MARGIN]), SEED_SD,
                      equicorrelation(2, 0.28), n, lambda x: {
                          "false_equivalent": select_batch(x).equivalent[:, 1]})
        rows.append({"case": "two configurations, one exactly the margin below",
                     "correlation": "0.28", "seeds": n, **out,
                     "nominal": ALPHA})
    for n in SEEDS:
        out = measure(reps, rng, np.full(K, TOP), SEED_SD, corr, n, lambda x: {
            "given_equivalent": select_batch(x).equivalent[:, 0]})
        rows.append({"case": "six equal", "correlation": "varied", "seeds": n, **out})
    for n in SEEDS:
        out = measure(reps, rng, np.array([TOP, TOP]), SEED_SD, equicorrelation(2, 0.28), n,
                      lambda x: {"equivalent": select_batch(x).equivalent[:, 0]})
        rows.append({"case": "two equal", "correlation": "0.28", "seeds": n, **out,
                     "formula": power_equivalent(0.0006, n, 0.0, n_configs=2)})
    return rows


def race_section(reps: int, rng: np.random.Generator) -> list[dict]:
    """Racing with looks at 5 and 10 seeds (and 5, 10, 20): error under the null, power, cost."""
    rows = []
    corr = varied_correlation(K)
    scenarios = {"six equal": (np.full(K, TOP), None),
                 "one 0.1 points below": (np.r_[TOP - DELTA, np.full(K - 1, TOP)], 0),
                 "one 0.3 points below": (np.r_[TOP - 3 * DELTA, np.full(K - 1, TOP)], 0),
                 "three 0.3 points below": (np.r_[np.full(3, TOP - 3 * DELTA),
                                                  np.full(3, TOP)], None),
                 "one best, five exactly the margin below": (
                     np.r_[TOP, np.full(K - 1, TOP - DEFAULT_MARGIN)], None)}
    for looks in ((5, 10), (5, 10, 20)):
        plan = race_plan(K, looks)
        for name, (mu, pos) in scenarios.items():
            best = mu == mu.max()
            got: dict[str, list] = {"trainings": []}

            def events(x: np.ndarray, plan=plan, best=best, pos=pos, got=got) -> dict:
                race = race_batch(x, plan)
                got["trainings"].append(race.trainings)
                ev = {"best_eliminated": ~race.alive[:, best].all(axis=1)}
                if pos is not None:
                    ev["worse_eliminated"] = ~race.alive[:, pos]
                if (~best).sum() == 3:
                    ev["all_worse_eliminated"] = ~race.alive[:, ~best].any(axis=1)
                    ev["all_worse_out_at_look_1"] = (race.eliminated_look[:, ~best] == 1
                                                     ).all(axis=1)
                if (~best).sum() == K - 1:
                    ev["any_false_equivalent"] = race.equivalent[:, ~best].any(axis=1)
                if best.all():
                    ev["given_equivalent"] = race.equivalent[:, 0]
                return ev
            out = measure(reps, rng, mu, SEED_SD, corr, looks[-1], events)
            t = np.concatenate(got["trainings"])
            rows.append({"looks": list(looks), "look_alphas": list(plan.look_alphas),
                         "scenario": name, **out,
                         "trainings_mean": float(t.mean()),
                         "trainings_mc_se": float(t.std() / math.sqrt(len(t))),
                         "fixed_design_trainings": plan.fixed_design_trainings})
    return rows


def holdout_section(reps: int, rng: np.random.Generator) -> list[dict]:
    """Chosen against the classic. All six equal; the chosen one is the best mean of the
    five top ones. Same seeds: how often it is "better than the classic" at 5% (today's
    report). Fresh seeds (holdout_difference): the same rate, and the interval's coverage
    of the true difference (0)."""
    rows = []
    for cname, corr in correlations().items():
        for n in (5, 10):
            same = fresh_better = covered = 0
            for size in chunks(reps):
                x = simulate(np.full(K, TOP), SEED_SD, corr, n, size, rng)
                top = np.argmax(x[:, :5].mean(axis=2), axis=1)
                d = x[np.arange(size), top, :] - x[:, 5, :]
                with np.errstate(invalid="ignore", divide="ignore"):
                    t = d.mean(1) / (d.std(1, ddof=1) / math.sqrt(n))
                same += int(np.sum((2 * stats.t.sf(np.abs(t), n - 1) < ALPHA) & (t > 0)))
                y = simulate(np.full(K, TOP), SEED_SD, corr, n, size, rng)  # fresh seeds
                for i in range(size):
                    h = holdout_difference(y[i, top[i]], y[i, 5])
                    fresh_better += h.verdict == "better"
                    covered += h.low <= 0 <= h.high
            rows.append({"correlation": cname, "seeds": n,
                         "same_seeds_called_better": _rate(same, reps),
                         "fresh_seeds_called_better": _rate(fresh_better, reps),
                         "fresh_interval_covers": _rate(covered, reps)})
    return rows


def _rate(count: int, reps: int) -> dict[str, float]:
    return {"rate": count / reps, "mc_se": mc_error(count / reps, reps)}


def gupta_events(x: np.ndarray) -> dict[str, np.ndarray]:
    excluded = gupta_bonferroni(x)
    return {"any_excluded": excluded.any(axis=1), "given_best_excluded": excluded[:, 0]}


def baseline_section(reps: int, rng: np.random.Generator) -> list[dict]:
    """The referee's figures, reproduced: today's method on five equal configurations, and
    Gupta's subset with the MCB constant (a set containing *a* best)."""
    rows = []
    for cname, corr in (("none", np.eye(5)), ("0.4", equicorrelation(5, 0.4))):
        out = measure(reps, rng, np.full(5, TOP), SEED_SD, corr, 5, lambda x: {
            "any_distinguishable": todays_method(x).any(axis=1)})
        rows.append({"method": "today: Holm against the best of the same means",
                     "configurations": 5, "correlation": cname, "seeds": 5, **out})
    for cname, corr in correlations().items():
        for n in (5, 10):
            out = measure(reps, rng, np.full(K, TOP), SEED_SD, corr, n, gupta_events)
            rows.append({"method": "Gupta subset, Bonferroni MCB constant over K-1",
                         "configurations": K, "correlation": cname, "seeds": n, **out})
    return rows


SECTIONS = {"null": null_section, "robustness": robustness_section,
            "planted_worse": planted_section, "planted_better": better_section,
            "equivalence": equivalence_section, "race": race_section,
            "holdout": holdout_section, "baselines": baseline_section}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=20_261_125)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/selection.json"))
    ap.add_argument("--only", choices=sorted(SECTIONS), nargs="*")
    args = ap.parse_args()
    result = {"date": datetime.now().isoformat(timespec="minutes"),
              "python": platform.python_version(), "numpy": np.__version__,
              "scipy": scipy.__version__, "reps": args.reps, "seed": args.seed,
              "alpha": ALPHA, "margin": DEFAULT_MARGIN, "configurations": K,
              "seed_sd": SEED_SD, "delta": DELTA, "top_mean": TOP,
              "command": "nice python benchmarks/bench_selection.py"
                         + (f" --reps {args.reps}" if args.reps != 20_000 else "")}
    for name, section in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        started = time.perf_counter()
        rng = np.random.default_rng([args.seed, list(SECTIONS).index(name)])
        result[name] = section(args.reps, rng)
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Calibration of sweep.statistics: error rates, coverages and powers on known truths.

The calibration tests (tests/sweep/statistics/test_stat_calibration.py) run the same
simulations with few repetitions; this script runs them with many and writes
benchmarks/results/calibration.json, the numbers docs/statistics.md quotes. Run from the
repository root (about an hour on two busy cores; ``--scale 0.1`` for a quick look):

    nice python benchmarks/bench_calibration.py
    nice python benchmarks/bench_calibration.py --only null,reference --scale 0.2

Sections:

- ``null``: the objective independent of every setting; uniform, TPE-like and Optuna TPE
  designs; n in {14, 20, 30, 60}: the rate of at least one stated effect (family-wise
  error) of the permutation test, whose level is 5%.
- ``reference``: `simulate.reference_truth` (an inverted U in log lr, 2 points high, and a
  0.4-point hidden_size rise; noise sd 0.3 points) with lr and l2 correlated (0.7) in the
  design: the rate of a false l2 effect (the confounded null), of any false effect among
  dropout, l2 and batch_size, and the power for lr and hidden_size, by n; also for the
  ``shuffle`` scheme, to show why it is not the default.
- ``bands``: coverage of the partial-dependence bands (pointwise, averaged over the grid;
  simultaneous), of the effect-size interval and of the importance-share intervals, on
  the reference truth and on a truth with an lr x hidden_size interaction, by n.
- ``forest``: Optuna's fANOVA on the analysis scale (`importance.forest_shares`): the
  Monte Carlo sd of a share between forests of 32, 128 and 256 trees, and its mean share
  on the reference truth, beside the surrogate's, where lr and l2 are correlated and not.
- ``minimum``: the smallest n at which the test finds the reference lr effect with the
  power required (see `MIN_RULE`), from the reference section's power curve.

Every rate comes with its Monte Carlo standard error sqrt(r (1 - r) / reps).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sweep.statistics import simulate as S  # noqa: E402
from sweep.statistics.design import from_arrays  # noqa: E402
from sweep.statistics.effects import (  # noqa: E402
    ALPHA,
    MIN_TRIALS,
    partial_dependence,
    permutation_test,
    permutations,
)
from sweep.statistics.importance import forest_shares, share_draws  # noqa: E402
from sweep.statistics.surrogate import AdditiveSurrogate  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "calibration.json"
N_PERM = 499  # shuffles per test here (the default is 999; only the p-values' grain differs)
CORR = (("lr", "l2", 0.7),)
NULL_NS = (14, 20, 30, 60)
REF_NS = (12, 14, 16, 20, 24, 30, 40, 60)
BAND_NS = (14, 20, 30, 60)
MIN_RULE = ("smallest n from which the permutation test finds the reference lr effect (a "
            "2-point inverted U, 6.7 noise sd) with power >= 0.5 in the TPE-like design and "
            ">= 0.8 in the uniform one, and the lr band's pointwise coverage is >= 0.9")

SCENARIOS = {
    "null-uniform": S.Scenario("null-uniform", S.null_truth, "uniform"),
    "null-tpe-like": S.Scenario("null-tpe-like", S.null_truth, "tpe"),
    "null-optuna-tpe": S.Scenario("null-optuna-tpe", S.null_truth, "optuna-tpe"),
    "reference-tpe-like": S.Scenario("reference-tpe-like", S.reference_truth, "tpe", corr=CORR),
    "reference-uniform": S.Scenario("reference-uniform", S.reference_truth, "uniform",
                                    corr=CORR),
    "reference-optuna-tpe": S.Scenario("reference-optuna-tpe", S.reference_truth,
                                       "optuna-tpe"),
    "interaction-tpe-like": S.Scenario("interaction-tpe-like", S.interaction_truth, "tpe",
                                       corr=CORR),
}


def rate(x: np.ndarray) -> dict[str, float]:
    r = float(np.mean(x))
    return {"rate": round(r, 4), "mc_se": round(math.sqrt(max(r * (1 - r), 1e-12) / len(x)),
                                                4)}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def tests(scenario: S.Scenario, n: int, reps: int, seed: int, scheme: str = "freedman-lane"
          ) -> np.ndarray:
    """Stated effects (reps x p booleans) of the permutation test on simulated studies."""
    X, y = S.simulate(scenario, np.random.default_rng(seed), reps, n)
    perms = permutations(n, N_PERM, np.random.default_rng(seed + 1))
    out = np.zeros((reps, len(S.NAMES)), dtype=bool)
    for r in range(reps):
        t = permutation_test(from_arrays(X[r], y[r], S.DEFAULT_SETTINGS), perms=perms,
                             scheme=scheme)
        out[r] = np.nan_to_num(t.p_adjusted, nan=1.0) <= ALPHA
    return out


def null_section(scale: float) -> list[dict]:
    rows = []
    for name in ("null-uniform", "null-tpe-like", "null-optuna-tpe"):
        for n in NULL_NS:
            reps = max(20, int((400 if "optuna" in name else 1000) * scale))
            t0 = time.time()
            stated = tests(SCENARIOS[name], n, reps, seed=1000 + n)
            row = {"scenario": name, "n": n, "reps": reps, "n_perm": N_PERM,
                   "family_wise_error": rate(stated.any(axis=1)),
                   "per_setting": {s: rate(stated[:, j]) for j, s in enumerate(S.NAMES)}}
            rows.append(row)
            log(f"null {name} n={n}: FWER {row['family_wise_error']} "
                f"({time.time() - t0:.0f}s)")
    return rows


def reference_section(scale: float) -> list[dict]:
    rows = []
    plan = [("reference-tpe-like", "freedman-lane", REF_NS, 1000),
            ("reference-uniform", "freedman-lane", REF_NS, 1000),
            ("reference-optuna-tpe", "freedman-lane", (14, 20, 30, 60), 300),
            ("reference-tpe-like", "shuffle", (14, 30, 60), 300),
            ("reference-uniform", "shuffle", (14, 30, 60), 300)]
    for name, scheme, ns, base in plan:
        for n in ns:
            reps = max(20, int(base * scale))
            t0 = time.time()
            stated = tests(SCENARIOS[name], n, reps, seed=2000 + n, scheme=scheme)
            j = {s: i for i, s in enumerate(S.NAMES)}
            row = {"scenario": name, "scheme": scheme, "n": n, "reps": reps,
                   "n_perm": N_PERM,
                   "power_lr": rate(stated[:, j["lr"]]),
                   "power_hidden_size": rate(stated[:, j["hidden_size"]]),
                   "false_l2": rate(stated[:, j["l2"]]),
                   "false_any_null_setting": rate(
                       stated[:, [j["dropout"], j["l2"], j["batch_size"]]].any(axis=1))}
            rows.append(row)
            log(f"reference {name} {scheme} n={n}: lr {row['power_lr']['rate']} hidden "
                f"{row['power_hidden_size']['rate']} l2 {row['false_l2']['rate']} any-null "
                f"{row['false_any_null_setting']['rate']} ({time.time() - t0:.0f}s)")
    return rows


def bands_section(scale: float) -> list[dict]:
    rows = []
    plan = [("reference-tpe-like", BAND_NS), ("reference-uniform", BAND_NS),
            ("interaction-tpe-like", (20, 30, 60))]
    for name, ns in plan:
        sc = SCENARIOS[name]
        true_share = S.true_shares(sc.truth)
        for n in ns:
            reps = max(10, int(250 * scale))
            t0 = time.time()
            X, y = S.simulate(sc, np.random.default_rng(3000 + n), reps, n)
            perms = permutations(n, N_PERM, np.random.default_rng(3001 + n))
            cover = {s: {"pointwise": [], "simultaneous": [], "size": [], "size_true": [],
                         "size_est": [], "share": [], "share_est": [], "share_width": []}
                     for s in S.NAMES}
            for r in range(reps):
                d = from_arrays(X[r], y[r], S.DEFAULT_SETTINGS)
                model = AdditiveSurrogate(d)
                fits = model.mixture(np.random.default_rng([r, 1]))
                test = permutation_test(d, perms=perms)
                shares = share_draws(model, fits, np.random.default_rng([r, 3]))
                lo, hi = np.quantile(shares, [0.025, 0.975], axis=0)
                stated = np.nan_to_num(test.p_adjusted, nan=1.0) <= ALPHA
                lo = np.where(stated, lo, 0.0)
                for j, s in enumerate(S.NAMES):
                    b = partial_dependence(model, j, fits, rng=np.random.default_rng([r, 2, j]))
                    truth = S.true_partial_dependence(sc.truth, X[r], j, b["grid"])
                    size = truth.max() - truth.min()
                    c = cover[s]
                    c["pointwise"].append(np.mean((truth >= b["low"]) & (truth <= b["high"])))
                    c["simultaneous"].append(bool(np.all((truth >= b["band_low"])
                                                         & (truth <= b["band_high"]))))
                    s_lo = max(0.0, b["band_low"].max() - b["band_high"].min())
                    s_hi = b["band_high"].max() - b["band_low"].min()
                    c["size"].append(bool(s_lo - 1e-12 <= size <= s_hi + 1e-12))
                    c["size_true"].append(size)
                    c["size_est"].append(b["pd"].max() - b["pd"].min())
                    c["share"].append(bool(lo[j] - 1e-9 <= true_share[j] <= hi[j] + 1e-9))
                    c["share_est"].append(shares[:, j].mean())
                    c["share_width"].append(hi[j] - lo[j])
            per = {}
            for s in S.NAMES:
                c = cover[s]
                pw = np.array(c["pointwise"])
                per[s] = {
                    "pointwise_coverage": {"rate": round(float(pw.mean()), 4),
                                           "mc_se": round(float(pw.std() / math.sqrt(reps)),
                                                          4)},
                    "simultaneous_coverage": rate(np.array(c["simultaneous"])),
                    "size_interval_coverage": rate(np.array(c["size"])),
                    "true_size_points": round(float(np.mean(c["size_true"])) * 100, 3),
                    "mean_size_points": round(float(np.mean(c["size_est"])) * 100, 3),
                    "true_share": round(float(true_share[S.NAMES.index(s)]), 4),
                    "share_interval_coverage": rate(np.array(c["share"])),
                    "mean_share": round(float(np.mean(c["share_est"])), 4),
                    "mean_share_interval_width": round(float(np.mean(c["share_width"])), 4),
                }
            rows.append({"scenario": name, "n": n, "reps": reps, "level": 0.95,
                         "per_setting": per})
            log(f"bands {name} n={n} ({time.time() - t0:.0f}s): lr pointwise "
                f"{per['lr']['pointwise_coverage']['rate']} simult "
                f"{per['lr']['simultaneous_coverage']['rate']} share "
                f"{per['lr']['share_interval_coverage']['rate']}; hidden pointwise "
                f"{per['hidden_size']['pointwise_coverage']['rate']} share "
                f"{per['hidden_size']['share_interval_coverage']['rate']}")
    return rows


def forest_section(scale: float) -> list[dict]:
    rows = []
    for name in ("reference-tpe-like", "reference-uniform"):
        sc = SCENARIOS[name]
        n, reps = 30, max(4, int(40 * scale))
        X, y = S.simulate(sc, np.random.default_rng(4000), reps, n)
        for trees in (32, 128, 256):
            t0 = time.time()
            sds, means, surrogate = [], [], []
            for r in range(reps):
                d = from_arrays(X[r], y[r], S.DEFAULT_SETTINGS)
                f = forest_shares(d, n_trees=trees, seeds=4)
                sds.append(f["mc_error"].to_numpy() * 2)  # sd of one forest = se x sqrt(4)
                means.append(f["share"].to_numpy())
                if trees == 128:
                    model = AdditiveSurrogate(d)
                    fits = model.mixture(np.random.default_rng([r, 1]))
                    surrogate.append(share_draws(model, fits,
                                                 np.random.default_rng([r, 3])).mean(axis=0))
            sds, means = np.array(sds), np.array(means)
            row = {"scenario": name, "n": n, "reps": reps, "trees": trees,
                   "seconds_per_forest": round((time.time() - t0) / reps / 4, 3),
                   "forest_sd_of_share_max_over_settings": round(float(sds.max(axis=1).mean()),
                                                                 4),
                   "true_share": dict(zip(S.NAMES, np.round(S.true_shares(sc.truth), 4)
                                          .tolist(), strict=True)),
                   "mean_forest_share": dict(zip(S.NAMES, np.round(means.mean(axis=0), 4)
                                                 .tolist(), strict=True))}
            if surrogate:
                row["mean_surrogate_share"] = dict(zip(
                    S.NAMES, np.round(np.mean(surrogate, axis=0), 4).tolist(), strict=True))
            rows.append(row)
            log(f"forest {name} trees={trees}: sd {row['forest_sd_of_share_max_over_settings']}"
                f" mean {row['mean_forest_share']} ({time.time() - t0:.0f}s)")
    return rows


def minimum(reference: list[dict], bands: list[dict]) -> dict:
    def power(name: str) -> dict[int, float]:
        return {r["n"]: r["power_lr"]["rate"] for r in reference
                if r["scenario"] == name and r["scheme"] == "freedman-lane"}

    tpe, uni = power("reference-tpe-like"), power("reference-uniform")
    cov = {r["n"]: r["per_setting"]["lr"]["pointwise_coverage"]["rate"] for r in bands
           if r["scenario"] == "reference-tpe-like"}
    ok = [n for n in sorted(tpe) if tpe[n] >= 0.5 and uni.get(n, 0) >= 0.8
          and all(tpe.get(m, 0) >= 0.5 for m in tpe if m > n)
          and all(c >= 0.9 for m, c in cov.items() if m >= n)]
    return {"rule": MIN_RULE, "measured_minimum": ok[0] if ok else None,
            "stated_minimum": MIN_TRIALS, "power_lr_tpe_like": tpe, "power_lr_uniform": uni,
            "lr_pointwise_coverage_tpe_like": cov}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="repetitions x this")
    ap.add_argument("--only", default="null,reference,bands,forest",
                    help="comma-separated sections")
    ap.add_argument("--json", type=Path, default=OUT)
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    old = json.loads(args.json.read_text()) if args.json.exists() else {}
    started = time.time()
    out = dict(old)
    out.update({"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "command": "nice python benchmarks/bench_calibration.py"
                           + (f" --scale {args.scale}" if args.scale != 1 else "")
                           + (f" --only {args.only}"
                              if args.only != "null,reference,bands,forest" else ""),
                "machine": f"{platform.processor() or platform.machine()}, Python "
                           f"{platform.python_version()}, numpy {np.__version__}",
                "alpha": ALPHA, "noise_sd_points": S.NOISE * 100})
    if "null" in only:
        out["null"] = null_section(args.scale)
    if "reference" in only:
        out["reference"] = reference_section(args.scale)
    if "bands" in only:
        out["bands"] = bands_section(args.scale)
    if "forest" in only:
        out["forest"] = forest_section(args.scale)
    if "reference" in out and "bands" in out:
        out["minimum_trials"] = minimum(out["reference"], out["bands"])
    out["seconds"] = round(time.time() - started)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

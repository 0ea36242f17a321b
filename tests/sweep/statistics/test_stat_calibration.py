"""Calibration: the statistical methods state what they measure, on known truths.

Each test simulates studies (seeded), runs a method on each and checks a rate against the
one the method states, within two Monte Carlo standard errors. The repetitions are few
(each test a few seconds); benchmarks/bench_calibration.py runs the same simulations
with many more and writes the rates docs/statistics.md quotes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sweep.statistics import simulate as S
from sweep.statistics.design import from_arrays
from sweep.statistics.effects import (
    ALPHA,
    MIN_TRIALS,
    effects,
    partial_dependence,
    permutation_test,
    permutations,
)
from sweep.statistics.importance import share_draws
from sweep.statistics.surrogate import AdditiveSurrogate

N_PERM = 199  # shuffles per test here; the adjusted p-values come in steps of 1/200
FAST = {"chains": 8, "burn": 60, "steps": 40, "keep": 4}  # shorter Metropolis chains
CORR = (("lr", "l2", 0.7),)  # lr and l2 correlated in the design: confounding
# stated in docs/statistics.md from benchmarks/results/calibration.json
POWER_LR_30_TPE_LIKE = 0.80  # reference lr effect, n=30, TPE-like design (measured 0.84)


def se(p: float, reps: int) -> float:
    return math.sqrt(p * (1 - p) / reps)


def stated(scenario: S.Scenario, n: int, reps: int, seed: int) -> np.ndarray:
    """Which settings the permutation test states an effect for (reps x p)."""
    X, y = S.simulate(scenario, np.random.default_rng(seed), reps, n)
    perms = permutations(n, N_PERM, np.random.default_rng(seed + 1))
    return np.array([permutation_test(from_arrays(X[r], y[r], S.DEFAULT_SETTINGS),
                                      perms=perms).p_adjusted <= ALPHA
                     for r in range(reps)])


@pytest.mark.parametrize(("design", "n"), [("uniform", 14), ("uniform", 30), ("tpe", 14),
                                           ("tpe", 30)])
@pytest.mark.slow  # thousands of simulated studies: seconds each
def test_null_family_wise_error(design: str, n: int) -> None:
    """Accuracy independent of every setting: at least one false effect in at most
    ALPHA of the studies (TPE-like: the design chases the noise, as TPE does)."""
    reps = 250
    rate = stated(S.Scenario("null", S.null_truth, design), n, reps, seed=n).any(axis=1)
    assert rate.mean() <= ALPHA + 2 * se(ALPHA, reps)


def test_effects_says_nothing_below_its_minimum() -> None:
    """The referee's case: 14 trials with their accuracies shuffled. `effects` states no
    effect at all below MIN_TRIALS (the test above shows it would be calibrated there,
    but find little: docs/statistics.md)."""
    X, y = S.simulate(S.Scenario("null", S.null_truth, "tpe"), np.random.default_rng(9), 3,
                      14)
    for r in range(3):
        e = effects(from_arrays(X[r], y[r], S.DEFAULT_SETTINGS), n_perm=N_PERM, mcmc=FAST)
        assert 14 < MIN_TRIALS and not e.stated
        assert {x.verdict for x in e.effects} == {"not tested"}


@pytest.mark.slow  # thousands of simulated studies: seconds each
def test_confounded_null_and_power() -> None:
    """lr's inverted U and a weaker hidden_size term, with l2 correlated with lr in a
    TPE-like design: l2 (no effect) is not stated beyond ALPHA, nor any of the three
    settings without an effect; lr's effect is found at the stated power."""
    reps, n = 300, 30
    s = stated(S.Scenario("ref", S.reference_truth, "tpe", corr=CORR), n, reps, seed=77)
    j = {name: i for i, name in enumerate(S.NAMES)}
    bound = ALPHA + 2 * se(ALPHA, reps)
    assert s[:, j["l2"]].mean() <= bound
    assert s[:, [j["dropout"], j["l2"], j["batch_size"]]].any(axis=1).mean() <= bound
    assert s[:, j["lr"]].mean() >= POWER_LR_30_TPE_LIKE - 2 * se(POWER_LR_30_TPE_LIKE, reps)


@pytest.mark.slow  # thousands of simulated studies: seconds each
def test_bands_and_share_intervals_cover_the_truth() -> None:
    """The partial-dependence bands and the share intervals on the reference truth (n=30,
    TPE-like, lr and l2 correlated) cover the truth at the rates docs/statistics.md
    states (measured there with many more studies): the 95% bands are credible bands whose
    frequentist coverage is about 0.9 and more, lower for the weak hidden_size effect."""
    reps, n = 30, 30
    sc = S.Scenario("ref", S.reference_truth, "tpe", corr=CORR)
    X, y = S.simulate(sc, np.random.default_rng(5), reps, n)
    perms = permutations(n, N_PERM, np.random.default_rng(6))
    true_share = S.true_shares(sc.truth)
    pointwise = np.zeros((reps, 5))
    size_cover = np.zeros((reps, 5), dtype=bool)
    share_cover = np.zeros((reps, 5), dtype=bool)
    for r in range(reps):
        d = from_arrays(X[r], y[r], S.DEFAULT_SETTINGS)
        model = AdditiveSurrogate(d)
        fits = model.mixture(np.random.default_rng(r), **FAST)
        for j in range(5):
            b = partial_dependence(model, j, fits, rng=np.random.default_rng([r, j]),
                                   draws=1000)
            truth = S.true_partial_dependence(sc.truth, X[r], j, b["grid"])
            pointwise[r, j] = np.mean((b["low"] <= truth) & (truth <= b["high"]))
            size = truth.max() - truth.min()
            size_cover[r, j] = (max(0, b["band_low"].max() - b["band_high"].min()) <= size
                                <= b["band_high"].max() - b["band_low"].min())
        shares = share_draws(model, fits, np.random.default_rng(r), 1000)
        lo, hi = np.quantile(shares, [0.025, 0.975], axis=0)
        test = permutation_test(d, perms=perms)
        lo = np.where(test.p_adjusted <= ALPHA, lo, 0.0)
        share_cover[r] = (lo - 1e-9 <= true_share) & (true_share <= hi + 1e-9)
    j = {name: i for i, name in enumerate(S.NAMES)}
    mean = pointwise.mean(axis=0)
    err = pointwise.std(axis=0) / math.sqrt(reps)
    # measured with 250 studies: lr 0.94, hidden_size 0.93, the null settings 0.98
    assert mean[j["lr"]] >= 0.90 - 2 * err[j["lr"]]
    assert mean[j["hidden_size"]] >= 0.85 - 2 * err[j["hidden_size"]]
    for name in ("dropout", "l2", "batch_size"):
        assert mean[j[name]] >= 0.93 - 2 * err[j[name]]
    assert size_cover.mean() >= 0.95 - 2 * se(0.95, reps * 5)
    assert share_cover[:, j["lr"]].mean() >= 0.9 - 2 * se(0.9, reps)
    assert share_cover.mean() >= 0.95 - 2 * se(0.95, reps * 5)

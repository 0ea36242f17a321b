"""Statistics over seeds: how sure a ranking of configurations is, given seed noise.

Every configuration is re-trained with the same seeds 0..S-1, so the comparison of
two configurations is paired by seed: the difference at each seed removes what the
seed does to both (its initialisation stream, its batch order). Pure functions of
the per-seed accuracies, so that a test can recompute each figure on its own.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05  # family-wise error rate of the comparisons with the best (Holm)


@dataclass(frozen=True)
class Interval:
    mean: float
    sd: float
    low: float
    high: float
    n: int


def t_interval(values: list[float] | np.ndarray, level: float = 0.95) -> Interval:
    """Mean, standard deviation and Student-t interval for the mean (NaN below 2 values)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n < 2:
        return Interval(mean, math.nan, math.nan, math.nan, 1)
    sd = float(x.std(ddof=1))
    from scipy import stats  # here: importing it costs every CLI call a second

    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, sd, mean - half, mean + half, n)


def paired_t_p(diffs: np.ndarray) -> float:
    """Two-sided p-value of a paired t-test that the mean difference is zero."""
    d = np.asarray(diffs, dtype=np.float64)
    if len(d) < 2:
        return math.nan
    sd = d.std(ddof=1)
    if sd == 0:
        return 1.0 if d.mean() == 0 else 0.0
    t = d.mean() / (sd / math.sqrt(len(d)))
    from scipy import stats

    return float(2 * stats.t.sf(abs(t), len(d) - 1))


def sign_flip_p(diffs: np.ndarray, draws: int = 20_000, seed: int = 0) -> float:
    """Two-sided p-value of a sign-flip (paired permutation) test of a zero mean
    difference: exact over all 2^n sign patterns up to n = 16, Monte Carlo above."""
    d = np.asarray(diffs, dtype=np.float64)
    n = len(d)
    if n == 0:
        return math.nan
    observed = abs(d.mean())
    if n <= 16:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    else:
        signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(draws, n))
    means = np.abs((signs * d).mean(axis=1))
    return float(np.mean(means >= observed - 1e-15))


def smallest_sign_flip_p(n: int) -> float:
    """The smallest p-value a two-sided sign-flip test can reach with n pairs."""
    return 2.0 / 2**n if n else math.nan


def holm(p_values: list[float], alpha: float = ALPHA) -> tuple[list[float], list[bool]]:
    """Holm's step-down adjustment: adjusted p-values, and which hypotheses are rejected
    at family-wise level ``alpha``. NaN p-values are never rejected."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: (math.isnan(p_values[i]), p_values[i]))
    adjusted = [math.nan] * m
    running = 0.0
    for rank, i in enumerate(order):
        p = p_values[i]
        if math.isnan(p):
            continue
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted, [not math.isnan(a) and a < alpha for a in adjusted]


@dataclass(frozen=True)
class Comparison:
    """The best configuration against another, paired by seed (best minus other)."""

    other: int
    diff: Interval
    t_p: float
    sign_flip_p: float
    holm_p: float
    distinguishable: bool


def compare_with_best(best: dict[int, float], others: dict[int, dict[int, float]],
                      alpha: float = ALPHA) -> list[Comparison]:
    """Paired comparisons of ``best`` (accuracy by seed) with each of ``others`` (trial ->
    accuracy by seed), on the seeds both have; Holm over the family, on the t-test."""
    rows = []
    for trial, values in others.items():
        seeds = sorted(set(best) & set(values))
        d = np.array([best[s] - values[s] for s in seeds])
        rows.append((trial, d))
    t_ps = [paired_t_p(d) for _, d in rows]
    adjusted, rejected = holm(t_ps, alpha)
    return [Comparison(trial, t_interval(d), t_p, sign_flip_p(d), adj, rej)
            for (trial, d), t_p, adj, rej in zip(rows, t_ps, adjusted, rejected, strict=True)]

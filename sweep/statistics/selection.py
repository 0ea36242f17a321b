"""Which configurations may be the best, over seeds: a best set with a stated guarantee.

The data are a (configurations x seeds) matrix of accuracies (fractions in [0, 1]); seed s
is the same seed for every configuration, so the seed is a block and every comparison is
made on per-seed differences. Nothing here assumes equal variances or equal correlations
between configurations: ``sweep confirm`` measured seed correlations from -0.33 to +0.87
between pairs, because only the data order is shared across hidden sizes.

Model. X[k, s] = mu_k + e[k, s], the vectors e[., s] independent across seeds with any
covariance; each paired difference X[i, s] - X[j, s] normal (so each paired t statistic
has an exact Student-t law whatever the covariance). The classic configuration is one
row of the matrix like any other: it is inside the family.

Missing runs (NaN: a failed or diverged training). Each pair of configurations is
compared on the seeds both have (pairwise complete), with its own degrees of freedom.
This is valid when whether a run is missing does not depend on the accuracy it would
have had; a diverged run is not such a random loss, so the caller should count and
show diverged runs beside these verdicts. `best_set` refuses when some pair shares
fewer than ``min_seeds`` seeds, naming the pair.

The methods, and why (the referee's points in brackets).

1. The best set [Holm against the best of the same means: 7.8% family-wise error]. H_i:
   "configuration i has the highest true mean" (possibly tied). Closed testing of these
   hypotheses, each intersection H_S ("every member of S is a best") tested by the
   Bonferroni test of the |S|(F-1) one-sided paired t-tests "j is better than i" for i in
   S, j != i (F = the family size). Each intersection test compares the smallest p-value
   of its members with a level that shrinks as |S| grows, so the closure has a Holm-like
   shortcut: with P_i = min_j p(j better than i), sorted from
   the largest (most plausibly best, rank 1) to the smallest, the configuration at rank
   r is excluded iff P_(s) < alpha / (s (F-1)) for every s >= r. Guarantee (strong
   family-wise error, any means, any covariance, exact t under normal differences):
   P(some configuration whose true mean is the highest is excluded) <= alpha. So the set
   contains every best with probability >= 1 - alpha, and with all configurations equal,
   P(any is declared "worse") <= alpha.
   Why not Gupta's subset with Hsu's MCB constant: it guarantees a set containing *a*
   best, and with all configurations equal it excludes one of them more often than
   alpha (measured: benchmarks/bench_selection.py, "baselines"); its exact constant
   also needs equal variances and correlations (a pooled two-way ANOVA), which these
   data do not have. The price of a guarantee valid for any covariance is Bonferroni's
   conservatism.
2. MCB intervals (Hsu 1984, unconstrained lower and constrained upper bounds) for
   D_i = mu_i - max_{j != i} mu_j, with the Bonferroni constant d_ij = t(1 - alpha/(F-1),
   n_ij - 1):  L_i = min(0, min_{j != i} (mean_ij - d_ij se_ij)),  U_i = max(0, min_{j != i}
   (mean_ij + d_ij se_ij)). All hold together with probability >= 1 - alpha: they follow
   from the F-1 one-sided bounds of the true best against the others (Hsu 1996, 4.1).
3. Equivalence: "equivalent to the best within the margin" iff L_i > -margin (the lower
   one-sided test of a TOST, the upper side is moot: being better than the best is not a
   fault). Simultaneous: P(any configuration called equivalent while more than `margin`
   below the best) <= alpha.
   With a unique best the three inferences rest on one event (the F-1 bounds of the best
   against the others) and all hold together with probability >= 1 - alpha; with exact
   ties each family still holds at 1 - alpha (together >= 1 - 2 alpha).

Verdicts, first that applies: "equivalent" (L_i > -margin), "worse" (excluded from the best
set), "not shown different at this power".

Default margin: 0.001 (0.1 accuracy points; `DEFAULT_MARGIN`). Minimum seeds: 5
(`MIN_SEEDS`). Both are argued in docs/confirm-statistics.md and at their definitions.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

ALPHA = 0.05

# 0.1 accuracy points. MNIST's validation and test sets hold 10,000 images each: 0.001 is
# 10 images, and the binomial standard error with which a 10,000-image set measures one
# network at 98.5% accuracy is sqrt(0.985 * 0.015 / 10,000) = 0.0012. A smaller advantage
# could never be seen on the test set the harness reports, so configurations closer than
# this are practically the same. It is also about the seeds' own spread (per-seed sd of a
# configuration 0.0005, of a paired difference 0.0006).
DEFAULT_MARGIN = 0.001

# Below 5 seeds the t quantiles that replace the unknown sd explode: the Bonferroni
# constant over the 5 comparisons of 6 configurations is t(0.99, n-1) = 31.8, 6.96, 4.54,
# 3.75 at n = 2, 3, 4, 5 seeds against 2.33 with a known sd (13.6x, 3.0x, 1.95x, 1.61x),
# and the best set's first step needs t(1 - 0.05/30, n-1) = 191, 17.3, 8.6, 6.2. At 4 seeds
# nothing closer than ~4.3 sd of a paired difference can be excluded; the 3-4 degrees of
# freedom also leave the t-test's normality with nothing to stand on. 5 is the smallest
# count at which the intervals are within 1.6x their known-sd width, and is what the
# racing procedure starts every configuration with.
MIN_SEEDS = 5

EQUIVALENT = "equivalent to the best within the margin"
WORSE = "worse"
UNDECIDED = "not shown different at this power"


class Refusal(ValueError):
    """The data cannot support the statement asked for; ``reason`` says why in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- the vectorised core (a leading axis of replications) ------------------------------------

def pair_statistics(acc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paired differences of every ordered pair: (mean, standard error, seeds) arrays of
    shape (..., K, K), entry [i, j] for configuration i minus j on the seeds both have.

    ``acc`` has shape (..., K, seeds), NaN for a missing run. A pair with fewer than two
    common seeds gets NaN mean or standard error."""
    x = np.asarray(acc, dtype=np.float64)
    d = x[..., :, None, :] - x[..., None, :, :]
    ok = np.isfinite(d)
    n = ok.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, d, 0.0).sum(axis=-1) / n
        dev = np.where(ok, d - mean[..., None], 0.0)
        var = (dev * dev).sum(axis=-1) / (n - 1)
        se = np.sqrt(var / n)
    se = np.where(n >= 2, se, np.nan)
    return mean, se, n


def _t_stat(mean: np.ndarray, se: np.ndarray) -> np.ndarray:
    """mean / se, with 0/0 -> 0 and x/0 -> +-inf (a difference without spread)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        t = mean / se
    t = np.where((se == 0) & (mean == 0), 0.0, t)
    return np.where((se == 0) & (mean != 0), np.copysign(np.inf, mean), t)


def _better_p(mean: np.ndarray, se: np.ndarray, n: np.ndarray) -> np.ndarray:
    """One-sided p-values, entry [j, i]: the paired t-test that j is better than i (the
    rows minus the columns). 1 where there are fewer than two common seeds."""
    t = _t_stat(mean, se)
    df = np.maximum(n - 1, 1)
    p = stats.t.sf(t, df)
    return np.where((n >= 2) & np.isfinite(mean), p, 1.0)


def stepdown_worse(acc: np.ndarray, alpha: float = ALPHA, alive: np.ndarray | None = None,
                   family_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The best set's closed test, vectorised: (adjusted p that each configuration is not a
    best, rejected) of shape (..., K). Rejected means "worse": excluded from the best set.

    ``alive`` (..., K) restricts the family tested now (racing passes its survivors);
    ``family_size`` (default K) is the F in the Bonferroni counts s (F - 1): racing keeps
    the original F so that choosing the survivors on earlier seeds cannot cost the
    guarantee. Configurations not alive get NaN and False."""
    x = np.asarray(acc, dtype=np.float64)
    k = x.shape[-2]
    f = k if family_size is None else family_size
    live = (np.ones(x.shape[:-1], dtype=bool) if alive is None
            else np.broadcast_to(np.asarray(alive, dtype=bool), x.shape[:-1]))
    mean, se, n = pair_statistics(x)
    p = _better_p(mean, se, n)  # p[j, i]: j better than i
    pair_live = live[..., :, None] & live[..., None, :] & ~np.eye(k, dtype=bool)
    p = np.where(pair_live, p, np.inf)
    smallest = p.min(axis=-2)  # P_i = min_j p[j, i]
    smallest = np.where(live, np.minimum(smallest, 1.0), np.nan)
    key = np.where(live, smallest, np.inf)  # dead first in a descending sort
    order = np.argsort(-key, axis=-1, kind="stable")
    sorted_p = np.take_along_axis(smallest, order, axis=-1)
    dead = (~live).sum(axis=-1, keepdims=True)
    rank = np.arange(1, k + 1) - dead  # 1 = the most plausible best among the living
    with np.errstate(invalid="ignore"):
        scaled = np.minimum(1.0, rank * (f - 1) * sorted_p)
    scaled = np.where(rank >= 1, scaled, -np.inf)
    adjusted_sorted = np.maximum.accumulate(scaled[..., ::-1], axis=-1)[..., ::-1]
    adjusted = np.empty_like(adjusted_sorted)
    np.put_along_axis(adjusted, order, adjusted_sorted, axis=-1)
    adjusted = np.where(live, adjusted, np.nan)
    rejected = live & (adjusted < alpha)
    return adjusted, rejected


def mcb_bounds(acc: np.ndarray, alpha: float = ALPHA, family_size: int | None = None,
               alive: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hsu's MCB intervals for D_i = mu_i - max_{j != i} mu_j, vectorised: (estimate, low,
    high) of shape (..., K), simultaneous at 1 - alpha with the Bonferroni constant
    t(1 - alpha / (F - 1), n_ij - 1).

    ``alive`` marks the configurations to bound; the comparisons use every configuration
    with data (racing's eliminated ones too, on the seeds they have). The estimate is
    min_j mean(X_i - X_j) over the common seeds (with complete data, X_i's mean minus the
    best other mean)."""
    x = np.asarray(acc, dtype=np.float64)
    k = x.shape[-2]
    f = k if family_size is None else family_size
    mean, se, n = pair_statistics(x)
    off = ~np.eye(k, dtype=bool)
    with np.errstate(invalid="ignore"):
        d = stats.t.ppf(1.0 - alpha / max(f - 1, 1), np.maximum(n - 1, 1))
    usable = off & (n >= 2) & np.isfinite(mean)
    half = np.where(se == 0, 0.0, d * se)
    lower_terms = np.where(usable, mean - half, np.where(off, -np.inf, np.inf))
    upper_terms = np.where(usable, mean + half, np.where(off, np.inf, np.inf))
    estimate = np.where(off & np.isfinite(mean), mean, np.inf).min(axis=-1)
    low = np.minimum(0.0, lower_terms.min(axis=-1))
    high = np.maximum(0.0, upper_terms.min(axis=-1))
    low, high = np.clip(low, -1.0, 1.0), np.clip(high, -1.0, 1.0)
    if alive is not None:
        live = np.broadcast_to(np.asarray(alive, dtype=bool), low.shape)
        estimate, low, high = (np.where(live, a, np.nan) for a in (estimate, low, high))
    return estimate, low, high


@dataclass(frozen=True)
class BatchSelection:
    """`select_batch`'s arrays, shape (replications, K)."""

    in_set: np.ndarray
    worse_p: np.ndarray
    mcb_low: np.ndarray
    mcb_high: np.ndarray
    equivalent: np.ndarray


def select_batch(acc: np.ndarray, alpha: float = ALPHA, margin: float = DEFAULT_MARGIN,
                 family_size: int | None = None) -> BatchSelection:
    """`best_set`'s decisions for many matrices at once, acc of shape (R, K, seeds): the
    same code `best_set` runs, for simulations. No refusal here."""
    adjusted, rejected = stepdown_worse(acc, alpha, family_size=family_size)
    _, low, high = mcb_bounds(acc, alpha, family_size=family_size)
    return BatchSelection(~rejected, adjusted, low, high, low > -margin)


# -- one matrix: the table the command shows -------------------------------------------------

@dataclass(frozen=True)
class ConfigurationResult:
    """One configuration in the best-set analysis (accuracies as fractions)."""

    label: Any
    n_seeds: int
    mean: float
    sd: float
    low: float  # Student-t interval for its mean accuracy, clipped to [0, 1]
    high: float
    in_best_set: bool
    worse_p: float  # adjusted p of "not a best" (closed test); worse when < alpha
    diff: float  # its mean minus the best other mean (paired, on common seeds)
    mcb_low: float  # simultaneous interval for mu_i - max_{j != i} mu_j
    mcb_high: float
    equivalent: bool
    verdict: str


@dataclass(frozen=True)
class Selection:
    """The best set of a (configurations x seeds) matrix and every configuration's verdict."""

    configurations: tuple[ConfigurationResult, ...]
    alpha: float
    margin: float
    level: float  # of the per-configuration accuracy intervals
    family_size: int
    missing_runs: int
    guarantee: str

    @property
    def best_set(self) -> list[Any]:
        return [c.label for c in self.configurations if c.in_best_set]

    @property
    def equivalent(self) -> list[Any]:
        return [c.label for c in self.configurations if c.equivalent]

    def rows(self) -> list[dict[str, Any]]:
        """Table-ready rows, best mean first."""
        return [dict(c.__dict__) for c in sorted(self.configurations,
                                                 key=lambda c: -c.mean)]


def _as_matrix(accuracies: Any) -> np.ndarray:
    x = np.asarray(accuracies, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"accuracies: expected a (configurations x seeds) matrix, got shape "
                         f"{x.shape}")
    finite = x[np.isfinite(x)]
    if np.any(np.isinf(x)) or np.any((finite < 0) | (finite > 1)):
        raise ValueError("accuracies: expected fractions in [0, 1] (NaN for a missing run)")
    return x


def clipped_t_interval(values: Any, level: float = 0.95) -> tuple[float, float, float, float]:
    """(mean, sd, low, high) of the finite values, the Student-t interval clipped to [0, 1];
    NaN where fewer than two values."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return math.nan, math.nan, math.nan, math.nan
    mean = float(v.mean())
    if len(v) < 2:
        return mean, math.nan, math.nan, math.nan
    sd = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1)) * sd / math.sqrt(len(v))
    return mean, sd, max(0.0, mean - half), min(1.0, mean + half)


def check_seeds(x: np.ndarray, labels: Sequence[Any], min_seeds: int) -> None:
    """Refuse when any pair of configurations shares fewer than ``min_seeds`` seeds."""
    _, _, n = pair_statistics(x)
    short = [(labels[i], labels[j], int(n[i, j])) for i in range(len(x))
             for j in range(i + 1, len(x)) if n[i, j] < min_seeds]
    if short:
        worst = min(m for *_, m in short)
        pairs = ", ".join(f"{a} and {b}: {m}" for a, b, m in short[:5])
        more = f" and {len(short) - 5} more" if len(short) > 5 else ""
        raise Refusal(
            f"too few seeds: {worst} seeds in common where at least {min_seeds} are needed "
            f"(configurations {pairs}{more}). Below {min_seeds} seeds the t quantiles that "
            f"stand in for the unknown seed-to-seed spread are so large that no configuration "
            f"can be told apart or shown equivalent, and normality has nothing to rest on; "
            f"train more seeds (or drop the configurations whose runs failed).")


def best_set(accuracies: Any, labels: Sequence[Any] | None = None, *, alpha: float = ALPHA,
             margin: float = DEFAULT_MARGIN, min_seeds: int = MIN_SEEDS,
             level: float = 0.95, family_size: int | None = None) -> Selection:
    """The set that contains the best configuration(s) with probability >= 1 - alpha, the
    MCB interval of each configuration's difference from the best of the others, and each
    one's verdict (module docstring for the methods and their guarantees).

    ``accuracies``: (configurations x seeds) fractions, seed s the same for every row, NaN
    for a missing run (pairs use the seeds both have). ``labels``: trial numbers, say
    (default 0..K-1). Raises `Refusal` with fewer than two configurations or when a pair
    shares fewer than ``min_seeds`` seeds."""
    x = _as_matrix(accuracies)
    k = x.shape[0]
    labels = list(range(k)) if labels is None else list(labels)
    if len(labels) != k:
        raise ValueError(f"labels: {len(labels)} for {k} configurations")
    if k < 2:
        raise Refusal("fewer than two configurations: there is nothing to compare")
    if not 0 < alpha < 1 or margin < 0:
        raise ValueError(f"alpha {alpha} must lie in (0, 1) and margin {margin} be >= 0")
    check_seeds(x, labels, min_seeds)
    f = k if family_size is None else family_size
    if f < k:
        raise ValueError(f"family_size {f} is smaller than the {k} configurations given")
    adjusted, rejected = stepdown_worse(x, alpha, family_size=f)
    return build_selection(x, labels, ~rejected, adjusted, alpha=alpha, margin=margin,
                           family_size=f, level=level)


def build_selection(x: np.ndarray, labels: Sequence[Any], in_set: np.ndarray,
                    worse_p: np.ndarray, *, alpha: float, margin: float, family_size: int,
                    level: float = 0.95, bounded: np.ndarray | None = None) -> Selection:
    """A `Selection` from a best set already decided (by `stepdown_worse`, or by a race),
    with the MCB intervals and verdicts of the configurations in ``bounded`` (default:
    all; the others get NaN bounds and cannot be called equivalent)."""
    k = x.shape[0]
    bounded = np.ones(k, dtype=bool) if bounded is None else np.asarray(bounded, dtype=bool)
    estimate, low, high = mcb_bounds(x, alpha, family_size=family_size, alive=bounded)
    rows = []
    for i in range(k):
        mean, sd, lo, hi = clipped_t_interval(x[i], level)
        equivalent = bool(bounded[i] and low[i] > -margin)
        verdict = EQUIVALENT if equivalent else UNDECIDED if in_set[i] else WORSE
        rows.append(ConfigurationResult(
            labels[i], int(np.isfinite(x[i]).sum()), mean, sd, lo, hi, bool(in_set[i]),
            float(worse_p[i]), float(estimate[i]), float(low[i]), float(high[i]),
            equivalent, verdict))
    return Selection(tuple(rows), alpha, margin, level, family_size,
                     int((~np.isfinite(x)).sum()), guarantee_text(alpha, margin))


def guarantee_text(alpha: float = ALPHA, margin: float = DEFAULT_MARGIN) -> str:
    """The guarantee in two sentences, for the command to print (docs/confirm-statistics.md)."""
    return (f"With probability at least {1 - alpha:.0%}, the best set contains every "
            f"configuration whose true mean validation accuracy over seeds is the highest, "
            f"the classic configuration included, so a configuration called worse is worse; "
            f"and, with probability at least {1 - alpha:.0%}, every configuration called "
            f"equivalent is within {margin * 100:.2g} accuracy points of the best, with seeds "
            f"as paired blocks and no equal spreads or correlations assumed. The chosen "
            f"configuration's difference from the classic one is estimated, with a "
            f"{1 - alpha:.0%} interval, on fresh seeds that played no part in choosing it.")


# -- power and the seeds it takes ------------------------------------------------------------

def power_worse(sd_diff: float, n_seeds: int, delta: float, *, n_configs: int = 2,
                alpha: float = ALPHA) -> float:
    """Probability that a configuration ``delta`` below a best is excluded from the best set
    (called worse), with paired differences of sd ``sd_diff`` over ``n_seeds`` seeds among
    ``n_configs`` configurations.

    The one-sided paired t-test at alpha / (F (F - 1)), the best set's strictest step (a
    p-value below it excludes a configuration whatever the others do): a lower bound on
    the exclusion probability, exact for two configurations (two one-sided tests at
    alpha / 2, i.e. the two-sided t-test)."""
    return _noncentral_power(sd_diff, n_seeds, delta, alpha / (n_configs * (n_configs - 1)))


def power_equivalent(sd_diff: float, n_seeds: int, delta: float = 0.0, *,
                     margin: float = DEFAULT_MARGIN, n_configs: int = 2,
                     alpha: float = ALPHA) -> float:
    """Probability that a configuration ``delta`` below the best (0 <= delta < margin) is
    called equivalent within ``margin``: the MCB lower bound against the best, at
    alpha / (F - 1), must clear -margin. Exact when the best is the only other configuration
    near it; an upper bound when several are (every one of those bounds must clear)."""
    return _noncentral_power(sd_diff, n_seeds, margin - delta, alpha / max(n_configs - 1, 1))


def _noncentral_power(sd: float, n: int, shift: float, level: float) -> float:
    if n < 2 or sd <= 0:
        raise ValueError(f"need at least 2 seeds and a positive sd (got {n}, {sd})")
    df = n - 1
    critical = stats.t.ppf(1 - level, df)
    return float(stats.nct.sf(critical, df, shift * math.sqrt(n) / sd))


def seeds_needed(sd_diff: float, delta: float, *, target: float = 0.8, kind: str = "worse",
                 margin: float = DEFAULT_MARGIN, n_configs: int = 2, alpha: float = ALPHA,
                 max_seeds: int = 1000) -> int | None:
    """The fewest seeds with `power_worse` (kind "worse") or `power_equivalent` (kind
    "equivalent") at least ``target``; None if more than ``max_seeds`` would be needed."""
    if kind not in ("worse", "equivalent"):
        raise ValueError(f"kind {kind!r}: 'worse' or 'equivalent'")

    def power(n: int) -> float:
        if kind == "worse":
            return power_worse(sd_diff, n, delta, n_configs=n_configs, alpha=alpha)
        return power_equivalent(sd_diff, n, delta, margin=margin, n_configs=n_configs,
                                alpha=alpha)

    if power(max_seeds) < target:
        return None
    lo, hi = 2, max_seeds  # power rises with n: bisect for the first n reaching the target
    while lo < hi:
        mid = (lo + hi) // 2
        if power(mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


# -- the chosen configuration against the classic, on fresh seeds -----------------------------

@dataclass(frozen=True)
class HoldoutDifference:
    """Chosen minus reference on seeds that did not choose it, paired by seed."""

    n_seeds: int
    mean: float
    sd: float
    low: float
    high: float
    p_value: float  # two-sided paired t-test of a zero difference
    level: float
    verdict: str
    chosen: tuple[float, float, float, float]  # mean, sd, low, high; clipped to [0, 1]
    reference: tuple[float, float, float, float]


def holdout_difference(chosen: Any, reference: Any, *, level: float = 0.95,
                       margin: float = DEFAULT_MARGIN, seeds: Sequence[Any] | None = None,
                       used_seeds: Sequence[Any] | None = None,
                       min_seeds: int = MIN_SEEDS) -> HoldoutDifference:
    """The chosen configuration against the reference (the classic) on fresh seeds: the
    paired mean difference with its Student-t interval at ``level`` (clipped to [-1, 1]) and
    p-value, and a verdict: "better", "worse", "within the margin" (the interval inside
    (-margin, margin)) or "not shown different at this power".

    The seeds must not be among those that chose the configuration: with ``seeds`` (these
    seeds' ids) and ``used_seeds`` (the choosing ones) an overlap is refused. One test,
    not part of any family, so its level is its own; it is unbiased because nothing
    chose on these seeds."""
    a = np.asarray(chosen, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"chosen and reference: two vectors over the same seeds (got "
                         f"{a.shape} and {b.shape})")
    if seeds is not None and used_seeds is not None:
        reused = sorted(set(seeds) & set(used_seeds), key=str)
        if reused:
            raise Refusal(f"seeds {reused[:10]} also chose the configuration: the difference "
                          f"must be estimated on fresh seeds, or it is optimistic")
    both = np.isfinite(a) & np.isfinite(b)
    n = int(both.sum())
    if n < min_seeds:
        raise Refusal(f"{n} fresh seeds with both runs; at least {min_seeds} are needed for an "
                      f"interval (a t quantile of {stats.t.ppf(0.5 + level / 2, max(n - 1, 1)):.3g}"
                      f" at {n} seeds)")
    d = a[both] - b[both]
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    low, high = max(-1.0, mean - half), min(1.0, mean + half)
    p = float(2 * stats.t.sf(abs(float(_t_stat(np.array(mean), np.array(sd / math.sqrt(n))))),
                             n - 1))
    if low > 0:
        verdict = "better"
    elif high < 0:
        verdict = "worse"
    elif low > -margin and high < margin:
        verdict = "within the margin"
    else:
        verdict = UNDECIDED
    return HoldoutDifference(n, mean, sd, low, high, p, level, verdict,
                             clipped_t_interval(a[both], level),
                             clipped_t_interval(b[both], level))


# -- the recommendation ----------------------------------------------------------------------

RULES = {
    "cheapest_equivalent": "the cheapest among the configurations shown equivalent to the "
                           "best within the margin",
    "cheapest_in_set": "the cheapest in the best set (it may be worse than the best by more "
                       "than the margin: the set only says it is not shown worse)",
    "best_mean": "the highest mean accuracy over the seeds",
}
COSTS = {"seconds": "mean training seconds over the seeds",
         "param_steps": "parameters x optimiser steps (machine-independent)"}


@dataclass(frozen=True)
class Recommendation:
    chosen: Any
    rule: str
    rule_text: str
    cost_by: str
    applied: bool  # False: the rule had no candidate and the best mean was taken
    reason: str
    rows: tuple[dict[str, Any], ...]


def recommend(selection: Selection, *, seconds: Any = None, param_steps: Any = None,
              rule: str = "cheapest_equivalent", cost_by: str = "seconds") -> Recommendation:
    """The recommended configuration by a rule the user chooses (`RULES`), costs measured by
    ``cost_by`` (`COSTS`): ``seconds`` is a (configurations x seeds) matrix of training
    times (NaN where missing) in the selection's order, ``param_steps`` one number per
    configuration. Ties in cost go to the higher mean. Returns table-ready rows (best
    mean first) with each configuration's cost, its spread and its cost relative to the
    chosen one. With "cheapest_equivalent" and no configuration shown equivalent, the best
    mean is taken and ``applied`` is False, with the reason."""
    if rule not in RULES:
        raise ValueError(f"rule {rule!r}: one of {', '.join(RULES)}")
    if cost_by not in COSTS:
        raise ValueError(f"cost_by {cost_by!r}: one of {', '.join(COSTS)}")
    configs = selection.configurations
    k = len(configs)
    secs = (np.full((k, 1), np.nan) if seconds is None
            else np.asarray(seconds, dtype=np.float64).reshape(k, -1))
    steps = (np.full(k, np.nan) if param_steps is None
             else np.asarray(param_steps, dtype=np.float64).reshape(k))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no times for a configuration
        sec_mean = np.nanmean(secs, axis=1)
        sec_sd = np.nanstd(secs, axis=1, ddof=1) if secs.shape[1] > 1 else np.full(k, np.nan)
    cost = sec_mean if cost_by == "seconds" else steps
    best_mean = max(range(k), key=lambda i: (configs[i].mean, -i))
    if rule == "best_mean":
        pool = [best_mean]
    elif rule == "cheapest_in_set":
        pool = [i for i in range(k) if configs[i].in_best_set]
    else:
        pool = [i for i in range(k) if configs[i].equivalent]
    applied, reason = True, ""
    if rule != "best_mean" and np.any(~np.isfinite(cost[pool])):
        raise ValueError(f"cost_by {cost_by!r}: a cost is missing for a candidate")
    if not pool:
        pool, applied = [best_mean], False
        reason = (f"no configuration is shown within {selection.margin * 100:.2g} points of "
                  f"the best at these seeds; the best mean is taken instead (more seeds: "
                  f"see seeds_needed)")
    chosen = min(pool, key=lambda i: (cost[i] if rule != "best_mean" else 0.0,
                                      -configs[i].mean, i))
    if applied:
        reason = f"{RULES[rule]}" + (f", by {COSTS[cost_by]}" if rule != "best_mean" else "")
    rows = []
    for i in sorted(range(k), key=lambda i: -configs[i].mean):
        c = configs[i]
        rows.append(dict(c.__dict__) | {
            "seconds_mean": _num(sec_mean[i]), "seconds_sd": _num(sec_sd[i]),
            "seconds_min": _num(np.nanmin(secs[i]) if np.isfinite(secs[i]).any() else np.nan),
            "seconds_max": _num(np.nanmax(secs[i]) if np.isfinite(secs[i]).any() else np.nan),
            "param_steps": _num(steps[i]),
            "cost_ratio": _num(cost[i] / cost[chosen]) if cost[chosen] else None,
            "candidate": i in pool and applied, "chosen": i == chosen})
    return Recommendation(configs[chosen].label, rule, RULES[rule], cost_by, applied, reason,
                          tuple(rows))


def _num(v: float) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


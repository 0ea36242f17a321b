"""The best set, MCB intervals, verdicts, power, fresh-seed difference and recommendation of
sweep/statistics/selection.py, against brute force, SciPy and answers worked out by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from sweep.statistics.selection import (
    DEFAULT_MARGIN,
    EQUIVALENT,
    MIN_SEEDS,
    UNDECIDED,
    WORSE,
    Refusal,
    best_set,
    clipped_t_interval,
    holdout_difference,
    mcb_bounds,
    pair_statistics,
    power_equivalent,
    power_worse,
    recommend,
    seeds_needed,
    select_batch,
    stepdown_worse,
)


def matrix(rng: np.random.Generator, means: list[float], n: int, sd: float = 0.0005,
           block: float = 0.0003) -> np.ndarray:
    """Accuracies with a shared per-seed block effect and independent noise."""
    seed_effect = block * rng.standard_normal(n)
    return (np.asarray(means)[:, None] + seed_effect[None, :]
            + sd * rng.standard_normal((len(means), n)))


# -- the core --------------------------------------------------------------------------------

def test_pair_statistics_use_the_seeds_both_configurations_have():
    x = np.array([[0.90, 0.92, np.nan, 0.91, 0.93],
                  [0.89, 0.90, 0.88, np.nan, 0.90],
                  [0.91, 0.91, 0.90, 0.92, 0.94]])
    mean, se, n = pair_statistics(x)
    d = np.array([0.90 - 0.89, 0.92 - 0.90, 0.93 - 0.90])  # seeds 0, 1, 4
    assert n[0, 1] == n[1, 0] == 3 and n[0, 2] == 4 and n[1, 1] == 4
    assert mean[0, 1] == pytest.approx(d.mean()) and mean[1, 0] == pytest.approx(-d.mean())
    assert se[0, 1] == pytest.approx(d.std(ddof=1) / math.sqrt(3))


def brute_force_closed_test(x: np.ndarray, alpha: float, alive: np.ndarray,
                            family: int) -> np.ndarray:
    """Every intersection H_S (S among the alive) tested by Bonferroni over the |S|(F-1)
    one-sided tests "j better than i", i in S; H_i rejected iff every S containing i is."""
    mean, se, n = pair_statistics(x)
    k = len(x)
    p = np.ones((k, k))
    for j, i in itertools.permutations(range(k), 2):
        if alive[i] and alive[j]:
            t = mean[j, i] / se[j, i]
            p[j, i] = stats.t.sf(t, n[j, i] - 1)
    live = [i for i in range(k) if alive[i]]
    rejected_sets = {}
    for size in range(1, len(live) + 1):
        for s in itertools.combinations(live, size):
            smallest = min(p[j, i] for i in s for j in live if j != i)
            rejected_sets[s] = smallest < alpha / (size * (family - 1))
    return np.array([alive[i] and all(rej for s, rej in rejected_sets.items() if i in s)
                     for i in range(k)])


@pytest.mark.parametrize("trial", range(40))
def test_the_step_down_shortcut_is_the_closed_test(trial: int):
    rng = np.random.default_rng(trial)
    k = int(rng.integers(2, 6))
    n = int(rng.integers(5, 12))
    means = 0.98 + 0.0012 * rng.integers(0, 3, size=k)
    x = matrix(rng, list(means), n)
    alive = rng.random(k) < 0.8 if trial % 3 == 0 else np.ones(k, dtype=bool)
    if alive.sum() < 2:
        alive[:2] = True
    family = k + int(rng.integers(0, 3)) if trial % 4 == 0 else k
    alpha = float(rng.choice([0.05, 0.2]))
    _, rejected = stepdown_worse(x, alpha, alive=alive, family_size=family)
    assert list(rejected) == list(brute_force_closed_test(x, alpha, alive, family))


def test_two_configurations_are_the_two_sided_paired_t_test():
    rng = np.random.default_rng(3)
    x = matrix(rng, [0.985, 0.9843], 8)
    adjusted, rejected = stepdown_worse(x, 0.05)
    p = stats.ttest_rel(x[0], x[1]).pvalue
    worse = int(np.argmin(x.mean(axis=1)))
    assert adjusted[worse] == pytest.approx(p)
    assert adjusted[1 - worse] == pytest.approx(max(1 - p / 2, p))  # one-sided, reversed
    assert rejected[worse] == (p < 0.05)


def test_mcb_bounds_by_hand():
    x = np.array([[0.985, 0.986, 0.984, 0.987, 0.985, 0.986],
                  [0.984, 0.986, 0.983, 0.985, 0.985, 0.984],
                  [0.980, 0.982, 0.981, 0.983, 0.981, 0.980]])
    estimate, low, high = mcb_bounds(x, 0.05)
    d = stats.t.ppf(1 - 0.05 / 2, 5)  # alpha / (F - 1), n - 1 degrees of freedom

    def bounds(i: int, j: int) -> tuple[float, float]:
        diff = x[i] - x[j]
        half = d * diff.std(ddof=1) / math.sqrt(6)
        return diff.mean() - half, diff.mean() + half

    for i in range(3):
        others = [j for j in range(3) if j != i]
        assert low[i] == pytest.approx(min(0, min(bounds(i, j)[0] for j in others)))
        assert high[i] == pytest.approx(max(0, min(bounds(i, j)[1] for j in others)))
        assert estimate[i] == pytest.approx(min((x[i] - x[j]).mean() for j in others))
    assert high[2] == 0.0 and low[2] < 0  # clearly below the others: its interval is <= 0


def test_a_difference_without_spread_is_decided_by_its_sign():
    x = np.array([[0.98, 0.981, 0.982, 0.983, 0.984],
                  [0.979, 0.980, 0.981, 0.982, 0.983],
                  [0.98, 0.981, 0.982, 0.983, 0.984]])
    _, rejected = stepdown_worse(x)
    assert list(rejected) == [False, True, False]  # 1 is 0.001 below at every seed; 0 == 2


# -- best_set --------------------------------------------------------------------------------

def test_best_set_verdicts_of_a_clear_case():
    rng = np.random.default_rng(7)
    x = matrix(rng, [0.986, 0.986, 0.980, 0.986], 20, sd=0.0002)
    s = best_set(x, labels=[14, 21, 28, 0])
    by = {c.label: c for c in s.configurations}
    assert by[28].verdict == WORSE and not by[28].in_best_set and by[28].mcb_high == 0.0
    assert {14, 21, 0} <= set(s.best_set) and 28 not in s.best_set
    assert by[14].verdict == EQUIVALENT and by[0].verdict == EQUIVALENT  # classic included
    assert s.rows()[0]["mean"] == max(c.mean for c in s.configurations)
    assert "contains every configuration whose true mean validation accuracy over seeds is " \
        "the highest" in s.guarantee and "within 0.1 accuracy points" in s.guarantee


def test_best_set_says_undecided_when_seeds_are_too_few_to_tell():
    rng = np.random.default_rng(8)
    x = matrix(rng, [0.986, 0.9855, 0.9857], 5, sd=0.0008)
    s = best_set(x)
    assert s.best_set == [0, 1, 2]
    assert UNDECIDED in {c.verdict for c in s.configurations}
    assert all(c.mcb_low < -DEFAULT_MARGIN for c in s.configurations
               if c.verdict == UNDECIDED)


def test_best_set_refuses_below_the_minimum_seeds_and_names_the_pairs():
    x = np.full((3, 4), 0.98) + np.arange(4) * 1e-4
    with pytest.raises(Refusal, match=r"too few seeds: 4 .* at least 5"):
        best_set(x, labels=[14, 21, 0])
    y = np.full((3, 6), 0.98) + np.arange(6) * 1e-4
    y[2, :3] = np.nan  # configuration 0's runs failed on three seeds
    with pytest.raises(Refusal, match=r"14 and 0: 3, 21 and 0: 3") as info:
        best_set(y, labels=[14, 21, 0])
    assert "drop the configurations whose runs failed" in info.value.reason
    with pytest.raises(Refusal, match="fewer than two"):
        best_set(np.full((1, 5), 0.98))
    assert MIN_SEEDS == 5


def test_missing_runs_are_pairwise_complete():
    rng = np.random.default_rng(9)
    x = matrix(rng, [0.986, 0.984, 0.9855], 8)
    x[1, 0] = np.nan
    s = best_set(x)
    assert [c.n_seeds for c in s.configurations] == [8, 7, 8]
    mean, _, _ = pair_statistics(x)
    assert s.configurations[1].diff == pytest.approx(min(mean[1, 0], mean[1, 2]))


def test_accuracy_intervals_are_clipped_to_zero_and_one():
    x = np.array([[1.0, 0.9999, 1.0, 0.9990, 1.0], [0.0, 0.001, 0.0, 0.0, 0.0]])
    s = best_set(x)
    assert s.configurations[0].high == 1.0 and s.configurations[1].low == 0.0
    mean, sd, low, high = clipped_t_interval([0.9999, 1.0], 0.95)  # 2 seeds: t(0.975, 1)
    assert high == 1.0 and low == pytest.approx(0.99995 - 12.706 * sd / math.sqrt(2), abs=1e-4)
    assert all(-1 <= c.mcb_low <= c.mcb_high <= 1 for c in s.configurations)


def test_best_set_rejects_percentages_and_bad_shapes():
    with pytest.raises(ValueError, match=r"fractions in \[0, 1\]"):
        best_set(np.full((2, 5), 98.5))
    with pytest.raises(ValueError, match="matrix"):
        best_set(np.full(5, 0.98))


def test_select_batch_is_best_set_many_times():
    rng = np.random.default_rng(11)
    xs = np.stack([matrix(rng, [0.986, 0.9855, 0.985, 0.984], 6) for _ in range(20)])
    batch = select_batch(xs)
    for r in range(20):
        s = best_set(xs[r])
        assert [c.in_best_set for c in s.configurations] == list(batch.in_set[r])
        assert [c.equivalent for c in s.configurations] == list(batch.equivalent[r])
        assert [c.mcb_low for c in s.configurations] == pytest.approx(list(batch.mcb_low[r]))


# -- power -----------------------------------------------------------------------------------

def test_power_of_two_configurations_is_the_two_sided_paired_t_tests():
    # the referee's figure: sd 0.06 points, 5 seeds, a true 0.05-point difference: 30%
    assert power_worse(0.0006, 5, 0.0005) == pytest.approx(0.30, abs=0.01)
    nc = 0.001 * math.sqrt(10) / 0.0006
    crit = stats.t.ppf(1 - 0.05 / 2, 9)
    assert power_worse(0.0006, 10, 0.001) == pytest.approx(stats.nct.sf(crit, 9, nc))
    crit6 = stats.t.ppf(1 - 0.05 / 30, 9)  # six configurations: the strictest step
    assert power_worse(0.0006, 10, 0.001, n_configs=6) == pytest.approx(
        stats.nct.sf(crit6, 9, nc))


def test_equivalence_power_by_hand():
    crit = stats.t.ppf(1 - 0.05 / 5, 9)
    nc = (0.001 - 0.0002) * math.sqrt(10) / 0.0006
    assert power_equivalent(0.0006, 10, 0.0002, n_configs=6) == pytest.approx(
        stats.nct.sf(crit, 9, nc))
    assert power_equivalent(0.0006, 10, 0.001) == pytest.approx(0.05)  # at the margin: alpha
    assert power_equivalent(0.0006, 10, 0.001, n_configs=6) == pytest.approx(0.01)


@pytest.mark.parametrize("kind,delta", [("worse", 0.001), ("worse", 0.0005),
                                        ("equivalent", 0.0), ("equivalent", 0.0004)])
def test_seeds_needed_is_the_first_count_reaching_the_target(kind: str, delta: float):
    n = seeds_needed(0.0006, delta, target=0.8, kind=kind, n_configs=6)
    assert n is not None

    def power(m: int) -> float:
        if kind == "worse":
            return power_worse(0.0006, m, delta, n_configs=6)
        return power_equivalent(0.0006, m, delta, n_configs=6)

    assert power(n) >= 0.8 > power(n - 1)
    assert seeds_needed(0.0006, 1e-7, kind="worse", max_seeds=50) is None
    with pytest.raises(ValueError):
        seeds_needed(0.0006, 0.001, kind="better")


# -- fresh seeds against the classic -----------------------------------------------------------

def test_holdout_difference_is_the_paired_t_interval():
    rng = np.random.default_rng(5)
    chosen = 0.986 + 0.0005 * rng.standard_normal(8)
    classic = chosen - 0.0012 + 0.0004 * rng.standard_normal(8)
    h = holdout_difference(chosen, classic)
    d = chosen - classic
    ci = stats.t.interval(0.95, 7, loc=d.mean(), scale=d.std(ddof=1) / math.sqrt(8))
    assert (h.low, h.high) == pytest.approx(ci)
    assert h.p_value == pytest.approx(stats.ttest_rel(chosen, classic).pvalue)
    assert h.verdict == "better" and h.n_seeds == 8
    assert 0 <= h.chosen[2] <= h.chosen[3] <= 1


def test_holdout_difference_refuses_reused_or_too_few_seeds():
    a = np.full(6, 0.986) + np.arange(6) * 1e-4
    with pytest.raises(Refusal, match="fresh seeds"):
        holdout_difference(a, a - 1e-4, seeds=[5, 6, 7, 8, 9, 10], used_seeds=range(6))
    b = a.copy()
    b[:2] = np.nan
    with pytest.raises(Refusal, match="4 fresh seeds"):
        holdout_difference(a, b)


def test_holdout_verdicts():
    base = 0.986 + np.array([1, -1, 2, -2, 0, 1, -1, 0]) * 1e-4
    assert holdout_difference(base, base - np.array([1, -1, 1, -1, 1, -1, 1, -1]) * 1e-4
                              ).verdict == "within the margin"
    assert holdout_difference(base, base - np.array([1, 0, 1, 0, 1, 0, 1, 0]) * 1e-4
                              ).verdict == "better"  # better, though by less than the margin
    noisy = base + np.array([30, -30, 25, -25, 20, -20, 30, -30]) * 1e-4
    assert holdout_difference(noisy, base).verdict == UNDECIDED
    assert holdout_difference(base - 0.002, base).verdict == "worse"


# -- recommendation ----------------------------------------------------------------------------

def selection_for_recommendation() -> tuple:
    rng = np.random.default_rng(21)
    x = matrix(rng, [0.9861, 0.9861, 0.9861, 0.9800], 20, sd=0.0002)  # trials 14, 21, 0, 45
    seconds = np.array([[150.0], [170.0], [70.0], [60.0]]) + rng.normal(0, 5, (4, 20))
    param_steps = np.array([7.4e5, 1.4e6, 4.1e5, 3.0e5]) * 7800
    return best_set(x, labels=[14, 21, 0, 45]), seconds, param_steps


def test_cheapest_equivalent_can_choose_the_classic():
    s, seconds, steps = selection_for_recommendation()
    assert s.equivalent == [14, 21, 0]
    r = recommend(s, seconds=seconds, param_steps=steps)
    assert r.chosen == 0 and r.applied and "equivalent" in r.reason
    chosen_row = next(row for row in r.rows if row["chosen"])
    assert chosen_row["label"] == 0 and chosen_row["cost_ratio"] == 1.0
    row14 = next(row for row in r.rows if row["label"] == 14)
    assert row14["seconds_mean"] == pytest.approx(seconds[0].mean())
    assert row14["seconds_sd"] == pytest.approx(seconds[0].std(ddof=1))
    assert (row14["seconds_min"], row14["seconds_max"]) == pytest.approx(
        (seconds[0].min(), seconds[0].max()))
    assert not next(row for row in r.rows if row["label"] == 45)["candidate"]  # worse


def test_other_rules_and_costs():
    s, seconds, steps = selection_for_recommendation()
    top = max(s.configurations, key=lambda c: c.mean).label
    assert recommend(s, seconds=seconds, rule="best_mean").chosen == top
    assert recommend(s, seconds=seconds, rule="cheapest_in_set").chosen == 0
    assert recommend(s, param_steps=steps, cost_by="param_steps").chosen == 0
    with pytest.raises(ValueError, match="rule"):
        recommend(s, rule="fastest")
    with pytest.raises(ValueError, match="cost is missing"):
        recommend(s)  # seconds by default, none given


def test_without_an_equivalent_configuration_the_best_mean_is_taken_and_said():
    rng = np.random.default_rng(2)
    x = matrix(rng, [0.986, 0.9855, 0.985], 5, sd=0.003)
    s = best_set(x)
    assert s.equivalent == []
    r = recommend(s, seconds=np.ones((3, 5)))
    assert not r.applied and "no configuration is shown within 0.1 points" in r.reason
    assert r.chosen == max(s.configurations, key=lambda c: c.mean).label

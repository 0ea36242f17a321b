"""Statistics over seeds against answers worked out by hand or by SciPy's own tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sweep.statistics.seeds import (
    compare_with_best,
    holm,
    paired_t_p,
    sign_flip_p,
    smallest_sign_flip_p,
    t_interval,
)


def test_t_interval_by_hand():
    i = t_interval([1, 2, 3, 4, 5])
    half = 2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5)  # t(0.975, 4) * sd / sqrt(n)
    assert (i.mean, i.n) == (3.0, 5)
    assert i.sd == pytest.approx(math.sqrt(2.5))
    assert (i.low, i.high) == pytest.approx((3 - half, 3 + half))


def test_t_interval_of_one_value_has_no_width():
    i = t_interval([0.9])
    assert i.mean == 0.9 and math.isnan(i.low) and math.isnan(i.sd) and i.n == 1


def test_paired_t_matches_scipy():
    rng = np.random.default_rng(1)
    d = rng.normal(0.002, 0.003, size=7)
    assert paired_t_p(d) == pytest.approx(stats.ttest_1samp(d, 0.0).pvalue)


def test_sign_flip_is_exact_at_five_pairs():
    # all five differences positive: only the all-plus and all-minus patterns are as
    # extreme, 2 of 32, which is also the smallest p five seeds can give
    assert sign_flip_p(np.ones(5)) == pytest.approx(2 / 32)
    assert smallest_sign_flip_p(5) == pytest.approx(2 / 32)
    assert sign_flip_p(np.array([1.0, -1.0, 1.0, -1.0])) == pytest.approx(1.0)


def test_holm_step_down():
    adjusted, rejected = holm([0.01, 0.04, 0.03])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06])
    assert rejected == [True, False, False]


def test_a_clear_winner_is_distinguishable_and_a_twin_is_not():
    seeds = range(6)
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.001, size=6)
    best = {s: 0.98 + noise[s] for s in seeds}
    twin = {s: best[s] - 0.0001 * (-1) ** s for s in seeds}  # same up to a flip-flop
    worse = {s: best[s] - 0.01 + rng.normal(0, 0.0005) for s in seeds}
    found = {c.other: c for c in compare_with_best(best, {1: twin, 2: worse})}
    assert not found[1].distinguishable and found[1].holm_p > 0.05
    assert found[2].distinguishable and found[2].diff.mean == pytest.approx(
        np.mean([best[s] - worse[s] for s in seeds]))

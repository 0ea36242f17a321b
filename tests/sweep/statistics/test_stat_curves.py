"""still_rising: clear cases of curves still climbing at their last epoch, and not."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sweep.statistics.effects import MIN_RISE, rising_slope, still_rising


def test_linear_climb_is_rising() -> None:
    curve = np.linspace(0.90, 0.96, 20)  # +0.3 points per epoch to the end
    assert still_rising(curve)
    assert rising_slope(curve) == pytest.approx(0.06 / 19)


def test_plateau_with_noise_is_rarely_flagged() -> None:
    rng = np.random.default_rng(0)
    flagged = 0
    for _ in range(1000):
        curve = 0.975 + 0.0014 * rng.standard_normal(20)  # 0.14-point epoch noise
        curve[:5] = [0.90, 0.93, 0.95, 0.96, 0.97]
        flagged += still_rising(curve)
    assert flagged <= 20  # documented: about 1%


def test_saturated_exponential_is_not_but_early_cut_is() -> None:
    epochs = np.arange(1, 41)
    curve = 0.98 - 0.08 * np.exp(-epochs / 3.0)
    assert not still_rising(curve)  # flat after ~15 epochs
    assert still_rising(curve[:6])  # stopped while it still climbed


def test_peak_then_decline_is_not() -> None:
    curve = np.r_[np.linspace(0.90, 0.97, 10), np.linspace(0.969, 0.95, 10)]
    assert not still_rising(curve)


def test_one_outlying_last_epoch_does_not_make_a_rise() -> None:
    curve = np.full(20, 0.97)
    curve[-1] = 0.985  # a single lucky epoch
    assert not still_rising(curve)


def test_a_step_just_before_the_end_is_a_rise() -> None:
    # a learning-rate step at epoch 18 of 20 lifts the last three epochs
    curve = np.r_[np.full(17, 0.96), np.full(3, 0.968)]
    assert still_rising(curve)


def test_noisy_climbs_are_rising_at_the_documented_rates() -> None:
    rng = np.random.default_rng(1)
    epochs = np.arange(20)

    def rate(per_epoch: float, reps: int = 1000) -> float:
        return np.mean([still_rising(0.95 + per_epoch * epochs
                                     + 0.0014 * rng.standard_normal(20))
                        for _ in range(reps)])

    assert rate(0.002) >= 0.99  # 0.2 points per epoch: always
    assert 0.80 <= rate(0.001) <= 0.95  # 0.1 points per epoch: about 87%


def test_short_and_missing() -> None:
    assert not still_rising([0.5, 0.7, 0.9])
    assert math.isnan(rising_slope([0.5, 0.7, 0.9]))
    assert still_rising([0.90, np.nan, 0.92, 0.94, 0.96, 0.98])
    assert not still_rising([np.nan] * 10)


def test_threshold_is_the_documented_one() -> None:
    # a clean trend line that gains MIN_RISE over the 8-epoch window is flagged
    assert still_rising(0.9 + np.arange(8) * MIN_RISE / 7 * 1.0001)
    assert not still_rising(0.9 + np.arange(8) * MIN_RISE / 7 * 0.99)

"""How numbers read on the screen and in the report (sweep/text.py): one spelling of each."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sweep.text import clock, finite, percent, plural, points, short


@pytest.mark.parametrize(("value", "expected"), [
    (1, True), (0.5, True), (np.float32(0.25), True), (np.int64(3), True),
    (math.nan, False), (math.inf, False), (-math.inf, False), (None, False), ("0.5", False),
    (True, False), (False, False), ([1], False),
])
def test_finite(value, expected):
    assert finite(value) is expected


def test_percent_is_a_fraction_shown_in_percent():
    assert percent(0.98765) == "98.77%"
    assert percent(1) == "100.00%" and percent(0.5, 1) == "50.0%"
    assert percent(np.float32(0.25)) == "25.00%"
    for missing in (None, math.nan, math.inf, "x"):
        assert percent(missing) == "–"


def test_a_difference_of_accuracies_is_in_points():
    assert points(0.0123) == "+1.23 points"
    assert points(-0.004) == "-0.40 points"
    assert points(0.01, ".1f") == "1.0 points"
    assert points(None) == points(math.nan) == "–"


@pytest.mark.parametrize(("value", "expected"), [
    (512, "512"), (0.3, "0.3"), (1e-4, "1.0e-04"), (0.00316, "0.00316"), (2.0, "2"),
    (123456.7, "1.2e+05"), (np.int64(7), "7"), (np.float64(0.25), "0.25"), (True, "True"),
    ("cosine", "cosine"), (None, "–"), (math.nan, "–"), (math.inf, "–"), (0.001, "0.001"),
])
def test_a_settings_value_is_short(value, expected):
    assert short(value) == expected


@pytest.mark.parametrize(("seconds", "expected"), [
    (0, "0:00"), (59.9, "0:59"), (62, "1:02"), (3599, "59:59"), (3723, "1:02:03"),
    (-5, "0:00"), (None, "-"), (math.nan, "-"),
])
def test_a_duration_is_a_clock(seconds, expected):
    assert clock(seconds) == expected


def test_plural():
    assert plural(1, "epoch") == "1 epoch" and plural(2, "epoch") == "2 epochs"
    assert plural(0, "trial") == "0 trials"
    assert plural(3, "study", "studies") == "3 studies" and plural(1, "study", "studies") == \
        "1 study"

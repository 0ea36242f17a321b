"""expected_max against brute-force enumeration of every tuple of draws."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sweep.statistics.expected_max import expected_max, max_probabilities


def brute(values: list[float], n: int) -> tuple[float, float]:
    """Mean and sd of the max over all len(values)**n equally likely tuples of draws."""
    maxima = [max(t) for t in itertools.product(values, repeat=n)]
    return float(np.mean(maxima)), float(np.std(maxima))


@pytest.mark.parametrize("values", [
    [0.91, 0.95, 0.97],
    [0.5, 0.5, 0.7, 0.2],  # ties
    [0.3, 0.1, 0.9, 0.4, 0.8],
    [1.0],
])
def test_matches_enumeration(values: list[float]) -> None:
    res = expected_max(values)
    assert list(res.budgets) == list(range(1, len(values) + 1))
    for k, n in enumerate(res.budgets):
        mean, sd = brute(values, int(n))
        assert res.mean[k] == pytest.approx(mean, abs=1e-12)
        assert res.sd[k] == pytest.approx(sd, abs=1e-9)


def test_budget_one_is_the_mean_and_grows_to_the_max() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(0.95, 0.01, 30)
    res = expected_max(v, budgets=[1, 5, 30, 1000])
    assert res.mean[0] == pytest.approx(v.mean())
    assert res.sd[0] == pytest.approx(v.std())
    assert np.all(np.diff(res.mean) > 0)
    assert res.mean[-1] == pytest.approx(v.max(), abs=1e-9)
    assert res.sd[-1] < 1e-6


def test_minimize_nan_and_errors() -> None:
    res = expected_max([3.0, np.nan, 1.0, 2.0], budgets=[2], maximize=False)
    mean, _ = brute([-3.0, -1.0, -2.0], 2)
    assert res.N == 3
    assert res.mean[0] == pytest.approx(-mean)
    assert res.to_frame().columns.tolist() == ["n", "expected_max", "sd"]
    with pytest.raises(ValueError):
        expected_max([np.nan])
    with pytest.raises(ValueError):
        expected_max([1.0], budgets=[0])


def test_probabilities_sum_to_one() -> None:
    for N, n in [(1, 1), (7, 3), (40, 25)]:
        assert max_probabilities(N, n).sum() == pytest.approx(1.0)

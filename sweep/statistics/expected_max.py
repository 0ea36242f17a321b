"""Expected best validation accuracy against the number of trials (Dodge et al. 2019).

"Show Your Work: Improved Reporting of Experimental Results" (Dodge, Gururangan, Card,
Schwartz and Smith, EMNLP 2019) reports, for each budget n, the expected maximum of n
trials drawn at random (with replacement) from the N trials a study ran: with the values
sorted, v(1) <= ... <= v(N), the best of n draws is v(i) or below with probability
(i/N)^n, so

    E[max of n] = sum_i v(i) [(i/N)^n - ((i-1)/N)^n]

and its variance is sum_i v(i)^2 [(i/N)^n - ((i-1)/N)^n] - E^2 (ties need no care: tied
values just share their probability). The curve reads "had the study run n trials
instead of N, its best would have been this on average": it is exact for the empirical
distribution of the N values, and an estimate of the sampler's curve when the N trials
are independent draws from one distribution (random search). A TPE study's trials are
not: its later trials depend on its earlier ones, so the curve then describes resampling
the trials it ran, not a TPE study of n trials. Where the classic configuration belongs
on such a figure (a budget-1 reference) is the caller's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ExpectedMax:
    """Expected maximum (``mean``) and its standard deviation (``sd``) of n draws, for each
    budget n in ``budgets``, from the ``N`` finite values given."""

    budgets: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    N: int

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"n": self.budgets, "expected_max": self.mean, "sd": self.sd})


def max_probabilities(N: int, n: int) -> np.ndarray:
    """P(the best of n draws with replacement from N sorted values is the i-th): (N,)."""
    i = np.arange(1, N + 1, dtype=np.float64)
    return (i / N) ** n - ((i - 1) / N) ** n


def expected_max(values: Sequence[float] | np.ndarray, budgets: Sequence[int] | None = None,
                 maximize: bool = True) -> ExpectedMax:
    """The expected best of n trials and its sd, for n = 1..N (or ``budgets``), from the
    finite ``values`` (NaN and infinities are left out). ``maximize=False`` gives the
    expected minimum (a loss)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not maximize:
        v = -v
    v = np.sort(v)
    N = len(v)
    if N == 0:
        raise ValueError("expected_max needs at least one finite value")
    ns = np.arange(1, N + 1) if budgets is None else np.asarray(list(budgets), dtype=int)
    if np.any(ns < 1):
        raise ValueError("budgets must be at least 1")
    mean = np.empty(len(ns))
    sd = np.empty(len(ns))
    for k, n in enumerate(ns):
        w = max_probabilities(N, int(n))
        m = float(w @ v)
        var = float(w @ (v - m) ** 2)  # centred: no cancellation for values near 0.98
        mean[k] = m
        sd[k] = np.sqrt(max(var, 0.0))
    if not maximize:
        mean = -mean
    return ExpectedMax(ns, mean, sd, N)

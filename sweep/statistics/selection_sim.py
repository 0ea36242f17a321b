"""Simulated (configurations x seeds) accuracy matrices, to measure the error rates and the
power of selection.py and racing.py (tests/sweep/statistics, benchmarks/bench_selection.py).

A seed is a block: every configuration's accuracy at seed s shares that seed's noise
vector, drawn with a given covariance (any correlations, any variances); accuracies are
rounded to 1/10,000 (one image of MNIST's 10,000 validation images).
"""

from __future__ import annotations

import math

import numpy as np

SEED_SD = 0.0005  # a configuration's accuracy sd over seeds, as confirm measured (0.03-0.08 pts)
RESOLUTION = 1e-4  # one validation image in 10,000


def varied_correlation(k: int, low: float = -0.3, high: float = 0.86) -> np.ndarray:
    """A k x k correlation matrix whose off-diagonal entries spread from ``high`` (neighbours)
    to ``low`` (the two ends), as measured between configurations (-0.33 to +0.87):
    corr_ij = c cos(theta_i - theta_j), the thetas evenly spaced, positive definite."""
    if k < 2:
        return np.ones((1, 1))
    spread = math.acos(max(-1.0, low / high))  # angle between the ends when c = high
    theta = np.linspace(0.0, spread, k)
    c = high / math.cos(spread / (k - 1)) if k > 2 else high
    c = min(c, 0.99)
    corr = c * np.cos(theta[:, None] - theta[None, :])
    np.fill_diagonal(corr, 1.0)
    return corr


def equicorrelation(k: int, rho: float) -> np.ndarray:
    corr = np.full((k, k), rho)
    np.fill_diagonal(corr, 1.0)
    return corr


def simulate(means: np.ndarray, sds: np.ndarray | float, corr: np.ndarray, n_seeds: int,
             reps: int, rng: np.random.Generator, noise: str = "normal",
             resolution: float = RESOLUTION) -> np.ndarray:
    """(reps, K, n_seeds) accuracies: means + per-seed noise vectors with sds and corr.

    noise: "normal"; "t3" (multivariate Student t with 3 degrees of freedom, the same
    covariance: heavy tails shared by the seed); "bad-seeds" (normal, and each run with
    probability 0.1 loses 4 sds: a run that trained badly, skewed)."""
    means = np.asarray(means, dtype=np.float64)
    k = len(means)
    sds = np.broadcast_to(np.asarray(sds, dtype=np.float64), (k,))
    chol = np.linalg.cholesky(np.asarray(corr, dtype=np.float64))
    z = rng.standard_normal((reps, n_seeds, k)) @ chol.T  # (R, n, K)
    if noise == "t3":
        w = rng.chisquare(3, size=(reps, n_seeds, 1)) / 3
        z = z / np.sqrt(w) / math.sqrt(3.0)  # unit variance
    elif noise == "bad-seeds":
        z = z - 4.0 * (rng.random((reps, n_seeds, k)) < 0.1)
    elif noise != "normal":
        raise ValueError(f"noise {noise!r}")
    x = means[None, :, None] + sds[None, :, None] * np.swapaxes(z, 1, 2)
    if resolution:
        x = np.round(x / resolution) * resolution
    return np.clip(x, 0.0, 1.0)


def mc_error(p: float, reps: int) -> float:
    """The Monte Carlo standard error of a rate p estimated from reps replications."""
    return math.sqrt(max(p * (1 - p), 1e-12) / reps)

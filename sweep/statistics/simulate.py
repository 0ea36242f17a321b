"""Simulated studies with a known truth, for measuring the methods' error rates.

The calibration tests (tests/sweep/statistics/) and benchmarks/bench_calibration.py
draw many studies from here and check that each method states what it measures:

- `DEFAULT_SETTINGS`: the mission's five settings on the analysis scale (as
  ``sweep.space.DEFAULT_PARAMS`` samples them: hidden_size 32..2048, l2 1e-6..1e-2 and
  lr 1e-3..1 in log10; dropout 0..0.7; batch_size's five choices as 0..4).
- designs: `uniform_design` (random search) and `tpe_like_design`, an imitation of TPE
  that is cheap enough to repeat thousands of times: after ``startup`` random trials each
  new trial is drawn near one of the best quarter of the trials so far (a Gaussian kernel
  around it, a tenth of each range wide; a categorical setting keeps that trial's choice
  with probability 0.6), so the design clusters where the objective was good and depends
  on the objective's past values, as TPE's does. ``corr`` couples pairs of settings (a
  Gaussian copula on the random start and correlated kernel steps), to create confounding.
- truths: `null_truth` (accuracy independent of every setting) and `reference_truth`
  (an inverted U in log10 lr, not a quadratic, plus a weaker linear hidden_size term),
  with `true_partial_dependence` and `true_shares` computing what the methods estimate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..logs import optuna_quiet
from .design import Setting

DEFAULT_SETTINGS: tuple[Setting, ...] = (
    Setting("hidden_size", "continuous", math.log10(32), math.log10(2048), log=True),
    Setting("dropout", "continuous", 0.0, 0.7),
    Setting("l2", "continuous", -6.0, -2.0, log=True),
    Setting("lr", "continuous", -3.0, 0.0, log=True),
    Setting("batch_size", "ordinal", 0.0, 4.0, 5, choices=(32, 64, 128, 256, 512)),
)
NAMES = tuple(s.name for s in DEFAULT_SETTINGS)
NOISE = 0.003  # accuracy noise sd around the truth (0.3 points: seed and data noise)
BASE = 0.95

Truth = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Scenario:
    """A truth, its noise sd, a design and its couplings, as the calibration reads them."""

    name: str
    truth: Truth
    design: str  # "uniform", "tpe" (`tpe_like_design`) or "optuna-tpe"
    noise: float = NOISE
    corr: tuple[tuple[str, str, float], ...] = ()
    settings: tuple[Setting, ...] = DEFAULT_SETTINGS


def null_truth(X: np.ndarray) -> np.ndarray:
    """Accuracy independent of every setting."""
    return np.full(X.shape[:-1], BASE)


LR_PEAK, LR_WIDTH, LR_HEIGHT = -1.3, 0.8, 0.02
HIDDEN_SLOPE = 0.004  # accuracy gained over hidden_size's whole (log) range


def lr_curve(u: np.ndarray) -> np.ndarray:
    """The reference truth's lr term: a Gaussian bump in log10 lr (2 points at its peak,
    log10 lr = -1.3, above the flanks; 1.9 points above lr=1e-3, 1.5 above lr=1)."""
    return LR_HEIGHT * np.exp(-0.5 * ((u - LR_PEAK) / LR_WIDTH) ** 2)


def hidden_curve(h: np.ndarray) -> np.ndarray:
    lo, hi = DEFAULT_SETTINGS[0].low, DEFAULT_SETTINGS[0].high
    return HIDDEN_SLOPE * (h - lo) / (hi - lo)


def reference_truth(X: np.ndarray) -> np.ndarray:
    """An inverted U in log10 lr plus a weaker rise with log10 hidden_size; dropout, l2
    and batch_size have no effect. Columns in `DEFAULT_SETTINGS` order."""
    return BASE - 0.01 + lr_curve(X[..., 3]) + hidden_curve(X[..., 0])


def interaction_truth(X: np.ndarray) -> np.ndarray:
    """The reference truth plus an lr x hidden_size interaction (half a point across the
    ranges), which the additive surrogate cannot represent."""
    h = (X[..., 0] - DEFAULT_SETTINGS[0].low) / (DEFAULT_SETTINGS[0].high
                                                 - DEFAULT_SETTINGS[0].low)
    u = (X[..., 3] + 3.0) / 3.0
    return reference_truth(X) + 0.005 * (h - 0.5) * (u - 0.5) * 4


# ------------------------------------------------------------------ designs

def _copula(rng: np.random.Generator, shape: tuple[int, ...], p: int,
            corr: np.ndarray) -> np.ndarray:
    """Standard normals (shape + (p,)) with correlation ``corr`` between columns."""
    z = rng.standard_normal(shape + (p,))
    return z @ np.linalg.cholesky(corr).T


def _corr_matrix(settings: tuple[Setting, ...], corr) -> np.ndarray:
    names = [s.name for s in settings]
    c = np.eye(len(settings))
    for a, b, rho in corr:
        i, j = names.index(a), names.index(b)
        c[i, j] = c[j, i] = rho
    return c


def _from_uniform(u: np.ndarray, settings: tuple[Setting, ...]) -> np.ndarray:
    out = np.empty_like(u)
    for j, s in enumerate(settings):
        if s.kind == "continuous":
            out[..., j] = s.low + u[..., j] * (s.high - s.low)
        else:
            out[..., j] = np.minimum(np.floor(u[..., j] * s.levels), s.levels - 1)
    return out


def uniform_design(rng: np.random.Generator, reps: int, n: int,
                   settings: tuple[Setting, ...] = DEFAULT_SETTINGS,
                   corr=()) -> np.ndarray:
    """Random search: ``reps`` designs of ``n`` trials (reps x n x p)."""
    z = _copula(rng, (reps, n), len(settings), _corr_matrix(settings, corr))
    return _from_uniform(stats.norm.cdf(z), settings)


def tpe_like_design(rng: np.random.Generator, reps: int, n: int, truth: Truth,
                    noise: float = NOISE, settings: tuple[Setting, ...] = DEFAULT_SETTINGS,
                    corr=(), startup: int = 10, gamma: float = 0.25,
                    bandwidth: float = 0.1, keep: float = 0.6
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Sequential clustered designs and their objectives: (X reps x n x p, y reps x n).

    The first ``startup`` trials are random; trial t then starts from one of the best
    ``ceil(gamma t)`` trials so far (chosen at random) and moves by a Gaussian step of
    ``bandwidth`` of each numeric range (reflected at the edges), correlated as ``corr``
    says; a categorical setting keeps that trial's choice with probability ``keep``."""
    p = len(settings)
    c = _corr_matrix(settings, corr)
    X = np.empty((reps, n, p))
    y = np.empty((reps, n))
    first = min(startup, n)
    X[:, :first] = uniform_design(rng, reps, first, settings, corr)
    y[:, :first] = truth(X[:, :first]) + noise * rng.standard_normal((reps, first))
    lows = np.array([s.low for s in settings])
    spans = np.array([s.high - s.low for s in settings])
    numeric = np.array([s.kind == "continuous" for s in settings])
    levels = np.array([s.levels or 1 for s in settings])
    rows = np.arange(reps)
    for t in range(first, n):
        top = max(1, math.ceil(gamma * t))
        order = np.argsort(-y[:, :t], axis=1)[:, :top]
        pick = order[rows, rng.integers(0, top, reps)]
        center = X[rows, pick]  # reps x p
        step = _copula(rng, (reps,), p, c) * bandwidth * spans
        u = (center + step - lows) / np.where(spans > 0, spans, 1)
        u = np.abs(u)  # reflect at 0 ...
        u = 1 - np.abs(1 - np.mod(u, 2))  # ... and at 1
        new = np.where(numeric, lows + u * spans, center)
        redraw = (~numeric) & (rng.random((reps, p)) > keep)
        fresh = np.floor(rng.random((reps, p)) * levels)
        new = np.where(redraw, fresh, new)
        X[:, t] = new
        y[:, t] = truth(new) + noise * rng.standard_normal(reps)
    return X, y


def optuna_tpe_design(rng: np.random.Generator, reps: int, n: int, truth: Truth,
                      noise: float = NOISE, settings: tuple[Setting, ...] = DEFAULT_SETTINGS
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Designs drawn by Optuna's own TPESampler (its defaults, seeded from ``rng``) on the
    objective ``truth`` + noise: (X reps x n x p, y reps x n). About 0.1 s per study of 30
    trials; the settings are sampled as floats (log ones on a log scale) and categorical
    ones by choice."""
    import optuna

    X = np.empty((reps, n, len(settings)))
    y = np.empty((reps, n))
    for r in range(reps):
        seed = int(rng.integers(2**31))
        noise_rng = np.random.default_rng(seed)
        rows: list[np.ndarray] = []

        def objective(trial: optuna.Trial, rows: list[np.ndarray] = rows,
                      noise_rng: np.random.Generator = noise_rng) -> float:
            x = np.empty(len(settings))
            for j, s in enumerate(settings):
                if s.kind != "continuous":
                    x[j] = trial.suggest_categorical(s.name, list(range(s.levels)))
                elif s.log:
                    x[j] = np.log10(trial.suggest_float(s.name, 10**s.low, 10**s.high,
                                                        log=True))
                else:
                    x[j] = trial.suggest_float(s.name, s.low, s.high)
            rows.append(x)
            return float(truth(x) + noise * noise_rng.standard_normal())

        with optuna_quiet():
            study = optuna.create_study(direction="maximize",
                                        sampler=optuna.samplers.TPESampler(seed=seed))
            study.optimize(objective, n_trials=n)
        X[r] = np.array(rows)
        y[r] = [t.value for t in study.trials]
    return X, y


def simulate(scenario: Scenario, rng: np.random.Generator, reps: int, n: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """``reps`` studies of ``n`` completed trials under ``scenario``: (X, y)."""
    if scenario.design == "optuna-tpe":
        return optuna_tpe_design(rng, reps, n, scenario.truth, scenario.noise,
                                 scenario.settings)
    if scenario.design == "tpe":
        return tpe_like_design(rng, reps, n, scenario.truth, scenario.noise,
                               scenario.settings, scenario.corr)
    X = uniform_design(rng, reps, n, scenario.settings, scenario.corr)
    y = scenario.truth(X) + scenario.noise * rng.standard_normal((reps, n))
    return X, y


# ------------------------------------------------------------------ what is estimated

def true_partial_dependence(truth: Truth, X: np.ndarray, j: int, grid: np.ndarray
                            ) -> np.ndarray:
    """The truth's partial dependence on setting ``j`` at ``grid``: the mean over the
    design's trials of the truth with setting j set to each grid value (the other
    settings at their observed values), as the surrogate's partial dependence reads it."""
    Z = np.repeat(X[None, :, :], len(grid), axis=0)
    Z[:, :, j] = np.asarray(grid)[:, None]
    return truth(Z).mean(axis=1)


def _space_points(s: Setting, points: int = 201) -> np.ndarray:
    if s.kind == "continuous":
        return np.linspace(s.low, s.high, points)
    return np.arange(s.levels, dtype=np.float64)


def true_main_effect_variances(truth: Truth, settings: tuple[Setting, ...] = DEFAULT_SETTINGS,
                               samples: int = 4000, seed: int = 12345) -> np.ndarray:
    """Variance over the search space (uniform on the analysis scale) of each setting's
    main effect E[truth | x_j] (the other settings uniform: Monte Carlo over ``samples``
    fixed points, exact for an additive truth)."""
    rng = np.random.default_rng(seed)
    base = _from_uniform(rng.random((samples, len(settings))), settings)
    out = []
    for j, s in enumerate(settings):
        pts = _space_points(s)
        Z = np.repeat(base[None], len(pts), axis=0)
        Z[:, :, j] = pts[:, None]
        main = truth(Z).mean(axis=1)
        out.append(float(np.var(main)))
    return np.array(out)


def true_shares(truth: Truth, settings: tuple[Setting, ...] = DEFAULT_SETTINGS) -> np.ndarray:
    """Each setting's share of the summed main-effect variances over the search space:
    the quantity `importance.importances` estimates (and Optuna's fANOVA normalises to)."""
    v = true_main_effect_variances(truth, settings)
    v = np.where(v > 1e-12 * v.max(initial=0.0), v, 0.0)  # rounding of a flat effect
    total = v.sum()
    return v / total if total > 0 else np.zeros_like(v)

"""Effects of the sampled settings on validation accuracy that beat a permutation null.

A setting's *effect* is its partial dependence: accuracy as a function of that setting
with every other setting averaged over its observed values, read from the additive
surrogate of `surrogate` (fitted on the completed trials, all settings at once, so an
"l2 effect" that is lr in disguise goes to lr when both are in the model). For each
varied setting `effects` returns

- the partial dependence on a grid over the setting's observed range (never
  extrapolated) with a pointwise 95% band and a simultaneous 95% band (posterior of the
  surrogate; `BAND_LABEL`: credible bands whose coverage is measured, not assumed);
- the effect size: the range of the partial dependence (best minus worst point, in
  accuracy as a fraction; x100 for points) with an interval read off the simultaneous
  band: [max(0, max lower - min upper), max upper - min lower];
- a permutation test of "no effect": the statistic is the Wald statistic of the setting's
  curve in the test surrogate (quadratic curves, one prior precision shared by all,
  refitted by marginal likelihood on every permutation); the null distribution comes
  from shuffling across the trials the statement uses (see the schemes below), and the
  family of all varied settings of the study is adjusted for by the Westfall-Young
  step-down min-P procedure (family-wise error rate ``alpha``, default 5%);
- the verdict: ``effect`` when the adjusted p is below ``alpha``, ``no effect shown``
  otherwise, ``not tested`` below `MIN_TRIALS` completed trials (the study is then too
  small for the test to find even a large effect; see docs/statistics.md for the power
  behind that number), ``not varied`` for a setting with a single value;
- where the best lies: the grid value of the highest partial dependence and the *best
  region*, the grid values whose simultaneous upper bound reaches the highest lower bound
  (not distinguishable from the best), and a direction in words;
- the other setting most associated with it among the trials (`most_associated`), so a
  figure can colour the points by it.

Permutation schemes. ``freedman-lane`` (the default) shuffles the residuals of the
surrogate fitted without the setting tested, added back to that fit (Freedman and Lane
1983): under "this setting has no effect" those residuals are what is exchangeable when
other settings do have effects. ``shuffle`` permutes the objective itself, which is exact
only under "no setting has any effect": with lr's effect in the data a shuffled objective
makes every other setting's statistic look small, and null settings correlated with lr
are then stated as effects far beyond ``alpha`` (rates in docs/statistics.md), which is
why it is not the default.

Two surrogates: the test uses quadratic curves with one shared precision, because its
calibration needs the fit redone on every one of a thousand permutations (a few matrix
products; higher degrees cost power, see `TEST_DEGREE`); the partial dependence, its bands and
the size use the richer surrogate (degree 4, one precision per setting integrated over),
because a shared precision shrinks the largest curve and the bands then miss it.

Also here: `still_rising`, which flags a validation curve still rising at its last epoch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .design import Design, Setting, SettingSpec, design_matrix, from_arrays
from .surrogate import AdditiveSurrogate, Fit

__all__ = [
    "ALPHA", "MIN_TRIALS", "N_PERM", "Association", "Design", "Effect", "Effects",
    "PermutationTest", "Setting", "SettingSpec", "associations", "design_matrix", "effects",
    "from_arrays", "most_associated", "partial_dependence", "permutation_pvalues",
    "permutation_test", "permutations", "rising_slope", "step_down_minp", "still_rising",
]

ALPHA = 0.05  # family-wise error rate over the settings of one study
LEVEL = 0.95  # bands and intervals
N_PERM = 999  # shuffles of the objective (p-values are multiples of 1/1000)
MIN_TRIALS = 20  # below this many completed trials: no test, no effect sentence
MIN_FIT = 5  # below this many, not even a partial dependence is drawn
# A categorical setting's effect must not rest on a level held by fewer trials than this:
# it is tested again without them, and stated only if it holds (`_withdraw_if_fragile`)
MIN_LEVEL_TRIALS = 3
N_DRAWS = 4000  # posterior draws for the simultaneous band
BAND_LABEL = ("95% simultaneous credible band of the additive surrogate, not a calibrated "
              "confidence band: measured simultaneous coverage of the largest effect "
              "0.92-0.96 from 20 trials on an additive truth, 0.85-0.91 at 14 trials, "
              "0.87-0.92 under an interaction (docs/statistics.md)")
SCHEMES = ("freedman-lane", "shuffle")
SCHEME = "freedman-lane"
TEST_DEGREE = 2  # the tested curves: quadratic (degree 4 found the reference lr effect in
# 0.80 of TPE-like studies of 30 trials instead of 0.85, in a 300-study trial run)


# ------------------------------------------------------------------ the test

def permutations(n: int, n_perm: int, rng: np.random.Generator) -> np.ndarray:
    """``n_perm`` shuffles of range(n) (n_perm x n), each independent and uniform."""
    return rng.permuted(np.tile(np.arange(n), (n_perm, 1)), axis=1)


def _wald(model: AdditiveSurrogate, Y: np.ndarray, settings: Sequence[int]) -> np.ndarray:
    """The Wald statistic of each setting's curve for each column of ``Y``: B x m."""
    k, _, gamma, s2 = model.refit_many(Y)
    out = np.zeros((Y.shape[1], len(settings)))
    for c, j in enumerate(settings):
        sl = model.slices[j]
        if sl.stop == sl.start:
            continue
        g = gamma[sl]  # q_j x B
        blocks = model._cov[:, sl, sl]  # L x q_j x q_j
        prec = np.linalg.inv(blocks)[k]  # B x q_j x q_j
        out[:, c] = np.einsum("ib,bij,jb->b", g, prec, g) / np.maximum(s2, 1e-300)
    return out


def permutation_statistics(model: AdditiveSurrogate, perms: np.ndarray,
                           scheme: str = SCHEME) -> np.ndarray:
    """The test statistic of every varied setting, observed (row 0) and under each
    permutation in ``perms`` (rows 1..): (1 + n_perm) x p, NaN for unvaried settings."""
    design = model.design
    y = design.y
    p = len(design.settings)
    order = np.vstack([np.arange(design.n), perms])  # identity first: the observed data
    out = np.full((len(order), p), np.nan)
    varied = [j for j in range(p) if model.varied(j)]
    if not varied:
        return out
    if scheme == "shuffle":
        out[:, varied] = _wald(model, y[order].T, varied)
        return out
    if scheme != "freedman-lane":
        raise ValueError(f"scheme must be one of {SCHEMES}")
    for j in varied:
        reduced = _without(design, j, model)
        fitted = _fitted(reduced)
        resid = y - fitted
        Y = fitted[:, None] + resid[order].T
        out[:, j] = _wald(model, Y, [j])[:, 0]
    return out


def _without(design: Design, j: int, model: AdditiveSurrogate) -> AdditiveSurrogate:
    keep = [i for i in range(len(design.settings)) if i != j]
    sub = Design(design.X[:, keep], design.y, tuple(design.settings[i] for i in keep),
                 design.rows)
    return AdditiveSurrogate(sub, model.degree, model.decay, model.lambdas)


def _fitted(model: AdditiveSurrogate) -> np.ndarray:
    f = model.fit
    return f.mean + model.W @ f.gamma


@dataclass(frozen=True)
class PermutationTest:
    """The permutation test of every setting: statistics ((1 + n_perm) x p, row 0
    observed), raw and adjusted p-values (NaN for an unvaried setting)."""

    statistics: np.ndarray
    p: np.ndarray
    p_adjusted: np.ndarray
    n_perm: int
    scheme: str

    @property
    def observed(self) -> np.ndarray:
        return self.statistics[0]


def permutation_test(design: Design, n_perm: int = N_PERM,
                     rng: np.random.Generator | None = None, scheme: str = SCHEME,
                     perms: np.ndarray | None = None) -> PermutationTest:
    """Each setting's test of "no effect", family-wise adjusted (see the module's
    docstring); ``perms`` (n_perm x n) can be shared across calls, as simulations do."""
    rng = rng or np.random.default_rng(0)
    model = AdditiveSurrogate(design, degree=TEST_DEGREE)
    perms = perms if perms is not None else permutations(design.n, n_perm, rng)
    T = permutation_statistics(model, perms, scheme)
    raw, adj = step_down_minp(T)
    return PermutationTest(T, raw, adj, len(perms), scheme)


def permutation_pvalues(T: np.ndarray) -> np.ndarray:
    """Each row's p-value within its column's permutation distribution: the share of rows
    (observed included) whose statistic is at least as large. T: (1 + B) x m."""
    B1 = T.shape[0]
    out = np.ones_like(T, dtype=np.float64)
    for c in range(T.shape[1]):
        col = T[:, c]
        if not np.all(np.isfinite(col)):
            continue
        srt = np.sort(col)
        # rows with a statistic >= t, within a relative tolerance (ties from symmetry)
        tol = 1e-10 * np.maximum(1.0, np.abs(col))
        out[:, c] = (B1 - np.searchsorted(srt, col - tol, side="left")) / B1
    return out


def step_down_minp(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw and Westfall-Young step-down min-P adjusted p-values of the observed row 0 of
    ``T`` ((1 + B) x m; NaN columns are left out, their p-values NaN). Controls the
    family-wise error rate over the m settings under subset pivotality."""
    m = T.shape[1]
    raw = np.full(m, np.nan)
    adj = np.full(m, np.nan)
    cols = [c for c in range(m) if np.all(np.isfinite(T[:, c]))]
    if not cols:
        return raw, adj
    P = permutation_pvalues(T[:, cols])
    obs = P[0]
    order = np.lexsort((-T[0, cols], obs))  # smallest p first, larger statistic on ties
    running = 0.0
    for k, c in enumerate(order):
        rest = order[k:]
        minp = P[:, rest].min(axis=1)
        a = float(np.mean(minp <= obs[c] + 1e-12))
        running = max(running, a)
        adj[cols[c]] = running
    raw[cols] = obs
    return raw, adj


# ------------------------------------------------------------------ the effects

@dataclass
class Effect:
    """One setting's effect. Accuracies are fractions (x100 for points). ``grid`` and
    ``best``/``region`` are on the analysis scale (log10 for log settings, the choice's
    index for categorical ones); ``*_raw`` are in the setting's own units."""

    setting: str
    kind: str
    n: int
    verdict: str  # "effect" | "no effect shown" | "not tested" | "not varied"
    why: str
    size: float = math.nan  # range of the partial dependence
    size_low: float = math.nan
    size_high: float = math.nan
    statistic: float = math.nan
    p: float = math.nan
    p_adjusted: float = math.nan
    best: float = math.nan
    best_raw: Any = None
    region: tuple[float, float] = (math.nan, math.nan)
    region_raw: tuple[Any, Any] = (None, None)
    direction: str = ""
    grid: np.ndarray = field(default_factory=lambda: np.empty(0))
    pd: np.ndarray = field(default_factory=lambda: np.empty(0))
    pd_low: np.ndarray = field(default_factory=lambda: np.empty(0))  # pointwise band
    pd_high: np.ndarray = field(default_factory=lambda: np.empty(0))
    band_low: np.ndarray = field(default_factory=lambda: np.empty(0))  # simultaneous band
    band_high: np.ndarray = field(default_factory=lambda: np.empty(0))
    partner: str = ""  # the other setting most associated with this one among the trials
    partner_association: float = math.nan
    rests_on: int = 0  # trials a withdrawn effect rested on (`_withdraw_if_fragile`)
    rests_on_rows: tuple[Any, ...] = ()  # their `Design.rows` labels

    @property
    def points(self) -> tuple[float, float, float]:
        """Effect size and its interval in accuracy points."""
        return self.size * 100, self.size_low * 100, self.size_high * 100


@dataclass
class Effects:
    """Every setting's `Effect`, the settings of the family, and how they were tested."""

    effects: list[Effect]
    n: int
    alpha: float
    level: float
    n_perm: int
    scheme: str
    min_trials: int
    noise_sd: float = math.nan  # the surrogate's residual scale (posterior median)
    band_label: str = BAND_LABEL

    def __getitem__(self, name: str) -> Effect:
        return next(e for e in self.effects if e.setting == name)

    @property
    def table(self) -> pd.DataFrame:
        cols = ["setting", "kind", "n", "verdict", "size", "size_low", "size_high",
                "statistic", "p", "p_adjusted", "best_raw", "region_raw", "direction",
                "partner", "partner_association", "why"]
        return pd.DataFrame([{c: getattr(e, c) for c in cols} for e in self.effects],
                            columns=cols)

    def partial_dependence(self) -> pd.DataFrame:
        """Long table: setting, x (analysis scale), pd, pointwise band (low, high) and
        simultaneous band (band_low, band_high)."""
        rows = []
        for e in self.effects:
            for i, x in enumerate(e.grid):
                rows.append({"setting": e.setting, "x": float(x), "pd": e.pd[i],
                             "low": e.pd_low[i], "high": e.pd_high[i],
                             "band_low": e.band_low[i], "band_high": e.band_high[i]})
        return pd.DataFrame(rows, columns=["setting", "x", "pd", "low", "high", "band_low",
                                           "band_high"])

    @property
    def stated(self) -> list[str]:
        """The settings with a stated effect."""
        return [e.setting for e in self.effects if e.verdict == "effect"]


def partial_dependence(model: AdditiveSurrogate, j: int, fits: list[Fit],
                       level: float = LEVEL, rng: np.random.Generator | None = None,
                       draws: int = N_DRAWS) -> dict[str, np.ndarray | float]:
    """Setting ``j``'s partial dependence on its grid under the mixture posterior ``fits``
    (`AdditiveSurrogate.mixture`): the posterior mean, a pointwise ``level`` band (the
    draws' equal-tailed quantiles at each grid point) and a simultaneous one (mean +-
    c sd, c the ``level`` quantile over the draws of the largest standardised deviation
    over the grid), from ``draws`` posterior draws."""
    rng = rng or np.random.default_rng(0)
    grid = model.grid(j)
    sl = model.slices[j]
    C = model.columns(j, grid)  # G x q_j
    est = np.mean([f.mean + C @ f.gamma[sl] for f in fits], axis=0)
    means, gammas = model.draws(fits, draws, rng)
    D = means[:, None] + gammas[:, sl] @ C.T  # draws x G
    sd = D.std(axis=0)
    tail = (1 - level) / 2
    low, high = np.quantile(D, [tail, 1 - tail], axis=0)
    sup = np.max(np.abs(D - est) / np.where(sd > 0, sd, np.inf), axis=1)
    c = float(np.quantile(sup, level))
    return {"grid": grid, "pd": est, "sd": sd, "low": low, "high": high,
            "band_low": est - c * sd, "band_high": est + c * sd, "crit": c, "draws": D}


def _direction(s: Setting, grid: np.ndarray, pd_: np.ndarray) -> str:
    i = int(np.argmax(pd_))
    if s.kind == "nominal":
        return f"best choice {s.raw(grid[i])[0]}"
    if len(grid) < 3 or i == len(grid) - 1:
        return "higher is better" if i == len(grid) - 1 else "lower is better"
    if i == 0:
        return "lower is better"
    return "best inside the range"


def effects(design: Design, alpha: float = ALPHA, n_perm: int = N_PERM, seed: int = 0,
            level: float = LEVEL, scheme: str = SCHEME, min_trials: int = MIN_TRIALS,
            perms: np.ndarray | None = None, mcmc: dict[str, int] | None = None) -> Effects:
    """Every setting's effect on the objective, tested against the permutation null with
    the family of settings adjusted (FWER ``alpha``). See the module's docstring.

    Below ``min_trials`` completed trials nothing is stated: every varied setting is
    ``not tested`` and has no size, best value or direction; its partial dependence and
    bands are still returned, for a figure that says so. ``perms`` (n_perm x n) replaces
    the shuffles drawn from ``seed``; ``mcmc`` passes chains/burn/steps/keep to
    `AdditiveSurrogate.mixture` (simulations use shorter chains)."""
    n = design.n
    rng = np.random.default_rng(seed)
    tested = n >= max(min_trials, MIN_FIT)
    test = permutation_test(design, n_perm, rng, scheme, perms) if tested else None
    out = Effects([], n, alpha, level, test.n_perm if test else 0, scheme, min_trials)
    model = fits = None
    if n >= MIN_FIT:
        model = AdditiveSurrogate(design)
        fits = model.mixture(np.random.default_rng([seed, 1]), **(mcmc or {}))
        out.noise_sd = float(np.median([f.s2 for f in fits])) ** 0.5
    for j, s in enumerate(design.settings):
        distinct = np.unique(design.X[:, j]).size
        e = Effect(s.name, s.kind, n, "not varied",
                   f"it takes a single value among the {n} completed trials")
        out.effects.append(e)
        if distinct < 2 and n >= 2:  # fewer trials say nothing of whether it varied
            continue
        e.verdict = "not tested"
        e.why = (f"{n} completed trials: below the {min_trials} the test needs to find a "
                 "large effect with useful power (docs/statistics.md)")
        partner = most_associated(design, s.name)
        e.partner, e.partner_association = partner.other, partner.association
        if model is None:
            continue
        band = partial_dependence(model, j, fits, level, np.random.default_rng([seed, 2, j]))
        grid, pd_ = band["grid"], band["pd"]
        e.grid, e.pd = grid, pd_
        e.pd_low, e.pd_high = band["low"], band["high"]
        e.band_low, e.band_high = band["band_low"], band["band_high"]
        if test is None:
            continue
        _judge(e, s, band, test, j, alpha)
    if test is not None:
        for j, e in enumerate(out.effects):
            if e.verdict == "effect":
                _withdraw_if_fragile(design, j, e, alpha, n_perm, seed, scheme)
    return out


def _judge(e: Effect, s: Setting, band: dict[str, np.ndarray], test: PermutationTest,
           j: int, alpha: float) -> None:
    """A tested setting's size (the partial dependence's range, with the interval its
    simultaneous band gives), best value and region, direction and verdict."""
    grid, pd_ = band["grid"], band["pd"]
    e.size = float(pd_.max() - pd_.min())
    e.size_low = float(max(0.0, band["band_low"].max() - band["band_high"].min()))
    e.size_high = float(band["band_high"].max() - band["band_low"].min())
    i = int(np.argmax(pd_))
    e.best, e.best_raw = float(grid[i]), _scalar(s.raw(grid[i]))
    near = grid[band["band_high"] >= band["band_low"].max()]
    e.region = (float(near.min()), float(near.max()))
    e.region_raw = (_scalar(s.raw(near.min())), _scalar(s.raw(near.max())))
    e.direction = _direction(s, grid, pd_)
    e.statistic = float(test.observed[j])
    e.p, e.p_adjusted = float(test.p[j]), float(test.p_adjusted[j])
    shuffles = f"{test.n_perm} shuffles of {e.n} completed trials"
    if e.p_adjusted <= alpha:
        e.verdict = "effect"
        e.why = (f"adjusted p = {e.p_adjusted:.3g} <= {alpha:g} ({shuffles}, "
                 "Westfall-Young step-down over the settings)")
    else:
        e.verdict = "no effect shown"
        e.why = f"adjusted p = {e.p_adjusted:.3g} > {alpha:g} ({shuffles})"


def _withdraw_if_fragile(design: Design, j: int, e: Effect, alpha: float, n_perm: int,
                         seed: int, scheme: str) -> None:
    """A stated effect must not rest on a few trials: it is tested again without each
    single trial, and (for a categorical setting) without the trials at values held by
    fewer than `MIN_LEVEL_TRIALS`, the whole family adjusted each time, and withdrawn if
    any of these tests fails to show it (the example study's batch_size rested on its one
    trial at 512, an lr effect on one trial at the low end). The rule can only withdraw
    statements, so the family-wise rate stays at most ``alpha``; what it costs in power
    is measured in docs/statistics.md."""
    s = design.settings[j]
    drops: list[np.ndarray] = []
    if s.kind != "continuous":
        levels, counts = np.unique(design.X[:, j], return_counts=True)
        few = np.isin(design.X[:, j], levels[counts < MIN_LEVEL_TRIALS])
        if few.any():
            drops.append(few)
    for i in range(design.n):
        one = np.zeros(design.n, dtype=bool)
        one[i] = True
        drops.append(one)
    for k, drop in enumerate(drops):
        rest = Design(design.X[~drop], design.y[~drop], design.settings,
                      tuple(r for r, d in zip(design.rows, drop, strict=False) if not d))
        shown = False
        if rest.n >= MIN_FIT and np.unique(rest.X[:, j]).size >= 2:
            again = permutation_test(rest, n_perm, np.random.default_rng([seed, 3, j, k]),
                                     scheme)
            shown = float(again.p_adjusted[j]) <= alpha
        if not shown:
            m = int(drop.sum())
            rows = tuple(r for r, d in zip(design.rows, drop, strict=False) if d)
            e.verdict, e.rests_on, e.rests_on_rows = "no effect shown", m, rows
            e.why += (f"; but it rests on {m} trial{'s' if m > 1 else ''}: without "
                      f"{'them' if m > 1 else 'it'} it is not shown, so it is not stated")
            return


def _scalar(v: Any) -> Any:
    v = np.asarray(v, dtype=object).ravel()[0] if np.ndim(v) else v
    return v.item() if hasattr(v, "item") else v


# ------------------------------------------------------------------ confounding

@dataclass(frozen=True)
class Association:
    """The other setting most associated with ``setting`` among the trials: |Spearman
    rho| between two ordered settings; for a nominal one, the correlation ratio (eta) of
    the other's ranks on its choices, or Cramer's V between two nominal ones."""

    setting: str
    other: str
    association: float
    n: int


def _assoc(a: np.ndarray, b: np.ndarray, ka: str, kb: str) -> float:
    if np.unique(a).size < 2 or np.unique(b).size < 2:
        return 0.0
    if ka != "nominal" and kb != "nominal":
        return float(abs(stats.spearmanr(a, b).statistic))
    if ka == "nominal" and kb == "nominal":
        table = pd.crosstab(a, b).to_numpy()
        chi2 = stats.chi2_contingency(table, correction=False)[0]
        k = min(table.shape) - 1
        return float(math.sqrt(chi2 / (table.sum() * k))) if k > 0 else 0.0
    groups, values = (a, b) if ka == "nominal" else (b, a)
    r = stats.rankdata(values)
    total = ((r - r.mean()) ** 2).sum()
    between = sum(((r[groups == g].mean() - r.mean()) ** 2) * (groups == g).sum()
                  for g in np.unique(groups))
    return float(math.sqrt(between / total)) if total > 0 else 0.0


def associations(design: Design) -> pd.DataFrame:
    """The association between every pair of settings among the trials (p x p)."""
    names, p = design.names, len(design.settings)
    M = np.eye(p)
    for i in range(p):
        for j in range(i + 1, p):
            M[i, j] = M[j, i] = _assoc(design.X[:, i], design.X[:, j],
                                       design.settings[i].kind, design.settings[j].kind)
    return pd.DataFrame(M, index=names, columns=names)


def most_associated(design: Design, setting: str) -> Association:
    """The setting most associated with ``setting`` among the trials (see `Association`):
    colour a partial-dependence figure's points by it to show a possible confounder."""
    names = design.names
    i = names.index(setting)
    best, value = "", 0.0
    for j, other in enumerate(names):
        if j == i:
            continue
        a = _assoc(design.X[:, i], design.X[:, j], design.settings[i].kind,
                   design.settings[j].kind)
        if a > value or not best:
            best, value = other, a
    return Association(setting, best, value, design.n)


# ------------------------------------------------------------------ curves

RISE_WINDOW = 8  # epochs at the end of a curve the rule reads
MIN_RISE = 0.002  # accuracy (a fraction) the window's trend must gain: 0.2 points
RISE_LEVEL = 0.99  # one-sided: a flat noisy curve is flagged about 1% of the time
NOISE_FLOOR = 0.0005  # smallest epoch-to-epoch noise assumed (0.05 points)


def rising_slope(val_curve: Sequence[float], window: int = RISE_WINDOW) -> float:
    """The Theil-Sen slope (median of the pairwise slopes, accuracy per epoch) of the last
    ``window`` finite values of a validation curve; NaN with fewer than 4."""
    v = np.asarray(val_curve, dtype=np.float64)
    v = v[np.isfinite(v)][-window:]
    if len(v) < 4:
        return math.nan
    i, j = np.triu_indices(len(v), 1)
    return float(np.median((v[j] - v[i]) / (j - i)))


def still_rising(val_curve: Sequence[float], window: int = RISE_WINDOW,
                 min_rise: float = MIN_RISE, level: float = RISE_LEVEL) -> bool:
    """Whether a trial's validation accuracy was still rising at its last epoch.

    Rule, on the last ``window`` (8) recorded epochs (NaN epochs skipped; fewer than 4:
    False, too short to tell): the Theil-Sen trend line (median of pairwise slopes, so one
    lucky epoch does not make a trend) must

    1. gain at least ``min_rise`` over the window (0.002: 0.2 accuracy points), and
    2. have a slope above zero by at least the one-sided ``level`` (99%) quantile of
       Student's t with w-2 degrees of freedom times its standard error: the residual
       standard deviation around the line (at least 0.05 points) over the root of the
       epochs' sum of squares about their mean.

    Measured (tests/sweep/statistics/test_stat_curves.py): a flat curve with the
    epoch-to-epoch noise of accuracy on 10,000 validation images (0.14 points) is flagged
    about 1% of the time; a climb of 0.1 points per epoch under that noise about 87%,
    0.2 points per epoch always. Condition 1 leaves out a drift too small to matter."""
    v = np.asarray(val_curve, dtype=np.float64)
    v = v[np.isfinite(v)][-window:]
    slope = rising_slope(v, window)
    if not math.isfinite(slope):
        return False
    w = len(v)
    t = np.arange(w, dtype=np.float64)
    resid = v - slope * t
    resid -= resid.mean()
    sigma = max(math.sqrt(float(resid @ resid) / (w - 2)), NOISE_FLOOR)
    se = sigma / math.sqrt(float(((t - t.mean()) ** 2).sum()))
    crit = float(stats.t.ppf(level, w - 2))
    return bool(slope * (w - 1) >= min_rise and slope >= crit * se)

"""An additive Bayesian ridge surrogate of validation accuracy over the sampled settings.

Why this model, at 10 to 60 completed trials of five settings:

- **Additive** (accuracy = mean + one smooth curve per setting): a setting's partial
  dependence (the other settings averaged over their observed values) is then exactly
  its curve plus a constant, so "the effect of lr" is read with the other settings held
  at their observed mix rather than mixed into it as a bin mean is. Interactions cannot
  be estimated from a few dozen trials of five settings anyway; an interaction in the
  truth is left in the residual (it widens the bands, it is not attributed to anyone).
- **Smooth curves**: a numeric setting's curve is a polynomial in Legendre polynomials
  P1..P4 of the setting scaled to [-1, 1] over its range on the analysis scale, with a
  smoothness prior (each degree a priori half the variance of the one below), so an
  inverted U in log lr that is not a parabola is still followed; a nominal setting gets
  one free level per choice (orthonormal contrasts).
- **Gaussian prior per curve, its size learnt**: each curve's coefficients have a
  Gaussian prior scaled so that the curve's variance over the setting's range is
  ``sigma^2 / lam`` a priori (``lam``: the curve's precision relative to the noise
  variance ``sigma^2``, which has the Jeffreys prior). Given the precisions the
  posterior is Student-t in closed form (conjugate normal-inverse-gamma). Two ways to
  choose the precisions serve two purposes:

  * `AdditiveSurrogate.refit_many`: one precision shared by all curves, chosen by the
    marginal likelihood over a grid, for a whole matrix of objectives at once: a linear
    smoother per grid value, so refitting on a thousand shuffled objectives is a few
    matrix products (the permutation tests of `effects`, whose calibration needs the
    whole fit redone on every shuffle);
  * `AdditiveSurrogate.mixture`: one precision per setting, integrated over (a log-uniform
    prior on each, within the grid's bounds; random-walk Metropolis on the log precisions
    with the marginal likelihood in closed form), for the bands and the importances. A
    shared precision is a compromise between a setting with a large effect, whose curve it
    shrinks, and those with none; the precision chosen by maximising the marginal
    likelihood (`fit_ard`) shrinks a weak effect to nothing with too much confidence.
    Integrating over the precisions carries that uncertainty into the bands
    (benchmarks/bench_calibration.py measures what they cover).

A Gaussian process with ARD length scales was the alternative: it cannot fix five length
scales from 14 trials, and it would need them refitted on every shuffle. Nothing here is
tuned to MNIST: the model is a smoother of ``y`` on ``X`` on the analysis scale (see
`design`). Needs numpy and scipy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize, stats

from .design import Design, Setting

LAMBDA_GRID = np.logspace(-4, 4, 41)  # prior precision of the curves, in noise units
DEGREE = 4  # highest polynomial degree of a numeric setting's curve
DECAY = 0.5  # prior variance of each degree relative to the one below (smoothness)
GRID_POINTS = 41  # points of a numeric setting's partial-dependence grid
MIX_CHAINS = 20  # Metropolis chains for the precisions, run side by side
MIX_BURN = 200  # steps each chain takes before it keeps anything
MIX_STEPS = 200  # steps over which each chain keeps MIX_KEEP states
MIX_KEEP = 5  # so 100 precision draws make the mixture posterior
MIX_STEP = 2.0  # proposal sd of the log precisions (divided by sqrt(settings))
EPS = 1e-12

# second moments of the Legendre polynomials under the uniform measure on [-1, 1]
_LEGENDRE_MOMENT = {k: 1 / (2 * k + 1) for k in range(1, 9)}


def _legendre(z: np.ndarray, degree: int) -> np.ndarray:
    """P1..P_degree at z (len(z) x degree), by Bonnet's recursion."""
    cols, prev, cur = [], np.ones_like(z), z
    for k in range(1, degree + 1):
        cols.append(cur)
        prev, cur = cur, ((2 * k + 1) * z * cur - k * prev) / (k + 1)
    return np.column_stack(cols) if cols else np.empty((len(z), 0))


def _contrasts(levels: int) -> np.ndarray:
    """An orthonormal basis (levels x levels-1) of the vectors that sum to zero."""
    q, _ = np.linalg.qr(np.column_stack([np.ones(levels), np.eye(levels)[:, : levels - 1]]))
    return q[:, 1:levels]


@dataclass(frozen=True)
class Term:
    """One setting's curve: how its values become basis columns, and the covariance of
    those columns under the uniform measure over the setting's range (``moment``), which
    is the ridge penalty's metric (a curve's variance over the range is b' M b)."""

    setting: Setting
    degree: int  # numeric: polynomial degree; nominal: number of choices
    decay: float = DECAY

    @property
    def width(self) -> int:
        return self.degree - 1 if self.setting.kind == "nominal" else self.degree

    def basis(self, x: np.ndarray) -> np.ndarray:
        s = self.setting
        x = np.asarray(x, dtype=np.float64)
        if s.kind == "nominal":
            idx = np.clip(np.rint(x).astype(int), 0, s.levels - 1)
            return _contrasts(s.levels)[idx]
        span = s.high - s.low
        z = 2 * (x - s.low) / span - 1 if span > 0 else np.zeros_like(x)
        return _legendre(z, self.degree)

    def space(self) -> np.ndarray:
        """Points that carry the uniform measure over the setting's range (its choices, or
        a fine grid), for the variance of a curve over the range."""
        s = self.setting
        if s.kind == "continuous":
            return np.linspace(s.low, s.high, 201)
        return np.arange(s.levels, dtype=np.float64)

    def moment(self) -> np.ndarray:
        """The penalty metric: the columns' covariance over the range, each degree k
        weighted by decay^-(k-1) so that a priori the degree-k part of the curve has
        decay^(k-1) times the variance of the linear part (a smoothness prior)."""
        s = self.setting
        if s.kind == "nominal":
            return np.eye(self.width) / s.levels
        if s.kind == "continuous":
            m = np.diag([_LEGENDRE_MOMENT[k] for k in range(1, self.degree + 1)])
        else:
            b = self.basis(self.space())
            m = np.cov(b, rowvar=False, bias=True).reshape(self.width, self.width)
        w = np.sqrt(self.decay ** -np.arange(self.degree, dtype=np.float64))
        return m * w[:, None] * w[None, :]


def _terms(design: Design, degree: int, decay: float) -> list[Term | None]:
    """A term per setting, None for a setting that takes a single value among the trials
    (it has no effect to estimate)."""
    out: list[Term | None] = []
    for j, s in enumerate(design.settings):
        distinct = np.unique(design.X[:, j]).size if design.n else 0
        if distinct < 2:
            out.append(None)
        elif s.kind == "nominal":
            out.append(Term(s, s.levels, decay))
        else:
            d = min(degree, distinct - 1, (s.levels - 1) if s.levels else degree)
            out.append(Term(s, d, decay))
    return out


@dataclass
class Fit:
    """Posterior of one objective vector: the prior precision of each setting's curve
    (``lam``, NaN for an unvaried setting), the intercept, the whitened coefficients
    (``gamma``; see `AdditiveSurrogate`), the posterior scale matrix of gamma (``cov``,
    noise scale included) and the noise scale ``s2`` of the Student-t posterior with
    ``nu`` degrees of freedom. ``lam_index``: the grid index of a shared precision."""

    lam: np.ndarray
    mean: float
    gamma: np.ndarray
    cov: np.ndarray
    s2: float
    nu: int
    lam_index: int = -1


class AdditiveSurrogate:
    """The additive surrogate of one `Design` (fitted with `fit`).

    Internally the centred basis ``B`` (n x q, columns of all terms side by side) is
    whitened by the penalty: ``W = B R^-1`` with ``R' R = blockdiag(M_j)``, so that the
    prior is ``gamma ~ N(0, sigma^2 / lam I)`` for ``gamma = R beta`` and a curve's
    variance over its setting's range is ``sigma^2 / lam`` per column a priori.
    """

    def __init__(self, design: Design, degree: int = DEGREE, decay: float = DECAY,
                 lambdas: np.ndarray = LAMBDA_GRID) -> None:
        self.design = design
        self.degree, self.decay = degree, decay
        self.terms = _terms(design, degree, decay)
        self.lambdas = np.asarray(lambdas, dtype=np.float64)
        n = design.n
        blocks, rinv, self.slices, start = [], [], [], 0
        for t, x in zip(self.terms, design.X.T, strict=True):
            if t is None:
                self.slices.append(slice(start, start))
                continue
            b = t.basis(x)
            r = np.linalg.cholesky(t.moment()).T  # R' R = M
            blocks.append(b)
            rinv.append(np.linalg.inv(r))
            self.slices.append(slice(start, start + t.width))
            start += t.width
        self.q = start
        B = np.column_stack(blocks) if blocks else np.empty((n, 0))
        self.center = B.mean(axis=0) if n else np.zeros(self.q)
        self.Rinv = _blockdiag(rinv, self.q)
        self.W = (B - self.center) @ self.Rinv
        self.nu = n - 1
        u, s, vt = np.linalg.svd(self.W, full_matrices=False)
        keep = s > 1e-9 * max(1.0, s.max(initial=0.0))
        self.U, self.s, self.V = u[:, keep], s[keep], vt[keep].T
        # posterior covariance of gamma per lam, in units of the noise scale s2
        self._cov = np.array([self._gamma_cov(lam) for lam in self.lambdas])
        self.fit = self.refit(design.y)

    # -- fitting --------------------------------------------------------------------

    def _gamma_cov(self, lam: float) -> np.ndarray:
        v = self.V
        inside = (v / (self.s**2 + lam)) @ v.T
        return inside + (np.eye(self.q) - v @ v.T) / lam

    def refit_many(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                   np.ndarray]:
        """The posterior for every column of ``Y`` (n x B) at once: the prior precision's
        grid index chosen per column (marginal likelihood), the column means, the
        whitened coefficients (q x B) and the noise scales s2 (B)."""
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim == 1:
            Y = Y[:, None]
        means = Y.mean(axis=0)
        Yc = Y - means
        uty = self.U.T @ Yc  # r x B
        yy = np.einsum("ij,ij->j", Yc, Yc)
        s2 = self.s**2
        shrink = s2[None, :] / (s2[None, :] + self.lambdas[:, None])  # L x r
        quad = yy[None, :] - shrink @ uty**2  # L x B
        quad = np.maximum(quad, EPS * np.maximum(yy, EPS)[None, :])
        logdet = np.log1p(s2[None, :] / self.lambdas[:, None]).sum(axis=1)  # L
        logml = -0.5 * logdet[:, None] - 0.5 * self.nu * np.log(quad)
        k = np.argmax(logml, axis=0)
        cols = np.arange(Y.shape[1])
        factor = (self.s[:, None] / (s2[:, None] + self.lambdas[k][None, :])) * uty
        gamma = self.V @ factor
        return k, means, gamma, quad[k, cols] / max(self.nu, 1)

    def refit(self, y: np.ndarray) -> Fit:
        """The posterior with one prior precision shared by all curves (`refit_many`)."""
        k, m, g, s2 = self.refit_many(np.asarray(y, dtype=np.float64)[:, None])
        lam = np.where([t is not None for t in self.terms], self.lambdas[k[0]], np.nan)
        return Fit(lam, float(m[0]), g[:, 0], self._cov[k[0]] * float(s2[0]), float(s2[0]),
                   self.nu, int(k[0]))

    def fit_ard(self, y: np.ndarray | None = None) -> Fit:
        """The posterior with one prior precision per setting (automatic relevance
        determination), each chosen by maximising the marginal likelihood (L-BFGS on
        log precision within the grid's bounds, from the shared precision's optimum).

        Not what the bands use: a weak effect's precision maximised this way often goes
        to its bound and the curve to nothing with a narrow band (its measured coverage
        fell to 0.6-0.8); `mixture` integrates over the precisions instead."""
        y = self.design.y if y is None else np.asarray(y, dtype=np.float64)
        start = self.refit(y)
        varied = [j for j, t in enumerate(self.terms) if t is not None]
        if not varied:
            return start
        yc = y - y.mean()
        n, nu = len(y), max(self.nu, 1)
        blocks = [self.W[:, self.slices[j]] for j in varied]
        widths = np.array([b.shape[1] for b in blocks])
        lo, hi = np.log(self.lambdas[0]), np.log(self.lambdas[-1])

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            d = np.repeat(np.exp(-theta), widths)
            K = np.eye(n) + (self.W * d) @ self.W.T
            c = linalg.cho_factor(K)
            a = linalg.cho_solve(c, yc)
            Q = max(float(yc @ a), EPS)
            Kinv = linalg.cho_solve(c, np.eye(n))
            f = 0.5 * nu * np.log(Q) + np.log(np.diag(c[0])).sum()
            lam = np.exp(theta)
            grad = np.array([0.5 * nu * float(np.sum((b.T @ a) ** 2)) / (lj * Q)
                             - 0.5 * float(np.sum(b * (Kinv @ b))) / lj
                             for b, lj in zip(blocks, lam, strict=True)])
            return f, grad

        theta0 = np.full(len(varied), np.log(start.lam[varied[0]]))
        res = optimize.minimize(objective, theta0, jac=True, method="L-BFGS-B",
                                bounds=[(lo, hi)] * len(varied))
        theta = res.x if res.fun <= objective(theta0)[0] else theta0
        lam = np.full(len(self.terms), np.nan)
        lam[varied] = np.exp(theta)
        return self.fit_at(lam, y)

    def _log_posterior(self, y: np.ndarray):
        """The log posterior of the per-setting log precisions (theta: K x m, one row per
        chain, one column per varied setting), up to a constant: the marginal likelihood
        with the noise variance integrated out, under a log-uniform prior (flat in
        theta)."""
        varied = [j for j, t in enumerate(self.terms) if t is not None]
        widths = np.array([self.slices[j].stop - self.slices[j].start for j in varied])
        yc = y - y.mean()
        WtW, Wty, yy, nu = self.W.T @ self.W, self.W.T @ yc, float(yc @ yc), max(self.nu, 1)

        def logp(theta: np.ndarray) -> np.ndarray:
            lam = np.repeat(np.exp(theta), widths, axis=1)  # K x q
            A = WtW[None] + lam[:, :, None] * np.eye(self.q)[None]
            c = np.linalg.cholesky(A)
            z = np.linalg.solve(c, np.broadcast_to(Wty, (len(theta), self.q))[..., None])
            quad = np.maximum(yy - (z[..., 0] ** 2).sum(axis=1), EPS * max(yy, EPS))
            # log det(I + W Lambda^-1 W') = log det(W'W + Lambda) - log det(Lambda)
            diag = np.diagonal(c, axis1=1, axis2=2)
            logdet = 2 * np.log(diag).sum(axis=1) - np.log(lam).sum(axis=1)
            return -0.5 * logdet - 0.5 * nu * np.log(quad)

        return varied, widths, logp

    def fit_at(self, lam: np.ndarray, y: np.ndarray | None = None) -> Fit:
        """The posterior given one prior precision per setting (``lam``, length p; NaN
        or anything for unvaried settings)."""
        y = self.design.y if y is None else np.asarray(y, dtype=np.float64)
        yc = y - y.mean()
        penalty = np.concatenate([np.full(sl.stop - sl.start, lam[j])
                                  for j, sl in enumerate(self.slices)]) if self.q else \
            np.empty(0)
        Ainv = np.linalg.inv(self.W.T @ self.W + np.diag(penalty))
        gamma = Ainv @ (self.W.T @ yc)
        s2 = max(float(yc @ (yc - self.W @ gamma)), EPS * max(float(yc @ yc), EPS))
        s2 /= max(self.nu, 1)
        return Fit(np.asarray(lam, dtype=np.float64), float(y.mean()), gamma, Ainv * s2, s2,
                   self.nu)

    def mixture(self, rng: np.random.Generator, chains: int = MIX_CHAINS,
                burn: int = MIX_BURN, steps: int = MIX_STEPS, keep: int = MIX_KEEP
                ) -> list[Fit]:
        """Posterior fits at draws of the per-setting precisions from their posterior;
        together (an equal-weight mixture) they are the posterior with the precisions
        integrated out. Random-walk Metropolis on the log precisions: ``chains`` chains
        run side by side from the shared precision's optimum spread by a normal of sd 2
        (a factor of 7), reflected at the grid's bounds; after ``burn`` steps each keeps
        ``keep`` states spread over ``steps`` more."""
        varied, _, logp = self._log_posterior(self.design.y)
        if not varied:
            return [self.fit]
        m = len(varied)
        lo, hi = np.log(self.lambdas[0]), np.log(self.lambdas[-1])
        start = np.log(self.fit.lam[varied])
        theta = start[None, :] + 2.0 * rng.standard_normal((chains, m))
        theta = _reflect(theta, lo, hi)
        cur = logp(theta)
        step = MIX_STEP / math.sqrt(m)
        every = max(1, steps // keep)
        kept = []
        for it in range(burn + every * keep):
            prop = _reflect(theta + step * rng.standard_normal((chains, m)), lo, hi)
            new = logp(prop)
            accept = np.log(rng.random(chains)) < new - cur
            theta = np.where(accept[:, None], prop, theta)
            cur = np.where(accept, new, cur)
            if it >= burn and (it - burn) % every == every - 1:
                kept.append(theta.copy())
        fits = []
        for th in np.concatenate(kept):
            lam = np.full(len(self.terms), np.nan)
            lam[varied] = np.exp(th)
            fits.append(self.fit_at(lam))
        return fits

    # -- reading the posterior --------------------------------------------------------

    def index(self, name: str) -> int:
        return [s.name for s in self.design.settings].index(name)

    def varied(self, j: int) -> bool:
        return self.terms[j] is not None

    def columns(self, j: int, x: np.ndarray) -> np.ndarray:
        """The whitened, centred columns of setting ``j`` at values ``x`` (len(x) x q_j):
        the curve at x is ``columns @ gamma[slice_j]``."""
        t, sl = self.terms[j], self.slices[j]
        return (t.basis(x) - self.center[sl]) @ self.Rinv[sl, sl]

    def gamma_cov(self, fit: Fit | None = None) -> np.ndarray:
        """Posterior scale matrix of gamma (noise scale included)."""
        return (fit or self.fit).cov

    def grid(self, j: int, points: int = GRID_POINTS) -> np.ndarray:
        """The analysis-scale values a partial dependence is read at: the observed range of
        a numeric setting (never extrapolated), the observed choices of a categorical one."""
        x = self.design.X[:, j]
        if self.design.settings[j].kind == "continuous":
            return np.linspace(x.min(), x.max(), points)
        return np.unique(x)

    def draws(self, fits: list[Fit], size: int, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray]:
        """About ``size`` posterior draws of (intercept, gamma) from the equal-weight
        mixture of ``fits`` (each a multivariate t with ``nu`` degrees of freedom):
        shapes (D,) and (D, q)."""
        per = max(1, size // len(fits))
        means, gammas = [], []
        for fit in fits:
            scale = np.sqrt(max(self.nu, 1) / rng.chisquare(max(self.nu, 1), per))
            z = rng.standard_normal((per, self.q)) @ _chol(fit.cov).T
            gammas.append(fit.gamma[None, :] + scale[:, None] * z)
            means.append(fit.mean + scale * rng.standard_normal(per)
                         * math.sqrt(fit.s2 / self.design.n))
        return np.concatenate(means), np.vstack(gammas)

    def t_quantile(self, level: float) -> float:
        return float(stats.t.ppf(0.5 + level / 2, max(self.nu, 1)))


def _reflect(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    x = np.where(x < lo, 2 * lo - x, x)
    return np.clip(np.where(x > hi, 2 * hi - x, x), lo, hi)


def _blockdiag(blocks: list[np.ndarray], q: int) -> np.ndarray:
    out = np.zeros((q, q))
    i = 0
    for b in blocks:
        k = b.shape[0]
        out[i:i + k, i:i + k] = b
        i += k
    return out


def _chol(cov: np.ndarray) -> np.ndarray:
    if cov.size == 0:
        return cov
    jitter = 1e-12 * max(float(np.trace(cov)) / len(cov), EPS)
    for _ in range(6):
        try:
            return np.linalg.cholesky(cov + jitter * np.eye(len(cov)))
        except np.linalg.LinAlgError:
            jitter *= 100
    w, v = np.linalg.eigh(cov)
    return v * np.sqrt(np.maximum(w, 0))

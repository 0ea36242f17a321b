"""Which settings matter most: functional-ANOVA shares with a fixed target.

The target, the same in every study and every resample: a setting's **share** is the
variance of its main effect over the search space (each setting uniform on its analysis
scale: log10 for hidden_size, l2 and lr; its choices for a categorical one), divided by
the sum of those variances over the settings. It is what Optuna's fANOVA estimates
(its importances normalised to sum to one), computed here from the additive surrogate
of `surrogate` rather than from a random forest:

- no Monte Carlo noise from a forest (the referee measured lr's fANOVA share moving
  from 20% to 76% with the seed of an 8-tree forest); the only Monte Carlo error left is
  that of the posterior draws, reported in ``Importances.mc_error``;
- every setting is on its sampled (log) scale, as the search space defines it;
- the uncertainty is the surrogate's posterior (the per-setting precisions integrated
  over, `AdditiveSurrogate.mixture`), not a bootstrap of trials whose duplicates a forest
  or a quantile split reads as extra evidence.

The interval is the equal-tailed ``level`` interval of the share's posterior, with one
amendment: when the permutation test of `effects` does not state an effect for the
setting, its lower end is 0 (no effect shown means a share of zero is not excluded, and
a posterior interval of a variance never reaches zero). Its frequentist coverage on a
known function with a TPE-like design is measured by benchmarks/bench_calibration.py and
stated in ``Importances.label``; `CALIBRATED` says whether it reached its nominal level
there (see docs/statistics.md).

Below `MIN_TRIALS_SHARES` completed trials the shares are not given: `importances` then
ranks the settings by their permutation test (the statistic, with raw and family-wise
adjusted p-values), which is calibrated at any size.

`forest_shares` is Optuna's fANOVA on the same target (an in-memory study whose
distributions are the settings' analysis-scale ranges, so log settings are read in log10),
averaged over forest seeds with its Monte Carlo error stated, for comparison with what
the report printed before. It has no interval, and at 30 trials it is biased: on the
reference truth (lr's true share 0.96) its mean lr share was 0.59 in the TPE-like design
with l2 correlated with lr, l2 (no effect) getting 0.10; the surrogate's were 0.85 and
0.03 (docs/statistics.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..logs import optuna_quiet
from .design import Design
from .effects import ALPHA, MIN_FIT, MIN_TRIALS, N_PERM, PermutationTest, permutation_test
from .surrogate import AdditiveSurrogate, Fit

LEVEL = 0.95
FOREST_TREES = 128  # trees per forest: sd of a share between forests 0.02-0.03 at n=30
FOREST_SEEDS = 4  # forests averaged (their spread gives the Monte Carlo error)
FOREST_DEPTH = 64  # Optuna's default
N_DRAWS = 4000
MIN_TRIALS_SHARES = MIN_TRIALS  # below: ranks against the permutation null only
CALIBRATED = False  # whether the share intervals reached nominal coverage (bench_calibration)
LABEL = ("95% posterior interval of the share (the surrogate's uncertainty), not a "
         "calibrated confidence interval: measured coverage 0.92-1.00 from 20 trials on an "
         "additive truth (lowest, 0.92, for a weak effect), 0.82-0.90 for the largest share at "
         "14 trials and 0.86-0.92 under an interaction the surrogate cannot represent "
         "(docs/statistics.md)")


@dataclass
class Importances:
    """Shares (``mode == "shares"``: setting, share, low, high, stated, p_adjusted) or
    ranks against the permutation null (``mode == "ranks"``: setting, rank, statistic, p,
    p_adjusted). ``n`` completed trials stand behind them."""

    mode: str
    table: pd.DataFrame
    n: int
    level: float = LEVEL
    label: str = ""
    calibrated: bool = False
    target: str = ("share of the summed main-effect variances over the search space, each "
                   "setting uniform on its sampled (log) scale")
    mc_error: float = float("nan")  # largest Monte Carlo sd of a share's posterior mean
    notes: list[str] = field(default_factory=list)

    def ranking(self) -> list[str]:
        if self.mode == "shares":
            return list(self.table.sort_values("share", ascending=False)["setting"])
        return list(self.table.sort_values("rank")["setting"])


def share_draws(model: AdditiveSurrogate, fits: list[Fit], rng: np.random.Generator,
                draws: int = N_DRAWS) -> np.ndarray:
    """Posterior draws of every setting's share (draws x p; 0 for an unvaried setting):
    each draw's main-effect variances over the search space, normalised."""
    _, gammas = model.draws(fits, draws, rng)
    V = np.zeros((len(gammas), len(model.terms)))
    for j, t in enumerate(model.terms):
        if t is None:
            continue
        C = model.columns(j, t.space())  # points carrying the uniform measure
        M = np.cov(C, rowvar=False, bias=True).reshape(C.shape[1], C.shape[1])
        g = gammas[:, model.slices[j]]
        V[:, j] = np.einsum("di,ij,dj->d", g, M, g)  # the curve's variance over the points
    total = V.sum(axis=1, keepdims=True)
    return np.where(total > 0, V / np.where(total > 0, total, 1), 0.0)


def importances(design: Design, level: float = LEVEL, seed: int = 0,
                min_trials: int = MIN_TRIALS_SHARES, alpha: float = ALPHA,
                n_perm: int = N_PERM, test: PermutationTest | None = None,
                draws: int = N_DRAWS, stated: Sequence[str] | None = None) -> Importances:
    """The settings' shares with their interval, or below ``min_trials`` completed trials
    their ranks against the permutation null (module docstring). ``test``: the result
    of `effects.permutation_test` on the same design, if already computed; ``stated``:
    the settings whose effects `effects.effects` states (it may withdraw one the test
    alone would state), so that the two never disagree."""
    n = design.n
    rng = np.random.default_rng(seed)
    names = design.names
    if n < MIN_FIT:
        nan = np.full(len(names), np.nan)
        table = pd.DataFrame({"setting": names, "rank": np.zeros(len(names), dtype=int),
                              "statistic": nan, "p": nan, "p_adjusted": nan})
        return Importances("ranks", table, n, level, label="no ranking: too few trials",
                           notes=[f"{n} completed trials: nothing to rank"])
    if test is None:
        test = permutation_test(design, n_perm, rng)
    if n < min_trials:
        obs = test.observed
        order = np.argsort(-np.nan_to_num(obs, nan=-np.inf), kind="stable")
        rank = np.empty(len(names), dtype=int)
        rank[order] = np.arange(1, len(names) + 1)
        table = pd.DataFrame({"setting": names, "rank": rank, "statistic": obs,
                              "p": test.p, "p_adjusted": test.p_adjusted})
        return Importances("ranks", table.sort_values("rank").reset_index(drop=True), n,
                           level, label=(f"ranks by the permutation test's statistic "
                                         f"({test.n_perm} shuffles), p-values adjusted for "
                                         "the family of settings (Westfall-Young)"),
                           calibrated=True,
                           notes=[f"{n} completed trials: below the {min_trials} needed for "
                                  "shares with an interval (docs/statistics.md)"])
    model = AdditiveSurrogate(design)
    fits = model.mixture(np.random.default_rng([seed, 1]))
    S = share_draws(model, fits, np.random.default_rng([seed, 3]), draws)
    tail = (1 - level) / 2
    low, high = np.quantile(S, [tail, 1 - tail], axis=0)
    shown = np.nan_to_num(test.p_adjusted, nan=1.0) <= alpha
    if stated is not None:
        shown &= np.isin(names, list(stated))
    low = np.where(shown, low, 0.0)
    share = S.mean(axis=0)
    # draws come in groups sharing one precision draw: one effective draw per group at
    # worst, so this Monte Carlo error of the posterior mean is conservative
    mc = float(np.max(S.std(axis=0)) / np.sqrt(len(fits)))
    table = pd.DataFrame({"setting": names, "share": share, "low": low, "high": high,
                          "stated": shown, "p_adjusted": test.p_adjusted})
    return Importances("shares", table, n, level, LABEL, CALIBRATED, mc_error=mc)



def forest_shares(design: Design, n_trees: int = FOREST_TREES, seeds: int = FOREST_SEEDS,
                  max_depth: int = FOREST_DEPTH) -> pd.DataFrame:
    """Optuna's fANOVA shares on the analysis scale (setting, share, mc_error): the mean
    over ``seeds`` forests of ``n_trees`` trees, and the Monte Carlo standard error of that
    mean (the forests' sd over sqrt(seeds)). Needs optuna and scikit-learn. No interval:
    see the module's docstring for what it cannot do."""
    import warnings

    try:
        import sklearn  # noqa: F401  (Optuna's fANOVA fits its forests with it)
    except ImportError as exc:
        raise ImportError("forest_shares needs scikit-learn, an optional extra: "
                          "pip install -e '.[forest]'") from exc
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    from optuna.importance import FanovaImportanceEvaluator
    from optuna.trial import create_trial

    varied = [j for j in range(len(design.settings)) if np.unique(design.X[:, j]).size > 1]
    dists, names = {}, []
    for j in varied:
        s = design.settings[j]
        names.append(s.name)
        if s.kind == "nominal":
            dists[s.name] = CategoricalDistribution(tuple(range(s.levels)))
        elif s.kind == "ordinal":
            dists[s.name] = IntDistribution(0, s.levels - 1)
        else:
            x = design.X[:, j]
            dists[s.name] = FloatDistribution(min(s.low, float(x.min())),
                                              max(s.high, float(x.max())))
    trials = []
    for i in range(design.n):
        params = {}
        for j in varied:
            s, v = design.settings[j], design.X[i, j]
            params[s.name] = float(v) if s.kind == "continuous" else int(round(v))
        trials.append(create_trial(params=params, distributions=dists,
                                   value=float(design.y[i])))
    with optuna_quiet():
        study = optuna.create_study(direction="maximize")
    study.add_trials(trials)
    runs = []
    for seed in range(seeds):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            imp = FanovaImportanceEvaluator(n_trees=n_trees, max_depth=max_depth,
                                            seed=seed).evaluate(study, params=names)
        total = sum(imp.values())
        runs.append([imp[n] / total if total > 0 else 0.0 for n in names])
    runs = np.array(runs)
    out = pd.DataFrame({"setting": design.names, "share": 0.0, "mc_error": 0.0})
    idx = [design.names.index(n) for n in names]
    out.loc[idx, "share"] = runs.mean(axis=0)
    out.loc[idx, "mc_error"] = (runs.std(axis=0, ddof=1) / np.sqrt(seeds) if seeds > 1
                                else np.nan)
    return out

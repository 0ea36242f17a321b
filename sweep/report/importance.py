"""Which settings matter: Optuna's importances with bootstrap intervals, and Spearman's rho.

Importances come from Optuna's default evaluator (PED-ANOVA in Optuna 5) and from
fANOVA (which needs scikit-learn; without it that method is left out with a note).
Their uncertainty is measured by resampling: the completed trials are drawn with
replacement as in the bootstrap, the importances recomputed on an in-memory copy of
the study holding the trials drawn, and the 2.5 and 97.5 percentiles taken. Each
trial drawn enters once: a duplicated trial would count as several identical
observations, which the density-based PED-ANOVA reads as a sharp peak and which
biases every resample towards equal importances. Twenty resamples keep it cheap;
the interval is coarse but honest about how little a few dozen trials can say.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass, field

import numpy as np
import optuna
import pandas as pd
from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator
from optuna.trial import FrozenTrial, TrialState
from scipy.stats import spearmanr

from .analysis import StudyData

METHODS = ("PED-ANOVA", "fANOVA")


@dataclass
class Importance:
    table: pd.DataFrame  # setting, method, importance, low, high (fractions of the total)
    spearman: pd.DataFrame  # setting, rho, low, high, p, n
    notes: list[str] = field(default_factory=list)

    def ranking(self) -> list[str]:
        """Settings from most to least important (PED-ANOVA, else fANOVA, else |rho|)."""
        for method in METHODS:
            t = self.table[self.table["method"] == method]
            if len(t):
                return list(t.sort_values("importance", ascending=False)["setting"])
        s = self.spearman.assign(a=self.spearman["rho"].abs())
        return list(s.sort_values("a", ascending=False)["setting"])


def _completed(data: StudyData) -> list[FrozenTrial]:
    return [t for t in data.results.frozen_trials
            if t.state == TrialState.COMPLETE and t.value is not None and np.isfinite(t.value)]


def _evaluate(evaluator, trials: list[FrozenTrial], params: list[str]) -> dict[str, float]:
    study = optuna.create_study(direction="maximize")
    study.add_trials(trials)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = evaluator.evaluate(study, params=params)
    total = sum(raw.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in raw.items()}


def importances(data: StudyData, n_boot: int = 20, seed: int = 0) -> Importance:
    """Both evaluators with bootstrap intervals, plus Spearman's rho of each setting."""
    trials = _completed(data)
    params = [s.name for s in data.varied
              if all(s.name in t.distributions for t in trials)]
    notes: list[str] = []
    rows = []
    if len(trials) >= 3 and params:
        evaluators = {"PED-ANOVA": lambda s: PedAnovaImportanceEvaluator()}
        if importlib.util.find_spec("sklearn") is not None:
            evaluators["fANOVA"] = lambda s: FanovaImportanceEvaluator(n_trees=32, seed=s)
        else:
            notes.append("fANOVA left out: it needs scikit-learn (pip install scikit-learn).")
        rng = np.random.default_rng(seed)
        samples = [np.unique(rng.integers(0, len(trials), len(trials))) for _ in range(n_boot)]
        for method, make in evaluators.items():
            point = _evaluate(make(seed), trials, params)
            boot = [_evaluate(make(seed + 1 + i), [trials[j] for j in pick], params)
                    for i, pick in enumerate(samples)]
            for p in params:
                vals = np.array([b.get(p, 0.0) for b in boot])
                lo, hi = np.percentile(vals, [2.5, 97.5])
                rows.append({"setting": p, "method": method, "importance": point.get(p, 0.0),
                             "low": float(lo), "high": float(hi)})
    table = pd.DataFrame(rows, columns=["setting", "method", "importance", "low", "high"])
    return Importance(table, spearman_table(data, seed=seed), notes)


def spearman_table(data: StudyData, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """Spearman's rank correlation of each setting with validation accuracy (completed
    trials), with a 95% bootstrap interval. Settings that are not ordered are left out."""
    done = data.completed
    rows = []
    rng = np.random.default_rng(seed)
    for s in data.varied:
        if s.categorical and not s.numeric_choices:
            continue
        x = s.scale(done[s.column])
        y = done["value"].to_numpy(dtype=np.float64)
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
        row = {"setting": s.name, "rho": np.nan, "low": np.nan, "high": np.nan, "p": np.nan,
               "n": len(x)}
        if len(x) >= 3 and np.unique(x).size > 1 and np.unique(y).size > 1:
            res = spearmanr(x, y)
            row["rho"], row["p"] = float(res.statistic), float(res.pvalue)
            boots = []
            for _ in range(n_boot):
                pick = rng.integers(0, len(x), len(x))
                if np.unique(x[pick]).size > 1 and np.unique(y[pick]).size > 1:
                    boots.append(spearmanr(x[pick], y[pick]).statistic)
            if len(boots) >= 10:
                row["low"], row["high"] = (float(v) for v in np.percentile(boots, [2.5, 97.5]))
        rows.append(row)
    return pd.DataFrame(rows, columns=["setting", "rho", "low", "high", "p", "n"])

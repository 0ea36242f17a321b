"""Which settings matter: Optuna's importances with bootstrap intervals, and Spearman's rho.

Importances come from Optuna's PED-ANOVA (its default evaluator) and from fANOVA
(which needs scikit-learn; without it that method is left out with a note). Their
uncertainty is a percentile bootstrap: `N_BOOT` times, the completed trials are drawn
with replacement (a trial drawn twice enters twice, as a bootstrap means), the
importances are recomputed on an in-memory study holding the trials drawn, and the
2.5 and 97.5 percentiles of each setting's share are its 95% interval. The point
estimate is the share on all completed trials; a percentile interval need not contain
it (the shares are bounded and biased in small samples), so every row says whether it
does, and the text flags those that do not instead of hiding them.

PED-ANOVA compares where the trials above a quantile of the objective lie with where
all of them lie; Optuna's docstring asks for at least 5 trials above it. Its quantile
is therefore set per study so that `MIN_ABOVE` trials lie above it, and the method is
left out, with the reason, when that would need more than half of the trials
(`MAX_QUANTILE`): below ``MIN_ABOVE / MAX_QUANTILE`` completed trials.

Spearman's rank correlation is given only for settings measured at enough distinct
values: at least `MIN_LEVELS` levels (choices, or thirds of the sampled range) each
holding at least `MIN_PER_LEVEL` completed trials; for the others the table says why.
"""

from __future__ import annotations

import copy
import importlib.util
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import optuna
import pandas as pd
from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator
from optuna.trial import FrozenTrial, TrialState, create_trial
from scipy.stats import spearmanr

from ..study.param import Param
from .analysis import StudyData

METHODS = ("PED-ANOVA", "fANOVA")
N_BOOT = 200  # bootstrap resamples, for importances and Spearman alike
MIN_ABOVE = 5  # PED-ANOVA: trials above its quantile (Optuna's own advice)
MAX_QUANTILE = 0.5  # PED-ANOVA: "the top" must stay a minority of the trials
FANOVA_TREES = 32  # trees of the forest on all trials
FANOVA_DEPTH = 8  # deep enough for a few dozen trials, and half the time of Optuna's 64
FANOVA_BOOT_TREES = 8  # trees per resample: 200 forests of 32 would take minutes; the
# forest's own randomness then widens the interval a little (conservative, not optimistic)
MIN_LEVELS = 3  # Spearman: distinct levels of a setting ...
MIN_PER_LEVEL = 3  # ... each holding at least this many completed trials
LEVEL = 95.0


@dataclass
class Importance:
    """Importances by method (``table``: setting, method, importance, low, high, inside,
    all fractions of the total), Spearman's rho per setting (``spearman``: setting, rho,
    low, high, p, n, resamples, why; rho is NaN where ``why`` says it was left out), and
    notes on methods left out. ``n`` completed trials stand behind all of it."""

    table: pd.DataFrame
    spearman: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    n: int = 0
    n_boot: int = N_BOOT
    quantile: float | None = None  # PED-ANOVA's target quantile
    above: int = 0  # trials above it

    def methods(self) -> list[str]:
        return [m for m in METHODS if (self.table["method"] == m).any()]

    def ranking(self, method: str | None = None) -> list[str]:
        """Settings from most to least important by ``method`` (default: PED-ANOVA, else
        fANOVA, else |rho|)."""
        for m in ([method] if method else METHODS):
            t = self.table[self.table["method"] == m]
            if len(t):
                return list(t.sort_values("importance", ascending=False)["setting"])
        s = self.spearman.dropna(subset=["rho"])
        s = s.assign(a=s["rho"].abs())
        return list(s.sort_values("a", ascending=False)["setting"])

    def row(self, setting: str, method: str) -> pd.Series | None:
        t = self.table[(self.table["setting"] == setting) & (self.table["method"] == method)]
        return t.iloc[0] if len(t) else None

    def outside(self) -> list[tuple[str, str]]:
        """(method, setting) whose estimate lies outside its own bootstrap interval."""
        t = self.table[~self.table["inside"].astype(bool)]
        return list(zip(t["method"], t["setting"], strict=True))


def _completed(data: StudyData) -> list[FrozenTrial]:
    """The completed trials with a finite value, reduced to what the evaluators read
    (params, distributions, value)."""
    return [create_trial(params=t.params, distributions=t.distributions, value=t.value)
            for t in data.results.frozen_trials
            if t.state == TrialState.COMPLETE and t.value is not None and np.isfinite(t.value)]


class _Sample(optuna.Study):
    """An empty in-memory study that hands the evaluators a given list of trials.

    Optuna's storages deep-copy every trial added to them, and 400 resampled studies
    spent most of their time copying; the evaluators only read the study's direction
    and ``get_trials``, so this study answers the latter from the list itself. A trial
    drawn twice is two entries with their own ids, as a bootstrap draw means."""

    def __init__(self, trials: list[FrozenTrial]) -> None:
        storage = optuna.storages.InMemoryStorage()
        name = optuna.create_study(storage=storage, direction="maximize").study_name
        super().__init__(study_name=name, storage=storage)
        self._sample = []
        for i, t in enumerate(trials):
            t = copy.copy(t)
            t._trial_id, t.number = i, i
            self._sample.append(t)

    def get_trials(self, deepcopy: bool = True, states=None) -> list[FrozenTrial]:
        return [t for t in self._sample if states is None or t.state in states]


def _evaluate(evaluator, trials: list[FrozenTrial], params: list[str]) -> dict[str, float]:
    """Importances as shares of their total, on a study of ``trials``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = evaluator.evaluate(_Sample(trials), params=params)
    total = sum(raw.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in raw.items()}


def ped_anova_quantile(n: int) -> float | None:
    """The target quantile that puts `MIN_ABOVE` of ``n`` trials above it (Optuna keeps
    ceil(q·n) trials), or None when that would be more than `MAX_QUANTILE` of them."""
    if n < math.ceil(MIN_ABOVE / MAX_QUANTILE):
        return None
    return (MIN_ABOVE - 0.5) / n


def importances(data: StudyData, n_boot: int = N_BOOT, seed: int = 0) -> Importance:
    """Both evaluators with percentile-bootstrap intervals, plus Spearman's rho."""
    trials = _completed(data)
    params = [s.name for s in data.varied
              if all(s.name in t.distributions for t in trials)]
    notes: list[str] = []
    rows = []
    quantile = ped_anova_quantile(len(trials))
    evaluators = {}
    if quantile is not None:
        evaluators["PED-ANOVA"] = (lambda s, q=quantile:
                                   PedAnovaImportanceEvaluator(target_quantile=q))
    elif trials:
        notes.append(f"PED-ANOVA left out: it compares the trials above a quantile of "
                     f"accuracy with all of them and needs at least {MIN_ABOVE} above it while "
                     f"they stay a minority, so at least "
                     f"{math.ceil(MIN_ABOVE / MAX_QUANTILE)} completed trials; this study has "
                     f"{len(trials)}.")
    if importlib.util.find_spec("sklearn") is None:
        notes.append("fANOVA left out: it needs scikit-learn (pip install scikit-learn).")
    elif len(trials) >= 3:
        evaluators["fANOVA"] = (lambda s, boot=False: FanovaImportanceEvaluator(
            n_trees=FANOVA_BOOT_TREES if boot else FANOVA_TREES, max_depth=FANOVA_DEPTH,
            seed=s))
    if len(trials) >= 3 and params:
        rng = np.random.default_rng(seed)
        samples = [rng.integers(0, len(trials), len(trials)) for _ in range(n_boot)]
        tail = (100.0 - LEVEL) / 2
        for method, make in evaluators.items():
            point = _evaluate(make(seed), trials, params)
            boot = [_evaluate(make(seed + 1 + i, True) if method == "fANOVA"
                              else make(seed + 1 + i), [trials[j] for j in pick], params)
                    for i, pick in enumerate(samples)]
            for p in params:
                vals = np.array([b.get(p, 0.0) for b in boot])
                lo, hi = (float(v) for v in np.percentile(vals, [tail, 100.0 - tail]))
                est = point.get(p, 0.0)
                rows.append({"setting": p, "method": method, "importance": est,
                             "low": lo, "high": hi,
                             "inside": bool(lo - 1e-9 <= est <= hi + 1e-9)})
    table = pd.DataFrame(rows, columns=["setting", "method", "importance", "low", "high",
                                        "inside"])
    above = math.ceil(quantile * len(trials)) if quantile is not None else 0
    return Importance(table, spearman_table(data, n_boot, seed), notes, len(trials), n_boot,
                      quantile, above)


def levels(s: Param, values: pd.Series) -> list[tuple[str, int]]:
    """The levels of a setting Spearman's rho is judged on, with the completed trials in
    each: its choices (or integers, for a small int range), else thirds of its sampled
    range."""
    bins = s.bins(MIN_LEVELS)
    idx = s.bin_of(values, bins)
    return [(label, int((idx == b).sum())) for b, label in enumerate(bins.labels)]


def spearman_support(s: Param, values: pd.Series) -> str:
    """Why Spearman's rho of this setting would rest on too little, or ""."""
    if s.categorical and not s.numeric_choices:
        return "its choices have no order"
    counts = levels(s, values)
    held = [(label, n) for label, n in counts if n >= MIN_PER_LEVEL]
    if len(held) >= MIN_LEVELS:
        return ""
    where = ", ".join(f"{label}: {n}" for label, n in counts if n)
    per_value = s.categorical or (s.type == "int" and s.high - s.low + 1 <= MIN_LEVELS)
    unit = "its values" if per_value else "the thirds of its range"
    verb = "holds" if len(held) == 1 else "hold"
    return (f"only {len(held)} of {unit} {verb} at least {MIN_PER_LEVEL} completed trials "
            f"(it needs {MIN_LEVELS}; completed trials per level: {where or 'none'})")


def spearman_table(data: StudyData, n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """Spearman's rank correlation of each setting with validation accuracy (completed
    trials) with a 95% percentile-bootstrap interval, for the settings with enough
    support (`spearman_support`); the others with the reason in ``why``."""
    done = data.completed
    rows = []
    rng = np.random.default_rng(seed)
    tail = (100.0 - LEVEL) / 2
    for s in data.varied:
        x = s.scale(done[s.column])
        y = done["value"].to_numpy(dtype=np.float64)
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
        row = {"setting": s.name, "rho": np.nan, "low": np.nan, "high": np.nan, "p": np.nan,
               "n": len(x), "resamples": 0, "why": spearman_support(s, done[s.column][ok])}
        if not row["why"] and np.unique(y).size < 2:
            row["why"] = "every completed trial has the same accuracy"
        if not row["why"]:
            res = spearmanr(x, y)
            row["rho"], row["p"] = float(res.statistic), float(res.pvalue)
            boots = []
            for _ in range(n_boot):
                pick = rng.integers(0, len(x), len(x))
                if np.unique(x[pick]).size > 1 and np.unique(y[pick]).size > 1:
                    boots.append(spearmanr(x[pick], y[pick]).statistic)
            row["resamples"] = len(boots)
            if len(boots) >= 0.9 * n_boot:
                row["low"], row["high"] = (float(v) for v in
                                           np.percentile(boots, [tail, 100 - tail]))
        rows.append(row)
    return pd.DataFrame(rows, columns=["setting", "rho", "low", "high", "p", "n", "resamples",
                                       "why"])


# ------------------------------------------------------------------ in words

def share_text(r: pd.Series) -> str:
    """``43% (95% CI 11%–46%)``; flagged when the estimate lies outside its interval."""
    text = f"{r['importance']:.0%} ({r['low']:.0%}–{r['high']:.0%})"
    return text if r["inside"] else text + " [estimate outside its interval]"


def agreement(imp: Importance, top: int = 3) -> str:
    """Both methods' rankings side by side, and whether they agree: on the first setting,
    and whether that first setting's interval clears the second's estimate."""
    methods = imp.methods()
    if not methods:
        return ""
    parts = []
    for m in methods:
        order = imp.ranking(m)[:top]
        parts.append(f"{m}: " + ", ".join(f"{s} {share_text(imp.row(s, m))}" for s in order))
    head = (f"Most important settings, share of the total with its 95% percentile-bootstrap "
            f"interval ({imp.n_boot} resamples of the {imp.n} completed trials) — "
            + "; ".join(parts) + ".")
    if len(methods) < 2:
        return head + " Only one method could be computed, so nothing checks its ranking."
    first = {m: imp.ranking(m)[0] for m in methods}
    a, b = methods
    if first[a] == first[b]:
        setting = first[a]
        settled = all(imp.row(setting, m)["low"] > imp.row(imp.ranking(m)[1], m)["importance"]
                      for m in methods) if len(imp.ranking(a)) > 1 else True
        return head + (f" Both methods rank {setting} first"
                       + (" and its interval lies above the runner-up's estimate in both."
                          if settled else ", but its interval overlaps the runner-up's estimate:"
                          " not even its first place is settled by "
                          f"{imp.n} trials."))
    return head + (f" The methods disagree: {a} ranks {first[a]} first, {b} ranks {first[b]} "
                   f"first; with {imp.n} completed trials the ranking is not settled, and "
                   "neither method alone should be quoted as the answer.")


def spearman_text(imp: Importance) -> list[str]:
    """One line per setting: rho with its interval and trial count, or why it is left out."""
    out = []
    for r in imp.spearman.itertuples():
        if r.why:
            out.append(f"{r.setting}: no rank correlation given, {r.why}.")
        elif np.isfinite(r.low):
            zero = "includes" if r.low <= 0 <= r.high else "excludes"
            out.append(f"{r.setting}: Spearman ρ = {r.rho:+.2f} (95% percentile-bootstrap "
                       f"interval {r.low:+.2f} to {r.high:+.2f}, {r.resamples} resamples of "
                       f"{r.n} completed trials; it {zero} zero).")
        else:
            out.append(f"{r.setting}: Spearman ρ = {r.rho:+.2f} over {r.n} completed trials "
                       f"(too few resamples with distinct values for an interval).")
    return out


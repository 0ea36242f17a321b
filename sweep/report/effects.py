"""Which settings matter and which values are best: the report's reading of the
calibrated methods of sweep/statistics (docs/statistics.md says how each holds its rate).

`analyse` picks the sample the statements stand on, then runs the methods once:

- **The sample.** An exploration study beside this one (``<name>-explore``, or this study
  itself when it is one: quasi-random or random points, no pruning) spreads its trials
  over the whole space, so its completed trials are used when there is one, and the
  report says which sample it used. Otherwise this study's completed trials: the survivors
  of the sampler and the pruner.
- **Unconverged trials are left out** of every statement: a trial whose validation curve
  was still rising at its last epoch (`still_rising`), or that trained fewer epochs than
  the rule can read (fewer than 4) and was at its best at its last one, had not shown
  what its settings give; the report says how many.
- **Effects**: the partial dependence of each setting (the others averaged out) from an
  additive surrogate fitted on all settings at once, so an effect that belongs to a
  correlated setting is not given to this one; a setting's effect is stated only when
  its permutation test rejects "no effect" with the family of settings adjusted
  (Westfall-Young step-down, family-wise error 5%), and below the test's minimum number
  of trials nothing is stated at all.
- **Importances**: shares of the main-effect variance over the search space (log scale
  where the space samples one), or below the minimum the settings' ranks against the
  permutation null with adjusted p-values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..statistics.design import Design, SettingSpec, design_matrix
from ..statistics.effects import ALPHA, MIN_FIT, MIN_TRIALS, Effects, effects, still_rising
from ..statistics.importance import Importances, importances
from ..study.param import Param
from ..study.results import load
from ..text import short
from .analysis import OUTLIER_IQRS, StudyData, completed, prepare, robust_range

SHORT_CURVE = 4  # fewer recorded epochs than this: `still_rising` cannot read the curve
DASHBOARD = ("optuna-dashboard ranks settings by Optuna's own fANOVA or PED-ANOVA on every "
             "trial it is shown, on the settings' linear scale and with a random forest, so "
             "its order can differ from these shares, which read the completed, converged "
             "trials on the sampled (log) scale through a model of all settings at once.")


@dataclass
class Analysis:
    """What the report concludes about the settings, and from which trials."""

    source: StudyData  # the study whose trials the statements use
    own: bool  # whether that is the reported study itself
    exploration: bool  # whether its trials spread over the space (qmc/random, no pruning)
    design: Design
    effects: Effects
    importances: Importances
    unconverged: list[int] = field(default_factory=list)  # completed trials left out
    short: int = 0  # of those, trials too short for the rule to read
    unjudged: int = 0  # completed trials without a history here: kept, not judged
    broke_down: list[int] = field(default_factory=list)  # far below the others: left out

    @property
    def n(self) -> int:
        return self.design.n

    @property
    def tested(self) -> bool:
        """Whether the study is large enough for any statement (the test's minimum)."""
        return self.n >= MIN_TRIALS

    def ranking(self) -> list[str]:
        return self.importances.ranking()


    def effect(self, name: str):  # -> statistics.effects.Effect | None
        return next((e for e in self.effects.effects if e.setting == name), None)

    @property
    def sample(self) -> str:
        """The trials the statements use, in words."""
        what = (f"the {self.n} completed, converged trials of "
                + (f"the exploration study '{self.source.name}'" if not self.own
                   else "this study"))
        if self.exploration:
            what += " (quasi-random or random points over the whole space, none pruned)"
        else:
            what += (f" (the survivors of its {self.source.settings.sampler} sampler and "
                     f"{self.source.settings.pruner} pruner, not a sample of the space)")
        return what

    @property
    def whose(self) -> str:
        """`` of the exploration study 'x'`` when the trials are not this study's."""
        return "" if self.own else f" of the exploration study '{self.source.name}'"

    def notes(self) -> list[str]:
        """What a reader needs to know of the sample before any statement; counts and
        trial numbers name the exploration study when they are its."""
        out = []
        if self.unconverged:
            short = (f", {self.short} of them because they trained fewer than {SHORT_CURVE} "
                     "epochs and were at their best at the last one" if self.short else "")
            were = "s were" if len(self.unconverged) != 1 else " was"
            out.append(f"{len(self.unconverged)} completed trial{were}{self.whose} still "
                       "improving "
                       f"at the last epoch{short} (trial"
                       f"{'s' if len(self.unconverged) != 1 else ''} "
                       f"{_numbers(self.unconverged)}): left out of the effects and "
                       "importances, which would read where training stopped, not what the "
                       "settings give.")
        if self.unjudged:
            have = "s have" if self.unjudged != 1 else " has"
            out.append(f"{self.unjudged} completed trial{have}{self.whose} no readable "
                       "history on this machine (a folder elsewhere, or a history.csv "
                       "missing or damaged), so whether "
                       f"{'they were' if self.unjudged != 1 else 'it was'} still improving "
                       "could not be judged; kept in the effects and importances.")
        if self.broke_down:
            out.append(f"{len(self.broke_down)} completed trial"
                       f"{'s' if len(self.broke_down) != 1 else ''}{self.whose} far below the "
                       "others "
                       f"(trial{'s' if len(self.broke_down) != 1 else ''} "
                       f"{_numbers(self.broke_down)}: more than {OUTLIER_IQRS:g} interquartile "
                       "ranges below the median, training that broke down) left out of the "
                       "effects and importances: one such value would dominate a model of "
                       "accuracy and hide every other effect. Where they lie is in the "
                       "effects figure's floor"
                       + (" and the failures section." if self.own else "."))
        if not self.tested:
            out.append(f"{self.n} completed, converged trials{self.whose}: below the "
                       f"{MIN_TRIALS} the "
                       "permutation test needs to find even a large effect with useful power, "
                       "so no effect and no importance share is stated"
                       + ("; the settings are ranked against the permutation null instead."
                          if self.n >= MIN_FIT else
                          f", and below {MIN_FIT} not even a ranking of the settings."))
        return out


def specs(params: list[Param]) -> list[SettingSpec]:
    """The settings as the statistics read them: their sampled scale and range."""
    return [SettingSpec(p.name, log=p.log, choices=tuple(p.choices) if p.categorical else None,
                        low=None if p.categorical else float(p.low),
                        high=None if p.categorical else float(p.high), column=p.column)
            for p in params]


def unconverged(data: StudyData) -> tuple[list[int], int, int]:
    """The completed trials still improving at their last epoch, how many of them were
    judged by their shortness alone (see the module's docstring), and how many could not
    be judged: no history here (their folders are on another machine)."""
    out, short, unjudged = [], 0, 0
    histories = data.histories
    for row in completed(data.trials).itertuples():
        h = histories.get(int(row.number))
        if h is None or h.empty:
            unjudged += 1
            continue
        curve = h["val_acc"].to_numpy(dtype=np.float64)
        curve = curve[np.isfinite(curve)]
        if len(curve) == 0:
            continue
        if len(curve) < SHORT_CURVE:
            if len(curve) > 1 and curve[-1] >= curve.max() and curve[-1] > curve[0]:
                out.append(int(row.number))
                short += 1
        elif still_rising(curve):
            out.append(int(row.number))
    return out, short, unjudged


def exploration_of(data: StudyData) -> StudyData | None:
    """The exploration study beside this one (``<name>-explore``), if it exists, reads,
    was made by ``--explore`` or as a random search without pruning, and is of the same
    problem: the same base configuration (data, epochs, fixed values) and space."""
    if _spreads(data):
        return data
    try:
        other = prepare(load(f"{data.name}-explore", data.results.paths.root.parent))
    except Exception:  # noqa: BLE001  (none, or unreadable: this study's trials are used)
        return None
    same = other.settings.config == data.settings.config \
        and other.settings.space == data.settings.space
    return other if same and _spreads(other) else None


def _spreads(data: StudyData) -> bool:
    s = data.settings
    return s.sampler in ("qmc", "random") and s.pruner == "none"


def analyse(data: StudyData, seed: int = 0) -> Analysis:
    """The settings' effects and importances, from the best sample at hand."""
    explore = exploration_of(data)
    source = explore or data
    late, short, unjudged = unconverged(source)
    done = completed(source.trials)
    done = done[~done["number"].isin(late)]
    # a rule on the accuracies alone, blind to the settings: under "no setting matters"
    # the trials kept are still exchangeable, so the permutation test keeps its rate
    span = robust_range(done["value"])
    low = done[done["value"] < span[0]] if span is not None else done.iloc[:0]
    done = done.drop(low.index)
    design = design_matrix(done, specs(source.params))
    found = effects(design, alpha=ALPHA, seed=seed)
    shares = importances(design, seed=seed, stated=found.stated)
    return Analysis(source, source is data, explore is not None, design, found, shares,
                    late, short, unjudged, [int(n) for n in low["number"]])


def stated_sentences(a: Analysis) -> list[str]:
    """One sentence per setting with a stated effect (and none below the minimum)."""
    if not a.tested:
        return []
    out = []
    for e in a.effects.effects:
        if e.verdict != "effect":
            continue
        size, low, high = e.points
        where = _region(e, a.source.param(e.setting))
        out.append(f"{e.setting}: {size:.2f} accuracy points between its best and worst "
                   f"values, the others averaged out (95% interval {low:.2f} to {high:.2f}); "
                   f"{e.direction}{where}; adjusted p = {_p(e.p_adjusted)} "
                   f"({a.effects.n_perm} shuffles of the {a.n} trials, family-wise 5% over "
                   f"the {_tested(a)} settings).")
    return out


def effect_cells(a: Analysis, name: str) -> list[str]:
    """A setting's effect for the summary table: verdict with its numbers, best region."""
    e = a.effect(name)
    if e is not None and e.verdict == "not varied":
        return [f"not varied: one value among the {a.n} trials", "–"]
    if e is None or e.verdict == "not tested":
        return [f"not tested ({a.n} trials, {MIN_TRIALS} needed)", "–"]
    size, low, high = e.points
    verdict = (f"effect: {size:.2f} points ({low:.2f}–{high:.2f}), adjusted p "
               f"{_p(e.p_adjusted)}" if e.verdict == "effect"
               else f"none shown: adjusted p {_p(e.p_adjusted)}, but it rests on "
               f"{_trials_of(a, e.rests_on_rows)}: not shown without "
               f"{'them' if e.rests_on > 1 else 'it'}"
               if e.rests_on else f"none shown: adjusted p {_p(e.p_adjusted)}")
    best = f"{e.direction}{_region(e, a.source.param(name))}" if e.verdict == "effect" else "–"
    return [verdict, best]


def _trials_of(a: Analysis, rows: tuple) -> str:
    """The trials behind `Design.rows` labels, as "trial 5" or "trials 4, 9"."""
    trials = a.source.trials
    numbers = [int(trials.at[r, "number"]) for r in rows if r in trials.index]
    if not numbers:
        return f"{len(rows)} trial{'s' if len(rows) > 1 else ''}"
    return ("trial " if len(numbers) == 1 else "trials ") + ", ".join(map(str, numbers))


def _region(e, param: Param | None) -> str:
    lo, hi = e.region_raw
    if lo is None:
        return ""
    text = param.text if param is not None else short
    if e.kind == "nominal" or lo == hi:
        return f" (best: {text(e.best_raw)})"
    return f" (not distinguishable from the best: {text(lo)}–{text(hi)})"


def _tested(a: Analysis) -> int:
    return sum(e.verdict in ("effect", "no effect shown") for e in a.effects.effects)


def _p(p: float) -> str:
    return "–" if not math.isfinite(p) else (f"{p:.3f}" if p >= 0.001 else "< 0.001")


def _numbers(numbers: list[int], limit: int = 8) -> str:
    shown = ", ".join(map(str, numbers[:limit]))
    return shown + (f" and {len(numbers) - limit} more" if len(numbers) > limit else "")


def importance_table(a: Analysis) -> pd.DataFrame:
    """Per setting, in the ranking's order: share with its interval, or rank with p."""
    t = a.importances.table.copy()
    order = {name: i for i, name in enumerate(a.ranking())}
    return t.sort_values("setting", key=lambda s: s.map(order)).reset_index(drop=True)

"""Racing over seeds: successive elimination of configurations (as in F-Race and irace),
with an error rate that survives the repeated looks.

Every configuration gets the first ``looks[0]`` seeds (5 by default); at each look the
best set's closed test (selection.stepdown_worse) runs on the survivors' seeds so far at
that look's share of alpha, and the configurations it calls worse stop; the survivors
get the seeds up to the next look, and the race ends at the last look (at least 10 seeds
by default) or when one configuration is left.

The guarantee. Look l tests at alpha_l, with alpha_l = A(n_l / n_L) - A(n_{l-1} / n_L),
A(t) = alpha t^rho (rho = 2: little spent on the first, least powerful looks; the
alpha_l sum to alpha). At every look the Bonferroni counts use the original family size F,
not the number of survivors, because the survivors were chosen on the same seeds.
Then P(some best configuration is eliminated at any look) <= sum_l alpha_l = alpha, by
Bonferroni over the looks (whatever their dependence: they share seeds) and, within a
look, by the closed test's argument with a fixed family (selection.py). So the survivors
are a best set with the same guarantee as a fixed design's, and "worse" verdicts keep
their family-wise error <= alpha.

The equivalence verdicts at the end use the survivors' final seeds with every
configuration as a comparator (eliminated ones on the seeds they had), at alpha with the
original F: each is right unless the MCB event fails (<= alpha) or the race eliminated a
best (<= alpha), so <= 2 alpha by the union bound; measured in
benchmarks/bench_selection.py. Eliminated configurations are never called equivalent.

Driving a race (pure functions: the state is the data). The command keeps the accuracy
matrix (configurations x seed indices, NaN for a run not trained or failed) and a
``done`` mask (a run that finished, even diverged or failed: it will not be retried):

    plan = race_plan(len(configs))              # looks (5, 10), alpha 0.05
    while True:
        status = race_status(acc, plan, done=done)
        if status.over:
            break
        train(status.to_train)                  # (configuration, seed index) pairs
        acc, done = ...                         # read back
    status.final                                # a selection.Selection: set, verdicts

`race_status` replays every look from the data, so a killed command resumes by calling it
again, and a matrix with more runs than the race asked for gives the same verdicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .selection import (
    ALPHA,
    DEFAULT_MARGIN,
    MIN_SEEDS,
    Selection,
    build_selection,
    mcb_bounds,
    stepdown_worse,
)

MIN_FINAL_SEEDS = 10  # contenders end with >= 10 seeds: 0.1 points excluded 96-100% (docs)
DEFAULT_LOOKS = (5, 10)
DEFAULT_SPENDING = 2.0  # rho in A(t) = alpha t^rho


@dataclass(frozen=True)
class RacePlan:
    n_configs: int
    looks: tuple[int, ...]  # seeds every survivor has at each look
    alpha: float
    look_alphas: tuple[float, ...]  # alpha spent at each look; they sum to alpha
    spending: float
    margin: float

    @property
    def fixed_design_trainings(self) -> int:
        """Trainings without racing: every configuration to the last look."""
        return self.n_configs * self.looks[-1]


def race_plan(n_configs: int, looks: Sequence[int] = DEFAULT_LOOKS, *, alpha: float = ALPHA,
              spending: float = DEFAULT_SPENDING, margin: float = DEFAULT_MARGIN,
              min_seeds: int = MIN_SEEDS, min_final: int = MIN_FINAL_SEEDS) -> RacePlan:
    """A race's looks and its alpha spending A(t) = alpha t^spending (module docstring)."""
    looks = tuple(int(n) for n in looks)
    if n_configs < 2:
        raise ValueError(f"n_configs {n_configs}: a race needs at least two configurations")
    if not looks or any(b <= a for a, b in zip(looks, looks[1:], strict=False)):
        raise ValueError(f"looks {looks}: a rising sequence of seed counts")
    if looks[0] < min_seeds:
        raise ValueError(f"looks {looks}: the first look needs at least {min_seeds} seeds "
                         f"(selection.MIN_SEEDS says why)")
    if looks[-1] < min_final:
        raise ValueError(f"looks {looks}: the contenders need at least {min_final} seeds by "
                         f"the last look")
    if not 0 < alpha < 1 or spending <= 0:
        raise ValueError(f"alpha {alpha} in (0, 1) and spending {spending} > 0")
    spent = [alpha * (n / looks[-1]) ** spending for n in looks]
    look_alphas = tuple(b - a for a, b in zip([0.0, *spent[:-1]], spent, strict=True))
    return RacePlan(n_configs, looks, alpha, look_alphas, spending, margin)


@dataclass(frozen=True)
class RaceRound:
    """One look of the race, as it happened."""

    look: int  # 1-based
    seeds: int
    alpha: float
    raced: tuple[int, ...]  # configuration indices tested at this look
    eliminated: tuple[int, ...]
    worse_p: tuple[float, ...]  # adjusted p of "not a best", one per raced configuration
    trainings: int  # runs this round asked for: raced x (seeds - the previous look's)


@dataclass(frozen=True)
class RaceStatus:
    plan: RacePlan
    rounds: tuple[RaceRound, ...]
    alive: tuple[int, ...]
    over: bool
    reason: str
    next_seeds: int | None  # the seeds each survivor needs for the next look
    to_train: tuple[tuple[int, int], ...]  # (configuration index, seed index) to train now
    trainings_done: int  # runs of the looks held so far, and those of the next already done
    trainings_most: int  # runs still to come at most (if nobody else were eliminated)
    final: Selection | None  # when over: the best set (the survivors) and the verdicts

    @property
    def trainings_next(self) -> int:
        return len(self.to_train)

    def cost_table(self) -> list[dict[str, Any]]:
        """Trainings per round, with the running total and the fixed design's."""
        rows, total = [], 0
        for r in self.rounds:
            total += r.trainings
            rows.append({"look": r.look, "seeds": r.seeds, "alpha": r.alpha,
                         "configurations": len(r.raced), "eliminated": len(r.eliminated),
                         "trainings": r.trainings, "total": total,
                         "fixed_design_total": self.plan.n_configs * r.seeds})
        return rows


def race_status(accuracies: Any, plan: RacePlan, *, done: Any = None,
                labels: Sequence[Any] | None = None, level: float = 0.95) -> RaceStatus:
    """Where the race stands given the runs so far: replays every look whose runs are all
    done, and says which configurations continue, which runs to train next, whether the
    race is over, and at the end the final `Selection` (survivors = best set).

    ``accuracies``: (configurations x seed indices), NaN where not trained or failed; it
    may have fewer columns than the next look needs. ``done``: same shape, True for a run
    that finished (default: the finite entries); a failed run (done, NaN) counts as
    missing in its pairs and is not retried."""
    x = np.asarray(accuracies, dtype=np.float64)
    k = plan.n_configs
    if x.ndim != 2 or x.shape[0] != k:
        raise ValueError(f"accuracies: expected {k} rows (configurations), got shape {x.shape}")
    ran = np.isfinite(x) if done is None else np.asarray(done, dtype=bool) | np.isfinite(x)
    width = max(plan.looks[-1], x.shape[1])
    x = _pad(x, width, np.nan)
    ran = _pad(ran, width, False)
    labels = list(range(k)) if labels is None else list(labels)
    if len(labels) != k:
        raise ValueError(f"labels: {len(labels)} for {k} configurations")
    alive = np.ones(k, dtype=bool)
    eliminated_at = np.zeros(k, dtype=int)  # seeds an eliminated configuration stopped at
    worse_p = np.ones(k)
    rounds: list[RaceRound] = []
    previous = 0
    for look, (n, a) in enumerate(zip(plan.looks, plan.look_alphas, strict=True), start=1):
        missing = tuple((int(i), s) for i in np.flatnonzero(alive) for s in range(n)
                        if not ran[i, s])
        if missing:
            # the pending look's runs already trained (a resumed race) count as done
            ahead = int(ran[alive, previous:plan.looks[-1]].sum())
            pending = int(ran[alive, previous:n].sum())
            return RaceStatus(plan, tuple(rounds), _idx(alive), False,
                              f"look {look}: {len(missing)} runs to train up to {n} seeds",
                              n, missing, sum(r.trainings for r in rounds) + pending,
                              _most(plan, alive, previous) - ahead, None)
        adjusted, rejected = stepdown_worse(x[:, :n], a, alive=alive, family_size=k)
        raced = _idx(alive)
        out = _idx(rejected)
        rounds.append(RaceRound(look, n, a, raced, out,
                                tuple(float(adjusted[i]) for i in raced),
                                len(raced) * (n - previous)))
        worse_p[list(raced)] = adjusted[list(raced)]
        eliminated_at[rejected] = n
        alive &= ~rejected
        previous = n
        if alive.sum() == 1:
            reason = f"one configuration left after look {look} ({n} seeds)"
            break
    else:
        reason = f"the last look ({plan.looks[-1]} seeds) is done"
    final_x = x[:, :previous].copy()
    for i in np.flatnonzero(~alive):
        final_x[i, eliminated_at[i]:] = np.nan  # the race's data, not runs beyond it
    final = build_selection(final_x, labels, alive, worse_p, alpha=plan.alpha,
                            margin=plan.margin, family_size=k, level=level, bounded=alive)
    return RaceStatus(plan, tuple(rounds), _idx(alive), True, reason, None, (),
                      sum(r.trainings for r in rounds), 0, final)


def _idx(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.flatnonzero(mask))


def _pad(a: np.ndarray, width: int, fill: Any) -> np.ndarray:
    if a.shape[1] >= width:
        return a
    out = np.full((a.shape[0], width), fill, dtype=a.dtype)
    out[:, :a.shape[1]] = a
    return out


def _most(plan: RacePlan, alive: np.ndarray, seeds_done: int) -> int:
    """Runs still to come if nobody else is eliminated (the pending look's included)."""
    return int(alive.sum()) * (plan.looks[-1] - seeds_done)


# -- many races at once, for simulations ---------------------------------------------------------

@dataclass(frozen=True)
class BatchRace:
    alive: np.ndarray  # (R, K) survivors at the end: the best sets
    eliminated_look: np.ndarray  # (R, K) 1-based look of elimination, 0 for survivors
    trainings: np.ndarray  # (R,) runs each race asked for
    equivalent: np.ndarray  # (R, K) the final equivalence verdicts (survivors only)


def race_batch(acc: np.ndarray, plan: RacePlan) -> BatchRace:
    """`race_status`'s looks and final verdicts for R complete matrices at once, acc (R, K,
    >= last look): the same closed test at the same alphas and the same final MCB bounds
    on the race's data, for simulations of error rates and cost."""
    x = np.asarray(acc, dtype=np.float64)
    r, k = x.shape[:2]
    if k != plan.n_configs or x.shape[2] < plan.looks[-1]:
        raise ValueError(f"acc: expected (R, {plan.n_configs}, >= {plan.looks[-1]}), got "
                         f"{x.shape}")
    alive = np.ones((r, k), dtype=bool)
    out_look = np.zeros((r, k), dtype=int)
    stopped_at = np.zeros((r, k), dtype=int)  # the seeds each configuration's race data has
    trainings = np.zeros(r, dtype=int)
    previous = 0
    for look, (n, a) in enumerate(zip(plan.looks, plan.look_alphas, strict=True), start=1):
        racing = alive.sum(axis=1) > 1  # a race with one survivor is over
        trainings += np.where(racing, alive.sum(axis=1) * (n - previous), 0)
        stopped_at[racing[:, None] & alive] = n
        _, rejected = stepdown_worse(x[:, :, :n], a, alive=alive, family_size=k)
        rejected &= racing[:, None]
        out_look[rejected] = look
        alive &= ~rejected
        previous = n
    final = np.where(np.arange(x.shape[2]) < stopped_at[:, :, None], x, np.nan)
    final = final[:, :, :plan.looks[-1]]
    _, low, _ = mcb_bounds(final, plan.alpha, family_size=k, alive=alive)
    return BatchRace(alive, out_look, trainings, alive & (low > -plan.margin))

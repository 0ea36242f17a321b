"""What ``sweep confirm`` leaves in a study's folder, which configurations it re-trains,
and reading its runs back.

    studies/<name>/confirm/NNNN/seed-S/     trial NNNN's configuration trained with confirm
                                            seed S (an experiment directory)
    studies/<name>/confirm/NNNN/resplit-S/  the same with ``--resplit``: seed S also draws
                                            the validation split (data.split_seed)
    studies/<name>/confirm/confirm.json     the summary: the race, the best set, the
                                            verdicts, the recommendation (`SUMMARY_KEYS`)

The seed folders are the state of the race: the command reads them back as a
(configurations x seeds) matrix (`read_runs`) and asks the race what to train next, so a
killed command resumes by running again. The report and ``sweep compare`` read the
summary; the command writes it.

The candidates (`choose_candidates`). A sweep ranks its trials by one seed each, and the
leader's lead is often within the noise between seeds, so every configuration whose
single-seed value lies within ``within`` standard deviations of a paired single-seed
difference of the leader's value (``within`` x `SEED_SD` x sqrt 2) is re-trained: the
completed trials by their value, and the trials the pruner stopped at its last rung by
their best value up to that rung against the best completed trial's at the same rung (the
same point of training). The classic configuration is always one. More than
``max_candidates`` (the classic included) are cut to the closest to the leader, and the
ones left out are named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlp.experiment import read_history, read_json

from ..errors import StudyError
from .records import TrialOutcome
from .results import StudyResults
from .samplers import rungs

CONFIRM_DIR = "confirm"
SUMMARY = "confirm.json"
SUMMARY_VERSION = 2
# The seed-to-seed sd of one configuration's best-epoch validation accuracy on MNIST: the
# largest that `sweep confirm` measured (0.03-0.08 points over the example study's
# configurations, docs/confirm-statistics.md). A paired single-seed difference then has
# sd up to 0.08 x sqrt 2 = 0.11 points.
SEED_SD = 0.0008
DEFAULT_WITHIN = 2.0  # -> 0.23 points below the leader's single-seed value
DEFAULT_MAX_CANDIDATES = 6  # the classic included: the family of today's top 5 + classic


def unit_dir(root: Path, trial: int, seed_index: int, resplit: bool = False) -> Path:
    """Where trial ``trial``'s configuration trained with confirm seed ``seed_index`` is."""
    kind = "resplit" if resplit else "seed"
    return root / CONFIRM_DIR / f"{trial:04d}" / f"{kind}-{seed_index}"


def is_done(folder: Path) -> bool:
    """A run that finished (completed or diverged): it is never trained again."""
    try:
        return read_json(folder / "metrics.json").get("status") in (
            "completed", "diverged")
    except (OSError, ValueError, AttributeError):
        return False


@dataclass(frozen=True)
class Candidate:
    """A configuration to re-train, and why."""

    outcome: TrialOutcome
    classic: bool = False
    reason: str = ""  # in words: "completed, 0.04 points below the leader", ...
    gap: float | None = None  # the leader's value minus its own (at the rung it is judged)
    rung: int | None = None  # the epoch it was judged at, for one stopped at the last rung

    @property
    def number(self) -> int:
        return self.outcome.number


@dataclass(frozen=True)
class CandidateChoice:
    """`choose_candidates`' answer: the candidates, the window, and who was left out."""

    chosen: list[Candidate]
    leader: int
    leader_value: float
    window: float  # in accuracy (a fraction): within, times SEED_SD, times sqrt 2
    within: float
    last_rung: int | None
    left_out: list[Candidate] = field(default_factory=list)  # within the window, over the cap

    def to_dict(self) -> dict[str, Any]:
        def one(c: Candidate) -> dict[str, Any]:
            return {"trial": c.number, "classic": c.classic, "reason": c.reason,
                    "gap": c.gap, "rung": c.rung, "value": c.outcome.value}
        return {"leader": self.leader, "leader_value": self.leader_value,
                "window": self.window, "within": self.within, "seed_sd": SEED_SD,
                "last_rung": self.last_rung, "chosen": [one(c) for c in self.chosen],
                "left_out": [one(c) for c in self.left_out]}


def best_up_to(outcome: TrialOutcome, epoch: int) -> float | None:
    """A trial's best validation accuracy over its epochs up to ``epoch``."""
    values = [v for e, v in outcome.intermediate_values.items()
              if e <= epoch and v is not None and math.isfinite(v)]
    return max(values) if values else None


def choose_candidates(results: StudyResults, within: float = DEFAULT_WITHIN,
                      max_candidates: int = DEFAULT_MAX_CANDIDATES) -> CandidateChoice:
    """The configurations ``sweep confirm`` re-trains (module docstring): those within
    ``within`` x SEED_SD x sqrt 2 of the leader, completed or stopped at the last rung,
    plus the classic, at most ``max_candidates`` in all."""
    outcomes = results.outcomes
    done = [o for o in outcomes if o.state == "COMPLETE" and o.value is not None]
    if not done:
        c = results.counts
        raise StudyError(f"study {results.name!r} has no completed trial to confirm "
                         f"({c.pruned} pruned, {c.failed} failed, {c.running} running)")
    window = within * SEED_SD * math.sqrt(2)
    leader = min(done, key=lambda o: (-o.value, o.number))
    settings = results.settings
    epochs = settings.config.training.epochs
    stops = rungs(settings.pruner, epochs)
    last_rung = max(stops) if stops else None
    near: list[Candidate] = []
    for o in sorted(done, key=lambda o: (-o.value, o.number)):
        gap = leader.value - o.value
        if gap <= window:
            near.append(Candidate(o, o.classic, (
                "the leader" if o is leader else
                f"completed, {gap * 100:.2f} points below the leader"), gap))
    if last_rung is not None:
        at_rung = [v for v in (best_up_to(o, last_rung) for o in done) if v is not None]
        top = max(at_rung) if at_rung else None
        for o in outcomes:
            if (o.state != "PRUNED" or o.diverged or top is None
                    or (o.epochs_trained or 0) < last_rung):
                continue
            v = best_up_to(o, last_rung)
            if v is not None and top - v <= window:
                near.append(Candidate(o, o.classic, (
                    f"stopped at the last rung (epoch {last_rung}), {(top - v) * 100:.2f} "
                    f"points below the best completed trial there"), top - v, last_rung))
    near.sort(key=lambda c: (c.gap, c.number))
    # the latest classic trial: a retry stands in for a classic trial lost to a fault
    classic = next((o for o in reversed(outcomes) if o.classic), None)
    others = [c for c in near if classic is None or c.number != classic.number]
    room = max_candidates - (classic is not None)
    chosen, left_out = others[:room], others[room:]
    if classic is not None:
        chosen.append(next((c for c in near if c.number == classic.number), None) or
                      Candidate(classic, True, "the classic configuration (always re-trained)"))
    if len(chosen) < 2:  # a race needs two: the next best completed trial, whatever its gap
        taken = {c.number for c in chosen}
        extra = next((o for o in sorted(done, key=lambda o: (-o.value, o.number))
                      if o.number not in taken), None)
        if extra is None:
            raise StudyError(f"study {results.name!r} has one completed configuration: "
                             "nothing to compare it with")
        chosen.insert(0, Candidate(extra, extra.classic, (
            f"completed, {(leader.value - extra.value) * 100:.2f} points below the leader "
            "(outside the window: the next best, as two are needed)"),
            leader.value - extra.value))
    return CandidateChoice(chosen, leader.number, float(leader.value), window, within,
                           last_rung, left_out)


# ------------------------------------------------------------------ reading the runs back

@dataclass(frozen=True)
class Runs:
    """The runs of the candidates, as (configurations x seed indices) matrices, NaN where
    a run is missing: what the race and the best set read."""

    trials: list[int]
    best_val: np.ndarray  # best-epoch validation accuracy
    final_val: np.ndarray  # last-epoch validation accuracy
    test: np.ndarray  # test accuracy at the best epoch (never chooses)
    seconds: np.ndarray  # training seconds
    done: np.ndarray  # finished (completed or diverged): never trained again
    diverged: np.ndarray  # bool
    parameter_count: list[int | None]
    train_images: list[int | None]

    def row(self, trial: int) -> int:
        return self.trials.index(trial)


def read_runs(root: Path, trials: list[int], seeds: int, resplit: bool = False,
              first: int = 0) -> Runs:
    """Seed indices ``first`` .. ``first + seeds - 1`` of each trial's configuration."""
    shape = (len(trials), seeds)
    best, final, test, secs = (np.full(shape, np.nan) for _ in range(4))
    done, diverged = np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)
    params: list[int | None] = [None] * len(trials)
    images: list[int | None] = [None] * len(trials)
    for i, t in enumerate(trials):
        for j in range(seeds):
            folder = unit_dir(root, t, first + j, resplit)
            try:
                metrics = read_json(folder / "metrics.json")
            except (OSError, ValueError):
                continue
            if not isinstance(metrics, dict):
                continue
            status = metrics.get("status")
            if status == "diverged":
                done[i, j] = diverged[i, j] = True
                continue
            if status != "completed":
                continue
            try:
                history = read_history(folder / "history.csv")
                config = read_json(folder / "config.json")
                best[i, j] = float(metrics["val_accuracy"])
                final[i, j] = float(history[-1]["val_acc"])
                test[i, j] = float(metrics["test_accuracy"])
                secs[i, j] = float(metrics["train_seconds"])
            except (OSError, ValueError, KeyError, IndexError, TypeError):
                best[i, j] = final[i, j] = test[i, j] = secs[i, j] = np.nan
                continue
            done[i, j] = True
            if metrics.get("parameter_count"):
                params[i] = int(metrics["parameter_count"])
            recorded = config.get("environment") if isinstance(config, dict) else None
            n = recorded.get("train_images") if isinstance(recorded, dict) else None
            if isinstance(n, int):
                images[i] = n
    return Runs(list(trials), best, final, test, secs, done, diverged, params, images)


# ------------------------------------------------------------------ the summary

SUMMARY_KEYS = ("version", "seeds", "configurations", "best_set", "best_mean", "recommended",
                "race", "margin", "rule", "holdout", "test_accuracy")


def read_summary(root: str | Path) -> dict[str, Any] | None:
    """The confirm summary of the study in folder ``root`` (``confirm/confirm.json``, as
    the command writes it); None when ``sweep confirm`` has not written one. A file that
    cannot be read, is not such a summary, or was written by the earlier confirm (before
    the race: version 1) is a StudyError naming it and what to do."""
    path = Path(root) / CONFIRM_DIR / SUMMARY
    if not path.exists() and not path.is_symlink():
        return None
    try:
        summary = read_json(path)
    except (OSError, ValueError) as exc:
        raise StudyError(f"{path}: unreadable ({exc})") from exc
    if isinstance(summary, dict) and "version" not in summary and "tied_with_best" in summary:
        raise StudyError(f"{path}: written by an earlier sweep confirm (top K over S seeds); "
                         "run `sweep confirm` again for the race and the best set")
    if not isinstance(summary, dict) or any(k not in summary for k in SUMMARY_KEYS):
        raise StudyError(f"{path}: not a confirm summary (a field is missing)")
    return summary


@dataclass(frozen=True)
class Confirmation:
    """What ``python -m sweep confirm`` found: its confirm.json (`sweep.commands.confirm.
    summarize`), the near-best configurations and the classic one raced over paired seeds.
    Intervals are dicts of mean, sd, low, high and n (the seeds behind them; None where one
    seed gives no interval); accuracies are fractions."""

    summary: dict[str, Any]

    @property
    def seeds(self) -> int:
        """Seeds the contenders end the race with (an eliminated one has fewer: its row's
        ``n``)."""
        return int(self.summary["seeds"])

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One per configuration raced, best mean first."""
        return list(self.summary["configurations"])

    def row(self, trial: int) -> dict[str, Any] | None:
        return next((r for r in self.rows if int(r["trial"]) == int(trial)), None)

    @property
    def best_mean(self) -> int:
        return int(self.summary["best_mean"])

    @property
    def tied(self) -> list[int]:
        """The best set: the configurations not shown worse, which hold every best one with
        probability at least 95% (best mean first)."""
        members = {int(t) for t in self.summary["best_set"]}
        return [int(r["trial"]) for r in self.rows if int(r["trial"]) in members]

    best_set = tied

    @property
    def equivalent(self) -> list[int]:
        """Shown equivalent to the best within the margin."""
        return [int(t) for t in self.summary.get("equivalent", [])]

    @property
    def margin(self) -> float:
        return float(self.summary["margin"])

    @property
    def recommended(self) -> int:
        return int(self.summary["recommended"])

    @property
    def rule(self) -> dict[str, Any]:
        return dict(self.summary["rule"])

    @property
    def holdout(self) -> dict[str, Any]:
        """The recommended configuration against the classic one on fresh seeds (or why
        not: ``skipped``, ``refused``)."""
        return dict(self.summary.get("holdout") or {})

    @property
    def family(self) -> list[int]:
        """Every configuration raced (the classic one included)."""
        return [int(r["trial"]) for r in self.rows]

    @property
    def classic(self) -> dict[str, Any] | None:
        return next((r for r in self.rows if r.get("classic")), None)


def read_confirmation(root: str | Path) -> Confirmation | None:
    """`read_summary` as a `Confirmation`: None when ``sweep confirm`` has not run."""
    summary = read_summary(root)
    return Confirmation(summary) if summary is not None else None

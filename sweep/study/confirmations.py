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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mlp.experiment import read_history, read_json

from ..errors import StudyError
from .paths import CONFIRM_DIR
from .records import TrialOutcome
from .results import StudyResults
from .samplers import rungs

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


def resplit_note(split: dict[str, int] | None) -> str:
    """What ``--resplit`` did, in the numbers of the study's data when known."""
    drew = (f"its own {split['val']:,} validation images from the {split['pool']:,} "
            "training+validation images" if split else
            "its own validation images from the training+validation images")
    return (f"--resplit: each seed drew {drew} (data.split_seed in each run's config.json; "
            "the test set untouched), so the validation set's own sampling error is in the "
            "seed-to-seed spread instead of shared by every configuration.")


def is_done(folder: Path) -> bool:
    """A run that finished (completed or diverged) and can be read back: it is never
    trained again. One that says it completed but cannot be read is trained again."""
    return read_run(folder) is not None


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
    considered: list[int] = field(default_factory=list)  # the completed trials looked at

    def to_dict(self) -> dict[str, Any]:
        def one(c: Candidate) -> dict[str, Any]:
            return {"trial": c.number, "classic": c.classic, "reason": c.reason,
                    "gap": c.gap, "rung": c.rung, "value": c.outcome.value}
        return {"leader": self.leader, "leader_value": self.leader_value,
                "window": self.window, "within": self.within, "seed_sd": SEED_SD,
                "last_rung": self.last_rung, "chosen": [one(c) for c in self.chosen],
                "left_out": [one(c) for c in self.left_out], "considered": self.considered}


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
                           last_rung, left_out, sorted(o.number for o in done))


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
    split: dict[str, int] | None = None  # a run's validation images and their pool


    def row(self, trial: int) -> int:
        return self.trials.index(trial)


@dataclass(frozen=True)
class RunResult:
    """One finished re-run as its folder has it (accuracies as fractions)."""

    diverged: bool
    best_val: float = math.nan
    final_val: float = math.nan
    test: float = math.nan
    seconds: float = math.nan
    parameter_count: int | None = None
    train_images: int | None = None
    val_images: int | None = None  # the validation set it was measured on


def _fraction(v: Any) -> float:
    """An accuracy read from a file: a finite number within [0, 1], else ValueError."""
    if isinstance(v, bool):
        raise ValueError(v)
    f = float(v)
    if not 0.0 <= f <= 1.0:
        raise ValueError(f"{v!r} is not an accuracy")
    return f


def read_run(folder: Path) -> RunResult | None:
    """A finished run's numbers; None while it has not finished, or when its files cannot
    be read or hold impossible values (an accuracy above 1, a negative time): such a run
    is trained again rather than believed."""
    try:
        metrics = read_json(folder / "metrics.json")
    except (OSError, ValueError):
        return None
    if not isinstance(metrics, dict):
        return None
    status = metrics.get("status")
    if status == "diverged":
        return RunResult(diverged=True)
    if status != "completed":
        return None
    try:
        history = read_history(folder / "history.csv", metrics.get("epochs_trained"))
        config = read_json(folder / "config.json")
        seconds = float(metrics["train_seconds"])
        if not (math.isfinite(seconds) and seconds >= 0):
            return None
        result = RunResult(False, _fraction(metrics["val_accuracy"]),
                           _fraction(history[-1]["val_acc"]),
                           _fraction(metrics["test_accuracy"]), seconds)
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    count = metrics.get("parameter_count")
    recorded = config.get("environment") if isinstance(config, dict) else None
    images = recorded.get("train_images") if isinstance(recorded, dict) else None
    sizes = metrics.get("dataset")
    val = sizes.get("val") if isinstance(sizes, dict) else None
    return replace(result,
                   parameter_count=count if isinstance(count, int) and count > 0 else None,
                   train_images=images if isinstance(images, int) else None,
                   val_images=val if isinstance(val, int) and val > 0 else None)


def read_runs(root: Path, trials: list[int], seeds: int, resplit: bool = False,
              first: int = 0) -> Runs:
    """Seed indices ``first`` .. ``first + seeds - 1`` of each trial's configuration."""
    shape = (len(trials), seeds)
    best, final, test, secs = (np.full(shape, np.nan) for _ in range(4))
    done, diverged = np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)
    params: list[int | None] = [None] * len(trials)
    images: list[int | None] = [None] * len(trials)
    split: dict[str, int] | None = None
    for i, t in enumerate(trials):
        for j in range(seeds):
            run = read_run(unit_dir(root, t, first + j, resplit))
            if run is None:
                continue
            done[i, j] = True
            if run.diverged:
                diverged[i, j] = True
                continue
            best[i, j], final[i, j], test[i, j], secs[i, j] = (
                run.best_val, run.final_val, run.test, run.seconds)
            params[i] = run.parameter_count or params[i]
            images[i] = run.train_images if run.train_images is not None else images[i]
            if split is None and run.val_images and run.train_images:
                split = {"val": run.val_images, "pool": run.val_images + run.train_images}
    return Runs(list(trials), best, final, test, secs, done, diverged, params, images, split)


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
    if summary["version"] != SUMMARY_VERSION:  # its fields may mean something else
        raise StudyError(f"{path}: a confirm summary of version {summary['version']!r}, "
                         f"this sweep reads version {SUMMARY_VERSION}; run `sweep confirm` "
                         "with this sweep, or read it with the one that wrote it")
    problem = _malformed(summary)
    if problem:
        raise StudyError(f"{path}: not a confirm summary ({problem})")
    return summary


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_accuracy(v: Any) -> bool:
    return v is None or (isinstance(v, int | float) and not isinstance(v, bool)
                         and 0.0 <= v <= 1.0)


def _malformed(summary: dict[str, Any]) -> str:
    """What makes a parsed summary unusable, in a few words; "" when nothing does. The
    fields the readers use, with their types: rows with integer trials and accuracies
    within [0, 1], a best set, best mean and recommendation among the rows, a rule."""
    rows = summary["configurations"]
    if not isinstance(rows, list) or not rows:
        return "configurations: not a list of rows"
    trials = set()
    for row in rows:
        if not isinstance(row, dict) or not _is_int(row.get("trial")):
            return "configurations: a row without an integer trial"
        best = row.get("best_val")
        if not isinstance(best, dict) or not all(
                _is_accuracy(best.get(k)) for k in ("mean", "low", "high")):
            return f"trial {row['trial']}: best_val is not accuracies between 0 and 1"
        if not isinstance(row.get("params", {}), dict):
            return f"trial {row['trial']}: params is not an object"
        trials.add(row["trial"])
    if not _is_int(summary["seeds"]) or summary["seeds"] < 1:
        return "seeds: not a positive integer"
    best_set = summary["best_set"]
    if not isinstance(best_set, list) or not all(_is_int(t) and t in trials for t in best_set):
        return "best_set: not a list of the raced trials"
    for key in ("best_mean", "recommended"):
        if not _is_int(summary[key]) or summary[key] not in trials:
            return f"{key}: not one of the raced trials"
    equivalent = summary.get("equivalent", [])
    if not isinstance(equivalent, list) or not all(_is_int(t) for t in equivalent):
        return "equivalent: not a list of trials"
    rule = summary["rule"]
    if not isinstance(rule, dict) or not isinstance(rule.get("text"), str):
        return "rule: not an object with a text"
    margin = summary["margin"]
    if not isinstance(margin, int | float) or isinstance(margin, bool) or not margin > 0:
        return "margin: not a positive number"
    for key in ("holdout", "test_accuracy", "race"):
        if not isinstance(summary[key], dict):
            return f"{key}: not an object"
    return ""


def foreign_trials(summary: dict[str, Any], results: StudyResults) -> list[int]:
    """The raced trials whose settings in the summary are not the study's trial's today
    (or that the study no longer has): the study was made again under its name, or the
    summary came from another study. A row without settings is taken at its word."""
    by_number = {o.number: o for o in results.outcomes}
    foreign = []
    for row in summary["configurations"]:
        outcome = by_number.get(row["trial"])
        recorded = row.get("params")
        if outcome is None or (recorded and recorded != outcome.params):
            foreign.append(row["trial"])
    return foreign


def confirmation_of(results: StudyResults) -> Confirmation | None:
    """What ``sweep confirm`` found for this study, read the one way every reader reads
    it: None when it has not run; a StudyError naming confirm.json when the file cannot
    be read, is malformed, or describes other configurations than the study's trials."""
    summary = read_summary(results.paths.root)
    if summary is None:
        return None
    foreign = foreign_trials(summary, results)
    if foreign:
        path = results.paths.root / CONFIRM_DIR / SUMMARY
        listed = ", ".join(str(t) for t in foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise StudyError(f"{path} describes other configurations than the study's trials "
                         f"{listed} (a study made again under this name?); run `sweep "
                         "confirm` again")
    return Confirmation(summary)


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

    def unraced(self, outcomes: list[TrialOutcome]) -> list[int]:
        """Completed trials that ``sweep confirm`` never looked at (the study has grown
        since it ran), at or above the lowest single-seed value of those it raced (the
        classic aside), best first. A trial it looked at and left outside its window is
        not one: running confirm again would leave it out again."""
        family = set(self.family)
        seen = set(self.summary.get("candidates", {}).get("considered") or [])
        done = [o for o in outcomes if o.state == "COMPLETE" and o.value is not None]
        raced = ([o.value for o in done if o.number in family and not o.classic]
                 or [o.value for o in done if o.number in family])
        if not raced:
            return []
        low = min(raced)
        return [o.number for o in sorted(done, key=lambda o: (-o.value, o.number))
                if o.value >= low and o.number not in family and o.number not in seen]

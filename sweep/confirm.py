"""``python -m sweep confirm``: re-train the top trials over fresh seeds, and say which
are really the best.

A sweep picks its best trial on one seed's validation accuracy, maximised over epochs
and over trials: an optimistic pick, and the differences it ranks are often the size
of the noise between seeds. Confirm re-trains the top K configurations and the
classic one (trial 0), each with the same S seeds (full epochs, no pruning), through
the same worker processes as ``run``, into ``studies/<study>/confirm/NNNN/seed-S/``,
and compares them paired by seed (seedstats.py). It never touches the study's
storage, so the sampler never sees these runs; it resumes and extends like ``run``.
"""

from __future__ import annotations

import argparse
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlp.atomic import write_json
from mlp.config import Config
from mlp.experiment import read_history, read_json, run_experiment

from .errors import StudyError, UsageError
from .options import Command, add_study_args
from .records import TrialOutcome
from .results import StudyResults, load
from .samplers import trial_seed
from .seedstats import Interval, compare_with_best, smallest_sign_flip_p, t_interval
from .trial import dataset_for
from .workers import Event, Pool, TaskDone, WorkerDied

MAX_SEEDS = 100
CONFIRM_DIR = "confirm"
SUMMARY = "confirm.json"
SEED_STREAM = 0xC0F1  # confirm seeds come from a stream of their own, apart from trials'


@dataclass(frozen=True)
class Rerun:
    """One configuration of the study trained with one confirm seed."""

    trial: int
    seed_index: int
    config: Config
    out_dir: str


def confirm_seed(study_seed: int, seed_index: int) -> int:
    """Seed s is the same for every configuration: paired comparisons by seed."""
    return trial_seed(study_seed * 65_537 + SEED_STREAM, seed_index)


def unit_dir(root: Path, trial: int, seed_index: int) -> Path:
    return root / CONFIRM_DIR / f"{trial:04d}" / f"seed-{seed_index}"


def is_done(folder: Path) -> bool:
    try:
        return read_json(folder / "metrics.json").get("status") in (
            "completed", "diverged")
    except (OSError, ValueError, AttributeError):
        return False


def run_rerun(unit: Rerun) -> dict[str, Any]:
    """In a worker: train one re-run into its own experiment directory."""
    out = Path(unit.out_dir)
    if out.exists():
        shutil.rmtree(out)  # the remains of a killed re-run: ours to redo
    result = run_experiment(unit.config, out, data=dataset_for(unit.config), plots=False,
                            extra={"confirm_of_trial": unit.trial, "seed_index": unit.seed_index})
    return {"trial": unit.trial, "seed_index": unit.seed_index, "status": result.status}


# -- what to re-run -------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    outcome: TrialOutcome
    reference: bool = False  # the classic trial, added beside the top trials

    @property
    def number(self) -> int:
        return self.outcome.number


def candidates(results: StudyResults, top: int) -> list[Candidate]:
    """The top ``top`` completed trials by validation accuracy, then the classic trial
    (the reference) if it is not among them."""
    chosen = [Candidate(o) for o in results.best_outcomes(top)]
    if not chosen:
        c = results.counts
        raise StudyError(f"study {results.name!r} has no completed trial to confirm "
                         f"({c.pruned} pruned, {c.failed} failed, {c.running} running)")
    classic = next((o for o in results.outcomes if o.classic), None)
    if classic is not None and classic.number not in {c.number for c in chosen}:
        chosen.append(Candidate(classic, reference=True))
    return chosen


def plan(results: StudyResults, chosen: list[Candidate], seeds: int) -> list[Rerun]:
    """Every (configuration, seed) pair, with the trial's own settings and a confirm
    seed; full epochs, no pruning."""
    settings = results.settings
    units = []
    for c in chosen:
        overrides = {p.key: c.outcome.params[p.name] for p in settings.space.params
                     if p.name in c.outcome.params}
        for s in range(seeds):
            config = settings.config.with_overrides(
                overrides | {"training.seed": confirm_seed(settings.seed, s)})
            units.append(Rerun(c.number, s, config,
                               str(unit_dir(results.paths.root, c.number, s))))
    return units


# -- running --------------------------------------------------------------------------

def run_missing(results: StudyResults, units: list[Rerun], jobs: int) -> tuple[int, bool]:
    """Run the re-runs that have not finished; (how many ran, whether interrupted)."""
    missing = [u for u in units if not is_done(Path(u.out_dir))]
    if not missing:
        return 0, False
    print(f"confirm: {len(missing)} of {len(units)} re-runs to train with {jobs} workers")
    todo = list(reversed(missing))

    def next_task():
        return (run_rerun, todo.pop()) if todo else None

    pool = Pool(next_task, jobs, results.paths.root)
    done = [0]

    def on_event(event: Event | None) -> None:
        if isinstance(event, WorkerDied):
            unit = event.task
            pool.say(f"re-run of trial {unit.trial} seed {unit.seed_index} failed: "
                     f"{event.reason}")
        elif isinstance(event, TaskDone):
            done[0] += 1
            r = event.result
            pool.say(f"re-run of trial {r['trial']} seed {r['seed_index']}: {r['status']} "
                     f"({done[0]} of {len(missing)})")

    pool.run(on_event)
    return done[0], pool.interrupted


# -- reading the results ------------------------------------------------------------------

@dataclass(frozen=True)
class Seeded:
    """One configuration's per-seed results (seed index -> value)."""

    outcome: TrialOutcome
    reference: bool
    best_val: dict[int, float]
    final_val: dict[int, float]
    test: dict[int, float]
    seconds: dict[int, float]
    diverged: int


def read_seeded(root: Path, chosen: list[Candidate], seeds: int) -> list[Seeded]:
    out = []
    for c in chosen:
        best, final, test, secs, diverged = {}, {}, {}, {}, 0
        for s in range(seeds):
            folder = unit_dir(root, c.number, s)
            try:
                metrics = read_json(folder / "metrics.json")
                history = read_history(folder / "history.csv")
            except (OSError, ValueError, KeyError):
                continue
            if metrics.get("status") == "diverged":
                diverged += 1
                continue
            if metrics.get("status") != "completed" or not history:
                continue
            best[s] = float(metrics["val_accuracy"])
            final[s] = float(history[-1]["val_acc"])
            test[s] = float(metrics["test_accuracy"])
            secs[s] = float(metrics["train_seconds"])
        out.append(Seeded(c.outcome, c.reference, best, final, test, secs, diverged))
    return out


def summarize(seeded: list[Seeded], seeds: int) -> dict[str, Any]:
    """The confirm summary: per configuration, the comparisons with the best mean, the
    tied set and the recommendation, in plain JSON (see README, "Seed noise")."""
    rows = {s.outcome.number: s for s in seeded if s.best_val}
    family = sorted((s for s in rows.values() if not s.reference),
                    key=lambda s: (-t_interval(list(s.best_val.values())).mean, s.outcome.number))
    if not family:
        raise StudyError("no re-run of the top trials has finished yet; run `sweep confirm` "
                         "again")
    ranked = family + [s for s in rows.values() if s.reference]
    first = family[0]
    comparisons = compare_with_best(first.best_val,
                                    {s.outcome.number: s.best_val for s in family[1:]})
    tied = [first.outcome.number] + [c.other for c in comparisons if not c.distinguishable]
    cost = {n: np.mean(list(rows[n].seconds.values())) for n in tied}
    recommended = min(tied, key=lambda n: (cost[n], n))
    classic = next((s for s in ranked if s.outcome.classic), None)
    versus_classic = None
    if classic is not None and classic.outcome.number != recommended:
        versus_classic = compare_with_best(rows[recommended].best_val,
                                           {classic.outcome.number: classic.best_val})[0]
    return {
        "seeds": seeds, "metric": "best-epoch validation accuracy, paired by seed",
        "test": "paired t-test, Holm-adjusted over the comparisons with the best "
                f"(family-wise 5%); sign-flip p beside it (its smallest possible value at "
                f"{seeds} seeds is {smallest_sign_flip_p(seeds):.3g})",
        "rule": "the cheapest by mean training time among the configurations "
                "not distinguishable from the best mean",
        "configurations": [_config_row(s) for s in ranked],
        "comparisons": [_comparison_row(c) for c in comparisons],
        "tied_with_best": tied, "best_mean": first.outcome.number,
        "recommended": recommended,
        "versus_classic": _comparison_row(versus_classic) if versus_classic else None,
        "test_accuracy": {str(n): _interval(t_interval(list(rows[n].test.values())))
                          for n in {recommended, *( [classic.outcome.number] if classic
                                                   else [])}},
    }


SUMMARY_KEYS = ("seeds", "configurations", "comparisons", "tied_with_best", "best_mean",
                "recommended", "versus_classic", "test_accuracy")


def read_summary(root: str | Path) -> dict[str, Any] | None:
    """The confirm summary of the study in folder ``root`` (``confirm/confirm.json``, as
    `summarize` writes it); None when ``sweep confirm`` has not written one. A file that
    cannot be read or is not such a summary is a StudyError naming it."""
    path = Path(root) / CONFIRM_DIR / SUMMARY
    if not path.exists() and not path.is_symlink():
        return None
    try:
        summary = read_json(path)
    except (OSError, ValueError) as exc:
        raise StudyError(f"{path}: unreadable ({exc})") from exc
    if not isinstance(summary, dict) or any(k not in summary for k in SUMMARY_KEYS):
        raise StudyError(f"{path}: not a confirm summary (a field is missing)")
    return summary


def _interval(i: Interval) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in i.__dict__.items()}


def _config_row(s: Seeded) -> dict[str, Any]:
    best = t_interval(list(s.best_val.values()))
    return {"trial": s.outcome.number, "classic": s.outcome.classic,
            "params": s.outcome.params, "original_value": s.outcome.value,
            "best_val": _interval(best), "final_val": _interval(
                t_interval(list(s.final_val.values()))),
            "optimism": (s.outcome.value - best.mean if s.outcome.value is not None
                         else None),
            "train_seconds": float(np.mean(list(s.seconds.values()))),
            "diverged_seeds": s.diverged,
            "per_seed": {str(k): v for k, v in sorted(s.best_val.items())}}


def _comparison_row(c: Any) -> dict[str, Any]:
    return {"other": c.other, "diff": _interval(c.diff), "t_p": c.t_p,
            "sign_flip_p": c.sign_flip_p, "holm_p": c.holm_p,
            "distinguishable": c.distinguishable}


# -- the command ------------------------------------------------------------------------

def add_confirm_arguments(p: argparse.ArgumentParser) -> None:
    add_study_args(p)
    p.add_argument("--top", type=int, default=5, help="configurations to confirm (5)")
    p.add_argument("--seeds", type=int, default=5, help=f"seeds each (5; at most {MAX_SEEDS})")
    from .run_command import parse_jobs

    p.add_argument("--jobs", type=parse_jobs, default=None, metavar="N|auto",
                   help="parallel worker processes (default auto: one per core)")


def cmd_confirm(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise UsageError(f"--top {args.top}: must be >= 1")
    if not 1 <= args.seeds <= MAX_SEEDS:
        raise UsageError(f"--seeds {args.seeds}: must be between 1 and {MAX_SEEDS}")
    from .jobs import cores

    jobs = args.jobs if args.jobs is not None else cores()  # as `sweep run` counts them
    if jobs < 1:
        raise UsageError(f"--jobs {jobs}: must be >= 1")
    results = load(args.study, args.studies_dir, args.storage)
    chosen = candidates(results, args.top)
    units = plan(results, chosen, args.seeds)
    _, interrupted = run_missing(results, units, jobs)
    if interrupted:
        print("interrupted; run the same command again to finish the re-runs")
        return 130
    summary = summarize(read_seeded(results.paths.root, chosen, args.seeds), args.seeds)
    write_json(results.paths.root / CONFIRM_DIR / SUMMARY, summary)
    for line in verdict_lines(summary):
        print(line)
    return 0


def verdict_lines(summary: dict[str, Any]) -> list[str]:
    """The verdict in words, each figure with the seeds behind it."""
    n = summary["seeds"]
    rows = {r["trial"]: r for r in summary["configurations"]}
    lines = [f"over {n} seeds ({summary['metric']}):"]
    for r in summary["configurations"]:
        b = r["best_val"]
        tag = " (classic)" if r["classic"] else ""
        ci = (f"95% t-interval {b['low']:.2%}-{b['high']:.2%}" if b["low"] is not None
              else "no interval from one seed")
        lines.append(f"  trial {r['trial']}{tag}: mean {b['mean']:.2%} sd {_pct(b['sd'])} "
                     f"({ci}; {b['n']} seeds), single-seed pick {_pct(r['original_value'])}")
    tied = summary["tied_with_best"]
    rec = summary["recommended"]
    lines.append(f"tied with the best mean (trial {summary['best_mean']}): "
                 f"{', '.join(str(t) for t in tied)} ({summary['test']})")
    lines.append(f"recommended: trial {rec} (rule: {summary['rule']})")
    vs = summary["versus_classic"]
    if vs is not None:
        d = vs["diff"]
        lines.append(f"trial {rec} against the classic trial {vs['other']}: "
                     f"{d['mean']:+.2%} (95% t-interval {_pct(d['low'])} to {_pct(d['high'])}, "
                     f"paired t-test p = {vs['t_p']:.3g}, {d['n']} seeds)")
    for trial, t in summary["test_accuracy"].items():
        lines.append(f"test accuracy of trial {trial}"
                     f"{' (classic)' if rows[int(trial)]['classic'] else ''}: "
                     f"mean {t['mean']:.2%} sd {_pct(t['sd'])} over {t['n']} seeds")
    return lines


def _pct(v: float | None) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2%}"


COMMANDS = (Command("confirm", "re-train the top trials over fresh seeds and compare them",
                    add_confirm_arguments, cmd_confirm, __doc__.split("\n\n", 1)[1]),)

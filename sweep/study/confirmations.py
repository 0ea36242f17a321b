"""What ``sweep confirm`` leaves in a study's folder, and reading it back.

    studies/<name>/confirm/NNNN/seed-S/   trial NNNN's configuration trained with confirm
                                          seed S (an experiment directory)
    studies/<name>/confirm/confirm.json   the summary: per configuration the mean over
                                          seeds, the comparisons, the recommendation

The report and ``sweep best`` read the summary; the command writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlp.experiment import read_history, read_json

from ..errors import StudyError
from .records import TrialOutcome
from .results import StudyResults

CONFIRM_DIR = "confirm"
SUMMARY = "confirm.json"


def unit_dir(root: Path, trial: int, seed_index: int) -> Path:
    """Where trial ``trial``'s configuration trained with confirm seed ``seed_index`` is."""
    return root / CONFIRM_DIR / f"{trial:04d}" / f"seed-{seed_index}"


def is_done(folder: Path) -> bool:
    try:
        return read_json(folder / "metrics.json").get("status") in (
            "completed", "diverged")
    except (OSError, ValueError, AttributeError):
        return False


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
    # the latest classic trial: a retry stands in for a classic trial lost to a fault
    classic = next((o for o in reversed(results.outcomes) if o.classic), None)
    if classic is not None and classic.number not in {c.number for c in chosen}:
        chosen.append(Candidate(classic, reference=True))
    return chosen


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



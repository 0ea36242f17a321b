"""The report as a document: sections of figures, tables, text and notes.

`build` runs the analysis, writes the figures into ``report/figures/`` and returns
a `Document` that `html` and `markdown` render the same way. The document is made
section by section (`SECTIONS`): each section is a small function holding its
figures' captions. A figure that cannot be drawn for this study (nothing completed
yet, no second setting, no data) is left out with a note saying why; an unexpected
error in one figure is reported in the document and does not stop the rest.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from matplotlib.figure import Figure as MplFigure

from ..param import fmt
from ..results import StudyResults
from . import best as B
from . import figures as F
from . import findings
from . import style as S
from .analysis import failed_or_diverged, interaction_pairs, prepare, wilson
from .findings import Table, ci, pct, points
from .importance import importances

FIGURES_DIR = "figures"
_ZOOM = ("The accuracy axis is zoomed on the completed trials; trials far below them (most "
         "pruned after an epoch or two) sit on its floor as filled triangles, failed and "
         "diverged ones as crosses.")


@dataclass
class FigureRef:
    png: str  # relative to the report folder
    svg: str
    title: str
    caption: str = ""


@dataclass
class Text:
    text: str


@dataclass
class Notes:
    items: list[str]
    kind: str = "note"  # "note", "warning" or "finding"


Block = FigureRef | Table | Text | Notes


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    title: str
    facts: list[tuple[str, str]]
    sections: list[Section]
    generated: str
    problems: list[str] = field(default_factory=list)  # figures that failed unexpectedly
    seconds: float = 0.0


class _Report:
    """What the sections are made of: the study's numbers, its importances and best
    trial; and the folder its figures are drawn into."""

    def __init__(self, results: StudyResults, out: Path) -> None:
        self.out = out
        self.problems: list[str] = []  # figures that failed unexpectedly
        self.data = prepare(results)
        try:
            self.imp = importances(self.data)
        except Exception as exc:
            self.problems.append(f"importance: {type(exc).__name__}: {exc}")
            self.imp = None
        self.best, self.best_note = B.load_best(self.data)

    @property
    def figures(self) -> Path:
        return self.out / FIGURES_DIR

    @property
    def val_n(self) -> int | None:
        return self.best.split_size("val") if self.best else None

    @property
    def test_n(self) -> int | None:
        return self.best.split_size("test") if self.best else None

    def figure(self, name: str, title: str, caption: str,
               make: Callable[[], MplFigure | tuple[Path, Path] | None],
               missing: str) -> list[Block]:
        """Draw and save one figure; a note instead when there is nothing to draw."""
        try:
            made = make()
        except Exception as exc:
            self.problems.append(f"{name}: {type(exc).__name__}: {exc}")
            detail = traceback.format_exc(limit=-2).strip().splitlines()[-1]
            return [Notes([f"The figure '{title}' could not be drawn ({detail})."],
                          "warning")]
        if made is None:
            return [Notes([missing])] if missing else []
        if isinstance(made, MplFigure):
            png, svg = S.save_figure(made, self.figures, name)
        else:
            png, svg = made
        rel = lambda p: Path(p).relative_to(self.out).as_posix()  # noqa: E731
        return [FigureRef(rel(png), rel(svg), title, caption)]


def build(results: StudyResults, out: Path) -> Document:
    """Analyse the study, draw every figure into ``out/figures`` and lay out the document."""
    started = time.perf_counter()
    r = _Report(results, out)
    sections = [s for s in (make(r) for make in SECTIONS) if s.blocks]
    doc = Document(f"Study {r.data.name}", _facts(r), sections,
                   datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
                   problems=r.problems)
    doc.seconds = time.perf_counter() - started
    return doc


# ------------------------------------------------------------------ the sections

def _glance(r: _Report) -> Section:
    warnings = findings.warnings_for(r.data, r.imp)
    return Section("glance", "At a glance", [Notes(_key_findings(r), "finding")]
                   + ([Notes(warnings, "warning")] if warnings else []))


def _importance(r: _Report) -> Section:
    s = Section("importance", "Which settings matter")
    s.blocks += r.figure(
        "importance", "Parameter importance and rank correlation",
        "Left: Optuna's importances (PED-ANOVA, Optuna's default, and fANOVA), as shares "
        "of the total. The bars' whiskers span the middle 95% of the importances recomputed "
        "on 20 resamples of the completed trials (each keeps about two thirds of them, so "
        "the span shows how much the ranking depends on which trials ran; with few trials "
        "it can sit beside the full-data value). Right: Spearman's rank correlation of each "
        "setting with validation accuracy (positive: larger values do better).",
        lambda: F.importance_figure(r.imp) if r.imp else None,
        "No importances: they need at least 3 completed trials and a setting that varies.")
    if r.data.params:
        s.blocks.append(findings.setting_summaries(r.data, r.imp))
    return s


def _effects(r: _Report) -> Section:
    data = r.data
    s = Section("effects", "Which values are best")
    s.blocks += r.figure(
        "effects", "Effect of each setting",
        "Each dot is a completed trial (pruned ones at the accuracy when they were stopped). "
        + _ZOOM + " The blue line is a polynomial trend "
        "with its 95% bootstrap band; the green dashed line is the best accuracy found in "
        "each bin of the setting over all values of the others (an isolation curve); both "
        "from the completed trials on the axis. "
        "Log axes where the setting is sampled on a log scale.",
        lambda: F.setting_effects(data, r.imp),
        "No effect plots yet: no trial has reported an accuracy.")
    pairs = interaction_pairs(data, r.imp.ranking() if r.imp else [])
    s.blocks += r.figure(
        "interactions", "Interactions between settings",
        "Mean validation accuracy of the completed trials in each cell of two settings' "
        "bins (log bins for log-scale settings); n is the number of trials per cell. The "
        "best trial's cell is outlined in green, the classic trial's cell has a star.",
        lambda: F.interactions(data, pairs),
        "No interaction heatmaps: they need two settings that vary and at least 2 "
        "completed trials." if len(data.completed) < 2 or len(data.varied) < 2 else "")
    return s


def _best_trials(r: _Report) -> Section:
    tables = (findings.best_vs_classic(r.data, r.val_n, r.test_n), findings.top_table(r.data))
    return Section("best", "Best trials", [t for t in tables if t is not None]
                   or [Notes(["No completed trial yet."])])


def _search(r: _Report) -> Section:
    s = Section("search", "How the search went")
    s.blocks += r.figure(
        "history", "Optimisation history",
        "Validation accuracy of each trial in the order trials started, with the best so far "
        "as a step line. " + _ZOOM,
        lambda: F.optimisation_history(r.data), "No finished trial yet.")
    s.blocks += r.figure(
        "learning_curves", "Learning curves",
        "Validation accuracy after each epoch, from each trial's history.csv. Pruned and "
        "diverged trials end early (marker at the last epoch, on the floor when below the "
        "axis); the best trial is in bold green, the classic configuration in pink.",
        lambda: F.learning_curves(r.data), "No learning curves: no trial has a history.csv.")
    s.blocks += r.figure(
        "cost", "Cost",
        "Accuracy against training time (of the trial's run, all epochs) and against the "
        "network's parameter count. The Pareto front joins the trials that no cheaper trial "
        "beats. " + _ZOOM,
        lambda: F.cost(r.data), "No cost plots: no completed trial records time or size.")
    return s


def _best_failures(r: _Report) -> Section:
    s = Section("failures-of-best", "How the best model fails")
    best = r.best
    if best is None:
        s.blocks.append(Notes([r.best_note]))
        return s
    s.blocks.append(Text(f"Trial {best.number} on the test set ({r.test_n or '?'} images)."))
    s.blocks += r.figure("best_confusion", "Confusion matrix of the best trial",
                         "Counts per cell; colour by the share of the true class.",
                         lambda: B.confusion_figures(best, r.figures),
                         "No confusion matrix in the best trial's metrics.json.")
    s.blocks += r.figure("best_per_class", "Per-class precision, recall and F1",
                         "On the test set; the dashed line is the macro F1.",
                         lambda: B.per_class_figures(best, r.figures),
                         "No per-class report in the best trial's metrics.json.")
    table = findings.confused_table(best.most_confused[:5])
    if table is not None:
        s.blocks.append(table)
    examples, why = B.confused_examples(best)
    s.blocks += r.figure("best_confused_examples", "Most-confused pairs, with examples",
                         "Test images of the best model's most frequent mistakes, the "
                         "most confident ones first.",
                         lambda: B.confused_figure(examples) if examples else None, why)
    return s


def _failures(r: _Report) -> Section:
    s = Section("failures", "Failed and diverged trials")
    table, _ = findings.failure_table(r.data)
    if table is None:
        return s
    s.blocks.append(table)
    trials = r.data.trials
    reasons = (trials.loc[failed_or_diverged(trials), "reason"]
               .fillna("").astype(str).str.slice(0, 120).value_counts().head(5))
    if len(reasons):
        s.blocks.append(Notes([f"{reason or '(no reason recorded)'}: {n}×"
                               for reason, n in reasons.items()]))
    return s


SECTIONS: tuple[Callable[[_Report], Section], ...] = (
    _glance, _importance, _effects, _best_trials, _search, _best_failures, _failures)


# ------------------------------------------------------------------ facts and findings

def _facts(r: _Report) -> list[tuple[str, str]]:
    data, c, settings = r.data, r.data.counts, r.data.settings
    config = settings.config
    epochs = config.training.epochs
    facts = [
        ("Trials", f"{c.finished} finished: {c.complete} completed, {c.pruned} pruned "
                   f"({int(data.trials['diverged'].sum())} of them diverged), "
                   f"{c.failed} failed" + (f"; {c.running} running" if c.running else "")),
        ("Dataset", config.data.dataset + (f", first {config.data.train_limit} training "
                                           "images" if config.data.train_limit else "")),
        ("Budget", f"{epochs} epoch{'' if epochs == 1 else 's'} per trial; "
                   f"sampler {settings.sampler}, pruner {settings.pruner}"),
        ("Search space", "; ".join(f"{p.name} {p.range_text()}" for p in data.params)
         or "(empty)"),
    ]
    if settings.space.fixed:
        facts.append(("Fixed for the study", ", ".join(f"{k} = {fmt(v)}"
                                                       for k, v in settings.space.fixed)))
    row = data.best
    if row is not None:
        interval = f" ({ci(row['value'], r.val_n)})" if r.val_n else ""
        facts.append(("Best", f"trial {int(row['number'])}: validation {pct(row['value'])}"
                              f"{interval}, test {pct(row['test_accuracy'])}"))
    return facts


def _key_findings(r: _Report) -> list[str]:
    data, imp, best = r.data, r.imp, r.best
    if data.best is None:
        return ["No completed trial yet: nothing to compare."]
    out = [_best_finding(r)]
    if imp is not None and not imp.table.empty:
        t = imp.table[imp.table["method"] == "PED-ANOVA"].sort_values("importance",
                                                                         ascending=False)
        parts = [f"{row.setting} {row.importance:.0%} ({row.low:.0%}–{row.high:.0%})"
                 for row in t.head(3).itertuples()]
        if parts:
            out.append("Most important settings (PED-ANOVA share; range over resamples): "
                       + ", ".join(parts) + ".")
    if len(data.completed) >= 3 and data.varied:
        top = findings.top_trials(data.completed)
        parts = [f"{p.name} {findings.values_text(p, top)}" for p in data.varied]
        out.append(f"Where the top {len(top)} trials lie: " + "; ".join(parts) + ".")
    if best is not None and best.most_confused:
        pairs = ", ".join(f"{p['true']}→{p['predicted']} ({p['count']}×)"
                          for p in best.most_confused[:3])
        acc = (best.per_class or {}).get("accuracy")
        out.append(f"The best model's most frequent test mistakes: {pairs}"
                   + (f"; test accuracy {acc:.2%}." if acc is not None else "."))
    return out


def _best_finding(r: _Report) -> str:
    """The best trial, and how the classic configuration compares with it."""
    data = r.data
    row, classic = data.best, data.classic
    values = ", ".join(f"{p.name}={fmt(row[p.column])}" for p in data.params)
    text = (f"Best: trial {int(row['number'])} with validation accuracy {pct(row['value'])} "
            f"(test {pct(row['test_accuracy'])}) using {values}.")
    if classic is None:
        return text
    if int(classic["number"]) == int(row["number"]):
        return text + " That is the classic configuration."
    if classic["state"] != "COMPLETE":
        return text + (f" The classic configuration (trial {int(classic['number'])}) did not "
                       f"complete ({S.outcome(classic)}).")
    gap = row["value"] - classic["value"]
    sure = ""
    if r.val_n:
        lo, hi = wilson(row["value"], r.val_n)
        half = (hi - lo) / 2
        sure = (f" — larger than the ±{half * 100:.1f}-point uncertainty of one validation "
                "measurement" if gap > 2 * half else
                f" — within the noise of the validation measurement (±{half * 100:.1f} points)")
    return text + (f" The classic configuration (trial {int(classic['number'])}) reached "
                   f"{pct(classic['value'])}: {points(gap)}{sure}.")

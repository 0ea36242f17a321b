"""The report as a document: sections of figures, tables, text and notes.

`build` runs the analysis, writes the figures into ``report/figures/`` and returns
a `Document` that `html` and `markdown` render the same way. A figure that cannot
be drawn for this study (nothing completed yet, no second setting, no data) is
left out with a note saying why; an unexpected error in one figure is reported in
the document and does not stop the rest.
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
from .analysis import StudyData, interaction_pairs, prepare, wilson
from .findings import Table, pct
from .importance import Importance, importances
from .style import save_figure

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


class _Builder:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.problems: list[str] = []

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
            png, svg = save_figure(made, self.out / FIGURES_DIR, name)
        else:
            png, svg = made
        rel = lambda p: Path(p).relative_to(self.out).as_posix()  # noqa: E731
        return [FigureRef(rel(png), rel(svg), title, caption)]


def build(results: StudyResults, out: Path) -> Document:
    """Analyse the study, draw every figure into ``out/figures`` and lay out the document."""
    started = time.perf_counter()
    data = prepare(results)
    b = _Builder(out)
    imp = _importance(data, b)
    best, best_note = B.load_best(data)
    val_n = best.split_size("val") if best else None
    test_n = best.split_size("test") if best else None
    warnings = findings.warnings_for(data, imp)
    figs = out / FIGURES_DIR

    sections = [Section("glance", "At a glance",
                        [Notes(_key_findings(data, imp, best, val_n), "finding")]
                        + ([Notes(warnings, "warning")] if warnings else []))]

    s = Section("importance", "Which settings matter")
    s.blocks += b.figure(
        "importance", "Parameter importance and rank correlation",
        "Left: Optuna's importances (PED-ANOVA, Optuna's default, and fANOVA), as shares "
        "of the total. The bars' whiskers span the middle 95% of the importances recomputed "
        "on 20 resamples of the completed trials (each keeps about two thirds of them, so "
        "the span shows how much the ranking depends on which trials ran; with few trials "
        "it can sit beside the full-data value). Right: Spearman's rank correlation of each "
        "setting with validation accuracy (positive: larger values do better).",
        lambda: F.importance_figure(imp) if imp else None,
        "No importances: they need at least 3 completed trials and a setting that varies.")
    if data.settings:
        s.blocks.append(findings.setting_summaries(data, imp))
    sections.append(s)

    s = Section("effects", "Which values are best")
    s.blocks += b.figure(
        "effects", "Effect of each setting",
        "Each dot is a completed trial (pruned ones at the accuracy when they were stopped). "
        + _ZOOM + " The blue line is a polynomial trend "
        "with its 95% bootstrap band; the green dashed line is the best accuracy found in "
        "each bin of the setting over all values of the others (an isolation curve); both "
        "from the completed trials on the axis. "
        "Log axes where the setting is sampled on a log scale.",
        lambda: F.setting_effects(data, imp),
        "No effect plots yet: no trial has reported an accuracy.")
    pairs = interaction_pairs(data, imp.ranking() if imp else [])
    s.blocks += b.figure(
        "interactions", "Interactions between settings",
        "Mean validation accuracy of the completed trials in each cell of two settings' "
        "bins (log bins for log-scale settings); n is the number of trials per cell. The "
        "best trial's cell is outlined in green, the classic trial's cell has a star.",
        lambda: F.interactions(data, pairs),
        "No interaction heatmaps: they need two settings that vary and at least 2 "
        "completed trials." if len(data.completed) < 2 or len(data.varied) < 2 else "")
    sections.append(s)

    s = Section("best", "Best trials")
    for table in (findings.best_vs_classic(data, val_n, test_n), findings.top_table(data)):
        if table is not None:
            s.blocks.append(table)
    if len(s.blocks) == 0:
        s.blocks.append(Notes(["No completed trial yet."]))
    sections.append(s)

    s = Section("search", "How the search went")
    s.blocks += b.figure(
        "history", "Optimisation history",
        "Validation accuracy of each trial in the order trials started, with the best so far "
        "as a step line. " + _ZOOM,
        lambda: F.optimisation_history(data), "No finished trial yet.")
    s.blocks += b.figure(
        "learning_curves", "Learning curves",
        "Validation accuracy after each epoch, from each trial's history.csv. Pruned and "
        "diverged trials end early (marker at the last epoch, on the floor when below the "
        "axis); the best trial is in bold green, the classic configuration in pink.",
        lambda: F.learning_curves(data), "No learning curves: no trial has a history.csv.")
    s.blocks += b.figure(
        "cost", "Cost",
        "Accuracy against training time (of the trial's run, all epochs) and against the "
        "network's parameter count. The Pareto front joins the trials that no cheaper trial "
        "beats. " + _ZOOM,
        lambda: F.cost(data), "No cost plots: no completed trial records time or size.")
    sections.append(s)

    s = Section("failures-of-best", "How the best model fails")
    if best is None:
        s.blocks.append(Notes([best_note]))
    else:
        s.blocks.append(Text(f"Trial {best.number} on the test set "
                             f"({test_n or '?'} images)."))
        s.blocks += b.figure("best_confusion", "Confusion matrix of the best trial",
                             "Counts per cell; colour by the share of the true class.",
                             lambda: B.confusion_figures(best, figs),
                             "No confusion matrix in the best trial's metrics.json.")
        s.blocks += b.figure("best_per_class", "Per-class precision, recall and F1",
                             "On the test set; the dashed line is the macro F1.",
                             lambda: B.per_class_figures(best, figs),
                             "No per-class report in the best trial's metrics.json.")
        table = findings.confused_table(best.most_confused[:5])
        if table is not None:
            s.blocks.append(table)
        examples, why = B.confused_examples(best)
        s.blocks += b.figure("best_confused_examples", "Most-confused pairs, with examples",
                             "Test images of the best model's most frequent mistakes, the "
                             "most confident ones first.",
                             lambda: B.confused_figure(examples) if examples else None, why)
    sections.append(s)

    table, _ = findings.failure_table(data)
    if table is not None:
        s = Section("failures", "Failed and diverged trials")
        s.blocks.append(table)
        reasons = (data.trials.loc[data.trials["kind"].isin(["failed", "diverged"]), "reason"]
                   .fillna("").astype(str).str.slice(0, 120).value_counts().head(5))
        if len(reasons):
            s.blocks.append(Notes([f"{r or '(no reason recorded)'}: {n}×"
                                   for r, n in reasons.items()]))
        sections.append(s)

    sections = [sec for sec in sections if sec.blocks]
    doc = Document(f"Study {data.name}", _facts(data, best, val_n), sections,
                   datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
                   problems=b.problems)
    doc.seconds = time.perf_counter() - started
    return doc


def _importance(data: StudyData, b: _Builder) -> Importance | None:
    try:
        return importances(data)
    except Exception as exc:
        b.problems.append(f"importance: {type(exc).__name__}: {exc}")
        return None


def _facts(data: StudyData, best: B.BestTrial | None, val_n: int | None
           ) -> list[tuple[str, str]]:
    c = data.counts
    cfg = data.config
    d, t = cfg.get("data", {}), cfg.get("training", {})
    facts = [
        ("Trials", f"{c.finished} finished: {c.complete} completed, {c.pruned} pruned "
                   f"({int((data.trials['kind'] == 'diverged').sum())} of them diverged), "
                   f"{c.failed} failed" + (f"; {c.running} running" if c.running else "")),
        ("Dataset", f"{d.get('dataset', '?')}" + (f", first {d['train_limit']} training "
                                                   "images" if d.get("train_limit") else "")),
        ("Budget", f"{t.get('epochs', '?')} epoch{'' if t.get('epochs') == 1 else 's'} per "
                   f"trial; sampler {data.sampler}, "
                   f"pruner {data.pruner}"),
        ("Search space", "; ".join(f"{s.name} {s.range_text()}" for s in data.settings)
         or "(empty)"),
    ]
    if data.fixed:
        facts.append(("Fixed for the study", ", ".join(f"{k} = {fmt(v)}"
                                                       for k, v in data.fixed.items())))
    row = data.best
    if row is not None:
        lo, hi = wilson(row["acc"] / 100, val_n or 0)
        ci = f" (95% CI {lo * 100:.1f}–{hi * 100:.1f}%)" if val_n else ""
        facts.append(("Best", f"trial {int(row['number'])}: validation {pct(row['acc'])}{ci}, "
                              f"test {pct(row['test_acc'])}"))
    return facts


def _key_findings(data: StudyData, imp: Importance | None, best: B.BestTrial | None,
                  val_n: int | None) -> list[str]:
    out = []
    row, classic = data.best, data.classic
    if row is None:
        out.append("No completed trial yet: nothing to compare.")
        return out
    settings = ", ".join(f"{s.name}={fmt(row[s.column])}" for s in data.settings)
    text = (f"Best: trial {int(row['number'])} with validation accuracy {pct(row['acc'])} "
            f"(test {pct(row['test_acc'])}) using {settings}.")
    if classic is not None and int(classic["number"]) != int(row["number"]):
        if classic["kind"] == "completed":
            gap = row["acc"] - classic["acc"]
            half = None
            if val_n:
                lo, hi = wilson(row["acc"] / 100, val_n)
                half = (hi - lo) * 50
            sure = ""
            if half is not None:
                sure = (f" — larger than the ±{half:.1f}-point uncertainty of one validation "
                        "measurement" if gap > 2 * half else
                        f" — within the noise of the validation measurement (±{half:.1f} points)"
                        )
            text += (f" The classic configuration (trial {int(classic['number'])}) reached "
                     f"{pct(classic['acc'])}: {gap:+.2f} points{sure}.")
        else:
            text += (f" The classic configuration (trial {int(classic['number'])}) did not "
                     f"complete ({classic['kind']}).")
    elif classic is not None:
        text += " That is the classic configuration."
    out.append(text)
    if imp is not None and not imp.table.empty:
        t = imp.table[imp.table["method"] == "PED-ANOVA"].sort_values("importance",
                                                                         ascending=False)
        parts = [f"{r.setting} {r.importance:.0%} ({r.low:.0%}–{r.high:.0%})"
                 for r in t.head(3).itertuples()]
        if parts:
            out.append("Most important settings (PED-ANOVA share; range over resamples): "
                       + ", ".join(parts) + ".")
    if len(data.completed) >= 3 and data.varied:
        k = min(findings.top_k(len(data.completed)), len(data.completed))
        top = data.completed.sort_values(["acc", "number"], ascending=[False, True]).head(k)
        parts = []
        for s in data.varied:
            if s.categorical:
                counts = top[s.column].map(fmt).value_counts()
                parts.append(f"{s.name} " + ", ".join(f"{v} ({c}×)" for v, c in counts.items()))
            else:
                parts.append(f"{s.name} {fmt(top[s.column].min())}–{fmt(top[s.column].max())}")
        out.append(f"Where the top {k} trials lie: " + "; ".join(parts) + ".")
    if best is not None and best.most_confused:
        pairs = ", ".join(f"{p['true']}→{p['predicted']} ({p['count']}×)"
                          for p in best.most_confused[:3])
        acc = (best.per_class or {}).get("accuracy")
        out.append(f"The best model's most frequent test mistakes: {pairs}"
                   + (f"; test accuracy {acc:.2%}." if acc is not None else "."))
    return out

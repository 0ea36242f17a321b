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

from ..study.results import StudyResults
from ..text import short
from . import best as B
from . import figures as F
from . import findings, seeds, views
from . import style as S
from .analysis import MIN_SUPPORT, failed_or_diverged, interaction_pairs, prepare, rung_epochs
from .effects import DASHBOARD, Analysis, analyse, stated_sentences
from .findings import Table, pct, points

FIGURES_DIR = "figures"
_ZOOM = ("Completed trials are drawn at their objective, the best validation accuracy over "
         "all their epochs; the axis is zoomed on them, and one far below sits on its floor "
         "as a filled triangle. Pruned trials have no such value (what they reported when "
         "stopped is from an earlier epoch, not comparable), so they sit on the floor as "
         "hollow triangles, failed and diverged ones as crosses; the rungs figure compares "
         "every trial at the same epoch.")


@dataclass
class FigureRef:
    png: str  # relative to the report folder
    svg: str | None  # the vector twin, when asked for
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

    def __init__(self, results: StudyResults, out: Path, vector: bool = False) -> None:
        self.out, self.vector = out, vector
        self.problems: list[str] = []  # figures that failed unexpectedly
        self.data = prepare(results)
        self.analysis: Analysis | None
        try:
            self.analysis = analyse(self.data)
        except Exception as exc:
            self.problems.append(f"effects: {type(exc).__name__}: {exc}")
            self.analysis = None
        self.best, self.best_note = B.load_best(self.data)

    @property
    def figures(self) -> Path:
        return self.out / FIGURES_DIR

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
            png, svg = S.save_figure(made, self.figures, name, self.vector)
        else:
            png, svg = made
        rel = lambda p: Path(p).relative_to(self.out).as_posix()  # noqa: E731
        return [FigureRef(rel(png), rel(svg) if svg else None, title, caption)]


def build(results: StudyResults, out: Path, vector: bool = False) -> Document:
    """Analyse the study, draw every figure into ``out/figures`` (PNG; SVG too with
    ``vector``) and lay out the document."""
    started = time.perf_counter()
    r = _Report(results, out, vector)
    sections = [s for s in (make(r) for make in SECTIONS) if s.blocks]
    doc = Document(f"Study {r.data.name}", _facts(r), sections,
                   datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
                   problems=r.problems)
    doc.seconds = time.perf_counter() - started
    return doc


# ------------------------------------------------------------------ the sections

def _glance(r: _Report) -> Section:
    warnings = findings.warnings_for(r.data, r.analysis)
    return Section("glance", "At a glance", [Notes(_key_findings(r), "finding")]
                   + ([Notes(warnings, "warning")] if warnings else []))


def _sample(r: _Report) -> Section:
    """What the analyses stand on: the survivors of the sampler and the pruner."""
    data = r.data
    s = Section("sample", "What the sample is")
    makeup = findings.sample_makeup(data, r.out, r.analysis)
    if makeup:
        s.blocks.append(Notes(makeup, "warning"))
    epochs = rung_epochs(data)
    s.blocks += r.figure(
        "rungs", "Every trial at the pruner's rungs",
        "One row per epoch at which the pruner stopped trials ("
        + ", ".join(map(str, epochs)) + "), one column per setting: every trial that "
        "trained that far, at its validation accuracy after that epoch (its reported "
        "intermediate value). Hollow grey: stopped at this epoch; filled blue: trained on. "
        "With Hyperband, the marker shape is the trial's bracket: a trial is compared only "
        "with its own bracket, so a stopped trial can sit above one of another bracket that "
        "trained on. "
        "Unlike the effects figure, which has the completed trials only, this compares "
        "pruned and surviving trials at the same point of training; the row label gives "
        "the number of trials. Trials far below a row's axis sit on its floor.",
        lambda: views.rungs(data), "")
    s.blocks += r.figure(
        "edf", "Distribution of validation accuracy at the same epoch",
        "Empirical distribution function (EDF): for each accuracy, the share of trials at "
        "or below it, after the same epoch (each rung the pruner stopped trials at). "
        "Dashed: every trial that trained that far; solid: the survivors, the trials that "
        "went on to complete. Both read the same epoch, so the gap between them is the "
        "pruner's selection alone (not more epochs, not a maximum over epochs). The number "
        "of trials behind each curve is in the legend.",
        lambda: views.edf(data), "")
    return s


def _importance(r: _Report) -> Section:
    s = Section("importance", "Which settings matter")
    a = r.analysis
    if a is None:
        s.blocks.append(Notes(["No analysis of the settings: see the problems above."]))
        return s
    imp = a.importances
    if imp.mode == "shares":
        caption = (f"Each setting's share of the variance its main effect makes over the "
                   f"search space (each setting uniform on its sampled scale, log where the "
                   f"space samples one), from an additive model of validation accuracy fitted "
                   f"on {a.sample}. Whiskers: the {imp.level:.0%} posterior interval of the "
                   f"share ({imp.label}); Monte Carlo error of a share at most "
                   f"{imp.mc_error:.1%}. Blue: the setting's effect is stated (permutation "
                   "test, family-wise 5%); grey: no effect shown, and its interval starts "
                   "at 0.")
    else:
        caption = (f"Below the minimum for shares: each setting's permutation test of \"no "
                   f"effect\" on {a.sample}, as −log10 of its p-value adjusted over the "
                   "settings (Westfall-Young); right of the dashed line the effect would be "
                   "stated at family-wise 5%.")
    s.blocks += r.figure("importance", "Which settings matter", caption,
                         lambda: F.importance_figure(a),
                         "No importances: they need at least 5 completed, converged trials "
                         "and a setting that varies.")
    notes = a.notes() + [DASHBOARD]
    if not a.own:
        notes.insert(0, f"Effects and importances use {a.sample}, which covers the space "
                        "evenly; the rest of the report is about this study.")
    s.blocks.append(Notes(notes))
    if r.data.params:
        s.blocks.append(findings.setting_summaries(r.data, a))
    return s


def _effects(r: _Report) -> Section:
    data, a = r.data, r.analysis
    s = Section("effects", "Which values are best")
    if a is None:
        return s
    stated = stated_sentences(a)
    if stated:
        s.blocks.append(Notes(stated, "finding"))
    elif a.tested:
        fragile = [e.setting for e in a.effects.effects if e.rests_on]
        s.blocks.append(Notes([
            (f"No setting's effect beats the permutation null on {a.sample} (family-wise 5%)"
             if not fragile else
             f"No setting is shown to matter on {a.sample}: {', '.join(fragile)} beat"
             f"{'s' if len(fragile) == 1 else ''} the permutation null (family-wise 5%) but "
             "rest on a single trial (the table names it), and an effect one training run "
             "carries is not stated")
            + ": within what was searched, none is shown to matter."]))
    s.blocks += r.figure(
        "effects", "Effect of each setting",
        f"Each dot is one of {a.sample}, at its validation accuracy (the best of its epochs), "
        "coloured by the other setting most associated with this one among them (named "
        "under the panel), so that an effect that belongs to that setting shows as a colour "
        "gradient. Hollow: trials still improving at their last epoch, left out. "
        + ("The line is the setting's partial dependence: the additive model's accuracy at "
           "each value with every other setting averaged over the trials; the band is its "
           f"band: {a.effects.band_label}. The title gives the verdict: the permutation "
           "test, adjusted over the settings, and \"not stated\" where the effect rests on "
           "a single trial." if a.tested else
           "Too few trials for a curve or a test: the dots are all there is.")
        + " Log axes where the setting is sampled on a log scale.",
        lambda: F.setting_effects(data, a),
        "No effect plots yet: no trial has completed.")
    pairs = interaction_pairs(data, a.ranking())
    n = len(data.completed)
    s.blocks += r.figure(
        "interactions", "Interactions between settings",
        f"Mean validation accuracy of the {n} completed trials in each cell of two settings' "
        "bins (log bins for log-scale settings); n is the number of trials per cell. "
        f"Cells with fewer than {MIN_SUPPORT} trials get no colour and no mean (hatched, "
        "with their count); grey cells hold none. No test stands behind these cells: they "
        "describe the trials, they do not state an interaction. The selected trial's cell is "
        "outlined in green, the classic trial's cell has a star.",
        lambda: F.interactions(data, pairs),
        "No interaction heatmaps: they need two settings that vary and at least 2 "
        "completed trials." if len(data.completed) < 2 or len(data.varied) < 2 else "")
    s.blocks += r.figure(
        "parallel", "Parallel coordinates",
        f"The {n} completed trials as lines from each setting (each axis spans its "
        "searched range on the sampled scale, ends labelled) to validation accuracy, "
        "coloured by accuracy; the best ones are drawn thicker and numbered at the "
        "accuracy axis.",
        lambda: views.parallel_coordinates(data), "")
    return s


def _best_trials(r: _Report) -> Section:
    tables = (findings.best_vs_classic(r.data, r.test_n), findings.top_table(r.data))
    return Section("best", "Best trials", [t for t in tables if t is not None]
                   or [Notes(["No completed trial yet."])])


def _seed_noise(r: _Report) -> Section:
    """What ``sweep confirm`` found; the section is left out when it has not run."""
    data, conf = r.data, r.data.confirmation
    s = Section("seed-noise", "Seed noise")
    warnings = findings.confirm_warnings(data)
    if warnings:
        s.blocks.append(Notes(warnings, "warning"))
    if conf is None:
        return s
    s.blocks += [Text(seeds.intro(conf)), Notes(seeds.verdict(conf), "finding"),
                 seeds.configuration_table(conf)]
    table = seeds.race_table(conf)
    if table is not None:
        s.blocks.append(table)
    s.blocks += r.figure(
        "seed_noise", "Validation accuracy over seeds",
        f"Each configuration raced over the same seeds, up to {findings.seeds_text(conf.seeds)} "
        "(full epochs, no pruning; `python -m sweep confirm`). Blue dots: one seed's "
        "best-epoch validation accuracy each; black diamond and bar: their mean and its 95% "
        "Student-t interval; orange plus: the single-seed value the sweep ranked the trial by "
        "(how far it sits above the mean is the optimism of the pick). Green bands: the "
        "configurations in the best set; dashed pink line: the classic "
        "configuration's mean over its seeds.",
        lambda: seeds.figure(conf), "No configuration has a finished re-run.")
    return s


def _search(r: _Report) -> Section:
    s = Section("search", "How the search went")
    s.blocks += r.figure(
        "history", "Optimisation history",
        "Validation accuracy of each completed trial in the order trials started, with the "
        "best so far as a step line; the 5 best are numbered. " + _ZOOM,
        lambda: F.optimisation_history(r.data), "No finished trial yet.")
    s.blocks += r.figure(
        "sampler", "Where the sampler looked, in trial order",
        "Each setting's sampled value against the trial number, for every finished trial "
        "(completed filled, pruned hollow, failed and diverged crossed); the best completed "
        "trials are numbered. A band that narrows shows the sampler converging; the early, "
        "spread-out trials are its random start-up.",
        lambda: views.sampler_trace(r.data), "")
    s.blocks += r.figure(
        "timeline", "Timeline of the workers",
        "One row per worker process (host:pid, from each trial's user attributes), one bar "
        "per trial from its start to its end, coloured by outcome and numbered where wide "
        "enough; failed and diverged trials are hatched.",
        lambda: views.timeline(r.data), "")
    s.blocks += _expected_best(r)
    s.blocks += r.figure(
        "learning_curves", "Learning curves",
        "Validation accuracy after each epoch, from each trial's history.csv. Pruned and "
        "diverged trials end early (marker at the last epoch, on the floor when below the "
        "axis); the selected trial is in bold green, the classic configuration in pink.",
        lambda: F.learning_curves(r.data), "No learning curves: no trial has a history.csv.")
    s.blocks += r.figure(
        "cost", "Cost",
        "Accuracy against training time (of the trial's run, all epochs) and against the "
        "network's parameter count. The Pareto front joins the trials that no cheaper trial "
        "beats. " + _rings(r) + " " + _ZOOM,
        lambda: F.cost(r.data), "No cost plots: no completed trial records time or size.")
    return s


def _expected_best(r: _Report) -> list[Block]:
    """How many trials were needed: the expected best of n trials, from independent ones."""
    a = r.analysis
    if a is None or not a.exploration:
        return [Notes([f"How many trials were needed (the expected best of n trials, Dodge et "
                       f"al. 2019) is read from independent trials; this study's are not (its "
                       f"{r.data.settings.sampler} sampler learns from earlier trials, its "
                       f"{r.data.settings.pruner} pruner stops some). "
                       f"`{findings.explore_command(r.data, r.out)}` runs a study whose "
                       "trials are."])]
    source = a.source
    n = len(source.completed)
    where = "this study" if a.own else f"the exploration study '{source.name}'"
    return r.figure(
        "expected_best", "Expected best of n trials",
        f"For each budget n, the expected best validation accuracy of n trials drawn at "
        f"random from the {n} completed trials of {where} (quasi-random or random points, "
        "none pruned), with one standard deviation (Dodge et al. 2019, 'Show your work'); "
        "the dashed line is the classic configuration, the budget-1 reference. It is exact "
        "for the distribution of these trials and estimates random search's curve; a TPE "
        "study would reach a level sooner.",
        lambda: views.expected_best(source), "")


def _rings(r: _Report) -> str:
    """Which trials the cost figure rings: the tied set when confirmed, else the best."""
    tied, conf = r.data.tied, r.data.confirmation
    if tied is None:
        return "Green rings: the single best trial (not checked against seed noise)."
    numbers = tied["number"]
    return (f"Green rings: {findings.trial_list(numbers)}, the best set "
            f"over {findings.seeds_behind(conf, numbers)} (see Seed noise), not the single "
            f"best trial; trial {conf.recommended}, chosen by the rule \"{conf.rule['text']}\" "
            "over the re-runs, is the recommended one. The x-axis is each trial's single "
            "training in the sweep, measured while other trials shared the machine, so it "
            "can differ from the re-runs' times.")


def _best_failures(r: _Report) -> Section:
    s = Section("failures-of-best", "How the selected model fails")
    best = r.best
    if best is None:
        s.blocks.append(Notes([r.best_note]))
        return s
    s.blocks.append(Text(f"Trial {best.number}, the selected trial ({r.data.best_reason}), "
                         f"on the test set ({r.test_n or '?'} images). This failure "
                         "analysis uses the test set for this one model only, after it was "
                         "chosen; nothing here chooses anything."))
    s.blocks += r.figure("best_confusion", "Confusion matrix of the selected trial",
                         "Counts per cell; colour by the share of the true class.",
                         lambda: B.confusion_figures(best, r.figures, vector=r.vector),
                         "No confusion matrix in the selected trial's metrics.json.")
    s.blocks += r.figure("best_per_class", "Per-class recall and precision",
                         "On the test set: recall is the share of a class's test images "
                         "classified right (measured on that class's images), precision the "
                         "share of the images predicted as the class that are it (measured "
                         "on the images so predicted); each with its 95% Wilson interval "
                         "over those images. Points, not bars: the axis is zoomed to the "
                         "intervals, its range in the axis label. Dashed: the test accuracy "
                         "over all classes.",
                         lambda: B.per_class_figure(best),
                         "No per-class report in the selected trial's metrics.json.")
    table = findings.confused_table(best.most_confused[:5])
    if table is not None:
        s.blocks.append(table)
    examples, why = B.confused_examples(best)
    s.blocks += r.figure("best_confused_examples", "Most-confused pairs, with examples",
                         "Test images of the selected model's most frequent mistakes, the "
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
    _glance, _sample, _importance, _effects, _best_trials, _seed_noise, _search, _best_failures,
    _failures)


# ------------------------------------------------------------------ facts and findings

def _retried_fact(data) -> str:
    """``; 2 lost and retried (trial 0 as 6, trial 3 as 7)``, or ""."""
    lost = data.trials[data.trials["retried_as"].notna()]
    if lost.empty:
        return ""
    links = ", ".join(f"trial {int(n)} as {int(m)}"
                      for n, m in zip(lost["number"], lost["retried_as"], strict=True))
    return f"; {len(lost)} lost and retried ({links})"


def _facts(r: _Report) -> list[tuple[str, str]]:
    data, c, settings = r.data, r.data.counts, r.data.settings
    config = settings.config
    epochs = config.training.epochs
    facts = [
        ("Trials", f"{c.finished} finished: {c.complete} completed, {c.pruned} pruned "
                   f"({int(data.trials['diverged'].sum())} of them diverged), "
                   f"{c.failed} failed" + (f"; {c.running} running" if c.running else "")
                   + _retried_fact(data)),
        ("Dataset", config.data.dataset + (f", first {config.data.train_limit} training "
                                           "images" if config.data.train_limit else "")),
        ("Budget", f"{epochs} epoch{'' if epochs == 1 else 's'} per trial; "
                   f"sampler {settings.sampler}, pruner {settings.pruner}"),
        ("Search space", "; ".join(f"{p.name} {p.range_text()}" for p in data.params)
         or "(empty)"),
    ]
    if settings.space.fixed:
        facts.append(("Fixed for the study", ", ".join(f"{k} = {short(v)}"
                                                       for k, v in settings.space.fixed)))
    row = data.best
    if row is not None:
        facts.append(("Selected", _selected_text(data)))
        facts.append(("Seed noise", _seed_fact(r)))
    return facts


def _selected_text(data) -> str:
    """The selected trial: over seeds when confirmed, else its one seed."""
    row = data.best
    conf = data.confirmation
    if data.recommended is not None:
        over = conf.row(int(row["number"]))["best_val"]
        pick = data.pick
        return (f"trial {int(row['number'])}, recommended by `sweep confirm`: validation mean "
                f"{pct(over['mean'])} over {over['n']} seeds"
                + (f" (95% t-interval {pct(over['low'])}–{pct(over['high'])})"
                   if over.get("low") is not None else "")
                + f"; what the sweep alone said: trial {int(pick['number'])} at "
                f"{pct(pick['value'])} on one seed")
    return (f"trial {int(row['number'])}: validation {pct(row['value'])}, test "
            f"{pct(row['test_accuracy'])} (one seed), not checked against seed noise")


def _seed_fact(r: _Report) -> str:
    conf = r.data.confirmation
    if conf is None:
        return f"not checked: run `{findings.confirm_command(r.data)}`"
    return (f"best set {findings.trial_list(conf.tied)} over "
            f"{findings.seeds_behind(conf, conf.tied)}; recommended: trial {conf.recommended}")


def _key_findings(r: _Report) -> list[str]:
    data, best = r.data, r.best
    if data.best is None:
        return ["No completed trial yet: nothing to compare."]
    out = [_best_finding(r), seeds.glance(data)]
    if r.analysis is not None:
        out.append(_settings_finding(r.analysis))
    if len(data.completed) >= 3 and data.varied:
        top = findings.top_trials(data.completed)
        parts = [f"{p.name} {findings.values_text(p, top)}" for p in data.varied]
        out.append(f"Where the top {len(top)} of the {len(data.completed)} completed trials "
                   "lie: " + "; ".join(parts) + ".")
    if best is not None and best.most_confused:
        pairs = ", ".join(f"{p['true']}→{p['predicted']} ({p['count']}×)"
                          for p in best.most_confused[:3])
        acc = (best.per_class or {}).get("accuracy")
        out.append(f"The selected model's most frequent test mistakes: {pairs}"
                   + (f"; test accuracy {acc:.2%}." if acc is not None else "."))
    return out


def _settings_finding(a: Analysis) -> str:
    """Which settings matter, in one sentence, with the trials behind it."""
    if not a.tested:
        return (f"Which settings matter is not stated: {a.n} completed, converged trials are "
                "fewer than the test needs (see Which settings matter).")
    stated = a.effects.stated
    if not stated:
        return (f"No setting is shown to matter on {a.sample} (permutation test, family-wise "
                "5%, and no effect stated that rests on a single trial).")
    order = [name for name in a.ranking() if name in stated]
    return (f"Settings shown to matter on {a.sample} (permutation test, family-wise 5%: "
            "measured 1.5-4.9% when no setting matters and at most 6.6% beside a real "
            "effect, docs/statistics.md), most "
            "important first: " + ", ".join(order) + ".")


def _best_finding(r: _Report) -> str:
    """The best trial, and how the classic configuration compares with it."""
    data = r.data
    row, classic = data.best, data.classic
    values = ", ".join(f"{p.name}={p.text(row[p.column])}" for p in data.params)
    text = f"Selected: {_selected_text(data)}; it uses {values}."
    if classic is None:
        return text
    outside = data.settings.space.classic_outside()
    if outside:  # trial 0 sampled what the space cannot hold: say so before naming it
        text += (f" (The classic configuration is trial {int(classic['number'])} only as far "
                 f"as this study's space holds it: {outside} is outside the space, so that "
                 "trial sampled it.)")
    if int(classic["number"]) == int(row["number"]):
        return text + " That is the classic configuration."
    if classic["state"] != "COMPLETE":
        return text + (f" The classic configuration (trial {int(classic['number'])}) did not "
                       f"complete ({S.outcome(classic)}).")
    conf = data.confirmation
    mine = conf.row(int(row["number"])) if data.recommended is not None else None
    theirs = conf.row(int(classic["number"])) if mine is not None else None
    if mine is not None and theirs is not None:
        a, b = mine["best_val"], theirs["best_val"]
        return text + (f" The classic configuration (trial {int(classic['number'])}) averaged "
                       f"{pct(b['mean'])} over the same {b['n']} seeds, against "
                       f"{pct(a['mean'])}: those seeds chose the selected one, so their "
                       "difference flatters it; the fresh seeds' comparison is below.")
    gap = row["value"] - classic["value"]
    return text + (f" The classic configuration (trial {int(classic['number'])}) reached "
                   f"{pct(classic['value'])}: {points(gap)}, each with one seed.")

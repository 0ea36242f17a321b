"""The report's words: per-setting summaries, warnings, and the tables.

Tables come back as a header and rows of text, ready for HTML or Markdown.
Accuracies arrive as fractions; `pct`, `points` and `ci` write them in percent. Where
the study has seed-noise results (``sweep confirm``), the best ranges, the edge warnings
and the top table go by the trials in the best set over seeds (`StudyData.tied`), not by
the single best trial; where it has none, they say that nothing has checked the ranking.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..execution.request import problem_flags
from ..statistics.effects import MIN_TRIALS
from ..study.param import Param
from ..study.space import default_space
from ..text import short
from . import style as S
from .analysis import (
    GAP,
    Confirmation,
    StudyData,
    completed,
    concentration,
    failed_or_diverged,
    finished,
    ranked,
    unexplored,
    wilson,
)
from .effects import Analysis, effect_cells, importance_table

EDGE = 0.075  # the outer share of a range (on the sampled scale) that counts as its edge
FAIL_SHARE = 0.15  # warn when at least this share of finished trials failed or diverged


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    highlight: list[str] | None = None  # per row: "", "best" or "classic"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=self.columns)


def pct(v, digits: int = 2) -> str:
    """A fraction in percent: 0.98765 -> 98.77%."""
    return "–" if v is None or not np.isfinite(v) else f"{v:.{digits}%}"


def points(difference: float, spec: str = "+.2f") -> str:
    """A difference of two fractions in percentage points: 0.0123 -> +1.23 points."""
    return f"{difference * 100:{spec}} points"


def ci(p: float, n: int) -> str:
    """The 95% Wilson interval of an accuracy measured on n images, in percent."""
    lo, hi = wilson(p, n)
    return f"95% CI {lo * 100:.1f}–{hi * 100:.1f}%"


def confirm_command(data: StudyData) -> str:
    """The command that checks the study's top trials against seed noise."""
    return f"python -m sweep confirm {data.results.paths.flags()}"


def trial_list(numbers) -> str:
    """[3] -> ``trial 3``; [3, 1] -> ``trials 3, 1``."""
    numbers = [int(n) for n in numbers]
    if len(numbers) == 1:
        return f"trial {numbers[0]}"
    return "trials " + ", ".join(map(str, numbers))


def seeds_text(n) -> str:
    """``5 seeds``, ``1 seed``; a list of counts: ``5 seeds`` or ``3–5 seeds``."""
    counts = sorted({int(k) for k in (n if isinstance(n, list | tuple | set) else [n])})
    if len(counts) > 1:
        return f"{counts[0]}–{counts[-1]} seeds"
    return f"{counts[0]} seed{'' if counts[0] == 1 else 's'}"


def seeds_behind(conf: Confirmation, trials) -> str:
    """How many seeds stand behind the means of these configurations."""
    ns = [int(r["best_val"]["n"]) for r in map(conf.row, trials) if r is not None]
    return seeds_text(ns or [conf.seeds])


def standing(conf: Confirmation, trial: int) -> str:
    """A configuration's place in the seed-noise verdict, in words."""
    words = []
    row = conf.row(trial)
    if trial == conf.best_mean:
        words.append("best mean")
    if row is not None:
        words.append({"equivalent to the best within the margin":
                      "equivalent to the best within the margin", "worse": "worse",
                      }.get(row.get("verdict"), "in the best set, not shown different"))
    if trial == conf.recommended:
        words.append("recommended")
    return "; ".join(words) if words else "not re-trained"


def top_k(n: int) -> int:
    return max(3, math.ceil(0.2 * n))


def top_trials(done: pd.DataFrame) -> pd.DataFrame:
    """The best 20% (at least 3) of the completed trials, best first."""
    return ranked(done).head(min(top_k(len(done)), len(done)))


def values_text(s: Param, rows: pd.DataFrame) -> str:
    """Where a setting lies in some trials: ``64 (3×), 128 (1×)`` or ``0.01–0.3``."""
    if s.categorical:
        counts = rows[s.column].map(short).value_counts()
        return ", ".join(f"{v} ({c}×)" for v, c in counts.items())
    lo, hi = s.text(rows[s.column].min()), s.text(rows[s.column].max())
    return lo if lo == hi else f"{lo}–{hi}"


# ------------------------------------------------------------------ per setting

def setting_summaries(data: StudyData, analysis: Analysis) -> Table:
    """Per setting: its importance, whether its effect beats the permutation null (with the
    size and where the best lies when it does), where the top trials lie, and what range
    holds no trial at all."""
    source = analysis.source
    done, tied = completed(source.trials), data.tied if analysis.own else None
    ranked = analysis.ranking()
    shares = importance_table(analysis).set_index("setting")
    rows = []
    for s in sorted(source.params, key=lambda s: (not s.varies, _rank(ranked, s.name))):
        if not s.varies:
            rows.append([s.name, f"fixed at {s.fixed_text()}", "–", "never varied", "–", "–",
                         "–"])
            continue
        gaps = unexplored(s, done) if len(done) else []
        rows.append([s.name, s.range_text(), _importance_cell(analysis, shares, s.name),
                     *effect_cells(analysis, s.name), _best_range(s, done, tied),
                     "; ".join(gaps) if gaps else "none"])
    imp = analysis.importances
    importance = ("Share of the main-effect variance over the search space (sampled scale) "
                  f"with its {imp.level:.0%} posterior interval, {imp.label}"
                  if imp.mode == "shares" else
                  "Rank by the permutation test's statistic, with its adjusted p-value")
    return Table(["Setting", "Range searched", "Importance", "Effect (permutation test)",
                  "Best values (partial dependence)", "Where the top trials lie",
                  "Not explored (no completed trial)"], rows,
                 caption=f"From {analysis.sample}. {importance}. Effect: the range of the "
                         "setting's partial dependence (the other settings averaged out) in "
                         "accuracy points with its 95% interval, stated only when the "
                         "permutation test, adjusted over the settings (Westfall-Young, "
                         "family-wise 5%), rejects \"no effect\"; best values: where the "
                         "partial dependence is not distinguishable from its best. Where the "
                         "top trials lie: the best 20% (at least 3); " + _after_range(data)
                         + f". Not explored: stretches of at least {GAP:.0%} of the range "
                         "(sampled scale) or choices without a completed trial; nothing "
                         "there is known.")


def _importance_cell(analysis: Analysis, shares: pd.DataFrame, name: str) -> str:
    if name not in shares.index or analysis.n < 5:
        return "–"
    r = shares.loc[name]
    if analysis.importances.mode == "shares":
        return f"{pct(r['share'], 0)} ({pct(r['low'], 0)}–{pct(r['high'], 0)})"
    p = r["p_adjusted"]
    return f"rank {int(r['rank'])}, adjusted p {p:.3f}" if np.isfinite(p) else "–"


def _after_range(data: StudyData) -> str:
    """What the best range names after the top trials' values."""
    tied = data.tied
    if tied is None:
        return ("then the single best trial's value (the ranking of the top trials is not "
                f"checked against seed noise: {confirm_command(data)})")
    numbers = tied["number"]
    return (f"then the values of the trials in the best set over "
            f"{seeds_behind(data.confirmation, numbers)} ({trial_list(numbers)}; see Seed "
            "noise), not that of the single best trial")


def _rank(ranked: list[str], name: str) -> int:
    return ranked.index(name) if name in ranked else len(ranked)


def _best_range(s: Param, done: pd.DataFrame, tied: pd.DataFrame | None) -> str:
    if done.empty:
        return "–"
    top = top_trials(done)
    where = (f"among the top {len(top)}" if s.categorical else f"(top {len(top)})")
    if tied is None:
        return f"{values_text(s, top)} {where}; best trial: {s.text(top.iloc[0][s.column])}"
    return f"{values_text(s, top)} {where}; best set: {values_text(s, tied)}"


# ------------------------------------------------------------------ the sample

SPACE_FILE = "space.toml"  # the study's space as a space file, beside the report

def explore_command(data: StudyData, report_dir: Path | None = None) -> str:
    """The command that runs an exploration study beside this one, of the same problem:
    its studies folder, data, epochs and space (the report writes the space as
    ``space.toml`` when it is not the default one)."""
    settings = data.settings
    space = ""
    if settings.space != default_space():
        folder = report_dir if report_dir is not None else data.results.paths.report
        space = f" --space {shlex.quote(str(folder / SPACE_FILE))}"
    flags = " ".join(shlex.quote(f) for f in problem_flags(settings))
    return (f"python -m sweep run --explore {data.results.paths.flags(data.name + '-explore')} "
            f"--trials {max(len(data.params) * 10, 30)}" + (f" {flags}" if flags else "")
            + space)


def sample_makeup(data: StudyData, report_dir: Path | None = None,
                  analysis: Analysis | None = None) -> list[str]:
    """What the analyses stand on: which trials survived to completion, where the pruner
    stopped the others, where the completed trials crowd, and which parts of the space
    hold no completed trial; then which conclusions only an exploration study can give."""
    t, done = data.trials, data.completed
    c, settings = data.counts, data.settings
    if not c.finished:
        return []
    pruned = t[(t["state"] == "PRUNED") & ~t["diverged"]]
    at = pruned["last_epoch"].dropna().astype(int).value_counts().sort_index()
    where = ", ".join(f"{n} at epoch {e}" for e, n in at.items())
    out = [f"The effects, importances and correlations below use the {len(done)} completed "
           f"trials of {c.finished} finished; the rest were pruned ({len(pruned)}"
           + (f": {where}" if where else "") + f"), diverged "
           f"({int(t['diverged'].sum())}) or failed ({c.failed}). The completed trials are the "
           f"ones the {settings.sampler} sampler proposed and the {settings.pruner} pruner let "
           "run to the end, not a sample of the space: a setting's effect among them is its "
           "effect among survivors."]
    crowded = [f"{s.name} ({text})" for s in data.varied
               if (text := concentration(s, done))]
    if crowded:
        out.append("Where the completed trials crowd (at least 80% at one choice or in one "
                   "third of the range): " + "; ".join(crowded) + ".")
    gaps = [f"{s.name}: {', '.join(g)}" for s in data.varied if (g := unexplored(s, done))]
    if gaps and len(done):
        out.append(f"Not explored (no completed trial among the {len(done)}): "
                   + "; ".join(gaps) + ".")
    biased = settings.sampler != "qmc" or settings.pruner != "none"
    if biased and len(done):
        needs = [s.name for s in data.varied if concentration(s, done) or unexplored(s, done)]
        what = ("Conclusions that need an exploration study (quasi-random points over the "
                "whole space, no pruning): the effect of "
                + (", ".join(needs) if needs else "any setting")
                + " outside where the completed trials lie, and whether the importances "
                "hold there.")
        if analysis is not None and not analysis.own:
            out.append(f"{what} They come from the exploration study "
                       f"'{analysis.source.name}' ({len(analysis.source.completed)} completed "
                       "trials; 'Which settings matter' and 'Which values are best').")
        else:
            out.append(f"{what} `{explore_command(data, report_dir)}` runs one "
                       "(`--explore` is `--sampler qmc --pruner none`).")
    return out


# ------------------------------------------------------------------ warnings

def warnings_for(data: StudyData, analysis: Analysis | None) -> list[str]:
    out = []
    c = data.counts
    done = data.completed
    if c.running:
        out.append(f"The study is still running ({c.running} trial"
                   f"{'s' if c.running != 1 else ''} running): this report covers the "
                   f"{c.finished} finished trials. Run `python -m sweep report "
                   f"{data.results.paths.flags()}` again later to update it.")
    if c.finished == 0:
        out.append("No trial has finished yet: there is nothing to analyse.")
    elif len(done) == 0:
        out.append(f"None of the {c.finished} finished trials completed ({c.pruned} pruned, "
                   f"{c.failed} failed): there is no accuracy to compare settings by.")
    elif len(done) < MIN_TRIALS:
        out.append(f"Only {len(done)} completed trial{'s' if len(done) != 1 else ''} (fewer "
                   f"than the {MIN_TRIALS} the effect test needs): no effect and no importance "
                   "share is stated below, and no trend is drawn. Run more trials.")
    nothing = nothing_learned(data)
    if nothing:
        out.insert(0, nothing)
    if len(done) >= 3:
        out.extend(_edge_warnings(data))
    out.extend(confirm_warnings(data))
    for s in data.params:
        if not s.varies:
            out.append(f"{s.name} never varied (the space fixes it at {s.fixed_text()}): "
                       "it has no measurable effect.")
    bad = int(failed_or_diverged(data.trials).sum())
    if c.finished and bad >= 2 and bad / c.finished >= FAIL_SHARE:
        n_fail = bad - int(data.trials["diverged"].sum())
        text = (f"{bad} of {c.finished} finished trials ({bad / c.finished:.0%}) failed "
                f"({n_fail}) or diverged ({bad - n_fail})")
        region = worst_region(data)
        if region:
            text += f"; most of them where {region}"
        out.append(text + ". See the failures table.")
    if analysis is not None and analysis.unconverged:
        out.append(analysis.notes()[0])
    away = data.results.unreachable_note()
    if away:
        out.append(away)
    return out


CHANCE_SDS = 4  # how many binomial sds above chance level still counts as chance


def nothing_learned(data: StudyData) -> str:
    """A warning to put first when the best trials are within noise of chance level (a
    broken dataset, labels that carry nothing): then no other statement means anything."""
    done = data.completed
    if done.empty:
        return ""
    classes, n_val = _classes_and_val(data)
    if not classes or not n_val:
        return ""
    chance = 1.0 / classes
    sd = math.sqrt(chance * (1 - chance) / n_val)
    best = float(done["value"].max())
    if best > chance + CHANCE_SDS * sd:
        return ""
    return (f"Nothing was learned: the best validation accuracy, {pct(best)}, is within "
            f"{CHANCE_SDS} binomial standard deviations of chance ({pct(chance)} for "
            f"{classes} classes on {n_val} validation images). Check the data (labels that "
            "carry nothing, a broken file) before reading anything below.")


def _classes_and_val(data: StudyData) -> tuple[int, int]:
    """The number of classes and validation images, from the best trial's metrics."""
    from mlp.experiment import read_json

    best = data.best
    try:
        metrics = read_json(data.trial_dir(int(best["number"])) / "metrics.json")
        dataset = metrics.get("dataset") or {}
        return len(metrics.get("classes") or []), int(dataset.get("val") or 0)
    except (OSError, ValueError, TypeError, AttributeError):
        return 0, 0


def _edge_warnings(data: StudyData) -> list[str]:
    """Settings whose best value sits at an edge of the range searched: the value of the
    best trial, or with seed-noise results those of the trials in the best set."""
    tied = data.tied
    leaders = data.leaders
    out = []
    for s in data.varied:
        hits = [(int(r["number"]), s.text(r[s.column]), edge) for _, r in leaders.iterrows()
                if (edge := _edge(s, r[s.column]))]
        if not hits:
            continue
        sides = sorted({h[2] for h in hits})
        side = f"{sides[0]} edge" if len(sides) == 1 else "lower and upper edges"
        if tied is None:
            who = f"the best trial's value {hits[0][1]} sits"
        else:
            values = ", ".join(f"trial {n}: {v}" for n, v, _ in hits)
            who = (f"{len(hits)} of the {len(tied)} trials in the best set over "
                   f"{seeds_behind(data.confirmation, tied['number'])} ({values}) "
                   + ("sits" if len(hits) == 1 else "sit"))
        out.append(f"{s.name}: {who} at the {side} of the range searched {s.range_text()}; "
                   "the optimum may lie outside it: widen the range if the setting allows.")
    return out


def confirm_warnings(data: StudyData) -> list[str]:
    """Seed-noise results that cannot be read, or that no longer cover the top trials."""
    command = confirm_command(data)
    if data.confirm_problem:
        return [f"The seed-noise results could not be read ({data.confirm_problem}); the "
                f"report goes by the single best trial. Run `{command}` again."]
    missing = data.unconfirmed
    if not missing:
        return []
    conf = data.confirmation
    return [f"The seed-noise results ({len(conf.family)} configurations raced over up to "
            f"{seeds_text(conf.seeds)}) do not cover {trial_list(missing)}, now at least as "
            "good on one seed as a configuration raced: the study has grown since they were "
            f"made. Run `{command}` again (it trains only what is missing)."]


def _edge(s: Param, value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if s.categorical and (not s.numeric_choices or len(s.choices) < 3):
        return ""
    p = s.position(value)
    if not np.isfinite(p):
        return ""
    if s.categorical:
        return "lower" if p == 0 else "upper" if p == 1 else ""
    return "lower" if p <= EDGE else "upper" if p >= 1 - EDGE else ""


def failure_table(data: StudyData) -> tuple[Table | None, str]:
    """Failed and diverged trials counted by bins of the setting they concentrate in
    (lr when it was searched); returns the table and the setting's name."""
    df = finished(data.trials)
    bad = failed_or_diverged(df)
    if not bad.any() or not data.varied:
        return None, ""
    s = data.param("lr")
    if s is None or not s.varies:
        s = max(data.varied, key=lambda s: _concentration(s, df, bad)[0])
    bins = s.bins(4)
    idx = s.bin_of(df[s.column], bins)
    looks = (S.COMPLETED, S.PRUNED, S.DIVERGED, S.FAILED)
    rows = []
    for b, label in enumerate(bins.labels):
        m = idx == b
        if m.any():
            rows.append([label, str(int(m.sum())),
                         *(str(int((m & lk.of(df)).sum())) for lk in looks),
                         f"{(m & bad).sum() / m.sum():.0%}"])
    return Table([f"{s.name} bin", "Finished trials", *(lk.word.capitalize() for lk in looks),
                  "Failed or diverged"], rows,
                 caption=f"Failed and diverged trials by {s.name} ({s.unit}"
                         f"{', log bins' if s.log else ''})."), s.name


def _concentration(s: Param, df: pd.DataFrame, bad: pd.Series) -> tuple[float, str]:
    bins = s.bins(4)
    idx = s.bin_of(df[s.column], bins)
    best = (0.0, "")
    for b, label in enumerate(bins.labels):
        m = idx == b
        n_bad = int((m & bad.to_numpy()).sum())
        if n_bad >= 2 and m.sum():
            score = n_bad / m.sum() * n_bad / max(int(bad.sum()), 1)
            if score > best[0]:
                best = (score, f"{s.name} is in {label} ({n_bad} of {int(m.sum())} trials there "
                               "failed or diverged)")
    return best


def worst_region(data: StudyData) -> str:
    df = finished(data.trials)
    bad = failed_or_diverged(df)
    found = [_concentration(s, df, bad) for s in data.varied]
    found = [f for f in found if f[0] > 0]
    return max(found)[1] if found else ""


# ------------------------------------------------------------------ tables

def top_table(data: StudyData, k: int = 10) -> Table | None:
    """The best trials by validation accuracy; with seed-noise results, the trials tied
    with the best mean are highlighted (and listed even when outside the top k), each row
    with its mean over seeds."""
    done = data.completed
    if done.empty:
        return None
    order = ranked(done)
    rank = {int(n): i for i, n in enumerate(order["number"], 1)}
    conf, tied = data.confirmation, data.tied
    top = order.head(k)
    extra = tied[~tied["number"].isin(top["number"])] if tied is not None else top.iloc[:0]
    if len(extra):
        top = ranked(pd.concat([top, extra]))
    leaders = set(data.leaders["number"].astype(int))
    selected = int(data.best["number"])
    rows, marks = [], []
    for _, r in top.iterrows():
        n = int(r["number"])
        label = str(n) + (" (classic)" if r["classic"] else "")
        test = pct(r["test_accuracy"]) if n == selected else "withheld"
        rows.append([str(rank[n]), label, pct(r["value"]), test,
                     *[s.text(r[s.column]) for s in data.params], _int(r["epochs_trained"]),
                     secs(r["train_seconds"]), _count(r["parameter_count"]),
                     *([_over_seeds(conf, n)] if conf is not None else [])])
        marks.append("best" if n in leaders else "classic" if r["classic"] else "")
    names = [s.name for s in data.params]
    return Table(["Rank", "Trial", "Val. accuracy", "Test accuracy", *names, "Epochs",
                  "Train time", "Parameters", *(["Over seeds"] if conf is not None else [])],
                 rows, caption=_top_caption(data, len(top), k), highlight=marks)


def _over_seeds(conf: Confirmation, trial: int) -> str:
    row = conf.row(trial)
    if row is None:
        return "not re-trained"
    b = row["best_val"]
    return f"{pct(b['mean'])} mean of {seeds_text(b['n'])}: {standing(conf, trial)}"


def _top_caption(data: StudyData, shown: int, k: int) -> str:
    done, tied, conf = data.completed, data.tied, data.confirmation
    text = (f"The {min(k, len(done))} best of {len(done)} completed trials by validation "
            "accuracy (each one training with one seed, at its best epoch). Test accuracy "
            f"is shown for the selected trial (trial {int(data.best['number'])}, "
            f"{data.best_reason}) only: shown for every row, it would invite choosing by it "
            "after the fact.")
    if tied is None:
        return text + (" Highlighted: the single best trial. The ranking of these top trials "
                       "has not been checked against seed noise; "
                       f"`{confirm_command(data)}` races the near-best configurations "
                       "and the classic one over paired seeds and names the best set.")
    numbers = list(tied["number"].astype(int))
    text += (f" Highlighted: {trial_list(numbers)}, the best set over "
             f"{seeds_behind(conf, numbers)} (not shown worse than the best at these seeds; "
             "Seed noise section), not the single best trial: their order here is within "
             f"seed noise. Trial {conf.recommended} is recommended (by the rule "
             f"\"{conf.rule['text']}\", costs from the re-runs, not from the single-seed "
             "times of this table, which were measured while other trials shared the "
             "machine). "
             "\"Over seeds\": the mean best-epoch validation accuracy of the re-runs and "
             "the verdict.")
    if shown > min(k, len(done)):
        text += " Best-set trials outside the top rows are added below them."
    return text


def best_vs_classic(data: StudyData, test_n: int | None) -> Table | None:
    best, classic = data.best, data.classic
    if best is None:
        return None
    cols = [("Selected", best)]
    if classic is not None and int(classic["number"]) != int(best["number"]):
        cols.append(("Classic", classic))
    trials = [r for _, r in cols]
    header = ["", *[f"{name} (trial {int(r['number'])}, {S.outcome(r)})" for name, r in cols]]
    blank = [""] if len(cols) == 2 else []
    if len(cols) == 2:
        header.append("Selected − classic")
    val = [r["value"] if r["state"] == "COMPLETE" else np.nan for r in trials]
    test = [r["test_accuracy"] for r in trials]
    seconds = [r["train_seconds"] for r in trials]
    rerun = [data.confirmation.row(int(r["number"])) if data.recommended is not None
             else None for r in trials]
    rerun_seconds = [((x or {}).get("seconds") or {}).get("mean") for x in rerun]
    if all(v is not None for v in rerun_seconds):  # confirm's times, not one loaded run's
        seconds = rerun_seconds
    size = [r["parameter_count"] for r in trials]
    val_cells = [_acc_cell(v, None, r) for v, r in zip(val, trials, strict=True)]
    rows = [["Validation accuracy", *val_cells, *_diff(val, _gap)],
            ["Test accuracy", *[_acc_cell(v, test_n) for v in test], *_diff(test, _gap)],
            ["Training time", *map(secs, seconds), *_diff(seconds, _ratio)],
            ["Parameters", *map(_count, size), *_diff(size, _ratio)],
            ["Epochs trained", *[_int(r["epochs_trained"]) for r in trials], *blank]]
    rows += [[s.name, *[s.text(r[s.column]) for r in trials], *blank] for s in data.params]
    if data.recommended is not None:
        caption = ("The selected trial, the one `sweep confirm` recommends, beside the "
                   "classic configuration (trial 0 of every study). Validation accuracy: "
                   "this training's best epoch, on its one sweep seed; the Seed noise "
                   "section gives each one's mean over seeds, the figure to compare. "
                   "Training time: the mean over confirm's re-runs (their spread and the "
                   "machine-independent parameters x steps are in the Seed noise section). "
                   "Test accuracy: never used to choose.")
    else:
        caption = ("The selected trial, the highest single-seed validation accuracy, beside "
                   "the classic configuration (trial 0 of every study). Validation "
                   "accuracy: one training's best epoch; the selected trial's is the "
                   "highest of many trials, an optimistic pick, so no interval is given "
                   "for it (`python -m sweep confirm` measures it over seeds). Test "
                   "accuracy: never used to choose.")
    if test_n:
        caption += (f" Its interval is a 95% binomial (Wilson) interval over the {test_n:,} "
                    "test images: how precisely the test set measures this one trained "
                    "network, not how much another seed or configuration would change it.")
    outside = data.settings.space.classic_outside()
    if classic is None:
        caption += " This study has no classic trial."
    elif outside:
        caption += (f" Here the classic trial holds the classic values this study's space "
                    f"allows; {outside} is outside the space, so it sampled that.")
    if classic is not None and len(cols) == 1:
        caption += " The classic configuration is the selected trial."
    return Table(header, rows, caption=caption)


def _acc_cell(v: float, n: int | None, trial: pd.Series | None = None) -> str:
    """An accuracy, with its Wilson interval over ``n`` test images when ``n`` is given;
    for a validation accuracy a trial never reached, the last one it reported (``trial``
    given)."""
    if not np.isfinite(v):
        if trial is not None and np.isfinite(trial["last_value"]):
            return (f"{pct(trial['last_value'])} when stopped at epoch "
                    f"{_int(trial['last_epoch'])}")
        return "–"
    return f"{pct(v)} (Wilson {ci(v, n)}, n={n:,} test images)" if n else pct(v)


def _diff(values: list[float], show) -> list[str]:
    """The best − classic cell of a row (none without a classic column)."""
    if len(values) < 2:
        return []
    a, b = values
    return [show(a, b) if np.isfinite(a) and np.isfinite(b) else "–"]


def _gap(a: float, b: float) -> str:
    return points(a - b)


def _ratio(a: float, b: float) -> str:
    return f"×{a / b:.2f}" if b else "–"


def confused_table(pairs: list[dict]) -> Table | None:
    if not pairs:
        return None
    return Table(["True class", "Predicted as", "Test images"],
                 [[str(p["true"]), str(p["predicted"]), str(p["count"])] for p in pairs],
                 caption="The selected model's most frequent mistakes on the test set.")


def _int(v) -> str:
    return "–" if v is None or not np.isfinite(v) else str(int(v))


def secs(v) -> str:
    """Seconds of training: ``0.52 s``, ``12.3 s``, ``1,234 s``."""
    if v is None or not np.isfinite(v):
        return "–"
    return f"{v:.2f} s" if v < 10 else f"{v:.1f} s" if v < 1000 else f"{v:,.0f} s"


def _count(v) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{int(v):,}"

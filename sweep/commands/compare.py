"""``sweep compare A B ...``: studies side by side.

For each study: how it searched (sampler, pruner, dataset, epochs, seed), what it cost
(wall time from its first trial's start to its last trial's end, epochs trained, training
seconds), what it found (its single-seed pick) and what ``sweep confirm`` made of it (the
recommended configuration's mean over seeds, when confirmed). Then, as figures, the best
value so far against finished trials and against wall time (studies that differ only in
their seed are repeats: drawn as a band, their minimum to maximum, around their mean),
and the EDF of each study's completed values; and which settings' effects agree across
the studies (`sweep.report.effects.analyse` on each: the same verdict everywhere, and
for a stated effect, overlapping best regions).

Studies of different samplers, pruners and datasets compare alike; their accuracies are
each on its own validation set, which the page says when the datasets differ. Written as
a page (``index.html`` and ``report.md`` through the report's renderer) or printed as
``-f table|json|csv``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StudyError, UsageError
from ..options import add_arguments as add_options
from ..options import build, from_namespace
from ..study.paths import NAME_RULE, StudyLocation, study_name
from ..study.results import StudyResults, load
from ..text import Column, clock, percent, table, terminal_width

if TYPE_CHECKING:
    from ..report.document import Document, Section

DESCRIPTION = (
    "Studies side by side: how each searched and what it cost (wall time, epochs), what it "
    "found (its pick, and its confirmed best when sweep confirm has run), the best value "
    "so far against trials and against wall time (repeats that differ only in their seed "
    "drawn as a band), the EDF of each study's values, and which settings' effects agree. "
    "Writes a page (index.html and report.md) unless -f asks for a table, JSON or CSV.")
FORMATS = ("report", "table", "json", "csv")
MAX_STUDIES = 20
COLUMNS = ("study", "sampler", "pruner", "dataset", "epochs", "seed", "finished", "complete",
           "pruned", "fail", "epochs_trained", "train_seconds", "wall_seconds", "best_value",
           "best_number", "confirmed_trial", "confirmed_mean", "confirmed_low",
           "confirmed_high", "confirmed_seeds", "confirmed_resplit")
_SCREEN = [Column("study", right=False, keep=100, cut=14), Column("sampler", False, 60),
           Column("pruner", False, 65), Column("dataset", False, 30), Column("epochs", keep=50),
           Column("seed", keep=40), Column("finished", keep=35), Column("complete", keep=20),
           Column("pruned", keep=18), Column("fail", keep=10),
           Column("epochs_trained", keep=80), Column("train_seconds", keep=25),
           Column("wall_seconds", keep=85), Column("best_value", keep=90),
           Column("best_number", keep=45), Column("confirmed_trial", keep=55),
           Column("confirmed_mean", keep=75), Column("confirmed_low", keep=15),
           Column("confirmed_high", keep=15), Column("confirmed_seeds", keep=12),
           Column("confirmed_resplit", keep=11)]


@dataclass(frozen=True, kw_only=True)
class CompareRequest(StudyLocation):
    pass


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="+", metavar="STUDY",
                   help="two or more studies, by name, in --studies-dir (or --storage)")
    add_options(p, CompareRequest, only=("studies_dir", "storage"))
    p.add_argument("-f", "--format", choices=FORMATS, default=None, metavar="FORMAT",
                   help="report (default: a page, index.html and report.md, in --report-dir), "
                        "table (fitted to the terminal), json (everything, effects "
                        "included) or csv (one row per study)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="with -f table, json or csv: write to this file instead of the screen "
                        "(FILE.csv or FILE.json: the format its suffix names)")
    p.set_defaults(screen_format="report")  # -f where neither it nor --out says one
    p.add_argument("--report-dir", default=None, metavar="DIR",
                   help="the page's folder (default: <studies-dir>/compare-A-vs-B...)")


def run(args: argparse.Namespace) -> int:
    request = build(CompareRequest, from_namespace(args, CompareRequest), cli=True)
    names = list(dict.fromkeys(args.names))
    if len(names) < 2:
        raise UsageError(f"STUDY: name at least two different studies (got {len(names)})")
    if len(names) > MAX_STUDIES:
        raise UsageError(f"STUDY: at most {MAX_STUDIES} studies at once (got {len(names)})")
    if args.out and args.format == "report":
        raise UsageError("--out: with -f table, json or csv (the page goes to --report-dir)")
    for name in names:
        try:
            study_name(name)
        except ValueError:
            raise UsageError(f"STUDY {name!r}: {NAME_RULE}") from None
    studies = [load(n, request.studies_dir, request.storage) for n in names]
    if args.format == "report":
        out = Path(args.report_dir) if args.report_dir else \
            Path(request.studies_dir) / folder_name(names)
        from ..report.document import FIGURES_DIR
        from .output import check_export_folder

        # the default folder too (a study may be named compare-A-vs-B), and the figures'
        flag = "--report-dir" if args.report_dir else "the default --report-dir"
        check_export_folder(out, flag)
        check_export_folder(out / FIGURES_DIR, flag)
        index = write_page(studies, out)
        print(screen_table(summary_rows(studies), terminal_width()))
        print(f"report: {index}\n        {index.parent / 'report.md'}")
        return 0
    from .output import emit

    return emit(args, lambda fmt: render(studies, fmt))


def folder_name(names: list[str]) -> str:
    name = "compare-" + "-vs-".join(names)
    if len(name) <= 80:
        return name
    return f"compare-{names[0]}-and-{len(names) - 1}-more-" + hashlib.sha256(
        "\n".join(names).encode()).hexdigest()[:8]


# ------------------------------------------------------------------ the numbers

def summary_row(r: StudyResults) -> dict[str, Any]:
    """One study: its settings, counts, costs, pick and confirmed best."""
    s, c = r.settings, r.counts
    done = [o for o in r.outcomes if o.state == "COMPLETE" and o.value is not None]
    best = min(done, key=lambda o: (-o.value, o.number)) if done else None
    starts = [o.datetime_start for o in r.outcomes if o.datetime_start]
    ends = [o.datetime_complete for o in r.outcomes if o.datetime_complete]
    row = {"study": r.name, "sampler": s.sampler, "pruner": s.pruner,
           "dataset": s.config.data.dataset + (f" (first {s.config.data.train_limit})"
                                               if s.config.data.train_limit else ""),
           "epochs": s.config.training.epochs, "seed": s.seed, "finished": c.finished,
           "complete": c.complete, "pruned": c.pruned, "fail": c.failed,
           "epochs_trained": sum(o.epochs_trained or 0 for o in r.outcomes),
           "train_seconds": sum(o.train_seconds or 0.0 for o in r.outcomes),
           "wall_seconds": (max(ends) - min(starts)).total_seconds() if starts and ends
           else None,
           "best_value": best.value if best else None, "best_number": best.number if best
           else None}
    row.update(dict.fromkeys(("confirmed_trial", "confirmed_mean", "confirmed_low",
                              "confirmed_high", "confirmed_seeds", "confirmed_resplit")))
    conf = confirmed(r)
    if conf is not None:
        rec = next(x for x in conf["configurations"] if x["trial"] == conf["recommended"])
        b = rec["best_val"]
        row.update(confirmed_trial=conf["recommended"], confirmed_mean=b["mean"],
                   confirmed_low=b["low"], confirmed_high=b["high"], confirmed_seeds=b["n"],
                   confirmed_resplit=bool(conf.get("resplit")))
    return row


def confirmed(r: StudyResults) -> dict[str, Any] | None:
    """The study's confirm summary, or None: none, or one that cannot be read or no
    longer describes the study's trials (a warning names it)."""
    from ..study.confirmations import confirmation_of

    try:
        conf = confirmation_of(r)
    except StudyError as exc:
        print(f"warning: {exc}", file=sys.stderr)
        return None
    return conf.summary if conf is not None else None


def summary_rows(studies: list[StudyResults]) -> list[dict[str, Any]]:
    return [summary_row(r) for r in studies]


def group_key(r: StudyResults) -> str:
    """Studies that differ only in their seed (and name) are repeats of one design."""
    s = r.settings.to_dict()
    s.pop("seed", None)
    s["config"]["training"].pop("seed", None)
    return json.dumps(s, sort_keys=True, default=str)


def group_label(r: StudyResults) -> str:
    s = r.settings
    return (f"{s.sampler}/{s.pruner}, {s.config.training.epochs} epochs, "
            f"{s.config.data.dataset}")


def curves(r: StudyResults) -> dict[str, list[float]]:
    """The best completed value after each finished trial, in the order trials finished,
    and when (seconds since the study's first trial started)."""
    finished = sorted((o for o in r.outcomes if o.datetime_complete is not None
                       and o.state in ("COMPLETE", "PRUNED", "FAIL")),
                      key=lambda o: (o.datetime_complete, o.number))
    starts = [o.datetime_start for o in r.outcomes if o.datetime_start]
    t0 = min(starts) if starts else None
    best, values, times = -math.inf, [], []
    for o in finished:
        if o.state == "COMPLETE" and o.value is not None:
            best = max(best, o.value)
        values.append(best if math.isfinite(best) else math.nan)
        times.append((o.datetime_complete - t0).total_seconds() if t0 else math.nan)
    return {"best_so_far": values, "seconds": times}


def completed_values(r: StudyResults) -> list[float]:
    return sorted(o.value for o in r.outcomes if o.state == "COMPLETE" and o.value is not None)


def effects_agreement(studies: list[StudyResults]) -> dict[str, Any]:
    """Per setting, each study's verdict (`analyse`), and whether they agree: the same
    verdict in every study that tested it, and for a stated effect overlapping best
    regions."""
    from ..report.analysis import prepare
    from ..report.effects import analyse

    per: dict[str, dict[str, Any]] = {}
    sources: dict[str, str] = {}
    for r in studies:
        try:
            a = analyse(prepare(r))
        except Exception as exc:  # noqa: BLE001  (a study too small or odd: said so)
            sources[r.name] = f"not analysed ({type(exc).__name__}: {exc})"
            continue
        sources[r.name] = a.sample
        for e in a.effects.effects:
            per.setdefault(e.setting, {})[r.name] = {
                "verdict": e.verdict, "size": _num(e.size), "p_adjusted": _num(e.p_adjusted),
                "direction": e.direction, "best": _plain(e.best_raw),
                "region": [_plain(v) for v in e.region_raw]}
    out = {}
    for setting, by in per.items():
        tested = {k: v for k, v in by.items() if v["verdict"] in ("effect", "no effect shown")}
        verdicts = {v["verdict"] for v in tested.values()}
        if len(tested) < 2:
            agree, why = None, f"tested in {len(tested)} of {len(studies)} studies"
        elif len(verdicts) > 1:
            shown = [k for k, v in tested.items() if v["verdict"] == "effect"]
            agree, why = False, (f"an effect in {', '.join(shown)} only")
        elif verdicts == {"no effect shown"}:
            agree, why = True, "no effect shown in any"
        else:
            regions = [v["region"] for v in tested.values()]
            agree = _overlap(regions)
            why = ("an effect in every study, best regions overlapping" if agree
                   else "an effect in every study, but best regions apart")
        out[setting] = {"studies": by, "agree": agree, "why": why}
    return {"settings": out, "samples": sources}


def _overlap(regions: list[list[Any]]) -> bool:
    try:
        lows = [float(lo) for lo, _ in regions]
        highs = [float(hi) for _, hi in regions]
    except (TypeError, ValueError):  # categorical: the same best choice
        return len({json.dumps(r, default=str) for r in regions}) == 1
    return max(lows) <= min(highs)


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    return None if isinstance(v, float) and not math.isfinite(v) else v


# ------------------------------------------------------------------ table, json, csv

def _cells(row: dict[str, Any]) -> list[str]:
    out = []
    for name in COLUMNS:
        v = row[name]
        if v is None:
            out.append("–")
        elif name in ("best_value", "confirmed_mean", "confirmed_low", "confirmed_high"):
            out.append(percent(v))
        elif name == "wall_seconds":
            out.append(clock(v))
        elif name == "train_seconds":
            out.append(f"{v:.0f}")
        else:
            out.append(str(v))
    return out


def screen_table(rows: list[dict[str, Any]], width: int | None) -> str:
    made = table(_SCREEN, [_cells(r) for r in rows], width)
    return "\n".join([*made.lines, *made.note(width)])


def render(studies: list[StudyResults], fmt: str) -> str:
    from .output import json_ready

    rows = summary_rows(studies)
    if fmt == "json":
        doc = {"studies": rows,
               "curves": {r.name: curves(r) for r in studies},
               "completed_values": {r.name: completed_values(r) for r in studies},
               "groups": groups(studies),
               "effects": effects_agreement(studies)}
        return json.dumps(json_ready(doc), indent=1)
    if fmt == "csv":
        import csv
        import io

        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
        return buf.getvalue()
    return screen_table(rows, terminal_width())


def groups(studies: list[StudyResults]) -> list[dict[str, Any]]:
    by: dict[str, list[StudyResults]] = {}
    for r in studies:
        by.setdefault(group_key(r), []).append(r)
    return [{"label": group_label(members[0]), "studies": [m.name for m in members]}
            for members in by.values()]


# ------------------------------------------------------------------ the page

def write_page(studies: list[StudyResults], out: Path) -> Path:
    from mlp.atomic import write_text

    from ..report import html, markdown, writing_pages

    made = [p for p in (out, out / "figures") if not p.exists()]
    out.mkdir(parents=True, exist_ok=True)
    try:
        with writing_pages(out):
            doc = document(studies, out)
            text = markdown.render(doc).replace(
                "from the study's storage and trial directories; regenerate with `python -m "
                "sweep report`.", "from the studies' storage and trial directories; "
                "regenerate with `python -m sweep compare " + " ".join(r.name for r in studies)
                + "`.")
            write_text(out / "report.md", text)
            return write_text(out / "index.html", html.render(doc, text))
    except BaseException:
        for folder in reversed(made):  # a page that was not written leaves no empty folder
            with suppress(OSError):
                folder.rmdir()
        raise


def document(studies: list[StudyResults], out: Path) -> Document:
    from ..report.document import Document

    names = [r.name for r in studies]
    facts = [("Studies", ", ".join(names)),
             ("Designs", "; ".join(f"{g['label']}: {', '.join(g['studies'])}"
                                   for g in groups(studies)))]
    sections = [_overview(studies), _searches(studies, out), _effects_section(studies)]
    return Document(f"Compare {', '.join(names)}", facts, sections,
                    datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))


def _overview(studies: list[StudyResults]) -> Section:
    """The studies side by side: design, cost, pick and confirmed best."""
    from ..report.document import Notes, Section, Text
    from ..report.findings import Table

    rows = summary_rows(studies)
    overview = Section("studies", "The studies", [
        Text("Each study's design, what it cost and what it found. Wall time runs from its "
             "first trial's start to its last trial's end (the machine's load, and the time "
             "between its runs, are in it); "
             "epochs trained and training seconds are summed over its trials. The pick is "
             "its best completed trial on one seed; the confirmed best is the configuration "
             "`sweep confirm` recommended, with its mean over seeds and 95% t-interval."),
        Table(["Study", "Sampler / pruner", "Dataset, epochs", "Seed", "Finished (completed / "
               "pruned / failed)", "Epochs trained", "Wall time", "Pick (one seed)",
               "Confirmed best (mean over seeds)"],
              [[r["study"], f"{r['sampler']} / {r['pruner']}",
                f"{r['dataset']}, {r['epochs']}", str(r["seed"]),
                f"{r['finished']} ({r['complete']} / {r['pruned']} / {r['fail']})",
                f"{r['epochs_trained']:,}", clock(r["wall_seconds"]),
                (f"{percent(r['best_value'])} (trial {r['best_number']})"
                 if r["best_value"] is not None else "–"),
                (f"{percent(r['confirmed_mean'])} ({percent(r['confirmed_low'])}–"
                 f"{percent(r['confirmed_high'])}, {r['confirmed_seeds']} seeds"
                 + (", each with its own validation split (--resplit)"
                    if r["confirmed_resplit"] else "")
                 + f"; trial {r['confirmed_trial']})" if r["confirmed_mean"] is not None
                 else "not confirmed")] for r in rows])])
    if len({r["dataset"] for r in rows}) > 1:
        overview.blocks.insert(0, Notes([
            "The studies use different datasets: each accuracy is on its own study's "
            "validation set, so values compare across datasets only as rankings of each "
            "study's trials, not as numbers."], "warning"))
    return overview


def _searches(studies: list[StudyResults], out: Path) -> Section:
    """Best so far and the EDFs, drawn into ``out``/figures."""
    from ..report import style as S
    from ..report.document import FigureRef, Notes, Section

    figures = Section("search", "How the searches went")
    for name, title, caption, make in (
            ("best_so_far", "Best so far",
             "The best completed value after each finished trial, against the number of "
             "finished trials (left) and the wall time since the study's first trial "
             "started (right). Studies that differ only in their seed are repeats of one "
             "design: their mean with a band from their lowest to their highest curve; a "
             "single study is a line.", lambda: best_so_far_figure(studies)),
            ("edf", "EDF of the completed values",
             "For each study, the share of its completed trials whose value (best-epoch "
             "validation accuracy, one seed) is at most x: a curve further right found "
             "more good configurations.", lambda: edf_figure(studies))):
        fig = make()
        if fig is None:
            figures.blocks.append(Notes([f"No {title.lower()}: no completed trial."]))
            continue
        png, _ = S.save_figure(fig, out / "figures", name)
        figures.blocks.append(FigureRef(Path(png).relative_to(out).as_posix(), None, title,
                                        caption))
    return figures


def _effects_section(studies: list[StudyResults]) -> Section:
    """Each study's verdict per setting, and whether they agree."""
    from ..report.document import Section, Text
    from ..report.findings import Table

    agreement = effects_agreement(studies)
    names = [r.name for r in studies]
    rows = [[setting, *("–" if a["studies"].get(n) is None else _verdict_cell(a["studies"][n])
                        for n in names),
             {True: "agree", False: "disagree", None: "not comparable"}[a["agree"]]
             + f": {a['why']}"] for setting, a in agreement["settings"].items()]
    return Section("effects", "Which settings' effects agree", [
        Text("Each study's own reading of its settings (the report's method: an additive "
             "surrogate of all settings, a permutation test with the family of settings "
             "adjusted, on the completed, converged trials; nothing is stated below 20 of "
             "them). Settings agree when every study that tested them gives the same verdict "
             "and, for an effect, best regions that overlap. Samples: "
             + "; ".join(f"{k}: {v}" for k, v in agreement["samples"].items()) + "."),
        Table(["Setting", *names, "Across the studies"], rows)])


def _verdict_cell(v: dict[str, Any]) -> str:
    if v["verdict"] == "effect":
        lo, hi = v["region"]
        region = f"; best {lo}–{hi}" if lo is not None and lo != hi else \
            (f"; best {v['best']}" if v["best"] is not None else "")
        return f"effect {v['size'] * 100:.2f} points{region}"
    return v["verdict"]


def _grouped(studies: list[StudyResults]) -> list[tuple[str, list[StudyResults]]]:
    by: dict[str, list[StudyResults]] = {}
    for r in studies:
        by.setdefault(group_key(r), []).append(r)
    return [(group_label(m[0]) + (f" ({len(m)} seeds)" if len(m) > 1 else f": {m[0].name}"), m)
            for m in by.values()]


def best_so_far_figure(studies: list[StudyResults]):
    import numpy as np

    from ..report import style as S

    data = {r.name: curves(r) for r in studies}
    if not any(np.isfinite(v).any() for c in data.values() for v in [c["best_so_far"]]):
        return None
    with S.style():
        fig = S.new_figure(12, 4.8)
        by_trials, by_time = fig.subplots(1, 2, sharey=True)
        colors = [f"C{i}" for i in range(10)]
        for k, (label, members) in enumerate(_grouped(studies)):
            color = colors[k % len(colors)]
            ys = [np.asarray(data[m.name]["best_so_far"], dtype=float) for m in members]
            ts = [np.asarray(data[m.name]["seconds"], dtype=float) / 60 for m in members]
            if len(members) == 1:
                by_trials.step(np.arange(1, len(ys[0]) + 1), ys[0], where="post", color=color,
                               label=label)
                by_time.step(ts[0], ys[0], where="post", color=color, label=label)
                continue
            n = max(len(y) for y in ys)
            grid = np.arange(1, n + 1)
            m = np.vstack([_hold(y, n) for y in ys])
            _band(by_trials, grid, m, color, label)
            tgrid = np.linspace(0, max(np.nanmax(t) for t in ts if len(t)), 200)
            mt = np.vstack([_at_times(t, y, tgrid) for t, y in zip(ts, ys, strict=True)])
            _band(by_time, tgrid, mt, color, label)
        by_trials.set_xlabel("Finished trials")
        by_time.set_xlabel("Wall time (minutes since the first trial started)")
        by_trials.set_ylabel("Best validation accuracy so far (%)")
        S.percent_axis(by_trials.yaxis)
        finite = [v for c in data.values() for v in c["best_so_far"] if math.isfinite(v)]
        low = float(np.quantile(finite, 0.05))
        by_trials.set_ylim(low - 0.001, max(finite) + 0.001)
        by_trials.legend(loc="lower right", fontsize="small")
        fig.suptitle("Best so far, against trials and against wall time")
    return fig


def _hold(y, n: int):
    import numpy as np

    out = np.full(n, np.nan)
    out[:len(y)] = y
    if len(y):
        out[len(y):] = y[-1]
    return out


def _at_times(t, y, grid):
    import numpy as np

    idx = np.searchsorted(t, grid, side="right") - 1
    return np.where(idx >= 0, np.asarray(y)[np.clip(idx, 0, None)], np.nan)


def _band(ax, x, m, color: str, label: str) -> None:
    import warnings

    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column before any completed
        mean, lo, hi = np.nanmean(m, axis=0), np.nanmin(m, axis=0), np.nanmax(m, axis=0)
    ax.fill_between(x, lo, hi, color=color, alpha=0.2, step="post", linewidth=0)
    ax.step(x, mean, where="post", color=color, label=label)


def edf_figure(studies: list[StudyResults]):
    import numpy as np

    from ..report import style as S

    values = {r.name: completed_values(r) for r in studies}
    if not any(values.values()):
        return None
    with S.style():
        fig = S.new_figure(8, 4.8)
        ax = fig.subplots()
        for k, (label, members) in enumerate(_grouped(studies)):
            for j, m in enumerate(members):
                v = np.asarray(values[m.name])
                if len(v) == 0:
                    continue
                ax.step(v, np.arange(1, len(v) + 1) / len(v), where="post", color=f"C{k % 10}",
                        alpha=1.0 if len(members) == 1 else 0.6,
                        label=label if j == 0 else None)
        finite = [x for v in values.values() for x in v]
        ax.set_xlim(float(np.quantile(finite, 0.1)), max(finite) + 0.001)
        ax.set_xlabel("Validation accuracy (%) of a completed trial, one seed")
        ax.set_ylabel("Share of the study's completed trials")
        S.percent_axis(ax.xaxis)
        ax.legend(loc="upper left", fontsize="small")
        fig.suptitle("EDF of the completed trials' values")
    return fig

"""The study report: files, images and links on a real study, and the edge cases.

The real studies are ``python -m sweep run`` on the tiny IDX dataset; the edge
cases that training cannot produce on demand (every trial failed, a trial still
running, a 50-trial study in seconds) are written through Optuna straight into a
study's storage, without trial directories, which the report must also survive.
"""

from __future__ import annotations

import json
import math
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import optuna
import pytest
from matplotlib.ticker import PercentFormatter
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState, create_trial
from PIL import Image

from mlp.config import Config
from sweep.commands.cli import build_parser
from sweep.errors import StudyError
from sweep.report import write_report
from sweep.study.paths import StudyPaths
from sweep.study.results import load
from sweep.study.settings import Settings, create_or_check
from sweep.study.space import Space, load_space
from sweep.study.storage import open_storage
from tests.sweep.conftest import copy_study

# Reports whose tests are about structure, layout or words other than the importance

FIGURES = ("importance", "effects", "interactions", "history", "learning_curves", "cost",
           "best_confusion", "best_per_class", "best_confused_examples", "parallel",
           "sampler", "timeline")


# ------------------------------------------------------------------ helpers

class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.scripts = 0
        self.styles_linked = 0
        self.text: list[str] = []
        self._skip = 0  # inside <style> or <title>

    def handle_endtag(self, tag):
        if tag in ("style", "title"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag in ("style", "title"):
            self._skip += 1
        if tag == "img":
            self.images.append(a.get("src", ""))
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag == "script":
            self.scripts += 1
        elif tag == "link":
            self.styles_linked += 1


def parse_html(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text())
    return p


def report_command(argv: list[str]) -> int:
    """The ``report`` command in this process, parsed by the CLI's own parser."""
    args = build_parser().parse_args(["report", *argv])
    return args.func(args)


def assert_real_png(path: Path) -> None:
    with Image.open(path) as im:
        assert im.format == "PNG", path
        pixels = np.asarray(im.convert("L"), dtype=np.float64)
    h, w = pixels.shape
    assert w >= 300 and h >= 200, (path, w, h)
    assert pixels.std() > 10.0, f"{path} looks blank"


def check_report(report: Path) -> _Links:
    """index.html and report.md exist; every image decodes and is not blank; every image
    and link resolves to a file in the report; no figure failed to draw."""
    index, md = report / "index.html", report / "report.md"
    assert index.is_file() and md.is_file()
    html = index.read_text()
    assert "could not be drawn" not in html, html
    page = parse_html(index)
    assert page.scripts == 0 and page.styles_linked == 0  # one self-contained page
    assert page.images, "no images in index.html"
    for src in page.images:
        assert not urlsplit(src).scheme and not src.startswith("/"), src  # relative only
        assert_real_png(report / unquote(src))
    for href in page.links:
        parts = urlsplit(href)
        assert not parts.scheme and not parts.netloc, href  # nothing on the network
        if href.startswith("#"):
            assert href[1:] in page.ids, href
        else:
            target = report / unquote(parts.path)
            assert target.exists(), href
            if target.suffix == ".svg":
                assert ET.parse(target).getroot().tag.endswith("svg")
    md_text = md.read_text()
    for src in page.images:  # the Markdown refers to the same image files
        assert f"]({src})" in md_text, src
    shown = "".join(page.text)
    for markup in ("`", "**", "](", "![", "\\*"):  # nothing of the Markdown shows raw
        assert markup not in shown, (markup, shown[max(0, shown.find(markup) - 80):][:160])
    return page


def distributions(space: Space) -> dict[str, optuna.distributions.BaseDistribution]:
    out = {}
    for p in space.params:
        if p.type == "int":
            out[p.name] = IntDistribution(int(p.low), int(p.high), log=p.log)
        elif p.type == "float":
            out[p.name] = FloatDistribution(float(p.low), float(p.high), log=p.log)
        else:
            out[p.name] = CategoricalDistribution(list(p.choices))
    return out


def api_study(studies: Path, name: str, space: Space | None = None
              ) -> tuple[optuna.Study, dict, np.random.Generator]:
    """A study created the way ``sweep run`` creates it, to be filled through Optuna."""
    space = space or load_space(None)
    paths = StudyPaths.of(studies, name)
    config = Config().with_overrides({"training.epochs": 4, "data.dataset": "idx",
                                      "data.data_dir": str(studies / "no-data")})
    settings = Settings(config, space)
    study = create_or_check(paths, open_storage(paths.journal), settings, None)
    return study, distributions(space), np.random.default_rng(0)


def sample(dists: dict, rng: np.random.Generator) -> dict:
    params = {}
    for name, d in dists.items():
        if isinstance(d, CategoricalDistribution):
            params[name] = d.choices[rng.integers(len(d.choices))]
        else:
            lo, hi = (math.log(d.low), math.log(d.high)) if d.log else (d.low, d.high)
            v = rng.uniform(lo, hi)
            v = math.exp(v) if d.log else v
            params[name] = int(round(v)) if isinstance(d, IntDistribution) else float(v)
    return params


def add(study: optuna.Study, dists: dict, rng: np.random.Generator, state: TrialState,
        value: float | None = None, epochs: int = 4, **attrs) -> None:
    params = sample(dists, rng)
    curve = {e: (value or 0.5) * (0.8 + 0.2 * e / epochs) for e in range(1, epochs + 1)}
    user = {"train_seconds": float(rng.uniform(1, 30)), "epochs": epochs,
            "parameter_count": int(params.get("hidden_size", 100)) * 795 + 10} | attrs
    if state == TrialState.COMPLETE:
        user |= {"test_accuracy": value - 0.003, "best_epoch": epochs}
    study.add_trial(create_trial(params=params, distributions=dists, value=value, state=state,
                                 user_attrs=user, intermediate_values=curve))


# ------------------------------------------------------------------ a real study

@pytest.fixture(scope="module")
def real_study(sweep_cli, data_args, tmp_path_factory) -> Path:
    """8 trials, 2 workers, 3 epochs, Hyperband pruning: completed and pruned trials."""
    studies = tmp_path_factory.mktemp("report-studies")
    proc = sweep_cli("run", "--trials", 8, "--jobs", 2, "--epochs", 3, *data_args,
                     "--pruner", "hyperband", "--studies-dir", studies, "--study", "real",
                     "--no-report", "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return studies


@pytest.fixture(scope="module")
def real_report(real_study) -> tuple[Path, float]:
    started = time.perf_counter()
    assert report_command(["--study", "real", "--studies-dir", str(real_study), "--svg"]) == 0
    return real_study / "real" / "report", time.perf_counter() - started


def test_report_of_a_real_study_has_every_file(real_report):
    from sweep.report import analyse, prepare

    report, _ = real_report
    data = prepare(load("real", report.parent.parent))
    # the study trains 3 epochs: its trials were still improving, so nothing is ranked
    ranked = analyse(data).n >= 5
    figures = tuple(f for f in FIGURES if ranked or f != "importance")
    for name in figures:
        assert_real_png(report / "figures" / f"{name}.png")
        svg = report / "figures" / f"{name}.svg"
        assert ET.parse(svg).getroot().tag.endswith("svg"), svg
    page = check_report(report)
    trials = data.trials
    pruned = ((trials["state"] == "PRUNED") & (trials["last_epoch"] < 3)).any()
    expected = sorted(figures + (("rungs", "edf") if pruned else ()))
    assert sorted(Path(src).stem for src in page.images) == expected
    assert {"glance", "importance", "effects", "best", "search", "failures-of-best"} <= page.ids


def test_report_answers_the_questions(real_report, real_study):
    report, _ = real_report
    html = (report / "index.html").read_text()
    md = (report / "report.md").read_text()
    results = load("real", real_study)
    best = results.best(1).iloc[0]
    for text in (html, md):
        assert f"trial {int(best['number'])}" in text
        assert f"{best['value'] * 100:.2f}%" in text
        assert "Which settings matter is not stated" in text or "shown to matter" in text
        if best["classic"]:
            assert "That is the classic configuration" in text
        else:
            assert "Classic (trial 0" in text
        assert "Where the top trials lie" in text
        assert "most frequent test mistakes" in text
    # the figures come in reading order: what is best, the search, the failures
    order = [html.index(f"figures/{n}.png") for n in ("effects", "history",
                                                      "best_confusion")]
    assert order == sorted(order)


def test_report_of_a_missing_study_is_a_study_error(tmp_path):
    with pytest.raises(StudyError, match="no study named 'nope'"):
        report_command(["--study", "nope", "--studies-dir", str(tmp_path)])
    assert not (tmp_path / "nope").exists()


def test_regenerated_without_the_data_the_examples_are_skipped_with_a_note(
        real_report, real_study, capsys):
    """Run last on the real study: the report is rewritten in place, and a best trial
    whose dataset cannot be loaded loses its example images, not the report."""
    report, _ = real_report
    results = load("real", real_study)
    config = Path(results.best(1).iloc[0]["experiment_dir"]) / "config.json"
    original = config.read_text()
    before = (report / "figures" / "effects.png").stat().st_mtime_ns
    try:
        config.write_text(original.replace('"data_dir": "', '"data_dir": "/nonexistent'))
        assert report_command(["--study", "real", "--studies-dir", str(real_study)
                               ]) == 0
    finally:
        config.write_text(original)
    assert "report: " in capsys.readouterr().out
    assert (report / "figures" / "effects.png").stat().st_mtime_ns >= before
    html = (report / "index.html").read_text()
    assert "Example images skipped" in html
    assert "figures/best_confused_examples.png" not in html
    assert not (report / "figures" / "best_confused_examples.png").exists()  # stale: removed
    check_report(report)
    assert not list(report.rglob("*.tmp*")), "temporary files left behind"


# ------------------------------------------------------------------ edge cases

def test_report_of_a_one_trial_study(sweep_cli, data_args, tmp_path):
    proc = sweep_cli("run", "--trials", 1, "--jobs", 1, "--epochs", 1, *data_args,
                     "--studies-dir", tmp_path, "--study", "one", "--no-report", "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    index = write_report(load("one", tmp_path))
    check_report(index.parent)
    html = index.read_text()
    assert "Only 1 completed trial" in html
    assert "That is the classic configuration" in html


def test_report_with_a_fixed_setting_and_an_extra_one(sweep_cli, data_args, tmp_path):
    space = tmp_path / "space.toml"
    space.write_text("[params.hidden_size]\nhigh = 256\n\n"
                     "[params.dropout]\nlow = 0.3\nhigh = 0.3\n\n"
                     "[params.momentum]\ntype = \"float\"\nlow = 0.5\nhigh = 0.99\n\n"
                     "[fixed]\nl2 = 0.0001\n")
    proc = sweep_cli("run", "--trials", 4, "--jobs", 2, "--epochs", 1, *data_args,
                     "--space", space, "--pruner", "none", "--no-plots", "--studies-dir",
                     tmp_path, "--study", "spaced", "--no-report", "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = load("spaced", tmp_path)
    assert "momentum" in results.param_names and "l2" not in results.param_names
    index = write_report(results)
    check_report(index.parent)
    html = index.read_text()
    assert "momentum" in html
    assert "dropout never varied" in html
    assert "l2 = 1.0e-04" in html  # the fixed setting is listed with the study's facts


def test_report_when_every_trial_failed_or_was_pruned(tmp_path):
    study, dists, rng = api_study(tmp_path, "broken")
    for k in range(6):
        add(study, dists, rng, TrialState.FAIL, reason="RuntimeError: boom")
        add(study, dists, rng, TrialState.PRUNED, value=None, diverged=k % 2 == 0,
            reason="diverged at epoch 1" if k % 2 == 0 else "pruned at epoch 2")
    index = write_report(load("broken", tmp_path))
    page = check_report(index.parent)
    html = index.read_text()
    assert "None of the 12 finished trials completed" in html
    assert "failed (6) or diverged (3)" in html
    assert "Failed and diverged trials" in html and "boom" in html
    # pruned trials are drawn where they stopped, failed ones on the bottom edge; there
    # are no learning curves without trial directories, and nothing to rank settings by
    stems = {Path(s).stem for s in page.images}
    assert "history" in stems
    assert not {"learning_curves", "importance", "cost", "effects"} & stems


def test_report_with_no_trial_finished(tmp_path):
    api_study(tmp_path, "empty")  # only the classic trial, still waiting
    index = write_report(load("empty", tmp_path))
    html = index.read_text()
    assert "No trial has finished yet" in html
    assert "could not be drawn" not in html


def test_report_of_a_study_still_running(tmp_path):
    study, dists, rng = api_study(tmp_path, "running")
    for _ in range(5):
        add(study, dists, rng, TrialState.COMPLETE, value=float(rng.uniform(0.8, 0.97)))
    study.ask()  # takes the waiting classic trial: RUNNING, as if a worker had it
    add(study, dists, rng, TrialState.PRUNED, value=None)
    results = load("running", tmp_path)
    assert results.counts.running == 1
    index = write_report(results)
    check_report(index.parent)
    html = index.read_text()
    assert "still running (1 trial running)" in html
    assert "Only 5 completed trials" in html


def test_report_of_fifty_trials_without_a_classic_trial(tmp_path):
    study, dists, rng = api_study(tmp_path, "fifty")
    for _ in range(40):
        params_score = float(rng.uniform(0.85, 0.98))
        add(study, dists, rng, TrialState.COMPLETE, value=params_score)
    for _ in range(8):
        add(study, dists, rng, TrialState.PRUNED, value=None)
    for _ in range(2):
        add(study, dists, rng, TrialState.PRUNED, value=None, diverged=True)
    index = write_report(load("fifty", tmp_path))  # its CPU time: benchmarks/bench_report.py
    page = check_report(index.parent)
    stems = {Path(s).stem for s in page.images}
    assert {"importance", "effects", "interactions", "history", "cost"} <= stems
    html = index.read_text()
    assert "This study has no classic trial" in html  # the classic trial never ran
    assert "Which settings matter" in html and "optuna-dashboard ranks" in html
    # the values are noise: whether the test errs on one seed is the calibration tests' job
    assert "not tested" not in html


def test_report_with_extra_settings_of_every_kind(tmp_path):
    """An int with few values, a string choice and a float beyond the default five: each
    gets its effect panel, its row in the settings table and its place in the analysis."""
    space_file = tmp_path / "space.toml"
    space_file.write_text("[params.hidden_layers]\ntype = \"int\"\nlow = 1\nhigh = 3\n\n"
                          "[params.schedule]\nchoices = [\"cosine\", \"step\", \"constant\"]\n\n"
                          "[params.momentum]\ntype = \"float\"\nlow = 0.5\nhigh = 0.99\n")
    space = load_space(space_file)
    study, dists, rng = api_study(tmp_path, "extra", space)
    for k in range(24):
        add(study, dists, rng, TrialState.COMPLETE, value=float(rng.uniform(0.6, 0.97)))
        if k % 4 == 0:
            add(study, dists, rng, TrialState.PRUNED, value=None, diverged=k % 8 == 0)
    index = write_report(load("extra", tmp_path))
    page = check_report(index.parent)
    assert {"importance", "effects", "interactions", "history", "cost"} <= {
        Path(s).stem for s in page.images}
    md = (index.parent / "report.md").read_text()
    for name in ("hidden_size", "dropout", "l2", "lr", "batch_size", "hidden_layers",
                 "schedule", "momentum"):
        assert f"| {name} |" in md, name  # its row in the settings table


# ------------------------------------------------------------------ zoomed accuracy axes

def test_accuracy_axis_zooms_past_trials_stopped_early():
    """Completed trials at 97-98.7% and two pruned after an epoch at 28% and 74%: the axis
    spans the completed trials, not 20-100%, and the early ones fall below it (accuracies
    are fractions)."""
    from sweep.report.analysis import acc_limits

    done = np.linspace(0.9699, 0.9870, 23)
    lo, hi = acc_limits(done, [0.281, 0.738, 0.951, 0.982])
    assert 0.960 < lo < 0.9699 and 0.9870 < hi < 0.992, (lo, hi)
    assert hi - lo < 0.10


def test_accuracy_axis_edge_cases():
    from sweep.report.analysis import acc_limits, robust_range

    assert acc_limits([]) == (0.0, 1.0)
    assert acc_limits([np.nan], [np.nan]) == (0.0, 1.0)
    lo, hi = acc_limits([0.985])  # one trial: a narrow axis around it
    assert lo < 0.985 < hi and 0.010 <= hi - lo < 0.03
    lo, hi = acc_limits([], [0.280, 0.950, 0.955, 0.960, 0.962])  # all pruned: they decide
    assert 0.94 < lo < 0.95 and 0.962 < hi < 0.97
    wide = np.linspace(0.60, 0.97, 24)  # a genuinely wide study keeps every completed trial
    assert acc_limits(wide)[0] < 0.60 and robust_range(wide) == (0.60, 0.97)
    lo, _ = acc_limits(np.r_[np.linspace(0.97, 0.987, 20), 0.11])  # a completed outlier
    assert lo > 0.90
    lo, hi = acc_limits([0.992, 0.996, 1.0])  # never far past 100%
    assert lo < 0.992 and 1.0 <= hi <= 1.001


@pytest.fixture(scope="module")
def zoom_study(tmp_path_factory) -> Path:
    """20 completed trials at 97-98.7% and one at 40%, six pruned after one of 4 epochs at
    28-96%, a failed and a diverged one (written through Optuna, no trial directories)."""
    studies = tmp_path_factory.mktemp("zoom-studies")
    study, dists, rng = api_study(studies, "zoom")
    for value in (*np.linspace(0.97, 0.987, 20), 0.40):
        add(study, dists, rng, TrialState.COMPLETE, value=float(value))
    for value in (0.28, 0.74, 0.91, 0.93, 0.95, 0.96):
        params = sample(dists, rng)
        study.add_trial(create_trial(params=params, distributions=dists,
                                     state=TrialState.PRUNED, intermediate_values={1: value},
                                     user_attrs={"reason": "pruned at epoch 1"}))
    add(study, dists, rng, TrialState.FAIL, reason="RuntimeError: boom")
    add(study, dists, rng, TrialState.PRUNED, value=None, diverged=True)
    return studies


def _floor_points(ax) -> int:
    """Markers drawn on the axis floor (in axes coordinates, below the data)."""
    from sweep.report import style

    n = 0
    for c in ax.collections:
        offsets = np.asarray(c.get_offsets())
        if len(offsets) and c.get_offset_transform() == ax.get_xaxis_transform():
            n += int(np.sum(np.isclose(offsets[:, 1], style.FLOOR)))
    return n


def test_accuracy_figures_zoom_on_the_completed_trials(zoom_study):
    from sweep.report import figures, prepare

    data = prepare(load("zoom", zoom_study))
    history, cost = figures.optimisation_history(data), figures.cost(data)
    for fig in (history, cost):
        axes = [ax for ax in fig.axes if ax.get_ylabel() and ax.axison]
        assert axes
        for ax in axes:
            lo, hi = ax.get_ylim()
            assert 0.955 < lo < 0.970 and 0.987 < hi < 0.995, (fig.get_suptitle(), lo, hi)
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        # only completed trials have an accuracy on these axes: pruned ones are on the floor
        # with their own marker, not "below" it
        assert any(t.startswith("below ") and t.endswith("(1 completed)") for t in labels), \
            labels
        if fig is not cost:
            assert "pruned (no final accuracy: on the floor)" in labels, labels
        for ax in axes:  # cost: the outlier; else also the pruned, the failed, the diverged
            assert _floor_points(ax) == (1 if fig is cost else 9)
    assert len(history.axes) == 1  # one outlier is no reason for a second, zoomed panel


def test_interaction_colours_span_the_cells(zoom_study):
    """Only cells with at least MIN_SUPPORT trials get a colour; the colours span those
    cells, not the outlier; the best trial's cell is outlined in every heatmap."""
    from sweep.report import analyse, figures, prepare
    from sweep.report.analysis import MIN_SUPPORT, interaction_grid, interaction_pairs

    data = prepare(load("zoom", zoom_study))
    pairs = interaction_pairs(data, analyse(data).ranking())
    fig = figures.interactions(data, pairs)
    meshes = [c for ax in fig.axes for c in ax.collections if c.get_array() is not None]
    assert meshes and min(m.get_clim()[0] for m in meshes) > 0.95  # not down to the outlier
    assert all(m.get_clim() == meshes[0].get_clim() for m in meshes)  # one scale for all
    heatmaps = [ax for ax in fig.axes if " × " in ax.get_title()]
    nb = int(np.clip(round(math.sqrt(len(data.completed)) / 1.5), 3, 5))
    for ax, (a, b) in zip(heatmaps, pairs, strict=True):
        mean, count, _, _ = interaction_grid(a, b, data.completed, nb)
        mesh = next(c for c in ax.collections if c.get_array() is not None)
        masked = np.ma.getmaskarray(mesh.get_array()).reshape(count.shape)
        assert (masked == (count < MIN_SUPPORT)).all(), (count, masked)
        assert len([p for p in ax.patches if p.get_hatch()]) == \
            int(((count > 0) & (count < MIN_SUPPORT)).sum())
        shown = mean[count >= MIN_SUPPORT]
        if (shown < mesh.get_clim()[0]).any():
            assert mesh.colorbar is None or mesh.colorbar.extend == "min"
    outlined = [ax for ax in heatmaps
                if any(type(p).__name__ == "Rectangle" and not p.get_fill() and not p.get_hatch()
                       for p in ax.patches)]
    assert heatmaps and outlined == heatmaps  # the best trial's cell, in every heatmap


def test_prepared_trials_are_the_records_table_with_fractions(zoom_study):
    """The report reads the trials table under its own names (no derived copies), with
    Optuna's states, the diverged flag and accuracies as fractions."""
    from sweep.report import prepare

    results = load("zoom", zoom_study)
    data = prepare(results)
    assert list(data.trials.columns) == list(results.trials.columns)
    assert data.settings is results.settings
    assert [p.name for p in data.params] == results.param_names
    assert data.param("lr") == results.settings.space.param("lr")
    assert data.trial_dir(3) == results.trial_dir(3)
    done = data.completed
    assert len(done) == 21 and (done["state"] == "COMPLETE").all()
    assert done["value"].between(0, 1).all() and data.best["value"] == done["value"].max()
    assert set(data.trials["state"]) == {"COMPLETE", "PRUNED", "FAIL"}
    assert int(data.trials["diverged"].sum()) == 1


# ------------------------------------------------------------------ seed noise

def _pct(v) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v * 100:.2f}%"


def _signed(v) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v * 100:+.2f}"


def _p(v) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.3g}"


def _trials(numbers) -> str:
    numbers = list(numbers)
    return f"trial {numbers[0]}" if len(numbers) == 1 else "trials " + ", ".join(map(str, numbers))


def md_section(md: str, title: str) -> str:
    """The Markdown of one section, from its heading to the next."""
    start = md.index(f"\n## {title}\n")
    end = md.find("\n## ", start + 1)
    return md[start:end if end >= 0 else len(md)]


def md_tables(text: str) -> list[list[list[str]]]:
    """The Markdown tables in ``text``: rows of cells (header first), bold removed."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            if not line.startswith("|---"):
                current.append([c.strip().strip("*") for c in line.strip("|").split(" | ")])
        elif current:
            tables.append(current)
            current = []
    return tables


@pytest.fixture(scope="module")
def confirmed_study(five_trial_study, sweep_cli, tmp_path_factory) -> Path:
    """A real 5-trial study (2 epochs, small networks; a copy of the session's) whose 2
    best trials and classic one the real ``sweep confirm`` raced over paired seeds; then its
    report."""
    studies = copy_study(five_trial_study, tmp_path_factory.mktemp("confirmed") / "studies")
    where = ["--studies-dir", studies, "--study", "c"]
    proc = sweep_cli("confirm", "--within", 1000, "--max-candidates", 3, "--jobs", 2, *where,
                     timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report_command(["--study", "c", "--studies-dir", str(studies)]) == 0
    return studies


def _confirmed(studies: Path) -> tuple[Path, dict, str]:
    root = studies / "c"
    summary = json.loads((root / "confirm" / "confirm.json").read_text())
    md = (root / "report" / "report.md").read_text()
    return root / "report", summary, md_section(md, "Seed noise")


def test_seed_noise_section_and_figure(confirmed_study):
    report, summary, _ = _confirmed(confirmed_study)
    page = check_report(report)  # every image decodes and is not blank, every link resolves
    assert "seed-noise" in page.ids
    assert "figures/seed_noise.png" in page.images
    assert_real_png(report / "figures" / "seed_noise.png")
    assert not (report / "figures" / "seed_noise.svg").exists()  # PNG only unless --svg
    html = (report / "index.html").read_text()
    order = [html.index(f'id="{i}"') for i in ("best", "seed-noise", "search")]
    assert order == sorted(order)


def test_seed_noise_figure_draws_every_seed(confirmed_study):
    from sweep.report import seeds
    from sweep.report.analysis import Confirmation

    _, summary, _ = _confirmed(confirmed_study)
    fig = seeds.figure(Confirmation(summary))
    ax = next(a for a in fig.axes if a.get_ylabel())
    def ys(label: str) -> list[float]:
        return sorted(float(y) for c in ax.collections if c.get_label() == label
                      for y in np.asarray(c.get_offsets())[:, 1])

    configs = summary["configurations"]
    assert ys("_seeds") == pytest.approx(sorted(v for r in configs for v in r["per_seed"].values()))
    assert ys("_single_seed") == pytest.approx(sorted(r["original_value"] for r in configs))
    bars = [ln for ln in ax.get_lines() if ln.get_marker() == "D"]  # means with intervals
    assert sorted(float(ln.get_ydata()[0]) for ln in bars) == pytest.approx(
        sorted(r["best_val"]["mean"] for r in configs))
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "single-seed value in the sweep (what it ranked by)" in labels
    assert "mean over seeds, 95% t-interval" in labels
    classic = next(r for r in summary["configurations"] if r["classic"])
    assert any(t.startswith(f"classic configuration (trial {classic['trial']})") for t in labels)
    assert any(np.allclose(ln.get_ydata(), classic["best_val"]["mean"]) for ln in ax.get_lines()
               if ln.get_linestyle() == "--")  # the classic mean as a reference line
    assert isinstance(ax.yaxis.get_major_formatter(), PercentFormatter)  # y axis in percent


def test_seed_noise_numbers_equal_confirm_json(confirmed_study):
    _, summary, section = _confirmed(confirmed_study)
    configs, race, *_ = md_tables(section)
    assert configs[0][:6] == ["Trial", "Verdict", "Best-epoch val. mean", "95% t-interval",
                              "Seeds", "MCB interval (points)"]
    rows = {int(r[0].split()[0]): r for r in configs[1:]}
    assert set(rows) == {r["trial"] for r in summary["configurations"]}
    short = {"equivalent to the best within the margin": "equivalent within the margin"}
    for r in summary["configurations"]:
        b, f = r["best_val"], r["final_val"]
        assert rows[r["trial"]][1:9] == [
            short.get(r["verdict"], r["verdict"]), _pct(b["mean"]),
            f"{_pct(b['low'])}–{_pct(b['high'])}", str(b["n"]),
            f"{_signed(r['mcb_low'])} to {_signed(r['mcb_high'])}", _pct(f["mean"]),
            _pct(r["original_value"]), f"{r['optimism'] * 100:+.2f} points"]
        assert rows[r["trial"]][0].endswith("(classic)") == r["classic"]
        assert f"{r['param_steps']:.3g}" == rows[r["trial"]][10]
    assert race[0][:5] == ["Look", "Seeds", "Alpha spent", "Configurations raced", "Trainings"]
    assert [int(r[1]) for r in race[1:]] == [r["seeds"] for r in summary["race"]["rounds"]]
    verdict = [line[2:].removeprefix("▸ ") for line in section.splitlines()
               if line.startswith("- ")]
    assert verdict and all("seed" in line for line in verdict), verdict
    best = summary["best_mean"]
    assert any(line.startswith(f"Best mean over {summary['seeds']} seeds: trial {best}")
               for line in verdict)
    assert any(line.startswith(f"Recommended: trial {summary['recommended']}")
               and summary["rule"]["text"] in line for line in verdict)
    assert any(line.startswith("The best set (it holds every configuration with the highest "
                               "true mean with probability at least 95%)")
               and _trials(summary["best_set"]) in line for line in verdict)
    test_line = next(line for line in verdict if line.startswith("Test accuracy"))
    for trial, t in summary["test_accuracy"].items():  # the recommended and classic only
        assert f"trial {trial}" in test_line and _pct(t["mean"]) in test_line
    assert test_line.count("trial ") == len(summary["test_accuracy"])
    h = summary["holdout"]
    if "mean" in h:
        line = next(v for v in verdict if "against the classic configuration" in v)
        assert f"{h['mean'] * 100:+.2f} points" in line and "played no part" in line
    assert any(line.startswith("What this guarantees: With probability at least 95%")
               for line in verdict)
    assert any("only the data order is shared" in line for line in verdict)


def test_confirmed_report_goes_by_the_best_set(confirmed_study):
    from sweep.report import analyse, findings, prepare

    report, summary, _ = _confirmed(confirmed_study)
    means = {r["trial"]: r["best_val"]["mean"] for r in summary["configurations"]}
    tied = sorted(summary["best_set"], key=lambda t: (-means[t], t))
    md = (report / "report.md").read_text()
    best = md_section(md, "Best trials")
    caption = next(line for line in best.splitlines() if line.startswith("*The ")
                   and " best of " in line)
    assert f"Highlighted: {_trials(tied)}, the best set over" in caption
    assert "not the single best trial" in caption and "has not been checked" not in md
    data = prepare(load("c", confirmed_study))
    top = findings.top_table(data)
    marked = {int(row[1].split()[0]) for row, m in zip(top.rows, top.highlight, strict=True)
              if m == "best"}
    assert marked == {t for t in tied if data.completed["number"].eq(t).any()}
    seeds = sorted({r["best_val"]["n"] for r in summary["configurations"]
                    if r["trial"] in tied})
    assert f"in the best set over {seeds[0]}" in \
        findings.setting_summaries(data, analyse(data)).caption
    assert f"Green rings: {_trials(tied)}, the best set" in md


def test_report_without_seed_noise_results_names_the_confirm_command(real_report):
    report, _ = real_report
    command = "python -m sweep confirm --study real"
    md = (report / "report.md").read_text()
    html = (report / "index.html").read_text()
    glance = md_section(md, "At a glance")
    assert "has not been checked against seed noise" in glance and command in glance
    assert "has not been checked against seed noise" in html
    caption = next(line for line in md_section(md, "Best trials").splitlines()
                   if line.startswith("*The ") and " best of " in line)
    assert "has not been checked against seed noise" in caption and command in caption
    assert 'id="seed-noise"' not in html and "## Seed noise" not in md
    # no binomial interval on the selected maximum's validation accuracy; the test
    # accuracy's says what it is
    best_fact = next(line for line in md.splitlines() if line.startswith("- **Selected:**"))
    assert "CI" not in best_fact and "(one seed)" in best_fact
    section = md_section(md, "Best trials")
    table = md_tables(section)[0]
    val = next(row for row in table if row[0] == "Validation accuracy")
    assert not any("CI" in cell for cell in val), val
    test = next(row for row in table if row[0] == "Test accuracy")
    assert "Wilson 95% CI" in test[1] and "test images" in test[1]
    assert "95% binomial (Wilson) interval over the" in section
    assert "not how much another seed or configuration would change it" in section


def _summary(tied: list[int], others: list[int], seeds: int = 3) -> dict:
    """A confirm summary in the form `sweep confirm` writes: the first of ``tied`` has the
    best mean; ``others`` are shown worse."""
    def row(trial: int, mean: float) -> dict:
        per = [mean - 0.002, mean, mean + 0.002][:seeds]
        interval = {"mean": mean, "sd": 0.002, "low": mean - 0.005, "high": mean + 0.005,
                    "n": seeds}
        worse = trial in others
        return {"trial": trial, "classic": False, "params": {}, "original_value": mean + 0.003,
                "best_val": interval, "final_val": interval, "optimism": 0.003,
                "train_seconds": 10.0 + trial, "seconds": {"mean": 10.0 + trial, "sd": 0.5,
                                                           "min": 9.0, "max": 11.0 + trial},
                "param_steps": 1e9, "cost_ratio": 1.0, "diverged_seeds": 0,
                "in_best_set": not worse, "mcb_low": -0.004, "mcb_high": 0.001,
                "verdict": "worse" if worse else "not shown different at this power",
                "eliminated_at": None, "chosen": trial == tied[-1],
                "per_seed": {str(s): v for s, v in enumerate(per)}}

    family = tied + others
    return {"version": 2, "seeds": seeds, "looks": [seeds], "alpha": 0.05, "margin": 0.001,
            "metric": "best-epoch validation accuracy, paired by seed", "resplit": False,
            "candidates": {"window": 0.0023, "within": 2.0, "max_candidates": 6},
            "configurations": [row(t, 0.97 - 0.001 * k) for k, t in enumerate(family)],
            "best_set": tied, "equivalent": [], "best_mean": tied[0],
            "recommended": tied[-1],
            "rule": {"name": "cheapest", "text": "the cheapest among the equivalent",
                     "cost": "param-steps", "cost_text": "parameters x optimiser steps",
                     "applied": True, "reason": ""},
            "race": {"rounds": [], "reason": "", "trainings": 0, "fixed_design_trainings": 0,
                     "eliminated": []},
            "holdout": {"skipped": "a test"}, "test_accuracy": {},
            "pairing": {"statement": "", "correlations": []}, "diverged_runs": 0,
            "guarantee": "a test"}


def test_seed_noise_results_set_the_edges_best_ranges_and_staleness(tmp_path):
    """Written through Optuna: trials 10 and 11 are tied with the best mean, at the lower
    and the upper edge of hidden_size (32-2048); then a better trial makes the results
    stale, and a damaged confirm.json is a warning, not a failure."""
    from sweep.report import analyse, findings, prepare

    study, dists, rng = api_study(tmp_path, "tied")
    for k in range(1, 12):
        params = sample(dists, rng) | ({10: {"hidden_size": 40}, 11: {"hidden_size": 2000}}
                                        .get(k, {"hidden_size": 300}))
        study.add_trial(create_trial(params=params, distributions=dists, state=TrialState.COMPLETE,
                                     value=0.9 + 0.005 * k, user_attrs={"train_seconds": 5.0}))
    (tmp_path / "tied" / "confirm").mkdir()
    summary_path = tmp_path / "tied" / "confirm" / "confirm.json"
    summary_path.write_text(json.dumps(_summary([10, 11], [9])))
    data = prepare(load("tied", tmp_path))
    warnings = findings.warnings_for(data, None)
    edge = next(w for w in warnings if w.startswith("hidden_size:"))
    assert "2 of the 2 trials in the best set over 3 seeds (trial 10: 40, trial 11: " \
           "2000) sit at the lower and upper edges" in edge
    summaries = findings.setting_summaries(data, analyse(data))
    hidden = next(row for row in summaries.rows if row[0] == "hidden_size")
    assert "best set: 40–2000" in hidden[
        summaries.columns.index("Where the top trials lie")]
    assert not any("do not cover" in w for w in warnings)

    add(study, dists, rng, TrialState.COMPLETE, value=0.99)  # trial 12: now the top trial
    stale = findings.warnings_for(prepare(load("tied", tmp_path)), None)
    assert any("do not cover trial 12" in w and "python -m sweep confirm --study tied` again"
               in w for w in stale), stale

    summary_path.write_text("{not json")
    data = prepare(load("tied", tmp_path))
    assert data.confirmation is None and data.tied is None
    assert any("could not be read" in w and "confirm.json" in w
               for w in findings.warnings_for(data, None))


# ------------------------------------------------------------------ statistics that hold up
#
# Synthetic studies written through Optuna into a real journal, with values from a known
# function of the settings: accuracy rises with log(lr) by 6 points over its range, and
# nothing else matters (plus noise of 0.1 point), so the right answers are known.

def known_accuracy(params: dict, rng: np.random.Generator) -> float:
    return float(0.90 + 0.06 * (math.log10(params["lr"]) + 3) / 3
                 + rng.normal(0, 0.001))


def add_known(study: optuna.Study, dists: dict, rng: np.random.Generator, k: int,
              state: TrialState = TrialState.COMPLETE, stop: int = 4, **fixed) -> None:
    """A trial whose accuracy after epoch e is the known function scaled by e/4; pruned
    ones stop after epoch ``stop``. Worker pid and host as ``sweep run`` records them."""
    params = sample(dists, rng) | fixed
    final = known_accuracy(params, rng)
    last = 4 if state == TrialState.COMPLETE else stop
    curve = {e: final * (0.9 + 0.1 * e / 4) for e in range(1, last + 1)}
    user = {"pid": 1000 + k % 2, "host": "testhost", "train_seconds": 2.0 + k % 5,
            "epochs_trained": last, "parameter_count": int(params["hidden_size"]) * 795 + 10}
    if state == TrialState.COMPLETE:
        user |= {"test_accuracy": final - 0.002, "best_epoch": 4}
    else:
        user["reason"] = f"pruned at epoch {stop}"
    study.add_trial(create_trial(params=params, distributions=dists, state=state,
                                 value=max(curve.values()) if state == TrialState.COMPLETE
                                 else None, user_attrs=user, intermediate_values=curve))


@pytest.fixture(scope="module")
def known_study(tmp_path_factory) -> Path:
    """40 completed trials and 12 pruned (at epochs 1 and 2) of the known function."""
    studies = tmp_path_factory.mktemp("known-studies")
    study, dists, rng = api_study(studies, "known")
    for k in range(52):
        if k % 13 in (3, 7, 11):
            add_known(study, dists, rng, k, TrialState.PRUNED, stop=1 + k % 2)
        else:
            add_known(study, dists, rng, k)
    return studies


@pytest.fixture(scope="module")
def known(known_study):
    from sweep.report import analyse, prepare

    data = prepare(load("known", known_study))
    return data, analyse(data)


def test_the_important_setting_is_found_and_stated_first(known):
    """The known function: lr matters (an inverted U on its log scale), dropout does not."""
    from sweep.report.effects import stated_sentences

    data, a = known
    assert a.n == 40 and a.tested and a.own and not a.exploration
    assert a.importances.mode == "shares" and a.ranking()[0] == "lr"
    lr = a.importances.table.set_index("setting").loc["lr"]
    assert lr["low"] <= lr["share"] <= lr["high"] and lr["share"] > 0.5 and lr["stated"]
    assert a.effect("lr").verdict == "effect" and a.effect("lr").p_adjusted <= 0.05
    sentences = stated_sentences(a)
    assert sentences[0].startswith("lr: ") and "adjusted p" in sentences[0]
    assert "40 trials" in sentences[0]


def test_a_setting_without_effect_gets_no_sentence_and_a_share_from_zero(known):
    from sweep.report import findings
    from sweep.report.effects import stated_sentences

    data, a = known
    dropout = a.effect("dropout")
    assert dropout.verdict in ("no effect shown", "effect")
    if dropout.verdict == "no effect shown":  # the test may err, at its stated 5%
        assert not any(line.startswith("dropout") for line in stated_sentences(a))
        assert a.importances.table.set_index("setting").loc["dropout", "low"] == 0
    summaries = findings.setting_summaries(data, a)
    assert summaries.rows[0][0] == "lr"
    assert summaries.columns[2:4] == ["Importance", "Effect (permutation test)"]


def test_the_effects_figure_draws_each_settings_partial_dependence(known):
    from sweep.report import figures

    data, a = known
    fig = figures.setting_effects(data, a)
    panel = next(ax for ax in fig.axes if ax.get_title().startswith("lr: effect"))
    lo, hi = panel.get_ylim()
    band = [c for c in panel.collections if c.get_paths() and type(c).__name__ in
            ("PolyCollection", "FillBetweenPolyCollection")]
    assert band, "no band"
    ys = np.concatenate([p.vertices[:, 1] for p in band[0].get_paths()])
    assert (ys >= lo - 1e-9).all() and (ys <= hi + 1e-9).all() and np.ptp(ys) > 0
    assert "colour:" in panel.get_xlabel()  # the most associated other setting


def test_rungs_compare_every_trial_at_the_same_epoch(known):
    from sweep.report import views
    from sweep.report.analysis import rung_epochs, values_at

    data, _ = known
    assert rung_epochs(data) == [1, 2]
    at1 = values_at(data, 1)
    assert len(at1) == 52  # every trial reported epoch 1
    assert len(values_at(data, 2)) == 52 - 6  # those pruned at epoch 1 did not reach 2
    fig = views.rungs(data)
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert labels == ["after epoch 1\n(52 trials; 6 stopped)",
                      "after epoch 2\n(46 trials; 6 stopped)"]


def _one_batch_study(studies: Path, name: str, batches: list[int]) -> None:
    study, dists, rng = api_study(studies, name)
    for k, b in enumerate(batches):
        add_known(study, dists, rng, k, batch_size=b)


def test_below_the_minimum_nothing_is_stated_and_no_curve_is_drawn(tmp_path):
    """12 trials, one at batch 64 and the rest at 128: below the test's minimum, no
    effect sentence, no share, no partial-dependence curve or band; ranks instead."""
    from sweep.report import analyse, figures, findings, prepare
    from sweep.report.analysis import interaction_pairs
    from sweep.report.effects import stated_sentences

    _one_batch_study(tmp_path, "thin", [64] + [128] * 11)
    data = prepare(load("thin", tmp_path))
    a = analyse(data)
    assert not a.tested and a.importances.mode == "ranks" and stated_sentences(a) == []
    assert all(e.verdict in ("not tested", "not varied") for e in a.effects.effects)
    assert any("below the 20" in note for note in a.notes())
    cells = findings.setting_summaries(data, a)
    assert all(row[3].startswith(("not tested", "never varied")) for row in cells.rows)
    assert not any("%" in row[2] for row in cells.rows)  # no share
    fig = figures.setting_effects(data, a)
    for ax in fig.axes:
        assert not ax.get_lines() or not ax.get_title(), ax.get_title()  # no curve
    heat = figures.interactions(data, interaction_pairs(data, a.ranking()))
    ax = next(a for a in heat.axes if a.get_title() == "lr × batch_size")
    hatched = [p for p in ax.patches if p.get_hatch()]
    counts = [t.get_text() for t in ax.texts if t.get_text().startswith("n=")]
    assert hatched and len(hatched) == len(counts) and "n=1" in counts


def test_a_study_at_one_batch_size_lists_what_it_never_explored(tmp_path):
    from sweep.report import findings, prepare
    from sweep.report.analysis import unexplored

    _one_batch_study(tmp_path, "one-batch", [128] * 12)
    data = prepare(load("one-batch", tmp_path))
    assert unexplored(data.param("batch_size"), data.completed) == ["32", "64", "256", "512"]
    makeup = findings.sample_makeup(data)
    assert any("Not explored (no completed trial among the 12)" in line
               and "batch_size: 32, 64, 256, 512" in line for line in makeup), makeup
    assert any("batch_size (12 of 12 at 128)" in line for line in makeup), makeup
    assert any("python -m sweep run --explore --study one-batch-explore" in line
               for line in makeup), makeup


def test_unexplored_stretches_of_a_continuous_range():
    import pandas as pd

    from sweep.report.analysis import unexplored
    from sweep.study.space import load_space

    space = load_space(None)
    dropout = space.param("dropout")  # [0, 0.7]
    df = pd.DataFrame({dropout.column: [0.21, 0.25, 0.3, 0.35, 0.38, 0.66]})
    assert unexplored(dropout, df) == ["below 0.21", "0.38–0.66"]


def test_the_top_table_shows_test_accuracy_for_the_selected_trial_only(known):
    from sweep.report import findings

    data, _ = known
    table = findings.top_table(data)
    col = table.columns.index("Test accuracy")
    selected = int(data.best["number"])
    shown = [row for row in table.rows if row[col] != "withheld"]
    assert len(table.rows) == 10 and len(shown) == 1
    assert int(shown[0][1].split()[0]) == selected
    assert shown[0][col] == f"{data.best['test_accuracy'] * 100:.2f}%"
    assert f"selected trial (trial {selected}" in table.caption


def test_report_of_the_known_study_has_every_new_figure(known_study):
    index = write_report(load("known", known_study), vector=True)
    page = check_report(index.parent)
    stems = {Path(s).stem for s in page.images}
    assert {"rungs", "edf", "parallel", "sampler", "timeline", "importance", "effects",
            "interactions", "history", "cost"} <= stems, stems
    for name in ("rungs", "edf", "parallel", "sampler", "timeline"):
        svg = index.parent / "figures" / f"{name}.svg"
        assert ET.parse(svg).getroot().tag.endswith("svg"), svg
    md = (index.parent / "report.md").read_text()
    assert "## What the sample is" in md
    assert "use the 40 completed trials of 52 finished" in md
    assert "12: 6 at epoch 1, 6 at epoch 2" in md


def test_explore_is_quasi_random_without_pruning(sweep_cli, run_args, tmp_path, check_error):
    args = [a for a in run_args(tmp_path, "ex", 3) if a not in ("--pruner", "none")]
    proc = sweep_cli(*args, "--explore")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    settings = load("ex", tmp_path).settings
    assert (settings.sampler, settings.pruner) == ("qmc", "none")
    proc = sweep_cli(*run_args(tmp_path, "ex2", 3), "--explore", "--sampler", "tpe")
    check_error(proc, 2, "--explore means --sampler qmc", "--sampler tpe")
    assert not (tmp_path / "ex2").exists()

"""The study report: files, images and links on a real study, and the edge cases.

The real studies are ``python -m sweep run`` on the tiny IDX dataset; the edge
cases that training cannot produce on demand (every trial failed, a trial still
running, a 50-trial study in seconds) are written through Optuna straight into a
study's storage, without trial directories, which the report must also survive.
"""

from __future__ import annotations

import math
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import optuna
import pytest
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState, create_trial
from PIL import Image

from mlp.config import Config
from sweep.cli import build_parser
from sweep.errors import StudyError
from sweep.report import write_report
from sweep.results import load
from sweep.space import Space, load_space
from sweep.storage import open_storage
from sweep.study import Settings, StudyPaths, create_or_check

FIGURES = ("importance", "effects", "interactions", "history", "learning_curves", "cost",
           "best_confusion", "best_per_class", "best_confused_examples")


# ------------------------------------------------------------------ helpers

class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.scripts = 0
        self.styles_linked = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
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
    assert report_command(["--study", "real", "--studies-dir", str(real_study)]) == 0
    return real_study / "real" / "report", time.perf_counter() - started


def test_report_of_a_real_study_has_every_file(real_report):
    report, _ = real_report
    for name in FIGURES:
        assert_real_png(report / "figures" / f"{name}.png")
        svg = report / "figures" / f"{name}.svg"
        assert ET.parse(svg).getroot().tag.endswith("svg"), svg
    page = check_report(report)
    assert sorted(Path(src).stem for src in page.images) == sorted(FIGURES)
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
        assert "Most important settings" in text
        if best["classic"]:
            assert "That is the classic configuration" in text
        else:
            assert "Classic (trial 0" in text
        assert "Best range found" in text
        assert "most frequent test mistakes" in text
    # the figures come in reading order: what matters, what is best, the search, the failures
    order = [html.index(f"figures/{n}.png") for n in ("importance", "effects", "history",
                                                      "best_confusion")]
    assert order == sorted(order)


def test_report_is_quick(real_report):
    _, seconds = real_report
    assert seconds < 60, seconds


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
        assert report_command(["--study", "real", "--studies-dir", str(real_study)]) == 0
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
    assert {"history", "effects"} <= stems
    assert not {"learning_curves", "importance", "cost"} & stems


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


def test_report_of_fifty_trials_is_quick(tmp_path):
    study, dists, rng = api_study(tmp_path, "fifty")
    for _ in range(40):
        params_score = float(rng.uniform(0.85, 0.98))
        add(study, dists, rng, TrialState.COMPLETE, value=params_score)
    for _ in range(8):
        add(study, dists, rng, TrialState.PRUNED, value=None)
    for _ in range(2):
        add(study, dists, rng, TrialState.PRUNED, value=None, diverged=True)
    started = time.perf_counter()
    index = write_report(load("fifty", tmp_path))
    seconds = time.perf_counter() - started
    assert seconds < 45, seconds
    page = check_report(index.parent)
    stems = {Path(s).stem for s in page.images}
    assert {"importance", "effects", "interactions", "history", "cost"} <= stems
    html = index.read_text()
    assert "This study has no classic trial" in html  # the classic trial never ran
    assert "fANOVA" in html


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
    from sweep.report import figures, importances, prepare

    data = prepare(load("zoom", zoom_study))
    effects = figures.setting_effects(data, importances(data))
    history, cost = figures.optimisation_history(data), figures.cost(data)
    for fig in (effects, history, cost):
        axes = [ax for ax in fig.axes if ax.get_ylabel() and ax.axison]
        assert axes
        for ax in axes:
            lo, hi = ax.get_ylim()
            assert 0.955 < lo < 0.970 and 0.987 < hi < 0.995, (fig.get_suptitle(), lo, hi)
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        below = "(1 completed)" if fig is cost else "(1 completed, 6 pruned early)"
        assert any(t.startswith("below ") and t.endswith(below) for t in labels), labels
        for ax in axes:  # cost: the outlier; else also the pruned, the failed, the diverged
            assert _floor_points(ax) == (1 if fig is cost else 9)
    assert len(history.axes) == 1  # one outlier is no reason for a second, zoomed panel
    # the trend band and the isolation curve are inside the zoomed axis
    panel = next(ax for ax in effects.axes if ax.get_title().startswith("lr"))
    lo, hi = panel.get_ylim()
    band = [c for c in panel.collections if c.get_paths() and type(c).__name__ in
            ("PolyCollection", "FillBetweenPolyCollection")]
    assert band, "no trend band"
    ys = np.concatenate([p.vertices[:, 1] for p in band[0].get_paths()])
    assert (ys >= lo - 1e-9).all() and (ys <= hi + 1e-9).all() and np.ptp(ys) > 0
    isolation = [ln for ln in panel.get_lines() if ln.get_linestyle() == "--"]
    assert isolation and all(lo <= y <= hi for y in isolation[0].get_ydata())


def test_interaction_colours_span_the_cells(zoom_study):
    from sweep.report import figures, importances, prepare
    from sweep.report.analysis import interaction_pairs

    data = prepare(load("zoom", zoom_study))
    fig = figures.interactions(data, interaction_pairs(data, importances(data).ranking()))
    meshes = [c for ax in fig.axes for c in ax.collections if c.get_array() is not None]
    assert meshes and min(m.get_clim()[0] for m in meshes) > 0.95  # not down to the outlier
    means = np.concatenate([np.ravel(m.get_array()) for m in meshes])
    assert np.nanmin(np.ma.filled(means, np.nan)) < 0.95  # whose cell is still drawn
    colorbars = [m.colorbar for m in meshes if m.colorbar is not None]
    assert colorbars and all(cb.extend == "min" for cb in colorbars)
    heatmaps = [ax for ax in fig.axes if " × " in ax.get_title()]
    outlined = [ax for ax in heatmaps
                if any(type(p).__name__ == "Rectangle" and not p.get_fill() for p in ax.patches)]
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

"""The study report (sweep/report/), whole: its files, images and links on a real study,
the questions it answers, and the studies training cannot produce on demand (one
trial, every trial failed, none finished, one still running, fixed and extra settings,
fifty trials without a classic one), written through Optuna in this process. Every test
here draws a whole report."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from optuna.trial import TrialState

from sweep.report import write_report
from sweep.study.results import load
from sweep.study.space import load_space
from tests.sweep.report.conftest import (
    FIGURES,
    assert_real_png,
    check_report,
    md_section,
    md_tables,
    report_command,
)
from tests.sweep.studies import add, api_study, finished_study

pytestmark = pytest.mark.slow


# ------------------------------------------------------------------ a real study

@pytest.fixture(scope="module")
def real_study(main_study, tmp_path_factory) -> Path:
    """A copy of the session's real study (6 trials, 2 workers, 2 epochs, the figures of
    each new best): the report is written into it."""
    studies = tmp_path_factory.mktemp("report-studies")
    shutil.copytree(main_study.root, studies / "main")
    return studies


@pytest.fixture(scope="module")
def real_report(real_study) -> Path:
    assert report_command(["--study", "main", "--studies-dir", str(real_study), "--svg"]) == 0
    return real_study / "main" / "report"


def test_report_of_a_real_study_has_every_file(real_report):
    from sweep.report import analyse, prepare

    report = real_report
    data = prepare(load("main", report.parent.parent))
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
    report = real_report
    html = (report / "index.html").read_text()
    md = (report / "report.md").read_text()
    results = load("main", real_study)
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


def test_report_without_seed_noise_results_names_the_confirm_command(real_report):
    report = real_report
    command = "python -m sweep confirm --study main"
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


def test_regenerated_without_the_data_the_examples_are_skipped_with_a_note(
        real_report, real_study, capsys):
    """Run last on the real study: the report is rewritten in place, and a best trial
    whose dataset cannot be loaded loses its example images, not the report."""
    report = real_report
    results = load("main", real_study)
    config = Path(results.best(1).iloc[0]["experiment_dir"]) / "config.json"
    original = config.read_text()
    before = (report / "figures" / "effects.png").stat().st_mtime_ns
    try:
        config.write_text(original.replace('"data_dir": "', '"data_dir": "/nonexistent'))
        assert report_command(["--study", "main", "--studies-dir", str(real_study)
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

def test_report_of_a_one_trial_study(tmp_path):
    finished_study(tmp_path, "one", trials=1)
    index = write_report(load("one", tmp_path))
    check_report(index.parent)
    html = index.read_text()
    assert "Only 1 completed trial" in html
    assert "That is the classic configuration" in html


def test_report_with_a_fixed_setting_and_an_extra_one(tmp_path):
    space_file = tmp_path / "space.toml"
    space_file.write_text("[params.hidden_size]\nhigh = 256\n\n"
                          "[params.dropout]\nlow = 0.3\nhigh = 0.3\n\n"
                          "[params.momentum]\ntype = \"float\"\nlow = 0.5\nhigh = 0.99\n\n"
                          "[fixed]\nl2 = 0.0001\n")
    study, dists, rng = api_study(tmp_path, "spaced", load_space(space_file))
    for value in (0.91, 0.93, 0.92, 0.95):
        add(study, dists, rng, TrialState.COMPLETE, value=value)
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

"""What the report states about the settings (sweep/report/effects, findings and the
calibrated methods behind them), in process on studies written through Optuna whose
right answers are known: accuracy rises with log(lr) and nothing else matters. The
important setting is found and stated first, a setting without effect gets no sentence,
below the test's minimum nothing is stated, what was never explored is listed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from sweep.report import write_report
from sweep.study.results import load
from tests.sweep.report.conftest import check_report
from tests.sweep.studies import add_known, api_study


@pytest.fixture(scope="module")
def known(known_study):
    from sweep.report import analyse, prepare

    data = prepare(load("known", known_study))
    return data, analyse(data)


@pytest.mark.slow  # the permutation tests of the known study
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


@pytest.mark.slow  # the permutation tests of the known study
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


@pytest.mark.slow  # the permutation tests of the known study
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


@pytest.mark.slow  # the permutation tests of the known study
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


def _one_batch_study(studies: Path, name: str, batches: list[int]) -> None:
    study, dists, rng = api_study(studies, name)
    for k, b in enumerate(batches):
        add_known(study, dists, rng, k, batch_size=b)


@pytest.mark.slow
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


@pytest.mark.slow
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

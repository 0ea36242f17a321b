"""The report's statistics (sweep/report/importance.py, findings.py), in process on
studies written through Optuna whose right answers are known: accuracy rises with
log(lr) and nothing else matters. The important setting comes first by both methods
inside its interval, a setting without effect gets an interval with zero, thin bins get
no sentence, what was never explored is listed."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from sweep.report import write_report
from sweep.study.results import load
from tests.sweep.report.conftest import QUICK, check_report
from tests.sweep.studies import add_known, api_study


@pytest.fixture(scope="module")
def known(known_study):
    """The known study prepared, and its importances with the default resamples."""
    from sweep.report import importances, prepare

    data = prepare(load("known", known_study))
    return data, importances(data)


@pytest.mark.slow  # 200 bootstrap resamples of two importance methods
def test_the_important_setting_is_first_by_both_methods_inside_its_interval(known):
    from sweep.report.importance import MIN_ABOVE, N_BOOT, agreement

    data, imp = known
    assert len(data.completed) == 40 and imp.n == 40 and imp.n_boot == N_BOOT >= 200
    assert imp.methods() == ["PED-ANOVA", "fANOVA"]
    for method in imp.methods():
        assert imp.ranking(method)[0] == "lr", (method, imp.table)
        row = imp.row("lr", method)
        assert row["low"] <= row["importance"] <= row["high"] and row["inside"], row
        assert row["importance"] > 0.5 and row["high"] - row["low"] < 0.6
    # PED-ANOVA's quantile keeps at least 5 trials above it, and only just
    assert math.ceil(imp.quantile * 40) == imp.above == MIN_ABOVE
    text = agreement(imp)
    assert "Both methods rank lr first" in text and "200 resamples of the 40 completed" in text


@pytest.mark.slow
def test_a_setting_without_effect_gets_an_interval_with_zero_and_no_effect_sentence(known):
    from sweep.report import findings

    data, imp = known
    rho = imp.spearman.set_index("setting")
    assert rho.loc["dropout", "low"] < 0 < rho.loc["dropout", "high"], rho.loc["dropout"]
    assert rho.loc["dropout", "resamples"] >= 0.9 * imp.n_boot
    assert rho.loc["lr", "low"] > 0.8, rho.loc["lr"]  # the real effect is clear
    dropout, clear = findings.effect_text(data.param("dropout"), data.completed)
    assert not clear and dropout.startswith("no difference distinguishable") and \
        "includes zero" in dropout
    lr, clear = findings.effect_text(data.param("lr"), data.completed)
    assert clear and lr.startswith("mean accuracy") and "(n=" in lr
    summaries = findings.setting_summaries(data, imp)
    assert summaries.rows[0][0] == "lr"
    assert summaries.columns[2:4] == ["PED-ANOVA share (95% CI)", "fANOVA share (95% CI)"]


@pytest.mark.slow
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
def test_n1_bins_are_faded_and_get_no_sentence_and_no_rank_correlation(tmp_path):
    """The issue's case: one trial at batch 64, the rest at 128."""
    from sweep.report import figures, findings, importances, prepare
    from sweep.report import style as S
    from sweep.report.analysis import interaction_pairs
    from sweep.report.importance import spearman_text

    _one_batch_study(tmp_path, "thin", [64] + [128] * 11)
    data = prepare(load("thin", tmp_path))
    imp = importances(data, n_boot=50)
    batch = data.param("batch_size")
    text, clear = findings.effect_text(batch, data.completed)
    assert not clear and text.startswith("not enough support") and "64 (n=1)" in text
    row = imp.spearman.set_index("setting").loc["batch_size"]
    assert np.isnan(row["rho"]) and "64: 1, 128: 11" in row["why"], row
    assert any(line.startswith("batch_size: no rank correlation given")
               for line in spearman_text(imp))
    fig = figures.setting_effects(data, imp)
    panel = next(ax for ax in fig.axes if ax.get_title().startswith("batch_size"))
    faded = [c for c in panel.collections if c.get_alpha() == S.THIN_ALPHA]
    assert faded and all(np.allclose(np.asarray(c.get_offsets())[:, 0], 1) for c in faded)
    means = [ln for ln in panel.get_lines() if ln.get_marker() == "D"]
    assert all(len(ln.get_xdata()) == 1 and ln.get_linestyle() == "None" for ln in means)
    heat = figures.interactions(data, interaction_pairs(data, imp.ranking()))
    ax = next(a for a in heat.axes if a.get_title() == "lr × batch_size")
    hatched = [p for p in ax.patches if p.get_hatch()]
    counts = [t.get_text() for t in ax.texts if t.get_text().startswith("n=")]
    assert hatched and len(hatched) == len(counts) and "n=1" in counts
    mesh = next(c for c in ax.collections if c.get_array() is not None)
    shown = np.ma.getmaskarray(mesh.get_array())
    assert (~shown).sum() <= len(data.completed) // 3  # only cells with 3+ trials coloured


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
    # fewer than 10 completed trials: PED-ANOVA cannot keep 5 above its quantile
    from sweep.report import importances

    study, dists, rng = api_study(tmp_path, "few")
    for k in range(8):
        add_known(study, dists, rng, k)
    few = importances(prepare(load("few", tmp_path)), n_boot=20)
    assert few.methods() == ["fANOVA"] and few.quantile is None
    assert any(n.startswith("PED-ANOVA left out") and "this study has 8" in n
               for n in few.notes), few.notes


@pytest.mark.slow
def test_report_of_the_known_study_has_every_new_figure(known_study):
    index = write_report(load("known", known_study), resamples=QUICK)
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
    html = index.read_text()
    assert "This study has no classic trial" in html  # the classic trial never ran
    assert "fANOVA" in html

"""The report's seed-noise section (sweep/report/seeds.py and what it changes elsewhere):
on a real study whose top trials the real ``sweep confirm`` re-trained over 3 seeds,
the section, its figure and numbers equal confirm.json, and the report goes by the tied
set; in process, confirm results that set the edges, go stale or cannot be read."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.ticker import PercentFormatter
from optuna.trial import TrialState, create_trial

from sweep.study.results import load
from tests.sweep.conftest import copy_study
from tests.sweep.report.conftest import (
    assert_real_png,
    check_report,
    md_section,
    md_tables,
    report_command,
)
from tests.sweep.studies import add, api_study, sample


def _pct(v) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v * 100:.2f}%"


def _signed(v) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v * 100:+.2f}"


def _p(v) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.3g}"


def _trials(numbers) -> str:
    numbers = list(numbers)
    return f"trial {numbers[0]}" if len(numbers) == 1 else "trials " + ", ".join(map(str, numbers))


@pytest.fixture(scope="module")
def confirmed_study(five_trial_study, sweep_cli, tmp_path_factory) -> Path:
    """A real 5-trial study (2 epochs, small networks; a copy of the session's) whose top
    3 trials and classic one the real ``sweep confirm`` re-trained over 3 seeds; then its
    report."""
    studies = copy_study(five_trial_study, tmp_path_factory.mktemp("confirmed") / "studies")
    where = ["--studies-dir", studies, "--study", "c"]
    proc = sweep_cli("confirm", "--top", 3, "--seeds", 3, "--jobs", 2, *where)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report_command(["--study", "c", "--studies-dir", str(studies)]) == 0
    return studies


def _confirmed(studies: Path) -> tuple[Path, dict, str]:
    root = studies / "c"
    summary = json.loads((root / "confirm" / "confirm.json").read_text())
    md = (root / "report" / "report.md").read_text()
    return root / "report", summary, md_section(md, "Seed noise")


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_seed_noise_numbers_equal_confirm_json(confirmed_study):
    _, summary, section = _confirmed(confirmed_study)
    configs, *rest = md_tables(section)
    assert configs[0][:4] == ["Trial", "Best-epoch val. mean", "Best-epoch sd",
                              "Best-epoch 95% t-interval"]
    rows = {int(r[0].split()[0]): r for r in configs[1:]}
    assert set(rows) == {r["trial"] for r in summary["configurations"]}
    for r in summary["configurations"]:
        b, f = r["best_val"], r["final_val"]
        assert rows[r["trial"]][1:10] == [
            _pct(b["mean"]), _pct(b["sd"]), f"{_pct(b['low'])}–{_pct(b['high'])}",
            _pct(f["mean"]), _pct(f["sd"]), f"{_pct(f['low'])}–{_pct(f['high'])}",
            str(b["n"]), _pct(r["original_value"]), f"{r['optimism'] * 100:+.2f} points"]
        assert rows[r["trial"]][0].endswith("(classic)") == r["classic"]
    comparisons = rest[0] if summary["comparisons"] else []
    assert len(comparisons) == len(summary["comparisons"]) + 1
    by_trial = {int(r[0].split()[0]): r for r in comparisons[1:]}
    for c in summary["comparisons"]:
        d = c["diff"]
        assert by_trial[c["other"]][1:] == [
            _signed(d["mean"]), f"{_signed(d['low'])} to {_signed(d['high'])}", str(d["n"]),
            _p(c["t_p"]), _p(c["holm_p"]), _p(c["sign_flip_p"]),
            "distinguishable" if c["distinguishable"] else "tied with the best"]
    verdict = [line[2:].removeprefix("▸ ") for line in section.splitlines()
               if line.startswith("- ")]
    assert verdict and all("seed" in line for line in verdict), verdict
    best = summary["best_mean"]
    assert any(line.startswith(f"Best mean over {summary['seeds']} seeds: trial {best}")
               for line in verdict)
    assert any(line.startswith(f"Recommended: trial {summary['recommended']}")
               and summary["rule"] in line for line in verdict)
    others = [t for t in summary["tied_with_best"] if t != best]
    if others:
        assert any(line.startswith("Tied with it") and line.endswith(_trials(others) + ".")
                   for line in verdict)
    test_line = next(line for line in verdict if line.startswith("Test accuracy"))
    for trial, t in summary["test_accuracy"].items():  # the recommended and classic only
        assert f"trial {trial}" in test_line and _pct(t["mean"]) in test_line
    assert test_line.count("trial ") == len(summary["test_accuracy"])
    vs = summary["versus_classic"]
    if vs is not None:
        line = next(v for v in verdict if "against the classic configuration" in v)
        assert f"{vs['diff']['mean'] * 100:+.2f} points" in line and _p(vs["t_p"]) in line


@pytest.mark.slow
def test_confirmed_report_goes_by_the_tied_set(confirmed_study):
    from sweep.report import analyse, findings, prepare

    report, summary, _ = _confirmed(confirmed_study)
    tied = summary["tied_with_best"]
    md = (report / "report.md").read_text()
    best = md_section(md, "Best trials")
    caption = next(line for line in best.splitlines() if line.startswith("*The ")
                   and " best of " in line)
    assert f"Highlighted: {_trials(tied)}, the set tied with the best mean over" in caption
    assert "not the single best trial" in caption and "has not been checked" not in md
    data = prepare(load("c", confirmed_study))
    top = findings.top_table(data)
    marked = {int(row[1].split()[0]) for row, m in zip(top.rows, top.highlight, strict=True)
              if m == "best"}
    assert marked == set(tied)
    assert f"tied with the best mean over 3 seeds ({_trials(tied)}" in \
        findings.setting_summaries(data, analyse(data)).caption
    assert f"Green rings: {_trials(tied)}, the set tied with the best mean" in md


def _summary(tied: list[int], others: list[int], seeds: int = 3) -> dict:
    """A confirm summary in the form `sweep.confirm.summarize` writes: the first of
    ``tied`` has the best mean; ``others`` are distinguishable from it."""
    def row(trial: int, mean: float) -> dict:
        per = [mean - 0.002, mean, mean + 0.002][:seeds]
        interval = {"mean": mean, "sd": 0.002, "low": mean - 0.005, "high": mean + 0.005,
                    "n": seeds}
        return {"trial": trial, "classic": False, "params": {}, "original_value": mean + 0.003,
                "best_val": interval, "final_val": interval, "optimism": 0.003,
                "train_seconds": 10.0 + trial, "diverged_seeds": 0,
                "per_seed": {str(s): v for s, v in enumerate(per)}}

    def comparison(trial: int, distinguishable: bool) -> dict:
        return {"other": trial, "diff": {"mean": 0.004, "sd": 0.001, "low": 0.001,
                                         "high": 0.007, "n": seeds},
                "t_p": 0.01, "sign_flip_p": 0.25, "holm_p": 0.02 if distinguishable else 0.4,
                "distinguishable": distinguishable}

    family = tied + others
    return {"seeds": seeds, "metric": "best-epoch validation accuracy, paired by seed",
            "test": "paired t-test, Holm-adjusted", "rule": "the cheapest among the tied",
            "configurations": [row(t, 0.97 - 0.001 * k) for k, t in enumerate(family)],
            "comparisons": [comparison(t, t in others) for t in family[1:]],
            "tied_with_best": tied, "best_mean": tied[0], "recommended": tied[-1],
            "versus_classic": None, "test_accuracy": {}}


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
    assert "2 of the 2 trials tied with the best mean over 3 seeds (trial 10: 40, trial 11: " \
           "2000) sit at the lower and upper edges" in edge
    summaries = findings.setting_summaries(data, analyse(data))
    hidden = next(row for row in summaries.rows if row[0] == "hidden_size")
    assert "tied with the best: 40–2000" in hidden[
        summaries.columns.index("Where the top trials lie")]
    assert not any("do not cover" in w for w in warnings)

    add(study, dists, rng, TrialState.COMPLETE, value=0.99)  # trial 12: now the top trial
    stale = findings.warnings_for(prepare(load("tied", tmp_path)), None)
    assert any("do not cover trial 12" in w and "python -m sweep confirm --study tied --top 3 "
               "--seeds 3" in w for w in stale), stale

    summary_path.write_text("{not json")
    data = prepare(load("tied", tmp_path))
    assert data.confirmation is None and data.tied is None
    assert any("could not be read" in w and "confirm.json" in w
               for w in findings.warnings_for(data, None))

"""The report's seed-noise section (sweep/report/seeds.py and what it changes elsewhere):
on a real study whose top trials the real ``sweep confirm`` raced over paired seeds,
the section, its figure and numbers equal confirm.json, and the report goes by the best
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
from tests.sweep.studies import add, api_study, confirm_summary, sample


def _pct(v) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v * 100:.2f}%"


def _signed(v) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v * 100:+.3f}"


def _p(v) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.3g}"


def _trials(numbers) -> str:
    numbers = list(numbers)
    return f"trial {numbers[0]}" if len(numbers) == 1 else "trials " + ", ".join(map(str, numbers))


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


@pytest.mark.slow
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
    summary_path.write_text(json.dumps(confirm_summary([10, 11], [9])))
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
    assert any("do not cover trial 12" in w and f"python -m sweep confirm --study tied "
               f"--studies-dir {tmp_path}` again" in w for w in stale), stale

    summary_path.write_text("{not json")
    data = prepare(load("tied", tmp_path))
    assert data.confirmation is None and data.tied is None
    assert any("could not be read" in w and "confirm.json" in w
               for w in findings.warnings_for(data, None))


def test_an_mcb_end_near_the_margin_is_not_rounded_onto_it():
    """A lower end of -0.096 points, inside a 0.1-point margin, reads -0.096, not -0.10
    (which would read as on the margin); the confirm console table says the same."""
    from sweep.commands.confirm import _cells
    from sweep.report import seeds
    from sweep.study.confirmations import Confirmation

    summary = confirm_summary([10, 11], [9])
    row = next(r for r in summary["configurations"] if r["trial"] == 11)
    row["mcb_low"], row["mcb_high"] = -0.00096, 0.0004
    table = seeds.configuration_table(Confirmation(summary))
    cells = next(r for r in table.rows if r[0].split()[0] == "11")
    assert "-0.096 to +0.040" in cells, cells
    assert "-0.096" in _cells(row)

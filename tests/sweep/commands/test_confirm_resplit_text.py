"""Hostile tester 9: what ``sweep confirm --resplit`` says it did, on a dataset that is
not MNIST."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_resplit_states_the_split_it_drew_not_mnists(sweep_cli, run_args, tmp_path):
    """Found: on the tiny IDX data (1,200 training+validation images, 200 of them
    validation), ``sweep confirm --resplit`` prints "--resplit: each seed drew its own
    10,000 validation images from the 60,000 training+validation images": MNIST's
    numbers, hard-coded (sweep/commands/confirm.py, sweep/report/seeds.py), while each
    run's config.json records dataset idx. A statement about the validation set the
    seeds were measured on must be the one they used (or not give numbers)."""
    studies = tmp_path / "studies"
    made = sweep_cli(*run_args(studies, "rs", trials=3, jobs=2), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    got = sweep_cli("confirm", "--study", "rs", "--studies-dir", studies, "--resplit",
                    "--jobs", 2, "--max-candidates", 2, cwd=tmp_path, timeout=600)
    assert got.returncode == 0, got.stdout + got.stderr
    said = [line for line in got.stdout.splitlines() if line.startswith("--resplit")]
    assert said, got.stdout
    assert "60,000" not in said[0] and "10,000" not in said[0], said[0]
    # the tiny data's numbers, as the runs recorded them
    metrics = next((studies / "rs" / "confirm").glob("*/resplit-0/metrics.json"))
    sizes = json.loads(metrics.read_text())["dataset"]
    assert f"its own {sizes['val']:,} validation images from the " \
           f"{sizes['val'] + sizes['train']:,} training+validation" in " ".join(said), said
    got = sweep_cli("report", "--study", "rs", "--studies-dir", studies, cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    md = (studies / "rs" / "report" / "report.md").read_text()
    assert "60,000" not in md and f"its own {sizes['val']:,} validation images" in md

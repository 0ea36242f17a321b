"""Hostile tester 24: `run --train-limit 5000` on data of 1000 training images was
accepted and trained on the 1000 there are (metrics.json: "dataset": {"train": 1000}),
while the report said "Dataset: idx, first 5000 training images" and `compare` listed
the study as "idx (first 5000)": a count the trials' own files contradict. A new study's
limit past its data is refused before anything is made; one within it is shown."""

from __future__ import annotations

import json

import pytest

from tests.sweep.conftest import one_clear_line


@pytest.mark.slow
def test_a_train_limit_above_the_data_is_refused_and_one_within_is_shown(
        sweep_cli, tiny_idx_dir, tiny_space, tmp_path):
    studies = tmp_path / "studies"
    common = ["--trials", 1, "--epochs", 1, "--dataset", "idx", "--data-dir", tiny_idx_dir,
              "--space", tiny_space, "--pruner", "none", "--no-plots", "--quiet",
              "--studies-dir", studies]
    big = sweep_cli("run", "--study", "big", "--train-limit", 5000, *common, cwd=tmp_path,
                    timeout=240)
    assert big.returncode == 2, big.stderr
    line = one_clear_line(big, "--train-limit 5000: the data has ")
    there = int(line.split("the data has ")[1].split()[0])
    assert there < 5000 and not (studies / "big").exists(), line
    small = sweep_cli("run", "--study", "small", "--train-limit", there, *common,
                      cwd=tmp_path, timeout=240)
    assert small.returncode == 0, small.stderr
    metrics = json.loads((studies / "small/trials/0000/metrics.json").read_text())
    assert metrics["dataset"]["train"] == there
    report = (studies / "small/report/report.md").read_text()
    assert f"first {there} training images" in report

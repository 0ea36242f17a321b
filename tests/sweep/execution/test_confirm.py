"""``sweep confirm`` and ``sweep rerun`` (sweep/execution/confirm.py) on a small real study
(tiny data, real worker processes): directories, resuming, extending, statistics
recomputed from the stored per-seed results, a killed worker, an exact re-run. Their
bad input, in process: commands/test_confirm_command.py."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from tests.sweep.conftest import copy_study
from tests.sweep.faults.harness import Running, children, cmdline, sweep, wait_for

pytestmark = pytest.mark.slow

TOP, SEEDS = 2, 3


@pytest.fixture(scope="module")
def study(five_trial_study, tmp_path_factory) -> Path:
    """A finished 5-trial study with its classic trial outside the top 2 or inside it: this
    module's own copy of the session's, as `confirmed` writes into it."""
    return copy_study(five_trial_study, tmp_path_factory.mktemp("confirm") / "studies")


@pytest.fixture(scope="module")
def confirmed(study) -> tuple[Path, str]:
    proc = sweep("confirm", "--studies-dir", study, "--study", "c", "--top", TOP, "--seeds",
                 SEEDS, "--jobs", 2, cwd=study, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return study / "c", proc.stdout


def _best(root: Path, k: int) -> list[int]:
    best = json.loads(sweep("best", "--json", "--top", k, "--studies-dir", root.parent,
                            "--study", root.name, cwd=root).stdout)["best"]
    return [b["number"] for b in best]


def test_confirm_writes_one_experiment_per_configuration_and_seed(confirmed):
    root, _ = confirmed
    expected = set(_best(root, TOP)) | {0}
    folders = {int(p.name) for p in (root / "confirm").iterdir() if p.is_dir()}
    assert folders == expected
    for trial in expected:
        for s in range(SEEDS):
            folder = root / "confirm" / f"{trial:04d}" / f"seed-{s}"
            metrics = json.loads((folder / "metrics.json").read_text())
            assert metrics["status"] == "completed"
            config = json.loads((folder / "config.json").read_text())
            assert config["training"]["epochs"] == 2  # full epochs
    # seed s is the same seed for every configuration: paired by seed
    seeds = {(t, s): json.loads((root / "confirm" / f"{t:04d}" / f"seed-{s}" / "config.json")
                                .read_text())["training"]["seed"]
             for t in expected for s in range(SEEDS)}
    for s in range(SEEDS):
        assert len({seeds[(t, s)] for t in expected}) == 1
    assert len({seeds[(min(expected), s)] for s in range(SEEDS)}) == SEEDS


def test_the_study_storage_is_not_touched(confirmed):
    root, _ = confirmed
    trials = list(csv.DictReader(open_trials(root)))
    assert len(trials) == 5


def open_trials(root: Path):
    out = root.parent / "trials-after-confirm.csv"
    proc = sweep("trials", "--csv", out, "--studies-dir", root.parent, "--study", root.name,
                 cwd=root.parent)
    assert proc.returncode == 0, proc.stderr
    return open(out, newline="")


def test_statistics_equal_a_direct_computation(confirmed):
    root, _ = confirmed
    summary = json.loads((root / "confirm" / "confirm.json").read_text())
    assert summary["seeds"] == SEEDS
    per = {}
    for row in summary["configurations"]:
        t = row["trial"]
        values = [json.loads((root / "confirm" / f"{t:04d}" / f"seed-{s}" / "metrics.json")
                             .read_text())["val_accuracy"] for s in range(SEEDS)]
        per[t] = np.array(values)
        mean, sd = np.mean(values), np.std(values, ddof=1)
        half = stats.t.ppf(0.975, SEEDS - 1) * sd / np.sqrt(SEEDS)
        b = row["best_val"]
        assert b["mean"] == pytest.approx(mean) and b["sd"] == pytest.approx(sd)
        assert (b["low"], b["high"]) == pytest.approx((mean - half, mean + half))
        assert row["optimism"] == pytest.approx(row["original_value"] - mean)
    first = summary["best_mean"]
    for c in summary["comparisons"]:
        d = per[first] - per[c["other"]]
        assert c["diff"]["mean"] == pytest.approx(d.mean())
        assert c["t_p"] == pytest.approx(stats.ttest_rel(per[first], per[c["other"]]).pvalue,
                                         nan_ok=True)
    assert summary["recommended"] in summary["tied_with_best"]


def test_running_again_does_no_work_and_more_seeds_add_only_what_is_missing(confirmed, study):
    root, _ = confirmed
    stamp = {p: p.stat().st_mtime_ns for p in (root / "confirm").rglob("metrics.json")}
    again = sweep("confirm", "--studies-dir", study, "--study", "c", "--top", TOP, "--seeds",
                  SEEDS, "--jobs", 2, cwd=study, timeout=300)
    assert again.returncode == 0 and "re-runs to train" not in again.stdout, again.stdout
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp
    more = sweep("confirm", "--studies-dir", study, "--study", "c", "--top", TOP, "--seeds",
                 SEEDS + 1, "--jobs", 2, cwd=study, timeout=300)
    n_configs = len(set(_best(root, TOP)) | {0})
    assert more.returncode == 0, more.stdout + more.stderr
    assert f"{n_configs} of {n_configs * (SEEDS + 1)} re-runs to train" in more.stdout
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp


def test_a_killed_worker_loses_only_its_rerun(tmp_path, study):
    studies = tmp_path / "studies"
    shutil.copytree(study, studies)
    shutil.rmtree(studies / "c" / "confirm", ignore_errors=True)
    run = Running("confirm", "--studies-dir", studies, "--study", "c", "--top", TOP,
                  "--seeds", SEEDS, "--jobs", 2, cwd=tmp_path, log=tmp_path / "confirm",
                  faults={"SWEEP_FAULT_SLEEP": 0.4})
    try:
        workers = wait_for(lambda: [c for c in children(run.pid) if "popen_loky" in cmdline(c)
                                    and list((studies / "c" / "confirm").glob("*/*/history.csv"))],
                           120, "a re-run under way")
        os.kill(workers[0], signal.SIGKILL)
        rc = run.wait(300)
    finally:
        run.close()
    assert rc == 0, run.output()
    assert "failed: worker process was killed" in run.stdout, run.stdout
    done = [p for p in (studies / "c" / "confirm").glob("*/*/metrics.json")
            if json.loads(p.read_text())["status"] == "completed"]
    n_configs = len(set(_best(studies / "c", TOP)) | {0})
    assert len(done) == n_configs * SEEDS - 1
    again = sweep("confirm", "--studies-dir", studies, "--study", "c", "--top", TOP, "--seeds",
                  SEEDS, "--jobs", 2, cwd=tmp_path, timeout=300)
    assert again.returncode == 0 and "1 of" in again.stdout, again.stdout


def test_rerun_matches_exactly_then_names_a_changed_history(study, tmp_path):
    studies = tmp_path / "studies"
    shutil.copytree(study, studies)
    proc = sweep("rerun", "--studies-dir", studies, "--study", "c", "--trial", 1, cwd=tmp_path)
    assert proc.returncode == 0 and "exact match" in proc.stdout, proc.stdout + proc.stderr
    history = studies / "c" / "trials" / "0001" / "history.csv"
    lines = history.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("val_acc")] = "0.123"
    history.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    proc = sweep("rerun", "--studies-dir", studies, "--study", "c", "--trial", 1, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "epoch 1 val_acc: recorded 0.123" in proc.stdout, proc.stdout
    assert "likely cause" in proc.stdout

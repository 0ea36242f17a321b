"""``sweep confirm`` and ``sweep rerun`` (sweep/execution/confirm.py) on a small study
made here (tiny data, real worker processes): the race's seed folders, resuming,
extending, the verdicts recomputed from the stored per-seed results, a killed worker, an
exact re-run. Their bad input, in process: commands/test_confirm_command.py."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from tests.sweep.conftest import copy_study
from tests.sweep.faults.harness import Running, children, cmdline, sweep, wait_for

pytestmark = pytest.mark.slow

SEEDS = 10  # the contenders' seeds (the race's last look); the fresh seeds follow them
HOLDOUT = 5
ARGS = ("--within", 1000, "--max-candidates", 3, "--jobs", 2)  # the top 2 and the classic


@pytest.fixture(scope="module")
def study(five_trial_study, tmp_path_factory) -> Path:
    """A finished 5-trial study with its classic trial outside the top 2 or inside it: this
    module's own copy of the session's, as `confirmed` writes into it."""
    return copy_study(five_trial_study, tmp_path_factory.mktemp("confirm") / "studies")


@pytest.fixture(scope="module")
def confirmed(study) -> tuple[Path, str]:
    proc = sweep("confirm", "--studies-dir", study, "--study", "c", *ARGS, cwd=study,
                 timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return study / "c", proc.stdout


def _summary(root: Path) -> dict:
    return json.loads((root / "confirm" / "confirm.json").read_text())


def _runs(root: Path, trial: int) -> dict[int, Path]:
    return {int(p.name.split("-")[1]): p for p in (root / "confirm" / f"{trial:04d}").iterdir()
            if p.name.startswith("seed-")}


def test_confirm_races_the_candidates_in_paired_seed_folders(confirmed):
    root, out = confirmed
    summary = _summary(root)
    raced = [r["trial"] for r in summary["configurations"]]
    assert 0 in raced and len(raced) == 3  # the classic is always in the family
    assert summary["candidates"]["chosen"][0]["trial"] == summary["candidates"]["leader"]
    folders = {int(p.name) for p in (root / "confirm").iterdir() if p.is_dir()}
    assert folders == set(raced)
    for r in summary["configurations"]:
        seeds = sorted(_runs(root, r["trial"]))
        last = r["eliminated_at"] or SEEDS
        extra = HOLDOUT if r["trial"] in (summary["recommended"], 0) and \
            summary["recommended"] != 0 else 0
        assert seeds == list(range(last + extra)), (r["trial"], seeds)
        for folder in _runs(root, r["trial"]).values():
            assert json.loads((folder / "metrics.json").read_text())["status"] == "completed"
            config = json.loads((folder / "config.json").read_text())
            assert config["training"]["epochs"] == 2 and config["data"]["split_seed"] is None
    # seed s is the same seed for every configuration: paired by seed
    seeds = {(t, s): json.loads((p / "config.json").read_text())["training"]["seed"]
             for t in raced for s, p in _runs(root, t).items()}
    for s in range(5):
        assert len({seeds[(t, s)] for t in raced}) == 1
    assert len({seeds[(raced[0], s)] for s in range(5)}) == 5
    # each round said what it would cost before it ran, and the verdict came with the
    # guarantee and the pairing
    assert "race, look 1 of 2: " in out and "parameter-steps" in out
    assert "guarantee: With probability at least 95%, the best set contains" in out
    assert "only the data order is shared" in out


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


def test_the_verdicts_are_the_race_recomputed_from_the_folders(confirmed):
    from sweep.statistics.racing import race_plan, race_status
    from sweep.statistics.selection import holdout_difference

    root, _ = confirmed
    summary = _summary(root)
    raced = [c["trial"] for c in summary["candidates"]["chosen"]]
    acc = np.full((len(raced), SEEDS), np.nan)
    for i, t in enumerate(raced):
        for s, folder in _runs(root, t).items():
            if s < SEEDS:
                acc[i, s] = json.loads((folder / "metrics.json").read_text())["val_accuracy"]
    status = race_status(acc, race_plan(len(raced), (5, 10)), labels=raced)
    assert status.over
    rows = {r["trial"]: r for r in summary["configurations"]}
    for c in status.final.configurations:
        assert rows[c.label]["verdict"] == c.verdict
        assert rows[c.label]["best_val"]["mean"] == pytest.approx(c.mean)
        mean, sd = np.nanmean(acc[raced.index(c.label)]), np.nanstd(
            acc[raced.index(c.label)], ddof=1)
        assert c.mean == pytest.approx(mean) and c.sd == pytest.approx(sd)
    h = summary["holdout"]
    if summary["recommended"] != 0:
        fresh = range(SEEDS, SEEDS + HOLDOUT)
        mine, classic = ([json.loads((_runs(root, t)[s] / "metrics.json").read_text())
                          ["val_accuracy"] for s in fresh] for t in (summary["recommended"], 0))
        direct = holdout_difference(np.array(mine), np.array(classic))
        assert h["mean"] == pytest.approx(direct.mean) and h["verdict"] == direct.verdict
    else:
        assert "classic" in h["skipped"]


def test_running_again_does_no_work_and_more_seeds_add_only_what_is_missing(confirmed, study):
    root, _ = confirmed
    stamp = {p: p.stat().st_mtime_ns for p in (root / "confirm").rglob("metrics.json")}
    again = sweep("confirm", "--studies-dir", study, "--study", "c", *ARGS, cwd=study,
                  timeout=600)
    assert again.returncode == 0 and "race, look" not in again.stdout, again.stdout
    assert "fresh seeds:" not in again.stdout
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp
    survivors = [r["trial"] for r in _summary(root)["configurations"]
                 if r["eliminated_at"] is None]
    assert len(_summary(root)["plans_shown"]) == 1  # the same plan again is one plan
    more = sweep("confirm", "--studies-dir", study, "--study", "c", *ARGS, "--seeds", 11,
                 cwd=study, timeout=600)
    assert more.returncode == 0, more.stdout + more.stderr
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp
    summary = _summary(root)
    assert summary["seeds"] == 11
    # more seeds after the verdict was seen: the rates are stated for both plans
    assert [p["looks"] for p in summary["plans_shown"]] == [[5, 10], [5, 10, 11]]
    assert "shown under 2 plans" in summary["guarantee"]
    assert "guarantee: This race's verdicts were shown under 2 plans" in more.stdout
    assert "With probability at least 90%, the best set" in " ".join(more.stdout.split())
    if len(survivors) > 1:  # a third look, for the survivors only
        assert [r["configurations"] for r in summary["race"]["rounds"]][-1] == len(survivors)
        assert all(r["best_val"]["n"] == 11 for r in summary["configurations"]
                   if r["trial"] in survivors)


def test_a_killed_worker_loses_only_its_rerun_and_the_race_goes_on(tmp_path, study):
    studies = tmp_path / "studies"
    shutil.copytree(study, studies)
    shutil.rmtree(studies / "c" / "confirm", ignore_errors=True)
    run = Running("confirm", "--studies-dir", studies, "--study", "c", *ARGS, cwd=tmp_path,
                  log=tmp_path / "confirm", faults={"SWEEP_FAULT_SLEEP": 0.4})
    try:
        workers = wait_for(lambda: [c for c in children(run.pid) if "popen_loky" in cmdline(c)
                                    and list((studies / "c" / "confirm").glob("*/*/history.csv"))],
                           120, "a re-run under way")
        os.kill(workers[0], signal.SIGKILL)
        rc = run.wait(600)
    finally:
        run.close()
    assert rc == 0, run.output()
    assert "failed: worker process was killed" in run.stdout, run.stdout
    # the next look asked for the lost run again: every run the race used is there
    summary = _summary(studies / "c")
    for r in summary["configurations"]:
        assert r["best_val"]["n"] == (r["eliminated_at"] or SEEDS)


def test_resplit_gives_each_seed_its_own_validation_split(tmp_path, five_trial_study):
    studies = copy_study(five_trial_study, tmp_path / "studies")  # never confirmed
    proc = sweep("confirm", "--studies-dir", studies, "--study", "c", "--within", 1000,
                 "--max-candidates", 2, "--rule", "best", "--resplit", "--jobs", 2,
                 cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "--resplit: each seed drew its own" in proc.stdout
    summary = _summary(studies / "c")
    assert summary["resplit"] is True
    trial = summary["configurations"][0]["trial"]
    folders = sorted((studies / "c" / "confirm" / f"{trial:04d}").iterdir())
    assert folders and all(f.name.startswith("resplit-") for f in folders)
    splits = set()
    for f in folders:
        config = json.loads((f / "config.json").read_text())
        assert config["data"]["split_seed"] == config["training"]["seed"]
        splits.add(config["data"]["split_seed"])
    assert len(splits) == len(folders)  # one split per seed


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

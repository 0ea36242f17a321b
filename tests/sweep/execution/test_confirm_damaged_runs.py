"""Hostile tests: `sweep confirm` over a damaged race state. The seed folders are the
race's state ("running it again continues"); a seed folder that is damaged must be
trained again or named in one error line, and its numbers must never enter the
verdicts. Real processes on the tiny IDX data: one race run once per module, then each
test damages a copy of it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.sweep.conftest import error_lines, run_sweep
from tests.sweep.faults.harness import sweep
from tests.sweep.studies import finished_study

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def raced(tiny_idx_dir, tmp_path_factory) -> Path:
    """A 2-trial study (the classic trial leads, trial 1 is the next best) and a finished
    `sweep confirm` of it: the studies folder."""
    studies = tmp_path_factory.mktemp("raced") / "studies"
    finished_study(studies, "done", trials=2, data_dir=tiny_idx_dir)
    proc = run_sweep("confirm", "--studies-dir", studies, "--study", "done", "--jobs", 2,
                     cwd=studies.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (studies / "done" / "confirm" / "confirm.json").is_file()
    return studies


@pytest.fixture
def copy(raced, tmp_path) -> Path:
    studies = tmp_path / "studies"
    shutil.copytree(raced, studies)
    (studies / "done" / "confirm" / "confirm.json").unlink()
    return studies


def confirm(studies: Path):
    return run_sweep("confirm", "--studies-dir", studies, "--study", "done", "--jobs", 2,
                     cwd=studies.parent, timeout=600)


def seed_dir(studies: Path, trial: int, seed: int) -> Path:
    return studies / "done" / "confirm" / f"{trial:04d}" / f"seed-{seed}"


def edit_metrics(studies: Path, trial: int, seed: int, **changes) -> None:
    path = seed_dir(studies, trial, seed) / "metrics.json"
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


def test_a_completed_run_with_a_garbage_accuracy_is_trained_again_or_named(copy):
    """metrics.json says "completed" but its val_accuracy is "abc". `is_done` calls it
    finished (never trained again) while `read_runs` calls it missing, so the race asks
    for it every round and nothing trains it. Before: "sweep confirm: error: 1 re-run
    failed twice (trial 0 seed 3); see .../workers.log and run the command again", exit 1,
    the same on every run, workers.log empty, metrics.json never named."""
    edit_metrics(copy, 0, 3, val_accuracy="abc")
    proc = confirm(copy)
    if proc.returncode != 0:
        lines = error_lines(proc.stderr)
        assert len(lines) == 1 and "metrics.json" in lines[0] and "seed-3" in lines[0], \
            proc.stderr
        return
    summary = json.loads((copy / "done" / "confirm" / "confirm.json").read_text())
    row = next(r for r in summary["configurations"] if r["trial"] == 0)
    assert "3" in row["per_seed"]


def test_an_accuracy_above_one_never_enters_the_verdicts(copy):
    """metrics.json's val_accuracy 5.0 (a foreign or hand-edited file) was read as a
    run's accuracy: the table said "value_mean 124.82%, value_low 30.51%, value_high
    100.00%" (a mean above its own interval, above 100%), exit 0."""
    edit_metrics(copy, 0, 3, val_accuracy=5.0)
    proc = confirm(copy)
    assert "Traceback" not in proc.stderr, proc.stderr
    if proc.returncode != 0:
        lines = error_lines(proc.stderr)
        assert len(lines) == 1 and "metrics.json" in lines[0], proc.stderr
        return
    summary = json.loads((copy / "done" / "confirm" / "confirm.json").read_text())
    for row in summary["configurations"]:
        b = row["best_val"]
        assert all(0 <= v <= 1 for v in row["per_seed"].values()), row["per_seed"]
        assert b["low"] <= b["mean"] <= b["high"] <= 1, b


def test_a_seed_folder_that_is_a_file_is_named(copy):
    """confirm/0000/seed-4 is a plain file. The re-run's worker raises (rmtree on a file);
    the pool reports it as SlotFailed, which `run_missing` drops without a word. Before:
    "error: 1 re-run failed twice (trial 0 seed 4); see .../workers.log and run the command
    again", with nothing in workers.log and the same on every run."""
    target = seed_dir(copy, 0, 4)
    shutil.rmtree(target)
    target.write_text("not a folder\n")
    proc = confirm(copy)
    if proc.returncode != 0:
        lines = error_lines(proc.stderr)
        assert len(lines) == 1 and "seed-4" in lines[0], proc.stderr
        assert proc.returncode == 1
        return
    assert (target / "metrics.json").is_file()


def test_a_file_where_a_configurations_folder_goes_is_named_before_any_training(copy):
    """Hostile tester 18: a file at confirm/0000: every re-run of trial 0 "failed:
    NotADirectoryError: [Errno 20] Not a directory: '.../confirm/0000/seed-3'", ten
    raw lines, then the summary. One line naming it, before anything trains."""
    folder = copy / "done" / "confirm" / "0000"
    shutil.rmtree(folder)
    folder.write_text("not a folder\n")
    proc = confirm(copy)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and f"{folder} is not a folder" in lines[0], proc.stderr
    assert "[Errno" not in proc.stdout + proc.stderr and "re-run" not in proc.stdout


def test_a_symlink_loop_in_place_of_a_run_is_cleared_and_trained_again(copy):
    """A symlink loop in place of confirm/0000/seed-2: it is no run, so it is cleared and
    the seed trained again (before: every attempt raised in the worker, unreported)."""
    target = seed_dir(copy, 0, 2)
    shutil.rmtree(target)
    target.symlink_to(target.name)
    proc = confirm(copy)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not target.is_symlink() and (target / "metrics.json").is_file()


def test_a_failed_rerun_says_why(copy):
    """A re-run whose training raises (an injected bug, in every worker): the reason
    reaches the user, a line per failed re-run as for a killed worker, then one error
    line; before, only "failed twice; see workers.log" with an empty workers.log."""
    shutil.rmtree(seed_dir(copy, 0, 2))
    proc = sweep("confirm", "--studies-dir", copy, "--study", "done", "--jobs", 2,
                 cwd=copy.parent, faults={"SWEEP_FAULT_RAISE": "all"}, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    failed = [line for line in proc.stdout.splitlines()
              if line.startswith("re-run of trial 0 seed 2 failed: InjectedFault")]
    assert len(failed) == 2, proc.stdout  # tried, retried once
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and "failed twice (trial 0 seed 2)" in lines[0], proc.stderr

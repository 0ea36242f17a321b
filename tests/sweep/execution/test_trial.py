"""One trial in a worker (sweep/execution/trial.py), in real ``sweep run`` processes:
a trial that diverges or stays at chance is pruned with its reason, one that raises
fails with its traceback and five in a row stop the run, a network too large for memory
fails at once, and a trial whose folder cannot be made fails instead of staying
RUNNING."""

from __future__ import annotations

import pytest

from tests.sweep.faults.harness import (
    check_study,
    read_json,
    states,
    stored_trials,
    sweep,
    trial_docs,
)
from tests.sweep.studies import finished_study, resume

pytestmark = pytest.mark.slow


# -- a trial diverges, a trial raises (one study: trial 1 diverges at epoch 2, step 3;
# trial 2 raises) ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def faulty_study(tmp_path_factory, run_args):
    work = tmp_path_factory.mktemp("faulty")
    cmd = run_args(work / "studies", "faulty", trials=5, epochs=3)
    proc = sweep(*cmd, cwd=work,
                 faults={"SWEEP_FAULT_NAN": "1:2:3", "SWEEP_FAULT_RAISE": "2"})
    return work, work / "studies" / "faulty", proc


def test_forced_nan_prunes_trial_with_epoch_and_step(faulty_study):
    work, root, proc = faulty_study
    assert proc.returncode == 0, proc.stdout + proc.stderr
    trials = check_study(root, finished=5)
    assert states(trials) == {"COMPLETE": 3, "PRUNED": 1, "FAIL": 1}, states(trials)
    doc = trial_docs(root)[1]
    assert doc["state"] == "PRUNED", doc
    assert doc["reason"].startswith("diverged at epoch 2, step 3"), doc
    metrics = read_json(root / "trials" / "0001" / "metrics.json")
    assert metrics["status"] == "diverged" and metrics["diverged"] == {"epoch": 2, "step": 3}
    table = sweep("trials", "--studies-dir", work / "studies", "--study", "faulty", cwd=work)
    assert table.returncode == 0, table.stderr
    assert "diverged at epoch 2, step 3" in table.stdout, table.stdout


def test_exception_in_trial_fails_it_with_traceback(faulty_study):
    work, root, proc = faulty_study
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = trial_docs(root)[2]
    assert doc["state"] == "FAIL", doc
    assert doc["reason"] == "InjectedFault: injected fault in trial 2, epoch 1", doc
    assert doc["traceback"].startswith("Traceback (most recent call last)"), doc
    assert "InjectedFault: injected fault in trial 2" in doc["traceback"]
    metrics = read_json(root / "trials" / "0002" / "metrics.json")
    assert metrics["status"] == "failed", metrics
    assert "InjectedFault" in metrics["traceback"], metrics
    later = [t for t in stored_trials(root) if t.number > 2]
    assert later and all(t.state.name == "COMPLETE" for t in later), "the study did not go on"


def test_every_trial_failing_stops_the_run_early(tmp_path, run_args):
    cmd = run_args(tmp_path / "studies", "allfail", trials=40)
    proc = sweep(*cmd, cwd=tmp_path, faults={"SWEEP_FAULT_RAISE": "all"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "stopped: 5 trials failed in a row" in proc.stderr, proc.stderr
    assert "InjectedFault" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    trials = check_study(tmp_path / "studies" / "allfail")
    assert 5 <= len(trials) <= 8, f"{len(trials)} trials burnt"
    assert states(trials) == {"FAIL": len(trials)}


# 5. ------------------------------------------------------------------------------------


# -- a network too large for memory ---------------------------------------------------


def test_a_trial_too_large_for_memory_fails_at_once_with_its_estimate(tmp_path, data_args):
    path = tmp_path / "space.toml"
    """A space with networks that fit and ones that do not (one where none fits is
    refused up front: execution/test_space_too_large.py): the classic trial trains, the
    enqueued giant fails at once, naming its estimate."""
    path.write_text("[params.hidden_size]\nlow = 16\nhigh = 65536\n"
                    "[params.hidden_layers]\ntype = \"int\"\nlow = 1\nhigh = 16\n")
    studies = tmp_path / "s"
    proc = sweep("run", "--trials", 2, "--jobs", 1, "--epochs", 1, *data_args, "--space", path,
                 "--studies-dir", studies, "--study", "big", "--no-report", "--no-plots",
                 "--quiet", "--enqueue", "hidden_size=65536,hidden_layers=16", cwd=tmp_path,
                 timeout=120)
    assert proc.returncode == 0, proc.stderr
    trials = {t.number: t for t in check_study(studies / "big", finished=2)}
    assert trials[0].state.name == "COMPLETE", trials[0].user_attrs
    assert trials[1].state.name == "FAIL" and "GB" in trials[1].user_attrs["reason"], \
        trials[1].user_attrs


# -- the second hostile pass --------------------------------------------------------------


# -- a trial's folder cannot be made ---------------------------------------------------


def test_a_trial_folder_that_cannot_be_made_fails_that_trial(tmp_path, tiny_idx_dir):
    """A file where trial 3's folder goes: the run goes on to its total, nothing is left
    RUNNING, and the file is kept aside as 0003.orphan-<time>."""
    root = finished_study(tmp_path / "studies", "done", trials=3, data_dir=tiny_idx_dir)
    (root / "trials" / "0003").write_text("a file where trial 3's folder goes")
    proc = sweep(*resume(root.parent, "done", 4), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trials = stored_trials(root)
    assert [t.state.name for t in trials].count("RUNNING") == 0
    assert len(trials) == 4
    kept = list((root / "trials").glob("0003.orphan-*"))
    assert len(kept) == 1 and kept[0].read_text().startswith("a file")


def test_a_trial_whose_directory_cannot_be_resolved_is_failed_not_left_running(
        tmp_path, tiny_idx_dir, open_optuna):
    """Trial 1's folder a symbolic link loop: the worker's ``trial_dir.resolve()``
    raised RuntimeError before the trial's try, so the slot failed and the trial stayed
    RUNNING after the run (its worker alive and idle). (``trials/`` itself a loop is
    refused before the run: test_study_folder_identity.py.)"""
    root = finished_study(tmp_path, "loop", trials=1, data_dir=tiny_idx_dir)
    (root / "trials" / "0001").symlink_to("0001")
    second = sweep(*resume(tmp_path, "loop", 2, jobs=1), cwd=tmp_path)
    states = {t.number: t.state.name for t in open_optuna(tmp_path, "loop").trials}
    assert states == {0: "COMPLETE", 1: "FAIL"}, second.stdout + second.stderr
    failed = open_optuna(tmp_path, "loop").trials[1]
    assert "Symlink loop" in failed.user_attrs["reason"] or \
        "symbolic links" in failed.user_attrs["reason"], failed.user_attrs

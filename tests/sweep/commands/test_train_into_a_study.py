"""``train --experiment`` inside a study's folder.

Before: ``sweep train --experiment studies/tr/trials/0002`` trained into the study's
trials folder (exit 0, "-> studies/tr/trials/0002"); the next ``sweep run`` of that study
renamed the user's experiment aside to ``trials/0002.orphan-...`` without a word and wrote
its own trial 2 there. predict's --out, compare's report folder and --studies-dir are
refused inside a study folder; train's --experiment is not."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # a real study is run first


def _files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("inside", ["trials/0002", "mine", "report/x"])
def test_train_refuses_an_experiment_inside_a_study(inside, tiny_run, sweep_cli,
                                                    tiny_idx_dir, tmp_path, check_error):
    assert tiny_run("tr", 2).returncode == 0
    root = tmp_path / "studies" / "tr"
    before = _files(root)
    proc = sweep_cli("train", "--dataset", "idx", "--data-dir", tiny_idx_dir, "--epochs", 1,
                     "--quiet", "--experiment", root / inside, cwd=tmp_path)
    check_error(proc, 2, "--experiment", "study")
    assert _files(root) == before


def test_train_run_from_inside_a_trial_writes_nothing_there(tiny_run, sweep_cli,
                                                            tiny_idx_dir, tmp_path):
    """Before: ``cd studies/a/trials/0000 && sweep train`` (no --experiment) trained into
    ``trials/0000/runs/<time>/`` (exit 0), inside the trial's experiment directory."""
    assert tiny_run("tr", 1).returncode == 0
    root = tmp_path / "studies" / "tr"
    before = _files(root)
    proc = sweep_cli("train", "--dataset", "idx", "--data-dir", tiny_idx_dir, "--epochs", 1,
                     "--quiet", cwd=root / "trials" / "0000")
    assert _files(root) == before, proc.stdout + proc.stderr
    assert proc.returncode == 2, proc.stdout + proc.stderr

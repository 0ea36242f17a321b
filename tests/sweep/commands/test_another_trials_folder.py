"""A trial's folder that holds another trial's files (restored from the wrong backup,
copied over): every command that reads its network refuses it in one line.

Hostile tester 21: ``predict --trial 1`` showed trial 0's predictions as trial 1's and
``plots --trial 1`` uploaded trial 0's figures as trial 1's, exit 0; only ``rerun``
compared the folder's config.json with the study's record."""

from __future__ import annotations

import shutil

import pytest

from tests.sweep.conftest import one_clear_line

pytestmark = pytest.mark.slow


def test_predict_plots_and_rerun_refuse_another_trials_folder(tiny_run, sweep_cli, tmp_path,
                                                               tiny_idx_dir):
    assert tiny_run("s", 2).returncode == 0
    studies = tmp_path / "studies"
    trials = studies / "s" / "trials"
    shutil.rmtree(trials / "0001")
    shutil.copytree(trials / "0000", trials / "0001")  # trial 0's network, as trial 1's
    where = ["--study", "s", "--studies-dir", studies, "--trial", 1]
    for command in (["predict", "--index", 3, "--data-dir", tiny_idx_dir], ["plots"],
                    ["rerun"]):
        proc = sweep_cli(*command[:1], *where, *command[1:], cwd=tmp_path)
        assert proc.returncode == 1, (command, proc.stdout, proc.stderr)
        one_clear_line(proc, f"trial 1: {trials / '0001' / 'config.json'} says ",
                       "the folder holds another trial's files")
    assert not (studies / "s" / "artifacts" / "1").exists()  # nothing uploaded as trial 1's

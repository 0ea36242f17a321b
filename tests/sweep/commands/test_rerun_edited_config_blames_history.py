"""`rerun` of a trial whose config.json no longer matches the study's own record of the
trial re-trains the edited configuration and blames the history or the hardware.

What happened: in a finished study, trial 3's config.json had training.lr changed from
the trial's 0.48 (what the study's storage and trial.json hold) to 0.2; then

    $ python -m sweep rerun --studies-dir RR --study a --trial 3
    ...
      epoch 1 val_acc: recorded 0.585, now 0.475
    likely cause: none recorded differs (same versions, BLAS, threads and host): the
    recorded history was changed, or the hardware differs

exit 1. The cause is neither: it re-trained a network the trial never was (lr 0.2), and
nothing names the disagreement between config.json and the study's params for the trial.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def test_rerun_names_a_config_that_disagrees_with_the_study(tiny_run, sweep_cli, tmp_path):
    proc = tiny_run("a", 2)
    assert proc.returncode == 0, proc.stderr
    studies = tmp_path / "studies"
    config_path = studies / "a" / "trials" / "0001" / "config.json"
    config = json.loads(config_path.read_text())
    recorded = config["training"]["lr"]
    config["training"]["lr"] = recorded * 0.37
    config_path.write_text(json.dumps(config, indent=1))

    rerun = sweep_cli("rerun", "--studies-dir", studies, "--study", "a", "--trial", 1,
                      cwd=tmp_path, timeout=120)

    out = rerun.stdout + rerun.stderr
    assert rerun.returncode != 0, out
    assert "hardware differs" not in out and "lr" in out.replace("lr_end", ""), out

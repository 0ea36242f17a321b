"""``predict``, ``rerun`` and ``plots`` on a trial that is waiting.

Before: after an interrupted run, ``sweep trials`` listed trials 6 and 7 as ``waiting``
(retries enqueued in the study's storage), yet ``sweep predict --trial 7 --index 1``,
``rerun --trial 7`` and ``plots --trial 7`` each said "--trial 7: study 'k2' has no such
trial", a false statement about the storage (a failed trial gets "it is FAIL: no
trained network")."""

from __future__ import annotations

import optuna
import pytest

from sweep.study.paths import StudyPaths
from sweep.study.storage import open_storage
from tests.sweep.studies import finished_study


@pytest.mark.parametrize("command", [["predict", "--index", "1"], ["rerun"], ["plots"]])
def test_a_waiting_trial_is_not_called_missing(command, tmp_path, cli):
    studies = tmp_path / "studies"
    finished_study(studies, "w", trials=2)
    paths = StudyPaths.of(studies, "w")
    study = optuna.load_study(study_name="w", storage=open_storage(paths.journal))
    study.enqueue_trial({"hidden_size": 64})
    assert [t.state.name for t in study.get_trials()][-1] == "WAITING"
    listed = cli("trials", "--studies-dir", studies, "--study", "w", "--state", "waiting",
                 "-f", "csv")
    assert listed.returncode == 0 and "\n2," in listed.stdout, listed.stdout

    proc = cli(command[0], "--trial", 2, *command[1:], "--studies-dir", studies,
               "--study", "w")
    assert proc.returncode == 2, proc.stderr
    assert "no such trial" not in proc.stderr, proc.stderr
    assert "WAITING" in proc.stderr.upper(), proc.stderr

"""``export --mlflow`` counts trials lost to a fault and retried as finished.

Before: on a study whose 6 trials were all interrupted (each failed "interrupted" and
retried, 2 retries waiting), ``report`` said "report of 0 finished trials (0 completed, 0
pruned, 0 failed; 6 lost to a fault and retried, 2 retries waiting)", ``best`` "0
finished", ``studies`` finished 0, while ``export --mlflow`` said "study 'k2': 6 finished
trials exported (6 new, 0 already there)": one word, two counts for the same study."""

from __future__ import annotations

import csv
import io

import optuna
import pytest
from optuna.trial import TrialState

from sweep.study.paths import StudyPaths
from sweep.study.storage import open_storage
from tests.sweep.studies import finished_study

pytestmark = pytest.mark.slow  # MLflow takes seconds to import and write


def test_export_says_finished_as_every_other_command(tmp_path, cli):
    pytest.importorskip("mlflow")
    studies = tmp_path / "studies"
    finished_study(studies, "k", trials=1)
    study = optuna.load_study(study_name="k",
                              storage=open_storage(StudyPaths.of(studies, "k").journal))
    lost = study.ask({"hidden_size": optuna.distributions.IntDistribution(32, 512, log=True)})
    lost.set_user_attr("lost", True)
    lost.set_user_attr("reason", "interrupted")
    study.tell(lost, state=TrialState.FAIL)
    study.enqueue_trial({"hidden_size": lost.params["hidden_size"]},
                        user_attrs={"retry_of": lost.number})
    listed = cli("studies", "--studies-dir", studies, "-f", "csv")
    assert listed.returncode == 0, listed.stderr
    finished = int(next(csv.DictReader(io.StringIO(listed.stdout)))["finished"])
    assert finished == 1  # the completed trial; the lost one is counted as retried

    proc = cli("export", "--mlflow", f"sqlite:///{tmp_path / 'm.db'}", "--study", "k",
               "--studies-dir", studies, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"{finished} finished trial" in proc.stdout, proc.stdout

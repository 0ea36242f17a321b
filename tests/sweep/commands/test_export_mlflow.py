"""``sweep export --mlflow``: a study's trials as MLflow runs, read back through MLflow's
own client from a local SQLite tracking store.

The study is a real ``sweep run`` on the tiny data with every trial's figures drawn and
one trial failing in its own code in its second epoch (faults/sitecustomize.py), so
that completed and failed trials are both exported.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import optuna
import pytest

from sweep.commands.cli import main
from sweep.study.results import load
from tests.sweep.conftest import assert_one_line_error
from tests.sweep.faults.harness import sweep

pytestmark = pytest.mark.slow
mlflow = pytest.importorskip("mlflow", reason="MLflow comes with the test extra")

STUDY = "exp"
METRICS = {"val_acc": "val_accuracy", "val_loss": "val_loss", "train_acc": "train_accuracy",
           "train_loss": "train_loss", "lr_end": "lr"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory, run_args):
    """A 5-trial study (trial 3 raises), exported twice to one SQLite tracking store."""
    work = tmp_path_factory.mktemp("export")
    studies = work / "studies"
    cmd = [*run_args(studies, STUDY, trials=5, jobs=2, epochs=2), "--plots", "all"]
    cmd.remove("--no-plots")
    # trial 3 raises in its second epoch: a failed trial with one epoch of history
    ran = sweep(*cmd, cwd=work, faults={"SWEEP_FAULT_RAISE": "3",
                                        "SWEEP_FAULT_RAISE_EPOCH": "2"})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    uri = f"sqlite:///{work / 'mlflow.db'}"
    first = sweep("export", "--study", STUDY, "--studies-dir", studies, "--mlflow", uri,
                  cwd=work)
    second = sweep("export", "--study", STUDY, "--studies-dir", studies, "--mlflow", uri,
                   cwd=work)
    return work, studies, uri, first, second


def runs_of(uri: str) -> dict[int, object]:
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(STUDY)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    by_trial: dict[int, object] = {}
    for run in runs:
        number = int(run.data.tags["sweep.trial"])
        assert number not in by_trial, f"trial {number} exported twice"
        by_trial[number] = run
    return by_trial


def test_every_trial_is_a_run_with_its_params_tags_and_epochs(exported):
    work, studies, uri, first, second = exported
    assert first.returncode == 0, first.stderr
    assert "5 finished trials exported (5 new, 0 already there)" in first.stdout, first.stdout
    assert first.stderr == "", first.stderr  # MLflow's own INFO lines are not shown
    results = load(STUDY, studies)
    runs = runs_of(uri)
    assert sorted(runs) == [o.number for o in results.outcomes] == list(range(5))
    client = mlflow.MlflowClient(tracking_uri=uri)
    for o in results.outcomes:
        run = runs[o.number]
        assert run.info.run_name == f"trial {o.number}"
        assert run.info.status == ("FAILED" if o.state == "FAIL" else "FINISHED")
        assert run.data.params == {k: str(v) for k, v in o.params.items()}
        tags = run.data.tags
        assert tags["state"] == o.state and tags["seed"] == str(o.seed)
        assert tags["classic"] == ("true" if o.number == 0 else "false")
        assert tags["sweep.complete"] == "true"
        folder = results.trial_dir(o.number)
        with open(folder / "history.csv", newline="") as f:
            history = list(csv.DictReader(f))
        for column, name in METRICS.items():
            logged = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id,
                                                                           name)]
            assert sorted(logged) == [(int(r["epoch"]), float(r[column])) for r in history]
        if o.state == "COMPLETE":
            assert run.data.metrics["test_accuracy"] == pytest.approx(o.test_accuracy)
            assert run.data.metrics["best_val_accuracy"] == pytest.approx(o.value)
        else:  # the test set is reported for completed trials only
            assert "test_accuracy" not in run.data.metrics, o.number
            assert "InjectedFault" in tags["reason"]
    assert results.outcomes[3].state == "FAIL"
    assert [m.step for m in client.get_metric_history(runs[3].info.run_id, "val_accuracy")] \
        == [1]  # the epoch it trained before it raised


def test_every_trial_has_its_figures_config_and_metrics(exported):
    work, studies, uri, first, second = exported
    results = load(STUDY, studies)
    client = mlflow.MlflowClient(tracking_uri=uri)
    for number, run in runs_of(uri).items():
        folder = results.trial_dir(number)
        top = {a.path for a in client.list_artifacts(run.info.run_id)}
        files = {"config.json", "metrics.json", "history.csv"}
        assert top - {"plots"} == {f for f in files if (folder / f).is_file()}, (number, top)
        figures = sorted(p.name for p in (folder / "plots").glob("*.png")) \
            if (folder / "plots").is_dir() else []
        logged = sorted(Path(a.path).name
                        for a in client.list_artifacts(run.info.run_id, "plots"))
        assert logged == figures, (number, logged, figures)
        if results.outcomes[number].state == "COMPLETE":
            assert "learning_curves.png" in logged
        local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id,
                                                    artifact_path="config.json",
                                                    tracking_uri=uri, dst_path=str(
                                                        work / "down" / str(number)))
        assert json.loads(Path(local).read_text()) == \
            json.loads((folder / "config.json").read_text())


def test_exporting_again_adds_nothing_and_new_trials_only(exported):
    work, studies, uri, first, second = exported
    assert second.returncode == 0, second.stderr
    assert "5 finished trials exported (0 new, 5 already there)" in second.stdout
    assert len(runs_of(uri)) == 5
    grown = sweep("run", "--trials", 6, "--studies-dir", studies, "--study", STUDY,
                  "--no-report", "--quiet", cwd=work)
    assert grown.returncode == 0, grown.stdout + grown.stderr
    third = sweep("export", "--study", STUDY, "--studies-dir", studies, "--mlflow", uri,
                  cwd=work)
    assert "6 finished trials exported (1 new, 5 already there)" in third.stdout, third.stdout
    assert sorted(runs_of(uri)) == list(range(6))


def test_a_missing_mlflow_is_one_line_and_exit_2(exported, monkeypatch, capsys):
    work, studies, uri, first, second = exported
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
    code = main(["export", "--study", STUDY, "--studies-dir", str(studies), "--mlflow", uri])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "pip install -e '.[mlflow]'" in err


def test_a_store_inside_a_study_or_on_its_database_is_refused(exported, tmp_path):
    work, studies, uri, first, second = exported
    inside = sweep("export", "--study", STUDY, "--studies-dir", studies, "--mlflow",
                   f"sqlite:///{studies / STUDY / 'mlflow.db'}", cwd=work)
    assert_one_line_error(inside, 2, "inside the study folder")
    assert not (studies / STUDY / "mlflow.db").exists()
    optuna_db = tmp_path / "optuna.db"
    optuna.create_study(study_name="o", storage=f"sqlite:///{optuna_db}")
    before = optuna_db.read_bytes()
    onto = sweep("export", "--study", STUDY, "--studies-dir", studies, "--mlflow",
                 f"sqlite:///{optuna_db}", cwd=work)
    assert_one_line_error(onto, 2, "holds an Optuna study's storage")
    assert optuna_db.read_bytes() == before

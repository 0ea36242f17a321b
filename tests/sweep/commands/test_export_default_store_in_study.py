"""``export --mlflow`` with MLflow's default store, run from inside a study's folder.

Before: ``cd studies/a && sweep export --mlflow --study a --studies-dir ..`` exited 0
having written ``mlflow.db`` and ``mlruns/`` into the study's folder ("... at
sqlite:////.../studies/a/mlflow.db; artifacts in .../studies/a/mlruns/1"). The same store
named explicitly (``--mlflow sqlite:////.../studies/a/mlflow.db``) is refused: "inside
the study folder ...; keep the MLflow store elsewhere"."""

from __future__ import annotations

import pytest

from tests.sweep.studies import finished_study

pytestmark = pytest.mark.slow  # MLflow takes seconds to import and write


def test_the_default_store_never_lands_in_the_study(tmp_path, cli, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    study = finished_study(tmp_path / "studies", "a", trials=2)
    before = sorted(p.name for p in study.iterdir())
    proc = cli("export", "--mlflow", "--study", "a", "--studies-dir", study.parent,
               cwd=study)
    assert sorted(p.name for p in study.iterdir()) == before, proc.stdout + proc.stderr
    assert proc.returncode == 2, proc.stdout + proc.stderr


def test_the_default_artifact_folder_never_lands_in_the_study(tmp_path, cli, monkeypatch):
    """Before: ``cd studies/c1 && sweep export --mlflow sqlite:////elsewhere/z.db ...``
    (a store outside the study) exited 0 with "artifacts in .../studies/c1/mlruns/1":
    MLflow's artifact root defaults to ./mlruns, here inside the study's folder."""
    pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    study = finished_study(tmp_path / "studies", "a", trials=2)
    before = sorted(p.name for p in study.iterdir())
    store = tmp_path / "elsewhere" / "z.db"
    store.parent.mkdir()
    proc = cli("export", "--mlflow", f"sqlite:///{store}", "--study", "a",
               "--studies-dir", study.parent, cwd=study)
    assert sorted(p.name for p in study.iterdir()) == before, proc.stdout + proc.stderr

"""Where a study is kept and found: settings Optuna's own CLI lists in a normal-width table,
studies made the old way, ``studies --storage``; and ``predict --study --trial``,
``plots`` uploading its figures, a renamed study folder, plural counts, an offline
fetch."""

from __future__ import annotations

import filecmp
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import optuna
import pytest
from optuna.artifacts import get_all_artifact_meta
from optuna.storages.journal import JournalFileBackend, JournalStorage

from sweep.study.settings import (
    OLD_SETTINGS_ATTR,
    SETTINGS_ATTR,
    _system_attrs,
    settings_record,
    stored_settings,
)
from tests.sweep.conftest import copy_study, load_optuna
from tests.sweep.faults.harness import sweep, sweep_env

pytestmark = pytest.mark.slow


def _optuna_studies(storage: str) -> list[str]:
    """Optuna's own ``optuna studies --storage STORAGE``, its table's lines."""
    proc = subprocess.run([sys.executable, "-c", "import sys; from optuna.cli import main; "
                           "sys.exit(main())", "studies", "--storage", storage],
                          capture_output=True, text=True, timeout=120, env=sweep_env())
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_optuna_lists_a_journal_study_in_a_normal_width_table(main_study):
    lines = _optuna_studies(str(main_study.root / "journal.log"))
    assert any(" main " in line for line in lines), lines
    assert max(len(line) for line in lines) < 200, lines
    study = main_study.optuna()
    assert SETTINGS_ATTR in _system_attrs(study) and OLD_SETTINGS_ATTR not in study.user_attrs
    assert study.metric_names == ["value"]
    assert "validation accuracy" in study.user_attrs["sweep"]


@pytest.fixture(scope="module")
def database(tmp_path_factory, run_args) -> tuple[Path, str]:
    """A study in a SQLite database, and a study there that sweep did not make."""
    work = tmp_path_factory.mktemp("database")
    url = f"sqlite:///{work / 'studies.db'}"
    proc = sweep(*run_args(work / "studies", "db", trials=2), "--storage", url, cwd=work)
    assert proc.returncode == 0, proc.stderr
    optuna.create_study(study_name="someone else's", storage=url)
    return work, url


def test_a_database_study_is_listed_and_read_from_anywhere(database, check_error):
    work, url = database
    lines = _optuna_studies(url)
    assert max(len(line) for line in lines) < 200, lines
    elsewhere = work / "another-machine"  # no folder of the study here: all from the database
    elsewhere.mkdir()
    proc = sweep("studies", "--storage", url, "--studies-dir", elsewhere, "-f", "json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)["studies"]}
    assert rows["db"]["finished"] == 2 and rows["db"]["problem"] is None
    assert rows["db"]["best_number"] in (0, 1) and 0 < rows["db"]["best_value"] <= 1
    assert "not a study sweep made" in rows["someone else's"]["problem"]
    table = sweep("studies", "--storage", url, "--studies-dir", elsewhere, cwd=work)
    assert table.returncode == 0 and table.stdout.splitlines()[0].split()[0] == "name"
    settings = stored_settings(optuna.load_study(study_name="db", storage=url))
    assert settings.config.training.epochs == 1
    check_error(sweep("studies", "--storage", f"sqlite:///{work / 'none.db'}", cwd=work), 1,
                "no such database file")


def test_a_study_made_the_old_way_is_read_and_resumed(tmp_path, run_args):
    """Before, the settings were the user attribute ``settings``: such a study is still
    read and resumed, and left as it is."""
    new = sweep(*run_args(tmp_path / "studies", "new", trials=1), cwd=tmp_path)
    assert new.returncode == 0, new.stderr
    record = settings_record(load_optuna(tmp_path / "studies", "new"))
    folder = tmp_path / "studies" / "old"
    folder.mkdir()
    storage = JournalStorage(JournalFileBackend(str(folder / "journal.log")))
    old = optuna.create_study(study_name="old", storage=storage, direction="maximize")
    old.set_metric_names(["val_accuracy"])
    created = datetime.now(UTC).isoformat()
    old.set_user_attr("settings", record)
    old.set_user_attr("created", created)
    (folder / "study.json").write_text(json.dumps({"name": "old", "storage": None,
                                                   "created": created}))
    resumed = sweep(*run_args(tmp_path / "studies", "old", trials=2), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    listed = sweep("trials", "--studies-dir", tmp_path / "studies", "--study", "old", "-f",
                   "json", cwd=tmp_path)
    assert [t["state"] for t in json.loads(listed.stdout)["trials"]] == ["COMPLETE"] * 2
    study = load_optuna(tmp_path / "studies", "old")
    assert SETTINGS_ATTR not in _system_attrs(study)
    assert study.user_attrs["settings"] == record == settings_record(study)


def test_predict_names_a_trial_as_plots_and_rerun_do(main_study, tmp_path, check_error):
    where = ["--studies-dir", main_study.studies_dir, "--study", main_study.name]
    out = tmp_path / "grid.png"
    proc = sweep("predict", *where, "--trial", 1, "--index", 0, 1, "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0 and "test #1: predicted" in proc.stdout
    check_error(sweep("predict", *where, "--trial", 1, "--experiment", tmp_path, "--index", 0,
                      cwd=tmp_path), 2, "--study S --trial N", "--experiment DIR")
    check_error(sweep("predict", *where, "--index", 0, cwd=tmp_path), 2, "--trial N")
    check_error(sweep("predict", *where, "--trial", 99, "--index", 0, cwd=tmp_path), 2,
                "--trial 99")


def test_plots_uploads_the_figures_as_artifacts(main_study, tmp_path):
    studies = copy_study(main_study.studies_dir, tmp_path / "studies")
    where = ["--studies-dir", studies, "--study", main_study.name]
    number = 2
    first = sweep("plots", *where, "--trial", number, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    figures = sorted((studies / main_study.name / "trials" / f"{number:04d}" / "plots")
                     .glob("*.png"))
    assert len(figures) >= 3
    study = load_optuna(studies, main_study.name)
    metas = {m.filename: m for m in get_all_artifact_meta(study)}
    frozen = study.trials[number]
    by_trial = {m.filename: m for m in get_all_artifact_meta(frozen, storage=study._storage)}
    store = studies / main_study.name / "artifacts"
    for figure in figures:  # each figure there, byte for byte, on the study or the trial
        meta = metas.get(f"trial-{number:04d}-{figure.name}") or by_trial[figure.name]
        assert meta.mimetype == "image/png"
        assert filecmp.cmp(store / meta.artifact_id, figure, shallow=False)
    again = sweep("plots", *where, "--trial", number, cwd=tmp_path)
    assert again.returncode == 0 and "0 figures uploaded" in again.stdout, again.stdout
    assert len(get_all_artifact_meta(load_optuna(studies, main_study.name))) == len(metas)


def test_a_renamed_folder_names_its_study_and_doctor_counts_in_words(main_study, tmp_path,
                                                                     check_error):
    studies = tmp_path / "studies"
    copy_study(main_study.studies_dir, studies)
    (studies / "main").rename(studies / "renamed")
    where = ["--studies-dir", studies, "--study", "renamed"]
    check_error(sweep("trials", *where, cwd=tmp_path), 1, "no study named 'renamed'",
                "holds the study 'main'")
    doctor = sweep("doctor", *where, cwd=tmp_path)
    check_error(doctor, 1, "holds the study 'main'")
    assert "Record does not exist" not in doctor.stderr
    (studies / "renamed").rename(studies / "main")
    with open(studies / "main" / "journal.log", "ab") as f:
        f.write(b"junk\n")
    damaged = sweep("doctor", "--studies-dir", studies, "--study", "main", "--check",
                    cwd=tmp_path)
    assert damaged.returncode == 1 and "1 damaged line;" in damaged.stdout, damaged.stdout


def test_an_offline_fetch_suggests_data_dir(tmp_path, check_error):
    proc = subprocess.run([sys.executable, "-m", "sweep", "data", "--dataset", "fashion-mnist"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=sweep_env() | {"XDG_CACHE_HOME": str(tmp_path / "cache"),
                                             "MLP_DATA_MIRRORS": "http://127.0.0.1:9/"})
    # the machine's state, not the arguments: exit 1 (hostile tester 17: it was 2), and
    # the refusal in words, not the raw "[Errno 111] Connection refused"
    check_error(proc, 1, "could not get dataset 'fashion-mnist'", "--data-dir DIR",
                "Connection refused")
    assert "[Errno" not in proc.stderr, proc.stderr

"""Hostile tester 15: `export --mlflow` of a trial whose history.csv is damaged exited
0 and counted the trial exported ("4 new") with no word of the damage; its MLflow run
silently lacked every per-epoch metric, and a later export never added them (the run
was "already there"). Now the summary names the trial and what is wrong with its
file, and once the file is mended the next export makes that run again, whole."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
pytest.importorskip("mlflow")


def _epoch_keys(store: Path, run: str) -> set[str]:
    with sqlite3.connect(store) as db:
        return {k for (k,) in db.execute(
            "select distinct m.key from metrics m join runs r on r.run_uuid = m.run_uuid "
            "where r.name = ? and r.lifecycle_stage = 'active' and m.step > 0", (run,))}


def test_a_damaged_history_is_said_and_mended_later(tiny_run, sweep_cli, tmp_path):
    assert tiny_run("h", 2).returncode == 0
    history = tmp_path / "studies" / "h" / "trials" / "0000" / "history.csv"
    good = history.read_text()
    history.write_text(good.splitlines()[0] + "\n1," + ",".join(
        ["zz"] * (good.splitlines()[0].count(","))) + "\n")
    store = tmp_path / "ml" / "m.db"
    out = tmp_path / "work"
    out.mkdir()
    export = ["export", "--study", "h", "--studies-dir", tmp_path / "studies",
              "--mlflow", f"sqlite:///{store}"]
    first = sweep_cli(*export, cwd=out)
    assert first.returncode == 0, first.stderr
    assert "1 without their epochs' metrics, their history.csv damaged (trial 0: line 2 " \
           "is not an epoch's numbers" in first.stdout, first.stdout
    assert "val_accuracy" not in _epoch_keys(store, "trial 0")
    assert "val_accuracy" in _epoch_keys(store, "trial 1")
    history.write_text(good)  # mended
    second = sweep_cli(*export, cwd=out)
    assert second.returncode == 0, second.stderr
    assert "(1 new, 1 already there)" in second.stdout and "history.csv damaged" not in \
        second.stdout, second.stdout
    assert "val_accuracy" in _epoch_keys(store, "trial 0")


def test_a_history_shorter_than_the_training_is_damage(tiny_run, sweep_cli, tmp_path):
    assert tiny_run("s", 1, "--epochs", 3).returncode == 0
    history = tmp_path / "studies" / "s" / "trials" / "0000" / "history.csv"
    history.write_text("\n".join(history.read_text().splitlines()[:2]) + "\n")
    out = tmp_path / "work"
    out.mkdir()
    proc = sweep_cli("export", "--study", "s", "--studies-dir", tmp_path / "studies",
                     "--mlflow", f"sqlite:///{tmp_path / 'm.db'}", cwd=out)
    assert proc.returncode == 0, proc.stderr
    assert "(trial 0: 3 epochs trained, 1 recorded;" in proc.stdout, proc.stdout


@pytest.mark.parametrize(("text", "said"), [
    ("1\n", "line 2 is cut short"),  # hostile tester 16: a write cut short
    ("", "1 epoch trained, 0 recorded"),
])
def test_a_torn_or_empty_history_is_damage(tiny_run, sweep_cli, tmp_path, text, said):
    assert tiny_run("t", 1).returncode == 0
    history = tmp_path / "studies" / "t" / "trials" / "0000" / "history.csv"
    history.write_text(history.read_text().splitlines()[0] + "\n" + text)
    out = tmp_path / "work"
    out.mkdir()
    proc = sweep_cli("export", "--study", "t", "--studies-dir", tmp_path / "studies",
                     "--mlflow", f"sqlite:///{tmp_path / 'm.db'}", cwd=out)
    assert proc.returncode == 0, proc.stderr
    assert f"(trial 0: {said};" in proc.stdout, proc.stdout

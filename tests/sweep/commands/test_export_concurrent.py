"""Two ``export --mlflow sqlite:///new.db`` at once (a cron job and a person).

Hostile tester 15: the one that lost MLflow's race to make the new store's tables died
with a 90-line traceback ending in "table runs already exists", exit 1. Exports into one
local store now take turns: both succeed, and the store holds each trial once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from tests.sweep.faults.harness import sweep_env

pytestmark = pytest.mark.slow
pytest.importorskip("mlflow")


def test_two_exports_into_one_new_store_take_turns(tiny_run, tmp_path):
    assert tiny_run("x", 2).returncode == 0
    work = tmp_path / "work"
    work.mkdir()
    for attempt in range(2):
        store = tmp_path / f"ml{attempt}" / "m.db"
        cmd = [sys.executable, "-m", "sweep", "export", "--study", "x", "--studies-dir",
               str(tmp_path / "studies"), "--mlflow", f"sqlite:///{store}"]
        procs = [subprocess.Popen(cmd, cwd=work, env=sweep_env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=180) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        assert not any("Traceback" in err for _, err in outs), outs
        said = sorted(out.split("exported ")[1].split(")")[0] for out, _ in outs)
        assert said == ["(0 new, 2 already there", "(2 new, 0 already there"], outs
        with sqlite3.connect(store) as db:
            names = sorted(n for (n,) in db.execute(
                "select name from runs where lifecycle_stage = 'active'"))
        assert names == ["trial 0", "trial 1"], names

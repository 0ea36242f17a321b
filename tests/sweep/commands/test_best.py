"""``sweep best`` (sweep/commands/best.py), in process on a study written through Optuna:
the best trial(s) by validation accuracy, and the trials still running, unranked."""

from __future__ import annotations

import json
import re

from optuna.trial import TrialState

from tests.sweep.conftest import load_optuna
from tests.sweep.studies import VALUES, api_study


def _ranked(study):
    done = study.get_trials(states=(TrialState.COMPLETE,))
    return sorted(done, key=lambda t: (-t.value, t.number))


def test_best_json_names_the_best_trial(made_study, cli):
    proc = cli("best", "--json", "--studies-dir", made_study.parent, "--study", "done")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    want = _ranked(load_optuna(made_study.parent, "done"))[0]
    assert doc["study"] == "done" and len(doc["best"]) == 1
    best = doc["best"][0]
    assert best["number"] == want.number == 2 and best["value"] == want.value == VALUES[2]
    assert best["params"] == want.params
    assert best["test_accuracy"] == want.user_attrs["test_accuracy"]
    assert best["experiment_dir"].endswith(f"trials/{want.number:04d}")


def test_best_top_k_is_sorted(made_study, cli):
    where = ("--studies-dir", made_study.parent, "--study", "done")
    rows = json.loads(cli("best", "--json", "--top", 3, *where).stdout)["best"]
    want = _ranked(load_optuna(made_study.parent, "done"))
    assert [r["number"] for r in rows] == [t.number for t in want] == [2, 0, 1]
    lines = cli("best", "--top", 2, *where).stdout.splitlines()
    assert len(lines) == 3  # the header, then the two ranked trials
    assert lines[0].split()[:5] == ["rank", "number", "value", "test_accuracy", "hidden_size"]
    assert lines[1].split()[:4] == ["1", "2", "95.00%", "94.60%"]
    assert lines[2].split()[:3] == ["2", "0", "91.00%"]


def test_best_lists_running_trials_unranked_with_their_epoch(tmp_path, cli):
    study, dists, _ = api_study(tmp_path, "live")
    running = study.ask(fixed_distributions=dists)
    running.report(0.8123, 1)
    running.report(0.8456, 2)
    proc = cli("best", "--studies-dir", tmp_path, "--study", "live")
    assert proc.returncode == 1 and "no completed trial yet" in proc.stderr, proc.stderr
    assert f"trial {running.number} at epoch 2/4 (last value 84.56%)" in proc.stderr
    done = study.ask(fixed_distributions=dists)
    study.tell(done, 0.9)
    proc = cli("best", "--studies-dir", tmp_path, "--study", "live")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].split()[:3] == ["1", str(done.number), "90.00%"], proc.stdout
    assert "running, not ranked until complete:" in proc.stdout
    assert re.search(rf"^\s*{running.number}\s+2/4\s+84\.56%", proc.stdout, re.M), proc.stdout

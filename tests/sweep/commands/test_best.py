"""``sweep best`` (sweep/commands/best.py), in process on a study written through Optuna:
the best trial(s) by validation accuracy, and the trials still running, unranked."""

from __future__ import annotations

import csv
import io
import json
import re

from optuna.trial import TrialState

from tests.sweep.conftest import load_optuna
from tests.sweep.studies import VALUES, add, api_study, confirm_summary


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


def _confirmed_study(tmp_path, tied, others):
    """Trials 1-11 written through Optuna (trial k at 90% + k/2 points), and a confirm.json
    whose best set is ``tied`` (its last one recommended) and ``others`` shown worse."""
    study, dists, rng = api_study(tmp_path, "conf")
    for k in range(1, 12):
        add(study, dists, rng, TrialState.COMPLETE, value=0.9 + 0.005 * k)
    (tmp_path / "conf" / "confirm").mkdir()
    path = tmp_path / "conf" / "confirm" / "confirm.json"
    path.write_text(json.dumps(confirm_summary(tied, others)))
    return study, dists, rng, path


def test_best_leads_with_the_confirmed_answer(tmp_path, cli):
    """After `sweep confirm`, `best` answers with the configuration confirm recommends (a
    mean over seeds with its interval), not the single-seed top trial, and says the
    ranking below is by one seed; the JSON carries the same answer."""
    study, dists, rng, _ = _confirmed_study(tmp_path, [10, 9], [8])
    where = ("--studies-dir", tmp_path, "--study", "conf")
    proc = cli("best", *where)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("recommended by sweep confirm: trial 9, the cheapest among the "
                               "equivalent"), lines[0]
    text = " ".join(line.strip() for line in lines)
    assert "over 3 seeds, 95% t-interval" in text and "best set" in text
    assert "trial 10, trial 9." in text
    assert "not raced, as good on one seed: trial 11;" in text  # above the raced trials
    ranking = lines.index(next(line for line in lines if line.startswith("ranked by one seed")))
    assert lines[ranking + 2].split()[:2] == ["1", "11"]  # the single-seed top, trial 11

    doc = json.loads(cli("best", *where, "-f", "json").stdout)
    assert doc["best"][0]["number"] == 11
    confirmed = doc["confirmed"]
    assert confirmed["recommended"] == 9 and confirmed["best_set"] == [10, 9]
    assert confirmed["best_val"]["n"] == 3 and confirmed["unraced"] == [11]

    rows = list(csv.DictReader(io.StringIO(cli("best", *where, "-f", "csv", "--top", 2).stdout)))
    assert [r["number"] for r in rows] == ["9", "11", "10"]  # the recommended one first
    assert [r["recommended"] for r in rows] == ["True", "False", "False"]
    assert [r["in_best_set"] for r in rows] == ["True", "", "True"]  # 11 was not raced
    assert rows[0]["confirm_seeds"] == "3" and rows[1]["confirm_mean"] == ""
    assert float(rows[0]["confirm_mean"]) == confirmed["best_val"]["mean"]
    assert list(rows[0])[:3] == ["number", "state", "value"]

    add(study, dists, rng, TrialState.COMPLETE, value=0.999)  # trial 12, never raced
    text = " ".join(line.strip() for line in cli("best", *where).stdout.splitlines())
    assert "not raced, as good on one seed: trial 11, trial 12" in text
    # hostile tester 8: the advice left out the studies folder, so it could not be run
    assert f"python -m sweep confirm --study conf --studies-dir {tmp_path}` again" in text


def test_a_trial_confirm_looked_at_and_left_out_is_not_advice_to_confirm_again(tmp_path,
                                                                              cli):
    """Hostile tester 6: a trial confirm saw and left outside its window (a tie with the
    runner-up it filled the race with) was named "not raced ... run confirm again" after
    every confirm, for ever. Only trials confirm never saw (the study grew) are."""
    study, dists, rng, path = _confirmed_study(tmp_path, [10, 9], [8])
    summary = json.loads(path.read_text())
    summary["candidates"]["considered"] = list(range(1, 12))  # trial 11 was seen
    path.write_text(json.dumps(summary))
    where = ("--studies-dir", tmp_path, "--study", "conf")
    text = " ".join(line.strip() for line in cli("best", *where).stdout.splitlines())
    assert "not raced" not in text and "again" not in text, text
    add(study, dists, rng, TrialState.COMPLETE, value=0.999)  # trial 12: after confirm
    text = " ".join(line.strip() for line in cli("best", *where).stdout.splitlines())
    assert "not raced, as good on one seed: trial 12;" in text, text


def test_best_without_a_readable_confirm_summary_still_ranks(tmp_path, cli):
    _, _, _, path = _confirmed_study(tmp_path, [10], [])
    path.write_text("{not json")
    proc = cli("best", "--studies-dir", tmp_path, "--study", "conf")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].split()[:2] == ["rank", "number"]
    assert "warning:" in proc.stderr and "confirm.json" in proc.stderr


"""The study commands as a user types them: bad options, storage URLs, best/trials/studies."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
from optuna.trial import TrialState

from sweep.study.results import load

# ------------------------------------------------------------------ bad options

BAD_OPTIONS = [
    pytest.param(["--sampler", "bogus"], ["--sampler", "bogus", "tpe"], id="sampler"),
    pytest.param(["--pruner", "bogus"], ["--pruner", "bogus", "median"], id="pruner"),
    pytest.param(["--trials", "0"], ["--trials 0"], id="trials-0"),
    pytest.param(["--jobs", "0"], ["--jobs 0"], id="jobs-0"),
    pytest.param(["--epochs", "0"], ["--epochs 0"], id="epochs-0"),
    pytest.param(["--timeout", "soon"], ["--timeout", "soon"], id="timeout-word"),
    pytest.param(["--timeout", "0"], ["--timeout", "positive"], id="timeout-0"),
    pytest.param(["--timeout", "5x"], ["--timeout", "5x"], id="timeout-unit"),
    pytest.param(["--timeout=-5m"], ["--timeout", "-5m"], id="timeout-negative"),
    pytest.param(["--study", "../../etc"], ["--study", "../../etc"], id="study-dotdot"),
    pytest.param(["--study", "a/b"], ["--study", "a/b"], id="study-slash"),
    pytest.param(["--study", ".hidden"], ["--study", ".hidden"], id="study-dot"),
    pytest.param(["--train-limit", "0"], ["--train-limit 0"], id="train-limit-0"),
    pytest.param(["--dataset", "cifar"], ["cifar"], id="dataset"),
]


@pytest.mark.parametrize(("option", "needles"), BAD_OPTIONS)
def test_bad_run_options_exit_2_and_write_nothing(option, needles, sweep_cli, data_args,
                                                  tmp_path, check_error):
    studies = tmp_path / "studies"
    # good values first: argparse keeps the last occurrence, so the bad option wins
    proc = sweep_cli("run", "--trials", 1, "--epochs", 1, "--study", "ok", *data_args,
                     "--studies-dir", studies, "--no-report", *option)
    check_error(proc, 2, *needles)
    assert not studies.exists() or not any(studies.iterdir()), list(studies.rglob("*"))
    assert not (tmp_path / "etc").exists()


def test_missing_data_dir_for_idx_is_an_error(sweep_cli, tmp_path, check_error):
    studies = tmp_path / "studies"
    proc = sweep_cli("run", "--trials", 1, "--dataset", "idx", "--studies-dir", studies,
                     "--study", "nodata", "--no-report")
    check_error(proc, 2, "data_dir")
    assert not (studies / "nodata").exists()


# ------------------------------------------------------------------ storage URLs with passwords

PASSWORD = "s3cr3tpw"


@pytest.mark.parametrize("url", [
    f"postgresql://user:{PASSWORD}@127.0.0.1:1/db",
    f"postgresql+psycopg2://user:{PASSWORD}@127.0.0.1:1/db?connect_timeout=1",
    f"mysql://user:{PASSWORD}@127.0.0.1:1/db",
    pytest.param(f"user:{PASSWORD}@127.0.0.1:1/db", id="no-scheme"),
])
def test_a_storage_password_never_appears(url, sweep_cli, data_args, tmp_path, check_error):
    studies = tmp_path / "studies"
    proc = sweep_cli("run", "--trials", 1, "--epochs", 1, *data_args, "--storage", url,
                     "--studies-dir", studies, "--study", "pg", "--no-report")
    assert PASSWORD not in proc.stdout + proc.stderr
    check_error(proc, 2, "--storage")
    assert "***" in proc.stderr
    assert not (studies / "pg").exists()


def test_a_storage_password_never_appears_from_the_environment(sweep_cli, tmp_path,
                                                               check_error):
    url = f"postgresql://user:{PASSWORD}@127.0.0.1:1/db"
    studies = tmp_path / "studies"
    (studies / "pg").mkdir(parents=True)  # a folder, so `best` gets as far as the storage
    proc = sweep_cli("best", "--studies-dir", studies, "--study", "pg",
                     env={"SWEEP_STORAGE": url})
    assert PASSWORD not in proc.stdout + proc.stderr
    check_error(proc, 2, "***")


# ------------------------------------------------------------------ reading a study

def _expected_best(study):
    done = study.get_trials(states=(TrialState.COMPLETE,))
    return sorted(done, key=lambda t: (-t.value, t.number))


def test_best_json_names_the_best_trial(main_study, sweep_cli):
    proc = sweep_cli("best", "--json", "--studies-dir", main_study.studies_dir,
                     "--study", main_study.name)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    want = _expected_best(main_study.optuna())[0]
    assert want.value == main_study.optuna().best_value
    assert doc["study"] == "main"
    assert len(doc["best"]) == 1
    best = doc["best"][0]
    assert best["number"] == want.number
    assert best["value"] == want.value
    assert best["params"] == want.params
    assert best["test_accuracy"] == want.user_attrs["test_accuracy"]
    assert best["experiment_dir"].endswith(f"trials/{want.number:04d}")
    assert f"best: trial {want.number}:" in main_study.proc.stdout


def test_best_top_k_is_sorted(main_study, sweep_cli):
    proc = sweep_cli("best", "--json", "--top", 3, "--studies-dir", main_study.studies_dir,
                     "--study", main_study.name)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["best"]
    want = _expected_best(main_study.optuna())[:3]
    assert [r["number"] for r in rows] == [t.number for t in want]
    proc = sweep_cli("best", "--top", 2, "--studies-dir", main_study.studies_dir,
                     "--study", main_study.name)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3  # the header, then the two ranked trials
    assert lines[1].split()[:2] == ["1", str(want[0].number)]
    assert lines[2].split()[:2] == ["2", str(want[1].number)]


def test_trials_csv_has_one_row_per_trial(main_study, sweep_cli, tmp_path):
    out = tmp_path / "trials.csv"
    proc = sweep_cli("trials", "--csv", out, "--studies-dir", main_study.studies_dir,
                     "--study", main_study.name)
    assert proc.returncode == 0, proc.stderr
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    trials = main_study.optuna().get_trials()
    assert len(rows) == len(trials) == main_study.trials
    assert [int(r["number"]) for r in rows] == [t.number for t in trials]
    for row, t in zip(rows, trials, strict=True):
        assert row["state"] == t.state.name
        assert float(row["value"]) == t.value
        assert int(row["params_hidden_size"]) == t.params["hidden_size"]
        assert float(row["params_lr"]) == t.params["lr"]
    assert [r["classic"] for r in rows] == ["True"] + ["False"] * (len(rows) - 1)


def test_trials_table_prints_every_trial(main_study, sweep_cli):
    proc = sweep_cli("trials", "--studies-dir", main_study.studies_dir, "--study",
                     main_study.name)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["number", "state", "value"]
    assert len(lines) == 1 + main_study.trials
    assert all(" complete " in line for line in lines[1:])


def test_studies_lists_the_study_with_its_counts(main_study, sweep_cli):
    proc = sweep_cli("studies", "--studies-dir", main_study.studies_dir)
    assert proc.returncode == 0, proc.stderr
    want = _expected_best(main_study.optuna())[0]
    n = main_study.trials
    assert [line.split() for line in proc.stdout.splitlines()] == [
        ["name", "finished", "complete", "pruned", "fail", "running", "best_value",
         "best_number"],
        ["main", str(n), str(n), "0", "0", "0", f"{want.value:.2%}", str(want.number)]]


def test_load_api_agrees_with_optuna(main_study):
    results = load(main_study.name, main_study.studies_dir)
    assert len(results.trials) == main_study.trials
    assert results.counts.complete == main_study.trials
    assert int(results.best(1).iloc[0]["number"]) == _expected_best(main_study.optuna())[0].number
    assert results.trial_dir(0) == main_study.root / "trials" / "0000"


def test_load_is_the_package_api(main_study, tmp_path):
    # in a fresh process: under pytest's default import mode `import sweep` here can be
    # the tests/sweep folder (a namespace package) instead of the project's package
    code = ("import sys, sweep; r = sweep.load(sys.argv[1], sys.argv[2]); "
            "print(len(r.trials), int(r.best(1).iloc[0]['number']))")
    proc = subprocess.run([sys.executable, "-c", code, main_study.name,
                           str(main_study.studies_dir)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    want = _expected_best(main_study.optuna())[0].number
    assert proc.stdout.split() == [str(main_study.trials), str(want)]


def test_studies_in_an_empty_folder_is_an_error(sweep_cli, tmp_path, check_error):
    proc = sweep_cli("studies", "--studies-dir", tmp_path)
    check_error(proc, 1, "no studies")


@pytest.mark.parametrize("command", ["best", "trials", "report"])
def test_reading_a_missing_study_fails_clearly(command, sweep_cli, main_study, tmp_path,
                                               check_error):
    proc = sweep_cli(command, "--studies-dir", main_study.studies_dir, "--study", "nope")
    assert proc.returncode != 0
    check_error(proc, proc.returncode, "no study named 'nope'")
    assert not (main_study.studies_dir / "nope").exists()


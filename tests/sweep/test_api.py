"""The Python API (sweep/api.py): ``sweep.run()`` runs a real small study in this process,
with real worker processes, and makes the study the CLI makes; it resumes, raises
KeyboardInterrupt on Ctrl-C after recording, runs from a thread other than the main
one; its bad arguments are usage errors before anything starts (in process).
(``sweep.load``: study/test_results.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import sweep
from sweep.execution.loky_backend import LokyBackend
from sweep.execution.request import RunRequest
from sweep.options import build
from sweep.study.settings import settings_record
from tests.sweep.faults.harness import (
    TINY_SPACE,
    check_retries,
    check_study,
    default_signals,
    running_trials,
    stored_trials,
    sweep_env,
    wait_for,
)

# TINY_SPACE (the CLI's space file in these tests) as a dict
SPACE = {"params": {"hidden_size": {"low": 16, "high": 32},
                    "batch_size": {"choices": [128, 256]}}}
TRIALS, EPOCHS = 4, 2


def _run(studies, trials: int, tiny_idx_dir):
    return sweep.run("api", trials=trials, jobs=2, epochs=EPOCHS, dataset="idx",
                     data_dir=tiny_idx_dir, space=SPACE, pruner="none", studies_dir=studies,
                     plots=False, report=False)


@pytest.mark.slow
def test_run_makes_the_same_study_as_the_cli(tmp_path, tiny_idx_dir, sweep_cli, tiny_space,
                                             open_optuna, capsys):
    assert tiny_space.read_text() == TINY_SPACE
    results = _run(tmp_path / "api-studies", TRIALS, tiny_idx_dir)
    printed = capsys.readouterr()
    assert f"{TRIALS} of {TRIALS} trials finished" in printed.out

    assert isinstance(results, sweep.StudyResults)
    assert results.name == "api" and results.counts.finished == TRIALS
    assert results.paths.root == tmp_path / "api-studies" / "api"
    check_study(results.paths.root, finished=TRIALS)
    assert list(results.trials.columns[:5]) == ["number", "state", "value", "test_accuracy",
                                                "params_hidden_size"]

    cli = sweep_cli("run", "--trials", TRIALS, "--jobs", 2, "--epochs", EPOCHS, "--dataset",
                    "idx", "--data-dir", tiny_idx_dir, "--space", tiny_space, "--pruner",
                    "none", "--studies-dir", tmp_path / "cli-studies", "--study", "api",
                    "--no-report", "--no-plots", "--quiet")
    assert cli.returncode == 0, cli.stderr
    ours, theirs = open_optuna(tmp_path / "api-studies", "api"), \
        open_optuna(tmp_path / "cli-studies", "api")
    assert settings_record(ours) == settings_record(theirs)
    assert ours.metric_names == theirs.metric_names == ["value"]
    # the same trials: settings, seeds and values (a study with a lag does not depend on
    # timing; same machine, same --jobs, so the same arithmetic)
    key = lambda t: (t.number, t.state.name, t.params, t.value, t.user_attrs["seed"])  # noqa: E731
    assert [key(t) for t in ours.get_trials()] == [key(t) for t in theirs.get_trials()]
    for t in ours.get_trials():
        mine = sorted(p.name for p in results.trial_dir(t.number).iterdir())
        cli_dir = tmp_path / "cli-studies" / "api" / "trials" / f"{t.number:04d}"
        assert mine == sorted(p.name for p in cli_dir.iterdir())


@pytest.mark.slow
def test_run_resumes_and_histories_are_public(tmp_path, tiny_idx_dir, capsys):
    studies = tmp_path / "studies"
    _run(studies, 3, tiny_idx_dir)
    capsys.readouterr()
    results = _run(studies, TRIALS, tiny_idx_dir)  # one more trial, options stored
    assert "3 of 4 trials finished" in capsys.readouterr().err
    assert results.counts.finished == TRIALS

    histories = results.histories()
    assert sorted(histories) == list(range(TRIALS))
    for number, history in histories.items():
        on_disk = pd.read_csv(results.trial_dir(number) / "history.csv")
        pd.testing.assert_frame_equal(history, on_disk.sort_values("epoch")
                                      .reset_index(drop=True))
        assert history["epoch"].tolist() == list(range(1, EPOCHS + 1))
        # the objective is the best epoch's validation accuracy
        outcome = results.outcomes[number]
        assert outcome.value == pytest.approx(history["val_acc"].max())
    pd.testing.assert_frame_equal(results.history(2), histories[2])
    assert results.history(99) is None


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"trials": 0}, "trials=0"),
    ({"trials": 2, "jobs": 0}, "jobs=0"),
    ({"trials": 2, "space": {"params": {"lr": {"low": 2.0, "high": 1.0}}}}, "lr"),
    ({"trials": 2, "sampler": "bogus"}, "bogus"),
    ({"trials": 2, "timeout": "soon"}, "soon"),
    ({"trials": 2, "epochs": 0}, "epochs"),
    ({"trials": 2, "jobs": "all"}, "auto"),
])
def test_bad_arguments_raise_usage_errors_and_make_nothing(kwargs, needle, tmp_path,
                                                           monkeypatch):
    def started(*args: object) -> None:
        raise AssertionError("a worker was started for a call that was to be refused")

    monkeypatch.setattr(LokyBackend, "prestart", started)
    studies = tmp_path / "studies"
    with pytest.raises(sweep.UsageError, match=needle):
        sweep.run("bad", dataset="idx", data_dir=tmp_path / "data", studies_dir=studies,
                  **kwargs)
    assert not studies.exists() or not any(studies.iterdir())


def test_the_api_takes_auto_as_the_command_line_does():
    """`--jobs AUTO` works on the command line; ``jobs="AUTO"`` was refused with "must be
    a whole number", which did not say that auto exists."""
    assert build(RunRequest, {"trials": 1, "jobs": " AUTO"}).jobs is None
    assert build(RunRequest, {"trials": 1, "jobs": 3}).jobs == 3


def test_the_readme_example_names_only_public_calls():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    assert "sweep.run(" in section and ".history(" in section
    for name in ("run", "load", "StudyResults", "UsageError", "StudyError"):
        assert name in sweep.__all__


SCRIPT = """
import sys
import sweep
try:
    sweep.run("intr", trials=4, jobs=2, epochs=3, dataset="idx", data_dir=sys.argv[1],
              space={"params": {"hidden_size": {"low": 16, "high": 32}}}, pruner="none",
              studies_dir=sys.argv[2], plots=False, report=False)
except KeyboardInterrupt as exc:
    print("KeyboardInterrupt:", exc)
    sys.exit(130)
"""


@pytest.mark.slow
def test_ctrl_c_raises_keyboard_interrupt_after_recording_and_the_call_resumes(
        tmp_path, tiny_idx_dir):
    studies = tmp_path / "studies"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tiny_idx_dir), str(studies)],
                            cwd=tmp_path, env=sweep_env({"SWEEP_FAULT_SLEEP": 2}),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=default_signals)
    try:
        wait_for(lambda: running_trials(studies / "intr"), 90, "a trial to run")
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C, as a terminal sends it to the group
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.returncode == 130, out + err
    assert "KeyboardInterrupt: study 'intr' interrupted" in out
    trials = check_study(studies / "intr")  # nothing left RUNNING, every record whole
    assert any(t.state.name == "FAIL" and t.user_attrs["reason"] == "interrupted"
               for t in trials)
    lost = {t.number for t in trials if t.state.name == "FAIL"}
    results = sweep.run("intr", trials=4, jobs=2, dataset="idx", data_dir=tiny_idx_dir,
                        studies_dir=studies, plots=False, report=False)
    # the interrupted trials were retried: the study has its 4 trials, none failed
    c = results.counts
    assert (c.finished, c.failed, c.retried) == (4, 0, len(lost)), c
    assert set(check_retries(stored_trials(studies / "intr"))) == lost


THREAD = """
import sys, threading
import sweep
studies, data = sys.argv[1:3]
out = {}
def go():
    try:
        out["finished"] = sweep.run(
            "bg", trials=2, jobs=2, epochs=1, dataset="idx", data_dir=data, pruner="none",
            plots=False, report=False, studies_dir=studies,
            space={"params": {"hidden_size": {"low": 16, "high": 32}}}).counts.finished
    except BaseException as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
t = threading.Thread(target=go)
t.start()
t.join(120)
print(out)
"""


@pytest.mark.slow
def test_a_study_runs_from_a_thread_other_than_the_main_one(tmp_path, tiny_idx_dir):
    """A notebook's study in a background thread: the pool set its SIGTERM handler
    unconditionally, so the call failed with "ValueError: signal only works in main
    thread of the main interpreter" after creating the study."""
    proc = subprocess.run([sys.executable, "-c", THREAD, str(tmp_path), str(tiny_idx_dir)],
                          env=sweep_env(), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "{'finished': 2}" in proc.stdout, proc.stdout + proc.stderr
    check_study(tmp_path / "bg", finished=2)


def test_a_dataset_that_cannot_be_had_is_a_study_error_as_its_exit_code_is_1(tmp_path):
    """Hostile tester 19: ``sweep data`` exits 1 where no source of the dataset answers
    (the machine's state), but the API raised UsageError (the arguments' fault)."""
    env = sweep_env() | {"XDG_CACHE_HOME": str(tmp_path / "cache"),
                         "MLP_DATA_MIRRORS": "http://127.0.0.1:9/"}
    script = ("import sweep\n"
              "try:\n"
              "    sweep.run('fm', dataset='fashion-mnist', trials=1, epochs=1, quiet=True,\n"
              f"              studies_dir={str(tmp_path / 'studies')!r})\n"
              "except Exception as exc:\n"
              "    print(type(exc).__name__, exc)\n")
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.stdout.startswith("StudyError could not get dataset 'fashion-mnist'"), \
        (proc.stdout, proc.stderr[-1500:])

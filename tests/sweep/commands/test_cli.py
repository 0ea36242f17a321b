"""The command line as a whole (sweep/commands/cli.py), in process: the command table and
--help, --version, the exit codes and one-line errors every command shares, the study
options and their environment variables. One real process: a reader that went away."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.sweep.faults.harness import sweep_env

SECRET = "s3cret"
PG_URL = f"postgresql://u:{SECRET}@127.0.0.1:1/db"


def test_help_lists_the_choices_and_every_command_has_a_description(cli):
    from mlp.config import DATASETS, SCHEDULES
    from sweep.commands.cli import COMMANDS, build_parser
    from sweep.study.samplers import PRUNERS, SAMPLERS

    build_parser()  # every command's module is where the table says, with its two functions
    run = cli("run", "--help")
    assert run.returncode == 0 and run.stderr == "", run.stderr
    for choices in (DATASETS, SAMPLERS, PRUNERS):
        assert "{" + ",".join(choices) + "}" in run.stdout, (choices, run.stdout)
    assert "{" + ",".join(DATASETS) + "}" in cli("data", "--help").stdout
    assert "{" + ",".join(SCHEDULES) + "}" in cli("train", "--help").stdout
    top = cli("--help").stdout
    for name, help_line in COMMANDS.items():
        assert help_line and name in top
        assert cli(name, "--help").returncode == 0


def test_version(cli):
    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("sweep 0."), proc.stdout


def test_an_unknown_command_is_a_usage_error(cli):
    proc = cli("frobnicate")
    assert proc.returncode == 2 and "invalid choice: 'frobnicate'" in proc.stderr, proc.stderr
    assert len(proc.stderr.splitlines()) == 1


@pytest.mark.parametrize("command", ["best", "trials", "report"])
def test_reading_a_missing_study_fails_clearly_and_makes_nothing(command, tmp_path, cli,
                                                                 check_error):
    studies = tmp_path / "studies"
    studies.mkdir()
    proc = cli(command, "--study", "nope", "--studies-dir", studies)
    check_error(proc, 1, "no study named 'nope'")
    assert not any(studies.iterdir())
    absent = cli(command, "--study", "nope", "--studies-dir", tmp_path / "none")
    check_error(absent, 1, "nope")
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("command", ["best", "trials", "report", "doctor", "confirm"])
def test_study_names_cannot_climb_out_of_the_studies_folder(command, tmp_path, cli,
                                                            check_error):
    proc = cli(command, "--study", "../../etc", "--studies-dir", tmp_path / "studies")
    check_error(proc, 2, "--study", "../../etc")
    assert not (tmp_path / "studies").exists()


@pytest.mark.parametrize("how", ["option", "environment"])
@pytest.mark.parametrize("command", ["best", "trials"])
def test_reading_commands_mask_a_storage_password(command, how, tmp_path, cli, check_error):
    studies = tmp_path / "studies"
    (studies / "pg").mkdir(parents=True)  # a folder, so the command gets as far as the storage
    given = {"env": {"SWEEP_STORAGE": PG_URL}} if how == "environment" else {}
    args = ["--storage", PG_URL] if how == "option" else []
    proc = cli(command, "--studies-dir", studies, "--study", "pg", *args, **given)
    check_error(proc, 2, "u:***@127.0.0.1")
    assert SECRET not in proc.stdout + proc.stderr


def test_environment_variables_name_the_study(made_study, tmp_path, cli):
    env = {"SWEEP_STUDY": "done", "SWEEP_STUDIES_DIR": str(made_study.parent)}
    out = tmp_path / "best.json"
    proc = cli("best", "-f", "json", "--out", out, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"json -> {out}" in proc.stdout
    assert '"study": "done"' in out.read_text()
    bad = cli("best", env={"SWEEP_STUDY": "bad name!"}, cwd=tmp_path)
    assert bad.returncode == 2 and "SWEEP_STUDY=bad name!" in bad.stderr, bad.stderr


@pytest.mark.slow
def test_a_reader_that_went_away_gets_no_traceback(made_study, tmp_path):
    """``sweep trials | head -0``: the pipe is closed before anything is written."""
    cmd = [sys.executable, "-m", "sweep", "trials", "-f", "json", "--studies-dir",
           str(made_study.parent), "--study", "done"]
    reader = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=sweep_env(), cwd=tmp_path)
    reader.stdout.close()
    _, err = reader.communicate(timeout=120)
    assert b"Traceback" not in err and b"error" not in err, err
    assert reader.returncode in (0, 141), (reader.returncode, err)


def test_an_abbreviated_option_is_refused_not_guessed(cli, check_error, tmp_path):
    """`--storag=URL` was taken as --storage: argparse's abbreviations are off, so a
    misspelt option is named, never silently completed (and never echoed with its value)."""
    for args in (["studies", "--storag=postgresql://u:Sup3rSecret@h/x"],
                 ["best", "--stud", "x"], ["run", "--trials", "3", "--epoch", "2"]):
        proc = cli(*args, "--studies-dir", tmp_path)
        check_error(proc, 2, "unrecognized arguments: " + args[-2].partition("=")[0]
                    if args[0] == "run" else
                    "unrecognized arguments: " + args[1].partition("=")[0])
        assert "Sup3rSecret" not in proc.stderr + proc.stdout
        assert proc.stderr.startswith(f"sweep {args[0]}: error: "), proc.stderr


def test_an_empty_path_is_refused_before_anything_is_done(cli, check_error, tmp_path):
    """Hostile tester 19: ``train --experiment ''`` trained into runs/<date-time> (the
    empty path read as no path), ``predict --experiment ''`` read "."; ``--data-dir ''``
    was the cache. Every FILE or DIR option's empty value is a usage error; so is an
    empty URI or address (hostile tester 20: ``export --mlflow ''`` used MLflow's
    default)."""
    from sweep.commands.cli import NOT_EMPTY, _subparsers, build_parser

    parser = build_parser()
    required = {"run": ["--trials", "1"], "rerun": ["--trial", "1"],
                "plots": ["--trial", "1"], "compare": ["a", "b"],
                "export": ["--mlflow", str(tmp_path / "mlruns")]}
    refused = 0
    for name, command in _subparsers(parser).items():
        for action in command._actions:
            if action.metavar not in NOT_EMPTY or not action.option_strings:
                continue
            flag = action.option_strings[0]
            before = sorted(p.name for p in tmp_path.iterdir())
            args = [*required.get(name, []), flag, ""]
            if name == "export" and flag == "--mlflow":
                args = [flag, ""]
            proc = cli(name, *args, cwd=tmp_path)
            check_error(proc, 2, f"argument {flag}", NOT_EMPTY[action.metavar])
            assert sorted(p.name for p in tmp_path.iterdir()) == before, (name, flag)
            refused += 1
    assert refused >= 14, refused


def test_a_configuration_error_names_the_flag_with_its_key(cli, check_error, tmp_path):
    """Hostile tester 20: ``data --dataset idx`` said "data.data_dir: ...", a key a user
    of --data-dir never wrote; keys without a flag stay as they are."""
    check_error(cli("data", "--dataset", "idx", cwd=tmp_path), 2,
                "--data-dir (data.data_dir): the 'idx' dataset needs a data directory")
    check_error(cli("train", "--dropout", "2", "--experiment", tmp_path / "x", cwd=tmp_path),
                2, "--dropout (model.dropout): must be in")
    check_error(cli("train", "--set", "training.step_gamma=9", "--experiment", tmp_path / "y",
                    cwd=tmp_path), 2, "error: training.step_gamma: must be in")

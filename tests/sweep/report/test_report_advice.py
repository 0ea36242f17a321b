"""The commands the report advises (an exploration study, confirm, the report again) run
as written where the report was made: they find the study's folder and keep its problem
(data, epochs, space). Hostile tester 8: the advice dropped ``--studies-dir``,
``--dataset idx`` and ``--epochs``, so the exploration study it ran trained another
problem in another folder."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from sweep.report import findings, prepare
from sweep.report.effects import exploration_of
from sweep.study.results import load
from sweep.study.space import default_space, load_space, space_from_changes


def test_a_space_file_written_from_a_space_gives_it_back(tmp_path: Path):
    changed = space_from_changes({
        "params": {"hidden_size": {"low": 16, "high": 32, "grid": [16, 24, 32]},
                   "batch_size": {"choices": [128, 256]},
                   "momentum": {"type": "float", "low": 0.8, "high": 0.99}},
        "fixed": {"dropout": 0.2, "epochs": 3}})
    for space in (default_space(), changed):
        path = tmp_path / "space.toml"
        path.write_text(space.to_toml())
        assert load_space(path) == space


@pytest.fixture(scope="module")
def elsewhere(sweep_cli, run_args, tmp_path_factory) -> Path:
    """Study 'r' (3 trials) in a studies folder other than the default, and its report:
    the folder it ran in (the studies are in its ``elsewhere``)."""
    here = tmp_path_factory.mktemp("elsewhere")
    studies = here / "elsewhere"
    made = sweep_cli(*run_args(studies, "r", trials=3, jobs=1), cwd=here)
    assert made.returncode == 0, made.stderr
    got = sweep_cli("report", "--studies-dir", studies, "--study", "r", cwd=here)
    assert got.returncode == 0, got.stderr
    return here


@pytest.mark.slow
def test_the_advised_exploration_study_is_one_of_the_same_problem(sweep_cli, elsewhere):
    """Run as advised (fewer trials), the exploration study lands beside the study and
    the report reads its effects from it."""
    studies = elsewhere / "elsewhere"
    md = (studies / "r" / "report" / "report.md").read_text()
    advice = re.search(r"`(python -m sweep run --explore[^`]*)`", md)
    assert advice, md[:3000]
    command = shlex.split(advice.group(1))
    for flag, value in (("--studies-dir", str(studies)), ("--epochs", "1"),
                        ("--dataset", "idx")):
        assert command[command.index(flag) + 1] == value, command
    assert "--data-dir" in command and "--space" in command, command

    explored = sweep_cli(*command[3:], "--trials", 3, "--jobs", 2, "--no-report", "--quiet",
                         cwd=elsewhere)
    assert explored.returncode == 0, explored.stderr
    data = prepare(load("r", studies))
    other = exploration_of(data)
    assert other is not None and other.name == "r-explore"
    assert other.settings.config == data.settings.config
    assert other.settings.space == data.settings.space


@pytest.mark.slow
def test_an_exploration_study_of_another_problem_is_not_used(sweep_cli, run_args,
                                                             tmp_path: Path):
    """An ``<name>-explore`` study with other epochs samples the same settings but is
    another problem: the report does not take its effects for this study's."""
    studies = tmp_path / "studies"
    made = sweep_cli(*run_args(studies, "p", trials=2, jobs=1), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    args = run_args(studies, "p-explore", trials=2, jobs=1, epochs=2)
    other = sweep_cli(*args, "--explore", cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    assert exploration_of(prepare(load("p", studies))) is None


@pytest.mark.slow
def test_the_advised_confirm_and_report_commands_name_the_studies_dir(elsewhere):
    studies = elsewhere / "elsewhere"
    md = (studies / "r" / "report" / "report.md").read_text()
    commands = re.findall(r"python -m sweep confirm --study r[^)`*\n]*", md)
    assert commands, md[:3000]
    for command in commands:
        assert f"--studies-dir {studies}" in command, command
    data = prepare(load("r", studies))
    assert findings.confirm_command(data) == \
        f"python -m sweep confirm --study r --studies-dir {shlex.quote(str(studies))}"


@pytest.fixture(scope="module")
def explored(sweep_cli, data_args, tmp_path_factory) -> Path:
    """Study 'q' (4 trials, 2 epochs), the 'q-explore' study its report advised, run as
    advised, and the report of 'q' written again. The folder it all ran in."""
    here = tmp_path_factory.mktemp("explored")
    space = here / "space.toml"
    space.write_text("[params.hidden_size]\nlow = 16\nhigh = 32\n"
                     "[params.batch_size]\nchoices = [128, 256]\n")
    made = sweep_cli("run", "--study", "q", "--trials", 4, "--jobs", 2, "--epochs", 2,
                     *data_args, "--space", space, "--quiet", cwd=here)
    assert made.returncode == 0, made.stderr
    md = (here / "studies" / "q" / "report" / "report.md").read_text()
    advice = re.search(r"`(python -m sweep run --explore[^`]*)`", md)
    assert advice, md[:3000]
    # as advised, but 6 trials instead of 30: enough to be read and counted
    ran = sweep_cli(*shlex.split(advice.group(1))[3:], "--trials", 6, "--quiet",
                    "--no-report", cwd=here)
    assert ran.returncode == 0, ran.stderr
    again = sweep_cli("report", "--study", "q", cwd=here)
    assert again.returncode == 0, again.stderr
    return here


@pytest.mark.slow
def test_the_report_does_not_advise_an_exploration_study_it_already_reads(explored,
                                                                         sweep_cli):
    """Hostile tester 9: once the advised exploration study had run and the report read
    its effects, the report still advised running it, a command that then did nothing
    ("nothing to run")."""
    md = (explored / "studies" / "q" / "report" / "report.md").read_text()
    assert "exploration study 'q-explore'" in md  # it is read
    assert not re.findall(r"`(python -m sweep run --explore[^`]*)`", md), md
    assert "They come from the exploration study 'q-explore'" in md


@pytest.mark.slow
def test_counts_of_the_exploration_studys_trials_name_it(explored):
    """Hostile tester 9: the report of 'q' (4 trials) warned "44 completed trials were
    still improving at the last epoch (trials 0, 1, ... and 36 more)": the exploration
    study's trials, not said so. Every such count about more trials than 'q' has names
    the other study."""
    md = (explored / "studies" / "q" / "report" / "report.md").read_text()
    counts = [line for line in md.splitlines()
              if re.search(r"(\d+) completed(, converged)? trials", line)]
    bad = [line[:300] for line in counts
           for n in map(int, re.findall(r"(?<!at least )\b(\d+) completed(?:, converged)? "
                                        r"trials", line))
           if n > 4 and "exploration study 'q-explore'" not in line]
    assert not bad, bad

"""The run's options: declared once (sweep/execution/request.py), read alike by the
command line and ``sweep.run()``, and checked in one place."""

from __future__ import annotations

import inspect
from dataclasses import fields

import pytest

import sweep
from sweep.commands.cli import build_parser
from sweep.errors import UsageError
from sweep.execution.request import RunRequest
from sweep.options import build, declared, from_namespace


def cli(*argv: str) -> RunRequest:
    args = build_parser("run").parse_args(["run", *argv])
    return build(RunRequest, from_namespace(args, RunRequest), cli=True)


def api(**given: object) -> RunRequest:
    return build(RunRequest, given)


def test_the_command_line_and_the_api_make_the_same_request():
    text = cli("--trials", "7", "--jobs", "auto", "--timeout", "30m", "--lag", "off",
               "--epochs", "3", "--no-plots", "--no-report", "--seed", "11")
    python = api(trials=7, jobs="auto", timeout=1800, lag="off", epochs=3, plots=False,
                 report=False, seed=11)
    assert text == python
    assert text.jobs is None and text.timeout == 1800.0 and text.plots == "none"
    assert text.lag_setting(4) is None and cli("--trials", "1").lag_setting(4) == 4
    assert text.overrides == python.overrides == {"training.epochs": 3}


def test_every_option_is_a_flag_and_a_keyword_of_sweep_run(capsys):
    names = [f.name for f, _ in declared(RunRequest)]
    assert names == [f.name for f in fields(RunRequest)]  # nothing undeclared
    with pytest.raises(SystemExit):
        build_parser("run").parse_args(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for name in names:
        assert "--" + name.replace("_", "-") in help_text, name
    assert list(inspect.signature(sweep.run).parameters) == ["study", *[
        n for n in names if n != "study"]]


@pytest.mark.parametrize(("given", "culprit"), [
    ({"trials": 0}, "trials=0"), ({"trials": 2.5}, "trials=2.5"),
    ({"trials": True}, "trials=True"), ({"trials": 3, "seed": 2.5}, "seed=2.5"),
    ({"trials": 3, "seed": True}, "seed=True"), ({"trials": 3, "seed": -1}, "seed=-1"),
    ({"trials": 3, "storage": 123}, "storage=123"), ({"trials": 3, "jobs": 0}, "jobs=0"),
    ({"trials": 3, "timeout": "soon"}, "timeout='soon'"),
    ({"trials": 3, "sampler": "grid?"}, "sampler='grid?'"),
    ({"trials": 3, "heartbeet": 5}, "heartbeet"),
    ({"trials": 3, "study": "../x"}, "study='../x'"),
])
def test_a_bad_api_value_is_one_usage_error_naming_it(given, culprit):
    with pytest.raises(UsageError, match="^" + culprit.replace("?", r"\?")
                       .replace("(", r"\(").replace(".", r"\.")):
        api(**given)


@pytest.mark.parametrize(("argv", "culprit"), [
    (["--trials", "x"], "--trials x"), (["--trials", "3", "--jobs", "-2"], "--jobs -2"),
    (["--trials", "3", "--lag", "-1"], "--lag -1"),
    (["--trials", "3", "--heartbeat", "0"], "--heartbeat 0"),
    (["--trials", "3", "--stall-timeout", "0s"], "--stall-timeout 0s"),
    (["--trials", "3", "--explore", "--sampler", "tpe"], "--explore means --sampler qmc"),
    (["--trials", "3", "--no-plots", "--plots", "all"], "--no-plots means --plots none"),
    (["--trials", "3", "--backend", "dask"], "--backend dask needs --scheduler"),
    (["--trials", "3", "--scheduler", "tcp://h:1"], "--scheduler: only with --backend dask"),
    (["--trials", "3", "--threads", "100000"], "--threads 100000: at most"),
])
def test_a_bad_flag_is_one_usage_error_naming_it(argv, culprit):
    with pytest.raises(UsageError) as caught:
        cli(*argv)
    assert str(caught.value).startswith(culprit), str(caught.value)


def test_explore_spells_out_its_sampler_and_pruner():
    request = cli("--trials", "3", "--explore", "--pruner", "none")
    assert (request.sampler, request.pruner) == ("qmc", "none")


def test_none_means_not_given_and_environment_defaults_apply(monkeypatch):
    monkeypatch.setenv("SWEEP_STUDY", "from-env")
    request = api(trials=2, studies_dir=None, plots=None)
    assert request.study == "from-env" and request.studies_dir == "studies"
    assert request.plots == "best"
    monkeypatch.setenv("SWEEP_STUDY", "bad name!")
    with pytest.raises(UsageError, match="^SWEEP_STUDY=bad name!"):
        api(trials=2)

"""Options declared once (sweep/options.py), in process: each conversion, the one-line
error that names the culprit as the caller spelled it, defaults from the environment,
flags built from the declarations and their shortcuts. (The run's own options and
rules: execution/test_request.py.)"""

from __future__ import annotations

import argparse
import inspect
from dataclasses import dataclass

import pytest

from sweep.errors import UsageError
from sweep.options import (
    add_arguments,
    build,
    docs,
    duration,
    from_namespace,
    one_of,
    option,
    signature,
    spell,
    switch,
    text,
    whole,
    whole_or,
)


@pytest.mark.parametrize(("value", "expected"), [("3", 3), (" +3 ", 3), (3, 3), ("0", 0)])
def test_whole_takes_text_and_numbers(value, expected):
    assert whole(0)(value) == expected


@pytest.mark.parametrize("value", ["3.0", "x", "", "1" * 31, 2.5, True, None, [3], "-1", 11])
def test_whole_refuses_the_rest_saying_its_range(value):
    with pytest.raises(ValueError, match="^must be a whole number from 0 to 10$"):
        whole(0, 10)(value)


def test_whole_says_what_range_it_has():
    with pytest.raises(ValueError, match="^must be a whole number from 1$"):
        whole(1)(0)
    with pytest.raises(ValueError, match="^must be a whole number up to 5$"):
        whole(high=5)(6)
    with pytest.raises(ValueError, match="^must be a whole number$"):
        whole()("x")


def test_whole_or_a_word():
    convert = whole_or("auto", 1)
    assert convert(" AUTO ") is None and convert("4") == 4
    with pytest.raises(ValueError, match="^a whole number from 1, or auto$"):
        convert("all")


def test_one_of():
    assert one_of("tpe", "random")("random") == "random"
    with pytest.raises(ValueError, match="^choose from tpe, random$"):
        one_of("tpe", "random")("TPE")


@pytest.mark.parametrize(("value", "seconds"), [
    ("90", 90.0), ("90s", 90.0), ("30m", 1800.0), ("2h", 7200.0), ("1d", 86400.0),
    (" 1.5 m ", 90.0), (5, 5.0), (0.25, 0.25)])
def test_duration(value, seconds):
    assert duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", "5x", "-5m", "0", 0, -1, float("nan"),
                                   float("inf"), True, "1" * 10 + "h"])
def test_a_bad_duration(value):
    with pytest.raises(ValueError):
        duration(value)


def test_text_and_switch(tmp_path):
    assert text("a") == "a" and text(tmp_path) == str(tmp_path)
    for bad in ("", 5, None):
        with pytest.raises(ValueError, match="expected text"):
            text(bad)
    assert switch(True) is True
    with pytest.raises(ValueError, match="True or False"):
        switch("yes")


@dataclass(frozen=True, kw_only=True)
class Request:
    count: int = option(required=True, convert=whole(1), metavar="N", help="how many")
    colour: str = option("red", convert=one_of("red", "blue"), env="TEST_COLOUR",
                         help="which colour")
    loud: bool = option(False, switch=True, convert=switch, help="shout")
    plots: str = option("best", convert=one_of("best", "none", "all"),
                        shortcuts=(("--no-plots", "none"),), help="which plots")
    secret: str | None = option(None, cli=False, help="Python only")

    def check(self, cli: bool) -> Request:
        if self.loud and self.colour == "blue":
            raise UsageError(f"{spell(Request, 'loud', cli)} is never blue")
        return self


def parse(*argv: str) -> Request:
    parser = argparse.ArgumentParser()
    add_arguments(parser, Request)
    return build(Request, from_namespace(parser.parse_args(list(argv)), Request), cli=True)


def test_a_bad_value_names_the_option_as_the_caller_spelled_it():
    with pytest.raises(UsageError, match="^--count 0: must be a whole number from 1$"):
        parse("--count", "0")
    with pytest.raises(UsageError, match="^count=0: must be a whole number from 1$"):
        build(Request, {"count": 0})
    with pytest.raises(UsageError, match="^--loud is never blue$"):
        parse("--count", "1", "--loud", "--colour", "blue")
    with pytest.raises(UsageError, match="^loud is never blue$"):
        build(Request, {"count": 1, "loud": True, "colour": "blue"})


def test_required_unknown_and_none_meaning_not_given():
    with pytest.raises(UsageError, match="^count is required$"):
        build(Request, {})
    with pytest.raises(UsageError, match="^colur: not an option"):
        build(Request, {"count": 1, "colur": "red"})
    assert build(Request, {"count": 1, "colour": None}).colour == "red"


def test_a_default_from_the_environment_is_named_by_its_variable(monkeypatch):
    monkeypatch.setenv("TEST_COLOUR", "blue")
    assert parse("--count", "1").colour == "blue"
    monkeypatch.setenv("TEST_COLOUR", "green")
    with pytest.raises(UsageError, match="^TEST_COLOUR=green: choose from red, blue$"):
        parse("--count", "1")


def test_a_shortcut_sets_its_option_and_a_contradiction_is_refused():
    assert parse("--count", "1", "--no-plots").plots == "none"
    assert parse("--count", "1", "--plots", "none", "--no-plots").plots == "none"
    with pytest.raises(UsageError, match="^--no-plots means --plots none; --plots all "
                                         "contradicts it$"):
        parse("--count", "1", "--no-plots", "--plots", "all")


def test_python_only_options_have_no_flag_and_every_option_a_keyword():
    parser = argparse.ArgumentParser()
    add_arguments(parser, Request)
    flags = {a for action in parser._actions for a in action.option_strings}
    assert {"--count", "--colour", "--loud", "--plots", "--no-plots"} <= flags
    assert "--secret" not in flags
    sig = signature(Request, first=("count",))
    assert list(sig.parameters) == ["count", "colour", "loud", "plots", "secret"]
    assert sig.parameters["count"].default is inspect.Parameter.empty
    assert sig.parameters["colour"].kind is inspect.Parameter.KEYWORD_ONLY
    assert "    count: how many" in docs(Request)


def test_a_command_line_message_is_spelled_for_the_api():
    from sweep.execution.request import RunRequest
    from sweep.options import api_spelling

    said = ("--storage sqlite:///x.db: lives in another storage; another --study or "
            "--studies-dir (or run `python -m sweep doctor --study s`); --no-such stays")
    assert api_spelling(said, (RunRequest,)) == (
        "storage=sqlite:///x.db: lives in another storage; another study or studies_dir "
        "(or run `python -m sweep doctor --study s`); --no-such stays")
    assert api_spelling("--stall-timeout=0: too short", (RunRequest,)) == \
        "stall_timeout=0: too short"

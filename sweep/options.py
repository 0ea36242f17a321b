"""Options declared once, read by the command line, the Python API and the checks.

An option is a field of a request dataclass (``sweep.execution.request.RunRequest``)
whose metadata holds its `Option`: help text, how a value is converted and checked,
its flag. `add_arguments` builds the argparse flags from the fields; `build` turns
what argparse parsed, or the API's keyword arguments, into a checked request, with
one conversion per option and a one-line `UsageError` that names the culprit as the
caller spelled it (``--jobs 0: ...`` on the command line, ``jobs=0: ...`` in Python).
Rules between options live in the request's own ``check``. Adding an option is one
field and the code that uses it.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import math
import numbers
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, TypeVar

from .errors import UsageError

R = TypeVar("R")
Convert = Callable[[Any], Any]  # a value as given -> the value; ValueError says why not


@dataclass(frozen=True)
class Option:
    """How one option is spelled, shown and checked."""

    help: str
    convert: Convert | None = None  # None: taken as given
    metavar: str | None = None
    switch: bool = False  # a flag without a value: --name (and --no-name if negatable)
    negatable: bool = False  # a switch whose default is on: --no-name turns it off
    shortcuts: tuple[tuple[str, Any], ...] = ()  # flags that set this option to a value
    env: str | None = None  # the environment variable that gives its default
    cli: bool = True  # on the command line (some values only Python can give)
    required: bool = False
    config_key: str | None = None  # a value of every trial's config (training.epochs)

    def flag(self, name: str) -> str:
        return "--" + name.replace("_", "-")


def option(default: Any = MISSING, **declaration: Any) -> Any:
    """A request field declaring an option (see `Option`)."""
    return field(default=default, metadata={"option": Option(**declaration)})


def declared(request: type) -> list[tuple[dataclasses.Field, Option]]:
    return [(f, f.metadata["option"]) for f in fields(request) if "option" in f.metadata]


def default_of(f: dataclasses.Field, opt: Option) -> Any:
    if opt.env and os.environ.get(opt.env):
        return os.environ[opt.env]
    return None if f.default is MISSING else f.default


def add_arguments(parser: argparse.ArgumentParser, request: type,
                  only: tuple[str, ...] | None = None) -> None:
    """The flags of ``request``'s options (all of them, or ``only`` these names). Values
    are kept as text here and converted by `build`, so every error reads alike."""
    for f, opt in declared(request):
        if not opt.cli or (only is not None and f.name not in only):
            continue
        flag, help_text = opt.flag(f.name), opt.help
        if opt.env:
            help_text += f" (or set {opt.env})"
        if opt.switch:
            parser.add_argument(flag, dest=f.name, default=None, help=help_text,
                                action=argparse.BooleanOptionalAction if opt.negatable
                                else "store_true")
        else:
            action = parser.add_argument(flag, dest=f.name, default=None,
                                         required=opt.required,
                                         metavar=opt.metavar or f.name.upper(), help=help_text)
            values = getattr(opt.convert, "choices", None)
            if values:  # what shell completion offers (argcomplete reads .completer)
                action.completer = _offer(values)
        for shortcut, value in opt.shortcuts:
            parser.add_argument(shortcut, dest=f"{f.name}:{shortcut}", action="store_const",
                                const=value, default=None,
                                help=f"the same as {flag} {value}")


def from_namespace(args: argparse.Namespace, request: type) -> dict[str, Any]:
    """What the command line gave, by option name, with the flag each came from."""
    given: dict[str, Any] = {}
    for f, opt in declared(request):
        value = getattr(args, f.name, None)
        if opt.switch and value is False and not opt.negatable:
            value = None  # a store_true flag left out
        for shortcut, _ in opt.shortcuts:
            implied = getattr(args, f"{f.name}:{shortcut}", None)
            if implied is None:
                continue
            if value is not None and value != implied:
                raise UsageError(f"{shortcut} means {opt.flag(f.name)} {implied}; "
                                 f"{opt.flag(f.name)} {value} contradicts it")
            value = implied
        if value is not None:
            given[f.name] = value
    return given


def build(request: type[R], given: Mapping[str, Any], cli: bool = False) -> R:
    """A checked request from what the caller gave (option name -> value); what it left
    out takes the option's default. Unknown names and bad values are `UsageError`s."""
    options = dict(declared(request))
    by_name = {f.name: f for f in options}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        raise UsageError(f"{unknown[0]}: not an option (options: {', '.join(by_name)})")
    values = {}
    for name, f in by_name.items():
        opt = options[f]
        if given.get(name) is not None:  # None: not given, as on the command line
            value = given[name]
            spelled = f"{opt.flag(name)} {value}" if cli else f"{name}={value!r}"
        else:
            if opt.required:
                raise UsageError(f"{opt.flag(name) if cli else name} is required")
            value = default_of(f, opt)
            spelled = f"{opt.env}={value}" if opt.env and os.environ.get(opt.env) else \
                f"{name}={value!r}"
        if opt.convert is not None and value is not None:
            try:
                value = opt.convert(value)
            except UsageError:
                raise  # it names its culprit itself (a space file's line)
            except (ValueError, TypeError) as exc:
                raise UsageError(f"{spelled}: {exc}") from None
        values[name] = value
    made = request(**values)
    check = getattr(made, "check", None)
    return check(cli) if check is not None else made


def spell(request: type, name: str, cli: bool) -> str:
    """An option as the caller wrote it: ``--stall-timeout`` or ``stall_timeout``."""
    opt = dict((f.name, o) for f, o in declared(request))[name]
    return opt.flag(name) if cli else name


def culprit(request: type, name: str, value: Any, cli: bool) -> str:
    """An option and its value as the caller wrote them: ``--epochs 0`` or ``epochs=0``."""
    return f"{spell(request, name, cli)} {value}" if cli else f"{name}={value!r}"


def signature(request: type, first: tuple[str, ...] = ()) -> inspect.Signature:
    """A Python signature of ``request``'s options, for an API function that takes them
    as keyword arguments: ``help(sweep.run)`` then lists them."""
    params = []
    for f, opt in declared(request):
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD if f.name in first else \
            inspect.Parameter.KEYWORD_ONLY
        default = inspect.Parameter.empty if opt.required else f.default
        params.append(inspect.Parameter(f.name, kind, default=default))
    params.sort(key=lambda p: p.kind)
    return inspect.Signature(params)


def docs(request: type) -> str:
    """One line per option, for an API function's docstring."""
    return "\n".join(f"    {f.name}: {opt.help}" for f, opt in declared(request))


# -- conversions: each takes text (the command line) or a Python value (the API) --------

def whole(low: int | None = None, high: int | None = None) -> Convert:
    """A whole number in [low, high]."""
    def convert(value: Any) -> int:
        if isinstance(value, str):
            text = value.strip()
            if not re.fullmatch(r"[+-]?\d{1,30}", text):
                raise ValueError(f"must be a whole number{_range(low, high)}")
            value = int(text)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"must be a whole number{_range(low, high)}")
        value = int(value)  # a NumPy integer too
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"must be a whole number{_range(low, high)}")
        return value
    return convert


def _range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f" from {low}"
    return "" if high is None else f" up to {high}"


def one_of(*choices: str) -> Convert:
    def convert(value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"choose from {', '.join(choices)}")
        return value
    convert.choices = choices  # type: ignore[attr-defined]  (for shell completion)
    return convert


def _offer(values: tuple[str, ...]) -> Callable[..., tuple[str, ...]]:
    def completer(**_: Any) -> tuple[str, ...]:
        return values
    return completer


def whole_or(word: str, low: int, high: int | None = None) -> Convert:
    """A whole number in range, or ``word`` (any case), which gives None."""
    number = whole(low, high)

    def convert(value: Any) -> int | None:
        if isinstance(value, str) and value.strip().lower() == word:
            return None
        try:
            return number(value)
        except ValueError:
            raise ValueError(f"a whole number{_range(low, high)}, or {word}") from None
    return convert


def duration(value: Any) -> float:
    """Seconds, from a number or text like 90s, 30m, 2h, 1d."""
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d{1,9}(?:\.\d{1,9})?)\s*([smhd]?)\s*", value)
        if not m:
            raise ValueError("expected a duration like 90s, 30m or 2h")
        value = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value) or value <= 0:
        raise ValueError("must be a positive duration (seconds, or like 90s, 30m, 2h)")
    return float(value)


def text(value: Any) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value:
        raise ValueError("expected text")
    return value


def switch(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be True or False")
    return value


def api_spelling(message: str, requests: tuple[type, ...]) -> str:
    """A message written for the command line, as a caller of the Python API reads it:
    a culprit named first as ``--data-dir X`` becomes ``data_dir=X``, and any other
    ``--data-dir`` in it ``data_dir``; text in backticks (a command to type) is kept."""
    names = {f.name for request in requests for f, _ in declared(request)}

    def keyword(match: re.Match[str]) -> str:
        name = match.group(1).replace("-", "_")
        if name not in names:
            return match.group(0)
        return f"{name}=" if match.start() == 0 and match.group(2) == " " else \
            name + match.group(2)

    parts = message.split("`")
    for i in range(0, len(parts), 2):  # outside backticks
        parts[i] = re.sub(r"--([a-z][a-z0-9-]*)(\s|=|:|,|\)|$)", keyword, parts[i])
    return "`".join(parts)

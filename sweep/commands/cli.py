"""The command line: ``python -m sweep COMMAND`` (or the ``sweep`` console script).

`COMMANDS` is the whole command table. Command ``NAME`` lives in the module
``sweep.commands.NAME``, which has ``DESCRIPTION`` (its --help text), ``add_arguments``
and ``run``; only the command called is imported, so a call starts quickly.

Errors the user can fix become one line on stderr: exit code 2 for bad input, 1 for a
failed run or a missing study, 130 for Ctrl-C. A usage error never repeats what was
typed after the option it names: an argument can be a password.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

from ..errors import StudyError, UsageError, os_error_text
from ..logs import optuna_quiet
from ..process_state import hold_standard_descriptors
from .output import settle_format

COMMANDS: dict[str, str] = {
    "train": "train one network and write its experiment directory",
    "predict": "show a trained network's predictions for test images",
    "data": "fetch and verify a dataset ahead of time",
    "run": "run, resume or extend a study",
    "best": "the best trial(s) of a study",
    "trials": "all trials of a study, or a live view of them",
    "studies": "the studies in a folder",
    "confirm": "race the near-best configurations over seeds: best set, verdicts, a "
               "recommendation",
    "compare": "studies side by side: costs, best so far, EDFs, confirmed bests, effects",
    "rerun": "re-train one trial and check it reproduces exactly",
    "plots": "draw a trial's figures (a sweep draws them for new bests only)",
    "report": "write a study's HTML and Markdown report",
    "export": "export a study's trials as MLflow runs",
    "doctor": "check a study's journal and repair a damaged one",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage is one --help away), and an
    abbreviated option is not taken for a whole one."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_without_values(message)} (see --help)\n")


class _Formatter(argparse.HelpFormatter):
    """argparse's own layout, its prose wrapped to the terminal but never wider than
    `HELP_WIDTH` (long lines read badly), the options' help in a column of its own."""

    def __init__(self, prog: str) -> None:
        width = min(shutil.get_terminal_size().columns, HELP_WIDTH) - 2
        super().__init__(prog, width=max(width, 40), max_help_position=30)


HELP_WIDTH = 100


def _without_values(message: str) -> str:
    """argparse's message with the arguments it quotes back cut to their option names:
    ``unrecognized arguments: --storgae postgresql://u:secret@h/db`` names
    ``--storgae`` only."""
    head, sep, rest = message.partition("unrecognized arguments: ")
    if not sep:
        return message
    names = [word.partition("=")[0] for word in rest.split() if word.startswith("-")]
    shown = ", ".join(names) if names else f"{len(rest.split())} extra argument(s)"
    return f"{head}unrecognized arguments: {shown}"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; the arguments of command ``only`` alone (or of every command)."""
    parser = _Parser(prog="sweep",
                     description="Hyperparameter sweeps of a from-scratch NumPy MLP.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    for name, help_text in COMMANDS.items():
        module = _module(name) if only in (None, name) else None
        p = sub.add_parser(name, help=help_text,
                           description=getattr(module, "DESCRIPTION", None) or help_text)
        if module is not None:
            module.add_arguments(p)
            p.set_defaults(func=module.run)
    return parser


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The commands' parsers, by name."""
    return next((a.choices for a in parser._actions  # noqa: SLF001  (argparse keeps them so)
                 if isinstance(a, argparse._SubParsersAction)), {})  # noqa: SLF001


def _module(name: str) -> object:
    return importlib.import_module(f".{name}", __package__)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlp-sweep")
    except PackageNotFoundError:
        return "unknown (not installed)"


def exit_code(exc: BaseException) -> int | None:
    """The exit code of an error the user can act on, or None for a bug."""
    from mlp.checkpoint import CheckpointError
    from mlp.config import ConfigError
    from mlp.data import DataError, DataUnavailable

    if isinstance(exc, StudyError | OSError | DataUnavailable):
        return 1
    if isinstance(exc, UsageError | ConfigError | CheckpointError | DataError):
        return 2
    return None


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None and "_ARGCOMPLETE" in os.environ:
        _complete()  # the shell asks for completions: answers them and exits
    argv = list(sys.argv[1:] if argv is None else argv)
    hold_standard_descriptors()
    if sys.stderr is None:  # closed (``2>&-``): what the user asked for, its lines go nowhere
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115 (the process's own)
    stdout, sys.stdout = sys.stdout, _StandardOutput(sys.stdout)
    try:
        try:
            args = _parse(argv)
        except SystemExit as done:  # --help, --version: printed, unless the output is full
            if done.code not in (0, None):
                raise
            return _printed(stdout, "sweep", lambda: 0)
        # SIGTERM (a batch scheduler, `timeout`) is a Ctrl-C wherever it comes: the
        # command stops as interrupted, also before `sweep run`'s workers exist
        with _sigterm_interrupts():
            return _printed(stdout, f"sweep {args.command}", lambda: _command(args))
    finally:
        sys.stdout = stdout


# the options, by metavar, whose empty value is a mistake, and what to say of it
NOT_EMPTY = {"DIR": "an empty path; name a file or folder",
             "FILE": "an empty path; name a file or folder",
             "TRACKING_URI": "empty; give a tracking URI, or leave the value out for "
                             "MLflow's default",
             "ADDRESS": "empty; give the scheduler's address (tcp://HOST:8786)",
             "URL": "empty; give a database URL, or leave the option out"}


def _parse(argv: list[str]) -> argparse.Namespace:
    """The command line's arguments; an unknown one is named by its command's parser
    ("sweep best: error: ..."), as argparse names its other usage errors."""
    first = argv[0] if argv and argv[0] in COMMANDS else None
    parser = build_parser(first) if first else build_parser("")
    args, extra = parser.parse_known_args(argv)
    command = _subparsers(parser).get(args.command, parser)
    if extra:
        command.error(f"unrecognized arguments: {' '.join(extra)}")
    for action in command._actions:  # noqa: SLF001  (argparse keeps them so)
        if action.metavar in NOT_EMPTY and getattr(args, action.dest, None) == "":
            # else read as no value (the default) or as "." by the code behind it
            command.error(f"argument {'/'.join(action.option_strings)}: "
                          f"{NOT_EMPTY[action.metavar]}")
    settle_format(args)
    return args


def _command(args: argparse.Namespace) -> int:
    """The command's exit code; an error the user can act on is one line on stderr."""
    try:
        with optuna_quiet():
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"sweep {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        code = exit_code(exc)
        if code is None or isinstance(exc, BrokenPipeError | StandardOutputError):
            raise
        text = os_error_text(exc) if isinstance(exc, OSError) else _flag_named(exc)
        print(f"sweep {args.command}: error: {_without_secrets(text + _hint(exc), args)}",
              file=sys.stderr)
        return code


def _without_secrets(line: str, args: argparse.Namespace) -> str:
    """An error line with every password of the command's URLs masked alike, wherever
    the line shows it: a password that is also the database's name or port is then
    starred in the URL as in the server's words, so the stars point at nothing."""
    from ..study.storage import hide_secret

    for url in (getattr(args, "storage", None), getattr(args, "mlflow", None),
                getattr(args, "scheduler", None), os.environ.get("SWEEP_STORAGE"),
                os.environ.get("MLFLOW_TRACKING_URI")):
        if isinstance(url, str) and url:
            line = hide_secret(line, url)
    return line


def _printed(stdout: Any, who: str, body: Callable[[], int]) -> int:
    """``body``'s exit code once what it printed is out. Where it cannot go out: 141 for
    a reader gone (``sweep trials | head``: nothing more to say to it), else 1 and one
    line on stderr (a full disk under ``> file``), also where a library dropped the
    write's error (argparse's help and version do)."""
    try:
        code = body()
        sys.stdout.flush()
        sys.stdout.check()
        return code
    except BrokenPipeError:
        _to_nowhere(stdout)
        return 141
    except StandardOutputError as exc:
        _to_nowhere(stdout)  # what it still holds cannot go out
        print(f"{who}: error: cannot write the standard output ({exc.strerror or exc})",
              file=sys.stderr)
        return 1


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt within the block (in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class StandardOutputError(OSError):
    """The standard output could not be written (a full disk under ``> file``)."""


class _StandardOutput:
    """The standard output, whose write errors say that it is what failed: an OSError
    from a print has no file name, and "[Errno 28] No space left on device" alone
    leaves the user to guess which file filled. It keeps the first error, for `check`
    to raise again where a library caught it."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._failed: OSError | None = None

    def write(self, text: str) -> int:
        if self._stream is None:  # closed before Python started (``>&-``)
            raise self._closed()
        return self._said(self._stream.write, text)

    def isatty(self) -> bool:
        return self._stream is not None and self._stream.isatty()

    def _closed(self) -> OSError:
        self._failed = self._failed or StandardOutputError(errno.EBADF, "it is closed")
        return self._failed

    def flush(self) -> None:
        if self._stream is not None:
            self._said(self._stream.flush)

    def check(self) -> None:
        if self._failed is not None:
            raise self._failed

    def _said(self, call: Callable[..., Any], *args: Any) -> Any:
        try:
            return call(*args)
        except BrokenPipeError as exc:  # the reader went away
            self._failed = self._failed or exc
            raise
        except OSError as exc:
            self._failed = self._failed or StandardOutputError(exc.errno, exc.strerror)
            raise self._failed from None

    def __getattr__(self, name: str) -> Any:
        if self._stream is None:
            raise self._closed()
        return getattr(self._stream, name)


def _to_nowhere(stream: Any) -> None:
    """Point the stream's file descriptor at /dev/null: what it still holds cannot go
    out, and Python's own flush at exit must not fail a second time."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # no descriptor (a StringIO): no flush
        return
    nowhere = os.open(os.devnull, os.O_WRONLY)
    os.dup2(nowhere, fd)
    os.close(nowhere)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _complete() -> None:
    """Shell completion of commands and options, with argcomplete where it is installed
    (``pip install argcomplete``, then ``eval "$(register-python-argcomplete sweep)"``)."""
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(build_parser())


def _flag_named(exc: Exception) -> str:
    """An error's text; a configuration error's named by its command-line flag as well
    as its key ("--dropout (model.dropout): must be ..."): a user who never wrote the
    key knows the flag."""
    from mlp.config import ConfigError

    from .overrides import FLAGS

    text = str(exc)
    if not isinstance(exc, ConfigError | UsageError):  # a UsageError may pass one on
        return text
    key, colon, rest = text.partition(":")
    flag = next((f for f, (k, _) in FLAGS.items() if k == key), None)
    return f"{flag} ({key}){colon}{rest}" if flag and colon else text


def _hint(exc: BaseException) -> str:
    """What the user can do about an error, where its message does not say."""
    from mlp.data import DataError

    if isinstance(exc, DataError) and str(exc).startswith("could not get dataset"):
        return ("; offline or behind a firewall? Fetch its four IDX files elsewhere and "
                "pass --data-dir DIR (or set MLP_DATA_DIR)")
    return ""

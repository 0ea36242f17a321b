"""The command line: ``python -m sweep COMMAND`` (or the ``sweep`` console script).

Every command is a `Command` in the table of its family's module (single runs,
``run``, the reading commands, the report). Errors the user can fix
become one line on stderr: exit code 2 for bad input, 1 for a failed run or a
missing study.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from mlp.checkpoint import CheckpointError
from mlp.config import ConfigError
from mlp.data import DataError

from .errors import StudyError, UsageError
from .options import Command

# Where each command lives. A call imports only its own command's module (a CLI call
# starts in a fraction of a second less); --help and errors import them all.
HOMES = {"train": "single", "predict": "single", "data": "single", "run": "run_command",
         "best": "read_commands", "trials": "read_commands", "studies": "read_commands",
         "confirm": "confirm", "rerun": "rerun", "plots": "plots_command",
         "report": "report.cli", "doctor": "doctor"}


def commands(only: str | None = None) -> tuple[Command, ...]:
    """The commands, in `HOMES` order; with ``only``, that one's module's commands."""
    homes = [HOMES[only]] if only in HOMES else list(dict.fromkeys(HOMES.values()))
    found = [c for home in homes
             for c in importlib.import_module(f".{home}", __package__).COMMANDS]
    return tuple(sorted(found, key=lambda c: list(HOMES).index(c.name)))


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage is one --help away)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, the parser of that command's module alone."""
    parser = _Parser(
        prog="sweep", description="Hyperparameter sweeps of a from-scratch NumPy MLP.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in commands(only):
        p = sub.add_parser(command.name, help=command.help,
                           description=command.description or command.help,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_arguments(p)
        p.set_defaults(func=command.run)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlp-sweep")
    except PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = argv[0] if argv else None
    parser = build_parser(first if first in HOMES else None)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UsageError, ConfigError, CheckpointError, DataError) as exc:
        print(f"sweep {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (``sweep trials | head``): nothing more to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (StudyError, OSError) as exc:
        print(f"sweep {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"sweep {args.command}: interrupted", file=sys.stderr)
        return 130

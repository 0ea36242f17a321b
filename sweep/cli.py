"""The command line: ``python -m sweep COMMAND`` (or the ``sweep`` console script).

Every command is a `Command` in the table of its family's module (single runs,
``run``, the reading commands, the report). Errors the user can fix
become one line on stderr: exit code 2 for bad input, 1 for a failed run or a
missing study.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from mlp.checkpoint import CheckpointError
from mlp.config import ConfigError
from mlp.data import DataError

from . import confirm, doctor, plots_command, read_commands, rerun, run_command, single
from .errors import StudyError, UsageError
from .options import Command
from .report import cli as report_cli

COMMANDS: tuple[Command, ...] = (*single.COMMANDS, *run_command.COMMANDS,
                                 *read_commands.COMMANDS, *confirm.COMMANDS,
                                 *rerun.COMMANDS, *plots_command.COMMANDS, *report_cli.COMMANDS,
                                 *doctor.COMMANDS)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage is one --help away)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sweep", description="Hyperparameter sweeps of a from-scratch NumPy MLP.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
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
    parser = build_parser()
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

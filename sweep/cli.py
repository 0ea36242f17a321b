"""The command line: ``python -m sweep COMMAND`` (or the ``sweep`` console script).

Every command is a function ``cmd_NAME(args) -> int``. Errors the user can fix
become one line on stderr: exit code 2 for bad input, 1 for a failed run or a
missing study.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from mlp.checkpoint import CheckpointError
from mlp.config import ConfigError
from mlp.data import DataError

from . import commands, single
from .errors import StudyError, UsageError
from .overrides import add_override_flags
from .report import cli as report_cli

Command = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage is one --help away)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sweep", description="Hyperparameter sweeps of a from-scratch NumPy MLP.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train one network and write its experiment directory",
                       description="Train one network (by default the classic 784-512-10 "
                       "configuration) and write an experiment directory.")
    p.add_argument("--config", help="config.json to start from (e.g. of an earlier run)")
    p.add_argument("--out", help="experiment directory to create (default runs/<timestamp>)")
    p.add_argument("--no-plots", action="store_true", help="skip the figures")
    p.add_argument("--quiet", action="store_true", help="only the final summary")
    add_override_flags(p)
    p.set_defaults(func=single.cmd_train)

    p = sub.add_parser("predict", help="show the trained network's prediction for test images")
    p.add_argument("--experiment", required=True, help="experiment directory of a run")
    p.add_argument("--index", type=int, nargs="+", help="test image index (several: a grid)")
    p.add_argument("--wrong", type=int, nargs="?", const=16, default=None, metavar="K",
                   help="pick K misclassified test images instead (default 16)")
    p.add_argument("--out", help="figure file to write (default EXPERIMENT/predictions/...)")
    p.add_argument("--show", action="store_true", help="also open the figure in a window")
    p.add_argument("--data-dir", help="directory holding the dataset's IDX files")
    p.set_defaults(func=single.cmd_predict)

    p = sub.add_parser("data", help="fetch and verify a dataset ahead of time")
    p.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist or idx")
    p.add_argument("--data-dir", help="directory holding the four IDX files")
    p.set_defaults(func=single.cmd_data)

    commands.register(sub)
    report_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UsageError, ConfigError, CheckpointError, DataError) as exc:
        print(f"sweep {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (StudyError, OSError) as exc:
        print(f"sweep {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"sweep {args.command}: interrupted", file=sys.stderr)
        return 130

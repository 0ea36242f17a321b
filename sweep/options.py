"""What every command family shares: the command record and the study options."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from .errors import UsageError

DEFAULT_STUDY = "mnist-mlp"
DEFAULT_STUDIES_DIR = "studies"


@dataclass(frozen=True)
class Command:
    """One ``python -m sweep NAME``: its help, its arguments and what it does."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str | None = None  # --help's text; the help line when None


def add_studies_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--studies-dir", default=os.environ.get("SWEEP_STUDIES_DIR",
                                                          DEFAULT_STUDIES_DIR),
                   help="folder of studies (studies, or set SWEEP_STUDIES_DIR)")


def add_study_args(p: argparse.ArgumentParser) -> None:
    """--study, --studies-dir and --storage, shared by every command that reads a study;
    SWEEP_STUDY, SWEEP_STUDIES_DIR and SWEEP_STORAGE give their defaults."""
    p.add_argument("--study", default=os.environ.get("SWEEP_STUDY", DEFAULT_STUDY),
                   help=f"study name ({DEFAULT_STUDY}, or set SWEEP_STUDY)")
    add_studies_dir_arg(p)
    p.add_argument("--storage", default=os.environ.get("SWEEP_STORAGE"),
                   help="Optuna database URL instead of the study's journal file "
                        "(or set SWEEP_STORAGE)")


def parse_duration(text: str, flag: str = "--timeout") -> float:
    m = re.fullmatch(r"\s*(\d{1,9}(?:\.\d{1,9})?)\s*([smhd]?)\s*", text or "")
    if not m:
        raise UsageError(f"{flag} {text!r}: expected a duration like 90s, 30m or 2h")
    seconds = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    if seconds <= 0:
        raise UsageError(f"{flag} {text!r}: must be positive")
    return seconds

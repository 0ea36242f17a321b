"""Shell completion (sweep/commands/cli.py, with argcomplete): the shell runs the command
with argcomplete's environment and reads the candidates back. Real processes, as bash
runs them after ``eval "$(register-python-argcomplete sweep)"``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def complete(line: str, tmp_path: Path) -> list[str]:
    out = tmp_path / "completions"
    env = os.environ | {"_ARGCOMPLETE": "1", "_ARGCOMPLETE_SHELL": "bash", "COMP_LINE": line,
                        "COMP_POINT": str(len(line)), "_ARGCOMPLETE_IFS": "\n",
                        "_ARGCOMPLETE_STDOUT_FILENAME": str(out)}
    proc = subprocess.run([sys.executable, "-m", "sweep"], env=env, capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return out.read_text().split("\n") if out.exists() else []


@pytest.mark.parametrize(("line", "wanted", "unwanted"), [
    ("sweep tr", {"trials", "train"}, {"best"}),
    ("sweep run --sam", {"--sampler"}, {"--trials"}),
    ("sweep confirm --ma", {"--max-candidates", "--margin"}, {"--seeds"}),
    ("sweep best -", {"--top", "--study"}, {"--trials"}),
])
def test_commands_and_their_options_complete(line, wanted, unwanted, tmp_path):
    got = {c.strip() for c in complete(line, tmp_path)}
    assert wanted <= got and not (unwanted & got), got


def test_a_completion_writes_nothing_and_runs_nothing(tmp_path):
    complete("sweep run --tri", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["completions"]  # no studies/

"""A reading command whose standard output cannot be written (``sweep trials >
/dev/full``: a full disk under a redirect).

Hostile tester 16: "sweep trials: error: [Errno 28] No space left on device", naming
nothing; it now names the standard output, exit 1, and nothing follows the line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.sweep.faults.harness import sweep_env
from tests.sweep.studies import finished_study


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="Linux's /dev/full")
@pytest.mark.parametrize("command", [["trials", "-f", "csv"], ["best"], ["studies"]])
def test_a_full_standard_output_is_said_in_words(tmp_path, command):
    finished_study(tmp_path / "studies", "done", trials=3)
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "sweep", *command, "--studies-dir",
                               str(tmp_path / "studies")]
                              + (["--study", "done"] if command[0] != "studies" else []),
                              stdout=full, stderr=subprocess.PIPE, text=True,
                              env=sweep_env(), cwd=tmp_path, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == (f"sweep {command[0]}: error: cannot write the standard output "
                           "(No space left on device)\n"), proc.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="Linux's /dev/full")
@pytest.mark.parametrize("args", [["--version"], ["--help"], ["run", "--help"]])
def test_help_and_version_into_a_full_standard_output_fail_in_words(tmp_path, args):
    """Hostile tester 17: ``sweep --version > /dev/full`` exited 0 having written
    nothing (argparse drops the write's error)."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "sweep", *args], stdout=full,
                              stderr=subprocess.PIPE, text=True, env=sweep_env(),
                              cwd=tmp_path, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ("sweep: error: cannot write the standard output "
                           "(No space left on device)\n"), proc.stderr


def test_help_and_version_into_a_pipe_are_whole(tmp_path):
    """Help and version reach a reader whole, exit 0."""
    for args, first in ((["--version"], "sweep "), (["best", "--help"], "usage: sweep best")):
        proc = subprocess.run([sys.executable, "-m", "sweep", *args], capture_output=True,
                              text=True, env=sweep_env(), cwd=tmp_path, timeout=60)
        assert proc.returncode == 0 and proc.stdout.startswith(first), proc
        assert proc.stdout.endswith("\n") and not proc.stderr, proc

"""Commands on a study whose folder is on a read-only disk (a real read-only bind mount):
the ones that only read must work, the ones that write must say so in one line before
any work (found by the thirteenth hostile pass)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.sweep.conftest import error_lines
from tests.sweep.studies import finished_study

pytestmark = pytest.mark.slow  # mounts a file system; confirm starts workers


def _mount(*args: str) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here ({proc.stderr.strip()}): needs root and mount(8)")


@pytest.fixture
def read_only(tmp_path, tiny_idx_dir):
    """The studies folder of a finished 3-trial study "a", mounted read-only."""
    disk = tmp_path / "ro"
    disk.mkdir()
    finished_study(disk / "studies", "a", trials=3, data_dir=tiny_idx_dir)
    _mount("--bind", str(disk), str(disk))
    try:
        _mount("-o", "remount,ro,bind", str(disk))
        yield disk / "studies"
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_doctor_check_reads_a_read_only_study(read_only: Path, cli):
    """Before: "sweep doctor: error: [Errno 30] Read-only file system: '.../a/.lock'"
    (exit 1), while best and trials read the study: a check that changes nothing refused
    to look because it could not make a lock file."""
    assert cli("trials", "--studies-dir", read_only, "--study", "a").returncode == 0
    proc = cli("doctor", "--check", "--studies-dir", read_only, "--study", "a")
    assert proc.returncode == 0, proc.stderr
    assert "no damage" in proc.stdout, proc.stdout


def test_confirm_names_the_read_only_folder(read_only: Path, sweep_cli, tmp_path):
    """Before: every re-run failed with "[Errno 30] Read-only file system", was tried
    twice, and the one line ("10 re-runs failed twice ...: the reasons are above (and in
    .../a/workers.log)") named neither the folder nor its cause, and sent the user to a
    workers.log that could not be written."""
    proc = sweep_cli("confirm", "--seeds", 10, "--studies-dir", read_only, "--study", "a",
                     cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert "Read-only file system" in lines[0] or "read-only" in lines[0], lines[0]
    assert str(read_only / "a") in lines[0], lines[0]
    assert "workers.log" not in lines[0] and "failed twice" not in lines[0], lines[0]

"""``doctor --check`` (which only reports) on a read-only file system.

Before: with the studies folder bind-mounted read-only, ``best`` and ``trials`` read the
study, but ``sweep doctor --check`` ended in ``sweep doctor: error: [Errno 30] Read-only
file system: '.../a/.lock'`` (exit 1): a check that changes nothing refused to look
because it could not create a lock file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.sweep.studies import finished_study

pytestmark = pytest.mark.slow  # mounts a file system


def _mount(*args: str) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here ({proc.stderr.strip()}): needs root and mount(8)")


@pytest.fixture
def read_only(tmp_path):
    disk = tmp_path / "ro"
    disk.mkdir()
    finished_study(disk / "studies", "a", trials=3)
    _mount("--bind", str(disk), str(disk))
    try:
        _mount("-o", "remount,ro,bind", str(disk))
        yield disk / "studies"
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_doctor_check_reads_a_read_only_study(read_only: Path, cli):
    assert cli("trials", "--studies-dir", read_only, "--study", "a").returncode == 0
    proc = cli("doctor", "--check", "--studies-dir", read_only, "--study", "a")
    assert proc.returncode == 0, proc.stderr
    assert "no damage" in proc.stdout, proc.stdout

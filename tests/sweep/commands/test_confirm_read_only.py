"""``confirm`` on a study whose folder is read-only.

Before: with the studies folder bind-mounted read-only, ``sweep confirm --seeds 10``
started its race, printed "re-run of trial 3 seed 0 failed: OSError: [Errno 30] Read-only
file system: '.../a/confirm'" for each re-run, tried each twice, and ended in "sweep
confirm: error: 10 re-runs failed twice (trial 3 seed 0, ...): the reasons are above (and
in .../a/workers.log); run the command again once they are dealt with": the one line
names neither the read-only folder nor its cause, and sends the user to a workers.log
that could not be written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.sweep.conftest import error_lines
from tests.sweep.studies import finished_study

pytestmark = pytest.mark.slow  # mounts a file system, starts workers


def _mount(*args: str) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here ({proc.stderr.strip()}): needs root and mount(8)")


@pytest.fixture
def read_only(tmp_path, tiny_idx_dir):
    disk = tmp_path / "ro"
    disk.mkdir()
    finished_study(disk / "studies", "a", trials=3, data_dir=tiny_idx_dir)
    _mount("--bind", str(disk), str(disk))
    try:
        _mount("-o", "remount,ro,bind", str(disk))
        yield disk / "studies"
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_confirm_names_the_read_only_folder(read_only: Path, sweep_cli, tmp_path):
    proc = sweep_cli("confirm", "--seeds", 10, "--studies-dir", read_only, "--study", "a",
                     cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert "Read-only file system" in lines[0] or "read-only" in lines[0], lines[0]
    assert str(read_only / "a") in lines[0], lines[0]
    assert "workers.log" not in lines[0], lines[0]

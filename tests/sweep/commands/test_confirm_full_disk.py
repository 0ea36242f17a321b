"""``confirm`` on a full disk: one line naming the file in words, exit 1, and no more
re-runs started.

Hostile tester 22: a line per re-run with the raw "OSError: [Errno 28] No space left on
device: '...'", each re-run tried twice, before the last line said what was wrong."""

from __future__ import annotations

import shutil

import pytest

from tests.sweep.conftest import one_clear_line

pytestmark = pytest.mark.slow


def test_confirm_on_a_full_disk_stops_at_the_first_re_run_in_words(tiny_run, sweep_cli,
                                                                   tmp_path, mounts):
    assert tiny_run("c", 3).returncode == 0
    disk = tmp_path / "disk"
    disk.mkdir()
    mounts("-t", "tmpfs", "-o", "size=30m", "tmpfs", str(disk))
    shutil.copytree(tmp_path / "studies", disk / "studies")
    free = shutil.disk_usage(disk).free
    (disk / "filler").write_bytes(b"\0" * (free - 200 * 1024))  # no checkpoint fits
    proc = sweep_cli("confirm", "--study", "c", "--studies-dir", disk / "studies",
                     "--seeds", 10, "--within", 100, cwd=tmp_path, timeout=300)
    line = one_clear_line(proc, "No space left on device",
                          "every re-run would fail the same way: stopping")
    assert proc.returncode == 1, line
    assert str(disk / "studies" / "c" / "confirm") in line, line
    assert "OSError" not in proc.stdout + proc.stderr, proc.stdout

"""A run killed (SIGKILL) while it writes the report leaves a temporary file for ever.

Before: ``sweep run --trials 4 ...`` killed 2 s after it printed "writing the report..."
left ``report/figures/.effects.png.8zh89hdq.tmp`` (0 bytes); the same run command again
(which rewrites the report) and ``sweep report`` both left it there. A dead worker's
``.*.tmp`` files in its trial folder are removed by the next run; the report's never are.

The kill's timing is a race, so the test first makes the leftover the way the kill
leaves it (an empty ``.NAME.XXXXXXXX.tmp`` beside the report's files, as mlp/atomic.py
names them), then runs the real commands that rewrite the report."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # a real study is run, and the report drawn


def test_rewriting_the_report_removes_a_killed_writers_temporary_files(
        tiny_run, sweep_cli, tmp_path):
    assert tiny_run("r1", 2).returncode == 0
    report = tmp_path / "studies" / "r1" / "report"
    assert sweep_cli("report", "--studies-dir", tmp_path / "studies", "--study", "r1",
                     cwd=tmp_path).returncode == 0
    leftovers = [report / "figures" / ".effects.png.8zh89hdq.tmp",
                 report / ".index.html.l92housz.tmp"]
    for path in leftovers:
        path.write_bytes(b"")
    proc = sweep_cli("report", "--studies-dir", tmp_path / "studies", "--study", "r1",
                     cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not list(report.rglob("*.tmp")), sorted(report.rglob("*.tmp"))

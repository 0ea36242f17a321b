"""A folder where the report's index.html goes.

Before: ``sweep run`` trained every trial, then ended in ``sweep run: error: [Errno 21]
Is a directory: '.../report/.index.html.l92housz.tmp' -> '.../report/index.html'`` (exit
1): the raw OS error, naming a temporary file. A file where the ``report`` folder goes is
refused in words before any trial ("not a folder"); ``sweep report`` on the same study
says the same raw error."""

from __future__ import annotations

import pytest

from tests.sweep.conftest import one_clear_line

pytestmark = pytest.mark.slow


def test_a_folder_named_index_html_is_named_in_words(tiny_run, sweep_cli, tmp_path):
    assert tiny_run("r", 1).returncode == 0
    page = tmp_path / "studies" / "r" / "report" / "index.html"
    page.mkdir(parents=True)
    proc = sweep_cli("report", "--studies-dir", tmp_path / "studies", "--study", "r",
                     cwd=tmp_path)
    line = one_clear_line(proc, str(page))
    assert ".tmp" not in line, line
    assert not list((tmp_path / "studies").rglob("*.tmp")), "a temporary file left behind"

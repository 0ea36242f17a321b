"""A file where the study's folder goes.

Before: ``sweep run --study o2`` with ``studies/o2`` an ordinary file ended in
``sweep run: error: [Errno 17] File exists: '.../o2'`` (exit 1): the raw OS error, not a
line saying that the study's folder is a file. The same run with a file named
``trials`` or ``report`` inside the study is already refused in words."""

from __future__ import annotations

import pytest

from tests.sweep.conftest import one_clear_line

pytestmark = pytest.mark.slow


def test_a_file_named_as_the_study_is_refused_in_words(tiny_run, tmp_path):
    studies = tmp_path / "studies"
    studies.mkdir()
    (studies / "o2").write_text("a user's file")
    line = one_clear_line(tiny_run("o2", 2), str(studies / "o2"))
    assert "folder" in line or "not a directory" in line, line
    assert (studies / "o2").read_text() == "a user's file"

"""A folder where the study's journal goes.

Before: ``sweep run --study o3`` with ``studies/o3/journal.log`` a folder ended in
``sweep run: error: [Errno 21] Is a directory: '.../o3/journal.log'`` (the raw OS error),
while ``best`` on the same study says "no study journal at ..."."""

from __future__ import annotations

import pytest

from tests.sweep.conftest import one_clear_line

pytestmark = pytest.mark.slow


def test_a_folder_named_journal_log_is_refused_in_words(tiny_run, tmp_path):
    journal = tmp_path / "studies" / "o3" / "journal.log"
    journal.mkdir(parents=True)
    one_clear_line(tiny_run("o3", 2), str(journal))
    assert journal.is_dir() and not any(journal.iterdir())

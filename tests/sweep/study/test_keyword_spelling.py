"""Hostile tester 6: the study's own database spelled as a libpq keyword string (which
libpq and psql take, and sweep refuses as no URL) was called "another storage" from the
folder that ran it, sending the user to change --study or --studies-dir instead of the
spelling. It is refused as no URL first (storage.py, `absolute_url`)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from tests.sweep.studies import finished_study


@pytest.mark.slow
def test_a_keyword_spelling_of_the_studys_database_is_not_called_another(
        cli, postgres, tmp_path):
    url = postgres.new_database()
    finished_study(tmp_path / "studies", "kw", trials=2, storage=url)
    u = make_url(url)
    keywords = f"host={u.host} port={u.port} user={u.username} dbname={u.database}"
    proc = cli("trials", "--study", "kw", "--studies-dir", tmp_path / "studies",
               "--storage", keywords)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "another storage" not in proc.stderr, proc.stderr

"""The reading commands on a PostgreSQL database no run has used yet (no Optuna tables):
"no study", as for a folder without studies (hostile tester 3: they said "cannot open
(relation "version_info" does not exist)", exit 2, the server's internals)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sweep.conftest import assert_one_line_error, run_sweep

pytestmark = pytest.mark.slow  # a real server


@pytest.mark.parametrize("command, says", [
    (["studies"], "no studies in the database"),
    (["trials", "--study", "x"], "no study there"),
    (["best", "--study", "x"], "no study there"),
    (["report", "--study", "x"], "no study there"),
])
def test_an_empty_database_is_no_study_not_a_missing_relation(postgres, tmp_path: Path,
                                                              command: list[str], says: str):
    url = postgres.new_database()
    proc = run_sweep(*command, "--storage", url, cwd=tmp_path)
    line = assert_one_line_error(proc, 1, says)
    assert "version_info" not in line and "relation" not in line, line
    assert not (tmp_path / "studies").exists()  # nothing made by reading

"""``sweep confirm`` on a PostgreSQL study from a folder that never ran it.

Found by hostile testing: from a folder without ``studies/<study>/``, every re-run fails
in its worker with "a worker failed: FileNotFoundError: [Errno 2] No such file or
directory: 'studies/pg1/workers.log'", and the command ends "10 re-runs failed twice
...: the reasons are above (and in studies/pg1/workers.log)", a file that does not exist.
Confirm now makes the study folder it writes in.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sweep.conftest import run_sweep
from tests.sweep.studies import finished_study

pytestmark = pytest.mark.slow


def test_confirm_from_another_folder_does_not_fail_on_a_missing_log(postgres, tmp_path: Path,
                                                                    tiny_idx_dir: Path):
    url = postgres.new_database()
    finished_study(tmp_path / "there" / "studies", "elsewhere", trials=3, storage=url,
                   data_dir=tiny_idx_dir)
    here = tmp_path / "here"
    here.mkdir()
    proc = run_sweep("confirm", "--study", "elsewhere", "--storage", url,
                     "--max-candidates", 2, "--jobs", 1, cwd=here, timeout=600)
    output = proc.stdout + proc.stderr
    assert "FileNotFoundError" not in output, output[-3000:]
    # the re-runs and the summary are made in a study folder of this machine's
    assert proc.returncode == 0, output[-3000:]
    assert (here / "studies" / "elsewhere" / "confirm" / "confirm.json").is_file()

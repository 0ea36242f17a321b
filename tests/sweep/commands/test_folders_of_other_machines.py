"""A database study read from a folder where only some (or none) of its trials ran.

Found by hostile testing: two ``sweep run`` on one PostgreSQL study from two folders
(/m1 and /m2, one machine); ``sweep trials``/``best`` in /m1 show trial 1's
experiment_dir as ``studies/two/trials/0001``, a folder that does not exist there, while
the storage records ``/m2/studies/two/trials/0001``, where it is. The note above the
table even says these trials have no directory here. A folder shown must be the trial's.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest

from tests.sweep.conftest import run_sweep
from tests.sweep.studies import finished_study

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("command", ["trials", "best"])
def test_a_folder_shown_is_where_the_trial_is(postgres, tmp_path: Path, command: str):
    url = postgres.new_database()
    there = tmp_path / "there"
    finished_study(there / "studies", "two", trials=3, storage=url)
    here = tmp_path / "here"
    (here / "studies" / "two").mkdir(parents=True)
    # this folder ran the study too (its study.json), but none of these trials
    shutil.copy(there / "studies" / "two" / "study.json", here / "studies" / "two")
    proc = run_sweep(command, "--study", "two", "--storage", url, "-f", "csv", cwd=here)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert rows, proc.stdout
    for row in rows:
        shown = row["experiment_dir"]
        # observed: "studies/two/trials/0000", which does not exist under here/
        assert not shown or shown in ("–", "") or (here / shown).exists(), (shown, row)

"""Hostile tester 4: `sweep confirm` stated "over N paired seeds for the contenders"
with N the planned last look (--seeds, 10), also when the race ended at its first look
(5 seeds): the table beside it said 5 and the race line 10 trainings for 2
configurations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.sweep.faults.harness import sweep

pytestmark = pytest.mark.slow


def test_the_seed_count_stated_is_the_one_the_contenders_had(tmp_path: Path, run_args) -> None:
    studies = tmp_path / "studies"
    proc = sweep(*run_args(studies, "c", trials=4, epochs=2), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = sweep("confirm", "--study", "c", "--studies-dir", studies, "--max-candidates", 2,
                 cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.split()[:3] == ["number", "classic",
                                                                        "verdict"])
    column = lines[header].split().index("seeds")
    seeds = []
    for row in lines[header + 1:]:
        cells = row.split()
        if not cells or not cells[0].isdigit():
            break
        if cells[1] != "yes":  # the classic column is blank for the others
            cells.insert(1, "")
        seeds.append(int(cells[column]))
    stated = int(re.search(r"over (\d+) paired seeds for the contenders", proc.stdout).group(1))
    assert stated <= max(seeds), (stated, seeds, proc.stdout)

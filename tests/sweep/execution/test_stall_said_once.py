"""Hostile tester 6: the run says each lost trial's failure once. A retry that stalled
too was said to fail twice: once as its worker was replaced, once more when the pool
reported that worker gone (controller.py, `say_lost`)."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tests.sweep.faults.harness import sweep


@pytest.mark.slow
def test_each_failed_trial_is_said_once(tmp_path, run_args):
    args = [a for a in run_args(tmp_path / "studies", "stall", 2, jobs=2, epochs=2)
            if a != "--quiet"]
    proc = sweep(*args, "--stall-timeout", 1, cwd=tmp_path,
                 faults={"SWEEP_FAULT_SLEEP": 4}, timeout=240)
    said = Counter(re.findall(r"^trial (\d+) failed:", proc.stdout + proc.stderr, re.M))
    assert said, proc.stdout + proc.stderr  # the stalls were seen
    twice = {n: k for n, k in said.items() if k > 1}
    assert not twice, (twice, proc.stdout + proc.stderr)

"""``confirm`` resumed after an interrupt counts the re-runs already trained as none.

Before: a confirm interrupted (SIGINT) after 2 of its first round's 10 re-runs had
completed, then again after a third, began its third attempt with "race, look 1 of 2: 7
trainings (2 configurations up to 5 seeds: trials 2, 5), ...; 0 trained so far, at most
20 to come", while confirm/0005/seed-0..2 held three completed re-runs: 3 trained so
far, and at most 17 to come (20 in all, as the first attempt said)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.sweep.faults.harness import default_signals, sweep_env

pytestmark = pytest.mark.slow

SLOW_SPACE = "[params.hidden_size]\nlow = 1500\nhigh = 2048\n[params.batch_size]\nchoices = [32]\n"


def _until(args: list[object], cwd: Path, pattern: str, timeout: float = 300) -> list[str]:
    """Run ``python -m sweep ARGS`` until a line matches ``pattern``, then SIGINT it;
    the lines it printed."""
    proc = subprocess.Popen([sys.executable, "-m", "sweep", *map(str, args)], cwd=cwd,
                            env=sweep_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=default_signals)
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        for line in proc.stdout:
            lines.append(line)
            if re.search(pattern, line):
                os.kill(proc.pid, signal.SIGINT)
                break
            assert time.monotonic() < deadline, "".join(lines)
        lines += proc.stdout.readlines()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return lines


def test_a_resumed_race_counts_the_runs_it_has(tiny_idx_dir, tmp_path):
    space = tmp_path / "slow.toml"
    space.write_text(SLOW_SPACE)
    studies = tmp_path / "studies"
    args = ["run", "--trials", 4, "--jobs", 2, "--epochs", 25, "--dataset", "idx",
            "--data-dir", tiny_idx_dir, "--space", space, "--pruner", "none", "--quiet",
            "--no-report", "--studies-dir", studies, "--study", "c"]
    made = subprocess.run([sys.executable, "-m", "sweep", *map(str, args)], cwd=tmp_path,
                          env=sweep_env(), capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    confirm = ["confirm", "--studies-dir", studies, "--study", "c", "--seeds", 10,
               "--jobs", 2]
    first = _until(confirm, tmp_path, r"re-run of trial \d+ seed \d+: completed")
    planned = re.search(r"at most (\d+) to come", "".join(first))
    assert planned, "".join(first)
    again = _until(confirm, tmp_path, r"^race, look")
    trained = [p for p in (studies / "c" / "confirm").glob("*/seed-*/metrics.json")
               if '"completed"' in p.read_text()]
    assert trained, "no re-run completed before the interrupt"
    line = next(x for x in again if x.startswith("race, look"))
    said = re.search(r"(\d+) trained so far, at most (\d+) to come", line)
    assert said, line
    assert int(said.group(1)) == len(trained), (line, sorted(map(str, trained)))
    assert int(said.group(2)) == int(planned.group(1)) - len(trained), line

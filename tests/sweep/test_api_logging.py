"""``sweep.run`` leaves the caller's Optuna logging as it found it (hostile tester 3:
after a call, a notebook's Optuna verbosity had gone from INFO to WARNING for good)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import optuna
import pytest

from sweep.logs import optuna_quiet
from tests.sweep.faults.harness import sweep_env

SCRIPT = """
import sys, optuna, sweep
optuna.logging.set_verbosity(int(sys.argv[4]))
results = sweep.run("api-logging", trials=2, epochs=1, jobs=1, dataset="idx",
                    data_dir=sys.argv[1], space=sys.argv[2], studies_dir=sys.argv[3],
                    pruner="none", quiet=True)
assert results.counts.complete == 2, results.counts
print("verbosity", optuna.logging.get_verbosity())
"""


@pytest.mark.slow
@pytest.mark.parametrize("level", [optuna.logging.DEBUG])
def test_run_leaves_the_callers_optuna_verbosity_as_it_was(tmp_path: Path, tiny_idx_dir: Path,
                                                           tiny_space: Path, level: int):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tiny_idx_dir), str(tiny_space),
                           str(tmp_path / "studies"), str(level)], cwd=tmp_path,
                          env=sweep_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = [x for x in proc.stdout.splitlines() if x.startswith("verbosity ")][-1]
    assert line == f"verbosity {level}", line  # before: 30 (WARNING) whatever it was
    assert "Trial 0 finished" not in proc.stderr  # and quiet while it ran


def test_quiet_blocks_in_threads_restore_the_verbosity_once_the_last_ends():
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO)
    try:
        first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
        seen: list[int] = []

        def first() -> None:
            with optuna_quiet():
                first_in.set()
                second_in.wait(10)
            first_out.set()

        def second() -> None:
            first_in.wait(10)
            with optuna_quiet():
                second_in.set()
                first_out.wait(10)
                seen.append(optuna.logging.get_verbosity())  # the first has ended

        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert seen == [optuna.logging.WARNING]
        assert optuna.logging.get_verbosity() == optuna.logging.INFO
    finally:
        optuna.logging.set_verbosity(before)

"""A command started with a standard stream closed (``>&-``, ``2>&-``).

Hostile tester 19: every command with its standard output closed ended in a traceback
(AttributeError: Python starts such a process with ``sys.stdout`` None). Looking into it
showed worse: the first file a process opens takes the closed descriptor's number, so a
worker's prints could land in it, and a run's workers started without their standard
streams and never answered (the run waited its 120 s worker-start limit)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.sweep.faults.harness import sweep_env
from tests.sweep.studies import finished_study

pytestmark = pytest.mark.slow


def closed(streams: tuple[int, ...], args: list[str], cwd) -> subprocess.CompletedProcess:
    """``python -m sweep ARGS`` with the descriptors ``streams`` closed as it starts;
    what it says on whichever of stdout and stderr stays open."""
    def close() -> None:
        for fd in streams:
            os.close(fd)

    return subprocess.run([sys.executable, "-m", "sweep", *args], cwd=cwd, env=sweep_env(),
                          stdout=None if 1 in streams else subprocess.PIPE,
                          stderr=None if 2 in streams else subprocess.PIPE, text=True,
                          preexec_fn=close, timeout=300)


@pytest.mark.parametrize("command", [
    ["--version"], ["--help"], ["best"], ["trials"], ["trials", "-f", "csv"],
    ["doctor", "--check"], ["report"], ["studies"], ["data"],
    ["trials", "--watch", "0.5"],  # hostile tester 20: AttributeError from isatty()
])
def test_a_closed_standard_output_is_one_line(tmp_path, command):
    finished_study(tmp_path / "studies", "done", trials=3)
    study = [] if command[0].startswith("--") or command[0] in ("studies", "data") else \
        ["--study", "done"]
    proc = closed((1,), [*command, *study], tmp_path)
    who = "sweep" if command[0].startswith("--") else f"sweep {command[0]}"
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == f"{who}: error: cannot write the standard output (it is closed)\n"


def test_an_error_with_the_standard_error_closed_goes_nowhere_else(tmp_path):
    """Not onto the standard output (print's ``file=None`` is the standard output)."""
    proc = closed((2,), ["best", "--study", "nosuch"], tmp_path)
    assert proc.returncode == 1
    assert proc.stdout == ""


def test_a_run_with_both_closed_trains_and_writes_only_its_own_files(tmp_path):
    """Its workers start (with /dev/null where the streams were), the journal holds only
    records, and the trials are there to read; the run's summary on the closed standard
    output is its one failure."""
    proc = closed((1, 2), ["run", "--study", "q", "--trials", "2", "--epochs", "1",
                           "--train-limit", "500", "--jobs", "2", "--quiet", "--no-report"],
                  tmp_path)
    assert proc.returncode == 1
    check = subprocess.run([sys.executable, "-m", "sweep", "doctor", "--study", "q",
                            "--check"], cwd=tmp_path, env=sweep_env(), capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 0 and "no damage" in check.stdout, check
    best = subprocess.run([sys.executable, "-m", "sweep", "trials", "--study", "q", "-f",
                           "csv"], cwd=tmp_path, env=sweep_env(), capture_output=True,
                          text=True, timeout=120)
    rows = best.stdout.splitlines()[1:]
    assert len(rows) == 2 and all(",COMPLETE," in r or ",PRUNED," in r for r in rows), best


def test_the_api_in_a_script_started_with_its_output_closed_runs_its_workers(tmp_path):
    """loky flushes ``sys.stdout`` as it starts a worker: None (the closed output) had
    no flush, and the call ended in AttributeError."""
    script = ("import sweep\n"
              "r = sweep.run('a', trials=2, epochs=1, train_limit=500, jobs=2, quiet=True, "
              f"studies_dir={str(tmp_path / 'studies')!r}, report=False)\n"
              "import sys; sys.stderr.write(f'counts {r.counts.complete + r.counts.pruned}')\n")

    def close() -> None:
        os.close(1)

    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=sweep_env(),
                          stderr=subprocess.PIPE, text=True, preexec_fn=close, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.splitlines()[-1].endswith("counts 2"), proc.stderr

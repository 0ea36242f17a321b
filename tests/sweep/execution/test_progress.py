"""The run's progress (sweep/execution/progress.py) on real terminals: the status line
fits a narrow pseudo-terminal however often it is redrawn, and a dumb terminal gets
plain lines. (The download's bars: commands/test_data_command.py.)"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.sweep.faults.harness import sweep_env
from tests.sweep.studies import finished_study, resume
from tests.terminal import Screen, Terminal

pytestmark = pytest.mark.slow

TRIALS = 6


def test_the_run_progress_bar_fits_a_narrow_terminal(tmp_path, data_args, tiny_space):
    """A real run on a 40-column pseudo-terminal: the bar is redrawn in place, fitted to
    the width, and one whole bar is left at the end."""
    columns = 40
    argv = [sys.executable, "-m", "sweep", "run", "--trials", str(TRIALS), "--jobs", "2",
            "--epochs", "2", *data_args, "--space", str(tiny_space), "--pruner", "none",
            "--studies-dir", str(tmp_path / "studies"), "--study", "bar", "--no-report",
            "--no-plots"]
    # each epoch held a moment, so that the bar is redrawn many times
    term = Terminal(argv, columns=columns, env=sweep_env({"SWEEP_FAULT_SLEEP": 0.4}) | {
        "TERM": "xterm"}, cwd=tmp_path)
    try:
        code = term.wait(180)
    finally:
        term.close()
    assert code == 0, term.output[-3000:]
    output = term.output
    redraws = output.count("\r\x1b[2K[")
    assert redraws >= 5, output  # the bar was drawn, and redrawn, on the terminal
    screen = Screen(output, columns)
    bars = [i for i, row in enumerate(screen.rows) if row.startswith("[") and "] " in row]
    # one bar left on the screen (the final one), whole, on one row
    assert len(bars) == 1, "\n".join(screen.rows)
    assert not set(bars) & screen.wrapped, "\n".join(screen.rows)
    assert len(screen.rows[bars[0]]) <= columns - 1
    assert f"{TRIALS}/{TRIALS} trial" in screen.rows[bars[0]]


def test_a_dumb_terminal_gets_plain_lines(tmp_path, tiny_idx_dir):
    if shutil.which("script") is None:
        pytest.skip("no `script` to give the run a pseudo-terminal")
    root = finished_study(tmp_path / "studies", "done", trials=3, data_dir=tiny_idx_dir)
    args = [a for a in resume(root.parent, "done", 5) if a != "--quiet"]
    command = " ".join(f"'{a}'" for a in [sys.executable, "-m", "sweep", *args])
    proc = subprocess.run(["script", "-qec", command, "/dev/null"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=180,
                          env=sweep_env() | {"TERM": "dumb"})
    assert proc.returncode == 0, proc.stdout
    assert "\x1b[2K" not in proc.stdout, proc.stdout

"""Ctrl-C in the first fraction of a second of a command.

Before: ``sweep run ...`` sent SIGINT 0.2 s after it started printed a 10-line Python
traceback ending in "KeyboardInterrupt" (raised inside ``mlp/config.py`` while the command
was still importing its modules) and exited -2 (killed by the signal), where a Ctrl-C a
second later prints "interrupted; run the same command again to resume" and exits 130."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from tests.sweep.faults.harness import sweep_env

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("delay", [0.15, 0.3])
def test_an_early_ctrl_c_prints_no_traceback(delay, tiny_idx_dir, tmp_path):
    cmd = [sys.executable, "-m", "sweep", "run", "--trials", "2", "--epochs", "1",
           "--dataset", "idx", "--data-dir", str(tiny_idx_dir), "--studies-dir",
           str(tmp_path / "studies"), "--study", "s", "--quiet", "--no-report"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=sweep_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    assert proc.returncode == 130, (proc.returncode, out, err)

"""A `run --backend dask` refused because the cluster has no workers leaves a new study
behind.

What happened (a `dask scheduler` with no worker, a new study name):

    $ python -m sweep run --trials 2 --epochs 1 ... --studies-dir K2 --study k10 \\
          --backend dask --scheduler tcp://127.0.0.1:8796
    sweep run: error: --scheduler tcp://127.0.0.1:8796: the Dask cluster has no workers
        (start them, or give --jobs)
    exit 2

yet K2/k10/ now holds journal.log (the study created, its classic trial 0 enqueued and
left "waiting"), journal.log.flock and study.json: the refused command half-made the
study, which `studies` lists and whose settings (epochs, space ...) are now fixed, so
the corrected command with other settings is refused as "exists with other settings".
An address where no scheduler answers writes nothing.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_workers_refusal_writes_no_study(sweep_cli, tiny_idx_dir, tiny_space, tmp_path):
    pytest.importorskip("distributed")
    port = free_port()
    scheduler = subprocess.Popen(
        [str(Path(sys.executable).with_name("dask")), "scheduler", "--port", str(port),
         "--dashboard-address", ":0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        studies = tmp_path / "studies"
        proc = sweep_cli("run", "--trials", 2, "--epochs", 1, "--dataset", "idx",
                         "--data-dir", tiny_idx_dir, "--space", tiny_space, "--pruner",
                         "none", "--no-report", "--studies-dir", studies, "--study", "k",
                         "--backend", "dask", "--scheduler", f"tcp://127.0.0.1:{port}",
                         cwd=tmp_path, timeout=120)
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=30)

    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "no workers" in proc.stderr, proc.stderr
    left = sorted(p.name for p in (studies / "k").iterdir()) if (studies / "k").exists() else []
    assert left == [], left

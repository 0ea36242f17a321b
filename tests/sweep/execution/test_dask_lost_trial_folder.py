"""A Dask scheduler killed while a trial's worker is past its training (metrics.json
written as 'completed', the figures still being drawn): the run records the trial as
FAIL ('lost with its Dask task') and retries it, and its folder must not say otherwise:
its metrics are kept as metrics.lost.json, which no reader takes for a finished
experiment (sweep/execution/ledger.py, `_rewrite`)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sweep.execution.test_dask import own_dask_cluster  # noqa: F401
from tests.sweep.faults.harness import sweep_env, trial_docs, wait_for

pytestmark = pytest.mark.slow


def _completed_but_running(root: Path) -> list[int]:
    found = []
    for number, doc in trial_docs(root).items():
        metrics = root / "trials" / f"{number:04d}" / "metrics.json"
        try:
            status = json.loads(metrics.read_text()).get("status")
        except (OSError, ValueError):
            continue
        if doc.get("state") == "RUNNING" and status == "completed":
            found.append(number)
    return found


def test_a_lost_trials_folder_does_not_say_completed(tmp_path: Path, run_args,
                                                     own_dask_cluster) -> None:  # noqa: F811
    studies = tmp_path / "studies"
    args = [*run_args(studies, "lost", trials=4, epochs=3), "--backend", "dask",
            "--scheduler", own_dask_cluster.address]
    args[args.index("--no-plots")] = "--plots=all"  # the worker goes on after metrics.json
    proc = subprocess.Popen([sys.executable, "-m", "sweep", *map(str, args)], cwd=tmp_path,
                            env=sweep_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    root = studies / "lost"
    try:
        done = wait_for(lambda: _completed_but_running(root), 90,
                        "a trial past its training, not yet reported")
        own_dask_cluster.scheduler.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    docs = trial_docs(root)
    assert any(docs[n]["state"] == "FAIL" for n in done), {n: docs[n] for n in done}
    for number in done:
        folder = root / "trials" / f"{number:04d}"
        if docs[number]["state"] != "FAIL":
            continue  # recorded before the scheduler went
        assert not (folder / "metrics.json").exists(), (number, docs[number])
        kept = json.loads((folder / "metrics.lost.json").read_text())
        assert kept["status"] == "completed"  # kept for a look, under another name

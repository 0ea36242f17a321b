"""Hostile tester 23: a full disk while a trained trial draws its figures (``--plots
all``) fails the trial.

Found on a real 860 KiB tmpfs holding the study: trial 1 wrote metrics.json ("status":
"completed", checkpoints, history), then its second figure hit ENOSPC; the guard that
keeps a trained trial ("figures not drawn") prints that line to the worker's stderr,
which is workers.log on the same full disk, and that print raises OSError: the trial ends
FAIL, lost, reason "[Errno 28] No space left on device" (raw errno text, no path), and the
next run trains it again. README: a failure drawing figures must not fail a trained trial.
"""

from __future__ import annotations

import json

import pytest

from tests.sweep.faults.harness import open_journal, sweep

SPACE = "[params.hidden_size]\nlow = 37\nhigh = 38\n"


@pytest.mark.slow
def test_a_full_disk_while_drawing_figures_keeps_the_trained_trial(tmp_path, mounts):
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    lost: list[tuple[int, int, str]] = []
    said: list[str] = []
    for size in (840, 850, 860, 870, 880):  # KiB: the full disk lands in the figures
        disk = tmp_path / f"disk{size}"
        disk.mkdir()
        mounts("-t", "tmpfs", "-o", f"size={size}k", "tmpfs", str(disk))
        proc = sweep("run", "--study", "fd", "--studies-dir", disk, "--trials", 3,
                     "--epochs", 1, "--train-limit", 2000, "--space", space,
                     "--plots", "all", "--jobs", 1, "--pruner", "none", "--no-report",
                     cwd=tmp_path, timeout=240)
        root = disk / "fd"
        if not (root / "journal.log").exists():
            continue
        states = {t.number: t for t in open_journal(root).get_trials()}
        for folder in sorted((root / "trials").iterdir()):
            metrics = folder / "metrics.json"
            if not metrics.exists():
                continue
            try:
                status = json.loads(metrics.read_text())["status"]
            except (ValueError, KeyError):
                continue
            trial = states.get(int(folder.name))
            if status == "completed" and trial is not None and trial.state.name == "FAIL":
                lost.append((size, trial.number, trial.user_attrs.get("reason", "")))
        said += [line for line in (proc.stdout + proc.stderr).splitlines() if "[Errno" in line]
    assert not lost, f"trained trials failed by their figures (KiB, trial, reason): {lost}"
    assert not said, said

"""``plots --trial N`` on a trial whose files are damaged or cannot be written.

Hostile tester 17:
- a damaged, missing or wrongly shaped checkpoints/best.npz was exit 2 (a usage error),
  where ``predict --trial N`` on the same files is exit 1 (the study's files are damaged);
- a history.csv that lost its last epoch whole was drawn from in silence;
- a read-only trial folder was "trial 1: [Errno 30] Read-only file system: '...'".
Each is now one line naming the file, exit 1."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.sweep.conftest import one_clear_line

pytestmark = pytest.mark.slow

STUDY = "p"


@pytest.fixture(scope="module")
def made(tiny_idx_dir: Path, tiny_space: Path, tmp_path_factory) -> Path:
    """A finished study of 2 trials of 2 epochs, drawn by no one; its studies folder."""
    from tests.sweep.conftest import run_sweep

    root = tmp_path_factory.mktemp("plots-damaged")
    proc = run_sweep("run", "--trials", 2, "--jobs", 1, "--epochs", 2, "--dataset", "idx",
                     "--data-dir", tiny_idx_dir, "--space", tiny_space, "--pruner", "none",
                     "--no-report", "--no-plots", "--quiet", "--studies-dir",
                     root / "studies", "--study", STUDY, cwd=root)
    assert proc.returncode == 0, proc.stderr
    return root / "studies"


@pytest.fixture
def studies(made: Path, tmp_path: Path) -> Path:
    shutil.copytree(made, tmp_path / "studies")
    return tmp_path / "studies"


def _plots(sweep_cli, studies: Path, *more: object):
    return sweep_cli("plots", "--trial", 1, "--studies-dir", studies, "--study", STUDY, *more,
                     cwd=studies.parent)


@pytest.mark.parametrize(("how", "said"), [
    ("garbage", "best.npz: not a readable checkpoint"),
    ("missing", "best.npz: no checkpoint there"),
    ("folder", "best.npz: not a regular file"),
    ("fifo", "best.npz: not a regular file"),
    ("shape", "array 'W0' has shape (3, "),
])
def test_a_damaged_checkpoint_is_exit_1_as_in_predict(studies, sweep_cli, how, said):
    best = studies / STUDY / "trials" / "0001" / "checkpoints" / "best.npz"
    if how == "garbage":
        best.write_bytes(b"\x00\x01 not a zip")
    elif how == "missing":
        best.unlink()
    elif how in ("folder", "fifo"):  # hostile tester 22: predict called these "missing"
        best.unlink()
        best.mkdir() if how == "folder" else os.mkfifo(best)
    else:
        with np.load(best, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        arrays["W0"] = arrays["W0"][:3]
        with open(best, "wb") as out:
            np.savez(out, **arrays)
    plots = _plots(sweep_cli, studies)
    assert plots.returncode == 1, plots.stderr
    one_clear_line(plots, said)
    predict = sweep_cli("predict", "--trial", 1, "--index", 0, "--out",
                        studies.parent / "p.png", "--studies-dir", studies, "--study", STUDY,
                        cwd=studies.parent)
    assert predict.returncode == plots.returncode, predict.stderr
    if how in ("missing", "folder", "fifo"):
        one_clear_line(predict, "checkpoints/best.npz is missing" if how == "missing"
                       else "checkpoints/best.npz is not a regular file")


def test_a_history_that_lost_its_last_epoch_is_named(studies, sweep_cli):
    history = studies / STUDY / "trials" / "0001" / "history.csv"
    history.write_text("".join(history.read_text().splitlines(keepends=True)[:2]))
    proc = _plots(sweep_cli, studies)
    assert proc.returncode == 1, proc.stderr
    one_clear_line(proc, f"{history}: 2 epochs trained, 1 recorded")
    assert not (history.parent / "plots" / "learning_curves.png").exists()


@pytest.mark.parametrize("drawn_before", [False, True])
def test_a_read_only_trial_folder_is_one_line_without_errno(studies, sweep_cli, drawn_before):
    """Drawn before (its plots folder there), the failing write is of a figure's
    temporary file: the line names the figure (hostile tester 18: ".learning_curves.png
    .r6stu4sl.tmp", a file that never exists)."""
    folder = studies / STUDY / "trials" / "0001"
    if drawn_before:
        (folder / "plots").mkdir(exist_ok=True)
    _mount("--bind", folder, folder)
    try:
        _mount("-o", "remount,ro,bind", folder)
        proc = _plots(sweep_cli, studies)
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
    assert proc.returncode == 1, proc.stderr
    line = one_clear_line(proc, "Read-only file system", str(folder / "plots"))
    assert ".tmp" not in line, line


def _mount(*args: object) -> None:
    proc = subprocess.run(["mount", *map(str, args)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here ({proc.stderr.strip()}): this test needs root and "
                    "mount(8) to make a real read-only file system")


def test_a_history_that_is_a_folder_is_not_called_moved_or_deleted(studies, sweep_cli):
    """Hostile tester 18: the right error, but first a note that trial 1 had "no
    directory ... (moved or deleted)", though its folder is there."""
    history = studies / STUDY / "trials" / "0001" / "history.csv"
    history.unlink()
    history.mkdir()
    proc = _plots(sweep_cli, studies)
    one_clear_line(proc, f"{history}: not a regular file")
    assert "moved or deleted" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr

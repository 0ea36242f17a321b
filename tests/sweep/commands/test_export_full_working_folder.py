"""Hostile tester 24: `export --mlflow sqlite:////elsewhere/m.db` run from a folder whose
disk is full (the artifacts go to ./mlruns, MLflow's default) fails with
"sweep export: error: [Errno 28] No space left on device": raw OS text, and no culprit
named (neither ./mlruns nor the folder). A read-only working folder is named
("/x/mlruns: Read-only file system"); a full one should be named too."""

from __future__ import annotations

import pytest

from tests.sweep.conftest import one_clear_line


@pytest.mark.slow
def test_export_with_a_full_working_folder_names_it(tiny_run, sweep_cli, tmp_path, mounts):
    pytest.importorskip("mlflow")
    studies = tmp_path / "studies"
    ran = tiny_run("ex", 2)
    assert ran.returncode == 0, ran.stderr
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    mounts("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(cwd))
    ballast = cwd / "ballast"
    with pytest.raises(OSError):
        ballast.write_bytes(b"\0" * 128 * 1024)  # the disk is full now
    store = tmp_path / "store"
    store.mkdir()
    proc = sweep_cli("export", "--mlflow", f"sqlite:///{store}/m.db", "--study", "ex",
                     "--studies-dir", studies, cwd=cwd, timeout=240)
    line = one_clear_line(proc)
    assert str(cwd) in line or "mlruns" in line, line
    assert "[Errno" not in line and "No space left on device" in line, line

"""Hostile tester 23: `export --mlflow sqlite:///m.db` into a new store on a disk that
fills removes the m.db it made, but leaves ./mlruns/1/<run id>/artifacts/... (config.json,
metrics.json, history.csv, figures, one cut short by the full disk): files of runs that no
store records any more. README: a failed export into a new local store removes what it
made."""

from __future__ import annotations

import pytest

from tests.sweep.conftest import one_clear_line


@pytest.mark.slow
def test_a_failed_export_into_a_new_store_leaves_no_artifacts(tiny_run, sweep_cli, tmp_path,
                                                             mounts):
    pytest.importorskip("mlflow")
    studies = tmp_path / "studies"
    ran = tiny_run("ex", 4, "--plots", "all")
    assert ran.returncode == 0, ran.stderr
    target = tmp_path / "store"
    target.mkdir()
    mounts("-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(target))
    failed, left = 0, {}
    for ballast_kib in (100, 150, 200):  # the disk fills as the runs' artifacts are written
        ballast = target / "ballast"
        try:
            ballast.write_bytes(b"\0" * ballast_kib * 1024)
        except OSError:
            break
        proc = sweep_cli("export", "--mlflow", "sqlite:///m.db", "--study", "ex",
                         "--studies-dir", studies, cwd=target, timeout=240)
        ballast.unlink()
        made = sorted(str(p.relative_to(target)) for p in target.rglob("*"))
        if proc.returncode != 0:
            failed += 1
            one_clear_line(proc)
            if made:
                left[ballast_kib] = made
        for p in sorted(target.rglob("*"), reverse=True):  # start the next one afresh
            p.rmdir() if p.is_dir() else p.unlink()
    if not failed:
        pytest.skip("no export failed: the disk never filled")
    assert not left, left

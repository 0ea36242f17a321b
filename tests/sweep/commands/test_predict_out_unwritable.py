"""Hostile tester 11.
`predict --out` into a folder that cannot be written names a hidden temporary file
("[Errno 2] No such file or directory: '/proc/.x.png.83kcf3zh.tmp'") instead of the path
the user gave and the option, as `trials --out` does ("--out /proc/x.csv: cannot write
it ..."). The error should name --out and the user's path."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.slow
def test_predict_out_unwritable_names_the_option(tmp_path: Path, sweep_cli, data_args) -> None:
    exp = tmp_path / "exp"
    trained = sweep_cli("train", "--experiment", exp, "--epochs", "1", "--hidden-size", "16",
                        *data_args, "--quiet", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    target = "/proc/h11-unwritable.png"
    proc = sweep_cli("predict", "--experiment", exp, "--index", "0", "--out", target,
                     cwd=tmp_path)
    assert proc.returncode != 0
    assert ".tmp" not in proc.stderr, proc.stderr
    assert f"--out {target}" in proc.stderr, proc.stderr

"""A reading command's ``--studies-dir`` that is a file (or lies under one) is a usage
error naming the file, exit 2, as it is for ``run``; it was "no study named
'mnist-mlp' in afile", exit 1, as if the folder were only empty."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.parametrize("command", ["best", "trials", "report", "doctor", "studies",
                                     "confirm", "export"])
@pytest.mark.parametrize("under", ["", "x/y"])
def test_a_studies_dir_that_is_a_file_is_named(tmp_path: Path, cli, check_error,
                                              command: str, under: str):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder\n")
    folder = blocker / under if under else blocker
    more = ["--mlflow", tmp_path / "mlruns"] if command == "export" else []
    proc = cli(command, "--studies-dir", folder, *more)
    check_error(proc, 2, f"--studies-dir {folder}: {blocker} is not a folder")
    assert blocker.read_text() == "not a folder\n"

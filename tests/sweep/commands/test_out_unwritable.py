"""``--out FILE`` where no file can be made names the --out path, not the temporary file
of the atomic write (hostile tester 3: "[Errno 2] No such file or directory:
'/proc/.version.x44pibla.tmp'")."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.parametrize("command", ["trials", "best"])
def test_an_out_file_whose_folder_is_a_file_is_named(made_study: Path, tmp_path: Path, cli,
                                                     check_error, command: str):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    target = blocker / "out.json"
    proc = cli(command, "--study", "done", "--studies-dir", made_study.parent,
               "-f", "json", "--out", target)
    line = check_error(proc, 1, f"--out {target}: cannot write it",
                       f"{blocker} is a file where a folder goes")
    assert ".tmp" not in line and "File exists" not in line, line
    assert blocker.read_text() == "not a folder\n"


@pytest.mark.skipif(not Path("/proc/version").is_file(), reason="Linux's /proc")
def test_an_out_file_in_proc_is_named(made_study: Path, tmp_path: Path, cli, check_error):
    proc = cli("trials", "--study", "done", "--studies-dir", made_study.parent, "-f", "json",
               "--out", "/proc/version")
    check_error(proc, 1, "--out /proc/version: cannot write it")

"""Hostile tester 8: sweep.run raises sweep.UsageError naming the keyword argument
(`epochs=0: ...`) or sweep.StudyError, and the command line names its option, for a
studies folder that cannot be made and a data folder that is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

import sweep


def test_uncreatable_studies_dir_is_a_sweep_error_naming_studies_dir(tiny_idx_dir: Path):
    """A studies folder that cannot be made (/proc refuses new entries): a bare
    FileNotFoundError escapes sweep.run."""
    with pytest.raises((sweep.UsageError, sweep.StudyError)) as info:
        sweep.run("h8", studies_dir="/proc/h8-studies", trials=1, epochs=1, jobs=1,
                  dataset="idx", data_dir=str(tiny_idx_dir), report=False, plots="none")
    assert "studies_dir" in str(info.value)


def test_uncreatable_studies_dir_names_the_option_on_the_command_line(cli, data_args):
    got = cli("run", "--trials", 1, "--epochs", 1, *data_args,
              "--studies-dir", "/proc/h8-studies", "--study", "h8")
    assert got.returncode in (1, 2)
    assert "--studies-dir" in got.stderr, got.stderr
    assert "[Errno" not in got.stderr, got.stderr


@pytest.mark.parametrize("data_dir", ["/nonexistent-h8", "EMPTY"])
def test_bad_data_dir_names_the_keyword(tmp_path: Path, data_dir: str):
    """`data dir /x: not a directory`: neither data_dir= nor the keyword's spelling."""
    if data_dir == "EMPTY":
        data_dir = str(tmp_path / "empty")
        Path(data_dir).mkdir()
    with pytest.raises(sweep.UsageError) as info:
        sweep.run("h8", studies_dir=tmp_path / "studies", trials=1, epochs=1, jobs=1,
                  dataset="idx", data_dir=data_dir, report=False, plots="none")
    assert str(info.value).startswith("data_dir"), str(info.value)

"""Hostile tests: `sweep compare --report-dir` pointing inside a study or at a file.
`--out` refuses a file inside a study folder ("inside the study folder ...; write the
table elsewhere", exit 2); the page's folder must be held to the same rule, and a bad
folder is a usage error (exit 2) in one line."""

from __future__ import annotations

import pytest

from tests.sweep.studies import finished_study

pytestmark = pytest.mark.slow  # draws a report in process


@pytest.fixture
def two(tmp_path):
    studies = tmp_path / "studies"
    finished_study(studies, "a", trials=3)
    finished_study(studies, "b", trials=3)
    return studies


@pytest.mark.parametrize("inside", ["a", "a/trials/0000"])
def test_report_dir_inside_a_study_is_refused(inside, two, cli, check_error):
    """Before: exit 0, index.html, report.md and figures/ written into the study's folder
    (or into a trial's experiment directory)."""
    before = sorted(p.relative_to(two) for p in (two / "a").rglob("*"))
    proc = cli("compare", "a", "b", "--studies-dir", two, "--report-dir", two / inside)
    check_error(proc, 2, "--report-dir")
    assert sorted(p.relative_to(two) for p in (two / "a").rglob("*")) == before


def test_report_dir_that_is_a_file_is_a_usage_error(two, tmp_path, cli, check_error):
    """Before: "sweep compare: error: [Errno 17] File exists: 'afile'", exit 1."""
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    proc = cli("compare", "a", "b", "--studies-dir", two, "--report-dir", afile)
    check_error(proc, 2, "--report-dir", str(afile))
    assert afile.read_text() == "keep me"


def test_a_page_that_cannot_be_written_leaves_no_empty_folders(two, tmp_path, cli,
                                                               check_error, mounts):
    """Hostile tester 25 (unsure): on a full disk the page failed in one line but left its
    new, empty rep/ and rep/figures/ folders behind."""
    disk = tmp_path / "full"
    disk.mkdir()
    mounts("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk))
    with open(disk / "ballast", "wb") as f, pytest.raises(OSError):
        f.write(b"\0" * 128 * 1024)
        f.flush()
    proc = cli("compare", "a", "b", "--studies-dir", two, "--report-dir", disk / "rep")
    check_error(proc, 1, "No space left on device")
    assert sorted(p.name for p in disk.iterdir()) == ["ballast"]

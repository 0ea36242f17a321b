"""A run trusts a study's folder only when the folder is the study it names, laid out as
a study is: a folder copied or renamed (its journal and study.json hold another study),
a study.json whose journal is gone, a file where the trials or the report go. Each is
refused before anything is trained, moved or written, in one line naming the file
(found by the twelfth hostile pass: such a run made a second study in the journal and
moved the first one's trial folders aside, or failed every trial)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.sweep.studies import finished_study

pytestmark = pytest.mark.slow  # `sweep run` starts its worker processes first


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _run(cli, studies: Path, name: str, tmp_path: Path, *more: object):
    return cli("run", "--trials", 4, "--epochs", 1, "--studies-dir", studies, "--study", name,
               "--quiet", *more, cwd=tmp_path)


@pytest.fixture
def study(tmp_path, tiny_idx_dir) -> Path:
    return finished_study(tmp_path / "studies", "k", trials=2, data_dir=tiny_idx_dir)


def test_a_renamed_study_folder_is_refused_and_left_as_it_was(study, tmp_path, cli,
                                                               check_error):
    renamed = study.parent / "kk"
    shutil.copytree(study, renamed)
    before = _files(renamed)
    check_error(_run(cli, study.parent, "kk", tmp_path), 1, "renamed", "'k'")
    assert _files(renamed) == before  # no second study in k's journal, nothing moved

    # a copy whose study.json was made to match still holds k's journal
    meta = json.loads((renamed / "study.json").read_text()) | {"name": "kk"}
    (renamed / "study.json").write_text(json.dumps(meta))
    before = _files(renamed)
    check_error(_run(cli, study.parent, "kk", tmp_path), 1, "renamed", "journal")
    assert _files(renamed) == before


@pytest.mark.parametrize("instead", ["nothing", "folder"])
def test_a_study_whose_journal_is_gone_is_not_started_anew(study, tmp_path, cli,
                                                            check_error, instead):
    """A folder where the journal goes was called "missing or empty" (hostile tester 21)."""
    (study / "journal.log").unlink()
    if instead == "folder":
        (study / "journal.log").mkdir()
    before = _files(study)
    if instead == "nothing":
        check_error(_run(cli, study.parent, "k", tmp_path), 1, "journal.log", "restore",
                    "is missing or empty")
    else:
        check_error(_run(cli, study.parent, "k", tmp_path), 1, "journal.log is a folder")
        check_error(cli("best", "--studies-dir", study.parent, "--study", "k", cwd=tmp_path),
                    1, "journal.log is not a regular file: restore it")
    assert _files(study) == before  # its trial folders are not moved aside as orphans


@pytest.mark.parametrize("which", ["trials", "report"])
def test_a_file_where_a_study_folder_goes_stops_the_run_before_any_trial(
        which, study, tmp_path, cli, check_error):
    """Before: with trials a file, every trial failed (NotADirectoryError) and the classic
    trial was lost for good; with report a file, the run trained every trial and ended
    in "[Errno 17] File exists"."""
    shutil.rmtree(study / which, ignore_errors=True)
    (study / which).write_text("a user's file")
    before = _files(study)
    check_error(_run(cli, study.parent, "k", tmp_path), 1, str(study / which),
                "not a folder")
    assert _files(study) == before


def test_the_report_command_names_a_report_that_is_a_file(study, cli, check_error):
    """Before: "sweep report: error: [Errno 17] File exists: '.../report'"."""
    (study / "report").write_text("a user's file")
    check_error(cli("report", "--studies-dir", study.parent, "--study", "k"), 1,
                str(study / "report"), "not a folder")
    assert (study / "report").read_text() == "a user's file"

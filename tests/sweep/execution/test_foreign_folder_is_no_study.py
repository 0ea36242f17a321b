"""``run --study NAME`` where studies/NAME is a folder of something else.

Hostile tester 15: `run --study compare-a-vs-b` adopted the folder of a `compare` page
as a study (its index.html and figures/ then sat inside a study, and `compare a b` was
refused for writing into one). A folder that is not a study and holds what no study
holds is refused before anything is written; a study's own leftovers (a first run
killed before its study.json, a confirm made from elsewhere) are not."""

from __future__ import annotations

import pytest

from tests.sweep.conftest import one_clear_line

pytestmark = pytest.mark.slow


def test_a_compare_page_folder_is_not_taken_for_a_study(tiny_run, tmp_path):
    page = tmp_path / "studies" / "compare-a-vs-b"
    (page / "figures").mkdir(parents=True)
    (page / "index.html").write_text("<html></html>")
    one_clear_line(tiny_run("compare-a-vs-b", 1), f"{page} holds 'figures', which is not a "
                                                  "study's")
    assert sorted(p.name for p in page.iterdir()) == ["figures", "index.html"]


def test_a_folder_of_a_studys_own_parts_is_taken(tiny_run, tmp_path):
    folder = tmp_path / "studies" / "s"
    (folder / "confirm").mkdir(parents=True)  # as a confirm of a database study leaves
    (folder / "workers.log").write_text("")
    (folder / ".lock").write_text("")
    proc = tiny_run("s", 1)
    assert proc.returncode == 0, proc.stderr
    assert (folder / "study.json").is_file()

"""``sweep studies`` (sweep/commands/studies.py), in process: every study of a folder with
its counts and best value, and a study that cannot be read listed with the reason."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.sweep.studies import VALUES


def test_studies_lists_the_study_with_its_counts(made_study, cli):
    proc = cli("studies", "--studies-dir", made_study.parent)
    assert proc.returncode == 0, proc.stderr
    assert [line.split() for line in proc.stdout.splitlines()] == [
        ["name", "finished", "complete", "pruned", "fail", "retried", "running", "waiting",
         "best_value", "best_number"],
        ["done", "3", "3", "0", "0", "0", "0", "0", f"{VALUES[2]:.2%}", "2"]]


def test_studies_in_an_empty_folder_is_an_error(tmp_path, cli, check_error):
    check_error(cli("studies", "--studies-dir", tmp_path), 1, "no studies")


@pytest.mark.parametrize(("damage", "needles"), [
    ("junk-journal", ["journal.log", "line 1"]),
    ('{"storage": 5}', ["unreadable", "study.json"]),
    ('["x"]', ["unreadable"]),
    ('{"storage": "garbage"}', ["unreadable"]),
])
def test_studies_lists_a_broken_study_with_the_reason(damage, needles, made_study, cli):
    broken = made_study.parent / "broken"
    shutil.copytree(made_study, broken)
    if damage == "junk-journal":  # study.json as a study named broken would have it
        meta = json.loads((broken / "study.json").read_text()) | {"name": "broken"}
        (broken / "study.json").write_text(json.dumps(meta))
        (broken / "journal.log").write_bytes(b"junk\n")
    else:
        (broken / "study.json").write_text(damage)
    proc = cli("studies", "--studies-dir", made_study.parent)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.split()[:2] == ["done", "3"] for line in lines), lines  # 3 finished
    line = next(line for line in lines if line.startswith("broken "))
    for needle in needles:
        assert needle in line, (needle, line)

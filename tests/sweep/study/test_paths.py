"""A study's folder and where its storage is (sweep/study/paths.py), in process: study
names, study.json read as a user's file would be (damaged, a FIFO), and the storage it
records. A FIFO in place of a file the run reads: one real run per file."""

from __future__ import annotations

import os
import threading

import pytest

from sweep.errors import UsageError
from sweep.study.paths import NAME_RULE, StudyPaths, check_name, storage_url_of
from tests.sweep.faults.harness import sweep
from tests.sweep.studies import finished_study, resume


@pytest.mark.parametrize("name", ["mnist-mlp", "a", "A.b_c-1", "x" * 100])
def test_a_good_study_name(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", ".hidden", "-x", "a/b", "../../etc", "a b", "name\n",
                                  "x" * 101, "é"])
def test_a_study_name_that_could_climb_or_hide_is_refused(name):
    with pytest.raises(UsageError) as caught:
        check_name(name)
    assert str(caught.value) == f"--study {name!r}: {NAME_RULE}"


@pytest.mark.parametrize("meta", ['{"storage": 5}', '["x"]', '{"storage": "garbage"}',
                                  "{not json"])
def test_a_wrong_study_json_is_one_line_naming_it(meta, made_study, cli, check_error):
    (made_study / "study.json").write_text(meta)
    proc = cli("best", "--studies-dir", made_study.parent, "--study", "done")
    check_error(proc, 1, "study.json")


def test_a_study_whose_password_was_masked_asks_for_it(tmp_path):
    paths = StudyPaths(tmp_path / "s")
    paths.root.mkdir()
    paths.meta.write_text('{"storage": "postgresql://u:***@h/db"}')
    with pytest.raises(UsageError, match="pass --storage with its password"):
        storage_url_of(paths, None)
    assert storage_url_of(paths, "postgresql://u:pw@h/db") == "postgresql://u:pw@h/db"


VICTIMS = ["study.json", "trials/0001/trial.json", "trials/0002/metrics.json"]


def fifo_in_place(root, victim: str):
    path = root / victim
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(("command", "victim"), [
    *[("best", victim) for victim in VICTIMS], ("report", "study.json")])
def test_a_fifo_in_place_of_a_study_file_is_an_error_not_a_hang(victim, command, made_study,
                                                                cli, check_error):
    """Reading a FIFO waits for a writer for ever: every file the harness reads is read
    only if it is a regular file. (Here in a thread: if it hangs, the test opens the
    FIFO's other end to free it, and fails. The report's reading of the best trial's
    metrics.json: commands/test_report_command.py.)"""
    fifo = fifo_in_place(made_study, victim)
    done = {}
    thread = threading.Thread(target=lambda: done.setdefault("proc", cli(
        command, "--studies-dir", made_study.parent, "--study", "done")), daemon=True)
    thread.start()
    thread.join(60)
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(10)
        pytest.fail(f"`sweep {command}` hung reading the FIFO {victim}")
    proc = done["proc"]
    assert "Traceback" not in proc.stderr, proc.stderr
    if victim == "study.json":
        check_error(proc, 1, "study.json", "not a regular file")
    else:
        assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_a_fifo_in_place_of_a_study_file_never_hangs_a_run(tmp_path, tiny_idx_dir):
    """The run reads study.json, mends every trial.json and reads the best trial's
    metrics.json: a FIFO in place of any of them is an error or a note, never a hang."""
    for victim in VICTIMS:
        root = finished_study(tmp_path / victim.replace("/", "-"), "done", trials=3,
                              data_dir=tiny_idx_dir)
        fifo_in_place(root, victim)
        proc = sweep(*resume(root.parent, "done", 4), cwd=tmp_path, timeout=120)
        assert "Traceback" not in proc.stderr, (victim, proc.stderr)
        if victim == "study.json":
            assert proc.returncode == 1 and "not a regular file" in proc.stderr, proc.stderr

"""``sweep report`` (sweep/commands/report.py): its refusals, in process; a damaged
metrics.json of the best trial costs the failure analysis only, with a note; a full
disk is one line naming the path; two reports at once both succeed (real processes).
(The report itself: report/.)"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
from types import SimpleNamespace

import pytest

from sweep.errors import StudyError
from tests.sweep.conftest import error_lines
from tests.sweep.faults.harness import sweep_env
from tests.sweep.report.conftest import report_command
from tests.sweep.studies import finished_study


def test_report_of_a_missing_study_is_a_study_error(tmp_path):
    with pytest.raises(StudyError, match="no study named 'nope'"):
        report_command(["--study", "nope", "--studies-dir", str(tmp_path)])
    assert not (tmp_path / "nope").exists()


DAMAGED_METRICS = ['[1, 2]', 'NaN', '{"most_confused": 5}', '{"most_confused": [{"true": 1}]}',
                   '{"dataset": [1]}', '{"classes": ' + json.dumps([str(i) for i in range(200)])
                   + ', "confusion_matrix": [[1]]}', "{not json"]


@pytest.mark.parametrize("metrics", [*DAMAGED_METRICS, "FIFO"])
def test_a_damaged_metrics_json_of_the_best_trial_is_skipped_with_a_note(metrics, tmp_path):
    """Each a note instead of the failure analysis; a FIFO in its place is not waited on
    (in a thread: if it hangs, the test opens the FIFO's other end, and fails)."""
    from sweep.report.best import load_best

    path = tmp_path / "metrics.json"
    if metrics == "FIFO":
        os.mkfifo(path)
    else:
        path.write_text(metrics)
    data = SimpleNamespace(best={"number": 3}, trial_dir=lambda number: tmp_path)
    found: list = []
    thread = threading.Thread(target=lambda: found.append(load_best(data)), daemon=True)
    thread.start()
    thread.join(30)
    if thread.is_alive():
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(10)
        pytest.fail("the report hung reading a FIFO in place of metrics.json")
    best, note = found[0]
    assert best is None and note.startswith("Trial 3: metrics.json "), note
    assert "\n" not in note


@pytest.mark.slow
def test_a_report_with_a_damaged_metrics_json_says_so(made_study):
    """The whole report still comes out, its failure analysis replaced by the note."""
    (made_study / "trials" / "0002" / "metrics.json").write_text('{"most_confused": 5}')
    assert report_command(["--studies-dir", str(made_study.parent), "--study", "done"]) == 0
    text = (made_study / "report" / "report.md").read_text()
    assert "Trial 2: metrics.json is not a run's record" in text


@pytest.mark.slow
def test_a_full_disk_during_the_report_names_the_path(tmp_path, cli):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}): needs root")
    try:
        finished_study(disk / "studies", "done")
        with open(disk / "filler", "wb") as f, contextlib.suppress(OSError):
            f.write(b"\0" * (4 << 20))
            f.flush()
        proc = cli("report", "--studies-dir", disk / "studies", "--study", "done")
        assert proc.returncode == 1, proc.stderr
        lines = error_lines(proc.stderr)
        assert len(lines) == 1 and "No space left on device" in lines[0], proc.stderr
        assert str(disk / "studies" / "done" / "report") in lines[0], lines[0]
        for path in (disk / "studies" / "done" / "report").rglob("*"):
            assert not path.name.startswith("."), f"temporary file left: {path}"
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


@pytest.mark.slow
def test_two_reports_at_once_both_succeed(made_study, tmp_path):
    studies = tmp_path / "copy"
    shutil.copytree(made_study.parent, studies)
    cmd = [sys.executable, "-m", "sweep", "report", "--studies-dir", str(studies), "--study",
           "done"]
    procs = [subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=sweep_env()) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert (studies / "done" / "report" / "index.html").is_file()
    assert not list((studies / "done" / "report").rglob(".*")), "temporary files left"

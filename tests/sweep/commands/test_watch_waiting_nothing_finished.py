"""Hostile tester 23.
`trials --watch` on a study whose only trial waits, with none running and none finished
(a run stopped by `--timeout` before its first trial started, or a Dask run that found no
worker), never ends: it redraws "0 running, 1 waiting" until Ctrl-C and never says that
no run will start the trial. README: "trials left waiting with none running end the view
after 30 s"."""

from __future__ import annotations

import subprocess

import pytest

from tests.sweep.studies import api_study


@pytest.mark.slow
def test_watch_ends_when_the_only_trial_waits_and_nothing_ever_ran(tmp_path, sweep_cli):
    study, _, _ = api_study(tmp_path, "stranded")  # the classic trial 0 enqueued: waiting
    assert [t.state.name for t in study.get_trials()] == ["WAITING"]
    where = ("--study", "stranded", "--studies-dir", tmp_path)
    try:
        proc = sweep_cli("trials", *where, "--watch", "0.5", cwd=tmp_path,
                         env={"SWEEP_FAULT_SETTLE": "2"}, timeout=40)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`trials --watch` still running after 40s with a 2s stranded-wait "
                    f"settle; its last output: {(exc.stdout or b'')[-400:]!r}")
    assert proc.returncode == 0, proc.stderr
    assert "view ends" in proc.stdout, proc.stdout[-600:]

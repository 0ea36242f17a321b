"""Hostile tester 11.
`trials --watch` counts a waiting retry in its header ("0 running, 1 waiting", "1
waiting that no run has started for 30s") but its table leaves that trial out, while
`trials` lists it (README: `trials` is every trial, waiting ones too; `--watch` redraws
it). Found on a study cut by SIGTERM: trial 3 (the retry of the interrupted trial 2) was in
`trials` and in no frame of `trials --watch`."""

from __future__ import annotations

import re

from optuna.trial import TrialState

from tests.sweep.studies import add, api_study


def test_watch_table_lists_the_waiting_retry(tmp_path, cli, monkeypatch):
    from sweep.commands import watch

    monkeypatch.setattr(watch, "STRANDED_SETTLE", 1.5)  # the view's end for a stranded wait
    study, dists, rng = api_study(tmp_path, "cut")
    add(study, dists, rng, TrialState.COMPLETE, value=0.9)
    add(study, dists, rng, TrialState.FAIL, lost=True, reason="interrupted")
    lost = study.get_trials()[2]
    study.enqueue_trial(lost.params, user_attrs={"retry_of": 2})
    where = ("--study", "cut", "--studies-dir", tmp_path)
    plain = cli("trials", *where).stdout
    assert re.search(r"^\s*3\s+waiting", plain, re.M), plain
    watched = cli("trials", *where, "--watch", "0.5")
    assert "waiting" in watched.stdout.splitlines()[0], watched.stdout
    assert re.search(r"^\s*3\s+waiting", watched.stdout, re.M), watched.stdout

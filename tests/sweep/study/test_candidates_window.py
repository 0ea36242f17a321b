"""Hostile tests: what `sweep confirm` says of its candidates."""

from __future__ import annotations

import re

from sweep.commands.confirm import candidate_lines
from sweep.study.confirmations import choose_candidates
from sweep.study.results import load
from tests.sweep.studies import finished_study


def test_a_candidate_outside_the_window_is_not_said_to_be_within_it(tmp_path):
    """Two trials: the classic one leads at 91%, trial 1 is at 88%, 3 points below. The
    race needs two, so trial 1 is raced "outside the window" (confirm.json says so). The
    printed line said "candidates: 2 configurations within 0.23 points of the leader, trial
    0 at 91.00% (...): trials 1, 0": trial 1 is not within 0.23 points (and with --within
    1e-300, "within 0.00 points ... trials 6, 0" on a real study)."""
    studies = tmp_path / "studies"
    finished_study(studies, "done", trials=2)
    choice = choose_candidates(load("done", studies))
    assert [c.number for c in choice.chosen] == [1, 0]
    text = " ".join(candidate_lines(choice))
    claimed = re.search(r"within [0-9.]+ points of the leader.*?: trials ([0-9, ]+)", text)
    inside = {int(t) for t in claimed.group(1).split(",")} if claimed else set()
    assert 1 not in inside, text

"""Hostile tester 2: the Python API with the numbers a researcher actually has."""

from __future__ import annotations

import numpy as np
import pytest

import sweep
from sweep.execution.request import RunRequest
from sweep.options import build


def test_numpy_integers_are_whole_numbers_for_run_as_for_results():
    # found: sweep.run("s", trials=np.int64(1), ...) -> "UsageError: trials=np.int64(1):
    # must be a whole number from 1" (and seed=np.int64(0), epochs=np.int64(3) alike),
    # while results.best(np.int64(2)) and history(np.int64(0)) take them: a count
    # taken from a NumPy array or a DataFrame is a whole number
    request = build(RunRequest, {"study": "x", "trials": np.int64(3), "epochs": np.int64(2),
                                 "seed": np.uint32(7)})
    assert (request.trials, request.epochs, request.seed) == (3, 2, 7)


def test_a_negative_trial_number_is_refused_not_made_into_a_folder_name(made_study):
    # found: sweep.load(...).trial_dir(-3) -> PosixPath('.../trials/-003') while
    # history(-3) says "number=-3: a whole number >= 0"
    results = sweep.load("done", studies_dir=made_study.parent)
    with pytest.raises(sweep.UsageError):
        results.trial_dir(-3)

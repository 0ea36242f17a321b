"""A space whose every network is too large for the machine's memory.

Hostile tester 16: `run` with a `[fixed]` network too large to train started every
trial, each failed with TooLargeError, and the run ended exit 0 (fewer than 5 failed in
a row), where `train` refuses the same network up front. `run` now refuses it before
anything is made, naming the smallest network of the space; a space with any network
that fits runs (its too-large trials fail one by one, as the README says)."""

from __future__ import annotations

import pytest

import sweep
from sweep.errors import UsageError

pytestmark = pytest.mark.slow


def test_a_space_of_networks_too_large_is_refused_before_anything_is_made(tmp_path,
                                                                          tiny_idx_dir):
    space = {"fixed": {"hidden_size": 65536, "hidden_layers": 16},
             "params": {"lr": {"low": 0.01, "high": 0.1}}}
    with pytest.raises(UsageError, match=r"^every network of the study's space is too "
                                         r"large for this machine; the smallest: model: 16 "
                                         r"hidden layer\(s\) of 65536 units"):
        sweep.run("big", trials=2, epochs=1, dataset="idx", data_dir=tiny_idx_dir,
                  studies_dir=tmp_path, space=space, report=False)
    assert not any(tmp_path.iterdir())  # nothing made

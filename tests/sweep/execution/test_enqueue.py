"""``--enqueue``: a hand-picked configuration run next, once, within the study's space."""

from __future__ import annotations

import pytest

import sweep
from sweep.errors import UsageError

pytestmark = pytest.mark.slow


def test_an_enqueued_configuration_runs_next_and_only_once(tmp_path, tiny_idx_dir):
    kw = dict(epochs=1, dataset="idx", data_dir=tiny_idx_dir, studies_dir=tmp_path,
              plots=False, report=False, jobs=1,
              enqueue={"lr": 0.05, "batch_size": "6.4e1", "hidden_size": "1.28e2"})
    first = sweep.run("picked", trials=2, **kw)
    by_number = {o.number: o for o in first.outcomes}
    assert by_number[0].classic  # the classic trial stays trial 0
    assert by_number[1].params["lr"] == 0.05 and by_number[1].params["batch_size"] == 64
    # a whole number however written (hostile tester 6: "20.0" was "not a number"; 7: a
    # categorical's 64 written 6.4e1 was "outside the study's space")
    assert by_number[1].params["hidden_size"] == 128
    again = sweep.run("picked", trials=4, **kw)  # the same call again: not a second copy
    picked = [o for o in again.outcomes if o.params.get("lr") == 0.05
              and o.params.get("batch_size") == 64]
    assert [o.number for o in picked] == [1] and again.counts.finished == 4


@pytest.mark.parametrize(("enqueue", "needle"), [
    ("lr=5", "lr=5 is outside the study's space"),
    ("batch_size=100", "batch_size=100 is outside"),
    ("momentum=0.5", "momentum is not a sampled setting"),
    ("lr", "expected NAME=VALUE"),
    ("lr=fast", "lr=fast is not a number"),
    ("lr=nan", "lr=nan is outside"),
    ("hidden_size=100.5", "hidden_size=100.5 is not a whole number"),
    ("lr=0.05,lr=0.06", "lr is given more than once"),  # hostile tester 6: the last won
])
def test_a_bad_configuration_is_refused_before_anything_runs(tmp_path, tiny_idx_dir, enqueue,
                                                             needle):
    with pytest.raises(UsageError, match=needle):
        sweep.run("bad", trials=2, epochs=1, dataset="idx", data_dir=tiny_idx_dir,
                  studies_dir=tmp_path, report=False, enqueue=enqueue)
    assert not any(tmp_path.iterdir())  # nothing made


def test_a_configuration_no_run_would_start_is_refused_and_nothing_changes(tmp_path,
                                                                           tiny_idx_dir):
    """Hostile tester 15: `run --trials 2 --enqueue lr=0.05` on a study with its 2 trials
    said "nothing to run", exit 0, and left a trial waiting that no run of the same
    command would ever start. Refused now, the study as it was; the same command that
    ran the configuration earlier still says "nothing to run"."""
    kw = dict(epochs=1, dataset="idx", data_dir=tiny_idx_dir, studies_dir=tmp_path,
              plots=False, report=False, jobs=1)
    with pytest.raises(UsageError, match="a new study runs its classic configuration first "
                                         r"\(asked for 1\).*raise trials to 2"):
        sweep.run("full", trials=1, enqueue="lr=0.05", **kw)
    assert not any(tmp_path.iterdir())  # nothing made
    sweep.run("full", trials=2, enqueue="lr=0.05", **kw)
    before = [(o.number, o.state) for o in sweep.load("full", tmp_path).listed]
    with pytest.raises(UsageError, match="study 'full' has 2 trials finished, running or "
                                         r"queued already \(asked for 2\)"):
        sweep.run("full", trials=2, enqueue="lr=0.06", **kw)
    again = sweep.run("full", trials=2, enqueue="lr=0.05", **kw)  # the same command
    assert [(o.number, o.state) for o in again.listed] == before == [
        (0, "COMPLETE"), (1, "COMPLETE")]

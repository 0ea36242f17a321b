"""A classic trial lost to a fault and retried (sweep/execution/ledger.py): its retry
stands in for it everywhere a study is read. In process, written through Optuna."""

from __future__ import annotations

from optuna.trial import TrialState, create_trial

from sweep.study.confirmations import choose_candidates
from sweep.study.results import load
from tests.sweep.studies import add, api_study


def _retried_classic(tmp_path):
    """Trial 0, the classic configuration, failed as lost and retried as trial 1 (completed
    at 93%); trials 2-6 completed around it."""
    study, dists, rng = api_study(tmp_path, "rc")
    classic = study.ask(fixed_distributions=dists)  # the enqueued classic configuration
    classic.set_user_attr("classic", True)
    classic.set_user_attr("lost", True)
    classic.set_user_attr("reason", "interrupted")
    study.tell(classic, state=TrialState.FAIL)
    study.add_trial(create_trial(
        params=classic.params, distributions=dists, value=0.93, state=TrialState.COMPLETE,
        user_attrs={"classic": True, "retry_of": 0, "train_seconds": 5.0, "epochs": 4,
                    "test_accuracy": 0.928, "best_epoch": 4},
        intermediate_values={1: 0.90, 4: 0.93}))
    for value in (0.931, 0.925, 0.929, 0.90, 0.932):
        add(study, dists, rng, TrialState.COMPLETE, value=value)
    return load("rc", tmp_path)


def test_confirm_races_the_retry_of_a_lost_classic_trial_once(tmp_path):
    """Before: the classic configuration was trained twice in confirm (the lost trial and
    its retry) and compared with itself ("+0.00%, p = 1")."""
    results = _retried_classic(tmp_path)
    choice = choose_candidates(results, within=1000)
    numbers = [c.number for c in choice.chosen]
    assert 0 not in numbers and numbers.count(1) == 1, numbers
    assert [c.number for c in choice.chosen if c.classic] == [1]
    configs = [tuple(sorted(c.outcome.params.items())) for c in choice.chosen]
    assert len(configs) == len(set(configs)), configs  # no configuration twice


def test_counts_and_the_report_count_the_retry_not_the_lost_trial(tmp_path):
    """Before: the report's header said "0 failed" beside a warning "1 of 7 finished
    trials failed", and "The classic configuration (trial 0) did not complete"."""
    from sweep.report import findings, prepare

    results = _retried_classic(tmp_path)
    c = results.counts
    assert (c.complete, c.failed, c.retried, c.finished) == (6, 0, 1, 6)
    data = prepare(results)
    warnings = " ".join(findings.warnings_for(data, None))
    assert "failed" not in warnings, warnings
    assert int(data.classic["number"]) == 1 and data.classic["state"] == "COMPLETE"

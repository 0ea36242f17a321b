"""Racing over seeds (sweep/statistics/racing.py): the plan, a command-like driving loop,
resuming by replay, failed runs, the cost bookkeeping, and the batch form's agreement."""

from __future__ import annotations

import numpy as np
import pytest

from sweep.statistics.racing import (
    RaceStatus,
    race_batch,
    race_plan,
    race_status,
)
from sweep.statistics.selection import WORSE, stepdown_worse
from sweep.statistics.selection_sim import SEED_SD, simulate, varied_correlation


def test_the_plan_spends_alpha_over_the_looks():
    plan = race_plan(6)
    assert plan.looks == (5, 10)
    assert plan.look_alphas == pytest.approx((0.0125, 0.0375))  # 0.05 (n / 10)^2
    plan3 = race_plan(6, (5, 10, 20), alpha=0.1, spending=1.0)
    assert sum(plan3.look_alphas) == pytest.approx(0.1)
    assert plan3.look_alphas == pytest.approx((0.025, 0.025, 0.05))
    assert plan.fixed_design_trainings == 60


@pytest.mark.parametrize("looks,match", [((3, 10), "first look"), ((5, 8), "at least 10"),
                                         ((5, 5, 10), "rising"), ((), "rising")])
def test_the_plan_refuses_looks_that_lose_the_guarantee_or_the_power(looks: tuple, match: str):
    with pytest.raises(ValueError, match=match):
        race_plan(6, looks)
    with pytest.raises(ValueError, match="two configurations"):
        race_plan(1)


def drive(truth: np.ndarray, plan, fail: set | None = None) -> tuple[RaceStatus, int, list]:
    """What the command does: ask, train what is asked (read from ``truth``), repeat."""
    k = truth.shape[0]
    acc = np.full((k, 0), np.nan)
    done = np.zeros((k, 0), dtype=bool)
    trained, asked = 0, []
    for _ in range(20):
        status = race_status(acc, plan, done=done)
        if status.over:
            return status, trained, asked
        asked.append(status.to_train)
        width = max(acc.shape[1], status.next_seeds)
        acc = np.pad(acc, ((0, 0), (0, width - acc.shape[1])), constant_values=np.nan)
        done = np.pad(done, ((0, 0), (0, width - done.shape[1])), constant_values=False)
        for config, seed in status.to_train:
            assert not done[config, seed], "a run is asked for twice"
            done[config, seed] = True
            trained += 1
            if not fail or (config, seed) not in fail:
                acc[config, seed] = truth[config, seed]
    raise AssertionError("the race never ended")


def test_a_driven_race_trains_only_the_survivors_and_counts_what_it_asked():
    rng = np.random.default_rng(4)
    means = np.array([0.985, 0.985, 0.980, 0.985, 0.981, 0.985])
    truth = simulate(means, SEED_SD, varied_correlation(6), 10, 1, rng)[0]
    plan = race_plan(6)
    status, trained, asked = drive(truth, plan)
    first = status.rounds[0]
    assert first.seeds == 5 and set(first.eliminated) == {2, 4}  # 0.4-0.5 points below
    assert {c for c, _ in asked[1]} == set(status.alive) == {0, 1, 3, 5}
    assert {s for _, s in asked[1]} == set(range(5, 10))
    assert trained == status.trainings_done == 6 * 5 + 4 * 5
    table = status.cost_table()
    assert [row["trainings"] for row in table] == [30, 20]
    assert table[-1]["total"] == 50 and table[-1]["fixed_design_total"] == 60
    final = status.final
    assert final is not None and set(final.best_set) == {0, 1, 3, 5}
    by = {c.label: c for c in final.configurations}
    assert by[2].verdict == WORSE and np.isnan(by[2].mcb_low) and by[2].n_seeds == 5
    assert by[0].n_seeds == 10


def test_the_race_is_a_function_of_the_data_so_it_resumes_and_ignores_extra_runs():
    rng = np.random.default_rng(4)
    means = np.array([0.985, 0.985, 0.980, 0.985, 0.981, 0.985])
    truth = simulate(means, SEED_SD, varied_correlation(6), 12, 1, rng)[0]
    plan = race_plan(6)
    driven, _, _ = drive(truth[:, :10], plan)
    replayed = race_status(truth, plan)  # every run there, two seeds more than needed
    assert replayed.over and replayed.rounds == driven.rounds
    assert replayed.final.best_set == driven.final.best_set
    assert [c.mcb_low for c in replayed.final.configurations] == pytest.approx(
        [c.mcb_low for c in driven.final.configurations], nan_ok=True)
    half = race_status(truth[:, :7], plan)  # killed during the second round
    assert not half.over and len(half.rounds) == 1
    assert {s for _, s in half.to_train} == {7, 8, 9}
    # the second round's runs already there count as trained (hostile pass 13: a resumed
    # confirm said "0 trained so far" over three finished re-runs)
    assert half.trainings_done == 30 + 4 * 2 and half.trainings_most == 4 * 3


def test_a_failed_run_is_not_retried_and_counts_as_missing():
    rng = np.random.default_rng(6)
    truth = simulate(np.full(4, 0.985), SEED_SD, varied_correlation(4), 10, 1, rng)[0]
    status, trained, _ = drive(truth, race_plan(4), fail={(1, 2), (3, 7)})
    assert status.over and trained == 40
    assert {c.label: c.n_seeds for c in status.final.configurations} == {0: 10, 1: 9, 2: 10,
                                                                         3: 9}


def test_a_race_ends_when_one_configuration_is_left():
    rng = np.random.default_rng(1)
    means = np.array([0.986, 0.975, 0.976])
    truth = simulate(means, SEED_SD, varied_correlation(3), 10, 1, rng)[0]
    status, trained, asked = drive(truth, race_plan(3))
    assert status.alive == (0,) and len(status.rounds) == 1 and trained == 15
    assert "one configuration left after look 1" in status.reason
    assert status.final.best_set == [0] and status.final.configurations[0].mcb_low == 0.0


def test_race_batch_is_race_status_many_times():
    rng = np.random.default_rng(12)
    means = np.array([0.985, 0.9845, 0.9835, 0.985, 0.982, 0.985])
    xs = simulate(means, SEED_SD, varied_correlation(6), 20, 30, rng)
    plan = race_plan(6, (5, 10, 20))
    batch = race_batch(xs, plan)
    for r in range(30):
        status = race_status(xs[r], plan)
        assert list(status.alive) == list(np.flatnonzero(batch.alive[r]))
        assert status.trainings_done == batch.trainings[r]
        assert [c.equivalent for c in status.final.configurations] == list(batch.equivalent[r])


def test_each_look_keeps_the_original_family_size():
    """Survivors were chosen on the same seeds: the Bonferroni count stays F (not fewer)."""
    rng = np.random.default_rng(3)
    truth = simulate(np.r_[0.985, 0.985, 0.985, 0.975], SEED_SD, varied_correlation(4), 10, 1,
                     rng)[0]
    status = race_status(truth, race_plan(4))
    second = status.rounds[1]
    adjusted, _ = stepdown_worse(truth[:, :10], second.alpha,
                                 alive=np.isin(np.arange(4), second.raced), family_size=4)
    assert second.worse_p == pytest.approx(tuple(adjusted[list(second.raced)]))

"""Grid search: ``--sampler grid``, Optuna's GridSampler over the grid a space gives.

A space file gives ``grid = [values]`` per number setting; categorical settings try
their choices. Every point of the grid runs exactly once, in an order fixed by the study
seed, with any number of workers and the lag; a trial lost to a fault is retried with
its point, and the point its number would have taken is run by a trial beyond the grid.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path

import pytest

from sweep.errors import UsageError
from sweep.study.space import space_from_changes
from tests.sweep.conftest import assert_one_line_error
from tests.sweep.faults.harness import (
    Running,
    check_retries,
    check_study,
    finished_for_the_budget,
    running_trials,
    stored_trials,
    sweep,
    wait_for,
)

GRID = """
[params.hidden_size]
grid = [16, 24]
[params.lr]
grid = [0.05, 0.2]
[params.batch_size]
choices = [128, 256]
[fixed]
dropout = 0.1
l2 = 0.0001
"""
POINTS = set(itertools.product((16, 24), (0.05, 0.2), (128, 256)))  # 8


def point(t) -> tuple:
    return (t.params["hidden_size"], t.params["lr"], t.params["batch_size"])


# -- the grid a space gives ----------------------------------------------------------------

def test_a_space_gives_its_grid_and_its_size():
    space = space_from_changes({"params": {"hidden_size": {"grid": [64, 512, 128]},
                                           "lr": {"grid": [0.01, 0.1]},
                                           "batch_size": {"choices": [64, 128]}},
                                "fixed": {"dropout": 0.2, "l2": 1e-4}})
    assert space.grid() == {"hidden_size": [64, 512, 128], "lr": [0.01, 0.1],
                            "batch_size": [64, 128]}
    assert space.grid_size() == 12
    hidden = space.param("hidden_size")
    assert (hidden.low, hidden.high, hidden.log) == (64, 512, True)  # the grid's range
    # the grid is stored with the study and read back the same
    assert type(space).from_dict(space.to_dict()) == space


@pytest.mark.parametrize(("spec", "needle"), [
    ({"hidden_size": {"grid": [16.5]}}, "must be integers"),
    ({"lr": {"grid": []}}, "non-empty list of numbers"),
    ({"lr": {"grid": [0.1, "x"]}}, "non-empty list of numbers"),
    ({"lr": {"grid": [0.1, 0.1]}}, "names 0.1 twice"),
    ({"lr": {"grid": [0.1, 2.0], "low": 0.01, "high": 1.0}}, "grid value 2.0 is outside"),
    ({"dropout": {"grid": [-0.1, 0.2]}}, "params.dropout"),
    ({"batch_size": {"choices": [64], "grid": [64]}}, "unexpected key 'grid'"),
])
def test_a_bad_grid_is_refused_naming_it(spec, needle):
    with pytest.raises(UsageError, match=needle):
        space_from_changes({"params": spec}, "--space s.toml")


def test_settings_without_a_grid_are_refused_naming_each():
    space = space_from_changes({"params": {"lr": {"grid": [0.1]}}})
    with pytest.raises(UsageError) as err:
        space.grid()
    message = str(err.value)
    assert message.startswith("--sampler grid: hidden_size, dropout, l2 have no grid")
    assert "\n" not in message


# -- studies --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def grid_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("grid") / "grid.toml"
    path.write_text(GRID)
    return path


def grid_args(run_args, studies: Path, name: str, grid_file: Path, trials: int,
              jobs: int = 2, epochs: int = 1) -> list[object]:
    return [*run_args(studies, name, trials=trials, jobs=jobs, epochs=epochs,
                      space_file=grid_file), "--sampler", "grid"]


@pytest.mark.slow
def test_the_default_space_is_refused_for_a_grid_and_nothing_is_made(tmp_path, data_args):
    proc = sweep("run", "--trials", 3, "--sampler", "grid", *data_args, "--studies-dir",
                 tmp_path / "studies", "--study", "g", cwd=tmp_path)
    assert_one_line_error(proc, 2, "--sampler grid: hidden_size, dropout, l2, lr have no grid")
    assert not (tmp_path / "studies").exists()


@pytest.mark.slow
def test_every_point_runs_once_in_the_same_order_whatever_the_timing(tmp_path, run_args,
                                                                      grid_file):
    studies = tmp_path / "studies"
    runs = {}
    for name, faults in (("a", {}), ("b", {"SWEEP_FAULT_JITTER": 0.3})):
        proc = sweep(*grid_args(run_args, studies, name, grid_file, trials=20), cwd=tmp_path,
                     faults=faults)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "the grid has 8 points (2 x 2 x 2): the study runs 8 trials, not 20" \
            in proc.stdout, proc.stdout
        assert "8 of 8 trials finished (8 completed" in proc.stdout, proc.stdout
        trials = check_study(studies / name, finished=8)
        assert {point(t) for t in trials} == POINTS  # each point once, no classic trial
        assert not any(t.user_attrs.get("classic") for t in trials)
        runs[name] = {t.number: point(t) for t in trials}
    assert runs["a"] == runs["b"]  # the seed fixes the order, not the workers' timing
    again = sweep(*grid_args(run_args, studies, "a", grid_file, trials=20), cwd=tmp_path)
    assert again.returncode == 0 and "nothing to run" in again.stdout, again.stdout


@pytest.mark.slow
def test_a_partial_grid_runs_its_first_points_and_a_larger_count_the_rest(tmp_path, run_args,
                                                                           grid_file):
    studies = tmp_path / "studies"
    first = sweep(*grid_args(run_args, studies, "p", grid_file, trials=3), cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "note: the grid" not in first.stdout
    assert len({point(t) for t in check_study(studies / "p", finished=3)}) == 3
    rest = sweep(*grid_args(run_args, studies, "p", grid_file, trials=8), cwd=tmp_path)
    assert rest.returncode == 0, rest.stdout + rest.stderr
    assert {point(t) for t in check_study(studies / "p", finished=8)} == POINTS


@pytest.mark.slow
def test_a_lost_grid_trial_is_retried_and_every_point_still_runs_once(tmp_path, run_args,
                                                                     grid_file):
    studies, root = tmp_path / "studies", tmp_path / "studies" / "k"
    cmd = grid_args(run_args, studies, "k", grid_file, trials=8, epochs=4)
    run = Running(*cmd, cwd=tmp_path, log=tmp_path / "run", faults={"SWEEP_FAULT_SLEEP": 0.3})
    try:
        victim = wait_for(lambda: running_trials(root), 90, "a grid trial in flight")[0]
        time.sleep(0.4)
        os.kill(victim["pid"], signal.SIGKILL)
        assert run.wait(120) == 0, run.output()
    finally:
        run.close()
    trials = stored_trials(root)
    retries = check_retries(trials)
    assert list(retries) == [victim["number"]], retries
    counted = finished_for_the_budget(trials)
    assert len(counted) == 8 and sorted(point(t) for t in counted) == sorted(POINTS)
    # the point the retry's number would have taken is run by a trial beyond the grid
    assert max(t.number for t in trials) == 8
    check_study(root, finished=8)


@pytest.mark.slow
def test_enqueue_is_refused_in_a_grid_study(tmp_path, run_args, grid_file):
    proc = sweep(*grid_args(run_args, tmp_path / "studies", "e", grid_file, trials=2),
                 "--enqueue", "lr=0.05", cwd=tmp_path)
    assert_one_line_error(proc, 2, "--enqueue: a grid study runs its grid")

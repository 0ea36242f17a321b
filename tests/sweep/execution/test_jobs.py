"""--jobs auto and --threads: the rule, and what a real run records."""

from __future__ import annotations

import json

import pytest

from mlp.config import Config
from mlp.memory import training_bytes
from sweep.execution.jobs import INTERPRETER_BYTES, choose_workers, cores, largest
from sweep.study.space import default_space

GB = 2**30


def test_auto_gives_each_core_a_worker_while_there_are_trials_to_spread():
    w = choose_workers(None, None, to_run=50, lag=4, n_cores=2, available=20 * GB)
    assert (w.jobs, w.threads) == (2, 1)
    assert w.rule.startswith("auto: 2 of 2 cores") and "cores" in w.rule


def test_auto_gives_spare_cores_to_the_workers_as_threads():
    one_left = choose_workers(None, None, to_run=1, lag=4, n_cores=4, available=20 * GB)
    assert (one_left.jobs, one_left.threads) == (1, 4) and "trials left" in one_left.rule
    lag_one = choose_workers(None, None, to_run=50, lag=1, n_cores=8, available=20 * GB)
    assert (lag_one.jobs, lag_one.threads) == (2, 4) and "lag" in lag_one.rule
    no_lag = choose_workers(None, None, to_run=50, lag=None, n_cores=8, available=20 * GB)
    assert (no_lag.jobs, no_lag.threads) == (8, 1)


def test_auto_starts_no_more_workers_than_memory_holds_copies_of_the_largest_network():
    biggest = largest(Config(), default_space())
    assert biggest.model.hidden_size == 2048 and biggest.training.batch_size == 512
    each = INTERPRETER_BYTES + training_bytes(biggest, 784, 10)
    w = choose_workers(None, None, to_run=50, lag=None, biggest=biggest, n_cores=8,
                       available=3 * each + each // 2)
    assert (w.jobs, w.threads) == (3, 2) and "memory" in w.rule
    starved = choose_workers(None, None, to_run=50, lag=None, biggest=biggest, n_cores=8,
                             available=each // 3)
    assert starved.jobs == 1  # one worker always: the trial itself says if it cannot fit


def test_explicit_jobs_and_threads_are_kept():
    w = choose_workers(3, None, to_run=50, lag=0, n_cores=2, available=1)
    assert (w.jobs, w.threads, w.rule) == (3, 1, "--jobs 3")
    assert choose_workers(1, None, to_run=50, lag=4, n_cores=2).threads == 2
    assert choose_workers(None, 3, to_run=50, lag=4, n_cores=2, available=20 * GB).threads == 3
    bounded = choose_workers(None, 4, to_run=50, lag=None, n_cores=8, available=20 * GB)
    assert (bounded.jobs, bounded.threads) == (2, 4)  # no more BLAS threads than cores
    assert choose_workers(4, None, to_run=2, lag=4, n_cores=8).jobs == 2  # never idle workers
    # hostile tester 9: "(--jobs 6)" named a value the user never gave (--jobs 1000)
    assert choose_workers(1000, None, to_run=6, lag=4, n_cores=2).rule == \
        "--jobs 1000, 6 trials left"


@pytest.mark.slow
def test_a_real_run_records_the_choice_and_runs_with_it(sweep_cli, run_args, tmp_path):
    """One trial to run: auto gives it one worker with every core as a BLAS thread, and
    config.json says so; --threads 1 overrides the threads. (--plots all: the dashboard
    test.)"""
    args = run_args(tmp_path, "auto", 1, epochs=1)
    i = args.index("--jobs")
    del args[i:i + 2]
    proc = sweep_cli(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    env = json.loads((tmp_path / "auto" / "trials" / "0000" / "config.json").read_text())
    assert env["environment"]["workers"]["jobs"] == 1
    assert env["environment"]["workers"]["threads"] == cores()
    assert env["environment"]["workers"]["rule"].startswith("auto")
    assert env["environment"]["blas"]["threads"] == cores()
    assert f"1 worker, {cores()} BLAS thread" in proc.stderr

    proc = sweep_cli(*args[:2], "3", *args[3:], "--threads", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for n in (1, 2):
        folder = tmp_path / "auto" / "trials" / f"{n:04d}"
        env = json.loads((folder / "config.json").read_text())
        assert env["environment"]["blas"]["threads"] == 1
        assert env["environment"]["workers"]["threads"] == 1

"""Hostile tester 9: what ``sweep run --explore`` prints."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_explore_prints_no_optuna_experimental_warning(sweep_cli, run_args, tmp_path):
    """Found: every ``sweep run --explore`` (the command the report and best advise),
    also one that has nothing to run, prints Optuna's internal warning on stderr:
    ".../sweep/study/samplers.py:73: ExperimentalWarning: QMCSampler is experimental
    (supported from v3.0.0). The interface can change in the future." and the source
    line under it: noise naming the harness's own file, nothing the user can act on."""
    args = [*run_args(tmp_path / "studies", "x-explore", trials=1, jobs=1), "--explore"]
    first = sweep_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = sweep_cli(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    for proc in (first, again):
        assert "ExperimentalWarning" not in proc.stderr, proc.stderr

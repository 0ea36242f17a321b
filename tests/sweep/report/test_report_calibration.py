"""The report's statements hold their stated rate on a real study's own trials.

The methods are calibrated on simulated data in tests/sweep/statistics/; these tests run
the report's own path (a real study, its trials table, `analyse`) and check what the
report would print: on shuffled objectives, where no setting can matter, the rate of
at least one stated effect stays within the family-wise 5% (plus its Monte Carlo error);
on a study too small or too short to support anything, nothing is stated.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sweep.report import analyse, prepare, write_report
from sweep.statistics.effects import ALPHA
from sweep.study.results import load

pytestmark = pytest.mark.slow

SHUFFLES = 60  # the false-effect rate's Monte Carlo sd at 5%: 2.8 points


@pytest.fixture(scope="module")
def explored(sweep_cli, data_args, tmp_path_factory) -> Path:
    """24 trials of a real exploration study (quasi-random, none pruned), 1 epoch each."""
    studies = tmp_path_factory.mktemp("explored")
    proc = sweep_cli("run", "--explore", "--trials", 24, "--jobs", 2, "--epochs", 1,
                     *data_args, "--studies-dir", studies, "--study", "ex", "--no-report",
                     "--no-plots", "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return studies


def test_shuffled_objectives_give_false_effects_at_most_at_the_stated_rate(explored):
    data = prepare(load("ex", explored))
    done = data.trials["state"] == "COMPLETE"
    assert done.sum() >= 20  # above the test's minimum: effects are tested, not refused
    rng = np.random.default_rng(2026)
    false = 0
    for k in range(SHUFFLES):
        trials = data.trials.copy()
        values = trials.loc[done, "value"].to_numpy()
        trials.loc[done, "value"] = rng.permutation(values)
        a = analyse(replace(data, trials=trials), seed=k)
        assert a.tested and a.exploration
        false += bool(a.effects.stated)
    rate = false / SHUFFLES
    bound = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / SHUFFLES)
    assert rate <= bound, (rate, bound)


def test_the_report_of_a_small_short_study_states_nothing_it_cannot_support(
        sweep_cli, data_args, tmp_path):
    """The referee's case: 16 trials of 3 epochs."""
    proc = sweep_cli("run", "--trials", 16, "--jobs", 2, "--epochs", 3, *data_args,
                     "--studies-dir", tmp_path, "--study", "short", "--no-report", "--quiet",
                     "--no-plots")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    index = write_report(load("short", tmp_path))
    md = (index.parent / "report.md").read_text()
    matter = md[md.index("## Which settings matter"):md.index("## Which values are best")]
    best = md[md.index("## Which values are best"):md.index("## Best trials")]
    assert not re.search(r"\d+\.\d+ accuracy points between", best)  # no effect sentence
    table = [line for line in matter.splitlines() if line.startswith("| ")][2:]
    assert table and not any("%" in line.split("|")[3] for line in table)  # no share
    assert "is not stated" in md or "still improving" in md
    assert "trend" not in best.lower() or "no trend is drawn" in md

"""A new user's 80-column pane: ``run``, ``trials``, ``best``, ``studies`` and ``confirm``
on a real pseudo-terminal 80 columns wide; every line they leave on the screen fits
(nothing wraps), and the same commands into a pipe print the whole table."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.sweep.faults.harness import sweep, sweep_env
from tests.terminal import Screen, Terminal

pytestmark = pytest.mark.slow

COLUMNS = 80
STUDY = "pane"


def _on_terminal(*args: object, cwd: Path, timeout: float = 300) -> Screen:
    term = Terminal([sys.executable, "-m", "sweep", *map(str, args)], columns=COLUMNS, rows=30,
                    env=sweep_env() | {"TERM": "xterm"}, cwd=cwd)
    try:
        code = term.wait(timeout)
    finally:
        term.close()
    assert code == 0, term.output[-3000:]
    assert "Traceback" not in term.output
    return Screen(term.output, COLUMNS, rows=30)


def _fits(screen: Screen, allowed: tuple[str, ...] = ()) -> None:
    """No row of the screen wrapped or is wider than the pane (one column spare), but
    rows starting with ``allowed``."""
    rows = screen.rows
    wide = [(i, rows[i]) for i in range(len(rows))
            if (i in screen.wrapped or len(rows[i]) > COLUMNS - 1)
            and not rows[i].startswith(allowed)
            and not (i > 0 and i - 1 in screen.wrapped and rows[i - 1].startswith(allowed))]
    assert not wide, "\n".join(rows)


@pytest.fixture(scope="module")
def pane(tmp_path_factory, data_args, tiny_space) -> tuple[Path, Screen]:
    """A study run on the 80-column terminal (its trial rows and bar on the screen)."""
    work = tmp_path_factory.mktemp("pane")
    screen = _on_terminal("run", "--trials", 6, "--jobs", 2, "--epochs", 3, *data_args,
                          "--space", tiny_space, "--studies-dir", work / "studies",
                          "--study", STUDY, "--no-report", "--no-plots", cwd=work)
    return work, screen


def test_the_run_trial_rows_fit(pane):
    work, screen = pane
    # the summary's "best: trial N: ..." line is printed by sweep/execution/session.py,
    # which this change leaves alone: it may wrap
    _fits(screen, allowed=("best: ",))
    rows = screen.rows
    header = next(i for i, row in enumerate(rows) if row.split()[:3] == ["number", "state",
                                                                          "value"])
    trials = [row for row in rows[header + 1:] if re.match(r"^\s*\d+\s+(complete|pruned|fail)\b",
                                                            row)]
    assert len(trials) == 6, "\n".join(rows)


@pytest.mark.parametrize("args", [
    ["trials"], ["trials", "--sort", "value"], ["best", "--top", 3], ["studies"]],
    ids=["trials", "trials-sorted", "best", "studies"])
def test_reading_commands_fit_and_a_pipe_gets_the_whole_table(args, pane):
    work, _ = pane
    where = ["--studies-dir", work / "studies"] + ([] if args[0] == "studies" else
                                                   ["--study", STUDY])
    screen = _on_terminal(*args, *where, cwd=work)
    _fits(screen)
    piped = sweep(*args, *where, cwd=work)
    assert piped.returncode == 0, piped.stderr
    whole = piped.stdout.splitlines()
    if args[0] != "studies":  # a study's tables are wider than 80 columns when whole
        assert max(len(line) for line in whole) > COLUMNS
        assert "left out for the terminal's width" not in piped.stdout
        shown = screen.rows[0].split()
        assert shown == [n for n in whole[0].split() if n in shown]  # the same, fewer
    for fmt in ("json", "csv"):
        machine = _on_terminal(*args, *where, "-f", fmt, cwd=work)
        assert "left out" not in "\n".join(machine.rows)


def test_confirm_fits(pane):
    """confirm on the tiny study: the best configuration and the classic one raced over
    10 seeds, then the fresh seeds (seconds of training each on the tiny data)."""
    work, _ = pane
    screen = _on_terminal("confirm", "--studies-dir", work / "studies", "--study", STUDY,
                          "--max-candidates", 2, "--jobs", 2, cwd=work, timeout=600)
    _fits(screen)
    text = "\n".join(screen.rows)
    assert "value_mean" in text and "recommended: trial" in text
    assert not re.search(r"[+-]\d+\.\d+%", text), text  # differences are points
    screen = _on_terminal("best", "--studies-dir", work / "studies", "--study", STUDY, cwd=work)
    _fits(screen)  # now led by the confirmed answer
    assert "\n".join(screen.rows).startswith("recommended by sweep confirm: trial")


def test_compare_fits(pane, data_args, tiny_space):
    """``compare -f table`` of the pane's study and a second one, random-sampled."""
    work, _ = pane
    proc = sweep("run", "--trials", 3, "--jobs", 2, "--epochs", 2, *data_args, "--space",
                 tiny_space, "--sampler", "random", "--studies-dir", work / "studies",
                 "--study", "second", "--no-report", "--no-plots", "--quiet", cwd=work)
    assert proc.returncode == 0, proc.stderr
    screen = _on_terminal("compare", STUDY, "second", "--studies-dir", work / "studies",
                          "-f", "table", cwd=work)
    _fits(screen)
    text = "\n".join(screen.rows)
    assert STUDY in text and "second" in text

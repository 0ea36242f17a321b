"""``sweep trials --watch`` (sweep/commands/watch.py) while a real study runs: redrawn in
place on a real pseudo-terminal, plain frames off a terminal, Ctrl-C exits 0; and its
bad options, in process. (A running trial's columns in the plain table, in process:
test_trials.py.)"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading

import pytest

from tests.sweep.faults.harness import Running, check_study, stored_trials, sweep_env, wait_for
from tests.terminal import Screen, Terminal

EPOCHS = 4
# number, state, last_epoch/of, last_value, duration_seconds
RUNNING_ROW = re.compile(r"^\s*(\d+)\s+running\s+(\d+)/(\d+)\s+(\d+\.\d\d)%\s+(\d+\.\d)\b")


def _slow_study(tmp_path, run_args, trials: int = 4, sleep: float = 1) -> Running:
    """Trials of four epochs, each epoch held ``sleep`` seconds: trials run for seconds."""
    return Running(*run_args(tmp_path / "studies", "live", trials=trials, jobs=2,
                             epochs=EPOCHS),
                   cwd=tmp_path, log=tmp_path / "run", faults={"SWEEP_FAULT_SLEEP": sleep})


def _reported(tmp_path) -> bool:
    """Whether a trial of the study has reported an epoch yet."""
    root = tmp_path / "studies" / "live"
    if not (root / "journal.log").is_file():
        return False
    try:
        trials = stored_trials(root)
    except KeyError:  # the journal is there, the study not yet
        return False
    return any(t.intermediate_values for t in trials)


def _watch_argv(tmp_path, every: float) -> list[str]:
    return [sys.executable, "-m", "sweep", "trials", "--watch", str(every), "--study", "live",
            "--studies-dir", str(tmp_path / "studies")]


def test_bad_watch_options_are_usage_errors(made_study, cli, check_error, tmp_path):
    for args, needle in ((["--watch", "0"], "--watch 0"), (["--watch", "nan"], "--watch nan"),
                         (["--watch", "1", "-f", "json"], "--watch"),
                         (["--watch", "1", "--out", "x.txt"], "--watch")):
        proc = cli("trials", "--studies-dir", made_study.parent, "--study", "done", *args,
                   cwd=tmp_path)
        check_error(proc, 2, needle)
    assert not (tmp_path / "x.txt").exists()


@pytest.mark.slow
def test_watch_follows_a_running_study_on_a_terminal_and_off_it(tmp_path, run_args):
    """One study of slow trials, watched twice: off a terminal, plain frames every 0.3 s
    until Ctrl-C (exit 0); then on an 80-column pseudo-terminal, redrawn in place with
    each running trial's epoch, last value and time, no row wrapped, the cursor given
    back at Ctrl-C."""
    study = _slow_study(tmp_path, run_args, trials=6)
    term = None
    try:
        wait_for(lambda: _reported(tmp_path), 90, "a trial to report an epoch")
        proc = subprocess.Popen(_watch_argv(tmp_path, 0.3), cwd=tmp_path,
                                env=sweep_env() | {"TERM": "xterm"}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
        reader.start()
        # Ctrl-C once two frames are out (not while Python is still importing)
        wait_for(lambda: sum(line.startswith("study 'live': ") for line in lines) >= 2, 60,
                 "two frames")
        proc.send_signal(signal.SIGINT)
        proc.wait(15)
        reader.join(5)
        err = proc.stderr.read()
        out = "".join(lines)

        term = Terminal(_watch_argv(tmp_path, 0.3), columns=80, rows=24,
                        env=sweep_env() | {"TERM": "xterm"}, cwd=tmp_path)
        seen: dict[tuple[int, int], tuple[str, int]] = {}

        def running_rows(output: str) -> bool:
            for row in Screen(output, 80).rows:
                m = RUNNING_ROW.match(row)
                if m and int(m.group(2)) >= 1:
                    assert int(m.group(3)) == EPOCHS, row
                    seen[(int(m.group(1)), int(m.group(2)))] = (m.group(4), float(m.group(5)))
            return len(seen) >= 2

        term.wait_for(running_rows, 90, "two running trials shown with an epoch reached")
        term.ctrl_c()
        assert term.wait(15) == 0, term.output[-2000:]
        assert study.wait(120) == 0, study.output()
    finally:
        if term is not None:
            term.close()
        study.close()

    assert proc.returncode == 0, err
    assert "\x1b" not in out and "Traceback" not in err
    assert out.count("study 'live': ") >= 2, out  # a frame every 0.3 s, each reading it all
    assert re.search(r"^\s*\d+\s+(running|complete)\s+[1-9]\d*/4\s+\d+\.\d\d%", out, re.M), out

    screen = Screen(term.output, 80)
    assert not screen.wrapped, [screen.rows[r] for r in sorted(screen.wrapped)]
    assert max(len(r) for r in screen.rows) <= 79
    assert "Traceback" not in term.output
    assert term.output.rstrip("\r\n").endswith("\x1b[?25h")  # the cursor is given back
    # every running row agrees with what its trial reported at that epoch
    trials = {t.number: t for t in check_study(tmp_path / "studies" / "live", finished=6)}
    for (number, epoch), (shown, elapsed) in seen.items():
        reported = trials[number].intermediate_values[epoch]
        assert f"{100 * reported:.2f}" == shown, (number, epoch, shown, reported)
        assert elapsed >= epoch  # each epoch waited a second before it reported

"""``sweep trials --watch`` on a real pseudo-terminal while a real study runs, and the
trials table's columns for running trials."""

from __future__ import annotations

import csv
import io
import re
import signal
import subprocess
import sys
import threading

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


def test_watch_redraws_in_place_at_80_columns_while_a_study_runs(tmp_path, run_args):
    study = _slow_study(tmp_path, run_args)
    term = None
    try:
        wait_for(lambda: (tmp_path / "studies" / "live" / "journal.log").is_file(), 60,
                 "the study to be created")
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

    screen = Screen(term.output, 80)
    assert not screen.wrapped, [screen.rows[r] for r in sorted(screen.wrapped)]
    assert max(len(r) for r in screen.rows) <= 79
    assert "Traceback" not in term.output
    assert term.output.rstrip("\r\n").endswith("\x1b[?25h")  # the cursor is given back
    # every running row agrees with what its trial reported at that epoch
    trials = {t.number: t for t in check_study(tmp_path / "studies" / "live", finished=4)}
    for (number, epoch), (shown, elapsed) in seen.items():
        reported = trials[number].intermediate_values[epoch]
        assert f"{100 * reported:.2f}" == shown, (number, epoch, shown, reported)
        assert elapsed >= epoch  # each epoch waited a second before it reported


def test_watch_off_a_terminal_prints_plain_frames_and_ctrl_c_exits_0(tmp_path, run_args):
    study = _slow_study(tmp_path, run_args)
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
        assert study.wait(120) == 0, study.output()
    finally:
        study.close()
    assert proc.returncode == 0, err
    assert "\x1b" not in out and "Traceback" not in err
    frames = out.count("study 'live': ")
    assert frames >= 2, out  # a frame every 0.3 s, each reading the whole journal
    assert re.search(r"^\s*\d+\s+(running|complete)\s+[1-9]\d*/4\s+\d+\.\d\d%", out, re.M), out


def test_trials_and_best_show_running_trials_epoch_value_and_time(tmp_path, run_args):
    """The plain table (no --watch): a running trial's last epoch, last value and the
    time it has run so far, counts as whole numbers; ``best`` names running trials with
    their epoch, unranked. Each command is repeated until it has caught a trial running
    past its first epoch (a loaded machine may start a command late)."""
    study = _slow_study(tmp_path, run_args, trials=6, sleep=2)
    where = ["--study", "live", "--studies-dir", str(tmp_path / "studies")]

    def sweep_now(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sweep", *args, *where], cwd=tmp_path,
                              env=sweep_env(), capture_output=True, text=True, timeout=60)

    def table_with_running() -> list[dict] | None:
        proc = sweep_now("trials", "-f", "csv")
        assert proc.returncode in (0, 1), proc.stderr  # 1: no trial yet
        rows = list(csv.DictReader(io.StringIO(proc.stdout)))
        return rows if any(r["state"] == "RUNNING" and r["last_epoch"] for r in rows) else None

    def best_with_running() -> tuple[subprocess.CompletedProcess, list] | None:
        proc = sweep_now("best")
        shown = re.findall(r"trial (\d+) at epoch (\d+)/4 \(last value (\d+\.\d\d)%",
                           proc.stderr)  # no completed trial yet: in the error
        shown += re.findall(r"^\s*(\d+)\s+(\d+)/4\s+(\d+\.\d\d)%", proc.stdout, re.M)
        return (proc, shown) if shown else None

    try:
        rows = wait_for(table_with_running, 90, "trials to show a running trial's epoch")
        best, shown = wait_for(best_with_running, 90, "best to show a running trial's epoch")
        assert study.wait(120) == 0, study.output()
    finally:
        study.close()
    for r in rows:
        if r["state"] == "RUNNING" and r["last_epoch"]:
            assert re.fullmatch(r"[1-9]\d*", r["last_epoch"]), r  # an integer, not 1.0
            assert 0 <= float(r["last_value"]) <= 1
            assert float(r["duration_seconds"]) >= 2 * int(r["last_epoch"])
            assert r["parameter_count"] == ""
        if r["state"] == "COMPLETE":
            assert re.fullmatch(r"\d+", r["parameter_count"]), r

    if best.returncode == 0:
        assert "running, not ranked until complete:" in best.stdout
    else:
        assert best.returncode == 1 and "no completed trial yet" in best.stderr, best.stderr
    trials = {t.number: t for t in stored_trials(tmp_path / "studies" / "live")}
    for number, epoch, value in shown:
        assert f"{100 * trials[int(number)].intermediate_values[int(epoch)]:.2f}" == value

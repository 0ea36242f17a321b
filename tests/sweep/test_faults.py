"""Faults a long study meets, done for real to real ``sweep run`` processes.

Workers are SIGKILLed, the run gets Ctrl-C (SIGINT to its process group) or SIGTERM,
trials diverge or raise, two runs share a study, the disk fills or turns read-only.
Faults inside trials come from ``faults/sitecustomize.py``, which every process of
the run loads from its PYTHONPATH (see `faults.harness.sweep_env`); slow trials
sleep at the start of each epoch so that they are in flight without using the CPU.
After each fault the study on disk must be whole (`faults.harness.check_study`) and
a second run of the same command must reach the requested number of trials.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from faults.harness import (
    Running,
    all_json_parses,
    check_retries,
    check_study,
    open_journal,
    read_json,
    running_trials,
    states,
    stored_trials,
    sweep,
    trial_docs,
    wait_for,
    worker_pids,
)

SLOW = {"SWEEP_FAULT_SLEEP": 0.2}  # a trial of 8 epochs is in flight for ~1.6 s


def in_flight(root: Path, n: int):
    """A wait_for predicate: the trial.json documents once ``n`` trials are in flight."""
    def check():
        found = running_trials(root)
        return found if len(found) >= n else None

    return check


# 1. ------------------------------------------------------------------------------------

def test_sigkilled_worker_fails_only_its_trial(tmp_path, run_args):
    studies, root = tmp_path / "studies", tmp_path / "studies" / "kill"
    cmd = run_args(studies, "kill", trials=6, epochs=8)
    run = Running(*cmd, cwd=tmp_path, log=tmp_path / "run", faults=SLOW)
    try:
        victim = wait_for(in_flight(root, 1), 90, "a trial in flight")[0]
        assert victim["pid"] in worker_pids(run.pid), "the trial's pid is not a loky worker"
        time.sleep(0.4)  # well inside its training
        os.kill(victim["pid"], signal.SIGKILL)
        rc = run.wait(120)
    finally:
        run.close()
    assert rc == 0, run.output()
    trials = check_study(root, finished=6)
    killed = trial_docs(root)[victim["number"]]
    assert killed["state"] == "FAIL", killed
    assert "killed" in killed["reason"] and "SIGKILL" in killed["reason"], killed
    assert f"trial {victim['number']} failed: worker process was killed" in run.stderr, \
        run.output()
    # the lost trial is retried in the same run, with its settings and seed
    retry = check_retries(trials)[victim["number"]]
    assert f"retried as trial {retry.number}" in run.stderr, run.output()
    assert killed["retried_as"] == retry.number and retry.state.name == "COMPLETE"
    assert states(trials) == {"COMPLETE": 6, "FAIL": 1}, states(trials)
    pids = {t.user_attrs["pid"] for t in trials}
    assert len(pids) >= 3, f"expected the other worker and a replacement to run trials: {pids}"
    again = sweep(*cmd, cwd=tmp_path, faults=SLOW)
    assert again.returncode == 0, again.stderr
    check_study(root, finished=6)


def test_worker_killed_while_starting(tmp_path, run_args):
    # A replacement worker is killed as soon as it appears, before it has run a trial:
    # the slot must start another one, not stop the whole run.
    studies, root = tmp_path / "studies", tmp_path / "studies" / "startup"
    cmd = run_args(studies, "startup", trials=4, epochs=8)
    run = Running(*cmd, cwd=tmp_path, log=tmp_path / "run", faults=SLOW)
    try:
        first = wait_for(in_flight(root, 2), 90, "two trials in flight")
        known = worker_pids(run.pid)
        os.kill(first[0]["pid"], signal.SIGKILL)
        fresh = wait_for(lambda: worker_pids(run.pid) - known, 30, "a replacement worker",
                         interval=0.01)
        for pid in fresh:
            os.kill(pid, signal.SIGKILL)
        rc = run.wait(120)
    finally:
        run.close()
    assert rc == 0, (
        "regressed: sweep/runner.py _Slot.run: _start_worker() "
        "(executor.submit(os.getpid).result())"
        " is outside the try that catches BrokenProcessPool/TerminatedWorkerError, so a "
        "worker that dies while starting ends in the outer 'except BaseException' -> "
        "'worker error' -> the whole run stops (exit 1). Fix: start the worker inside that "
        "try (a death there: shut the executor down, set it to None, retry, with a limit).\n"
        + run.output())
    check_study(root, finished=4)


def test_worker_killed_between_ask_and_recording_its_pid(tmp_path, run_args):
    # Study.ask() has created the trial (RUNNING) but the worker dies before it records
    # its pid: the trial must still end FAIL, and the run must reach its total.
    studies, root = tmp_path / "studies", tmp_path / "studies" / "ask"
    cmd = run_args(studies, "ask", trials=3, jobs=1)
    run = Running(*cmd, cwd=tmp_path, log=tmp_path / "run", faults={"SWEEP_FAULT_ASK_SLEEP": 2})

    def pidless() -> list[int]:
        if not (root / "journal.log").exists():
            return []
        try:
            return [t.number for t in stored_trials(root)
                    if t.state.name == "RUNNING" and "pid" not in t.user_attrs]
        except (KeyError, ValueError):  # the study is not created yet
            return []

    try:
        wait_for(pidless, 60, "a trial asked for, its pid not yet recorded")
        for pid in worker_pids(run.pid):
            os.kill(pid, signal.SIGKILL)
        rc = run.wait(120)
    finally:
        run.close()
    assert rc == 0, run.output()
    left = [t.number for t in stored_trials(root) if t.state.name == "RUNNING"]
    assert not left, (
        f"regressed: sweep/study.py fail_stale_trials / "
        f"sweep/trial.py run_trial: trial {left} stays "
        "RUNNING (for 10 minutes, and the study stops short of --trials): its worker died "
        "after study.ask() and before set_user_attr('pid'), and a RUNNING trial without a "
        "pid is not stale until 10 minutes old. Both happen under study_lock, so: take "
        "study_lock in fail_stale_trials and treat a pid-less RUNNING trial as stale there "
        "(its creator died holding the lock).\n" + run.output())
    check_study(root, finished=3)


def test_worker_killed_between_tell_and_trial_json(tmp_path, run_args):
    # The storage has the trial COMPLETE, but the worker dies before rewriting trial.json:
    # the trial's directory must not claim forever that it is RUNNING.
    studies, root = tmp_path / "studies", tmp_path / "studies" / "tell"
    cmd = run_args(studies, "tell", trials=2, jobs=1)
    run = Running(*cmd, cwd=tmp_path, log=tmp_path / "run",
                  faults={"SWEEP_FAULT_TELL_SLEEP": 2})

    def told() -> list[int]:
        docs = trial_docs(root)
        if not docs:
            return []
        return [t.number for t in stored_trials(root) if t.state.name == "COMPLETE"
                and docs.get(t.number, {}).get("state") == "RUNNING"]

    try:
        victims = wait_for(told, 60, "a trial told COMPLETE, its trial.json not yet rewritten")
        for pid in worker_pids(run.pid):
            os.kill(pid, signal.SIGKILL)
        rc = run.wait(120)
    finally:
        run.close()
    assert rc == 0, run.output()
    again = sweep(*cmd, cwd=tmp_path)  # a later run may repair it, too
    assert again.returncode == 0, again.stderr
    doc = trial_docs(root)[victims[0]]
    assert doc["state"] == "COMPLETE", (
        f"regressed: sweep/trial.py run_trial: trial {victims[0]} is "
        f"COMPLETE in the storage but its "
        "trial.json says RUNNING for good: the worker died between study.tell() and "
        "record_end(). Fix: write the final trial.json before tell (the state is known), or "
        "let the runner's 'died' handler / fail_stale_trials rewrite trial.json of the dead "
        "worker's trials that the storage has finished.")
    check_study(root, finished=2)


def test_a_run_with_nothing_left_to_run_still_mends_trial_json(tmp_path, run_args):
    # The whole run is SIGKILLed after its last trial was told COMPLETE and before that
    # trial's trial.json was rewritten. The next run of the same command finds the study
    # finished and starts no runner, the only other place that mends trial.json; it must
    # mend it all the same (found as a flaky disk-full test, whose re-run was such a run).
    studies, root = tmp_path / "studies", tmp_path / "studies" / "last"
    cmd = run_args(studies, "last", trials=2, jobs=1)
    run = Running(*cmd, cwd=tmp_path, log=tmp_path / "run",
                  faults={"SWEEP_FAULT_TELL_SLEEP": 2})

    def last_told() -> bool:
        docs = trial_docs(root)
        if docs.get(1, {}).get("state") != "RUNNING":
            return False
        return any(t.number == 1 and t.state.name == "COMPLETE" for t in stored_trials(root))

    try:
        wait_for(last_told, 90, "the last trial told COMPLETE, its trial.json not rewritten")
        run.signal_group(signal.SIGKILL)
        run.wait(30)
    finally:
        run.close()
    assert trial_docs(root)[1]["state"] == "RUNNING"
    again = sweep(*cmd, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "nothing to run" in again.stdout, again.stdout
    assert trial_docs(root)[1]["state"] == "COMPLETE"
    check_study(root, finished=2)


def test_a_sigint_only_its_worker_took_still_stops_the_run_as_interrupted(tmp_path, run_args):
    # A Ctrl-C goes to the whole group, but the run's main thread may act on its own
    # SIGINT only after the worker's interrupted trial has closed the last slot; then
    # the run ended with exit 0 and its trials missing. Sending SIGINT to the worker
    # alone is that race made certain: the run must still stop as interrupted.
    studies, root = tmp_path / "studies", tmp_path / "studies" / "outside"
    cmd = run_args(studies, "outside", trials=3, jobs=1, epochs=8)
    run = Running(*cmd, cwd=tmp_path, log=tmp_path / "run", faults=SLOW)
    try:
        wait_for(in_flight(root, 1), 90, "a trial in flight")
        for pid in worker_pids(run.pid):
            os.kill(pid, signal.SIGINT)
        rc = run.wait(60)
    finally:
        run.close()
    assert rc == 130, run.output()
    assert "interrupted" in run.stderr, run.output()
    check_study(root)


# 2 and 3. ------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["SIGINT to the group", "SIGTERM to the run"])
def test_interrupt_stops_fast_then_resumes(tmp_path, run_args, how):
    studies, root = tmp_path / "studies", tmp_path / "studies" / "stop"
    cmd = run_args(studies, "stop", trials=5, epochs=8)
    run = Running(*cmd, cwd=tmp_path, log=tmp_path / "run", faults=SLOW)
    try:
        flying = wait_for(in_flight(root, 2), 90, "two trials in flight")
        started = time.monotonic()
        if how.startswith("SIGINT"):
            run.signal_group(signal.SIGINT)
        else:
            run.signal(signal.SIGTERM)
        rc = run.wait(30)
        took = time.monotonic() - started
    finally:
        run.close()
    assert rc == 130, run.output()
    assert took < 8, f"took {took:.1f}s to stop"
    assert "interrupted" in run.stderr, run.output()
    check_study(root)
    docs = trial_docs(root)
    for d in flying:
        assert docs[d["number"]]["state"] == "FAIL", docs[d["number"]]
        assert docs[d["number"]]["reason"] == "interrupted", docs[d["number"]]
    assert not worker_pids(run.pid)
    again = sweep(*cmd, cwd=tmp_path, faults=SLOW)
    assert again.returncode == 0, again.stdout + again.stderr
    trials = check_study(root, finished=5)
    # every interrupted trial was retried: all 5 trials of the study trained
    retries = check_retries(trials)
    assert {d["number"] for d in flying} <= set(retries), (flying, retries)
    assert states(trials) == {"COMPLETE": 5, "FAIL": len(retries)}, \
        states(trials)


def test_second_sigint_stops_at_once_and_storage_stays_consistent(tmp_path, run_args):
    # The workers are "stuck" (signals blocked for 4 s at each epoch, as in a long C
    # call), so the first Ctrl-C cannot stop them quickly; the second must, by killing them.
    studies, root = tmp_path / "studies", tmp_path / "studies" / "twice"
    cmd = run_args(studies, "twice", trials=5, epochs=3)
    run = Running(*cmd, cwd=tmp_path, log=tmp_path / "run", faults={"SWEEP_FAULT_STUCK": 4})
    try:
        flying = wait_for(in_flight(root, 2), 90, "two trials in flight")
        time.sleep(1.0)  # both inside their first "stuck" epoch
        run.signal_group(signal.SIGINT)
        time.sleep(0.5)
        assert run.proc.poll() is None, "stopped before the second Ctrl-C: the test proves nothing"
        started = time.monotonic()
        run.signal_group(signal.SIGINT)
        rc = run.wait(30)
        took = time.monotonic() - started
    finally:
        run.close()
    # 130, or death by the signal itself (what a shell also shows as 130)
    assert rc in (130, -signal.SIGINT), run.output()
    assert took < 3, f"took {took:.1f}s to stop after the second Ctrl-C"
    assert not worker_pids(run.pid)
    assert "Traceback" not in run.stderr, run.output()
    all_json_parses(root)
    trials = [t for t in stored_trials(root) if t.state.name != "WAITING"]  # loadable
    left = [t.number for t in trials if t.state.name == "RUNNING"]
    assert len(trials) == len(flying), "a trial was started after the first Ctrl-C"
    # resumable: the next run cleans up whatever was left and reaches the total
    again = sweep(*cmd, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    check_study(root, finished=5)
    assert not left, (
        f"regressed: sweep/runner.py run_workers (interrupt path): "
        f"trials {left} left RUNNING after "
        "the second Ctrl-C. slot.kill() SIGKILLs the workers, then fail_stale_trials(pids=...) "
        "runs at once, while the killed pids are still alive (pid_alive true), so it skips "
        "them. Fix: wait (up to ~2 s) for the killed pids to exit before fail_stale_trials, "
        "or fail this run's RUNNING trials of the workers it killed without the liveness test.")
    docs = trial_docs(root)
    for d in flying:
        assert docs[d["number"]]["state"] == "FAIL", docs[d["number"]]
        assert docs[d["number"]]["reason"] == "interrupted", docs[d["number"]]


# 4 and 6 (one study: trial 1 diverges at epoch 2, step 3; trial 2 raises). ---------------

@pytest.fixture(scope="module")
def faulty_study(tmp_path_factory, run_args):
    work = tmp_path_factory.mktemp("faulty")
    cmd = run_args(work / "studies", "faulty", trials=5, epochs=3)
    proc = sweep(*cmd, cwd=work,
                 faults={"SWEEP_FAULT_NAN": "1:2:3", "SWEEP_FAULT_RAISE": "2"})
    return work, work / "studies" / "faulty", proc


def test_forced_nan_prunes_trial_with_epoch_and_step(faulty_study):
    work, root, proc = faulty_study
    assert proc.returncode == 0, proc.stdout + proc.stderr
    trials = check_study(root, finished=5)
    assert states(trials) == {"COMPLETE": 3, "PRUNED": 1, "FAIL": 1}, states(trials)
    doc = trial_docs(root)[1]
    assert doc["state"] == "PRUNED", doc
    assert doc["reason"].startswith("diverged at epoch 2, step 3"), doc
    metrics = read_json(root / "trials" / "0001" / "metrics.json")
    assert metrics["status"] == "diverged" and metrics["diverged"] == {"epoch": 2, "step": 3}
    table = sweep("trials", "--studies-dir", work / "studies", "--study", "faulty", cwd=work)
    assert table.returncode == 0, table.stderr
    assert "diverged at epoch 2, step 3" in table.stdout, table.stdout


def test_exception_in_trial_fails_it_with_traceback(faulty_study):
    work, root, proc = faulty_study
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = trial_docs(root)[2]
    assert doc["state"] == "FAIL", doc
    assert doc["reason"] == "InjectedFault: injected fault in trial 2, epoch 1", doc
    assert doc["traceback"].startswith("Traceback (most recent call last)"), doc
    assert "InjectedFault: injected fault in trial 2" in doc["traceback"]
    metrics = read_json(root / "trials" / "0002" / "metrics.json")
    assert metrics["status"] == "failed", metrics
    assert "InjectedFault" in metrics["traceback"], metrics
    later = [t for t in stored_trials(root) if t.number > 2]
    assert later and all(t.state.name == "COMPLETE" for t in later), "the study did not go on"


def test_diverging_space_prunes_and_goes_on(tmp_path, run_args):
    space = tmp_path / "diverge.toml"
    space.write_text("[params.lr]\nlow = 20000.0\nhigh = 50000.0\nlog = true\n"
                     "[params.hidden_size]\nlow = 16\nhigh = 32\n"
                     "[fixed]\nbatch_norm = false\ndropout = 0.0\n")
    cmd = run_args(tmp_path / "studies", "div", trials=3, epochs=3, space_file=space)
    proc = sweep(*cmd, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    trials = check_study(tmp_path / "studies" / "div", finished=3)
    diverged = [d for d in trial_docs(tmp_path / "studies" / "div").values()
                if d["reason"].startswith("diverged at epoch")]
    assert diverged, [t.user_attrs for t in trials]
    assert all(d["state"] == "PRUNED" for d in diverged), diverged
    table = sweep("trials", "--studies-dir", tmp_path / "studies", "--study", "div",
                  cwd=tmp_path)
    assert table.stdout.count("diverged at epoch") == len(diverged), table.stdout


def test_every_trial_failing_stops_the_run_early(tmp_path, run_args):
    cmd = run_args(tmp_path / "studies", "allfail", trials=40)
    proc = sweep(*cmd, cwd=tmp_path, faults={"SWEEP_FAULT_RAISE": "all"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "stopped: 5 trials failed in a row" in proc.stderr, proc.stderr
    assert "InjectedFault" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    trials = check_study(tmp_path / "studies" / "allfail")
    assert 5 <= len(trials) <= 8, f"{len(trials)} trials burnt"
    assert states(trials) == {"FAIL": len(trials)}


# 5. ------------------------------------------------------------------------------------

def test_two_runs_share_one_study(tmp_path, run_args):
    studies, root = tmp_path / "studies", tmp_path / "studies" / "shared"
    cmd = run_args(studies, "shared", trials=8, jobs=1, epochs=4)
    runs = [Running(*cmd, cwd=tmp_path, log=tmp_path / f"run{i}", faults=SLOW)
            for i in range(2)]
    workers: dict[int, set[int]] = {r.pid: set() for r in runs}
    done = threading.Event()

    def watch() -> None:  # which worker belongs to which run
        while not done.is_set():
            for r in runs:
                workers[r.pid] |= worker_pids(r.pid)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        codes = [r.wait(120) for r in runs]
    finally:
        done.set()
        watcher.join()
        for r in runs:
            r.close()
    for r, rc in zip(runs, codes, strict=True):
        assert rc == 0, r.output()
        assert "lock" not in r.stderr.lower() and "Traceback" not in r.stderr, r.output()
    trials = check_study(root, finished=8)
    assert states(trials) == {"COMPLETE": 8}, states(trials)
    owner = {}
    for t in trials:
        pid = t.user_attrs["pid"]
        owners = [parent for parent, pids in workers.items() if pid in pids]
        assert len(owners) == 1, f"trial {t.number}: worker {pid} not seen under one run"
        owner[t.number] = owners[0]
    assert set(owner.values()) == set(workers), f"only one run contributed: {owner}"
    assert len({t.user_attrs["experiment_dir"] for t in trials}) == 8


def test_conflicting_first_run_never_deletes_the_other_study(tmp_path, run_args):
    # The loser starts first, finds no study folder, and is slow to check its data (a
    # first download); meanwhile the winner creates the study with other settings and
    # runs trials. The loser must be refused without touching the winner's study.
    studies, root = tmp_path / "studies", tmp_path / "studies" / "race"
    loser = Running(*run_args(studies, "race", trials=6, epochs=8), "--seed", 2, cwd=tmp_path,
                    log=tmp_path / "loser", faults={"SWEEP_FAULT_LOAD_SLEEP": 5})
    try:
        wait_for(root.exists, 60, "the loser to make the study folder")
        winner = Running(*run_args(studies, "race", trials=6, epochs=8), "--seed", 1,
                         cwd=tmp_path, log=tmp_path / "winner", faults=SLOW)
        try:
            wait_for(lambda: (root / "study.json").exists(), 60, "the winner's study")
            rc_loser = loser.wait(60)
            rc_winner = winner.wait(120)
        finally:
            winner.close()
    finally:
        loser.close()
    assert rc_loser == 2 and "exists with other settings" in loser.stderr, loser.output()
    assert rc_winner == 0 and (root / "journal.log").exists(), (
        "regressed: sweep/commands.py cmd_run: a rejected run that found no study folder when it "
        "started removes the folder on error (shutil.rmtree(created)) even though another "
        "run has since created the study in it and is running trials: the other study is "
        "deleted. Fix: remove only under study_lock, and only if the storage holds no study "
        "of that name (or check the settings before creating anything).\n"
        + winner.output())
    check_study(root, finished=6)


# 7. ------------------------------------------------------------------------------------

def _mount(*args: str) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here ({proc.stderr.strip()}): this test needs root and "
                    "mount(8) to make a real full or read-only file system")


@pytest.fixture
def mounts():
    done: list[Path] = []

    def mount(*args: str) -> None:
        _mount(*args)
        done.append(Path(args[-1]))

    yield mount
    for target in reversed(done):
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def _error_problems(proc: subprocess.CompletedProcess, place: Path, why: str) -> list[str]:
    """What is wrong with how a run reported a file-system error (empty: nothing)."""
    if proc.returncode == 0:
        return [f"exit 0 despite {why}:\n{proc.stdout}{proc.stderr}"]
    if "Traceback" in proc.stderr:
        return [f"regressed: sweep/cli.py main(): an OSError ({why}) escapes as a traceback; catch "
                "OSError there and print one line 'sweep CMD: error: <strerror>: <path>' "
                f"(exit 1):\n{proc.stderr[-1500:]}"]
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    if not errors or why not in errors[-1] or str(place) not in errors[-1]:
        return [f"the error must say {why!r} and name the path (under {place}); write "
                "errors from mlp/atomic.py atomic_open (write/flush/fsync on the temporary "
                "file) carry no file name: re-raise them as OSError(errno, strerror, path), "
                f"and sweep/runner.py's 'worker error: ...' then shows it:\n{proc.stderr}"]
    return []


def test_full_disk_before_the_study_exists(tmp_path, run_args, mounts):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounts("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk))
    with open(disk / "filler", "wb") as f:
        try:
            f.write(b"\0" * (128 * 1024))
            f.flush()
        except OSError:
            pass
    proc = sweep(*run_args(disk / "studies", "full", trials=3), cwd=tmp_path)
    all_json_parses(disk)
    problems = _error_problems(proc, disk, "No space left on device")
    assert not problems, problems[0]


def test_disk_filling_during_the_run(tmp_path, run_args, mounts):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounts("-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk))
    root = disk / "studies" / "filling"
    cmd = run_args(disk / "studies", "filling", trials=6)
    proc = sweep(*cmd, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "No space left on device" in proc.stderr, proc.stderr
    all_json_parses(disk)  # atomic writes: no half-written JSON even on ENOSPC
    trials = stored_trials(root)  # the journal is still loadable
    assert trials
    problems = _error_problems(proc, disk, "No space left on device")
    journal = (root / "journal.log").read_bytes()
    if not journal.endswith(b"\n"):
        problems.append(
            "regressed: sweep/study.py open_storage (Optuna "
            "JournalFileBackend): the append that hit "
            f"ENOSPC left a torn last line in {root / 'journal.log'} ({journal[-60:]!r}); the "
            "next append is glued to it and the study can no longer be loaded (JSONDecodeError)."
            " Fix: a JournalFileBackend subclass whose append_logs, under the lock, truncates "
            "the file back to its size before the write when the write fails, and cuts a torn "
            "tail (after the last b'\\n') before appending.")
    # with room again, the same command cleans up and reaches the total
    subprocess.run(["mount", "-o", "remount,size=16m", str(disk)], check=True)
    again = sweep(*cmd, cwd=tmp_path)
    if again.returncode != 0:
        problems.append(f"re-run with room again failed:\n{again.stderr[-800:]}")
    else:
        full = {t.number for t in trials if "No space left" in t.user_attrs.get("reason", "")}
        check_study(root, finished=6, unwritten=lambda t: t.number in full)
    assert not problems, "\n\n".join(problems)


def test_read_only_studies_dir(tmp_path, run_args, mounts):
    disk = tmp_path / "ro"
    disk.mkdir()
    root = disk / "studies" / "ro"
    cmd = run_args(disk / "studies", "ro", trials=2)
    first = sweep(*cmd, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = {p: p.read_bytes() for p in disk.rglob("*") if p.is_file()}
    mounts("--bind", str(disk), str(disk))
    _mount("-o", "remount,ro,bind", str(disk))
    more = sweep(*run_args(disk / "studies", "ro", trials=4), cwd=tmp_path)
    fresh = sweep(*run_args(disk / "studies", "new", trials=2), cwd=tmp_path)
    after = {p: p.read_bytes() for p in disk.rglob("*") if p.is_file()}
    assert after == before, "files changed on a read-only file system?"
    assert not (disk / "studies" / "new").exists()
    check_study(root, finished=2)
    open_journal(root)
    problems = (_error_problems(more, root, "Read-only file system")
                + _error_problems(fresh, disk / "studies", "Read-only file system"))
    assert not problems, "\n\n".join(problems)

"""Hostile tests of --jobs/--threads, kept workers and the reading commands' notes:
each one a problem found by attacking those features, with real processes."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

import sweep
from sweep.errors import UsageError
from sweep.execution.jobs import cores
from tests.sweep.faults.harness import check_study, default_signals, sweep_env

SPACE = {"params": {"hidden_size": {"low": 16, "high": 32},
                    "batch_size": {"choices": [128, 256]}}}


def _script(body: str, *args: object, timeout: float = 240,
            faults: dict[str, object] | None = None) -> subprocess.CompletedProcess:
    """``body`` run by a fresh Python process (its own kept workers), sys.argv = args."""
    return subprocess.run([sys.executable, "-c", body, *map(str, args)], env=sweep_env(faults),
                          capture_output=True, text=True, timeout=timeout,
                          preexec_fn=default_signals)  # SIGINT is ignored under `cmd &`


RECREATE = """
import shutil, sys
import sweep
studies, data = sys.argv[1], sys.argv[2]
kw = dict(jobs=2, epochs=1, dataset="idx", data_dir=data, pruner="none", plots=False,
          report=False, studies_dir=studies,
          space={"params": {"hidden_size": {"low": 16, "high": 32}}})
sweep.run("b", trials=2, **kw)
shutil.rmtree(studies + "/b")  # ext4 gives the next file the journal's inode number
again = sweep.run("b", trials=3, **kw)
print("finished", again.counts.finished, sorted(o.number for o in again.outcomes))
"""


def test_kept_workers_read_a_study_deleted_and_made_again_afresh(tmp_path, tiny_idx_dir):
    """A kept worker knew the deleted study's journal by its inode number, which the
    file system gave straight to the new journal: the worker replayed the new file
    from the old one's offsets and every slot failed ("'JournalStorageReplayResult'
    object has no attribute '_last_created_trial_id_by_this_process'")."""
    studies = tmp_path / "studies"
    proc = _script(RECREATE, studies, tiny_idx_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "finished 3 [0, 1, 2]" in proc.stdout, proc.stdout + proc.stderr
    check_study(studies / "b", finished=3)


DEAF = """
import os, signal, sys, threading, time
import sweep
studies, data = sys.argv[1], sys.argv[2]
kw = dict(jobs=1, epochs=50, dataset="idx", data_dir=data, pruner="none", plots=False,
          report=False, studies_dir=studies,
          space={"params": {"hidden_size": {"low": 16, "high": 32}}})
sweep.run("slow", trials=2, timeout=4, **kw)  # its grace (5 s) runs out: trials interrupted
sent = []


def interrupt_once_training():  # Ctrl-C once the next run's first trial has an epoch
    first = os.path.join(studies, "next", "trials", "0000", "history.csv")
    while not os.path.exists(first):
        time.sleep(0.1)
    sent.append(time.monotonic())
    os.kill(os.getpid(), signal.SIGINT)


threading.Thread(target=interrupt_once_training, daemon=True).start()
try:
    sweep.run("next", trials=2, **kw)
except KeyboardInterrupt:
    print(f"interrupt took {time.monotonic() - sent[0]:.1f}")
"""


def test_a_worker_interrupted_at_a_time_out_is_not_kept_deaf_to_ctrl_c(tmp_path, tiny_idx_dir):
    """A --timeout whose grace ran out sends the workers SIGINT, which uses up their
    handler; such a worker was kept for the next run in the process, whose Ctrl-C it
    then ignored: the run waited the whole INTERRUPT_GRACE (15 s) and killed it."""
    studies = tmp_path / "studies"
    proc = _script(DEAF, studies, tiny_idx_dir, faults={"SWEEP_FAULT_SLEEP": 1})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    took = [float(line.split()[-1]) for line in proc.stdout.splitlines()
            if line.startswith("interrupt took")]
    assert took and took[0] < 8, proc.stdout + proc.stderr
    check_study(studies / "next")


@pytest.mark.parametrize("threads", [cores() + 1, 99999, 10**30])
def test_threads_beyond_the_cores_are_refused_before_anything_is_made(
        threads, tmp_path, sweep_cli, run_args, check_error):
    """--threads 10**30 made every worker die at start-up (threadpoolctl's C int
    overflows) and the run started replacements forever; --threads 99999 ran OpenBLAS
    with 64 threads on 2 cores and recorded 99999."""
    args = run_args(tmp_path, "t", 1)
    i = args.index("--jobs")
    proc = sweep_cli(*args[:i], *args[i + 2:], "--threads", threads, timeout=120)
    check_error(proc, 2, "--threads", str(threads))
    assert not (tmp_path / "t").exists()


def test_the_api_takes_auto_as_the_command_line_does(tmp_path, tiny_idx_dir):
    """`--jobs AUTO` works on the command line; ``jobs="AUTO"`` was refused with "must be
    a whole number", which did not say that auto exists."""
    results = sweep.run("auto", trials=1, jobs=" AUTO", epochs=1, dataset="idx",
                        data_dir=tiny_idx_dir, space=SPACE, pruner="none",
                        studies_dir=tmp_path, plots=False, report=False)
    assert results.counts.finished == 1
    with pytest.raises(UsageError, match='auto'):
        sweep.run("auto", trials=2, jobs="all", studies_dir=tmp_path)


def test_a_trial_whose_directory_cannot_be_resolved_is_failed_not_left_running(
        tmp_path, sweep_cli, run_args, open_optuna):
    """``trials/`` turned into a symbolic link loop: the worker's
    ``trial_dir.resolve()`` raised RuntimeError before the trial's try, so the slot
    failed and the trial stayed RUNNING after the run (its worker alive and idle)."""
    first = sweep_cli(*run_args(tmp_path, "loop", 1, jobs=1))
    assert first.returncode == 0, first.stdout + first.stderr
    trials = tmp_path / "loop" / "trials"
    shutil.rmtree(trials)
    trials.symlink_to("trials")
    second = sweep_cli(*run_args(tmp_path, "loop", 2, jobs=1))
    states = {t.number: t.state.name for t in open_optuna(tmp_path, "loop").trials}
    assert states == {0: "COMPLETE", 1: "FAIL"}, second.stdout + second.stderr
    failed = open_optuna(tmp_path, "loop").trials[1]
    assert "Symlink loop" in failed.user_attrs["reason"] or \
        "symbolic links" in failed.user_attrs["reason"], failed.user_attrs


CHDIR = """
import os, sys
import sweep
one, two, data = sys.argv[1:4]
kw = dict(jobs=2, epochs=1, dataset="idx", data_dir=data, pruner="none", plots=False,
          report=False, studies_dir="studies",
          space={"params": {"hidden_size": {"low": 16, "high": 32}}})
os.chdir(one)
sweep.run("s", trials=2, **kw)
os.chdir(two)  # a notebook that moved on: the same relative --studies-dir, another study
again = sweep.run("s", trials=3, **kw)
print("finished", again.counts.finished)
"""


def test_kept_workers_follow_the_working_directory_of_the_next_run(tmp_path, tiny_idx_dir):
    """Kept workers stayed in the directory of the run that started them: after an
    os.chdir, ``studies_dir="studies"`` named another folder to them than to the run,
    whose study then finished no trial ("0 of 3") while the workers added trials to
    the first directory's study of the same name."""
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    proc = _script(CHDIR, one, two, tiny_idx_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "finished 3" in proc.stdout, proc.stdout + proc.stderr
    check_study(two / "studies" / "s", finished=3)
    check_study(one / "studies" / "s", finished=2)


def test_the_note_on_missing_trial_directories_of_this_machine(tmp_path, sweep_cli, run_args):
    """Trial folders moved, replaced by a file or a link loop, or all gone: `best`,
    `trials` and `report` still answer, and the note counts them. Trials that ran on
    this very machine were said to be "on <this host>" with the advice to "read from a
    machine that has them": they were moved or deleted here."""
    proc = sweep_cli(*run_args(tmp_path, "gone", 4, jobs=1))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    trials = tmp_path / "gone" / "trials"
    (trials / "0001").rename(tmp_path / "moved")
    shutil.rmtree(trials / "0002")
    (trials / "0002").write_text("not a folder")
    shutil.rmtree(trials / "0003")
    (trials / "0003").symlink_to("0003")
    where = ("--studies-dir", tmp_path, "--study", "gone")
    for command in ("best", "trials", "report"):
        out = sweep_cli(command, *where)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "Traceback" not in out.stderr, out.stderr
        text = out.stdout + out.stderr
        assert "note: 3 of 4 trained trials have no directory" in text, text
        assert "trials 1, 2, 3, run here: moved or deleted" in text, text
        assert "Read from a machine that has them" not in text, text
    shutil.rmtree(trials)
    out = sweep_cli("best", *where)
    assert out.returncode == 0 and "note: 4 of 4 trained trials" in out.stderr, out.stderr


def test_confirm_takes_jobs_auto_as_run_does(tmp_path, sweep_cli, run_args, check_error):
    """`sweep run --jobs auto` is the default, yet `sweep confirm --jobs auto` was
    refused ("invalid int value"), and confirm's default counted os.cpu_count(), not
    the cores the process may run on."""
    proc = sweep_cli(*run_args(tmp_path, "conf", 2, jobs=1))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    where = ("--studies-dir", tmp_path, "--study", "conf")
    auto = sweep_cli("confirm", "--top", 1, "--seeds", 1, "--jobs", "auto", *where)
    assert auto.returncode == 0, auto.stdout + auto.stderr
    check_error(sweep_cli("confirm", "--top", 1, "--seeds", 1, "--jobs", "0", *where),
                2, "--jobs", "0")


THREAD = """
import sys, threading
import sweep
studies, data = sys.argv[1:3]
out = {}
def go():
    try:
        out["finished"] = sweep.run(
            "bg", trials=2, jobs=2, epochs=1, dataset="idx", data_dir=data, pruner="none",
            plots=False, report=False, studies_dir=studies,
            space={"params": {"hidden_size": {"low": 16, "high": 32}}}).counts.finished
    except BaseException as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
t = threading.Thread(target=go)
t.start()
t.join(120)
print(out)
"""


def test_a_study_runs_from_a_thread_other_than_the_main_one(tmp_path, tiny_idx_dir):
    """A notebook's study in a background thread: the pool set its SIGTERM handler
    unconditionally, so the call failed with "ValueError: signal only works in main
    thread of the main interpreter" after creating the study."""
    proc = _script(THREAD, tmp_path, tiny_idx_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "{'finished': 2}" in proc.stdout, proc.stdout + proc.stderr
    check_study(tmp_path / "bg", finished=2)


ASK = """
import sys
import sweep
studies, data = sys.argv[1:3]
r = sweep.run("ask", trials=1, jobs=1, timeout=5, epochs=1, dataset="idx", data_dir=data,
              pruner="none", plots=False, report=False, studies_dir=studies,
              space={"params": {"hidden_size": {"low": 16, "high": 32}}})
print("states", [o.state for o in r.outcomes])
"""


def test_a_time_out_inside_ask_leaves_no_trial_running(tmp_path, tiny_idx_dir):
    """The time-out's interrupt reached the worker inside Study.ask (where the sampler
    runs), after the trial was created and before its pid was recorded: sweep.run
    returned with the trial still RUNNING."""
    proc = _script(ASK, tmp_path, tiny_idx_dir, faults={"SWEEP_FAULT_ASK_SLEEP": 30})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "states ['FAIL']" in proc.stdout, proc.stdout + proc.stderr
    (trial,) = check_study(tmp_path / "ask")
    assert trial.user_attrs["reason"] == "interrupted"

"""Helpers for the fault, soak and bad-input tests: real ``sweep`` processes, with the
fault injection of ``sitecustomize.py`` (this folder on their PYTHONPATH), and
checks that a study on disk is whole."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import FrozenTrial, TrialState

FAULTS_DIR = Path(__file__).resolve().parent
REPO = FAULTS_DIR.parents[2]  # the checkout under test: its sweep and mlp, not an installed copy
BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
FAULT_VARS = ("SWEEP_FAULT_RAISE", "SWEEP_FAULT_RAISE_EPOCH", "SWEEP_FAULT_NAN",
              "SWEEP_FAULT_SLEEP", "SWEEP_FAULT_JITTER",
              "SWEEP_FAULT_STUCK", "SWEEP_FAULT_LOAD_SLEEP",
              "SWEEP_FAULT_ASK_SLEEP", "SWEEP_FAULT_TELL_SLEEP", "SWEEP_FAULT_HOST",
              "SWEEP_FAULT_COUNT_SLEEP", "SWEEP_FAULT_UNANSWERED",
              "SWEEP_FAULT_RESULT_SLEEP", "SWEEP_FAULT_PLOT_FULL")

# small networks and few steps: a trial takes a fraction of a second of CPU
TINY_SPACE = ("[params.hidden_size]\nlow = 16\nhigh = 32\n"
              "[params.batch_size]\nchoices = [128, 256]\n")
COMPLETE_FILES = ("trial.json", "config.json", "metrics.json", "history.csv",
                  "checkpoints/best.npz", "checkpoints/last.npz")


def sweep_env(faults: dict[str, object] | None = None) -> dict[str, str]:
    """The environment of a ``sweep`` process: no inherited BLAS, storage or fault settings,
    the fault injection and this checkout first on its path (so that the process runs the
    code under test, whatever is installed), and ``faults`` (SWEEP_FAULT_* values) set."""
    env = {k: v for k, v in os.environ.items()
           if k not in BLAS_VARS + FAULT_VARS and k not in ("SWEEP_STORAGE", "MLP_DATA_DIR")}
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(FAULTS_DIR), str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env.update({k: str(v) for k, v in (faults or {}).items()})
    return env


def sweep(*args: object, cwd: Path, faults: dict[str, object] | None = None,
          env: dict[str, str] | None = None, timeout: float = 180
          ) -> subprocess.CompletedProcess:
    """``python -m sweep ARGS`` to completion (``env``: more variables, e.g. SWEEP_STORAGE)."""
    return subprocess.run([sys.executable, "-m", "sweep", *map(str, args)], cwd=cwd,
                          env=sweep_env(faults) | (env or {}), capture_output=True, text=True,
                          timeout=timeout)


def default_signals() -> None:
    """In a child before it runs: SIGINT acts as a terminal's Ctrl-C would, even when the
    tests themselves were started with it ignored (a shell's background job inherits
    SIGINT ignored, and Python then never raises KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Running:
    """A ``sweep`` process in its own session (so that a test can signal its group)."""

    def __init__(self, *args: object, cwd: Path, log: Path,
                 faults: dict[str, object] | None = None) -> None:
        self.out_path, self.err_path = log.with_suffix(".out"), log.with_suffix(".err")
        self.out = open(self.out_path, "w")  # closed in close()
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "sweep", *map(str, args)],
                                     cwd=cwd, env=sweep_env(faults), stdout=self.out,
                                     stderr=self.err, start_new_session=True,
                                     preexec_fn=default_signals)
        self.pid = self.proc.pid

    def signal_group(self, sig: int) -> None:
        os.killpg(self.pid, sig)

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait(self, timeout: float = 120) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_all()
            raise

    def kill_all(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)

    @property
    def stdout(self) -> str:
        return self.out_path.read_text()

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def output(self) -> str:
        return f"exit {self.proc.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill_all()
        self.out.close()
        self.err.close()


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word; or says
    ``reply`` at once; or, with ``hang_up``, closes each connection it accepts."""

    def __init__(self, reply: bytes = b"", hang_up: bool = False) -> None:
        self.reply, self.hang_up = reply, hang_up
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop:
            with contextlib.suppress(OSError):
                conn, _ = self.sock.accept()
                if self.reply:
                    conn.sendall(self.reply)
                if self.hang_up:
                    conn.close()
                else:
                    self.conns.append(conn)

    def close(self) -> None:
        self.stop = True
        self.thread.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


def wait_for(predicate: Callable[[], Any], timeout: float, what: str,
             interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def trial_docs(root: Path) -> dict[int, dict[str, Any]]:
    """Every trials/NNNN/trial.json of a study folder, by trial number (unreadable ones
    are skipped: a test reading while a run writes may race the directory's creation)."""
    docs = {}
    for path in sorted((root / "trials").glob("*/trial.json")):
        try:
            docs[int(path.parent.name)] = read_json(path)
        except (OSError, ValueError):
            continue
    return docs


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def running_trials(root: Path) -> list[dict[str, Any]]:
    """trial.json documents of trials in flight (RUNNING, worker alive)."""
    return [d for d in trial_docs(root).values()
            if d["state"] == "RUNNING" and d.get("pid") and pid_alive(d["pid"])]


def children(pid: int) -> set[int]:
    """Direct children of a process (all its threads)."""
    found: set[int] = set()
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                found.update(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    except OSError:
        pass
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def worker_pids(parent: int) -> set[int]:
    """The loky worker processes of a ``sweep run`` process."""
    return {c for c in children(parent) if "popen_loky" in cmdline(c) and pid_alive(c)}


def open_journal(root: Path) -> optuna.Study:
    """The study straight from its journal file, read-only (nothing created)."""
    journal = root / "journal.log"
    assert journal.is_file(), f"{journal} is missing"
    storage = JournalStorage(JournalFileBackend(str(journal)))
    return optuna.load_study(study_name=root.name, storage=storage)


def stored_trials(root: Path) -> list[FrozenTrial]:
    return open_journal(root).get_trials(deepcopy=False)


def states(trials: list[FrozenTrial]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in trials:
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def all_json_parses(folder: Path) -> list[Path]:
    """Every *.json under ``folder``; raises (naming the file) if one does not parse."""
    found = sorted(folder.rglob("*.json"))
    for path in found:
        try:
            json.loads(path.read_text())
        except ValueError as exc:
            raise AssertionError(f"{path}: half-written or invalid JSON ({exc})") from None
    return found


def finished_for_the_budget(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Finished trials that count toward --trials: a lost trial that was retried does
    not (its retry does)."""
    retried = {t.user_attrs.get("retry_of") for t in trials}
    return [t for t in trials if t.state.is_finished()
            and not (t.state == TrialState.FAIL and t.number in retried)]


def check_retries(trials: list[FrozenTrial]) -> dict[int, FrozenTrial]:
    """Every retry retries a lost (failed) trial, once, with its settings, seed and marks,
    and is no lost trial's retry twice; a retry is retried only when its run's stop lost
    it (ledger.RUN_STOPPED, or a full or read-only disk, which stops the run). Returns the
    retries by the trial they retry."""
    from sweep.execution.ledger import RUN_STOPPED, machine_fault

    by_number = {t.number: t for t in trials}
    retries: dict[int, FrozenTrial] = {}
    for t in trials:
        of = t.user_attrs.get("retry_of")
        if of is None:
            continue
        assert of not in retries, f"trial {of} retried twice: {retries[of].number}, {t.number}"
        retries[of] = t
        lost = by_number[of]
        assert lost.state == TrialState.FAIL and lost.user_attrs.get("lost"), (of, lost)
        assert "retry_of" not in lost.user_attrs \
            or lost.user_attrs.get("reason") in RUN_STOPPED \
            or machine_fault(lost.user_attrs.get("reason", "")), \
            f"retry {of} was retried by {t.number}, lost as {lost.user_attrs.get('reason')}"
        assert t.number > of
        if t.state != TrialState.WAITING:
            # a trial lost part way through suggesting its settings passes on those it
            # had; its retry suggests the rest
            kept = {k: t.params.get(k) for k in lost.params}
            assert kept == lost.params, (t.number, t.params, lost.params)
            if "seed" in lost.user_attrs:
                assert t.user_attrs.get("seed") == lost.user_attrs["seed"], t.number
            assert t.user_attrs.get("classic") == lost.user_attrs.get("classic"), t.number
    return retries


def check_study(root: Path, finished: int | None = None,
                unwritten: Callable[[FrozenTrial], bool] | None = None,
                stale_ok: Callable[[FrozenTrial], bool] | None = None) -> list[FrozenTrial]:
    """A study folder that is whole: storage loadable, nothing RUNNING, numbers 0..n-1
    each with its own directory, trial.json agreeing with the storage, completed trials
    with all their files, failed ones with a reason, every JSON file parsing.

    ``unwritten(trial)`` says which trials' files could not be written (a full disk):
    they are not checked. ``stale_ok(trial)`` says whose trial.json may still say RUNNING
    (a known bug, tested on its own): the rest of their directory is checked."""
    all_json_parses(root)
    everything = stored_trials(root)
    trials = [t for t in everything if t.state != TrialState.WAITING]
    numbers = sorted(t.number for t in trials)
    assert numbers == list(range(len(trials))), f"trial numbers not 0..n-1: {numbers}"
    running = [t.number for t in trials if t.state == TrialState.RUNNING]
    assert not running, f"trials left RUNNING: {running}"
    check_retries(everything)
    if finished is not None:
        done = len(finished_for_the_budget(everything))
        assert done == finished, f"{done} finished trials, expected {finished}"
    docs = trial_docs(root)
    dirs = sorted(int(p.name) for p in (root / "trials").iterdir()) if trials else []
    assert set(dirs) <= set(numbers), f"trial directories without a trial: {dirs} vs {numbers}"
    for t in trials:
        doc = docs.get(t.number)
        if unwritten is not None and unwritten(t):
            continue
        assert doc is not None, f"trial {t.number}: no trial.json"
        assert doc["number"] == t.number, (t.number, doc)
        stale = doc["state"] == "RUNNING" and stale_ok is not None and stale_ok(t)
        assert doc["state"] == t.state.name or stale, \
            f"trial {t.number}: trial.json says {doc['state']}, storage {t.state.name}"
        assert doc["pid"] == t.user_attrs.get("pid"), \
            f"trial {t.number}: trial.json written by another worker ({doc['pid']})"
        if t.state == TrialState.COMPLETE:
            folder = root / "trials" / f"{t.number:04d}"
            missing = [f for f in COMPLETE_FILES if not (folder / f).is_file()]
            assert not missing, f"completed trial {t.number} lacks {missing}"
            assert read_json(folder / "metrics.json")["status"] == "completed"
        elif t.state == TrialState.FAIL:
            reason = t.user_attrs.get("reason") if stale else doc["reason"]
            assert reason, f"failed trial {t.number} has no reason"
    return trials


def interrupt_when(root: Path, numbers: list[int], args: list[object], cwd: Path,
                   log: Path) -> None:
    """Run ``sweep ARGS`` (slow epochs) and Ctrl-C its group once trials ``numbers`` are
    in flight; it must end as interrupted (exit 130)."""
    import signal

    run = Running(*args, cwd=cwd, log=log, faults={"SWEEP_FAULT_SLEEP": 2})
    try:
        wait_for(lambda: all((root / "trials" / f"{n:04d}" / "config.json").exists()
                             for n in numbers), 120, f"trials {numbers} in flight")
        run.signal_group(signal.SIGINT)
        rc = run.wait(120)
    finally:
        run.close()
    assert rc == 130, run.output()

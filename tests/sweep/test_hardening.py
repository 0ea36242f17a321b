"""Hostile inputs and faults beyond the first round (issue: hardening): each case does
the real thing, with real processes, signals, sockets and damaged files."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.sweep.conftest import error_lines
from tests.sweep.faults.harness import (
    Running,
    check_study,
    children,
    default_signals,
    pid_alive,
    read_json,
    running_trials,
    stored_trials,
    sweep,
    wait_for,
)


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory, run_args) -> Path:
    """A small finished study, copied by the tests that damage it."""
    studies = tmp_path_factory.mktemp("finished")
    proc = sweep(*run_args(studies, "done", trials=3), cwd=studies)
    assert proc.returncode == 0, proc.stderr
    return studies


def copy_of(finished_study: Path, tmp_path: Path) -> Path:
    studies = tmp_path / "studies"
    shutil.copytree(finished_study, studies)
    return studies


def one_error(proc: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word."""

    def __init__(self) -> None:
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
                self.conns.append(conn)

    def close(self) -> None:
        self.stop = True
        self.thread.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


# -- data loss -------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["interrupt", "time-out"])
def test_a_rejected_first_run_never_deletes_other_studies(how, tmp_path, run_args):
    # study b waits for a dataset from a mirror that never answers while study a runs in
    # the same, new studies folder; b then fails (Ctrl-C, or the download's time-out)
    studies = tmp_path / "studies"
    server = SilentServer()
    cache = tmp_path / "empty-cache"
    env = {"MLP_DATA_MIRRORS": f"http://127.0.0.1:{server.port}/", "XDG_CACHE_HOME": str(cache)}
    b = None
    try:
        b_args = ["run", "--trials", 2, "--dataset", "fashion-mnist", "--studies-dir", studies,
                  "--study", "b", "--no-report", "--quiet"]
        b = subprocess.Popen([sys.executable, "-m", "sweep", *map(str, b_args)],
                             cwd=tmp_path, env=os.environ | env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True,
                             preexec_fn=default_signals)
        wait_for(lambda: server.conns, 60, "b to connect to the silent mirror")
        a = Running(*run_args(studies, "a", trials=4, epochs=2), cwd=tmp_path,
                    log=tmp_path / "a", faults={"SWEEP_FAULT_SLEEP": 0.5})
        try:
            wait_for(lambda: (studies / "a" / "study.json").exists(), 60, "study a")
            if how == "interrupt":
                os.killpg(b.pid, signal.SIGINT)
            _, err = b.communicate(timeout=120)
            assert b.returncode == (130 if how == "interrupt" else 2), err
            assert (studies / "a" / "journal.log").is_file(), "study a was deleted"
            assert a.wait(120) == 0, a.output()
        finally:
            a.close()
    finally:
        if b is not None and b.poll() is None:
            b.kill()
        server.close()
    check_study(studies / "a", finished=4)
    assert not (studies / "b").exists()


def test_trials_csv_never_overwrites_a_study_file(finished_study, tmp_path):
    studies = copy_of(finished_study, tmp_path)
    journal = studies / "done" / "journal.log"
    before = journal.read_bytes()
    for target in (journal, studies / "done" / "study.json", studies / "done" / "new.csv"):
        proc = sweep("trials", "--csv", target, "--studies-dir", studies, "--study", "done",
                     cwd=tmp_path)
        one_error(proc, 2, "--csv", str(target))
    other = tmp_path / "elsewhere.log"  # a copy of a journal outside any study folder
    other.write_bytes(before)
    proc = sweep("trials", "--csv", other, "--studies-dir", studies, "--study", "done",
                 cwd=tmp_path)
    one_error(proc, 2, "storage")
    assert journal.read_bytes() == before and other.read_bytes() == before
    assert not (studies / "done" / "new.csv").exists()


DAMAGE = {
    "junk-last-line": lambda lines: lines + [b"junk\n"],
    "empty-line-inside": lambda lines: lines[:3] + [b"\n"] + lines[3:],
    "not-utf8-inside": lambda lines: lines[:2] + [b"\xff\xfe\x00\n"] + lines[2:],
    "json-not-an-object": lambda lines: lines[:4] + [b"[1, 2]\n"] + lines[4:],
    "object-not-a-record": lambda lines: lines[:4] + [b'{"a": 1}\n'] + lines[4:],
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_journal_is_named_never_made_worse_and_repaired(damage, finished_study,
                                                                  tmp_path, run_args):
    studies = copy_of(finished_study, tmp_path)
    journal = studies / "done" / "journal.log"
    lines = journal.read_bytes().splitlines(keepends=True)
    damaged = DAMAGE[damage](lines)
    bad_line = next(i for i, (a, b) in enumerate(zip(damaged, lines + [b""], strict=False), 1)
                    if a != b)
    journal.write_bytes(b"".join(damaged))
    reading = [[c, "--studies-dir", studies, "--study", "done"] for c in ("best", "trials",
                                                                           "report")]
    for args in [*reading, run_args(studies, "done", trials=5)]:
        proc = sweep(*args, cwd=tmp_path)
        one_error(proc, 1, str(journal), f"line {bad_line}", "doctor")
        assert journal.read_bytes() == b"".join(damaged), f"{args[0]} wrote to the journal"
    check = sweep("doctor", "--check", "--studies-dir", studies, "--study", "done", cwd=tmp_path)
    assert check.returncode == 1 and f"line {bad_line}" in check.stdout, check.stdout
    assert journal.read_bytes() == b"".join(damaged)
    fix = sweep("doctor", "--studies-dir", studies, "--study", "done", cwd=tmp_path)
    assert fix.returncode == 0, fix.stdout + fix.stderr
    assert journal.read_bytes() == b"".join(lines)
    backups = list(journal.parent.glob("journal.log.damaged-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == b"".join(damaged)
    proc = sweep(*run_args(studies, "done", trials=5), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    check_study(studies / "done", finished=5)


def test_doctor_refuses_a_repair_that_would_not_load(finished_study, tmp_path):
    studies = copy_of(finished_study, tmp_path)
    journal = studies / "done" / "journal.log"
    lines = journal.read_bytes().splitlines(keepends=True)
    damaged = [b"not the study's creation\n"] + lines[1:]  # the create_study record is gone
    journal.write_bytes(b"".join(damaged))
    proc = sweep("doctor", "--studies-dir", studies, "--study", "done", cwd=tmp_path)
    assert proc.returncode == 1 and "nothing was changed" in proc.stderr, proc.stderr
    assert journal.read_bytes() == b"".join(damaged)


# -- secrets -----------------------------------------------------------------------------

PASSWORDS = ["se/cret", "p#ss", "p?ss", "p@ss", "p:ss", "p%20ss", "p&s=s+", "p ss", "pä$s!'\"`"]


@pytest.mark.parametrize("password", PASSWORDS)
def test_passwords_are_never_printed_or_stored(password, tmp_path):
    from urllib.parse import quote

    secret = quote(password, safe="")
    url = f"postgresql://user:{secret}@127.0.0.1:1/db"
    studies = tmp_path / "studies"
    proc = sweep("run", "--trials", 1, "--storage", url, "--studies-dir", studies,
                 "--study", "s", cwd=tmp_path, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "***" in proc.stderr
    for shown in (password, secret):
        assert shown not in proc.stdout + proc.stderr, proc.stderr
    assert not studies.exists() or not any(studies.rglob("*.json"))


@pytest.mark.parametrize("url", ["postgresql://u:secret@127.0.0.1:abc/db",
                                 "postgresql://u:secret@[::1/db", "mysql://u:secret@h:-1/db"])
def test_a_malformed_storage_url_is_one_line_without_the_password(url, tmp_path):
    proc = sweep("run", "--trials", 1, "--storage", url, "--studies-dir", tmp_path / "s",
                 cwd=tmp_path, timeout=60)
    line = one_error(proc, 2, "--storage")
    assert "secret" not in proc.stderr, line


# -- memory and size -----------------------------------------------------------------------

def test_space_from_an_endless_device_is_refused(tmp_path, data_args):
    proc = sweep("run", "--trials", 1, *data_args, "--space", "/dev/zero", "--studies-dir",
                 tmp_path / "s", cwd=tmp_path, timeout=60)
    one_error(proc, 2, "/dev/zero", "not a regular file")
    huge = tmp_path / "huge.toml"
    with open(huge, "wb") as f:
        f.write(b"# " + b"x" * (2 << 20) + b"\n")
    proc = sweep("run", "--trials", 1, *data_args, "--space", huge, "--studies-dir",
                 tmp_path / "s", cwd=tmp_path, timeout=60)
    one_error(proc, 2, str(huge), "KiB")
    assert not (tmp_path / "s").exists()


# -- hangs and leaks -------------------------------------------------------------------------

def test_a_database_that_never_answers_is_an_error_within_seconds(tmp_path):
    pytest.importorskip("psycopg", reason="the PostgreSQL driver comes with the test extra")
    server = SilentServer()
    try:
        started = time.monotonic()
        proc = sweep("run", "--trials", 1, "--storage",
                     f"postgresql://u:secret@127.0.0.1:{server.port}/db", "--studies-dir",
                     tmp_path / "s", "--study", "x", cwd=tmp_path, timeout=120)
        took = time.monotonic() - started
    finally:
        server.close()
    one_error(proc, 2, "--storage", "***")
    assert took < 40, f"took {took:.0f}s"
    assert server.conns, "the run never connected"


def test_a_stopped_worker_is_detected_and_replaced(tmp_path, run_args):
    studies = tmp_path / "studies"
    run = Running(*run_args(studies, "stall", trials=4, epochs=3), "--stall-timeout", "4s",
                  cwd=tmp_path, log=tmp_path / "run", faults={"SWEEP_FAULT_SLEEP": 0.5})
    try:
        victim = wait_for(lambda: running_trials(studies / "stall"), 60, "a trial in flight")[0]
        os.kill(victim["pid"], signal.SIGSTOP)
        rc = run.wait(120)
    finally:
        run.close()
    assert rc == 0, run.output()
    trials = check_study(studies / "stall", finished=4)
    failed = {t.number: t.user_attrs.get("reason", "") for t in trials
              if t.state.name == "FAIL"}
    assert failed == {victim["number"]: failed.get(victim["number"])}, failed
    assert "no progress" in failed[victim["number"]]
    assert not pid_alive(victim["pid"]), "the stopped worker was left behind"


def test_timeout_bounds_the_wall_time_with_trials_in_flight(tmp_path, run_args):
    studies = tmp_path / "studies"
    run = Running(*run_args(studies, "slow", trials=50, epochs=100), "--timeout", "3s",
                  cwd=tmp_path, log=tmp_path / "run", faults={"SWEEP_FAULT_SLEEP": 0.5})
    started = time.monotonic()
    try:
        victim = wait_for(lambda: running_trials(studies / "slow"), 60, "a trial in flight")[0]
        os.kill(victim["pid"], signal.SIGSTOP)  # one worker will not even answer signals
        rc = run.wait(120)
    finally:
        run.close()
    took = time.monotonic() - started
    # 3 s time-out, 5 s grace, 15 s for an interrupt to be recorded, then a kill
    assert rc == 0 and took < 3 + 5 + 15 + 15, (took, run.output())
    trials = check_study(studies / "slow")
    assert len(trials) < 50
    reasons = {t.number: t.user_attrs.get("reason") for t in trials if t.state.name == "FAIL"}
    assert "time-out" in reasons[victim["number"]], reasons


def test_workers_exit_when_their_run_is_killed(tmp_path, run_args):
    studies = tmp_path / "studies"
    run = Running(*run_args(studies, "orphans", trials=6, epochs=50), cwd=tmp_path,
                  log=tmp_path / "run", faults={"SWEEP_FAULT_SLEEP": 0.5})
    try:
        wait_for(lambda: len(running_trials(studies / "orphans")) == 2, 60, "two trials")
        spawned = children(run.pid)
        assert len(spawned) >= 2, spawned
        run.signal(signal.SIGKILL)  # the run alone, not its process group
        run.proc.wait(10)
        wait_for(lambda: not any(pid_alive(p) for p in spawned), 40,
                 f"the run's children {spawned} to exit")
    finally:
        run.close()
    reasons = [t.user_attrs.get("reason") for t in stored_trials(studies / "orphans")]
    assert reasons.count("the run process died") == 2, reasons


def test_sigterm_to_one_worker_fails_only_its_trial(tmp_path, run_args):
    studies = tmp_path / "studies"
    run = Running(*run_args(studies, "term", trials=6, epochs=3), cwd=tmp_path,
                  log=tmp_path / "run", faults={"SWEEP_FAULT_SLEEP": 0.3})
    try:
        victim = wait_for(lambda: running_trials(studies / "term"), 60, "a trial in flight")[0]
        os.kill(victim["pid"], signal.SIGTERM)
        rc = run.wait(120)
    finally:
        run.close()
    assert rc == 0, run.output()
    trials = check_study(studies / "term", finished=6)
    failed = {t.number: t.user_attrs.get("reason") for t in trials if t.state.name == "FAIL"}
    assert failed == {victim["number"]: "worker process was terminated (SIGTERM)"}, failed


def _can_unshare() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "--uts", "true"], capture_output=True).returncode == 0


def test_a_study_resumes_under_another_host_name(tmp_path, run_args):
    if not _can_unshare():
        pytest.skip("this machine cannot make a new UTS namespace (unshare --uts)")
    studies = tmp_path / "studies"
    run = Running(*run_args(studies, "moved", trials=4, epochs=30), cwd=tmp_path,
                  log=tmp_path / "run", faults={"SWEEP_FAULT_SLEEP": 0.2})
    try:
        wait_for(lambda: len(running_trials(studies / "moved")) == 2, 60, "two trials")
        wait_for(lambda: list((studies / "moved" / "trials").glob("*/history.csv")), 30,
                 "an epoch written")
        run.signal_group(signal.SIGKILL)  # the whole machine goes away
        run.proc.wait(10)
    finally:
        run.close()
    args = " ".join(f"'{a}'" for a in run_args(studies, "moved", trials=4, epochs=30))
    proc = subprocess.run(["unshare", "--uts", "sh", "-c",
                           f"hostname other-host && {sys.executable} -m sweep {args}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=180,
                          env=os.environ | {"PYTHONPATH": str(Path(__file__).parents[2])})
    assert proc.returncode == 0, proc.stderr
    assert "4 of 4 trials finished" in proc.stdout, proc.stdout
    check_study(studies / "moved", finished=4)
    assert not list((studies / "moved" / "trials").glob("**/.*.tmp"))


# -- one-line errors and validation ------------------------------------------------------------

@pytest.mark.parametrize(("args", "needles"), [
    (["--seed", "-1"], ["--seed -1"]),
    (["--seed", "4294967296"], ["--seed 4294967296"]),
    (["--storage", "sqlite://"], ["in-memory"]),
    (["--storage", "sqlite:///:memory:"], ["in-memory"]),
    (["--study", "name\n"], ["--study"]),
    (["--stall-timeout", "0s"], ["--stall-timeout"]),
    (["--timeout", "99999999999999999999h"], ["--timeout"]),
])
def test_bad_run_values_are_one_line_and_leave_nothing(args, needles, tmp_path, data_args):
    studies = tmp_path / "studies"
    proc = sweep("run", "--trials", 1, "--epochs", 1, *data_args, "--studies-dir", studies,
                 "--no-report", *args, cwd=tmp_path, timeout=60)
    one_error(proc, 2, *needles)
    assert not studies.exists() or not any(studies.iterdir()), list(studies.rglob("*"))


@pytest.mark.parametrize(("text", "needles"), [
    ("[fixed]\nlr = 0.1\n\"training.lr\" = 0.2\n", ["lr", "twice"]),
    ("[fixed]\nseed = 3\n", ["seed", "--seed"]),
    ("[fixed]\nepochs = 2\n[params.warmup_epochs]\ntype = \"int\"\nlow = 0\nhigh = 5\n",
     ["warmup_epochs", "5"]),
])
def test_space_conflicts_are_refused_up_front(text, needles, tmp_path, data_args):
    path = tmp_path / "space.toml"
    path.write_text(text)
    proc = sweep("run", "--trials", 1, *data_args, "--space", path, "--studies-dir",
                 tmp_path / "s", cwd=tmp_path, timeout=60)
    one_error(proc, 2, *needles)
    assert not (tmp_path / "s").exists()


def test_warmup_beyond_the_epochs_given_on_the_command_line(tmp_path, data_args):
    path = tmp_path / "space.toml"
    path.write_text("[params.warmup_epochs]\ntype = \"int\"\nlow = 0\nhigh = 5\n")
    proc = sweep("run", "--trials", 1, "--epochs", 3, *data_args, "--space", path,
                 "--studies-dir", tmp_path / "s", cwd=tmp_path, timeout=60)
    one_error(proc, 2, "warmup_epochs")


def test_read_commands_never_create_storage(tmp_path, finished_study):
    db = tmp_path / "new.db"
    for command in ("best", "trials", "report"):
        # a study that lives in its journal: another storage is refused, nothing made
        proc = sweep(command, "--storage", f"sqlite:///{db}", "--studies-dir", finished_study,
                     "--study", "done", cwd=tmp_path)
        one_error(proc, 2, "journal")
        assert not db.exists()
    studies = tmp_path / "studies"  # a study whose study.json names a database now gone
    (studies / "gone").mkdir(parents=True)
    (studies / "gone" / "study.json").write_text(json.dumps({"storage": f"sqlite:///{db}"}))
    for command in ("best", "trials", "report"):
        proc = sweep(command, "--studies-dir", studies, "--study", "gone", cwd=tmp_path)
        one_error(proc, 1, "no such database file")
        assert not db.exists()


def test_a_relative_data_dir_resumes_from_anywhere(tmp_path, tiny_idx_dir, tiny_space):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copytree(tiny_idx_dir, tmp_path / "a" / "data")
    common = ["--epochs", 1, "--dataset", "idx", "--space", tiny_space, "--studies-dir",
              tmp_path / "studies", "--study", "rel", "--no-report", "--no-plots", "--quiet",
              "--jobs", 1]
    first = sweep("run", "--trials", 1, "--data-dir", "data", *common, cwd=tmp_path / "a")
    assert first.returncode == 0, first.stderr
    stored = read_json(tmp_path / "studies" / "rel" / "trials" / "0000" / "config.json")
    assert stored["data"]["data_dir"] == str(tmp_path / "a" / "data")
    second = sweep("run", "--trials", 2, "--data-dir", tmp_path / "a" / "data", *common,
                   cwd=tmp_path / "b")
    assert second.returncode == 0, second.stderr
    third = sweep("run", "--trials", 3, *common, cwd=tmp_path / "b")  # no --data-dir at all
    assert third.returncode == 0, third.stderr


def test_studies_lists_broken_studies_with_the_reason(finished_study, tmp_path):
    studies = copy_of(finished_study, tmp_path)
    shutil.copytree(studies / "done", studies / "broken")
    (studies / "broken" / "journal.log").write_bytes(b"junk\n")
    proc = sweep("studies", "--studies-dir", studies, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.split()[:2] == ["done", "3"] for line in lines), lines  # 3 finished
    broken = [line for line in lines if line.startswith("broken ")]
    assert broken and "line 1" in broken[0], lines


def test_a_dangling_symlink_as_studies_folder_is_named(tmp_path, data_args):
    link = tmp_path / "studies"
    link.symlink_to(tmp_path / "gone")
    proc = sweep("run", "--trials", 1, *data_args, "--studies-dir", link, cwd=tmp_path)
    one_error(proc, 2, str(link), "does not exist")


def test_a_sampled_epochs_setting_keeps_its_own_column(tmp_path, data_args):
    path = tmp_path / "space.toml"
    path.write_text("[params.epochs]\ntype = \"int\"\nlow = 1\nhigh = 2\n"
                    "[params.hidden_size]\nlow = 16\nhigh = 32\n")
    studies = tmp_path / "s"
    proc = sweep("run", "--trials", 3, "--jobs", 1, *data_args, "--space", path,
                 "--studies-dir", studies, "--study", "e", "--no-plots", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    best = sweep("best", "--json", "--studies-dir", studies, "--study", "e", cwd=tmp_path)
    doc = json.loads(best.stdout)["best"][0]
    assert doc["params"]["epochs"] in (1, 2) and doc["epochs_trained"] == doc["params"]["epochs"]
    table = sweep("trials", "--csv", tmp_path / "t.csv", "--studies-dir", studies, "--study",
                  "e", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    header = (tmp_path / "t.csv").read_text().splitlines()[0].split(",")
    assert "params_epochs" in header and header.count("epochs_trained") == 1
    assert (studies / "e" / "report" / "index.html").is_file()


def test_killing_lokys_resource_tracker_prints_no_traceback(tmp_path, run_args):
    from tests.sweep.faults.harness import cmdline

    studies = tmp_path / "studies"
    run = Running(*run_args(studies, "tracker", trials=6, epochs=4), cwd=tmp_path,
                  log=tmp_path / "run", faults={"SWEEP_FAULT_SLEEP": 0.3})
    try:
        tracker = wait_for(lambda: [c for c in children(run.pid)
                                    if "loky.backend.resource_tracker" in cmdline(c)],
                           60, "loky's resource tracker")[0]
        wait_for(lambda: running_trials(studies / "tracker"), 60, "a trial in flight")
        os.kill(tracker, signal.SIGKILL)
        rc = run.wait(120)
    finally:
        run.close()
    assert rc == 0, run.output()
    assert "Traceback" not in run.stderr, run.stderr
    check_study(studies / "tracker", finished=6)
    assert (studies / "tracker" / "workers.log").is_file()


def test_a_trial_too_large_for_memory_fails_at_once_with_its_estimate(tmp_path, data_args):
    path = tmp_path / "space.toml"
    path.write_text("[params.hidden_size]\nlow = 60000\nhigh = 65536\n"
                    "[params.hidden_layers]\ntype = \"int\"\nlow = 16\nhigh = 16\n")
    studies = tmp_path / "s"
    proc = sweep("run", "--trials", 2, "--jobs", 1, "--epochs", 1, *data_args, "--space", path,
                 "--studies-dir", studies, "--study", "big", "--no-report", "--no-plots",
                 "--quiet", cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    trials = check_study(studies / "big", finished=2)
    for t in trials:
        assert t.state.name == "FAIL" and "GB" in t.user_attrs["reason"], t.user_attrs


# -- the second hostile pass --------------------------------------------------------------

def test_no_export_lands_on_any_study_or_a_special_file(finished_study, tmp_path):
    studies = copy_of(finished_study, tmp_path)
    shutil.copytree(studies / "done", studies / "other")
    journal = studies / "done" / "journal.log"
    before = {p: p.read_bytes() for p in studies.rglob("*") if p.is_file()}
    where = ["--studies-dir", studies]
    targets = [journal, studies / "other" / "study.json",
               studies / "other" / "trials" / "0000" / "metrics.json"]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "target.txt")
    for target in [*targets, fifo, link]:
        for command in (["studies", *where], ["trials", *where, "--study", "done"],
                        ["best", *where, "--study", "done"]):
            proc = sweep(*command, "-f", "csv", "--out", target, cwd=tmp_path)
            one_error(proc, 2, str(target))
        proc = sweep("trials", *where, "--study", "done", "--csv", target, cwd=tmp_path)
        one_error(proc, 2, "--csv")
    assert {p: p.read_bytes() for p in studies.rglob("*") if p.is_file()} == before
    assert fifo.exists() and not fifo.is_file() and link.is_symlink()


def test_a_journal_study_is_never_mixed_with_another_storage(finished_study, tmp_path,
                                                             run_args):
    studies = copy_of(finished_study, tmp_path)
    before = (studies / "done" / "trials" / "0000" / "config.json").read_bytes()
    db = tmp_path / "o.db"
    for how in ({"args": ["--storage", f"sqlite:///{db}"]},
                {"env": {"SWEEP_STORAGE": f"sqlite:///{db}"}}):
        proc = sweep(*run_args(studies, "done", trials=5), *how.get("args", []),
                     cwd=tmp_path, env=how.get("env"))
        one_error(proc, 2, "journal")
        best = sweep("best", "--studies-dir", studies, "--study", "done", *how.get("args", []),
                     cwd=tmp_path, env=how.get("env"))
        one_error(best, 2, "journal")
    assert (studies / "done" / "trials" / "0000" / "config.json").read_bytes() == before
    assert not db.exists()


def test_a_relative_sqlite_path_is_stored_absolute(tmp_path, run_args):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    studies = tmp_path / "studies"
    first = sweep(*run_args(studies, "q", trials=1), "--storage", "sqlite:///rel.db",
                  cwd=tmp_path / "a")
    assert first.returncode == 0, first.stderr
    meta = read_json(studies / "q" / "study.json")
    assert meta["storage"] == f"sqlite:///{tmp_path / 'a' / 'rel.db'}"
    second = sweep(*run_args(studies, "q", trials=2), cwd=tmp_path / "b")
    assert second.returncode == 0, second.stderr
    assert not (tmp_path / "b" / "rel.db").exists()
    best = sweep("best", "--studies-dir", studies, "--study", "q", cwd=tmp_path / "b")
    assert best.returncode == 0, best.stderr


def test_a_rejected_first_run_removes_the_database_it_made(tmp_path, data_args):
    db = tmp_path / "new.db"
    proc = sweep("run", "--trials", 1, *data_args, "--epochs", 0, "--storage",
                 f"sqlite:///{db}", "--studies-dir", tmp_path / "s", cwd=tmp_path)
    one_error(proc, 2, "--epochs 0")
    assert not db.exists() and not (tmp_path / "s").exists()


@pytest.mark.parametrize("victim", ["study.json", "trials/0001/trial.json",
                                    "trials/0000/metrics.json"])
def test_a_fifo_in_place_of_a_study_file_is_an_error_not_a_hang(victim, finished_study,
                                                               tmp_path, run_args):
    studies = copy_of(finished_study, tmp_path)
    path = studies / "done" / victim
    path.unlink()
    os.mkfifo(path)
    commands = [["best", "--studies-dir", studies, "--study", "done"],
                ["report", "--studies-dir", studies, "--study", "done"],
                run_args(studies, "done", trials=4)]
    for command in commands:
        proc = sweep(*command, cwd=tmp_path, timeout=120)
        assert "Traceback" not in proc.stderr, proc.stderr
        if victim == "study.json":
            one_error(proc, 1, "study.json", "not a regular file")


@pytest.mark.parametrize("meta", ['{"storage": 5}', '["x"]', '{"storage": "garbage"}'])
def test_a_wrong_study_json_is_one_line_naming_it(meta, finished_study, tmp_path):
    studies = copy_of(finished_study, tmp_path)
    (studies / "done" / "study.json").write_text(meta)
    proc = sweep("best", "--studies-dir", studies, "--study", "done", cwd=tmp_path)
    one_error(proc, 1, "study.json")
    listing = sweep("studies", "--studies-dir", studies, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert any(line.startswith("done ") and "unreadable" in line
               for line in listing.stdout.splitlines()), listing.stdout


@pytest.mark.parametrize("metrics", ['[1, 2]', 'NaN', '{"most_confused": 5}',
                                     '{"most_confused": [{"true": 1}]}', '{"dataset": [1]}',
                                     '{"classes": ' + json.dumps([str(i) for i in range(200)])
                                     + ', "confusion_matrix": [[1]]}'])
def test_a_damaged_best_metrics_json_is_skipped_with_a_note(metrics, finished_study, tmp_path):
    studies = copy_of(finished_study, tmp_path)
    best = json.loads(sweep("best", "-f", "json", "--studies-dir", studies, "--study", "done",
                            cwd=tmp_path).stdout)["best"][0]["number"]
    (studies / "done" / "trials" / f"{best:04d}" / "metrics.json").write_text(metrics)
    proc = sweep("report", "--studies-dir", studies, "--study", "done", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = (studies / "done" / "report" / "report.md").read_text()
    assert "metrics.json" in text


def test_a_trial_folder_that_cannot_be_made_fails_that_trial(finished_study, tmp_path,
                                                             run_args):
    studies = copy_of(finished_study, tmp_path)
    (studies / "done" / "trials" / "0003").write_text("a file where trial 3's folder goes")
    proc = sweep(*run_args(studies, "done", trials=4), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trials = stored_trials(studies / "done")
    assert [t.state.name for t in trials].count("RUNNING") == 0
    assert len(trials) == 4
    kept = list((studies / "done" / "trials").glob("0003.orphan-*"))
    assert len(kept) == 1 and kept[0].read_text().startswith("a file")


def test_an_old_trial_folder_is_kept_aside_not_mixed(finished_study, tmp_path, run_args):
    studies = copy_of(finished_study, tmp_path)
    old = studies / "done" / "trials" / "0000"
    (old / "marker.txt").write_text("from the study that was deleted")
    (studies / "done" / "journal.log").unlink()
    (studies / "done" / "study.json").unlink()
    proc = sweep(*run_args(studies, "done", trials=1), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (old / "marker.txt").exists()
    kept = list((studies / "done" / "trials").glob("0000.orphan-*"))
    assert len(kept) == 1 and (kept[0] / "marker.txt").is_file()


def test_two_reports_at_once_both_succeed(finished_study, tmp_path):
    studies = copy_of(finished_study, tmp_path)
    cmd = [sys.executable, "-m", "sweep", "report", "--studies-dir", str(studies), "--study",
           "done"]
    for _ in range(3):
        procs = [subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for p in procs:
            _, err = p.communicate(timeout=300)
            assert p.returncode == 0, err


@pytest.mark.parametrize("text", ["[params.seed]\ntype = \"int\"\nlow = 1\nhigh = 100\n"])
def test_a_sampled_seed_is_refused(text, tmp_path, data_args):
    path = tmp_path / "space.toml"
    path.write_text(text)
    proc = sweep("run", "--trials", 1, *data_args, "--space", path, "--studies-dir",
                 tmp_path / "s", cwd=tmp_path)
    one_error(proc, 2, "params.seed", "--seed")


def test_a_space_file_with_a_byte_order_mark_is_read(tmp_path, data_args):
    path = tmp_path / "space.toml"
    path.write_bytes(b"\xef\xbb\xbf[params.hidden_size]\nlow = 16\nhigh = 32\n")
    proc = sweep("run", "--trials", 1, "--jobs", 1, "--epochs", 1, *data_args, "--space", path,
                 "--studies-dir", tmp_path / "s", "--no-report", "--no-plots", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_no_more_workers_than_trials_to_run(finished_study, tmp_path, run_args):
    studies = copy_of(finished_study, tmp_path)
    args = run_args(studies, "done", trials=4)
    args[args.index("--jobs") + 1] = 6
    proc = sweep(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 worker, " in proc.stderr, proc.stderr


def test_a_dumb_terminal_gets_plain_lines(finished_study, tmp_path, run_args):
    if shutil.which("script") is None:
        pytest.skip("no `script` to give the run a pseudo-terminal")
    studies = copy_of(finished_study, tmp_path)
    args = [a for a in run_args(studies, "done", trials=5) if a != "--quiet"]
    command = " ".join(f"'{a}'" for a in [sys.executable, "-m", "sweep", *args])
    proc = subprocess.run(["script", "-qec", command, "/dev/null"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=180,
                          env=os.environ | {"TERM": "dumb",
                                            "PYTHONPATH": str(Path(__file__).parents[2])})
    assert proc.returncode == 0, proc.stdout
    assert "\x1b[2K" not in proc.stdout, proc.stdout


def test_a_confusion_figure_of_many_classes_stays_small(tmp_path):
    import numpy as np

    from mlp import plots

    n = 200
    cm = np.eye(n, dtype=np.int64) * 5 + 1
    started = time.monotonic()
    out = plots.confusion_heatmap(cm, [f"c{i}" for i in range(n)], tmp_path / "cm.png")
    assert time.monotonic() - started < 60
    assert out.stat().st_size < 20_000_000


def test_someone_elses_sqlite_database_is_never_touched(tmp_path, data_args):
    import hashlib
    import sqlite3

    db = tmp_path / "theirs.db"
    with contextlib.closing(sqlite3.connect(db)) as con:
        con.execute("CREATE TABLE invoices (id INTEGER)")
        con.commit()
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    proc = sweep("run", "--trials", 1, *data_args, "--storage", f"sqlite:///{db}",
                 "--studies-dir", tmp_path / "s", cwd=tmp_path)
    one_error(proc, 2, "none of Optuna's")
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert not (tmp_path / "s").exists()


def test_a_full_disk_during_the_report_names_the_path(finished_study, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}): needs root")
    try:
        shutil.copytree(finished_study / "done", disk / "studies" / "done")
        with open(disk / "filler", "wb") as f, contextlib.suppress(OSError):
            f.write(b"\0" * (4 << 20))
            f.flush()
        proc = sweep("report", "--studies-dir", disk / "studies", "--study", "done",
                     cwd=tmp_path)
        line = one_error(proc, 1, "No space left on device")
        assert str(disk / "studies" / "done" / "report") in line, line
        for path in (disk / "studies" / "done" / "report").rglob("*"):
            assert not path.name.startswith("."), f"temporary file left: {path}"
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_only_appends_inside_a_running_trial_skip_their_own_fsync(tmp_path):
    """The journal's op codes the fsync skips are Optuna's in-trial operations (a code
    renumbered by Optuna would make a trial's end skip its fsync), and an append that
    finishes a trial is synced."""
    import optuna
    from optuna.storages.journal._storage import JournalOperation as Op

    from sweep.study.storage import IN_TRIAL, JournalFile

    assert IN_TRIAL == {Op.SET_TRIAL_PARAM, Op.SET_TRIAL_INTERMEDIATE_VALUE,
                        Op.SET_TRIAL_USER_ATTR, Op.SET_TRIAL_SYSTEM_ATTR}
    synced: list[list[int]] = []
    real_fsync = os.fsync

    class Counting(JournalFile):
        def append_logs(self, logs):
            before = len(calls)
            super().append_logs(logs)
            synced.append([log["op_code"] for log in logs] + [len(calls) - before])

    calls: list[int] = []
    os.fsync = lambda fd: (calls.append(fd), real_fsync(fd))[1]
    try:
        storage = optuna.storages.JournalStorage(Counting(tmp_path / "j.log"))
        study = optuna.create_study(storage=storage, direction="maximize")
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        trial.report(0.5, 1)
        trial.set_user_attr("a", 1)
        study.tell(trial, 0.5)
    finally:
        os.fsync = real_fsync
    for *codes, fsyncs in synced:
        assert fsyncs == (0 if set(codes) <= IN_TRIAL else 1), (codes, fsyncs)
    assert synced[-1][0] == Op.SET_TRIAL_STATE_VALUES and synced[-1][-1] == 1


def test_a_trial_folder_missing_on_its_own_machine_is_named_as_such(finished_study, tmp_path):
    """A trained trial whose folder is gone here, run on this very host, is not sent to
    another machine: the note says it ran here and was deleted or lives elsewhere."""
    studies = copy_of(finished_study, tmp_path)
    shutil.rmtree(studies / "done" / "trials" / "0001")
    for command in ("best", "trials"):
        proc = sweep(command, "--studies-dir", studies, "--study", "done", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        notes = [line for line in proc.stderr.splitlines() if line.startswith("note: ")]
        assert len(notes) == 1, proc.stderr
        assert "1 of 3 trained trials" in notes[0] and "trial 1, run here" in notes[0]
    whole = copy_of(finished_study, tmp_path / "whole")
    proc = sweep("best", "--studies-dir", whole, "--study", "done", cwd=tmp_path)
    assert proc.returncode == 0 and "note:" not in proc.stderr, proc.stderr

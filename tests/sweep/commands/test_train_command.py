"""``sweep train`` (sweep/commands/train.py): one network into its experiment directory.

In process: what it writes, a re-run from config.json to the last bit, and every input
it refuses before anything is made (bad values, hostile config files, broken data, an
out folder it must not touch, a network too large for memory, a read-only or full
disk). In a real process: what needs one (a kill, Ctrl-C, two trains at once, an address
space limit, a file name that is not UTF-8, a fault injected into training)."""

from __future__ import annotations

import csv
import json
import os
import re
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.sweep.commands.conftest import TINY_TRAIN, snapshot
from tests.sweep.faults.harness import Running, sweep, sweep_env, wait_for

HISTORY_EXACT = ["epoch", "lr_end", "train_loss", "train_acc", "val_loss", "val_acc"]


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def one_line(proc: subprocess.CompletedProcess, code: int, *culprits: object) -> str:
    """Exit ``code``, one line on stderr, ``sweep train: error: `` and every culprit."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("sweep train: error: "), lines[0]
    for culprit in culprits:
        assert str(culprit) in lines[0], (culprit, lines[0])
    return lines[0]


# ---------------------------------------------------------------------------- a real train

@pytest.fixture(scope="module")
def exp_a(tmp_path_factory, tiny_idx_dir) -> Path:
    """Two epochs of 64 hidden units with every figure, trained in this process."""
    from sweep.commands.cli import main

    work = tmp_path_factory.mktemp("train")
    assert main(["train", "--dataset", "idx", "--data-dir", str(tiny_idx_dir), "--epochs", "2",
                 "--hidden-size", "64", "--quiet", "--out", str(work / "A")]) == 0
    return work / "A"


def test_train_writes_the_experiment_and_says_what_it_trained(tmp_path, tiny_idx_dir, cli):
    proc = cli("train", "--dataset", "idx", "--data-dir", tiny_idx_dir, "--epochs", 2,
               "--hidden-size", 64, "--no-plots", "--out", "A", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^completed: best epoch \d, val acc", proc.stdout, re.M), proc.stdout
    assert len(re.findall(r"^epoch +\d+ ", proc.stdout, re.M)) == 2
    assert proc.stdout.rstrip().endswith(" -> A"), proc.stdout
    assert (tmp_path / "A" / "metrics.json").is_file()


@pytest.mark.slow
def test_train_writes_every_file(exp_a):
    for rel in ("config.json", "history.csv", "metrics.json", "checkpoints/best.npz",
                "checkpoints/last.npz", "plots/learning_curves.png"):
        assert (exp_a / rel).is_file(), rel
    assert len(read_rows(exp_a / "history.csv")) == 2
    doc = json.loads((exp_a / "config.json").read_text())
    assert doc["model"]["hidden_size"] == 64 and doc["training"]["epochs"] == 2


@pytest.mark.slow
def test_train_from_config_reproduces_the_run(exp_a, tmp_path, cli):
    proc = cli("train", "--config", exp_a / "config.json", "--out", "B", "--no-plots",
               "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    b = tmp_path / "B"
    rows_a, rows_b = read_rows(exp_a / "history.csv"), read_rows(b / "history.csv")
    assert len(rows_a) == len(rows_b) == 2
    for ra, rb in zip(rows_a, rows_b, strict=True):
        assert [ra[c] for c in HISTORY_EXACT] == [rb[c] for c in HISTORY_EXACT]  # every digit
    config_a = json.loads((exp_a / "config.json").read_text())
    config_b = json.loads((b / "config.json").read_text())
    for section in ("data", "model", "training"):
        assert config_a[section] == config_b[section]
    metrics_a = json.loads((exp_a / "metrics.json").read_text())
    metrics_b = json.loads((b / "metrics.json").read_text())
    for key in ("best_epoch", "val_accuracy", "val_loss", "test_accuracy", "test_loss",
                "confusion_matrix"):
        assert metrics_a[key] == metrics_b[key], key
    for name in ("best", "last"):
        with np.load(exp_a / "checkpoints" / f"{name}.npz") as ca, \
                np.load(b / "checkpoints" / f"{name}.npz") as cb:
            assert sorted(ca.files) == sorted(cb.files)
            for k in ca.files:
                np.testing.assert_array_equal(ca[k], cb[k], err_msg=f"{name}:{k}")


def test_divergence_exits_1_and_records_where(tmp_path, tiny_idx_dir, cli):
    proc = cli("train", "--dataset", "idx", "--data-dir", tiny_idx_dir, "--epochs", 2,
               "--hidden-size", 64, "--hidden-layers", 3, "--set", "lr=100",
               "--set", "model.batch_norm=false", "--no-plots", "--out", "D", cwd=tmp_path)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    match = re.search(r"diverged at epoch (\d+), step (\d+)", proc.stdout)
    assert match, proc.stdout
    doc = json.loads((tmp_path / "D" / "metrics.json").read_text())
    assert doc["status"] == "diverged"
    assert doc["diverged"] == {"epoch": int(match[1]), "step": int(match[2])}


# ------------------------------------------------------------------ refused before anything

@pytest.mark.parametrize("args, culprits", [
    (["--epochs", "-1"], ["training.epochs", "-1"]),
    (["--epochs", "1.5"], ["training.epochs", "1.5"]),
    (["--dropout", "1.5"], ["model.dropout", "1.5"]),
    (["--dataset", "nope"], ["--dataset", "nope"]),  # argparse choices name the flag
    (["--dataset", "idx", "--data-dir", "/nonexistent"], ["/nonexistent"]),
    (["--dataset", "idx"], ["data.data_dir"]),
    (["--lr", "abc"], ["training.lr", "abc"]),
    (["--set", "foo=1"], ["foo"]),
    (["--set", "lr"], ["--set", "lr"]),
    (["--config", "missing.json"], ["missing.json"]),
])
def test_bad_values_exit_2_with_one_line(tmp_path, args, culprits, cli):
    proc = cli("train", *args, "--out", "X", cwd=tmp_path)
    one_line(proc, 2, *culprits)
    assert proc.stdout == ""
    assert list(tmp_path.iterdir()) == []  # neither X nor a default runs/ directory


def test_dropout_that_would_drop_every_unit_is_refused(tmp_path, tiny_idx_dir, cli):
    # 0.999 rounds to 256 of 256 random-byte steps: it divided by zero in training
    proc = cli("train", "--dataset", "idx", "--data-dir", tiny_idx_dir, "--dropout", "0.999",
               "--out", "X", cwd=tmp_path)
    one_line(proc, 2, "model.dropout", "0.999")
    assert list(tmp_path.iterdir()) == []


CONFIG_FILES = {
    "not-utf8": b'{"model": {"hidden_size": 64}}\n# caf\xe9\n',
    "nested-100000-lists": b"[" * 100_000 + b"]" * 100_000,
    "nested-in-a-value": b'{"model": {"hidden_size": ' + b"[" * 100_000 + b"]" * 100_000
                         + b"}}",
    "5000-digit-int": b'{"model": {"hidden_size": 1' + b"0" * 5000 + b"}}",
    "nan": b'{"training": {"lr": NaN}}',
    "infinity": b'{"training": {"l2": Infinity}}',
    "megabyte-string": b'{"data": {"dataset": "' + b"x" * 500_000 + b'"}}',
    "over-a-megabyte": b"{}" + b" " * (1 << 20),
    "empty": b"",
    "a-list": b"[]",
}


@pytest.mark.parametrize("content", CONFIG_FILES.values(), ids=CONFIG_FILES.keys())
def test_train_refuses_a_hostile_config_file(tmp_path, content, cli):
    path = tmp_path / "config.json"
    path.write_bytes(content)
    proc = cli("train", "--config", path, "--out", "X", cwd=tmp_path)
    one_line(proc, 2, path)
    assert len(proc.stderr) < 400, proc.stderr  # a short line, not the file echoed back
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_train_refuses_a_fifo_or_a_directory_as_config(tmp_path, cli):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # reading it would wait for a writer for ever
    one_line(cli("train", "--config", fifo, "--out", "X", cwd=tmp_path), 2, fifo,
             "not a regular file")
    one_line(cli("train", "--config", tmp_path, "--out", "X", cwd=tmp_path), 2, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo.json"]


TRAIN_DATA = [
    ("missing-file", ["--dataset", "idx", "--data-dir", "DATA:missing"],
     ["t10k-labels-idx1-ubyte"]),
    ("corrupt", ["--dataset", "idx", "--data-dir", "DATA:corrupt"], ["corrupt"]),
    ("truncated", ["--dataset", "idx", "--data-dir", "DATA:truncated"], ["truncated"]),
    ("cut-gzip", ["--dataset", "idx", "--data-dir", "DATA:cut"], ["t10k-images-idx3-ubyte"]),
    ("header-overflows", ["--dataset", "idx", "--data-dir", "DATA:overflow"],
     ["train-images-idx3-ubyte", "truncated"]),
    ("digest-mismatch", ["--dataset", "mnist", "--data-dir", "TINY"], ["sha256 mismatch"]),
]


@pytest.mark.parametrize("args, needles", [c[1:] for c in TRAIN_DATA],
                         ids=[c[0] for c in TRAIN_DATA])
def test_train_refuses_broken_data(tmp_path, bad_data, tiny_idx_dir, args, needles, cli):
    given = bad_data | {"TINY": tiny_idx_dir}
    argv = [given[a.removeprefix("DATA:")] if a.startswith("DATA:") or a == "TINY" else a
            for a in args]
    proc = cli("train", *argv, "--out", tmp_path / "out", "--quiet", cwd=tmp_path)
    one_line(proc, 2, *needles)
    assert list(tmp_path.iterdir()) == []


def _dangling(tmp_path: Path) -> Path:
    (tmp_path / "link").symlink_to(tmp_path / "nowhere" / "X")
    return tmp_path / "link"


def _a_file(tmp_path: Path) -> Path:
    (tmp_path / "afile").write_text("mine")
    return tmp_path / "afile"


def _symlink_loop(tmp_path: Path) -> Path:
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    return tmp_path / "loop1"


def _not_empty(tmp_path: Path) -> Path:
    (tmp_path / "X").mkdir()
    (tmp_path / "X" / "keep.txt").write_text("mine")
    return tmp_path / "X"


HOSTILE_TRAIN = [
    ("out-not-empty", ["--out", _not_empty], 2, ["--out", "X"]),
    ("out-is-a-file", ["--out", _a_file], 2, ["afile", "not a directory"]),
    ("out-dangling-link", ["--out", _dangling], 2, ["link", "symbolic link to nothing"]),
    # hostile tester 17: refused only once the data had loaded (here: no data to load)
    ("out-under-a-file", ["--data-dir", "/nonexistent/data", "--out",
                          lambda t: _a_file(t) / "X"], 1,
     ["afile is a file where a folder goes"]),
    ("out-name-too-long", ["--out", lambda t: t / "made" / ("x" * 300) / "X"], 1,
     ["File name too long"]),
    ("data-dir-symlink-loop", ["--data-dir", _symlink_loop, "--out", "X"], 2,
     ["loop1", "cannot resolve"]),
    ("batch-norm-batch-of-1", ["--batch-size", 1, "--out", "X"], 2,
     ["training.batch_size", "at least 2"]),
    ("last-batch-of-1", ["--train-limit", 129, "--batch-size", 128, "--out", "X"], 2,
     ["129 training images in batches of 128", "batch of 1"]),
    ("one-training-image", ["--train-limit", 1, "--out", "X"], 2, ["batch of 1"]),
    # hostile tester 25: trained on the images there are, config.json said 60000
    ("train-limit-past-the-data", ["--train-limit", 60000, "--out", "X"], 2,
     ["--train-limit 60000: the data has", "give at most that"]),
    ("too-large-for-memory", ["--hidden-size", 65536, "--hidden-layers", 16, "--out",
                              lambda t: t / "a" / "b" / "X"], 2,
     ["16 hidden layer(s) of 65536 units", "GB to train", "available"]),
]


@pytest.mark.parametrize("args, code, needles", [c[1:] for c in HOSTILE_TRAIN],
                         ids=[c[0] for c in HOSTILE_TRAIN])
def test_train_refuses_a_hostile_out_or_setting_and_changes_nothing(tmp_path, tiny_idx_dir,
                                                                     args, code, needles, cli):
    work = tmp_path / "work"
    work.mkdir()
    argv = [a(work) if callable(a) else a for a in args]
    if "--data-dir" not in argv:
        argv = ["--data-dir", tiny_idx_dir, *argv]
    before = snapshot(work)
    proc = cli("train", *TINY_TRAIN, *argv, cwd=work)
    one_line(proc, code, *needles)
    assert snapshot(work) == before  # nothing made, nothing changed


# ------------------------------------------------------------------ read-only and full disks

@pytest.fixture
def tmpfs(tmp_path):
    """Mount a real tmpfs (``options`` e.g. "ro" or "size=64k") on a new folder."""
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        target = tmp_path / name
        target.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount here ({proc.stderr.strip()}): needs root and mount(8)")
        mounted.append(target)
        return target

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


@pytest.mark.slow  # mounts a tmpfs
def test_train_into_a_read_only_file_system(tmp_path, tiny_idx_dir, tmpfs, cli):
    ro = tmpfs("ro", "ro")
    proc = cli("train", *TINY_TRAIN, "--data-dir", tiny_idx_dir, "--out", ro / "a" / "X",
               cwd=tmp_path)
    one_line(proc, 1, "Read-only file system", ro / "a")
    assert list(ro.iterdir()) == []


@pytest.mark.slow  # mounts a tmpfs
def test_train_onto_a_disk_that_fills(tmp_path, tiny_idx_dir, tmpfs, cli):
    disk = tmpfs("disk", "size=64k")  # config and history fit; the checkpoints do not
    proc = cli("train", *TINY_TRAIN, "--data-dir", tiny_idx_dir, "--hidden-size", 64,
               "--out", disk / "X", cwd=tmp_path)
    one_line(proc, 1, "No space left on device", disk / "X")
    for path in (disk / "X").rglob("*"):
        assert not path.name.endswith(".tmp"), path
        if path.suffix == ".json":
            json.loads(path.read_text())  # whole, or not there


# ------------------------------------------------------------------ what needs a real process

@pytest.mark.slow
def test_a_train_that_fails_before_its_first_epoch_removes_only_what_it_made(tmp_path,
                                                                               tiny_idx_dir):
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "mine.txt").write_text("mine")
    proc = sweep("train", *TINY_TRAIN, "--data-dir", tiny_idx_dir, "--out",
                 keep / "new" / "X", cwd=tmp_path, faults={"SWEEP_FAULT_RAISE": "all"})
    assert proc.returncode == 1 and "injected fault" in proc.stderr, proc.stderr
    assert snapshot(tmp_path) == {"keep": b"<dir>", "keep/mine.txt": b"mine"}
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = sweep("train", *TINY_TRAIN, "--data-dir", tiny_idx_dir, "--out", empty,
                 cwd=tmp_path, faults={"SWEEP_FAULT_RAISE": "all"})
    assert proc.returncode == 1, proc.stderr
    assert empty.is_dir() and list(empty.iterdir()) == []  # there before: emptied, kept


@pytest.mark.slow
def test_a_train_that_fails_after_an_epoch_keeps_its_record(tmp_path, tiny_idx_dir):
    out = tmp_path / "X"
    proc = sweep("train", *TINY_TRAIN, "--data-dir", tiny_idx_dir, "--out", out, cwd=tmp_path,
                 faults={"SWEEP_FAULT_RAISE": "all", "SWEEP_FAULT_RAISE_EPOCH": 2})
    assert proc.returncode == 1, proc.stderr
    assert json.loads((out / "metrics.json").read_text())["status"] == "failed"
    assert len((out / "history.csv").read_text().splitlines()) == 2  # header and epoch 1


@pytest.mark.slow
def test_two_trains_into_one_folder_the_second_is_refused(tmp_path, tiny_idx_dir):
    out = tmp_path / "X"
    first = Running("train", *TINY_TRAIN, "--data-dir", tiny_idx_dir, "--out", out,
                    cwd=tmp_path, log=tmp_path / "first", faults={"SWEEP_FAULT_SLEEP": 2})
    try:
        wait_for(lambda: (out / "config.json").exists(), 60, "the first run's config.json")
        second = sweep("train", *TINY_TRAIN, "--data-dir", tiny_idx_dir, "--epochs", 1,
                       "--out", out, cwd=tmp_path)
        assert first.wait(120) == 0, first.output()
    finally:
        first.close()
    line = one_line(second, 2, out)
    assert any(w in line for w in ("another run is writing there", "not empty")), line
    assert json.loads((out / "config.json").read_text())["training"]["epochs"] == 2
    assert len((out / "history.csv").read_text().splitlines()) == 3  # the first run, whole


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))


@pytest.mark.slow
def test_out_of_memory_in_training_is_one_line_and_leaves_nothing(tmp_path, tiny_idx_dir):
    """The estimate says it fits (MemAvailable is large), but this process may use only
    3 GiB of address space: numpy's MemoryError, as on a machine that is really full."""
    out = tmp_path / "runs" / "X"
    proc = subprocess.run(
        [sys.executable, "-m", "sweep", "train", *map(str, TINY_TRAIN), "--data-dir",
         str(tiny_idx_dir), "--hidden-size", "12000", "--hidden-layers", "3", "--out",
         str(out)], cwd=tmp_path, env=sweep_env() | {"OPENBLAS_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=300, preexec_fn=_limit_address_space)
    one_line(proc, 1, "out of memory", out, "GB")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_train_into_a_name_that_is_not_utf8(tmp_path, tiny_idx_dir):
    out = b"caf\xe9-run"  # a Latin-1 name on a UTF-8 system
    argv = [sys.executable, "-m", "sweep", "train", *map(str, TINY_TRAIN), "--data-dir",
            str(tiny_idx_dir), "--epochs", "1", "--out", out]
    proc = subprocess.run(argv, cwd=tmp_path, env=sweep_env(), capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith(b"-> " + out)  # the name as it is, byte for byte
    assert (tmp_path / os.fsdecode(out) / "metrics.json").is_file()


@pytest.mark.slow
def test_train_killed_half_way_leaves_whole_files_and_a_refusing_folder(tmp_path,
                                                                          tiny_idx_dir, cli):
    out = tmp_path / "X"
    run = Running("train", *TINY_TRAIN, "--data-dir", tiny_idx_dir, "--epochs", 3, "--out",
                  out, cwd=tmp_path, log=tmp_path / "killed", faults={"SWEEP_FAULT_SLEEP": 3})
    try:
        wait_for(lambda: (out / "history.csv").exists(), 60, "the first epoch")
        run.signal(signal.SIGKILL)
        run.wait(30)
    finally:
        run.close()
    assert json.loads((out / "config.json").read_text())["training"]["epochs"] == 3
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,lr_end,") and len(rows) >= 2
    assert not list(out.rglob(".*.tmp")), list(out.rglob("*"))
    before = snapshot(out)
    proc = cli("predict", "--experiment", out, "--index", "0", cwd=tmp_path)
    assert proc.returncode == 1 and "checkpoint" in proc.stderr, proc.stderr  # cut short
    proc = cli("train", "--config", out / "config.json", "--out", out, cwd=tmp_path)
    one_line(proc, 2, "not empty")  # the dead run's lock went with it
    assert snapshot(out) == before


@pytest.mark.slow
def test_train_interrupted_in_its_first_epoch_leaves_nothing(tmp_path, tiny_idx_dir):
    out = tmp_path / "runs" / "X"
    (tmp_path / "log").mkdir()
    run = Running("train", *TINY_TRAIN, "--data-dir", tiny_idx_dir, "--out", out,
                  cwd=tmp_path, log=tmp_path / "log" / "int", faults={"SWEEP_FAULT_SLEEP": 5})
    try:
        wait_for(lambda: (out / "config.json").exists(), 60, "the run's config.json")
        run.signal(signal.SIGINT)
        assert run.wait(30) == 130, run.output()
    finally:
        run.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log"]

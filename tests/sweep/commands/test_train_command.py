"""`python -m sweep train|predict|data` in a subprocess, as a user runs them."""

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlp.data import load_dataset
from mlp.experiment import load_experiment
from mlp.train import evaluate

TIMEOUT = 300
HISTORY_EXACT = ["epoch", "lr_end", "train_loss", "train_acc", "val_loss", "val_acc"]


def sweep(*args: str, cwd: Path, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "MLP_DATA_DIR"}
    full_env["MPLBACKEND"] = "Agg"
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "sweep", *map(str, args)], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=TIMEOUT)


def assert_one_line_error(proc: subprocess.CompletedProcess, command: str, *culprits: str):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"sweep {command}: error: "), lines[0]
    for culprit in culprits:
        assert culprit in lines[0], (culprit, lines[0])
    assert "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def exp_a(work, tiny_idx_dir) -> Path:
    proc = sweep("train", "--dataset", "idx", "--data-dir", tiny_idx_dir, "--epochs", "2",
                 "--hidden-size", "64", "--out", "A", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^completed: best epoch \d, val acc", proc.stdout, re.M), proc.stdout
    assert len(re.findall(r"^epoch +\d+ ", proc.stdout, re.M)) == 2
    return work / "A"


@pytest.fixture(scope="module")
def tiny(tiny_idx_dir):
    return load_dataset("idx", data_dir=tiny_idx_dir)


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------------------ train

def test_train_writes_the_experiment(exp_a):
    for rel in ("config.json", "history.csv", "metrics.json", "checkpoints/best.npz",
                "checkpoints/last.npz", "plots/learning_curves.png"):
        assert (exp_a / rel).is_file(), rel
    assert len(read_rows(exp_a / "history.csv")) == 2
    doc = json.loads((exp_a / "config.json").read_text())
    assert doc["model"]["hidden_size"] == 64 and doc["training"]["epochs"] == 2


def test_train_from_config_reproduces_the_run(exp_a, work):
    proc = sweep("train", "--config", exp_a / "config.json", "--out", "B", cwd=work)
    assert proc.returncode == 0, proc.stderr
    b = work / "B"
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


def test_divergence_exits_1_and_records_where(work, tiny_idx_dir):
    proc = sweep("train", "--dataset", "idx", "--data-dir", tiny_idx_dir, "--epochs", "2",
                 "--hidden-size", "64", "--hidden-layers", "3", "--set", "lr=100",
                 "--set", "model.batch_norm=false", "--no-plots", "--out", "D", cwd=work)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    match = re.search(r"diverged at epoch (\d+), step (\d+)", proc.stdout)
    assert match, proc.stdout
    doc = json.loads((work / "D" / "metrics.json").read_text())
    assert doc["status"] == "diverged"
    assert doc["diverged"] == {"epoch": int(match[1]), "step": int(match[2])}


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
def test_bad_values_exit_2_with_one_line(tmp_path, args, culprits):
    proc = sweep("train", *args, "--out", "X", cwd=tmp_path)
    assert_one_line_error(proc, "train", *culprits)
    assert proc.stdout == ""
    assert list(tmp_path.iterdir()) == []  # neither X nor a default runs/ directory


def test_out_must_be_empty(tmp_path, tiny_idx_dir):
    (tmp_path / "X").mkdir()
    (tmp_path / "X" / "keep.txt").write_text("mine")
    proc = sweep("train", "--dataset", "idx", "--data-dir", tiny_idx_dir, "--out", "X",
                 cwd=tmp_path)
    assert_one_line_error(proc, "train", "--out", "X")
    assert [p.name for p in (tmp_path / "X").iterdir()] == ["keep.txt"]


# ---------------------------------------------------------------------------- predict

def test_predict_one_image(exp_a, work, tiny):
    proc = sweep("predict", "--experiment", exp_a, "--index", "0", cwd=work)
    assert proc.returncode == 0, proc.stderr
    png = exp_a / "predictions" / "index-0.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = load_experiment(exp_a, tiny).model
    _, _, probs = evaluate(model, tiny.test_x, tiny.test_y.astype(np.intp))
    expected = f"test #0: predicted {probs[0].argmax()} ({probs[0].max():.1%}), " \
               f"true {tiny.test_y[0]}"
    assert expected in proc.stdout, proc.stdout
    assert f"figure: {png}" in proc.stdout


def test_predict_misclassified_grid(exp_a, work, tiny, tmp_path):
    out = tmp_path / "grid.png"
    proc = sweep("predict", "--experiment", exp_a, "--wrong", "4", "--out", out, cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = load_experiment(exp_a, tiny).model
    _, _, probs = evaluate(model, tiny.test_x, tiny.test_y.astype(np.intp))
    wrong = np.flatnonzero(probs.argmax(axis=1) != tiny.test_y)[:4]
    assert len(wrong) == 4  # a 2-epoch net on 1000 images gets ~20% of the test set wrong
    printed = [int(i) for i in re.findall(r"^test #(\d+): .*, WRONG$", proc.stdout, re.M)]
    assert printed == wrong.tolist()


def test_predict_index_out_of_range(exp_a, work, tmp_path):
    proc = sweep("predict", "--experiment", exp_a, "--index", "3", "300",
                 "--out", tmp_path / "p.png", cwd=work)
    assert_one_line_error(proc, "predict", "--index 300", "0 to 299")
    assert list(tmp_path.iterdir()) == []


def test_predict_without_checkpoint(exp_a, tmp_path):
    exp = tmp_path / "E"
    exp.mkdir()
    shutil.copy(exp_a / "config.json", exp / "config.json")
    proc = sweep("predict", "--experiment", exp, "--index", "0", cwd=tmp_path)
    assert_one_line_error(proc, "predict", str(exp), "checkpoint")
    assert [p.name for p in exp.iterdir()] == ["config.json"]
    proc = sweep("predict", "--experiment", tmp_path / "none", "--index", "0", cwd=tmp_path)
    assert_one_line_error(proc, "predict", "none")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["E"]


def test_predict_with_a_corrupt_checkpoint(exp_a, tmp_path):
    exp = tmp_path / "C"
    shutil.copytree(exp_a, exp, ignore=shutil.ignore_patterns("predictions", "plots"))
    (exp / "checkpoints" / "best.npz").write_bytes(b"not a zip")
    proc = sweep("predict", "--experiment", exp, "--index", "0", cwd=tmp_path)
    assert_one_line_error(proc, "predict", "best.npz")
    assert not (exp / "predictions").exists()


# ------------------------------------------------------------------------------- data

def test_data_prints_the_source(tiny_idx_dir, tmp_path):
    proc = sweep("data", "--dataset", "idx", "--data-dir", tiny_idx_dir, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "idx: 1000 train, 200 validation, 300 test images, 10 classes" in proc.stdout
    assert re.search(rf"^source: data dir {re.escape(str(tiny_idx_dir.resolve()))}\b",
                     proc.stdout, re.M), proc.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, culprit", [
    (["--dataset", "nope"], "nope"),
    (["--dataset", "idx"], "data.data_dir"),
    (["--dataset", "idx", "--data-dir", "/nonexistent"], "/nonexistent"),
])
def test_data_bad_values(tmp_path, args, culprit):
    proc = sweep("data", *args, cwd=tmp_path)
    assert_one_line_error(proc, "data", culprit)


def test_modified_cache_is_refused_not_labelled_verified(tmp_path, mnist):
    """Every test label in the MNIST cache set to 7: same shape, same record. This used
    to train to 19.75% test accuracy from a cache labelled verified."""
    from mlp.data import cache_root

    xdg = tmp_path / "xdg"
    cache = xdg / "mlp-sweep" / "mnist"
    shutil.copytree(cache_root() / "mnist", cache, ignore=shutil.ignore_patterns(".*"))
    env = {"XDG_CACHE_HOME": str(xdg), "MLP_DATA_MIRRORS": "http://127.0.0.1:9/"}
    proc = sweep("data", cwd=tmp_path, env=env)
    assert proc.returncode == 0 and f"source: cache {cache} (verified" in proc.stdout, proc
    np.save(cache / "test_y.npy", np.full(10_000, 7, np.uint8))
    proc = sweep("data", cwd=tmp_path, env=env)
    assert_one_line_error(proc, "data", str(cache / "test_y.npy"), f"delete {cache}")
    proc = sweep("train", "--epochs", "1", "--train-limit", "500", "--hidden-size", "16",
                 "--no-plots", "--out", "X", cwd=tmp_path, env=env)
    assert_one_line_error(proc, "train", str(cache / "test_y.npy"))
    assert not (tmp_path / "X").exists()


# ------------------------------------------------------------- hostile --config files

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
def test_train_refuses_a_hostile_config_file(tmp_path, content):
    path = tmp_path / "config.json"
    path.write_bytes(content)
    proc = sweep("train", "--config", path, "--out", "X", cwd=tmp_path)
    assert_one_line_error(proc, "train", str(path))
    assert len(proc.stderr) < 400, proc.stderr  # a short line, not the file echoed back
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_train_refuses_a_fifo_or_a_directory_as_config(tmp_path):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    proc = sweep("train", "--config", fifo, "--out", "X", cwd=tmp_path)
    assert_one_line_error(proc, "train", str(fifo), "not a regular file")
    proc = sweep("train", "--config", tmp_path, "--out", "X", cwd=tmp_path)
    assert_one_line_error(proc, "train", str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo.json"]


def test_dropout_that_would_drop_every_unit_is_refused(tmp_path, tiny_idx_dir):
    # 0.999 rounds to 256 of 256 random-byte steps: it divided by zero in training
    proc = sweep("train", "--dataset", "idx", "--data-dir", tiny_idx_dir, "--dropout", "0.999",
                 "--out", "X", cwd=tmp_path)
    assert_one_line_error(proc, "train", "model.dropout", "0.999")
    assert list(tmp_path.iterdir()) == []

"""``sweep data`` (sweep/commands/data.py): which dataset, from where, verified. In process:
what it prints, its refusals, a cache whose content was changed. On a real
pseudo-terminal: the download's progress bars fit a 40-column window."""

from __future__ import annotations

import functools
import re
import shutil
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from mlp.idx import write_idx
from tests.sweep.faults.harness import sweep_env
from tests.terminal import Screen, Terminal


def one_line(proc, *culprits: object, code: int = 2) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sweep data: error: "), proc.stderr
    for culprit in culprits:
        assert str(culprit) in lines[0], (culprit, lines[0])


def test_data_prints_the_source(tiny_idx_dir, tmp_path, cli):
    proc = cli("data", "--dataset", "idx", "--data-dir", tiny_idx_dir, cwd=tmp_path)
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
def test_data_bad_values(tmp_path, args, culprit, cli):
    one_line(cli("data", *args, cwd=tmp_path), culprit)


def test_modified_cache_is_refused_not_labelled_verified(tmp_path, mnist, cli):
    """Every test label in the MNIST cache set to 7: same shape, same record. This used
    to train to 19.75% test accuracy from a cache labelled verified."""
    from mlp.data import cache_root

    xdg = tmp_path / "xdg"
    cache = xdg / "mlp-sweep" / "mnist"
    shutil.copytree(cache_root() / "mnist", cache, ignore=shutil.ignore_patterns(".*"))
    env = {"XDG_CACHE_HOME": str(xdg), "MLP_DATA_MIRRORS": "http://127.0.0.1:9/"}
    proc = cli("data", cwd=tmp_path, env=env)
    assert proc.returncode == 0 and f"source: cache {cache} (verified" in proc.stdout, proc
    np.save(cache / "test_y.npy", np.full(10_000, 7, np.uint8))
    proc = cli("data", cwd=tmp_path, env=env)
    one_line(proc, cache / "test_y.npy", f"delete {cache}", code=1)  # the machine's state
    proc = cli("train", "--epochs", "1", "--train-limit", "500", "--hidden-size", "16",
               "--no-plots", "--out", "X", cwd=tmp_path, env=env)
    assert proc.returncode == 1 and str(cache / "test_y.npy") in proc.stderr, proc.stderr
    assert not (tmp_path / "X").exists()


class _SlowHandler(SimpleHTTPRequestHandler):
    """Serves files in small pieces with a pause between them, like a slow mirror."""

    def log_message(self, *args: object) -> None:
        pass

    def copyfile(self, source, outputfile) -> None:  # noqa: ANN001 (http.server's signature)
        while chunk := source.read(256 * 1024):
            outputfile.write(chunk)
            time.sleep(0.02)


@pytest.fixture(scope="module")
def mnist_mirror(mnist, tmp_path_factory):
    """The real MNIST as the four IDX files a mirror serves, on 127.0.0.1."""
    root = tmp_path_factory.mktemp("mirror")
    # the official training file is the training split followed by the validation one
    write_idx(root / "train-images-idx3-ubyte.gz", np.concatenate([mnist.train_x, mnist.val_x]))
    write_idx(root / "train-labels-idx1-ubyte.gz", np.concatenate([mnist.train_y, mnist.val_y]))
    write_idx(root / "t10k-images-idx3-ubyte.gz", mnist.test_x)
    write_idx(root / "t10k-labels-idx1-ubyte.gz", mnist.test_y)
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(_SlowHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_the_download_bar_fits_the_terminal(tmp_path, mnist_mirror):
    """A real download from a slow mirror on a 40-column pseudo-terminal: one finished
    bar per file, each whole on its row, none wrapped."""
    columns = 40
    env = sweep_env() | {"TERM": "xterm", "XDG_CACHE_HOME": str(tmp_path / "cache"),
                         "MLP_DATA_MIRRORS": mnist_mirror, "NO_PROXY": "127.0.0.1",
                         "no_proxy": "127.0.0.1"}
    term = Terminal([sys.executable, "-m", "sweep", "data", "--dataset", "mnist"],
                    columns=columns, env=env, cwd=tmp_path)
    try:
        code = term.wait(180)
    finally:
        term.close()
    output = term.output
    assert code == 0, output[-3000:]
    assert f"downloaded from {mnist_mirror}" in output
    assert output.count("\r\x1b[2K") >= 8, output  # redrawn while the files came in
    screen = Screen(output, columns)
    bars = [i for i, row in enumerate(screen.rows) if " MB" in row]
    # one finished bar per file, each whole on its own row
    assert len(bars) == 4, "\n".join(screen.rows)
    assert not set(bars) & screen.wrapped, "\n".join(screen.rows)
    for i in bars:
        assert len(screen.rows[i]) <= columns - 1 and "100%" in screen.rows[i], screen.rows[i]
    assert Path(tmp_path / "cache" / "mlp-sweep").is_dir()

"""The progress lines fit the terminal: a real ``sweep run`` and a real download by
``sweep data`` on pseudo-terminals of 80 and 40 columns leave no wrapped row behind."""

from __future__ import annotations

import functools
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

TRIALS = 6


@pytest.mark.parametrize("columns", [80, 40])
def test_the_run_progress_bar_fits_the_terminal(columns, tmp_path, data_args, tiny_space):
    argv = [sys.executable, "-m", "sweep", "run", "--trials", str(TRIALS), "--jobs", "2",
            "--epochs", "2", *data_args, "--space", str(tiny_space), "--pruner", "none",
            "--studies-dir", str(tmp_path / "studies"), "--study", "bar", "--no-report",
            "--no-plots"]
    # each epoch held a moment, so that the bar is redrawn many times
    term = Terminal(argv, columns=columns, env=sweep_env({"SWEEP_FAULT_SLEEP": 0.4}) | {
        "TERM": "xterm"}, cwd=tmp_path)
    try:
        code = term.wait(180)
    finally:
        term.close()
    assert code == 0, term.output[-3000:]
    output = term.output
    redraws = output.count("\r\x1b[2K[")
    assert redraws >= 5, output  # the bar was drawn, and redrawn, on the terminal
    screen = Screen(output, columns)
    bars = [i for i, row in enumerate(screen.rows) if row.startswith("[") and "] " in row]
    # one bar left on the screen (the final one), whole, on one row
    assert len(bars) == 1, "\n".join(screen.rows)
    assert not set(bars) & screen.wrapped, "\n".join(screen.rows)
    assert len(screen.rows[bars[0]]) <= columns - 1
    assert f"{TRIALS}/{TRIALS} trial" in screen.rows[bars[0]]


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


@pytest.mark.parametrize("columns", [80, 40])
def test_the_download_bar_fits_the_terminal(columns, tmp_path, mnist_mirror):
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

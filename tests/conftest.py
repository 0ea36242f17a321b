"""Shared data fixtures.

`mnist` is the real dataset from the per-user cache, so it is fetched (through the
real sources) once per machine, not once per test run. `tiny_idx_dir` is a small
slice of it written as IDX files, for tests that train end to end in seconds and
for subprocesses, which get the directory rather than arrays.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlp.data import load_dataset
from mlp.dataset import Dataset
from mlp.idx import write_idx

TINY_TRAIN = 1200  # -> 1000 train + 200 validation images under the `idx` split (N // 6)
TINY_TEST = 300


@pytest.fixture(scope="session")
def mnist() -> Dataset:
    return load_dataset("mnist")


@pytest.fixture(scope="session")
def tiny_idx_dir(mnist: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 1200 training and 300 test images of MNIST as four .gz IDX files."""
    folder = tmp_path_factory.mktemp("tiny-idx")
    write_idx(folder / "train-images-idx3-ubyte.gz", mnist.train_x[:TINY_TRAIN])
    write_idx(folder / "train-labels-idx1-ubyte.gz", mnist.train_y[:TINY_TRAIN])
    write_idx(folder / "t10k-images-idx3-ubyte.gz", mnist.test_x[:TINY_TEST])
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", mnist.test_y[:TINY_TEST])
    return folder

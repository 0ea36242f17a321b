"""Fixtures shared by the tests of mlp/ that train on the tiny dataset."""

import pytest
from threadpoolctl import threadpool_limits

from mlp.data import load_dataset
from mlp.dataset import Dataset


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """One BLAS thread: on 2 cores shared with other jobs, OpenBLAS threads that wait for
    each other make a 2-thread run up to 10x slower. Results do not depend on it here."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def tiny(tiny_idx_dir) -> Dataset:
    return load_dataset("idx", data_dir=tiny_idx_dir)

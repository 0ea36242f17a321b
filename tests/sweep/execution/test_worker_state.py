"""What a worker process keeps between trials, what it must not carry over, and what
it must not make (a journal of its own)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from mlp.config import Config
from sweep.execution import trial as T


def test_a_trials_peak_memory_is_its_own_not_the_workers_lifetime_peak():
    big = np.ones(200 * 2**20 // 8)  # 200 MB, as a large trial before this one
    big[::512] = 2.0
    before = T.peak_rss_mb()
    del big
    T.reset_peak_rss()
    after = T.peak_rss_mb()
    assert before - after > 150, (before, after)


def test_replaced_data_files_are_read_afresh(tmp_path, tiny_idx_dir):
    folder = tmp_path / "data"
    shutil.copytree(tiny_idx_dir, folder)
    config = Config().with_overrides({"data.dataset": "idx", "data.data_dir": str(folder)})
    first = T.dataset_for(config)
    assert T.dataset_for(config) is first  # kept while the files stay
    labels = folder / "train-labels-idx1-ubyte.gz"
    replacement = tmp_path / "new.gz"
    shutil.copy(labels, replacement)
    os.replace(replacement, labels)  # replaced atomically, as a new download would be
    again = T.dataset_for(config)
    assert again is not first
    assert sum(k[1] == str(folder) for k in T._DATA) == 1  # the stale one is dropped


TWO_THREADS = """
import sys, threading
import sweep
kw = dict(epochs=1, dataset="idx", data_dir=sys.argv[1], studies_dir=sys.argv[2], jobs=1,
          plots=False, report=False)
threads = [threading.Thread(target=sweep.run, args=(name,), kwargs=dict(trials=2, **kw))
           for name in ("left", "right")]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("stderr is still the terminal's", file=sys.stderr, flush=True)
"""


@pytest.mark.slow
def test_two_runs_in_two_threads_leave_stderr_alone(tmp_path, tiny_idx_dir):
    import subprocess
    import sys

    from tests.sweep.conftest import BLAS_VARS

    env = {k: v for k, v in os.environ.items() if k not in BLAS_VARS}
    proc = subprocess.run([sys.executable, "-c", TWO_THREADS, str(tiny_idx_dir),
                           str(tmp_path)], capture_output=True, text=True, timeout=300,
                          env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "stderr is still the terminal's" in proc.stderr
    for name in ("left", "right"):
        assert f"study '{name}'" in proc.stderr + proc.stdout
        log = tmp_path / name / "workers.log"
        assert "stderr is still" not in (log.read_text() if log.exists() else "")


def test_a_worker_that_cannot_see_the_runs_journal_says_so_and_makes_none(tmp_path):
    """A worker (a Dask worker on a machine without the run's studies folder, or in
    another folder than a relative one) never makes a journal, lock or folder of its own:
    it names the journal it cannot see and its machine."""
    import socket

    from sweep.errors import StudyError
    from sweep.execution.trial import TrialJob
    from sweep.study.paths import StudyPaths
    from sweep.study.settings import Settings
    from sweep.study.space import default_space

    job = TrialJob(StudyPaths(tmp_path / "elsewhere" / "s"), None,
                   Settings(Config(), default_space()), 3)
    with pytest.raises(StudyError) as caught:
        T._storage(job)
    message = str(caught.value)
    assert str(job.paths.journal) in message and socket.gethostname() in message, message
    assert not (tmp_path / "elsewhere").exists()

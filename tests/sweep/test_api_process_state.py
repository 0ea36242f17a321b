"""`sweep.run` leaves the caller's process as it found it (sweep/process_state.py): no
environment variable set by a library it imported, no helper process left as a child.
A real call in a fresh interpreter, with real worker processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sweep.faults.harness import sweep_env

pytestmark = pytest.mark.slow

SCRIPT = """
import json, os, subprocess, sys
import sweep
env0 = dict(os.environ)
def children():
    out = subprocess.run(["ps", "--ppid", str(os.getpid()), "-o", "pid=,args="],
                         capture_output=True, text=True).stdout.splitlines()
    return [k for k in out if " ps " not in k]
runs = []
for n in (1, 2):  # a second call starts what it needs again
    sweep.run("api", trials=n, jobs=2, epochs=1, dataset="idx", data_dir=sys.argv[1],
              studies_dir=sys.argv[2], space=sys.argv[3], pruner="none", quiet=True,
              report=False, plots="none")
    changed = sorted(k for k in set(os.environ) | set(env0) if os.environ.get(k) != env0.get(k))
    runs.append({"changed": changed, "children": children()})
print(json.dumps(runs))
"""


def test_run_leaves_the_callers_environment_and_children_as_they_were(
        tmp_path: Path, data_args: list[str], tiny_space: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, data_args[-1], str(tmp_path / "s"),
                           str(tiny_space)], cwd=tmp_path, env=sweep_env(),
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    for run in json.loads(proc.stdout.strip().splitlines()[-1]):
        assert run["changed"] == [], run  # joblib's import set KMP_INIT_AT_FORK
        assert run["children"] == [], run  # resource trackers stayed as children
    assert "leaked" not in proc.stderr, proc.stderr

"""The training memory estimate against what a real training process allocates."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlp.config import Config, ConfigError
from mlp.memory import TooLargeError, available_bytes, check_fits, training_bytes

# A fresh process trains one epoch on the first 5000 MNIST images, held in anonymous
# memory before the baseline is taken (so the dataset's pages are not counted), and
# reports its resident-memory growth and the estimate.
PROBE = """
import dataclasses, json, sys
import numpy as np
from threadpoolctl import threadpool_limits
from mlp.config import Config
from mlp.data import load_dataset
from mlp.memory import training_bytes
from mlp.train import evaluate, train

config = Config().with_overrides(json.loads(sys.argv[1]))
d = load_dataset("mnist", train_limit=5000)
d = dataclasses.replace(d, **{k: np.array(getattr(d, k)) for k in
                              ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")})
def status(key):
    with open("/proc/self/status") as f:
        return int(f.read().split(key + ":")[1].split()[0]) * 1024

# the peak so far belongs to loading the data (a cache check, a rebuild): reset it, so
# that the peak below is training's own
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
base = status("VmRSS")
with threadpool_limits(1):
    result = train(config, d)
    evaluate(result.model, d.test_x, d.test_y.astype(np.intp))
peak = status("VmHWM")
est = training_bytes(config, d.n_features, d.n_classes, n_train=len(d.train_y),
                     n_val=len(d.val_y), n_test=len(d.test_y))
print(json.dumps([peak - base, est]))
"""


@pytest.mark.parametrize("overrides", [
    {"hidden_size": 2048, "hidden_layers": 2, "epochs": 1},
    {"hidden_size": 4096, "batch_norm": False, "augment": True, "epochs": 1},
], ids=["2048x2-bn", "4096-augment"])
@pytest.mark.slow  # measures a training in a subprocess
def test_estimate_covers_what_training_allocates(mnist, overrides):
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(overrides)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    growth, estimate = json.loads(proc.stdout)
    assert growth > 100e6  # the networks are big enough for the comparison to mean something
    assert growth <= estimate <= 2 * growth, (growth / 1e6, estimate / 1e6)


def test_the_estimate_grows_with_what_it_counts():
    base = Config().with_overrides({"hidden_size": 1024})
    n = training_bytes(base, 784, 10)
    for key, value in (("hidden_size", 2048), ("hidden_layers", 3), ("batch_size", 1024),
                       ("augment", True), ("eval_batch_size", 10_000)):
        assert training_bytes(base.with_overrides({key: value}), 784, 10) > n, key
    # 16 layers of 65536 units: 15 * 65536^2 weights, five float32 copies or more
    huge = Config().with_overrides({"hidden_size": 65536, "hidden_layers": 16})
    assert training_bytes(huge, 784, 10) > 15 * 65536**2 * 4 * 5


def test_check_fits_refuses_with_the_estimate_in_gb():
    huge = Config().with_overrides({"hidden_size": 65536, "hidden_layers": 16})
    with pytest.raises(TooLargeError) as e:
        check_fits(huge, 784, 10, available=8 * 10**9)
    assert isinstance(e.value, ConfigError)
    message = str(e.value)
    assert "16 hidden layer(s) of 65536 units" in message and "8.0 GB" in message
    need = training_bytes(huge, 784, 10)
    assert f"{need / 1e9:.1f} GB" in message and "\n" not in message
    assert check_fits(Config(), 784, 10, available=8 * 10**9) == training_bytes(Config(), 784, 10)


def test_available_memory_is_read_from_meminfo(tmp_path):
    have = available_bytes()
    assert have is not None and 0 < have < 2**50
    fake, none = tmp_path / "meminfo", tmp_path / "none"
    fake.write_text("MemTotal:       1000 kB\nMemAvailable:     512 kB\n")
    assert available_bytes(fake, none) == 512 * 1024
    fake.write_text("garbage")
    assert available_bytes(fake, none) is None
    assert available_bytes(none, none) is None


@pytest.mark.parametrize(("files", "room"), [
    ({"memory.max": "3000000\n", "memory.current": "1000000\n"}, 2_000_000),
    ({"memory.max": "max\n", "memory.current": "1000000\n"}, None),
    ({"memory.max": "500\n", "memory.current": "900\n"}, 0),
    ({"memory/memory.limit_in_bytes": "4000000", "memory/memory.usage_in_bytes": "1000000"},
     3_000_000),
    ({"memory/memory.limit_in_bytes": str(2**63 - 4096),
      "memory/memory.usage_in_bytes": "1"}, None),
    ({"memory.max": "garbage", "memory.current": "1"}, None),
])
def test_a_container_memory_limit_lowers_what_is_available(tmp_path, files, room):
    """cgroup v2 and v1: the limit less what the group uses, when lower than MemAvailable."""
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemAvailable:  8000000 kB\n")
    cgroup = tmp_path / "cgroup"
    for name, text in files.items():
        (cgroup / name).parent.mkdir(parents=True, exist_ok=True)
        (cgroup / name).write_text(text)
    expected = 8_000_000 * 1024 if room is None else room
    assert available_bytes(meminfo, cgroup) == expected

"""Fixtures of the command tests: broken data folders, and a trained experiment."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

# a tiny network on the tiny data: a second of training
TINY_TRAIN = ["--dataset", "idx", "--epochs", 2, "--hidden-size", 16, "--no-plots", "--quiet"]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file and folder under ``folder``: to show that nothing changed."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>")
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="session")
def bad_data(tmp_path_factory, tiny_idx_dir) -> dict[str, Path]:
    """Copies of the tiny IDX folder, each broken one way, by name."""
    base = tmp_path_factory.mktemp("bad-data")
    made: dict[str, Path] = {}

    def copy(name: str) -> Path:
        made[name] = base / name
        shutil.copytree(tiny_idx_dir, made[name])
        return made[name]

    (copy("missing") / "t10k-labels-idx1-ubyte.gz").unlink()
    (copy("corrupt") / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b" + b"junk" * 50)
    raw = gzip.decompress((tiny_idx_dir / "train-images-idx3-ubyte.gz").read_bytes())
    (copy("truncated") / "train-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(raw[:len(raw) // 2]))
    packed = (tiny_idx_dir / "t10k-images-idx3-ubyte.gz").read_bytes()
    (copy("cut") / "t10k-images-idx3-ubyte.gz").write_bytes(packed[:len(packed) // 2])
    overflow = (0x803).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big")
                                                     for d in (2**31, 2**31, 4))
    (copy("overflow") / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(overflow))
    return made


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, tiny_idx_dir) -> Path:
    """A trained experiment directory (1 epoch, 16 hidden units, no figures), trained in
    this process: never written to (tests that change it take a copy)."""
    from sweep.commands.cli import main

    out = tmp_path_factory.mktemp("experiment") / "exp"
    assert main(["train", "--dataset", "idx", "--data-dir", str(tiny_idx_dir), "--epochs", "1",
                 "--hidden-size", "16", "--out", str(out), "--no-plots", "--quiet"]) == 0
    return out

"""Checkpoints: the model's arrays in a plain ``.npz``, read back without pickle."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from .atomic import write_npz
from .network import MLP


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or does not fit the configured network."""


def save_checkpoint(path: str | os.PathLike, state: dict[str, np.ndarray]) -> Path:
    return write_npz(path, state)


def load_checkpoint(path: str | os.PathLike, model: MLP) -> MLP:
    """Load ``path`` into ``model``, refusing any key or shape that does not match it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint there")
    try:
        with np.load(path, allow_pickle=False) as npz:
            state = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc})") from None
    expected = {**model.params, **model.buffers}
    for key in sorted(set(expected) | set(state)):
        if key not in state:
            raise CheckpointError(f"{path}: missing array {key!r} that the configuration needs")
        if key not in expected:
            raise CheckpointError(f"{path}: array {key!r} does not belong to the configured "
                                  "network")
        if state[key].shape != expected[key].shape:
            raise CheckpointError(f"{path}: array {key!r} has shape {state[key].shape}, "
                                  f"the configuration needs {expected[key].shape}")
        if not np.all(np.isfinite(state[key])):
            raise CheckpointError(f"{path}: array {key!r} holds non-finite values")
    model.load_state(state)
    return model

"""Checkpoints: the model's arrays in a plain ``.npz``, read back without pickle.

A checkpoint is a zip of ``.npy`` members, and a zip can promise anything: a 3 MB
file can hold a 3 GB member of zeros, and an ``.npy`` header can declare 10^13
elements. So every member's name, dtype and shape are read from its header and
checked against the model before a single array is loaded: loading then costs
exactly the model's own size.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path
from typing import IO

import numpy as np
from numpy.lib import format as npy

from .atomic import write_npz
from .network import MLP

_NUMERIC_KINDS = "fiu"  # float, signed and unsigned int: values a float array can take


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or does not fit the configured network."""


def save_checkpoint(path: str | os.PathLike, state: dict[str, np.ndarray]) -> Path:
    return write_npz(path, state)


def load_checkpoint(path: str | os.PathLike, model: MLP) -> MLP:
    """Load ``path`` into ``model``, refusing any member, dtype or shape that does not fit.

    The model is changed only once the whole checkpoint has been read and checked.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint there" if not os.path.lexists(path)
                              else f"{path}: not a regular file")
    expected = {**model.params, **model.buffers}
    try:
        with zipfile.ZipFile(path) as zf:
            members = _check_members(path, zf, expected)
            state = {key: _read_member(zf, name) for key, name in members.items()}
    except CheckpointError:
        raise
    except zipfile.BadZipFile:  # its words: "File is not a zip file"
        raise CheckpointError(f"{path}: not a readable checkpoint (not an .npz archive: "
                              "damaged, cut short or another kind of file)") from None
    except (OSError, ValueError, EOFError, RuntimeError, NotImplementedError,
            zlib.error) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc})") from None
    for key, value in state.items():
        if not np.all(np.isfinite(value)):
            raise CheckpointError(f"{path}: array {key!r} holds non-finite values")
    model.load_state(state)
    return model


def _check_members(path: Path, zf: zipfile.ZipFile,
                   expected: dict[str, np.ndarray]) -> dict[str, str]:
    """Array name -> zip member name, once every member's header fits the model."""
    members: dict[str, str] = {}
    for name in zf.namelist():
        key = name.removesuffix(".npy")
        if key not in expected or name == key:
            what = f"array {key!r}" if name != key else f"member {name!r}"
            raise CheckpointError(f"{path}: {what} does not belong to the configured network")
        if key in members:
            raise CheckpointError(f"{path}: member {name!r} appears twice")
        members[key] = name
    for key in expected:
        if key not in members:
            raise CheckpointError(f"{path}: missing array {key!r} that the configuration needs")
    for key, name in members.items():
        with zf.open(name) as f:
            shape, dtype = _header(f)
        if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject or dtype.fields:
            raise CheckpointError(f"{path}: not a readable checkpoint: array {key!r} holds "
                                  f"{dtype}, not numbers")
        if shape != expected[key].shape:
            raise CheckpointError(f"{path}: array {key!r} has shape {shape}, "
                                  f"the configuration needs {expected[key].shape}")
    return members


def _header(f: IO[bytes]) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an ``.npy`` header, without reading any data."""
    version = npy.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = npy.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = npy.read_array_header_2_0(f)
    else:
        raise ValueError(f".npy format version {version} is not one this writes")
    return tuple(int(d) for d in shape), np.dtype(dtype)


def _read_member(zf: zipfile.ZipFile, name: str) -> np.ndarray:
    with zf.open(name) as f:
        return npy.read_array(f, allow_pickle=False)

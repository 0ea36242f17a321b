"""Reading and writing IDX files, the format MNIST-style datasets are published in.

Only the two shapes those datasets use are accepted: 1-D uint8 labels (magic
0x00000801) and 3-D uint8 images (magic 0x00000803). A file that is not exactly
what its header promises is refused with a `DataError` naming the file and the
fault, because a silently short or garbled dataset would only show up later as a
mysteriously bad training run.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from .atomic import write_with

__all__ = ["DataError", "LABELS_MAGIC", "IMAGES_MAGIC", "read_idx", "write_idx"]

UINT8 = 0x08
LABELS_MAGIC = 0x00000801
IMAGES_MAGIC = 0x00000803
_MAGIC_FOR_NDIM = {1: LABELS_MAGIC, 3: IMAGES_MAGIC}
_BLOCK = 1 << 24  # gzip is decompressed 16 MiB at a time
_DEFLATE_MAX_RATIO = 1032


class DataError(ValueError):
    """Data that cannot be used; the message names the file or source and what is wrong."""


def read_idx(path: str | os.PathLike[str], ndim: int | None = None) -> np.ndarray:
    """Read a raw or gzipped (by `.gz` suffix) uint8 IDX file.

    A raw file is memory-mapped read-only, so large files cost no copy; a gzipped
    one is decompressed into memory. `ndim` (1 or 3) pins the expected kind; when
    omitted it is taken from an `idx1`/`idx3` in the file name, else either is allowed.
    """
    path = Path(path)
    ndim = ndim if ndim is not None else _ndim_from_name(path.name)
    if path.suffix == ".gz":
        return _read_gz(path, ndim)
    return _map_raw(path, ndim)


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write a uint8 array of 1 or 3 dimensions as IDX, gzipped if the name ends in `.gz`.

    The file appears atomically (temporary file and rename), so a reader never sees
    half of it.
    """
    path = Path(path)
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim not in _MAGIC_FOR_NDIM:
        raise ValueError(f"{path.name}: IDX needs a uint8 array of 1 or 3 dimensions, "
                         f"got {array.dtype} with shape {array.shape}")
    payload = _header(array.shape) + np.ascontiguousarray(array).tobytes()
    if path.suffix == ".gz":
        payload = gzip.compress(payload, compresslevel=6, mtime=0)
    write_with(path, lambda f: f.write(payload))
    return path


def _ndim_from_name(name: str) -> int | None:
    for ndim in _MAGIC_FOR_NDIM:
        if f"idx{ndim}" in name:
            return ndim
    return None


def _header(shape: tuple[int, ...]) -> bytes:
    dims = np.asarray(shape, dtype=">u4").tobytes()
    return _MAGIC_FOR_NDIM[len(shape)].to_bytes(4, "big") + dims


def _read_gz(path: Path, ndim: int | None) -> np.ndarray:
    """Decompress only as much as the header promises (and one byte more, to catch
    trailing data), so a small file that inflates to gigabytes costs nothing."""
    try:
        with gzip.open(path, "rb") as f:
            head = f.read(16)
            shape = _check_header(path.name, head, ndim)
            expected = _size(shape)
            _check_possible(path, expected)
            data = bytearray(head)
            while len(data) <= expected:
                block = f.read(min(_BLOCK, expected + 1 - len(data)))
                if not block:
                    break
                data += block
    except (OSError, EOFError, zlib.error) as e:
        if isinstance(e, FileNotFoundError):
            raise DataError(f"{path.name}: no such file ({path})") from e
        raise DataError(f"{path.name}: corrupt gzip stream ({e})") from e
    if len(data) > expected:  # reading stopped one byte past the promise
        raise DataError(f"{path.name}: wrong length: expected {expected} bytes, got more "
                        "(trailing bytes)")
    _check_length(path.name, expected, len(data))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * len(shape))
    array.flags.writeable = False
    return array.reshape(shape)


def _size(shape: tuple[int, ...]) -> int:
    """Bytes of header and data, in Python ints: np.prod of 32-bit dimensions can wrap."""
    return 4 + 4 * len(shape) + math.prod(shape)


def _check_possible(path: Path, expected: int) -> None:
    """Deflate compresses at most 1032:1; a header promising more than that is a lie."""
    most = path.stat().st_size * _DEFLATE_MAX_RATIO + 1024
    if expected > most:
        raise DataError(f"{path.name}: truncated: header promises {expected} bytes, more than "
                        f"a gzip file of {path.stat().st_size} bytes can hold")


def _check_header(name: str, head: bytes, ndim: int | None) -> tuple[int, ...]:
    """Validate magic and dimensions; returns the shape the header announces."""
    if len(head) < 4:
        raise DataError(f"{name}: truncated: {len(head)} bytes, too short for an IDX header")
    magic = int.from_bytes(head[:4], "big")
    allowed = [_MAGIC_FOR_NDIM[ndim]] if ndim else list(_MAGIC_FOR_NDIM.values())
    if magic not in allowed:
        expected = " or ".join(f"0x{m:08X}" for m in allowed)
        raise DataError(f"{name}: bad magic number 0x{magic:08X} (expected {expected})")
    n = magic & 0xFF
    if len(head) < 4 + 4 * n:
        raise DataError(f"{name}: truncated: header needs {4 + 4 * n} bytes, got {len(head)}")
    shape = tuple(int(d) for d in np.frombuffer(head, dtype=">u4", count=n, offset=4))
    if n == 3 and 0 in shape[1:]:
        raise DataError(f"{name}: bad dimensions {shape}: image rows and columns must be > 0")
    return shape


def _map_raw(path: Path, ndim: int | None) -> np.ndarray:
    try:
        with open(path, "rb") as f:
            head = f.read(16)
        size = path.stat().st_size
    except FileNotFoundError as e:
        raise DataError(f"{path.name}: no such file ({path})") from e
    shape = _check_header(path.name, head, ndim)
    offset = 4 + 4 * len(shape)
    _check_length(path.name, _size(shape), size)
    if size == offset:  # mmap cannot map zero bytes
        return np.zeros(shape, dtype=np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=shape)


def _check_length(name: str, expected: int, got: int) -> None:
    if got < expected:
        raise DataError(f"{name}: truncated: expected {expected} bytes, got {got}")
    if got > expected:
        raise DataError(f"{name}: wrong length: expected {expected} bytes, got {got} "
                        f"({got - expected} trailing bytes)")

"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Every file of an experiment directory goes through here, so a crash or a kill in
the middle of a write leaves no truncated JSON, CSV or checkpoint behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

import numpy as np


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path``; on success fsync it and rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; nothing written here is secret
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with suppress(OSError):
            os.unlink(tmp)
        if exc.filename is None:  # a failed write on the temporary file: name the real one
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_open(path, "w") as f:
        f.write(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, default=_jsonable) + "\n")


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)
    return Path(path)


def write_with(path: str | os.PathLike, writer: Callable[[IO[Any]], None],
               mode: str = "wb") -> Path:
    """Atomically write whatever ``writer(file)`` writes (a figure, a CSV from pandas)."""
    with atomic_open(path, mode) as f:
        writer(f)
    return Path(path)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")

"""Optuna's logging: quiet while the harness works, as it was once the harness is done.

Optuna logs each trial it is told of ("Trial 3 finished with value ...") at INFO, which
repeats what the harness prints itself. The CLI quiets it for good (its process is the
harness's); a call of the Python API, a worker's trial or a simulation quiets it for
the call only (`optuna_quiet`), so that a notebook's own Optuna logging is as it was.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_inside = 0  # blocks open in this process (threads of one process share Optuna's logger)
_before: int | None = None


@contextmanager
def optuna_quiet() -> Iterator[None]:
    """Optuna's verbosity at WARNING within the block; the one before restored when the
    last block open in this process ends."""
    import optuna

    global _inside, _before
    with _lock:
        if _inside == 0:
            _before = optuna.logging.get_verbosity()
            optuna.logging.set_verbosity(optuna.logging.WARNING)
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0 and _before is not None:
                optuna.logging.set_verbosity(_before)

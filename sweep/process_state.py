"""A call of the Python API leaves the caller's process as it found it.

Running a study imports libraries and starts helper processes that a command line
never notices, since its process ends with the run: joblib's import sets
``KMP_INIT_AT_FORK`` in ``os.environ``, and the process pools start resource-tracker
processes (multiprocessing's and loky's) that live as the caller's children until it
exits. In a notebook those would outlive the call. `as_found` undoes both when the last
call open in the process ends (threads of one process share its environment and
trackers, so an inner end undoes nothing).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

TRACKERS = ("multiprocessing.resource_tracker", "loky.backend.resource_tracker",
            "joblib.externals.loky.backend.resource_tracker")

_lock = threading.Lock()
_inside = 0
_environ: dict[str, str] = {}
_running: set[str] = set()  # the trackers that ran before the first call


def _tracker(module_name: str) -> Any:
    module = sys.modules.get(module_name)
    return getattr(module, "_resource_tracker", None) if module is not None else None


def _is_running(tracker: Any) -> bool:
    return tracker is not None and getattr(tracker, "_pid", None) is not None


@contextmanager
def as_found() -> Iterator[None]:
    """Within the block, anything; after the last block open in this process ends, the
    environment as it was at the first one's start, and no resource tracker running that
    was not running then."""
    global _inside, _environ, _running
    with _lock:
        if _inside == 0:
            _environ = dict(os.environ)
            _running = {name for name in TRACKERS if _is_running(_tracker(name))}
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0:
                _restore_environ(_environ)
                for name in TRACKERS:
                    tracker = _tracker(name)
                    if name not in _running and _is_running(tracker):
                        with suppress(Exception):  # a tracker already gone is as good
                            tracker._stop()


def _restore_environ(before: dict[str, str]) -> None:
    for key in set(os.environ) - set(before):
        del os.environ[key]
    for key, value in before.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def hold_standard_descriptors() -> None:
    """Hold a standard descriptor closed before Python started (``>&-``, ``2>&-``) on
    /dev/null. Else the next file opened takes its number, and whatever then writes to
    the standard output or error (a worker's warning) writes into that file (a journal);
    and a worker started without its standard streams never answers. Python's own
    ``sys.stdout`` stays None, so a command that prints can say it cannot."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null == fd:  # os.open's descriptors are not passed on to a worker
                os.set_inheritable(fd, True)
            else:
                os.dup2(null, fd)
                os.close(null)

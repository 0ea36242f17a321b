"""A real pseudo-terminal for tests, and a small screen that replays what was drawn on it.

`Terminal` starts a process with a pty of a given size as its controlling terminal
(so Ctrl-C typed into it is a real SIGINT from the line discipline). `Screen`
replays the bytes the process wrote as a terminal of that width would show them:
printable characters wrap at the last column, carriage returns, line feeds and the
few escape sequences the harness uses (erase line, erase below, cursor home); it
records every row a wrap left, which is how a too-wide redrawn line shows up.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ESCAPE = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")


def _as_controlling_terminal() -> None:
    # in the child, after setsid: the pty on fd 0 becomes its terminal; Ctrl-C is SIGINT
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """``argv`` running on a real pty of ``columns`` x ``rows``; its output collected."""

    def __init__(self, argv: Sequence[str], columns: int, rows: int = 24,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.columns, self.rows = columns, rows
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.master = master
        self.proc = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave,
                                     env=env, cwd=cwd, start_new_session=True,
                                     preexec_fn=_as_controlling_terminal)
        os.close(slave)
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: every process holding the slave has gone
                return
            if not chunk:
                return
            self._chunks.append(chunk)

    @property
    def output(self) -> str:
        return b"".join(self._chunks).decode("utf-8", "replace")

    def wait_for(self, predicate: Callable[[str], object], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.output):
                return
            if self.proc.poll() is not None:
                time.sleep(0.2)  # what it wrote last may still be in the pty
                if predicate(self.output):
                    return
                raise AssertionError(f"exited {self.proc.returncode} before {what}:\n"
                                     f"{self.output[-3000:]}")
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}:\n"
                             f"{self.output[-3000:]}")

    def ctrl_c(self) -> None:
        os.write(self.master, b"\x03")

    def wait(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        self._reader.join(5)
        os.close(self.master)


class Screen:
    """What a terminal ``columns`` wide shows after ``text`` (scrollback kept)."""

    def __init__(self, text: str, columns: int, rows: int = 24) -> None:
        self.columns, self.height = columns, rows
        self.lines: list[list[str]] = [[]]
        self.wrapped: set[int] = set()  # rows a printable character wrapped out of
        self.row = self.col = 0
        self._replay(text)

    @property
    def rows(self) -> list[str]:
        return ["".join(line).rstrip() for line in self.lines]

    def _top(self) -> int:
        return max(len(self.lines) - self.height, 0)

    def _down(self) -> None:
        self.row += 1
        while len(self.lines) <= self.row:
            self.lines.append([])

    def _replay(self, text: str) -> None:
        i = 0
        while i < len(text):
            m = ESCAPE.match(text, i)
            if m:
                self._escape(m.group(1), m.group(2))
                i = m.end()
                continue
            ch = text[i]
            i += 1
            if ch == "\r":
                self.col = 0
            elif ch == "\n":
                self._down()
            elif ch == "\b":
                self.col = max(self.col - 1, 0)
            elif ch >= " ":
                if self.col >= self.columns:  # the pending wrap of a full row
                    self.wrapped.add(self.row)
                    self._down()
                    self.col = 0
                line = self.lines[self.row]
                line.extend(" " * (self.col + 1 - len(line)))
                line[self.col] = ch
                self.col += 1

    def _escape(self, args: str, final: str) -> None:
        line = self.lines[self.row]
        if final == "K":
            if args in ("", "0"):
                del line[self.col:]
            elif args == "2":
                line.clear()
        elif final == "J" and args in ("", "0"):
            del line[self.col:]
            del self.lines[self.row + 1:]
            self.wrapped = {r for r in self.wrapped if r <= self.row}
        elif final == "H":
            self.row, self.col = self._top(), 0
        elif final == "A":
            self.row = max(self.row - int(args or 1), self._top())

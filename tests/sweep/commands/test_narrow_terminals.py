"""Hostile tests: `best` on narrow and on size-less terminals."""

from __future__ import annotations

import io
import json
import os

from sweep import text
from tests.sweep.studies import confirm_summary, finished_study


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return 1


def test_a_terminal_that_reports_no_size_is_not_one_column_wide(monkeypatch):
    """`script -qc "python -m sweep best ..."` with stdin not a terminal gives a pty of 0
    columns (also `docker exec -t`, some CI runners, emacs shells). Before, terminal_width
    gave 1 and `best` printed every character of its sentences on a line of its own,
    COLUMNS=80 notwithstanding. A size of 0 is no size: COLUMNS, or the whole table."""
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(os, "get_terminal_size", lambda fd=1: os.terminal_size((0, 0)))
    width = text.terminal_width(_Tty())
    assert width is None or width >= 40, width


def test_best_fits_a_40_column_terminal_after_confirm(tmp_path, cli, monkeypatch):
    """At 40 columns (39 usable) the confirmed lead is wrapped, but the line "ranked by one
    seed each (the top value is optimistic):" (54 characters) was not."""
    root = finished_study(tmp_path / "studies", "done", trials=3)
    (root / "confirm").mkdir()
    (root / "confirm" / "confirm.json").write_text(json.dumps(confirm_summary([2, 0], [1])))
    import sweep.commands.best as best

    monkeypatch.setattr(best, "screen_width", lambda args: 39)
    proc = cli("best", "--studies-dir", root.parent, "--study", "done")
    assert proc.returncode == 0, proc.stderr
    long = [line for line in proc.stdout.splitlines() if len(line) > 39]
    assert not long, long

"""The one table renderer (sweep.text.table), the screen cells of a trial, the run's trial
rows and the --watch end rule, in-process: no study, no subprocess."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from types import SimpleNamespace

from sweep.commands import watch
from sweep.execution.progress import Progress
from sweep.study.records import TrialOutcome, cell, columns, screen_column
from sweep.text import CUT, Column, plural, table, wrap

COLUMNS = [Column("number", keep=100), Column("state", right=False, keep=90),
           Column("value", keep=80), Column("reason", right=False, keep=50, cut=10),
           Column("experiment_dir", right=False, keep=5, cut=16, cut_start=True)]
ROWS = [["1", "complete", "93.10%", "", "studies/try/trials/0001"],
        ["12", "pruned", "–", "pruned at epoch 3: below the median", "studies/try/trials/0012"]]


def test_off_a_terminal_a_table_is_whole():
    made = table(COLUMNS, ROWS, None)
    assert made.dropped == [] and made.note(None) == []
    assert made.lines[0].split() == [c.name for c in COLUMNS]
    assert "pruned at epoch 3: below the median" in made.lines[2]
    assert made.lines[2].endswith("studies/try/trials/0012")


def test_a_narrow_table_cuts_text_then_drops_the_least_useful_columns():
    for width in (100, 80, 60, 50, 40, 30, 20, 8):
        made = table(COLUMNS, ROWS, width)
        assert all(len(line) <= width for line in made.lines), (width, made.lines)
        shown = made.lines[0].split()
        assert shown == [c.name for c in COLUMNS if c.name not in made.dropped]
        # columns go by rank: whatever is shown outranks whatever was dropped
        ranks = {c.name: c.keep for c in COLUMNS}
        if made.dropped:
            assert min(ranks[n] for n in shown) >= max(ranks[n] for n in made.dropped)
        assert all(len(line) <= width for line in made.note(width))
    assert table(COLUMNS, ROWS, 60).dropped == []  # the text is cut first
    made = table(COLUMNS, ROWS, 50)
    assert made.dropped == ["experiment_dir"]
    assert "pruned at epoch 3" in made.lines[2] and made.lines[2].endswith(CUT)
    path_cut = table(COLUMNS, ROWS, 72).lines[2]
    assert path_cut.endswith(CUT + "try/trials/0012")  # a path keeps its end


def test_prose_is_broken_between_words():
    text = "tied with the best mean (trial 3): 3, 0 (paired t-test, Holm-adjusted over it)"
    lines = wrap(text, 30)
    assert all(len(line) <= 30 for line in lines)
    assert " ".join(line.strip() for line in lines) == text
    assert wrap(text, None) == [text]
    assert plural(1, "epoch") == "1 epoch" and plural(2, "damaged line") == "2 damaged lines"


def _outcome(number: int = 3, state: str = "COMPLETE", **kw: object) -> TrialOutcome:
    start = datetime(2025, 1, 1, 12, 0, 0)
    fields = dict(value=0.9312, test_accuracy=0.9299, params={"hidden_size": 201, "lr": 0.00316},
                  epochs_trained=2, train_seconds=12.34, intermediate_values={1: 0.91, 2: 0.9312},
                  reason="", datetime_start=start, datetime_complete=start + timedelta(seconds=20))
    fields.update(kw)
    return TrialOutcome(number=number, state=state, **fields)


def test_the_screen_cells_of_a_trial():
    row = _outcome().row()
    shown = {name: cell(name, row.get(name)) for name in columns(["hidden_size", "lr"])}
    assert shown["number"] == "3" and shown["state"] == "complete"
    assert shown["value"] == "93.12%" and shown["last_value"] == "93.12%"
    assert shown["train_seconds"] == "12.3" and shown["duration_seconds"] == "20.0"
    assert shown["params_lr"] == "0.00316" and screen_column("params_lr").name == "lr"
    assert cell("value", None) == "–" and cell("value", float("nan")) == "–"


def test_a_record_has_every_column_under_the_same_name():
    o = _outcome()
    record = o.record()
    flat = {k for k in record if k not in ("params", "intermediate_values")}
    flat |= {f"params_{k}" for k in record["params"]}
    assert flat == set(columns(list(o.params))) == set(o.row())
    assert "traceback" not in record


class _Terminal(io.StringIO):
    def __init__(self, columns: int) -> None:
        super().__init__()
        self.width = columns

    def isatty(self) -> bool:
        return True


def test_the_run_prints_a_header_then_one_fitted_row_per_trial(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    stream = _Terminal(80)
    progress = Progress(4, stream=stream)
    monkeypatch.setattr(progress, "columns", lambda: 79)
    long_reason = "pruned at epoch 1 " + "x" * 80
    progress.trial_done(_outcome(0))
    progress.trial_done(_outcome(1, "PRUNED", reason=long_reason, test_accuracy=None))
    lines = [line.replace("\x1b[2K", "").split("\r")[-1]
             for line in stream.getvalue().split("\n") if line.strip()]
    assert lines[0].split()[:3] == ["number", "state", "value"]
    assert len(lines) == 3 and all(len(line) <= 79 for line in lines), lines
    log = io.StringIO()  # off a terminal: every column, the reason whole
    plain = Progress(4, stream=log)
    plain.trial_done(_outcome(1, "PRUNED", reason=long_reason))
    header, row = log.getvalue().splitlines()
    assert header.split() == ["number", "state", "value", "hidden_size", "lr",
                              "reason"]
    assert row.endswith(long_reason)
    quiet = io.StringIO()
    Progress(4, stream=quiet, quiet=True).trial_done(_outcome())
    assert quiet.getvalue() == ""  # --quiet: no progress, the summary only


def test_the_watch_ends_once_nothing_runs_or_waits():
    def study(complete: int, running: int, waiting: int) -> SimpleNamespace:
        counts = SimpleNamespace(finished=complete, running=running, retried=0)
        # no trial's worker is known gone (the running ones' are alive)
        return SimpleNamespace(counts=counts, waiting=waiting, frozen_trials=[],
                               study=SimpleNamespace(_storage=None, _study_id=0),
                               settings=SimpleNamespace(heartbeat=10))

    assert watch.finished_watching(study(3, 0, 0))
    assert not watch.finished_watching(study(3, 1, 0))
    assert not watch.finished_watching(study(3, 0, 1))  # an enqueued trial is still to come
    assert not watch.finished_watching(study(0, 0, 0))  # a study whose run has not begun

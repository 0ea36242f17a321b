"""``rerun --trial N`` whose history.csv is torn or gone.

Hostile tester 16: a torn last row (the header, then "1": a write cut short) ended in a
traceback (TypeError from read_history); a missing history.csv was said as raw
"[Errno 2] ..." text. Both are one line naming the file, exit 1."""

from __future__ import annotations

import pytest

from tests.sweep.conftest import one_clear_line

pytestmark = pytest.mark.slow
HEADER = b"epoch,lr_end,train_loss,train_acc,val_loss,val_acc,seconds\n"
OTHER = {
    "not-utf8": HEADER + b"1,0.1,2.2,0.3,1.4,0.6\xff\xfe,0.09\n",
    "huge-field": HEADER + b"1,0.1,2.2,0.3,1.4,0.6," + b"9" * 200_000 + b"\n",
    "columns": b"epoch,foo,bar\n1,0.1,2.2\n",
}


@pytest.mark.parametrize(("spoil", "said"), [
    ("torn", "history.csv: line 2 is cut short"),
    ("text", "history.csv: line 2 is not an epoch's numbers"),
    ("gone", "history.csv: No such file or directory"),
    # hostile tester 17: a history that lost its last epoch whole (a copy cut at a line's
    # end) was re-run for the epoch left and called "exact match", exit 0
    ("short", "history.csv: 2 epochs trained, 1 recorded"),
    # hostile tester 19: the codec's and the csv module's words naming no file; and a
    # header of other columns re-run and listed as "differences" (recorded None)
    ("not-utf8", "history.csv: line 2 is not UTF-8 text"),
    ("huge-field", "history.csv: line 2 is not CSV a run writes"),
    ("columns", "history.csv: not a run's history (no column 'lr_end')"),
])
def test_a_damaged_history_is_one_line_naming_the_file(tiny_run, sweep_cli, tmp_path, spoil,
                                                       said):
    epochs = 2 if spoil == "short" else 1
    assert tiny_run("r", 2, "--epochs", epochs).returncode == 0
    studies = tmp_path / "studies"
    history = studies / "r" / "trials" / "0001" / "history.csv"
    header = history.read_text().splitlines()[0]
    if spoil == "gone":
        history.unlink()
    elif spoil == "short":
        history.write_text("".join(history.read_text().splitlines(keepends=True)[:2]))
    elif spoil in OTHER:
        history.write_bytes(OTHER[spoil])
    else:
        history.write_text(header + ("\n1\n" if spoil == "torn" else
                                     "\n" + ",".join(["zz"] * (header.count(",") + 1)) + "\n"))
    proc = sweep_cli("rerun", "--studies-dir", studies, "--study", "r", "--trial", 1,
                     cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    line = one_clear_line(proc, said)
    assert "recorded None" not in proc.stdout + line, proc.stdout

"""The experiment directory: every file a run promises, consistent with each other."""

import csv
import json
import math
import re

import numpy as np
import pytest
from PIL import Image

from mlp.checkpoint import load_checkpoint
from mlp.config import Config
from mlp.experiment import (
    HISTORY_COLUMNS,
    load_config,
    load_experiment,
    plot_experiment,
    read_history,
    read_result,
    run_experiment,
)
from mlp.train import build_model, evaluate

PLOTS = ("learning_curves.png", "confusion_matrix.png", "per_class_f1.png", "misclassified.png")
HIDDEN = 32


def tiny_config(tiny_idx_dir, **overrides) -> Config:
    base = {"dataset": "idx", "data_dir": str(tiny_idx_dir), "epochs": 3,
            "hidden_size": HIDDEN}
    return Config().with_overrides({**base, **overrides})


@pytest.fixture(scope="module")
def run(tiny, tiny_idx_dir, tmp_path_factory):
    """One completed run with plots, shared by the tests that only read its files."""
    out = tmp_path_factory.mktemp("exp") / "run"
    config = tiny_config(tiny_idx_dir)
    rows_seen = []

    def peek(m):
        # history.csv is rewritten as each epoch ends, before on_epoch is asked
        with open(out / "history.csv") as f:
            rows_seen.append(len(f.readlines()) - 1)

    result = run_experiment(config, out, data=tiny, on_epoch=peek, plots=True)
    return {"out": out, "config": config, "result": result, "rows_seen": rows_seen}


def read_json(path):
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text  # strict JSON
    return json.loads(text)


def test_every_file_exists(run):
    out = run["out"]
    expected = ["config.json", "history.csv", "metrics.json", "checkpoints/best.npz",
                "checkpoints/last.npz"] + [f"plots/{p}" for p in PLOTS]
    for rel in expected:
        assert (out / rel).is_file(), rel
        assert (out / rel).stat().st_size > 0, rel
    assert not [p for p in out.rglob("*.tmp")]  # atomic writes leave no temporaries


def test_config_json(run):
    doc = read_json(run["out"] / "config.json")
    config = run["config"]
    for section in ("data", "model", "training"):
        assert doc[section] == config.to_dict()[section]
    env = doc["environment"]
    assert env["versions"]["numpy"] == np.__version__
    assert "python" in env["versions"]
    threads = env["blas"]["threads"]
    assert isinstance(threads, int) and threads >= 1
    assert load_config(run["out"] / "config.json") == config


def test_history_csv(run):
    path, history = run["out"] / "history.csv", run["result"].history
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == HISTORY_COLUMNS
    assert rows[0] == ["epoch", "lr_end", "train_loss", "train_acc", "val_loss", "val_acc",
                       "seconds"]
    assert len(rows) == 1 + 3 == 1 + len(history)
    parsed = read_history(path)
    for row, m in zip(parsed, history, strict=True):
        assert row == m.to_dict()  # floats round-trip exactly
    assert run["rows_seen"] == [1, 2, 3]


def test_metrics_json(run, tiny):
    doc = read_json(run["out"] / "metrics.json")
    res, history = run["result"], run["result"].history
    assert doc["status"] == res.status == "completed"
    best = doc["best_epoch"]
    assert best == 1 + int(np.argmax([m.val_acc for m in history]))
    assert doc["val_accuracy"] == history[best - 1].val_acc
    assert doc["val_loss"] == history[best - 1].val_loss
    assert 0.5 < doc["test_accuracy"] <= 1 and doc["test_loss"] > 0
    assert doc["train_seconds"] > 0
    # 784x32 weights + gamma and beta (batch norm replaces the bias) + 32x10 + 10
    assert doc["parameter_count"] == 784 * HIDDEN + 2 * HIDDEN + HIDDEN * 10 + 10
    assert doc["epochs_trained"] == 3
    cm = np.array(doc["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == len(tiny.test_y)
    assert np.trace(cm) / cm.sum() == pytest.approx(doc["test_accuracy"])
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(tiny.test_y, minlength=10))
    per_class = doc["per_class"]["per_class"]
    assert [c["class"] for c in per_class] == [str(i) for i in range(10)]
    for i, c in enumerate(per_class):
        assert c["support"] == cm[i].sum()
        assert c["recall"] == pytest.approx(cm[i, i] / cm[i].sum())
        assert 0 <= c["f1"] <= 1
    assert doc["dataset"]["train"] == 1000 and doc["dataset"]["test"] == 300


def test_checkpoints_load_without_pickle_and_match_the_history(run, tiny):
    out, res = run["out"], run["result"]
    model = build_model(run["config"], tiny)
    for name in ("best", "last"):
        with np.load(out / "checkpoints" / f"{name}.npz", allow_pickle=False) as npz:
            assert sorted(npz.files) == sorted(model.state())
            for k in npz.files:
                assert npz[k].dtype == np.float32 and np.all(np.isfinite(npz[k]))
    y_val = tiny.val_y.astype(np.intp)
    model = load_experiment(out, tiny, which="best").model
    assert evaluate(model, tiny.val_x, y_val)[1] == res.history[res.best_epoch - 1].val_acc
    _, test_acc, _ = evaluate(model, tiny.test_x, tiny.test_y.astype(np.intp))
    assert test_acc == read_json(out / "metrics.json")["test_accuracy"]
    last = load_experiment(out, tiny, which="last").model
    assert evaluate(last, tiny.val_x, y_val)[1] == res.history[-1].val_acc


def test_plots_are_real_pngs(run):
    for name in PLOTS:
        with Image.open(run["out"] / "plots" / name) as im:
            assert im.format == "PNG"
            w, h = im.size
            pixels = np.asarray(im.convert("L"), dtype=np.float64)
        assert w >= 200 and h >= 150, (name, im.size)
        assert pixels.std() > 5, f"{name} looks blank"


def test_stopped_run_keeps_the_best_epoch(tiny, tiny_idx_dir, tmp_path):
    config = tiny_config(tiny_idx_dir, epochs=6, lr=0.3, schedule="constant")
    res = run_experiment(config, tmp_path / "stop", data=tiny, plots=False,
                         on_epoch=lambda m: m.epoch == 4)
    assert res.status == "stopped" and len(res.history) == 4
    doc = read_json(tmp_path / "stop" / "metrics.json")
    assert doc["status"] == "stopped" and doc["epochs_trained"] == 4
    assert len(read_history(tmp_path / "stop" / "history.csv")) == 4
    accs = [m.val_acc for m in res.history]
    assert res.best_epoch == doc["best_epoch"] == 1 + int(np.argmax(accs))
    model = load_checkpoint(tmp_path / "stop" / "checkpoints" / "best.npz",
                            build_model(config, tiny))
    assert evaluate(model, tiny.val_x, tiny.val_y.astype(np.intp))[1] == max(accs)
    assert not (tmp_path / "stop" / "plots").exists()


@pytest.mark.slow  # trains twice and draws every figure
def test_a_stopped_run_can_skip_its_figures_and_have_them_drawn_later(tiny, tiny_idx_dir,
                                                                      tmp_path, run):
    config = tiny_config(tiny_idx_dir, epochs=4)
    stopped = run_experiment(config, tmp_path / "stop", data=tiny, plot_stopped=False,
                             on_epoch=lambda m: m.epoch == 2)
    assert stopped.status == "stopped" and not (tmp_path / "stop" / "plots").exists()
    folder = plot_experiment(tmp_path / "stop", data=tiny)
    assert folder == tmp_path / "stop" / "plots"
    assert sorted(p.name for p in folder.iterdir()) == sorted(PLOTS)
    # a completed run draws them as ever, and drawing them again gives the same images
    completed = run_experiment(config, tmp_path / "done", data=tiny, plot_stopped=False)
    assert completed.status == "completed"
    drawn = {name: (tmp_path / "done" / "plots" / name).read_bytes() for name in PLOTS}
    plot_experiment(tmp_path / "done", data=tiny)
    for name in PLOTS:
        assert (tmp_path / "done" / "plots" / name).read_bytes() == drawn[name], name


def test_plotting_a_diverged_run_says_so(tiny, tiny_idx_dir, tmp_path):
    from mlp.config import ConfigError

    config = tiny_config(tiny_idx_dir, lr=1e6, batch_norm=False)
    assert run_experiment(config, tmp_path / "div", data=tiny).status == "diverged"
    with pytest.raises(ConfigError, match="diverged"):
        plot_experiment(tmp_path / "div", data=tiny)


@pytest.mark.parametrize("damage", ["missing", "folder", "fifo", "not-utf8", "columns",
                                    "short-row", "empty"])
def test_plotting_a_damaged_history_names_the_file(tmp_path, run, tiny, damage):
    import os
    import shutil

    from mlp.config import ConfigError

    exp = tmp_path / "exp"
    shutil.copytree(run["out"], exp)
    history = exp / "history.csv"
    history.unlink()
    if damage == "folder":
        history.mkdir()
    elif damage == "fifo":
        os.mkfifo(history)  # opening it would block for ever
    elif damage == "not-utf8":
        history.write_bytes(b"epoch,lr_end\n\xff\xfe\n")
    elif damage == "columns":
        history.write_text("epoch,val_acc\n1,0.5\n")
    elif damage == "short-row":
        history.write_text(",".join(HISTORY_COLUMNS) + "\n1,0.1\n")
    elif damage == "empty":
        history.write_text(",".join(HISTORY_COLUMNS) + "\n")
    with pytest.raises(ConfigError, match="history.csv") as caught:
        plot_experiment(exp, data=tiny)
    # in words (hostile tester 17: "(ValueError: .../history.csv: line 2 ...)")
    assert "Error" not in str(caught.value) and "[Errno" not in str(caught.value), caught.value


def test_diverged_run_is_a_result(tiny, tiny_idx_dir, tmp_path):
    config = tiny_config(tiny_idx_dir, lr=100, batch_norm=False, hidden_layers=3,
                         hidden_size=64)
    res = run_experiment(config, tmp_path / "div", data=tiny)
    assert res.status == "diverged"
    doc = read_json(tmp_path / "div" / "metrics.json")
    assert doc["status"] == "diverged"
    epoch, step = doc["diverged"]["epoch"], doc["diverged"]["step"]
    assert isinstance(epoch, int) and isinstance(step, int) and epoch >= 1 and step >= 1
    assert f"diverged at epoch {epoch}, step {step}" in doc["message"] == res.message
    assert doc["val_accuracy"] is None and doc["test_accuracy"] is None
    assert len(read_history(tmp_path / "div" / "history.csv")) == epoch - 1
    assert (tmp_path / "div" / "config.json").is_file()
    assert not (tmp_path / "div" / "checkpoints").exists()


def test_failed_run_is_recorded_and_raised(tiny, tiny_idx_dir, tmp_path):
    def boom(m):
        raise RuntimeError("callback exploded")

    with pytest.raises(RuntimeError, match="callback exploded"):
        run_experiment(tiny_config(tiny_idx_dir), tmp_path / "fail", data=tiny, on_epoch=boom)
    doc = read_json(tmp_path / "fail" / "metrics.json")
    assert doc["status"] == "failed"
    assert "callback exploded" in doc["message"] and "RuntimeError" in doc["traceback"]
    assert len(read_history(tmp_path / "fail" / "history.csv")) == 1


def test_an_interrupted_run_records_its_size_and_its_best_epoch_so_far(tiny, tiny_idx_dir,
                                                                        tmp_path):
    """Hostile tester 15: `train` stopped by Ctrl-C after some epochs wrote
    parameter_count 0 and best_epoch 0 beside a history of the epochs it trained."""
    from mlp.network import MLP

    config = tiny_config(tiny_idx_dir, epochs=6)
    val = iter([0.5, 0.9, 0.7, 0.8])

    def stop_at_four(m):
        object.__setattr__(m, "val_acc", next(val))  # epoch 2 is the best so far
        if m.epoch == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, tmp_path / "cut", data=tiny, on_epoch=stop_at_four)
    doc = read_json(tmp_path / "cut" / "metrics.json")
    net = MLP(tiny.n_features, tiny.n_classes, hidden_size=config.model.hidden_size,
              hidden_layers=config.model.hidden_layers, batch_norm=config.model.batch_norm)
    assert doc["status"] == "failed"
    assert doc["parameter_count"] == net.parameter_count() > 0
    assert doc["best_epoch"] == 2


def test_train_limit_applies_to_given_data(tiny, tiny_idx_dir, tmp_path):
    config = tiny_config(tiny_idx_dir, epochs=1, train_limit=300)
    res = run_experiment(config, tmp_path / "lim", data=tiny, plots=False)
    assert res.status == "completed"
    assert read_json(tmp_path / "lim" / "metrics.json")["dataset"]["train"] == 300
    assert not math.isnan(res.test_accuracy)


HEADER = "epoch,lr_end,train_loss,train_acc,val_loss,val_acc,seconds\n"
ROW = "1,0.1,2.2,0.3,1.4,0.6,0.09\n"


@pytest.mark.parametrize(("text", "said"), [
    (HEADER + "1\n", "line 2 is cut short"),
    (HEADER + ROW.strip() + ",9\n", "line 2 has more fields than the header"),
    (HEADER + ROW + "2,zz,1,1,1,1,1\n", "line 3 is not an epoch's numbers"),
    # hostile tester 19: each was the csv module's or the codec's words, naming no file
    ((HEADER + ROW).encode() + b"2,0.1,2.2,0.3,1.4,0.6\xff\xfe,0.09\n", "line 3 is not UTF-8"),
    (HEADER + ROW + "2,0.1,2.2,0.3,1.4,0.6," + "9" * 200_000 + "\n", "line 3 is not CSV"),
    (HEADER + 'x,"never closed\n', "line 2 is not CSV"),
    ("epoch,foo,bar\n1,0.1,2.2\n", "not a run's history (no column 'lr_end')"),
    ("", "empty, not a run's history"),
])
def test_a_damaged_history_names_its_line(tmp_path, text, said):
    path = tmp_path / "history.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ValueError, match=re.escape(f"{path}: {said}")):
        read_history(path)


def test_a_history_too_large_to_be_a_runs_is_refused_unread(tmp_path):
    path = tmp_path / "history.csv"
    with open(path, "wb") as f:
        f.write(HEADER.encode())
        f.truncate(65 << 20)  # sparse: no disk is filled
    with pytest.raises(ValueError, match=re.escape(f"{path}: larger than")):
        read_history(path)


@pytest.mark.parametrize("kind", ["pipe", "folder"])
def test_a_history_that_is_no_regular_file_is_named_not_waited_on(tmp_path, kind):
    """Hostile tester 18: a named pipe at history.csv kept report, rerun, export and
    results.history() waiting for ever for a writer."""
    import os
    import signal

    path = tmp_path / "history.csv"
    os.mkfifo(path) if kind == "pipe" else path.mkdir()

    def hung(signum, frame):
        raise AssertionError("read_history waited on a pipe")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    try:
        with pytest.raises(ValueError, match=re.escape(f"{path}: not a regular file")):
            read_history(path)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_history_holding_other_than_the_epochs_trained_is_named(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text(HEADER + ROW + ROW.replace("1,", "2,", 1))
    assert len(read_history(path, 2)) == 2
    with pytest.raises(ValueError, match=re.escape(f"{path}: 3 epochs trained, 2 recorded")):
        read_history(path, 3)
    with pytest.raises(ValueError, match=re.escape(f"{path}: 1 epoch trained, 2 recorded")):
        read_history(path, 1)


def test_a_written_result_reads_back_as_the_run_returned_it(run, tiny, tiny_idx_dir,
                                                           tmp_path):
    """`read_result` gives a caller interrupted after the run wrote metrics.json the
    result it would have had; a failed run, or no run, is no result."""
    back = read_result(run["out"])
    assert ({k: v for k, v in vars(back).items() if k != "history"}
            == {k: v for k, v in vars(run["result"]).items() if k != "history"})
    assert len(back.history) == len(run["result"].history)
    assert [m.val_acc for m in back.history] == [m.val_acc for m in run["result"].history]
    with pytest.raises(RuntimeError):
        run_experiment(tiny_config(tiny_idx_dir), tmp_path / "fail", data=tiny,
                       on_epoch=lambda m: (_ for _ in ()).throw(RuntimeError("x")))
    assert read_result(tmp_path / "fail") is None
    assert read_result(tmp_path / "nothing") is None
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "metrics.json").write_text("[1, 2]")
    assert read_result(tmp_path / "junk") is None


class _StoppedClock:
    """A perf_counter that moves only when told: the seconds a test counts are exact."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def test_train_seconds_leave_out_the_time_the_caller_takes_each_epoch(
        tiny, tiny_idx_dir, tmp_path, monkeypatch):
    """Hostile tester 23: a sweep's report to its study waits for the study's lock or
    database inside ``on_epoch``; that wait was counted as training time (9.2 s for
    1.7 s of epochs). The caller's time is not the training's, whether the run completes
    or fails. A clock that moves only inside ``on_epoch`` (100 s a call) makes the
    training's own time exactly 0."""
    import mlp.experiment
    import mlp.train

    clock = _StoppedClock()
    monkeypatch.setattr(mlp.train, "time", clock)
    monkeypatch.setattr(mlp.experiment, "time", clock)

    def waits(m) -> None:
        clock.now += 100.0

    config = tiny_config(tiny_idx_dir, epochs=2)
    done = run_experiment(config, tmp_path / "done", data=tiny, plots=False, on_epoch=waits)
    assert done.status == "completed" and done.train_seconds == 0.0
    assert read_json(tmp_path / "done" / "metrics.json")["train_seconds"] == 0.0

    def waits_then_fails(m) -> None:
        clock.now += 100.0
        if m.epoch == 2:
            raise RuntimeError("the study is gone")

    with pytest.raises(RuntimeError):
        run_experiment(config, tmp_path / "cut", data=tiny, plots=False,
                       on_epoch=waits_then_fails)
    doc = read_json(tmp_path / "cut" / "metrics.json")
    assert doc["status"] == "failed" and doc["train_seconds"] == 0.0

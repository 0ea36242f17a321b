import os

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from mlp import plots
from mlp.metrics import classification_report, confusion_matrix

N_CLASSES = 10
NAMES = [str(i) for i in range(N_CLASSES)]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, N_CLASSES, n)
    pred = np.where(rng.random(n) < 0.9, y, rng.integers(0, N_CLASSES, n))
    logits = rng.normal(size=(n, N_CLASSES))
    logits[np.arange(n), pred] += 4.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    images[:, 8:20, 10:18] = rng.integers(100, 256, (n, 12, 8))  # a bright block, not blank
    return {"y": y, "pred": pred, "probs": probs, "images": images}


def load(path) -> np.ndarray:
    """Decode the file and return it as a float array; fail if it is not a valid PNG."""
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("L"), dtype=np.float64)


def assert_real_png(path, min_w=300, min_h=200):
    pixels = load(path)
    h, w = pixels.shape
    assert w >= min_w and h >= min_h, (w, h)
    assert pixels.std() > 10.0, "image looks blank"
    return pixels


def test_learning_curves(tmp_path):
    epochs = np.arange(1, 9)
    history = pd.DataFrame({
        "epoch": epochs, "lr_end": 0.1, "train_loss": 1.0 / epochs, "train_acc": 1 - 0.4 / epochs,
        "val_loss": 1.1 / epochs + 0.02 * epochs, "val_acc": 1 - 0.45 / epochs, "seconds": 2.0,
    })
    out = plots.learning_curves(history, tmp_path / "sub" / "curves.png", best_epoch=5)
    assert out == tmp_path / "sub" / "curves.png"
    assert_real_png(out, min_w=800, min_h=300)
    # without a best epoch and with a missing validation value it still draws
    history.loc[3, "val_acc"] = np.nan
    assert_real_png(plots.learning_curves(history, tmp_path / "nobest.png"))


def test_confusion_heatmap(tmp_path, data):
    cm = confusion_matrix(data["y"], data["pred"], N_CLASSES)
    out = plots.confusion_heatmap(cm, NAMES, tmp_path / "cm.png", title="Confusion (val)")
    pixels = assert_real_png(out, min_w=500, min_h=500)
    assert pixels.min() < 80  # dark diagonal cells are drawn
    with pytest.raises(ValueError):
        plots.confusion_heatmap(cm, NAMES[:3], tmp_path / "bad.png")


def test_per_class_f1(tmp_path, data):
    cm = confusion_matrix(data["y"], data["pred"], N_CLASSES)
    report = classification_report(cm, NAMES)
    assert_real_png(plots.per_class_f1(report, tmp_path / "f1.png"), min_w=600, min_h=300)


def test_misclassified_grid(tmp_path, data):
    out = plots.misclassified_grid(data["images"], data["y"], data["pred"], NAMES,
                                   tmp_path / "wrong.png", probs=data["probs"], max_images=12)
    assert_real_png(out, min_w=600, min_h=300)
    # flat float images in [0, 1] are accepted too, without probabilities
    flat = data["images"].reshape(len(data["images"]), -1) / 255.0
    assert_real_png(plots.misclassified_grid(flat, data["y"], data["pred"], NAMES,
                                             tmp_path / "wrong_flat.png"))


def test_misclassified_grid_without_errors_says_so(tmp_path, data):
    out = plots.misclassified_grid(data["images"], data["y"], data["y"], NAMES,
                                   tmp_path / "none.png")
    pixels = load(out)
    assert pixels.shape[1] > 300
    assert pixels.std() > 5.0  # the message is drawn, the figure is not empty


def test_prediction_figure_right_wrong_and_unknown(tmp_path, data):
    y, pred = data["y"], data["pred"]
    right = int(np.flatnonzero(y == pred)[0])
    wrong = int(np.flatnonzero(y != pred)[0])
    for name, i, label in (("right", right, int(y[right])), ("wrong", wrong, int(y[wrong])),
                           ("unknown", right, None)):
        out = plots.prediction_figure(data["images"][i], data["probs"][i], label, NAMES,
                                      tmp_path / f"{name}.png", index=i)
        assert_real_png(out, min_w=700, min_h=300)
    with pytest.raises(ValueError):
        plots.prediction_figure(data["images"][0], data["probs"][0][:5], 1, NAMES,
                                tmp_path / "bad.png")


def test_prediction_grid(tmp_path, data):
    idx = [3, 10, 42, 7, 99, 150, 201]
    out = plots.prediction_grid(data["images"][idx], data["probs"][idx], data["y"][idx], NAMES,
                                tmp_path / "grid.png", indices=idx)
    assert_real_png(out, min_w=600, min_h=300)
    # a single image, no labels
    assert_real_png(plots.prediction_grid(data["images"][:1], data["probs"][:1], None, NAMES,
                                          tmp_path / "one.png"), min_w=100, min_h=100)
    with pytest.raises(ValueError):
        plots.prediction_grid(data["images"][:3], data["probs"][:3], None, NAMES,
                              tmp_path / "bad.png", indices=[1, 2])


def test_save_is_atomic_and_follows_suffix(tmp_path):
    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [0, 1])
    svg = plots.save(fig, tmp_path / "a" / "line.svg", close=False)
    assert svg.read_text().lstrip().startswith("<?xml")
    png = plots.save(fig, tmp_path / "line.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not fig.axes  # closed: the figure was cleared
    # no temporary files are left next to the outputs
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["line.png", "line.svg"]
    with pytest.raises(ValueError):
        plots.save(fig, tmp_path / "line.jpg")


def test_failed_save_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "keep.png"
    target.write_bytes(b"old")
    fig = Figure()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", boom)
    with pytest.raises(RuntimeError):
        plots.save(fig, target)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["keep.png"]


def test_plots_leave_global_matplotlib_state_alone(tmp_path, data):
    before = dict(matplotlib.rcParams)
    cm = confusion_matrix(data["y"], data["pred"], N_CLASSES)
    plots.per_class_f1(classification_report(cm, NAMES), tmp_path / "f1.png")
    assert dict(matplotlib.rcParams) == before
    import matplotlib.pyplot as plt  # only to check no figure was registered with pyplot

    assert plt.get_fignums() == []


@pytest.mark.slow
def test_a_confusion_figure_of_many_classes_stays_small(tmp_path):
    """The figure's side grows with the classes up to a cap: 200 classes asked for a
    127-inch PNG (gigabytes to render). Past the cap (22 classes) more classes draw a
    figure of the same pixels."""
    import struct

    def pixels(n: int) -> tuple[int, int]:
        cm = np.eye(n, dtype=np.int64) * 5 + 1
        out = plots.confusion_heatmap(cm, [f"c{i}" for i in range(n)], tmp_path / f"{n}.png")
        return struct.unpack(">II", out.read_bytes()[16:24])  # the PNG header's size

    assert pixels(25) == pixels(60)

"""Figures of one experiment: learning curves, confusion matrix, per-class scores, examples.

Every function takes plain data (arrays, a DataFrame, the dict of
`metrics.classification_report`), writes one image and returns its path, so the
figures can be redrawn from saved results without the model. Figures are built
as `matplotlib.figure.Figure` objects rather than through pyplot: no global
figure registry, no display and no backend choice are involved, which keeps this
safe in worker processes and headless runs. The seaborn look is applied through
context managers, so importing this module never changes the caller's settings.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from .atomic import write_with

DPI = 110
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
TRAIN_COLOR = "#4C72B0"
VAL_COLOR = "#DD8452"
OK_COLOR = "#2a9d4a"
WRONG_COLOR = "#c8322d"
NEUTRAL_COLOR = "#9aa5b1"
PRED_COLOR = "#4C72B0"

RC = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.15,
    "axes.titleweight": "bold",
    "figure.titleweight": "bold",
    "figure.titlesize": "large",
}


@contextmanager
def style(font_scale: float = 0.9, rc: dict[str, Any] | None = None) -> Iterator[None]:
    """The look of every figure of the project (these and the study report's): seaborn's
    whitegrid at ``font_scale``, plus ``RC`` and ``rc``. Set around the drawing only,
    so the caller's matplotlib settings are never changed."""
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=font_scale), \
            mpl.rc_context({**RC, **(rc or {})}):
        yield


def image_format(path: str | os.PathLike[str]) -> str:
    """The image format a file name asks for, by its suffix; ValueError if unsupported.

    Public so that a command can refuse a bad output name before it does any work.
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        what = (f"suffix {path.suffix!r} is not an image format this writes" if path.suffix
                else "no suffix to name an image format")
        raise ValueError(f"{path}: {what} (use one of {', '.join(FORMATS)})")
    return fmt


def save(fig: Figure, path: str | os.PathLike[str], *, close: bool = True) -> Path:
    """Write `fig` to `path` atomically; the format follows the suffix (.png, .svg, .pdf).

    Atomic (`mlp.atomic`) because a report page or a browser tab may read the file
    while a run rewrites it: it sees the old image or the new one, never half of one.
    With `close=True` the figure is cleared afterwards to free its memory at once.
    """
    fmt = image_format(path)
    try:
        # the bounding box explicitly: a figure is often saved after its style's context
        # has ended, and a legend outside the axes would then be cut at the canvas's edge
        return write_with(path, lambda f: fig.savefig(
            f, format=fmt, dpi=DPI, bbox_inches=RC["savefig.bbox"],
            pad_inches=RC["savefig.pad_inches"]))
    finally:
        if close:
            fig.clear()


def learning_curves(history: pd.DataFrame, path: str | os.PathLike[str],
                    best_epoch: int | None = None) -> Path:
    """Loss and accuracy per epoch, train against validation, best epoch marked.

    `history` has the columns epoch, train_loss, train_acc, val_loss, val_acc (lr_end
    and seconds are ignored). Accuracies are fractions and are shown as percentages;
    values already above 1 are taken to be percentages. Missing validation values
    (NaN) are simply not drawn.
    """
    hist = history.sort_values("epoch")
    epochs = hist["epoch"].to_numpy()
    marker = "o" if len(hist) <= 30 else None
    with style():
        fig = Figure(figsize=(11, 4.2))
        ax_loss, ax_acc = fig.subplots(1, 2)
        for ax, metric, label in ((ax_loss, "loss", "Loss (cross-entropy)"),
                                  (ax_acc, "acc", "Accuracy (%)")):
            for split, name, color in (("train", "train", TRAIN_COLOR),
                                       ("val", "validation", VAL_COLOR)):
                col = f"{split}_{metric}"
                if col not in hist:
                    continue
                values = hist[col].to_numpy(dtype=np.float64)
                if metric == "acc" and np.nanmax(values, initial=0.0) <= 1.0:
                    values = values * 100.0
                sns.lineplot(x=epochs, y=values, ax=ax, label=name, color=color,
                             marker=marker, markersize=4, linewidth=1.8)
            ax.set_xlabel("Epoch")
            ax.set_ylabel(label)
            if best_epoch is not None:
                ax.axvline(best_epoch, color="0.35", linestyle="--", linewidth=1.2,
                           label=f"best epoch ({best_epoch})")
            ax.legend(loc="best", frameon=True)
            if len(epochs) and np.issubdtype(epochs.dtype, np.integer) and len(epochs) <= 20:
                ax.set_xticks(epochs)
        ax_loss.set_title("Loss")
        ax_acc.set_title("Accuracy")
        title = "Learning curves"
        if best_epoch is not None and "val_acc" in hist:
            row = hist.loc[hist["epoch"] == best_epoch, "val_acc"]
            if len(row) and np.isfinite(row.iloc[0]):
                val = float(row.iloc[0])
                val = val * 100.0 if val <= 1.0 else val
                title += f" (best epoch {best_epoch}: validation accuracy {val:.2f}%)"
        fig.suptitle(title)
        fig.tight_layout()
        return save(fig, path)


ANNOTATED_CLASSES = 30
MAX_SIDE = 16.0  # inches


def confusion_heatmap(cm: np.ndarray, class_names: Sequence[str], path: str | os.PathLike[str],
                      title: str = "Confusion matrix (test)") -> Path:
    """Counts annotated in each cell, colour by the fraction of the true class (row).

    Colouring by row rate keeps classes of different sizes comparable; a square-root
    colour scale makes 1-2% confusions visible next to a 98% diagonal. Zero cells are
    left blank so the few real confusions stand out.
    """
    cm = np.asarray(cm, dtype=np.int64)
    n = len(class_names)
    if cm.shape != (n, n):
        raise ValueError(f"confusion matrix shape {cm.shape} does not match {n} class names")
    rows = cm.sum(axis=1, keepdims=True)
    rate = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=np.float64), where=rows != 0)
    # counts are written in the cells up to ANNOTATED_CLASSES; the figure's side grows
    # with the classes up to MAX_SIDE inches, so that 200 classes cannot ask for a
    # 127-inch PNG (gigabytes of memory to render)
    annot = np.where(cm > 0, cm.astype(str), "") if n <= ANNOTATED_CLASSES else False
    side = min(MAX_SIDE, max(4.5, 0.62 * n + 2.5))
    long_names = max((len(str(c)) for c in class_names), default=0) > 3
    with style():
        fig = Figure(figsize=(side + 1.2, side))
        ax = fig.subplots()
        sns.heatmap(rate, ax=ax, annot=annot, fmt="", cmap="Blues",
                    norm=PowerNorm(gamma=0.5, vmin=0.0, vmax=1.0),
                    xticklabels=list(class_names), yticklabels=list(class_names),
                    square=True, linewidths=0.5, linecolor="white",
                    annot_kws={"fontsize": 9 if n <= 12 else 7},
                    cbar_kws={"label": "Share of the true class", "shrink": 0.8,
                              "ticks": [0.0, 0.01, 0.05, 0.2, 0.5, 1.0],
                              "format": PercentFormatter(1.0, decimals=0)})
        ax.grid(False)
        ax.set_xlabel("Predicted class")
        ax.set_ylabel("True class")
        ax.tick_params(axis="y", rotation=0)
        ax.tick_params(axis="x", rotation=45 if long_names else 0)
        if long_names:
            for lab in ax.get_xticklabels():
                lab.set_horizontalalignment("right")
        total = int(cm.sum())
        acc = np.trace(cm) / total * 100.0 if total else 0.0
        ax.set_title(f"{title}\n{total:,} examples, accuracy {acc:.2f}%")
        fig.tight_layout()
        return save(fig, path)


def per_class_f1(report: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Grouped precision / recall / F1 bars per class, with the macro F1 as a line.

    The y axis starts a little below the worst score instead of at 0, because on
    MNIST every class sits in the 95-100% band and the differences are the point.
    """
    per_class = report["per_class"]
    names = [str(c["class"]) for c in per_class]
    frame = pd.DataFrame(
        [{"class": c["class"], "metric": m.capitalize() if m != "f1" else "F1",
          "score": 100.0 * float(c[m])}
         for c in per_class for m in ("precision", "recall", "f1")]
    )
    low = float(frame["score"].min()) if len(frame) else 0.0
    ymin = max(0.0, math.floor((low - 2.0) / 5.0) * 5.0)
    long_names = max((len(n) for n in names), default=0) > 3
    with style():
        fig = Figure(figsize=(min(3 * MAX_SIDE, max(7.0, 0.75 * len(names) + 2.5)), 4.5))
        ax = fig.subplots()
        sns.barplot(data=frame, x="class", y="score", hue="metric", order=names,
                    hue_order=["Precision", "Recall", "F1"],
                    palette=["#8fb3d9", "#f2b48a", "#2f6fb0"], ax=ax, width=0.8)
        macro = report.get("macro", {}).get("f1")
        if macro is not None:
            ax.axhline(100.0 * macro, color="0.25", linestyle="--", linewidth=1.1,
                       label=f"macro F1 ({100.0 * macro:.2f}%)")
        ax.set_ylim(ymin, 100.0 + (100.0 - ymin) * 0.04)
        ax.set_xlabel("Class")
        ax.set_ylabel("Score (%)")
        if long_names:
            ax.tick_params(axis="x", rotation=30)
            for lab in ax.get_xticklabels():
                lab.set_horizontalalignment("right")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=True)
        title = "Per-class precision, recall and F1"
        if "accuracy" in report:
            title += f" (accuracy {100.0 * report['accuracy']:.2f}%)"
        ax.set_title(title)
        fig.tight_layout()
        return save(fig, path)


def misclassified_grid(images: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray,
                       class_names: Sequence[str], path: str | os.PathLike[str],
                       probs: np.ndarray | None = None, max_images: int = 36) -> Path:
    """A grid of misclassified images titled "true → predicted (confidence)".

    With `probs`, the most confident mistakes come first (those are the instructive
    ones) and the confidence of the predicted class is shown; otherwise mistakes are
    in dataset order. Each cell shows the image's index in `images` in its corner.
    """
    images = _as_images(images)
    y_true = np.asarray(y_true).astype(np.int64)
    y_pred = np.asarray(y_pred).astype(np.int64)
    wrong = np.flatnonzero(y_true != y_pred)
    conf = None
    if probs is not None:
        probs = np.asarray(probs, dtype=np.float64)
        conf = probs[np.arange(len(y_pred)), y_pred]
        wrong = wrong[np.argsort(-conf[wrong], kind="stable")]
    shown = wrong[: max(int(max_images), 0)]
    if len(shown) == 0:
        return _no_mistakes_figure(len(y_true), path)
    with style():
        ncols = min(6, len(shown))
        nrows = math.ceil(len(shown) / ncols)
        # Long class names (Fashion-MNIST) break every title in two, so rows stay aligned.
        conf_text = [f" ({conf[i]:.0%})" if conf is not None else "" for i in shown]
        two_lines = any(len(f"{class_names[y_true[i]]} → {class_names[y_pred[i]]}{c}") > 18
                        for i, c in zip(shown, conf_text, strict=True))
        # One image of all the tiles, titles in a band above each: one axes instead of 36
        # makes this figure ten times cheaper, which matters once per sweep trial.
        h, w = images.shape[1:]
        band, gap = (h * 0.75 if two_lines else h * 0.45), w * 0.25
        cell_h, cell_w = h + band, w + gap
        mosaic = np.full((math.ceil(nrows * cell_h), math.ceil(ncols * cell_w)), np.nan)
        scale = 255.0 if images.dtype == np.uint8 or float(images[shown].max()) > 1 else 1.0
        fig = Figure(figsize=(1.85 * ncols, (2.45 if two_lines else 2.15) * nrows + 0.5))
        ax = fig.subplots()
        for k, (i, c) in enumerate(zip(shown, conf_text, strict=True)):
            top, left = int((k // ncols) * cell_h + band), int((k % ncols) * cell_w)
            mosaic[top:top + h, left:left + w] = images[i] / scale
            sep = " →\n" if two_lines else " → "
            ax.text(left + w / 2, top - 1.5, f"{class_names[y_true[i]]}{sep}"
                    f"{class_names[y_pred[i]]}{c}", ha="center", va="bottom", fontsize=9,
                    color=WRONG_COLOR)
            ax.text(left + 1, top + 1, f"#{i}", ha="left", va="top", fontsize=7,
                    color="white", bbox={"boxstyle": "round,pad=0.15", "facecolor": "black",
                                         "alpha": 0.6, "linewidth": 0})
        cmap = mpl.colormaps["gray"].with_extremes(bad="white")
        ax.imshow(mosaic, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_axis_off()
        fig.suptitle(f"Misclassified test images (true → predicted): showing {len(shown)} "
                     f"of {len(wrong):,} errors in {len(y_true):,}")
        fig.tight_layout()
        return save(fig, path)


def _no_mistakes_figure(n: int, path: str | os.PathLike[str]) -> Path:
    """What `misclassified_grid` draws for a model that gets every image right."""
    with style():
        fig = Figure(figsize=(6, 2.5))
        ax = fig.subplots()
        ax.set_axis_off()
        msg = f"No misclassified images: every one of the {n:,} predictions is correct."
        ax.text(0.5, 0.5, msg, ha="center", va="center", fontsize=12, wrap=True,
                transform=ax.transAxes)
        fig.suptitle("Misclassified test images")
        return save(fig, path)


def prediction_figure(image: np.ndarray, probs: np.ndarray, true_label: int | None,
                      class_names: Sequence[str], path: str | os.PathLike[str],
                      index: int | None = None) -> Path:
    """One image next to the model's probability for every class.

    The predicted class is highlighted (green if right, red if wrong) and, when the
    prediction is wrong, the true class is outlined, so the figure answers "what did
    it think, how sure was it, and was it right" at a glance.
    """
    img = _as_images(np.asarray(image)[None])[0]
    probs = np.asarray(probs, dtype=np.float64).ravel()
    n = len(class_names)
    if probs.shape != (n,):
        raise ValueError(f"probs has {probs.size} values for {n} classes")
    pred = int(np.argmax(probs))
    correct = None if true_label is None else int(true_label) == pred
    verdict_color = {None: PRED_COLOR, True: OK_COLOR, False: WRONG_COLOR}[correct]
    colors = [NEUTRAL_COLOR] * n
    colors[pred] = verdict_color
    names = [str(c) for c in class_names]
    if correct is False:
        true_idx = int(true_label)  # type: ignore[arg-type]
        colors[true_idx] = OK_COLOR
        names[true_idx] += " (true)"
    with style():
        fig = Figure(figsize=(9.5, max(3.8, 0.32 * n + 1.2)))
        ax_img, ax_bar = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.5]})
        _show_image(ax_img, img)
        where = f"Image #{index}" if index is not None else "Image"
        ax_img.set_title(where if true_label is None
                         else f"{where}, true class {class_names[int(true_label)]}",
                         fontsize=10, fontweight="normal")
        ypos = np.arange(n)
        ax_bar.barh(ypos, probs * 100.0, color=colors, height=0.7)
        for y, p in zip(ypos, probs, strict=True):
            if p >= 0.005:
                ax_bar.text(p * 100.0 + 1.0, y, f"{p:.1%}", va="center", fontsize=8)
        ax_bar.set_yticks(ypos, names)
        ax_bar.invert_yaxis()
        ax_bar.set_xlim(0, 112)
        ax_bar.set_xlabel("Probability (%)")
        ax_bar.set_ylabel("Class")
        ax_bar.set_title("Predicted probabilities", fontsize=10, fontweight="normal")
        ax_bar.grid(axis="y", visible=False)
        for k, tick in enumerate(ax_bar.get_yticklabels()):
            if k == pred or (correct is False and k == true_idx):
                tick.set_fontweight("bold")
                tick.set_color(colors[k])
        title = f"Predicted {class_names[pred]} ({probs[pred]:.1%})"
        if correct is True:
            title += ": correct"
        elif correct is False:
            title += f": wrong, true is {class_names[int(true_label)]}"  # type: ignore[arg-type]
        fig.suptitle(title, color=verdict_color)
        fig.tight_layout()
        return save(fig, path)


def prediction_grid(images: np.ndarray, probs: np.ndarray, true_labels: np.ndarray | None,
                    class_names: Sequence[str], path: str | os.PathLike[str],
                    indices: Sequence[int] | None = None) -> Path:
    """`prediction_figure` for several images at once, one small cell each.

    `images`, `probs` and `true_labels` are aligned (row k describes image k);
    `indices`, if given, are the dataset indices of those rows and only label the
    cells. Titles read "pred 3 (97%) ok" or "pred 3 (61%) WRONG / true 5" (plain ASCII,
    so no font lacks a glyph), green when right, red when wrong.
    """
    images = _as_images(images)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != len(images):
        raise ValueError(f"probs must be (N, C) for {len(images)} images; got {probs.shape}")
    labels = None if true_labels is None else np.asarray(true_labels).astype(np.int64)
    if indices is not None and len(indices) != len(images):
        raise ValueError(f"{len(indices)} indices for {len(images)} images")
    preds = probs.argmax(axis=1)
    count = len(images)
    with style():
        ncols = max(1, min(6, count))
        nrows = max(1, math.ceil(count / ncols))
        two_lines = labels is not None and bool(np.any(labels != preds))
        fig = Figure(figsize=(1.9 * ncols, (2.5 if two_lines else 2.25) * nrows + 0.5))
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        n_right = 0
        for k, ax in enumerate(axes):
            if k >= count:
                ax.set_axis_off()
                continue
            _show_image(ax, images[k])
            p = int(preds[k])
            title = f"pred {class_names[p]} ({probs[k, p]:.0%})"
            color = PRED_COLOR
            if labels is not None:
                if labels[k] == p:
                    title += " ok"
                    color = OK_COLOR
                    n_right += 1
                else:
                    title += f" WRONG\ntrue {class_names[labels[k]]}"
                    color = WRONG_COLOR
            ax.set_title(title, fontsize=9, color=color)
            if indices is not None:
                _corner_label(ax, f"#{indices[k]}")
        title = f"Predictions for {count} image{'s' if count != 1 else ''}"
        if labels is not None:
            title += f": {n_right} of {count} correct"
        fig.suptitle(title)
        fig.tight_layout()
        return save(fig, path)


def _as_images(images: np.ndarray) -> np.ndarray:
    """(N, H, W) from (N, H, W) or flat square (N, H*W), uint8 or float."""
    images = np.asarray(images)
    if images.ndim == 2:
        side = math.isqrt(images.shape[1])
        if side * side != images.shape[1]:
            raise ValueError(f"cannot reshape flat images of {images.shape[1]} pixels to a square")
        images = images.reshape(len(images), side, side)
    if images.ndim != 3:
        raise ValueError(f"images must be (N, H, W) or (N, H*W); got shape {images.shape}")
    return images


def _corner_label(ax: Axes, text: str) -> None:
    """A small index in the image corner, on a dark box so it reads on any image."""
    ax.text(0.03, 0.97, text, transform=ax.transAxes, ha="left", va="top", fontsize=7,
            color="white", bbox={"boxstyle": "round,pad=0.15", "facecolor": "black",
                                 "alpha": 0.6, "linewidth": 0})


def _show_image(ax: Axes, img: np.ndarray) -> None:
    """Gray image on a fixed scale: 0-255 for uint8 (and large floats), 0-1 for floats."""
    vmax = 255.0 if img.dtype == np.uint8 or float(np.max(img, initial=0.0)) > 1.0 else 1.0
    ax.imshow(img, cmap="gray", vmin=0.0, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)

"""How the best model fails: its confusion matrix, per-class scores and the test images
of its most-confused pairs.

The confusion matrix and per-class report come from the trial's metrics.json. The
example images need the test set and the trial's best checkpoint: the network is
loaded and run on the test images (inference only, nothing is trained). If the
dataset or the checkpoint cannot be read, the examples are skipped with a note.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from mlp import plots as P
from mlp.experiment import read_json

from . import style as S
from .analysis import StudyData, wilson


@dataclass
class BestTrial:
    number: int
    dir: Path
    metrics: dict[str, Any]

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.metrics.get("classes") or []]

    @property
    def confusion(self) -> np.ndarray | None:
        cm = self.metrics.get("confusion_matrix")
        return np.asarray(cm, dtype=np.int64) if cm else None

    @property
    def per_class(self) -> dict[str, Any] | None:
        return self.metrics.get("per_class")

    @property
    def most_confused(self) -> list[dict[str, Any]]:
        return list(self.metrics.get("most_confused") or [])

    def split_size(self, split: str) -> int | None:
        return (self.metrics.get("dataset") or {}).get(split)


def load_best(data: StudyData, number: int | None = None) -> tuple[BestTrial | None, str]:
    """The best (or the given) completed trial's metrics, or None and why not."""
    if number is None:
        best = data.best
        if best is None:
            return None, "No completed trial yet."
        number = int(best["number"])
    folder = data.trial_dir(number)
    if not (folder / "metrics.json").exists():
        return None, f"Trial {number} has no metrics.json in {folder}."
    try:
        metrics = read_json(folder / "metrics.json")
    except ValueError as exc:
        return None, f"Trial {number}: metrics.json unreadable ({exc})."
    problem = _metrics_problem(metrics)
    if problem:
        return None, f"Trial {number}: metrics.json is not a run's record ({problem}); skipped."
    return BestTrial(number, folder, metrics), ""


MAX_CLASSES = 100  # more and the per-class figures would be unreadable and huge


def _metrics_problem(m: Any) -> str:
    """What makes a metrics.json unusable for the failure analysis, or ""."""
    if not isinstance(m, dict):
        return "not an object"
    classes, cm = m.get("classes") or [], m.get("confusion_matrix") or []
    if not isinstance(classes, list) or len(classes) > MAX_CLASSES:
        return f"classes must be a list of at most {MAX_CLASSES}"
    if not isinstance(cm, list) or len(cm) != len(classes) or not all(
            isinstance(row, list) and len(row) == len(classes)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in row) for row in cm):
        return "confusion_matrix must be a square table of counts, one row per class"
    pairs = m.get("most_confused") or []
    keys = {"true", "predicted", "count"}
    if not isinstance(pairs, list) or not all(isinstance(p, dict) and keys <= set(p)
                                              for p in pairs):
        return "most_confused must be a list of {true, predicted, count}"
    for key in ("per_class", "dataset"):
        if m.get(key) is not None and not isinstance(m[key], dict):
            return f"{key} must be an object"
    return ""


def confusion_figures(best: BestTrial, folder: Path, name: str = "best_confusion",
                      vector: bool = False) -> tuple[Path, Path | None] | None:
    cm, classes = best.confusion, best.classes
    if cm is None or len(classes) != len(cm):
        return None
    title = f"Selected trial {best.number}: confusion matrix (test set)"
    png = P.confusion_heatmap(cm, classes, folder / f"{name}.png", title=title)
    svg = P.confusion_heatmap(cm, classes, folder / f"{name}.svg", title=title) \
        if vector else None
    return png, svg


def per_class_scores(best: BestTrial) -> list[dict[str, Any]]:
    """Per class: recall (the share of the class's test images classified right, over its
    support) and precision (the share of the images predicted as the class that are it,
    over the predicted count, from the confusion matrix), each with the number of images
    it is measured on and its 95% Wilson interval."""
    report, cm = best.per_class or {}, best.confusion
    rows = report.get("per_class") or []
    predicted = cm.sum(axis=0) if cm is not None and len(cm) == len(rows) else None
    out = []
    for k, c in enumerate(rows):
        recall_n = int(c.get("support") or 0)
        precision_n = int(predicted[k]) if predicted is not None else 0
        out.append({"class": str(c["class"]),
                    "recall": float(c["recall"]), "recall_n": recall_n,
                    "recall_ci": wilson(float(c["recall"]), recall_n),
                    "precision": float(c["precision"]), "precision_n": precision_n,
                    "precision_ci": wilson(float(c["precision"]), precision_n)})
    return out


def per_class_figure(best: BestTrial) -> Figure | None:
    """Per class, recall and precision as points with their 95% Wilson intervals over the
    test images each is measured on; the overall test accuracy as a line. No bars: the
    axis is zoomed to the intervals, and a bar's length from a cut baseline would lie."""
    scores = per_class_scores(best)
    if not scores:
        return None
    acc = (best.per_class or {}).get("accuracy")
    lows = [min(r["recall_ci"][0], r["precision_ci"][0]) for r in scores]
    highs = [max(r["recall_ci"][1], r["precision_ci"][1]) for r in scores]
    lo = max(0.0, min(v for v in lows if np.isfinite(v)) - 0.005)
    hi = min(1.0, max(v for v in highs if np.isfinite(v)) + 0.003)
    x = np.arange(len(scores))
    with S.style():
        fig = S.new_figure(max(7.0, 0.7 * len(scores) + 3.0), 4.6)
        ax = fig.subplots()
        for key, dx, color, marker in (("recall", -0.13, S.TREND_COLOR, "o"),
                                       ("precision", 0.13, S.NEGATIVE_COLOR, "s")):
            y = np.array([r[key] for r in scores])
            ci = np.array([r[f"{key}_ci"] for r in scores])
            ax.errorbar(x + dx, y, yerr=np.vstack([y - ci[:, 0], ci[:, 1] - y]), fmt=marker,
                        color=color, capsize=3, markersize=5, linewidth=1.2,
                        label=f"{key} (95% Wilson interval)")
        if acc is not None:
            ax.axhline(acc, color="0.3", linestyle="--", linewidth=1,
                       label=f"test accuracy, all classes ({acc:.2%})")
        ax.set_xticks(x, [r["class"] for r in scores])
        ax.set_ylim(lo, hi)
        S.percent_axis(ax.yaxis)
        ax.set_xlabel("Class (test images per class: "
                      f"{min(r['recall_n'] for r in scores):,}–"
                      f"{max(r['recall_n'] for r in scores):,})")
        ax.set_ylabel(f"Score (%; axis {lo:.1%}–{hi:.1%})")
        ax.legend(loc="lower left", frameon=True, fontsize=8)
        fig.suptitle(f"Selected trial {best.number}: per-class recall and precision on the test "
                     "set, with 95% intervals")
    return fig


@dataclass
class ConfusedExamples:
    """Test images the best model got wrong, grouped by (true, predicted) pair."""

    number: int
    pairs: list[dict[str, Any]] = field(default_factory=list)
    # each: true, predicted, count, images (k, H, W), indices (k,), confidence (k,)


def confused_examples(best: BestTrial, pairs: int = 5, per_pair: int = 6
                      ) -> tuple[ConfusedExamples | None, str]:
    """Load the test set and the best checkpoint, predict, and pick examples of the
    most-confused pairs. Returns (None, reason) when that cannot be done."""
    wanted = best.most_confused[:pairs]
    if not wanted:
        return None, "The selected model makes no mistakes on the test set."
    try:
        from mlp.experiment import load_experiment
        from mlp.train import evaluate

        run = load_experiment(best.dir, progress=False)
        data = run.data
        y = np.asarray(data.test_y).astype(np.intp)
        _, _, probs = evaluate(run.model, data.test_x, y, run.config.training.eval_batch_size)
    except Exception as exc:  # any reason the data or model is unavailable: skip, say why
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, (f"Example images skipped: the test set or the best checkpoint could "
                      f"not be loaded ({type(exc).__name__}: {reason}).")
    pred = probs.argmax(axis=1)
    index = {str(c): i for i, c in enumerate(data.classes)}
    out = ConfusedExamples(best.number)
    for pair in wanted:
        t, p = index.get(str(pair["true"])), index.get(str(pair["predicted"]))
        if t is None or p is None:
            continue
        hits = np.flatnonzero((y == t) & (pred == p))
        conf = probs[hits, p]
        hits = hits[np.argsort(-conf, kind="stable")][:per_pair]
        if len(hits):
            out.pairs.append({"true": str(pair["true"]), "predicted": str(pair["predicted"]),
                              "count": int(pair["count"]),
                              "images": np.asarray(data.test_x[hits]), "indices": hits,
                              "confidence": probs[hits, p]})
    if not out.pairs:
        return None, "No test images found for the most-confused pairs."
    return out, ""


def confused_figure(ex: ConfusedExamples) -> Figure:
    """One row per confused pair: its test images, most confident mistakes first."""
    ncols = max(len(p["images"]) for p in ex.pairs)
    nrows = len(ex.pairs)
    with S.style():
        fig = S.new_figure(max(6.5, 1.15 * ncols + 1.5), 1.35 * nrows + 0.9)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for r, pair in enumerate(ex.pairs):
            for c in range(ncols):
                ax = axes[r, c]
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
                if c >= len(pair["images"]):
                    ax.set_axis_off()
                    continue
                img = pair["images"][c]
                side = math.isqrt(img.size)
                ax.imshow(img.reshape(side, side) if img.ndim == 1 else img, cmap="gray",
                          vmin=0, vmax=255 if img.dtype == np.uint8 else 1.0,
                          interpolation="nearest")
                ax.set_title(f"#{pair['indices'][c]}  {pair['confidence'][c]:.0%}",
                             fontsize=8, fontweight="normal")
                for spine in ax.spines.values():
                    spine.set_visible(False)
            axes[r, 0].set_ylabel(f"true {pair['true']}\n→ predicted {pair['predicted']}\n"
                                  f"({pair['count']}×)", rotation=0, ha="right", va="center",
                                  fontsize=9, labelpad=8)
        fig.suptitle(f"Selected trial {ex.number}: most-confused pairs (test images)\n"
                     "above each: test index, confidence in the wrong class")
    return fig

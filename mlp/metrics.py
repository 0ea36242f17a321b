"""Classification metrics, in plain NumPy.

Everything is computed from integer labels or from a confusion matrix, so the
numbers in a report and the figures drawn from it can never disagree. Results
that leave this module are plain Python ints and floats, ready for JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

LOG_CLIP = 1e-12


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of labels predicted exactly; 0.0 for empty input rather than NaN."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    _same_length(y_true, y_pred)
    if y_true.size == 0:
        return 0.0
    return float(np.mean(y_true == y_pred))


def mean_log_loss(probs: np.ndarray, y_true: np.ndarray) -> float:
    """Mean negative log probability of the true class.

    Probabilities are clipped at 1e-12 so that one confidently wrong example
    costs ~27.6 nats instead of making the whole mean infinite.
    """
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=np.int64)
    if probs.ndim != 2 or probs.shape[0] != y_true.shape[0]:
        raise ValueError(f"probs must be (N, C) with N = len(y_true); got {probs.shape} "
                         f"and {y_true.shape}")
    if y_true.size == 0:
        return 0.0
    p = probs[np.arange(y_true.shape[0]), y_true]
    return float(-np.mean(np.log(np.clip(p, LOG_CLIP, 1.0))))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts of (true, predicted) pairs: rows are true classes, columns predictions.

    One `np.bincount` over the flattened pair index, so it stays fast on the full
    test set and needs no Python loop.
    """
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    _same_length(y_true, y_pred)
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{name} has labels outside 0..{n_classes - 1}")
    flat = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).astype(np.int64)


def classification_report(cm: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """Per-class precision, recall, F1 and support, plus macro averages and accuracy.

    A class that is never predicted (or never present) gets 0.0 instead of NaN,
    so the report stays valid JSON and a missing class pulls the macro average down.
    """
    cm = _square(cm, class_names)
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    support = cm.sum(axis=1)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support.astype(np.float64))
    f1 = _safe_div(2 * precision * recall, precision + recall)
    total = int(cm.sum())
    per_class = [
        {
            "class": str(name),
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(class_names)
    ]
    return {
        "per_class": per_class,
        "macro": {
            "precision": float(precision.mean()) if len(class_names) else 0.0,
            "recall": float(recall.mean()) if len(class_names) else 0.0,
            "f1": float(f1.mean()) if len(class_names) else 0.0,
        },
        "accuracy": float(tp.sum() / total) if total else 0.0,
    }


def most_confused(cm: np.ndarray, class_names: Sequence[str], k: int = 10) -> list[dict[str, Any]]:
    """The k largest off-diagonal cells: which mistakes the model makes most often.

    Ties are broken by (true, predicted) index so the list is deterministic; empty
    cells are left out, so fewer than k entries come back for a near-perfect model.
    """
    cm = _square(cm, class_names)
    rows, cols = np.nonzero(cm)
    off = rows != cols
    rows, cols = rows[off], cols[off]
    counts = cm[rows, cols]
    # lexsort sorts by its last key first: count descending, then true, then predicted.
    order = np.lexsort((cols, rows, -counts))[: max(k, 0)]
    return [
        {"true": str(class_names[rows[i]]), "predicted": str(class_names[cols[i]]),
         "count": int(counts[i])}
        for i in order
    ]


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _same_length(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"label arrays differ in length: {a.shape[0]} vs {b.shape[0]}")


def _square(cm: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    cm = np.asarray(cm)
    n = len(class_names)
    if cm.shape != (n, n):
        raise ValueError(f"confusion matrix shape {cm.shape} does not match {n} class names")
    return cm

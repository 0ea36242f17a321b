import json
import math

import numpy as np
import pytest

from mlp.metrics import (
    accuracy,
    classification_report,
    confusion_matrix,
    mean_log_loss,
    most_confused,
)

NAMES = ["a", "b", "c"]
# Class "c" is present twice but never predicted; "b" is over-predicted.
Y_TRUE = np.array([0, 0, 0, 1, 1, 2, 2])
Y_PRED = np.array([0, 0, 1, 1, 1, 1, 0])


def test_confusion_matrix_hand_computed():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    expected = np.array([[2, 1, 0],
                         [0, 2, 0],
                         [1, 1, 0]])
    np.testing.assert_array_equal(cm, expected)
    assert cm.dtype == np.int64


def test_confusion_matrix_keeps_absent_classes_and_rejects_bad_labels():
    cm = confusion_matrix(np.array([1, 1]), np.array([1, 1]), 4)
    assert cm.shape == (4, 4)
    assert cm[1, 1] == 2 and cm.sum() == 2
    with pytest.raises(ValueError):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError):
        confusion_matrix(np.array([0, 1]), np.array([0]), 3)


def test_classification_report_hand_computed():
    report = classification_report(confusion_matrix(Y_TRUE, Y_PRED, 3), NAMES)
    a, b, c = report["per_class"]
    assert [r["class"] for r in report["per_class"]] == NAMES
    # a: tp 2, predicted 3, support 3
    assert a["precision"] == pytest.approx(2 / 3)
    assert a["recall"] == pytest.approx(2 / 3)
    assert a["f1"] == pytest.approx(2 / 3)
    assert a["support"] == 3
    # b: tp 2, predicted 4, support 2
    assert b["precision"] == pytest.approx(0.5)
    assert b["recall"] == pytest.approx(1.0)
    assert b["f1"] == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    # c: never predicted -> precision 0/0 -> 0.0, recall 0/2, f1 0/0 -> 0.0
    assert c == {"class": "c", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert report["macro"]["precision"] == pytest.approx((2 / 3 + 0.5 + 0) / 3)
    assert report["macro"]["recall"] == pytest.approx((2 / 3 + 1.0 + 0) / 3)
    assert report["macro"]["f1"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert report["accuracy"] == pytest.approx(4 / 7)


def test_classification_report_is_plain_json_without_nan():
    # A class that is neither present nor predicted: every ratio is 0/0.
    cm = confusion_matrix(np.array([0, 1]), np.array([0, 1]), 3)
    report = classification_report(cm, NAMES)
    text = json.dumps(report, allow_nan=False)  # raises on NaN/inf
    assert json.loads(text) == report
    assert report["per_class"][2]["f1"] == 0.0
    for row in report["per_class"]:
        assert type(row["support"]) is int
        assert all(type(row[k]) is float for k in ("precision", "recall", "f1"))
    assert type(report["accuracy"]) is float


def test_classification_report_rejects_mismatched_names():
    with pytest.raises(ValueError):
        classification_report(np.zeros((3, 3), dtype=np.int64), ["a", "b"])


def test_most_confused_order_and_ties():
    cm = np.array([[9, 3, 1],
                   [3, 9, 0],
                   [5, 3, 9]])
    got = most_confused(cm, NAMES, k=4)
    assert got == [
        {"true": "c", "predicted": "a", "count": 5},
        {"true": "a", "predicted": "b", "count": 3},  # ties: by true, then predicted
        {"true": "b", "predicted": "a", "count": 3},
        {"true": "c", "predicted": "b", "count": 3},
    ]
    assert all(type(r["count"]) is int for r in got)
    # zero cells and the diagonal never appear, so fewer than k may come back
    assert len(most_confused(cm, NAMES, k=100)) == 5
    assert most_confused(np.diag([4, 5, 6]), NAMES) == []
    assert most_confused(cm, NAMES, k=0) == []


def test_accuracy_agrees_with_confusion_matrix_trace():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 10, 5000)
    y_pred = np.where(rng.random(5000) < 0.8, y_true, rng.integers(0, 10, 5000))
    cm = confusion_matrix(y_true, y_pred, 10)
    assert cm.sum() == 5000
    assert accuracy(y_true, y_pred) == pytest.approx(np.trace(cm) / cm.sum())
    assert classification_report(cm, [str(i) for i in range(10)])["accuracy"] == pytest.approx(
        accuracy(y_true, y_pred))
    assert accuracy(np.array([1, 2, 3]), np.array([1, 0, 3])) == pytest.approx(2 / 3)
    assert isinstance(accuracy(y_true, y_pred), float)


def test_mean_log_loss_matches_direct_computation():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(50, 4))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = rng.integers(0, 4, 50)
    direct = -sum(math.log(probs[i, y[i]]) for i in range(50)) / 50
    assert mean_log_loss(probs, y) == pytest.approx(direct)


def test_mean_log_loss_clips_zero_probability():
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    got = mean_log_loss(probs, np.array([1, 0]))
    assert math.isfinite(got)
    assert got == pytest.approx((-math.log(1e-12) - math.log(0.5)) / 2)
    assert mean_log_loss(np.array([[0.0, 1.0]]), np.array([1])) == 0.0

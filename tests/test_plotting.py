"""skbert.plotting on the Agg backend: each helper returns its Axes with the expected
lines, and bad input fails with a message that says what to pass."""

from __future__ import annotations

import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

from skbert import TransformerMultiLabelClassifier  # noqa: E402
from skbert.plotting import (  # noqa: E402
    plot_history,
    plot_precision_recall,
    plot_threshold_curve,
    threshold_curve,
)

HISTORY = [
    {"epoch": 1, "train_loss": 0.40, "valid_loss": 0.30, "valid_f1": 0.20, "lr": 1e-4, "dur": 1},
    {"epoch": 2, "train_loss": 0.25, "valid_loss": 0.22, "valid_f1": 0.41, "lr": 5e-5, "dur": 1},
    {"epoch": 3, "train_loss": 0.18, "valid_loss": 0.21, "valid_f1": 0.45, "lr": 0.0, "dur": 1},
]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    Y = (rng.random((80, 4)) < 0.3).astype(int)
    proba = np.clip(0.6 * Y + 0.5 * rng.random((80, 4)), 0.001, 0.999)
    return Y, proba


def test_plot_history_from_estimator():
    clf = TransformerMultiLabelClassifier()
    clf.history_ = HISTORY  # what fit sets; no need to fine-tune here
    ax = plot_history(clf)
    assert isinstance(ax, plt.Axes)
    assert [line.get_label() for line in ax.get_lines()] == ["train loss", "valid loss"]
    assert list(ax.get_lines()[0].get_ydata()) == [0.40, 0.25, 0.18]
    twin = [a for a in ax.figure.axes if a is not ax]
    assert len(twin) == 1 and list(twin[0].get_lines()[0].get_ydata()) == [0.20, 0.41, 0.45]
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {
        "train loss", "valid loss", "valid micro-F1"}


def test_plot_history_without_validation_uses_given_ax():
    _, ax = plt.subplots()
    history = [{"epoch": e, "train_loss": 1 / e, "valid_loss": None, "valid_f1": None}
               for e in (1, 2)]
    assert plot_history(history, ax=ax) is ax
    assert len(ax.get_lines()) == 1 and len(ax.figure.axes) == 1


def test_plot_history_errors():
    with pytest.raises(NotFittedError):
        plot_history(TransformerMultiLabelClassifier())
    with pytest.raises(ValueError, match="fit the estimator first"):
        plot_history([])
    with pytest.raises(ValueError, match="train_loss"):
        plot_history([{"epoch": 1}])


def test_plot_precision_recall(data):
    Y, proba = data
    ax = plot_precision_recall(Y, proba, label_names=["a", "b", "c", "d"])
    labels = [line.get_label() for line in ax.get_lines()]
    assert len(labels) == 5 and labels[-1].startswith("micro-average (AP ")
    assert labels[0].startswith("a (AP ")
    for line in ax.get_lines():
        x, y = line.get_data()
        assert x.min() >= 0 and x.max() <= 1 and y.min() >= 0 and y.max() <= 1


def test_plot_precision_recall_frame_names_and_subset(data):
    pd = pytest.importorskip("pandas")
    Y, proba = data
    frame = pd.DataFrame(Y, columns=["joy", "anger", "fear", "love"])
    ax = plot_precision_recall(frame, proba, labels=["fear", 0])
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[0].startswith("fear") and labels[1].startswith("joy") and len(labels) == 3


def test_plot_precision_recall_many_labels_shows_the_ten_most_frequent():
    rng = np.random.default_rng(1)
    Y = (rng.random((200, 14)) < np.linspace(0.05, 0.6, 14)).astype(int)
    ax = plot_precision_recall(Y, rng.random((200, 14)))
    assert len(ax.get_lines()) == 11
    assert ax.get_lines()[0].get_label().startswith("13 ")  # the most frequent first


def test_plot_precision_recall_errors(data):
    Y, proba = data
    with pytest.raises(ValueError, match="equal"):
        plot_precision_recall(Y, proba[:, :3])
    with pytest.raises(ValueError, match="one name per column"):
        plot_precision_recall(Y, proba, label_names=["a"])
    with pytest.raises(ValueError, match="Unknown label 'zzz'"):
        plot_precision_recall(Y, proba, labels=["zzz"], label_names=list("abcd"))
    Y0 = Y.copy()
    Y0[:, 2] = 0
    with pytest.raises(ValueError, match="no positive example"):
        plot_precision_recall(Y0, proba, labels=[2])


def test_plot_threshold_curve_marks_the_best(data):
    Y, proba = data
    ax = plot_threshold_curve(Y, proba)
    curve, best, half = ax.get_lines()
    grid, scores = threshold_curve(Y, proba)
    assert np.allclose(curve.get_ydata(), scores)
    assert best.get_xdata()[0] == grid[np.argmax(scores)]
    assert best.get_ydata()[0] == pytest.approx(scores.max())
    assert list(half.get_xdata()) == [0.5, 0.5]
    assert ax.get_xlabel().startswith("threshold")


def test_plot_threshold_curve_other_metric_and_errors(data):
    Y, proba = data
    _, ax = plt.subplots()
    assert plot_threshold_curve(Y, proba, ax=ax, metric="f1_macro") is ax
    assert ax.get_ylabel() == "macro-F1"
    with pytest.raises(ValueError, match="f1_micro"):
        plot_threshold_curve(Y, proba, metric="accuracy")
    with pytest.raises(ValueError, match="no samples"):
        plot_threshold_curve(Y[:0], proba[:0])


def test_missing_matplotlib_names_the_extra(monkeypatch, data):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "skbert\[plot\]"'):
        plot_threshold_curve(*data)


def _explanation(text, labels, attributions):
    from skbert._explain import Explanation

    words = text.split()
    offsets, pos = [], 0
    for w in words:
        pos = text.index(w, pos)
        offsets.append((pos, pos + len(w)))
        pos += len(w)
    n = len(labels)
    return Explanation(text=text, words=words, offsets=np.array(offsets), labels=labels,
                       label_index=np.arange(n), attributions=np.array(attributions, float),
                       probabilities=np.full(n, 0.9), threshold=np.full(n, 0.5),
                       predicted=np.ones(n, bool), method="occlusion", logit=np.ones(n))


def test_plot_top_words_adds_up_a_label_over_texts():
    from skbert.plotting import plot_top_words

    ex = [_explanation("I am so Angry", ["anger"], [[0.3, -0.2, 0.3, 2.0]]),
          _explanation("angry again so", ["anger", "joy"], [[1.5, 0.1, 0.2], [0, 0, 1]]),
          _explanation("nice day", ["joy"], [[1.0, 0.5]])]
    ax = plot_top_words(ex, "anger", k=3)
    bars = ax.patches
    assert [round(b.get_width(), 6) for b in bars] == [0.3, 0.5, 3.5]  # strongest at the top
    assert [t.get_text() for t in ax.get_yticklabels()] == ["i (1)", "so (2)", "angry (2)"]
    assert "over 2 texts" in ax.get_title()
    ax = plot_top_words(ex, "anger", k=10, aggregate="mean", min_count=2)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["so (2)", "angry (2)"]
    negative = [b for b in ax.patches if b.get_width() < 0]
    assert not negative
    ax = plot_top_words(ex, "anger", k=10)
    colours = {b.get_width() < 0: b.get_facecolor()[:3] for b in ax.patches}
    assert colours[True] != colours[False]  # pushes off (blue) vs on (red)


def test_plot_top_words_errors():
    from skbert.plotting import plot_top_words

    ex = [_explanation("nice day", ["joy"], [[1.0, 0.5]])]
    with pytest.raises(ValueError, match="explained for none"):
        plot_top_words(ex, "anger")
    with pytest.raises(ValueError, match="k=0"):
        plot_top_words(ex, "joy", k=0)
    with pytest.raises(ValueError, match="aggregate='max'"):
        plot_top_words(ex, "joy", aggregate="max")

"""skbert.metrics: R-precision, precision/recall at k, and their scorers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import label_ranking_average_precision_score
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.multioutput import MultiOutputClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import LinearSVC

from skbert import TransformerMultiLabelClassifier
from skbert.metrics import (
    get_scorer,
    lrap_scorer,
    precision_at_5_scorer,
    precision_at_k_score,
    r_precision_score,
    r_precision_scorer,
    recall_at_k_score,
)

Y_TRUE = np.array([[1, 1, 0, 0, 0],
                   [0, 0, 1, 0, 0],
                   [1, 0, 1, 1, 0],
                   [0, 0, 0, 0, 0]])
SCORE = np.array([[0.9, 0.1, 0.8, 0.2, 0.0],
                  [0.1, 0.2, 0.7, 0.3, 0.0],
                  [0.6, 0.9, 0.5, 0.1, 0.4],
                  [0.5, 0.4, 0.3, 0.2, 0.1]])


def naive_r_precision(Y, S):
    """A loop over samples, straight from the definition."""
    values = []
    for y, s in zip(Y, S):
        r = int(y.sum())
        if r == 0:
            continue
        top = sorted(range(len(s)), key=lambda j: (-s[j], j))[:r]
        values.append(sum(y[j] for j in top) / r)
    return float(np.mean(values)) if values else 0.0


# --------------------------------------------------------------- hand-computed
def test_r_precision_hand_computed():
    # row 0: R=2, top-2 = labels 0, 2 -> 1 true -> 1/2
    # row 1: R=1, top-1 = label 2 -> 1
    # row 2: R=3, top-3 = labels 1, 0, 2 -> 2 true -> 2/3
    # row 3: no true label -> skipped
    expected = np.array([1 / 2, 1.0, 2 / 3, np.nan])
    np.testing.assert_allclose(r_precision_score(Y_TRUE, SCORE, average=None), expected)
    assert r_precision_score(Y_TRUE, SCORE) == pytest.approx((1 / 2 + 1 + 2 / 3) / 3)
    assert r_precision_score(Y_TRUE, SCORE) == pytest.approx(naive_r_precision(Y_TRUE, SCORE))


def test_precision_and_recall_at_k_hand_computed():
    # top-2 per row: {0, 2}, {2, 3}, {1, 0}, {0, 1}
    np.testing.assert_allclose(precision_at_k_score(Y_TRUE, SCORE, k=2, average=None),
                               [1 / 2, 1 / 2, 1 / 2, 0])
    assert precision_at_k_score(Y_TRUE, SCORE, k=2) == pytest.approx(1.5 / 4)
    np.testing.assert_allclose(recall_at_k_score(Y_TRUE, SCORE, k=2, average=None),
                               [1 / 2, 1, 1 / 3, np.nan])
    assert recall_at_k_score(Y_TRUE, SCORE, k=2) == pytest.approx((1 / 2 + 1 + 1 / 3) / 3)
    # k = n_labels: everything is in the top k.
    assert recall_at_k_score(Y_TRUE, SCORE, k=5) == 1.0
    assert precision_at_k_score(Y_TRUE, SCORE, k=5) == pytest.approx(Y_TRUE.sum() / 20)


def test_sample_weight():
    w = np.array([1.0, 0.0, 3.0, 5.0])  # the last row has no true label: skipped anyway
    assert r_precision_score(Y_TRUE, SCORE, sample_weight=w) == pytest.approx(
        (1 / 2 + 3 * 2 / 3) / 4)
    assert precision_at_k_score(Y_TRUE, SCORE, k=2, sample_weight=w) == pytest.approx(
        (1 / 2 + 3 / 2) / 9)


# ------------------------------------------------------------------------ ties
def test_ties_are_broken_by_label_index():
    flat = np.full((1, 4), 0.5)
    assert r_precision_score([[1, 0, 0, 0]], flat) == 1.0  # label 0 ranks first
    assert r_precision_score([[0, 0, 0, 1]], flat) == 0.0  # label 3 ranks last
    assert precision_at_k_score([[0, 1, 1, 0]], flat, k=2) == 0.5  # labels 0, 1
    # A partial tie: labels 1 and 2 tie below label 3; label 1 wins the tie.
    score = np.array([[0.1, 0.5, 0.5, 0.9]])
    assert precision_at_k_score([[0, 1, 0, 1]], score, k=2) == 1.0
    assert precision_at_k_score([[0, 0, 1, 1]], score, k=2) == 0.5
    # Deterministic: the same call gives the same value.
    Y = np.random.default_rng(0).integers(0, 2, size=(50, 6))
    S = np.round(np.random.default_rng(1).random((50, 6)), 1)  # many ties
    assert r_precision_score(Y, S) == r_precision_score(Y, S) == naive_r_precision(Y, S)


# ----------------------------------------------------------- perfect and worst
def test_perfect_ranking_scores_one():
    rng = np.random.default_rng(0)
    Y = rng.integers(0, 2, size=(40, 7))
    Y[0] = 0  # a sample without labels is skipped, not counted as a miss
    S = Y + 0.5 * rng.random(Y.shape)  # every true label above every false one
    assert r_precision_score(Y, S) == 1.0
    assert recall_at_k_score(Y, S, k=7) == 1.0
    assert r_precision_score(Y, -S) < 0.5
    # Logits rank like probabilities.
    assert r_precision_score(Y, np.log(S)) == 1.0


def test_no_true_label_at_all_warns_and_returns_zero():
    with pytest.warns(UndefinedMetricWarning, match="no sample has a true label"):
        assert r_precision_score(np.zeros((3, 4)), np.ones((3, 4))) == 0.0
    with pytest.warns(UndefinedMetricWarning):
        assert recall_at_k_score(np.zeros((3, 4)), np.ones((3, 4)), k=2) == 0.0


# ----------------------------------------------------------------- input forms
def test_input_forms():
    ref = r_precision_score(Y_TRUE, SCORE)
    frame = pd.DataFrame(Y_TRUE, columns=list("abcde"))
    assert r_precision_score(frame, SCORE) == ref
    assert r_precision_score(sp.csr_matrix(Y_TRUE), SCORE) == ref
    assert r_precision_score(Y_TRUE.tolist(), SCORE.tolist()) == ref
    assert r_precision_score(Y_TRUE.astype(bool), SCORE) == ref
    # MultiOutputClassifier's predict_proba: a list of (n, 2) arrays, column 1 = positive.
    as_list = [np.column_stack([1 - SCORE[:, j], SCORE[:, j]]) for j in range(5)]
    assert r_precision_score(Y_TRUE, as_list) == ref
    assert precision_at_k_score(Y_TRUE, as_list, k=3) == precision_at_k_score(Y_TRUE, SCORE, k=3)


def test_input_errors_name_the_fix():
    with pytest.raises(ValueError, match="MultiLabelBinarizer"):
        r_precision_score([1, 0, 1], [0.2, 0.3, 0.1])
    with pytest.raises(ValueError, match="only 0 and 1"):
        r_precision_score([[2, 0], [0, 1]], [[0.1, 0.2], [0.3, 0.4]])
    with pytest.raises(ValueError, match="must match"):
        r_precision_score(Y_TRUE, SCORE[:, :3])
    with pytest.raises(ValueError, match="binary classifier"):
        r_precision_score([[1, 0], [0, 1]], [0.3, 0.6])
    with pytest.raises(ValueError, match="single class"):
        r_precision_score([[1, 0], [0, 1]], [np.ones((2, 1)), np.ones((2, 2)) / 2])
    with pytest.raises(ValueError, match="NaN"):
        r_precision_score([[1, 0]], [[np.nan, 0.5]])
    with pytest.raises(ValueError, match="use k<=5"):
        precision_at_k_score(Y_TRUE, SCORE, k=6)
    for k in (0, 2.5, True):
        with pytest.raises(ValueError, match="positive int"):
            recall_at_k_score(Y_TRUE, SCORE, k=k)
    with pytest.raises(ValueError, match="'samples' or None"):
        r_precision_score(Y_TRUE, SCORE, average="micro")


# ---------------------------------------------------------------- properties
@st.composite
def labels_and_scores(draw):
    n = draw(st.integers(1, 12))
    m = draw(st.integers(1, 8))
    Y = draw(arrays(np.int8, (n, m), elements=st.integers(0, 1)))
    S = draw(arrays(np.float64, (n, m), elements=st.floats(-5, 5, width=32)))
    return Y, S


@settings(max_examples=150, deadline=None)
@given(labels_and_scores(), st.integers(1, 8))
def test_properties(data, k):
    Y, S = data
    per_sample = r_precision_score(Y, S, average=None)
    kept = per_sample[~np.isnan(per_sample)]
    assert ((kept >= 0) & (kept <= 1)).all()
    assert np.isnan(per_sample).sum() == (Y.sum(axis=1) == 0).sum()
    if Y.any():
        value = r_precision_score(Y, S)
        assert 0.0 <= value <= 1.0
        assert value == pytest.approx(naive_r_precision(Y, S))
        # A perfect ranking is always 1.
        assert r_precision_score(Y, Y + 0.5 * (S - S.min()) / (np.ptp(S) + 1)) == 1.0
    k = min(k, Y.shape[1])
    p = precision_at_k_score(Y, S, k=k, average=None)
    assert ((p >= 0) & (p <= 1)).all()
    # R-precision is precision at k = R: compare on the samples with R == k.
    rows = Y.sum(axis=1) == k
    np.testing.assert_allclose(per_sample[rows], p[rows])


# ------------------------------------------------------------------- scorers
def numeric_multilabel(n=150, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0.5, X[:, 2] - X[:, 3] > 0.5,
                         X[:, 4] > -0.3, X[:, 5] + X[:, 0] > 0.8, X[:, 1] < -1]).astype(int)
    return X, Y


def test_scorers_with_multi_output_classifier():
    """MultiOutputClassifier.predict_proba returns a list of (n, 2) arrays."""
    X, Y = numeric_multilabel()
    est = MultiOutputClassifier(LogisticRegression()).fit(X[:100], Y[:100])
    proba = est.predict_proba(X[100:])
    assert isinstance(proba, list)
    expected = r_precision_score(Y[100:], proba)
    assert r_precision_scorer(est, X[100:], Y[100:]) == pytest.approx(expected)
    assert lrap_scorer(est, X[100:], Y[100:]) == pytest.approx(
        label_ranking_average_precision_score(Y[100:], np.column_stack([p[:, 1] for p in proba])))
    assert precision_at_5_scorer(est, X[100:], Y[100:]) == pytest.approx(
        precision_at_k_score(Y[100:], proba, k=5))
    scores = cross_val_score(MultiOutputClassifier(LogisticRegression()), X, Y, cv=3,
                             scoring=r_precision_scorer, error_score="raise")
    assert scores.shape == (3,) and (scores > 0.6).all()
    search = GridSearchCV(MultiOutputClassifier(LogisticRegression()),
                          {"estimator__C": [0.01, 1.0]}, cv=KFold(3),
                          scoring={"rp": r_precision_scorer, "lrap": lrap_scorer,
                                   "p5": precision_at_5_scorer, "f1": "f1_micro"},
                          refit="rp", error_score="raise").fit(X, Y)
    assert set(search.cv_results_) >= {"mean_test_rp", "mean_test_lrap", "mean_test_p5"}


def test_scorers_fall_back_to_decision_function():
    X, Y = numeric_multilabel()
    est = OneVsRestClassifier(LinearSVC()).fit(X, Y)
    assert not hasattr(est, "predict_proba")
    assert r_precision_scorer(est, X, Y) == pytest.approx(
        r_precision_score(Y, est.decision_function(X)))


def test_two_label_models_are_scored_on_both_columns():
    """scikit-learn reads classes_ == [0, 1] as binary and keeps one column; skbert's
    scorers ask the model again for both, so they equal the metric on predict_proba."""
    X, Y = numeric_multilabel()
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0)
    with pytest.warns(Warning):  # ConvergenceWarning
        est.fit(X, Y[:, :2])
    assert r_precision_scorer(est, X, Y[:, :2]) == pytest.approx(
        r_precision_score(Y[:, :2], est.predict_proba(X)))


def test_scorers_with_the_transformer_classifier(tiny_st_model, corpus):
    X, Y = corpus
    est = TransformerMultiLabelClassifier(tiny_st_model, max_epochs=2, batch_size=8,
                                          learning_rate=3e-3, random_state=0, device="cpu")
    scoring = {"rp": r_precision_scorer, "lrap": lrap_scorer,
               "p2": get_scorer("precision_at_2"), "f1": "f1_micro"}
    search = GridSearchCV(est, {"threshold": [0.3, 0.5]}, cv=2, scoring=scoring, refit="rp",
                          error_score="raise").fit(X, Y)
    for name in ("rp", "lrap", "p2"):
        values = search.cv_results_[f"mean_test_{name}"]
        assert ((values >= 0) & (values <= 1)).all()
        # Ranking metrics ignore the threshold: both candidates score the same.
        assert values[0] == values[1]
    scores = cross_val_score(est, X, Y, cv=2, scoring=r_precision_scorer, error_score="raise")
    assert scores.shape == (2,)
    # The scorer equals the metric on predict_proba.
    fitted = search.best_estimator_
    assert r_precision_scorer(fitted, X, Y) == pytest.approx(
        r_precision_score(Y, fitted.predict_proba(X)))
    with pytest.raises(ValueError, match="use k<=4"):
        precision_at_5_scorer(fitted, X, Y)


# ---------------------------------------------------------------- get_scorer
def test_get_scorer_names():
    assert get_scorer("r_precision") is r_precision_scorer
    assert get_scorer("lrap") is lrap_scorer
    assert get_scorer("precision_at_k")._kwargs == {"k": 5}
    assert get_scorer("precision_at_k")._score_func is precision_at_k_score
    assert get_scorer("recall_at_10")._kwargs == {"k": 10}
    assert get_scorer("recall_at_k")._score_func is recall_at_k_score
    assert get_scorer("f1_micro")._score_func.__name__ == "f1_score"
    assert get_scorer(r_precision_scorer) is r_precision_scorer
    with pytest.raises(ValueError, match="'r_precision'.*get_scorer_names"):
        get_scorer("r_precison")

"""skbert.model_selection.MultilabelStratifiedKFold: a multi-label stratified splitter
that works as ``cv=`` anywhere in scikit-learn."""

from __future__ import annotations

import builtins
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    check_cv,
    cross_val_predict,
    cross_val_score,
)
from sklearn.multioutput import MultiOutputClassifier

from skbert import SkbertWarning, TransformerMultiLabelClassifier
from skbert.datasets import load_goemotions
from skbert.model_selection import MultilabelStratifiedKFold


@pytest.fixture(scope="module")
def goemotions():
    X, Y = load_goemotions(return_X_y=True)
    return X, np.asarray(Y)


def fold_counts(cv, X, Y):
    """Positives of every label in every (train, test) fold: two (n_folds, n_labels) arrays."""
    train, test = zip(*[(Y[tr].sum(axis=0), Y[te].sum(axis=0)) for tr, te in cv.split(X, Y)])
    return np.array(train), np.array(test)


@pytest.mark.parametrize("shuffle,seed", [(False, None), (False, 0), (True, 0), (True, 1)])
def test_every_goemotions_label_is_in_every_fold(goemotions, shuffle, seed):
    X, Y = goemotions
    assert Y.shape == (3000, 28)
    cv = MultilabelStratifiedKFold(n_splits=5, shuffle=shuffle, random_state=seed)
    train, test = fold_counts(cv, X, Y)
    assert (test > 0).all(), "a label is missing from a test fold"
    assert (train > 0).all(), "a label is missing from a training fold"
    # Better than "present": each fold holds its fifth of every label, give or take one.
    assert np.abs(test - Y.sum(axis=0) / 5).max() <= 1.0
    # The folds partition the data.
    tests = np.concatenate([te for _, te in cv.split(X, Y)])
    np.testing.assert_array_equal(np.sort(tests), np.arange(len(X)))


def test_plain_kfold_loses_labels_that_stratification_keeps(goemotions):
    """The benefit, measured: KFold (unshuffled, and for some seeds shuffled) leaves a
    label out of a test fold, and spreads positives far less evenly."""
    X, Y = goemotions
    _, test = fold_counts(KFold(5), X, Y)
    assert (test == 0).any()
    missing = [seed for seed in range(10)
               if (fold_counts(KFold(5, shuffle=True, random_state=seed), X, Y)[1] == 0).any()]
    assert missing  # seeds 2, 3 and 5 with this sample
    for seed in range(3):
        _, kf = fold_counts(KFold(5, shuffle=True, random_state=seed), X, Y)
        _, ms = fold_counts(MultilabelStratifiedKFold(5, shuffle=True, random_state=seed), X, Y)
        share = Y.sum(axis=0) / 5
        assert np.abs(ms - share).max() < np.abs(kf - share).max() / 5


def test_accepts_texts_dataframes_and_sparse_y(goemotions):
    X, Y = goemotions
    X, Y = X[:300], Y[:300]
    with pytest.warns(SkbertWarning, match="fewer positives"):  # label 26: 2 in 300 texts
        ref = [te for _, te in MultilabelStratifiedKFold(3, random_state=0).split(X, Y)]
    for y in (pd.DataFrame(Y, columns=[f"l{j}" for j in range(28)]), sp.csr_matrix(Y),
              Y.tolist(), Y.astype(bool)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkbertWarning)  # a few rare labels in 300 texts
            got = [te for _, te in MultilabelStratifiedKFold(3, random_state=0).split(X, y)]
        for a, b in zip(ref, got):
            np.testing.assert_array_equal(a, b)
    assert all(len(t) for t in ref)


def test_deterministic_without_shuffle_and_seeded_with_it(corpus):
    X, Y = corpus
    folds = lambda cv: [te.tolist() for _, te in cv.split(X, Y)]  # noqa: E731
    assert folds(MultilabelStratifiedKFold(3)) == folds(MultilabelStratifiedKFold(3))
    cv = MultilabelStratifiedKFold(3, shuffle=True, random_state=7)
    assert folds(cv) == folds(cv)
    assert (folds(MultilabelStratifiedKFold(3, shuffle=True, random_state=1))
            != folds(MultilabelStratifiedKFold(3, shuffle=True, random_state=2)))


def test_sklearn_splitter_api(corpus):
    X, Y = corpus
    cv = MultilabelStratifiedKFold(4, shuffle=True, random_state=0)
    assert cv.get_n_splits() == cv.get_n_splits(X, Y) == 4
    assert repr(cv) == "MultilabelStratifiedKFold(n_splits=4, random_state=0, shuffle=True)"
    assert check_cv(cv, Y, classifier=True) is cv
    assert len(list(cv.split(X, Y))) == 4


@pytest.mark.parametrize("y, match", [
    (np.array([0, 1, 0, 1]), "MultiLabelBinarizer"),
    (np.array([0, 1, 2, 1]), "StratifiedKFold"),
    (np.array([[0], [1], [0], [1]]), "MultiLabelBinarizer"),
    (np.array([[0, 2], [1, 0], [0, 1], [1, 1]]), "indicator matrix"),
])
def test_non_indicator_y_errors_name_the_fix(y, match):
    with pytest.raises(ValueError, match=match):
        next(MultilabelStratifiedKFold(2).split(["a", "b", "c", "d"], y))


def test_a_frame_fit_would_refuse_gets_fit_s_message():
    pd = pytest.importorskip("pandas")
    mixed = pd.DataFrame({"a": pd.arrays.SparseArray([1, 0] * 4, fill_value=0),
                          "b": pd.arrays.SparseArray([False, True] * 4, fill_value=False)})
    if mixed.iloc[:1].to_numpy().dtype == object:  # pandas 3: scikit-learn cannot read it
        with pytest.raises(ValueError, match="mixes sparse columns.*Y.sparse.to_dense"):
            next(MultilabelStratifiedKFold(2).split(list("abcdefgh"), mixed))
    else:  # pandas 2 reads it as numbers, and so do fit and the splitter
        assert len(list(MultilabelStratifiedKFold(2).split(list("abcdefgh"), mixed))) == 2
    with pytest.raises(ValueError, match="column 'a' is categorical"):
        next(MultilabelStratifiedKFold(2).split(
            list("abcdefgh"), pd.DataFrame({"a": pd.Categorical([0, 1] * 4), "b": [1, 0] * 4})))
    same = pd.DataFrame({"a": [1, 0] * 4, "b": [0, 1] * 4}).astype(pd.SparseDtype(int, 0))
    assert len(list(MultilabelStratifiedKFold(2).split(list("abcdefgh"), same))) == 2


def test_other_input_errors():
    Y = np.array([[1, 0], [0, 1], [1, 1]])
    with pytest.raises(ValueError, match="needs y"):
        next(MultilabelStratifiedKFold(2).split(["a", "b", "c"], None))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        next(MultilabelStratifiedKFold(2).split(["a", "b"], Y))
    with pytest.raises(ValueError, match="Lower n_splits"):
        next(MultilabelStratifiedKFold(4).split(["a", "b", "c"], Y))
    for bad in (1, 2.0, "3", True):
        with pytest.raises(ValueError, match="n_splits must be an int of at least 2"):
            MultilabelStratifiedKFold(bad)
    with pytest.raises(TypeError, match="shuffle"):
        MultilabelStratifiedKFold(3, shuffle="yes")


def test_warns_naming_labels_rarer_than_n_splits(corpus):
    X, Y = corpus
    Y = pd.DataFrame(np.column_stack([Y, np.eye(len(Y), 2, dtype=int)]),
                     columns=["sports", "politics", "food", "tech", "rare_a", "rare_b"])
    with pytest.warns(SkbertWarning, match=r"2 label\(s\).*'rare_a' \(1\), 'rare_b' \(1\)"):
        list(MultilabelStratifiedKFold(3).split(X, Y))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(MultilabelStratifiedKFold(3).split(X, Y.iloc[:, :4]))


def test_missing_iterstrat_gives_the_pip_command(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("iterstrat"):
            raise ImportError("No module named 'iterstrat'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="pip install iterative-stratification"):
        MultilabelStratifiedKFold()


def test_as_cv_with_a_plain_sklearn_estimator():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0.8, X[:, 2] + X[:, 3] > 1.5]).astype(int)
    cv = MultilabelStratifiedKFold(4, shuffle=True, random_state=0)
    est = MultiOutputClassifier(LogisticRegression())
    scores = cross_val_score(est, X, Y, cv=cv, scoring="f1_micro")
    assert scores.shape == (4,) and (scores > 0.5).all()
    proba = cross_val_predict(est, X, Y, cv=cv, method="predict_proba")
    assert len(proba) == 3 and proba[0].shape == (120, 2)
    search = GridSearchCV(est, {"estimator__C": [0.1, 1.0]}, cv=cv, scoring="f1_micro").fit(X, Y)
    assert search.n_splits_ == 4


def test_as_cv_with_the_transformer_classifier(tiny_st_model, corpus):
    X, Y = corpus
    est = TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, batch_size=8,
                                          learning_rate=3e-3, random_state=0, device="cpu")
    cv = MultilabelStratifiedKFold(2, shuffle=True, random_state=0)
    search = GridSearchCV(est, {"threshold": [0.3, 0.5]}, cv=cv, scoring="f1_micro",
                          error_score="raise").fit(X, Y)
    assert search.n_splits_ == 2
    scores = cross_val_score(est, X, Y, cv=cv, scoring="f1_micro", error_score="raise")
    assert scores.shape == (2,)
    # Same folds, same seed: the fit cache reuses the search's fold fits, so the scores match.
    np.testing.assert_allclose(scores, search.cv_results_["split0_test_score"][[1]].tolist()
                               + search.cv_results_["split1_test_score"][[1]].tolist())
    proba = cross_val_predict(est, X, Y, cv=cv, method="predict_proba")
    assert proba.shape == Y.shape

"""skbert.model_selection.cross_val_predict_proba: out-of-fold probabilities whose folds are
fitted on Y as given (a DataFrame keeps its label names), reused by a later search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import LABELS, make_corpus
from sklearn.model_selection import KFold, cross_val_predict, cross_validate

from skbert import TransformerMultiLabelClassifier
from skbert.model_selection import MultilabelStratifiedKFold, cross_val_predict_proba

FAST = dict(max_epochs=1, batch_size=16, max_length=16, random_state=0, device="cpu",
            precision="fp32", threshold=0.5, contrastive_steps=0)


@pytest.fixture(scope="module")
def data():
    X, Y = make_corpus(36)
    return X, pd.DataFrame(Y, columns=LABELS)


def test_folds_of_a_dataframe_keep_the_label_names_descriptions_too(tiny_st_model, data):
    X, Y = data
    clf = TransformerMultiLabelClassifier(
        tiny_st_model, label_descriptions={"sports": "football goal match"}, fit_cache=False,
        **FAST)
    cv = KFold(3, shuffle=True, random_state=0)
    with pytest.raises(ValueError, match="label_descriptions has the key 'sports'"):
        cross_val_predict(clf, X, Y, cv=cv, method="predict_proba")  # scikit-learn's
    proba = cross_val_predict_proba(clf, X, Y, cv=cv)
    manual = np.zeros(Y.shape)
    for train, test in cv.split(X, Y):
        fold = TransformerMultiLabelClassifier(
            tiny_st_model, label_descriptions={"sports": "football goal match"},
            fit_cache=False, **FAST).fit([X[i] for i in train], Y.iloc[train])  # a fresh fit
        assert list(fold.classes_) == LABELS
        manual[test] = fold.predict_proba([X[i] for i in test])
    np.testing.assert_allclose(proba, manual, rtol=0, atol=1e-6)


def test_a_later_cross_validate_on_the_dataframe_reuses_every_fold(tiny_st_model, data,
                                                                  train_calls):
    X, Y = data
    clf = TransformerMultiLabelClassifier(tiny_st_model, fit_cache=True, **FAST)
    cv = MultilabelStratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    proba = cross_val_predict_proba(clf, X, Y, cv=cv)
    assert proba.shape == Y.shape and len(train_calls) == 3
    result = cross_validate(clf, X, Y, cv=cv, scoring="f1_micro", return_estimator=True)
    assert len(train_calls) == 3  # every fold was found in the fit cache
    assert all(est.fit_cache_hit_ for est in result["estimator"])


def test_an_array_target_gives_what_cross_val_predict_gives(tiny_model, data):
    X, Y = data
    clf = TransformerMultiLabelClassifier(tiny_model, fit_cache=False, **FAST)
    cv = KFold(3)
    ours = cross_val_predict_proba(clf, X, Y.to_numpy(), cv=cv)
    theirs = cross_val_predict(clf, X, Y.to_numpy(), cv=cv, method="predict_proba")
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


def test_sample_weight_is_cut_to_each_training_fold(tiny_model, data, monkeypatch):
    X, Y = data
    seen = []
    real = TransformerMultiLabelClassifier.fit

    def recording(self, X, Y, **kwargs):
        seen.append((len(X), len(kwargs["sample_weight"])))
        return real(self, X, Y, **kwargs)

    monkeypatch.setattr(TransformerMultiLabelClassifier, "fit", recording)
    clf = TransformerMultiLabelClassifier(tiny_model, fit_cache=False, **FAST)
    cross_val_predict_proba(clf, X, Y, cv=KFold(3),
                            params={"sample_weight": np.linspace(0.5, 1.5, len(X))})
    assert seen == [(24, 24)] * 3


def test_folds_that_are_not_a_partition_are_refused(tiny_model, data):
    X, Y = data
    clf = TransformerMultiLabelClassifier(tiny_model, **FAST)
    half = np.arange(len(X) // 2)
    with pytest.raises(ValueError, match=r"not a partition of the texts \(18 test indices, 18 "
                                         r"distinct, for 36 texts\)"):
        cross_val_predict_proba(clf, X, Y, cv=[(half + 18, half)])
    with pytest.raises(ValueError, match=r"not a partition .*18 index\(es\) outside 0\.\.35 "
                                         r"\(e\.g\. -18\)"):
        cross_val_predict_proba(clf, X, Y, cv=[(half, half - 18), (half - 18, half)])


def test_an_int_cv_gives_scikit_learns_folds_so_cross_validate_reuses_them(
        tiny_model, data, train_calls):
    X, Y = data
    clf = TransformerMultiLabelClassifier(tiny_model, fit_cache=True, **FAST)
    proba = cross_val_predict_proba(clf, X, Y, cv=3)
    np.testing.assert_allclose(
        proba, cross_val_predict(clf, X, Y.to_numpy(), cv=3, method="predict_proba"),
        rtol=0, atol=1e-6)  # KFold(3), as scikit-learn reads cv=3 for multi-label Y
    n = len(train_calls)
    result = cross_validate(clf, X, Y, cv=3, return_estimator=True)
    assert len(train_calls) == n and all(e.fit_cache_hit_ for e in result["estimator"])


def test_groups_reach_a_group_splitter(tiny_model, data, monkeypatch):
    from sklearn.model_selection import GroupKFold

    X, Y = data
    groups = np.arange(len(X)) // 4  # 9 groups of 4 texts
    tested = []
    real = TransformerMultiLabelClassifier.predict_proba
    monkeypatch.setattr(TransformerMultiLabelClassifier, "predict_proba",
                        lambda self, Xt: tested.append(list(Xt)) or real(self, Xt))
    clf = TransformerMultiLabelClassifier(tiny_model, fit_cache=False, **FAST)
    cross_val_predict_proba(clf, X, Y, groups=groups, cv=GroupKFold(3))
    for texts in tested:  # no group is split between a training and a test fold
        fold_groups = {groups[X.index(t)] for t in texts}
        assert sum(groups[X.index(t)] in fold_groups for t in X) == len(texts)


@pytest.mark.parametrize("cv, error, said", [
    (True, TypeError, r"cv=True is a bool; pass a number of folds"),
    (1, ValueError, r"n_splits=1"),  # scikit-learn's own words
])
def test_a_cv_that_is_no_number_of_folds_is_refused(tiny_model, data, cv, error, said):
    X, Y = data
    with pytest.raises(error, match=said):
        cross_val_predict_proba(TransformerMultiLabelClassifier(tiny_model, **FAST), X, Y, cv=cv)


def test_a_1d_target_and_short_sample_weight_get_clear_errors(tiny_model, data):
    X, Y = data
    clf = TransformerMultiLabelClassifier(tiny_model, **FAST)
    with pytest.raises(ValueError, match="one 0/1 value per text"):
        cross_val_predict_proba(clf, X, Y["sports"].to_numpy(), cv=3)
    with pytest.raises(ValueError, match=r"params\['sample_weight'\] has 10 values for the 36 "
                                         r"texts of X"):
        cross_val_predict_proba(clf, X, Y, cv=3, params={"sample_weight": np.ones(10)})

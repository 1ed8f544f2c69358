"""Trial 18 (a scikit-learn user's habits): a wrapper that hands one label at a time, a
missing text in a re-indexed Series, 0/1 objects in Y, metadata routing through
cross_val_predict_proba, and the token files of a datasets.Dataset cleaned up explicitly."""

from __future__ import annotations

import gc
import os
import tempfile
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from conftest import LABELS, make_corpus
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.model_selection import GroupKFold
from sklearn.multioutput import MultiOutputClassifier

from skbert import TransformerMultiLabelClassifier
from skbert.model_selection import cross_val_predict_proba

FAST = dict(max_epochs=1, batch_size=16, max_length=16, random_state=0, device="cpu",
            precision="fp32", threshold=0.5, contrastive_steps=0, fit_cache=False)


@pytest.fixture(scope="module")
def data():
    X, Y = make_corpus(24)
    return X, Y


def test_a_wrapper_that_hands_one_label_at_a_time_is_told_to_fit_directly(tiny_model, data):
    X, Y = data
    with pytest.raises(ValueError, match="MultiOutputClassifier or OneVsRestClassifier") as info:
        MultiOutputClassifier(TransformerMultiLabelClassifier(tiny_model, **FAST)).fit(X, Y)
    assert "multi-label already" in str(info.value)
    with pytest.raises(ValueError) as info:  # a one-column frame: no wrapper is why
        TransformerMultiLabelClassifier(tiny_model, **FAST).fit(
            X, pd.DataFrame({"spam": Y[:, 0]}))
    assert "MultiOutputClassifier" not in str(info.value)


def test_a_missing_text_is_named_by_position_and_index_label(tiny_model, data):
    X, Y = data
    series = pd.Series(X, index=range(100, 100 + len(X)))
    series.loc[103] = None
    clf = TransformerMultiLabelClassifier(tiny_model, **FAST)
    with pytest.raises(ValueError, match=r"X\.iloc\[3\] \(index label 103\) is a missing") as info:
        clf.fit(series, Y)
    assert isinstance(info.value, TypeError)  # a str was expected: both, as NotFittedError
    with pytest.raises(TypeError, match=r"X\[3\] is a missing"):  # a plain list: X[3] is right
        clf.fit([x if i != 3 else None for i, x in enumerate(X)], Y)
    clf.fit(X, Y)
    shuffled = pd.Series(["fine", np.nan], index=[1, 0])  # after train_test_split
    with pytest.raises(ValueError, match=r"X\.iloc\[1\] \(index label 0\) is a missing"):
        clf.predict(shuffled)
    with pytest.raises(TypeError, match=r"X\[1\] is int"):  # positions equal to labels
        clf.predict(pd.Series(["fine", 7]))


def test_an_object_column_of_zeros_and_ones_is_told_its_dtype_is_the_problem(tiny_model, data):
    X, Y = data
    frame = pd.DataFrame(Y, columns=LABELS).astype(object)
    with pytest.raises(ValueError, match=r"\(or True/False\) values but has dtype object") as info:
        TransformerMultiLabelClassifier(tiny_model, **FAST).fit(X, frame)
    assert "Y = Y.astype(int)" in str(info.value)
    frame[LABELS[0]] = ["yes"] * len(X)  # not 0/1: the general message
    with pytest.raises(ValueError, match="must hold 0/1"):
        TransformerMultiLabelClassifier(tiny_model, **FAST).fit(X, frame)


def test_cross_val_predict_proba_routes_metadata_as_scikit_learn_does(tiny_model, data):
    X, Y = data
    groups, weights = np.arange(len(X)) % 4, np.linspace(0.5, 1.5, len(X))
    cv = GroupKFold(4)
    with sklearn.config_context(enable_metadata_routing=True):
        with pytest.raises(ValueError, match=r"params=\{'groups': groups\}"):
            cross_val_predict_proba(TransformerMultiLabelClassifier(tiny_model, **FAST), X, Y,
                                    cv=cv, groups=groups)
        with pytest.raises(UnsetMetadataPassedError, match="within cross_val_predict_proba"):
            cross_val_predict_proba(TransformerMultiLabelClassifier(tiny_model, **FAST), X, Y,
                                    cv=cv, params={"groups": groups, "sample_weight": weights})
        requested = TransformerMultiLabelClassifier(tiny_model, **FAST).set_fit_request(
            sample_weight=True)
        routed = cross_val_predict_proba(requested, X, Y, cv=cv,
                                         params={"groups": groups, "sample_weight": weights})
        unweighted = cross_val_predict_proba(TransformerMultiLabelClassifier(tiny_model, **FAST),
                                             X, Y, cv=cv, params={"groups": groups})
    with pytest.raises(TypeError, match="pass groups=groups"):  # routing off: groups=
        cross_val_predict_proba(TransformerMultiLabelClassifier(tiny_model, **FAST), X, Y,
                                cv=cv, params={"groups": groups})
    plain = cross_val_predict_proba(TransformerMultiLabelClassifier(tiny_model, **FAST), X, Y,
                                    cv=cv, groups=groups, params={"sample_weight": weights})
    bare = cross_val_predict_proba(TransformerMultiLabelClassifier(tiny_model, **FAST), X, Y,
                                   cv=cv, groups=groups)
    np.testing.assert_allclose(routed, plain, atol=1e-6)
    np.testing.assert_allclose(unweighted, bare, atol=1e-6)
    assert np.abs(plain - bare).max() > 1e-4  # the weights do change the fits


def test_a_dataset_fit_removes_its_token_files_without_a_resource_warning(tiny_model, data,
                                                                          tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    X, Y = data
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # not shared with other runs
    made = []

    class Recorded(tempfile.TemporaryDirectory):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self.name)

    monkeypatch.setattr(tempfile, "TemporaryDirectory", Recorded)
    before = {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("skbert-tokens-")}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        clf = TransformerMultiLabelClassifier(tiny_model, **FAST).fit(
            datasets.Dataset.from_dict({"text": X}), Y)
        clf.predict_proba(datasets.Dataset.from_dict({"text": X[:3]}))
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)
                and "skbert-tokens" in str(w.message)]
    after = {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("skbert-tokens-")}
    assert after <= before
    assert any("skbert-tokens-" in name for name in made)  # made here, and gone

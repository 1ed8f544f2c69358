"""Issue 22: a classifier from the label names alone (ZeroShotMultiLabelClassifier)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import KEYWORDS, LABELS, make_corpus
from sklearn.base import clone
from sklearn.metrics import label_ranking_average_precision_score as lrap
from sklearn.utils._param_validation import InvalidParameterError

from skbert import TransformerMultiLabelClassifier, ZeroShotMultiLabelClassifier

DESCRIPTIONS = {name: " ".join(words) for name, words in KEYWORDS.items()}


def _zero_shot(path, **kwargs):
    return ZeroShotMultiLabelClassifier(LABELS, label_descriptions=DESCRIPTIONS,
                                        model_name_or_path=path, device="cpu",
                                        precision="fp32", **kwargs)


def test_ranks_texts_by_their_labels_meaning_without_labelled_data(tiny_st_model, corpus):
    X, Y = corpus
    clf = _zero_shot(tiny_st_model).fit(X)  # unlabelled texts only
    proba = clf.predict_proba(X)
    assert proba.shape == Y.shape and ((proba > 0) & (proba < 1)).all()
    assert lrap(Y, proba) > 0.8
    assert list(clf.classes_) == LABELS
    # without unlabelled texts it still answers
    assert lrap(Y, _zero_shot(tiny_st_model).fit().predict_proba(X)) > 0.6


def test_never_an_empty_answer_by_default_and_calibrated_rates(tiny_st_model):
    X, _ = make_corpus(200, seed=3)
    clf = _zero_shot(tiny_st_model).fit(X)
    pred = clf.predict(X)
    assert (pred.sum(axis=1) >= 1).all()
    # "auto": each label's threshold lets it fire on about 1/n_labels of the fit texts
    rates = (clf.predict_proba(X) >= clf.thresholds_).mean(axis=0)
    np.testing.assert_allclose(rates, 1 / len(LABELS), atol=0.03)
    assert clf.set_params(min_labels=0, threshold=1.0).predict(X).sum() == 0


def test_saved_folder_is_a_classifier_that_fine_tunes_from_the_names(tiny_st_model, corpus,
                                                                      tmp_path):
    X, Y = corpus
    clf = _zero_shot(tiny_st_model).fit(X)
    clf.save_pretrained(tmp_path / "zs")
    loaded = TransformerMultiLabelClassifier.from_pretrained(str(tmp_path / "zs"))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-5)
    # a fit from the folder starts at the zero-shot head (kept: same labels)
    tuned = TransformerMultiLabelClassifier(
        str(tmp_path / "zs"), max_epochs=1, learning_rate=1e-12, head_learning_rate=1e-12,
        device="cpu", precision="fp32", random_state=0, fit_cache=False)
    import pandas as pd
    tuned.fit(X, pd.DataFrame(Y, columns=LABELS))
    np.testing.assert_allclose(tuned.predict_proba(X), clf.predict_proba(X), atol=1e-4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(labels=[]), "labels is empty"),
    (dict(labels=["a b", "a b"]), "labels"),
    (dict(labels=["7", "L07"]), r"have no words to embed"),
    (dict(labels=LABELS, template="no slot"), "must hold one"),
    (dict(labels=LABELS, label_descriptions={"nope": "x"}), "'nope'"),
])
def test_bad_labels_are_refused_with_the_fix(tiny_st_model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ZeroShotMultiLabelClassifier(model_name_or_path=tiny_st_model, device="cpu",
                                     **kwargs).fit()


def test_sklearn_contract(tiny_st_model, corpus):
    X, _ = corpus
    clf = _zero_shot(tiny_st_model, min_labels=2)
    assert clone(clf).get_params() == clf.get_params()
    with pytest.raises(InvalidParameterError, match="min_labels"):
        clone(clf).set_params(min_labels=-1).fit(X)
    tags = clf.__sklearn_tags__()
    assert tags.classifier_tags.multi_label and not tags.target_tags.required
    fitted = clf.fit(X, None)
    assert (fitted.predict(X).sum(axis=1) >= 2).all()
    assert fitted.decision_function(X).shape == (len(X), len(LABELS))


def test_a_saved_head_is_matched_to_the_labels_by_name_in_any_column_order(tiny_st_model,
                                                                          corpus, tmp_path):
    import pandas as pd

    X, Y = corpus
    clf = _zero_shot(tiny_st_model).fit(X)
    clf.save_pretrained(tmp_path / "zs")
    order = LABELS[::-1]  # e.g. MultiLabelBinarizer's sorted columns
    tuned = TransformerMultiLabelClassifier(
        str(tmp_path / "zs"), max_epochs=1, learning_rate=1e-12, head_learning_rate=1e-12,
        device="cpu", precision="fp32", random_state=0, fit_cache=False)
    tuned.fit(X, pd.DataFrame(Y, columns=LABELS)[order])
    assert list(tuned.classes_) == order
    np.testing.assert_allclose(tuned.predict_proba(X), clf.predict_proba(X)[:, ::-1], atol=1e-4)


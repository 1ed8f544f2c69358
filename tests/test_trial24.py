"""Findings of the fresh-eye user trial 24 (few labels, explain, the CLI), each pinned."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from skbert import TransformerMultiLabelClassifier

KW = dict(max_epochs=1, max_length=16, precision="fp32", contrastive_steps=0, fit_cache=False)


def test_refit_of_a_loaded_folder_does_not_warn_of_its_own_head_settings(
        tiny_st_model, corpus, tmp_path):
    """from_pretrained gives back the folder's head_init and label_descriptions; a refit of
    that estimator (or of its clone) keeps the trained head and did warn that the user's
    head_init and descriptions 'do not change this fit'. Values the folder recorded ask for
    nothing; a changed one still warns."""
    X, Y = corpus
    names = [f"topic_{j}" for j in range(Y.shape[1])]
    Yd = pd.DataFrame(Y, columns=names)
    described = {"topic_0": "sports news", "topic_1": "food"}
    TransformerMultiLabelClassifier(tiny_st_model, head_init="names",
                                    label_descriptions=described, **KW).fit(
        X, Yd).save_pretrained(tmp_path / "m")
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m")
    assert loaded.get_params()["head_init"] == "names"
    assert loaded.get_params()["label_descriptions"] == described
    for est in (loaded, clone(loaded)):
        est.set_params(**KW)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            est.fit(X, Yd)
    changed = clone(loaded).set_params(label_descriptions={**described, "topic_1": "cooking"})
    with pytest.warns(UserWarning, match=r"label_descriptions for \['topic_1'\] do not change"):
        changed.fit(X, Yd)
    other = clone(loaded).set_params(head_init="random")
    with pytest.warns(UserWarning, match=r"head_init='random' does not change this fit"):
        other.fit(X, Yd)


def test_descriptions_keyed_by_name_for_an_array_y_name_int_labels_and_the_fix(
        tiny_st_model, corpus):
    """With Y an array the labels are 0 .. n-1: the error showed them as strings
    (['0', '1', ...]) and said only to use classes_; it shows the ints and how to keep the
    names."""
    X, Y = corpus
    est = TransformerMultiLabelClassifier(tiny_st_model, label_descriptions={"sports": "ball"},
                                          **KW)
    with pytest.raises(ValueError, match=r"the labels \(\[0, 1, 2") as info:
        est.fit(X, Y)
    assert "pd.DataFrame(Y, columns=mlb.classes_)" in str(info.value)
    named = TransformerMultiLabelClassifier(tiny_st_model, label_descriptions={"sprots": "b"},
                                            **KW)
    with pytest.raises(ValueError, match=r"Use the label names \(classes_\) as keys"):
        named.fit(X, pd.DataFrame(Y, columns=[f"t{j}" for j in range(Y.shape[1])]))


def test_bytes_texts_get_the_decode_fix_not_str(tiny_st_model, corpus):
    """str(b'abc') is "b'abc'": the fix for bytes in X is to decode them."""
    X, Y = corpus
    est = TransformerMultiLabelClassifier(tiny_st_model, **KW)
    with pytest.raises(TypeError, match=r"X\[0\] is bytes .*x\.decode\('utf-8'\)") as info:
        est.fit([x.encode() for x in X], Y)
    assert "str(x)" not in str(info.value)


def test_negative_sample_weight_is_named_as_a_number(tiny_st_model, corpus):
    X, Y = corpus
    est = TransformerMultiLabelClassifier(tiny_st_model, **KW)
    with pytest.raises(ValueError, match=r"sample_weight\[0\] is -1\.0; weights must") as info:
        est.fit(X, Y, sample_weight=-np.ones(len(X)))
    assert "np.float64" not in str(info.value)


def test_a_random_head_after_a_warm_up_without_label_texts_names_both(tiny_st_model, corpus):
    """head_init='random' with contrastive_label_texts=False: the descriptions are read by
    neither, and the warning said only that the head starts random."""
    X, Y = corpus
    Yd = pd.DataFrame(Y, columns=[f"t{j}" for j in range(Y.shape[1])])
    est = TransformerMultiLabelClassifier(
        tiny_st_model, head_init="random", label_descriptions={"t0": "sports news"},
        **{**KW, "contrastive_steps": 2}, contrastive_label_texts=False)
    with pytest.warns(UserWarning, match=r"starts random, and contrastive_label_texts=False "
                                         r"keeps them out of the warm-up.*"
                                         r"contrastive_label_texts=True"):
        est.fit(X, Yd)

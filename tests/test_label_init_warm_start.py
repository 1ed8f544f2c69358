"""A ``warm_start`` refit continues the fitted encoder and head, so it reads no
``label_descriptions``: when they differ from those the model started from, it warns and
names the fix (``warm_start=False``)."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import KEYWORDS, LABELS

from skbert import TransformerMultiLabelClassifier, ZeroShotMultiLabelClassifier
from skbert._utils import SkbertWarning

FAST = dict(max_epochs=1, batch_size=16, max_length=16, random_state=0, device="cpu",
            precision="fp32", fit_cache=False, contrastive_steps=0)
DESCRIPTIONS = {name: " ".join(words) for name, words in KEYWORDS.items()}
NOT_READ = "warm_start=True continues the fitted encoder and head and reads no"


@pytest.fixture(scope="module")
def fitted(tiny_st_model, corpus):
    """A model started from ``DESCRIPTIONS`` (copy it before a refit)."""
    X, Y = corpus
    return TransformerMultiLabelClassifier(
        tiny_st_model, label_descriptions=DESCRIPTIONS, warm_start=True, **FAST).fit(
        X, pd.DataFrame(Y, columns=LABELS))


def _refit(clf, corpus, columns=LABELS, **params) -> list[warnings.WarningMessage]:
    """The warnings of a warm refit of ``clf`` (a copy) with ``params`` that say the
    descriptions are not read (``columns``: Y's label names; None: the labels 0 to 3)."""
    X, Y = corpus
    clf = copy.deepcopy(clf).set_params(warm_start=True, **params)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        clf.fit(X, Y if columns is None else pd.DataFrame(Y, columns=columns))
    assert len(clf.history_) == 2  # it continued the first fit
    return [w for w in record
            if issubclass(w.category, SkbertWarning) and NOT_READ in str(w.message)]


def test_changed_descriptions_warn_on_a_warm_refit_and_name_the_fix(fitted, corpus):
    record = _refit(fitted, corpus,
                    label_descriptions={**DESCRIPTIONS, "sports": "football match"})
    assert len(record) == 1
    message = str(record[0].message)
    assert "label_descriptions differ from those the fitted model started from" in message
    assert "(for the label(s) ['sports'])" in message
    assert "Refit with warm_start=False to start a new model from them" in message
    assert record[0].filename == __file__  # the user's fit line


def test_a_second_warm_refit_still_warns_the_change_was_never_read(fitted, corpus):
    """A warm refit reads no descriptions, so the record keeps those the model started
    from: the next warm refit with the same changed descriptions warns again, and
    setting them back is quiet."""
    X, Y = corpus
    changed = {**DESCRIPTIONS, "sports": "football match"}
    clf = copy.deepcopy(fitted).set_params(label_descriptions=changed)
    for _ in range(2):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            clf.fit(X, pd.DataFrame(Y, columns=LABELS))
        assert [w for w in record if NOT_READ in str(w.message)], "the change was not named"
    assert len(clf.history_) == 3
    clf.set_params(label_descriptions=DESCRIPTIONS)  # back to those it started from
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        clf.fit(X, pd.DataFrame(Y, columns=LABELS))
    assert not [w for w in record if NOT_READ in str(w.message)]


def test_added_or_removed_descriptions_warn_too(fitted, corpus, tiny_st_model):
    removed = _refit(fitted, corpus, label_descriptions=None)
    assert len(removed) == 1 and "start a new model without them" in str(removed[0].message)
    X, Y = corpus
    with warnings.catch_warnings():  # the tiny vocabulary does not know the label names
        warnings.simplefilter("ignore", SkbertWarning)
        plain = TransformerMultiLabelClassifier(tiny_st_model, **FAST).fit(
            X, pd.DataFrame(Y, columns=LABELS))
    added = _refit(plain, corpus, label_descriptions={"food": "pizza recipe"})
    assert len(added) == 1 and "(for the label(s) ['food'])" in str(added[0].message)


@pytest.mark.parametrize("same", [
    DESCRIPTIONS,
    {k: f"  {DESCRIPTIONS[k]} " for k in reversed(LABELS)},  # spaced, in another order
], ids=["as given", "spaced and reordered"])
def test_the_same_descriptions_do_not_warn(fitted, corpus, same):
    assert _refit(fitted, corpus, label_descriptions=same) == []


def test_integer_labels_named_by_numpy_or_python_ints_are_the_same(tiny_st_model, corpus):
    X, Y = corpus
    clf = TransformerMultiLabelClassifier(
        tiny_st_model, label_descriptions={np.int64(0): "football goal"}, **FAST).fit(X, Y)
    assert _refit(clf, corpus, None, label_descriptions={0: "football goal"}) == []
    assert len(_refit(clf, corpus, None, label_descriptions={0: "football match"})) == 1


def test_a_pickled_model_remembers_what_it_started_from(fitted, corpus):
    back = pickle.loads(pickle.dumps(fitted))
    assert _refit(back, corpus) == []
    assert len(_refit(back, corpus, label_descriptions={"food": "pizza"})) == 1


def test_a_loaded_folder_remembers_what_it_started_from(fitted, corpus, tmp_path):
    fitted.save_pretrained(tmp_path / "m")
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m")
    loaded.set_params(**{k: v for k, v in FAST.items() if k != "contrastive_steps"})
    assert _refit(loaded, corpus) == []
    assert len(_refit(loaded, corpus, label_descriptions={"tech": "robot"})) == 1


def test_a_model_fitted_before_the_record_warns_whenever_descriptions_are_given(fitted,
                                                                                corpus):
    older = copy.deepcopy(fitted)
    older._fitted_build = older._fitted_build[:2]  # as an earlier skbert recorded it
    record = _refit(older, corpus)
    assert len(record) == 1  # it cannot tell whether they changed
    message = str(record[0].message)
    assert "label_descriptions are given for ['food', 'politics', 'sports', 'tech']" in message
    assert "Refit with warm_start=False to start a new model from them" in message
    assert _refit(older, corpus, label_descriptions=None) == []  # none given: nothing to say
    del older._fitted_build  # older still: no record at all
    assert len(_refit(older, corpus)) == 1


def test_changed_build_parameters_are_still_refused_by_name(fitted, corpus):
    X, Y = corpus
    clf = copy.deepcopy(fitted).set_params(model_kwargs={"attn_implementation": "eager"},
                                           label_descriptions={"food": "pizza"})
    with pytest.raises(ValueError, match=r"but model_kwargs changed since it was built"):
        clf.fit(X, pd.DataFrame(Y, columns=LABELS))


def test_a_zero_shot_model_fine_tuned_warm_does_not_warn(tiny_st_model, corpus):
    zero = ZeroShotMultiLabelClassifier(LABELS, label_descriptions=DESCRIPTIONS,
                                        model_name_or_path=tiny_st_model, max_length=16,
                                        device="cpu", precision="fp32").fit()
    inner = zero.classifier_.set_params(**FAST)
    X, Y = corpus
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        inner.set_params(warm_start=True).fit(X, pd.DataFrame(Y, columns=LABELS))
    assert not [w for w in record if NOT_READ in str(w.message)]

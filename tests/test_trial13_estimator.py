"""Trial 13's findings on the estimators: targets lined up with the labels by name
(score, a zero-shot fit in cross_val_score/GridSearchCV), plain-str classes_, label
names that break CSV rows and the model card, threshold_metric_ of a fit that tuned
nothing, and docstrings the code contradicted."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest
from conftest import KEYWORDS, LABELS, make_corpus
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from skbert import TransformerMultiLabelClassifier, ZeroShotMultiLabelClassifier

DESCRIPTIONS = dict(zip(LABELS, (" ".join(words) for words in KEYWORDS.values())))
FAST = dict(precision="fp32", max_epochs=1, max_length=16, fit_cache=False, device="cpu",
            random_state=0, batch_size=8)


def _zero_shot(path, labels=LABELS, **kwargs):
    kwargs.setdefault("label_descriptions", {c: DESCRIPTIONS[str(c)] for c in labels
                                             if str(c) in DESCRIPTIONS})
    return ZeroShotMultiLabelClassifier(labels, model_name_or_path=path, device="cpu",
                                        precision="fp32", max_length=16, **kwargs)


@pytest.fixture(scope="module")
def fitted(tiny_st_model):
    """A classifier fitted on a DataFrame Y (threshold=0.5: no validation split)."""
    X, Y = make_corpus(48, seed=0)
    Ydf = pd.DataFrame(Y, columns=LABELS)
    clf = TransformerMultiLabelClassifier(tiny_st_model, threshold=0.5, **FAST).fit(X, Ydf)
    return clf, X, Ydf


# ------------------------------------------- finding 1: Y lined up with the labels by name
def test_score_refuses_a_frame_of_the_labels_in_another_order(fitted):
    clf, X, Y = fitted
    expected = accuracy_score(Y.to_numpy(), clf.predict(X))
    assert clf.score(X, Y) == expected
    assert clf.score(X, Y.to_numpy()) == expected  # an array is positional
    shuffled = Y[LABELS[::-1]]
    with pytest.raises(ValueError, match=r"in another order") as info:
        clf.score(X, shuffled)
    assert "y[list(clf.classes_)]" in str(info.value)  # score's argument is y
    assert clf.score(X, shuffled[list(clf.classes_)]) == expected  # the fix works


def test_score_refuses_a_frame_whose_names_are_not_classes_(fitted):
    clf, X, Y = fitted
    other = Y.set_axis(["fear", "sadness", "surprise", "joy"], axis=1)
    with pytest.raises(ValueError, match=r"not the labels.*'fear'.*y\.to_numpy\(\)") as info:
        clf.score(X, other)  # labels missing from its columns: only by position, if at all
    assert "y[list(clf.classes_)]" not in str(info.value)  # a KeyError for the missing ones
    with pytest.raises(ValueError, match="not the labels"):  # a frame of unnamed columns
        clf.score(X, pd.DataFrame(Y.to_numpy()))
    with pytest.raises(ValueError, match=r"has 3 column\(s\) but there are 4 labels"):
        clf.score(X, Y.to_numpy()[:, :3])


def test_zero_shot_fit_refuses_y_whose_columns_are_not_its_labels(tiny_st_model):
    X, Y = make_corpus(24, seed=0)
    Ydf = pd.DataFrame(Y, columns=LABELS)
    clf = _zero_shot(tiny_st_model, LABELS[:3])
    with pytest.raises(ValueError, match=r"not the labels .*'tech'") as info:
        clf.fit(X, Ydf)  # four columns for three labels
    assert "y[list(clf.labels)]" in str(info.value)
    with pytest.raises(ValueError, match=r"y has 4 column\(s\) but there are 3 labels"):
        clf.fit(X, Y)
    with pytest.raises(ValueError, match=r"in another order.*labels=list\(y.columns\)"):
        _zero_shot(tiny_st_model).fit(X, Ydf[LABELS[::-1]])
    with pytest.raises(ValueError, match="X has 24 texts but y has 23 rows"):
        _zero_shot(tiny_st_model).fit(X, Ydf.iloc[:23])
    # lined up, it fits as without y
    np.testing.assert_allclose(_zero_shot(tiny_st_model).fit(X, Ydf).predict_proba(X),
                               _zero_shot(tiny_st_model).fit(X).predict_proba(X))
    _zero_shot(tiny_st_model).fit(X, Y)  # an array of one column per label: positional


def test_zero_shot_cross_val_score_and_grid_search_refuse_misaligned_columns(tiny_st_model):
    X, Y = make_corpus(24, seed=0)
    Ydf = pd.DataFrame(Y, columns=LABELS)
    clf = _zero_shot(tiny_st_model, LABELS[:2])
    with pytest.raises(ValueError, match="not the labels"):
        cross_val_score(clf, X, Ydf[LABELS[2:]], cv=KFold(2), scoring="f1_micro",
                        error_score="raise")
    grid = GridSearchCV(_zero_shot(tiny_st_model), {"min_labels": [0, 1]}, cv=KFold(2),
                        scoring="f1_micro", error_score="raise")
    with pytest.raises(ValueError, match="in another order"):
        grid.fit(X, Ydf[LABELS[::-1]])
    scores = cross_val_score(_zero_shot(tiny_st_model), X, Ydf, cv=KFold(2),
                             scoring="f1_micro", error_score="raise")
    assert np.isfinite(scores).all()
    zero = _zero_shot(tiny_st_model).fit(X)
    with pytest.raises(ValueError, match=r"y\[list\(clf.classes_\)\]"):
        zero.score(X, Ydf[LABELS[::-1]])
    assert zero.score(X, Ydf) == accuracy_score(Y, zero.predict(X))


# ------------------------------------------------- finding 2: classes_ as plain str and int
@pytest.mark.parametrize("labels", [np.array(LABELS), pd.Series(LABELS), tuple(LABELS)])
def test_zero_shot_classes_are_plain_str_whatever_the_container(tiny_st_model, labels):
    clf = _zero_shot(tiny_st_model, labels, label_descriptions=DESCRIPTIONS).fit()
    assert [type(c) for c in clf.classes_] == [str] * 4
    assert [type(c) for c in clf.classifier_.classes_] == [str] * 4
    assert list(clf.classes_) == LABELS


# ----------------------------------- finding 3: empty names and control characters refused
BAD_NAMES = ["", "  ", "a\x00b", "a\tb", "a\nb", "a\rb", "a\u2028b"]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_fit_refuses_a_label_name_that_breaks_csv_and_the_card(tiny_st_model, bad):
    X, Y = make_corpus(16, seed=0)
    frame = pd.DataFrame(Y, columns=[bad, *LABELS[1:]])
    clf = TransformerMultiLabelClassifier(tiny_st_model, **FAST)
    with pytest.raises(ValueError, match="Y has the column name") as info:
        clf.fit(X, frame)
    message = str(info.value)
    assert repr(bad) in message and "rename(columns=" in message
    assert not hasattr(clf, "model_")


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_zero_shot_refuses_a_label_name_that_breaks_csv_and_the_card(tiny_st_model, bad):
    with pytest.raises(ValueError, match="labels holds") as info:
        _zero_shot(tiny_st_model, [bad, *LABELS[1:]]).fit()
    message = str(info.value)
    assert repr(bad) in message and "Rename it in labels" in message
    assert "Y.columns" not in message


def test_printable_names_with_inner_spaces_and_accents_still_fit(tiny_st_model):
    X, Y = make_corpus(16, seed=0)
    names = ["sports news", "politique étrangère", "food", "tech"]
    clf = TransformerMultiLabelClassifier(tiny_st_model, threshold=0.5, **FAST)
    assert list(clf.fit(X, pd.DataFrame(Y, columns=names)).classes_) == names


# ------------------------------------- finding 4: threshold_metric_ of a fit that tuned none
def test_threshold_metric_is_none_when_no_thresholds_were_tuned(fitted, tmp_path):
    clf = fitted[0]
    assert not hasattr(clf, "thresholds_")
    assert clf.threshold_metric_ is None
    clf.save_pretrained(tmp_path / "m")
    settings = json.loads((tmp_path / "m" / "skbert.json").read_text())
    assert settings["threshold_metric_"] is None
    card = (tmp_path / "m" / "README.md").read_text()
    assert "f1_shrunk" not in card
    assert "| `threshold_metric` | auto (not used: no thresholds were tuned) |" in card
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m")
    assert loaded.threshold_metric_ is None
    assert pickle.loads(pickle.dumps(clf)).threshold_metric_ is None
    assert pickle.loads(pickle.dumps(loaded)).threshold_metric_ is None
    # an older pickle, without the attribute and without thresholds_: none either
    state = clf.__getstate__()
    del state["threshold_metric_"]
    restored = TransformerMultiLabelClassifier.__new__(TransformerMultiLabelClassifier)
    restored.__setstate__(state)
    assert restored.threshold_metric_ is None


def test_threshold_metric_names_the_rule_when_thresholds_were_tuned(tiny_st_model, tmp_path):
    X, Y = make_corpus(48, seed=0)
    clf = TransformerMultiLabelClassifier(tiny_st_model, threshold="auto", **FAST).fit(X, Y)
    assert clf.threshold_metric_ == "f1_shrunk"  # "auto" on a few texts
    clf.save_pretrained(tmp_path / "m")
    card = (tmp_path / "m" / "README.md").read_text()
    assert "| `threshold_metric` | f1_shrunk (auto) |" in card
    assert TransformerMultiLabelClassifier.from_pretrained(
        tmp_path / "m").threshold_metric_ == "f1_shrunk"
    assert pickle.loads(pickle.dumps(clf)).threshold_metric_ == "f1_shrunk"
    # a refit at a fixed threshold tunes none: the rule is gone with the thresholds
    clf.set_params(threshold=0.5).fit(X, Y)
    assert clf.threshold_metric_ is None and not hasattr(clf, "thresholds_")


# ------------------------------------------------------------ finding 5: the docstrings
def test_docstrings_say_what_the_code_does():
    from skbert._label_init import MAX_DESCRIPTION_CHARS

    doc = " ".join(TransformerMultiLabelClassifier.__doc__.split())
    early = doc.split("early_stopping : bool")[1].split("validation_fraction :")[0]
    assert "``scoring``" in early and "validation loss with ``scoring=\"loss\"``" in early
    head = doc.split("head_learning_rate :")[1].split("max_epochs :")[0]
    assert "random weights" not in head and "``head_init``" in head
    descriptions = doc.split("label_descriptions : dict")[1].split("contrastive_steps :")[0]
    assert f"{MAX_DESCRIPTION_CHARS:,} characters" in descriptions
    assert "threshold_metric_ : str or None" in doc


def test_the_description_limit_the_docs_state_is_the_one_fit_applies(tiny_st_model):
    from skbert._label_init import MAX_DESCRIPTION_CHARS

    limit = f"keep each description to at most {MAX_DESCRIPTION_CHARS}"
    with pytest.raises(ValueError, match=limit):
        _zero_shot(tiny_st_model, label_descriptions={
            **DESCRIPTIONS, "food": "pizza " * (MAX_DESCRIPTION_CHARS // 6 + 1)}).fit()


# --------------------------------------------- finding 6: the epochs max_epochs="auto" chose
def test_the_epoch_count_max_epochs_auto_chose_is_recorded(tiny_st_model, monkeypatch):
    from skbert import _runner

    monkeypatch.setattr(_runner, "MIN_AUTO_STEPS", 10)  # 16 texts, batches of 8: 5 epochs
    X, Y = make_corpus(16, seed=0)
    clf = TransformerMultiLabelClassifier(tiny_st_model, threshold=0.5, **FAST).fit(X, Y)
    assert clf._fit_info["max_epochs"] == 1 == clf.n_epochs_
    clf.set_params(max_epochs="auto").fit(X, Y)
    assert clf._fit_info["max_epochs"] == 5 == clf.n_epochs_

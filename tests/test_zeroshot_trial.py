"""Trial 9's findings on ZeroShotMultiLabelClassifier: label names a folder cannot hold,
min_labels="auto" on a zero-shot folder, the template check and the sklearn tags."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import KEYWORDS, LABELS, make_corpus

from skbert import TransformerMultiLabelClassifier, ZeroShotMultiLabelClassifier

DESCRIPTIONS = list(" ".join(words) for words in KEYWORDS.values())


def _zero_shot(path, labels=LABELS, **kwargs):
    if labels is LABELS:  # the tiny vocabulary knows the keywords, not the names
        kwargs.setdefault("label_descriptions", dict(zip(LABELS, DESCRIPTIONS)))
    return ZeroShotMultiLabelClassifier(labels, model_name_or_path=path, device="cpu",
                                        precision="fp32", max_length=32, **kwargs)


# ---------------------------------------------------------------- item 1: label names
@pytest.mark.parametrize("labels, shown", [
    ([0.5, 1.5], "0.5 (float)"),
    ([True, False], "True (bool)"),
    ([("a", "b"), ("c",)], "('a', 'b') (tuple)"),
    (["sports", None], "None (NoneType)"),
    (["sports", 2**63], "beyond int64"),
])
def test_item1_label_names_a_folder_cannot_hold_are_refused_at_fit(tiny_st_model, tmp_path,
                                                                   labels, shown):
    desc = dict(zip(labels, DESCRIPTIONS))
    with pytest.raises(ValueError, match="labels") as info:
        _zero_shot(tiny_st_model, labels, label_descriptions=desc).fit()
    message = str(info.value)
    assert shown in message and "str or int" in message and "labels=[str(c)" in message
    assert "Y.columns" not in message  # the zero-shot labels are no DataFrame's columns


def test_item1_numpy_int_labels_become_python_ints_and_save(tiny_st_model, tmp_path):
    X, _ = make_corpus(16, seed=0)
    labels = np.arange(4)
    desc = dict(zip(labels, DESCRIPTIONS))  # numpy-int keys, as dict(zip(mlb.classes_, ...))
    clf = _zero_shot(tiny_st_model, labels, label_descriptions=desc).fit(X)
    # int labels are int64 classes_, as a loaded model's (trial 23); they save as ints
    assert clf.classes_.dtype == np.int64 and list(clf.classes_) == [0, 1, 2, 3]
    clf.save_pretrained(tmp_path / "zs")
    saved = json.loads((tmp_path / "zs" / "skbert.json").read_text())
    assert saved["classes"] == [0, 1, 2, 3]
    loaded = TransformerMultiLabelClassifier.from_pretrained(str(tmp_path / "zs"))
    assert list(loaded.classes_) == [0, 1, 2, 3]
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-5)


def test_item1_duplicate_labels_still_name_labels(tiny_st_model):
    with pytest.raises(ValueError, match="labels 'a b'.*'a b'") as info:
        _zero_shot(tiny_st_model, ["a b", "a b"]).fit()
    assert "Y.columns" not in str(info.value)


# ---------------------------------------------------------------- item 2: min_labels="auto"
def test_item2_auto_min_labels_of_a_zero_shot_model_is_one(tiny_st_model, tmp_path):
    X, _ = make_corpus(48, seed=0)
    clf = _zero_shot(tiny_st_model).fit(X)
    assert clf.classifier_.min_labels_ == 1
    # "auto" on the zero-shot classifier itself: never empty, like the default
    never_empty = clf.set_params(min_labels="auto", threshold=1.0).predict(X)
    assert (never_empty.sum(axis=1) == 1).all()
    clf.set_params(min_labels=1, threshold="auto").save_pretrained(tmp_path / "zs")
    assert json.loads((tmp_path / "zs" / "skbert.json").read_text())["min_labels_"] == 1
    loaded = TransformerMultiLabelClassifier.from_pretrained(str(tmp_path / "zs"))
    pred = loaded.set_params(min_labels="auto", threshold=1.0).predict(X)
    assert (pred.sum(axis=1) == 1).all()


# ---------------------------------------------------------------- item 3: template
def test_item3_literal_braces_in_a_template_are_accepted(tiny_st_model):
    X, _ = make_corpus(16, seed=0)
    names = [words[0] for words in KEYWORDS.values()]  # known words: the template is used
    braced = _zero_shot(tiny_st_model, names, template="{{}} about {}").fit(X)
    plain = _zero_shot(tiny_st_model, names, template="about {}").fit(X)
    assert braced.predict_proba(X).shape == (16, len(names))
    # the literal "{}" is read (as the unknown token): another text than without it
    assert not np.allclose(braced.predict_proba(X), plain.predict_proba(X))


@pytest.mark.parametrize("template", [
    "{} about {x}", "{} about {", "{} about }", "{0} about", "{} and {}", "no slot", "{!r}",
    "{:>9}",
])
def test_item3_bad_templates_name_the_parameter_value_and_fix(tiny_st_model, template):
    with pytest.raises(ValueError, match="must hold one") as info:
        _zero_shot(tiny_st_model, template=template).fit()
    message = str(info.value)
    assert f"template={template!r}" in message and "'This text is about {}.'" in message


# ---------------------------------------------------------------- item 4: sklearn tags
def test_item4_tags_agree_with_the_fine_tuned_classifier():
    zero = ZeroShotMultiLabelClassifier(LABELS).__sklearn_tags__()
    tuned = TransformerMultiLabelClassifier().__sklearn_tags__()
    for group in ("target_tags", "classifier_tags", "input_tags"):
        for name in ("multi_output", "single_output", "multi_class", "multi_label",
                     "string", "two_d_array"):
            if hasattr(getattr(tuned, group), name):
                assert getattr(getattr(zero, group), name) == getattr(getattr(tuned, group),
                                                                      name), (group, name)
    assert not zero.target_tags.required  # fit needs no labels


def test_trial6_labels_as_a_set_are_refused(tiny_st_model):
    with pytest.raises(ValueError, match=r"labels is a set .*labels=sorted\(labels\)"):
        _zero_shot(tiny_st_model, labels=set(LABELS)).fit([])


def test_trial6_verbose_names_the_logistic_start_without_a_count_of_zero(tiny_st_model, capsys):
    X, Y = make_corpus(48, seed=0)
    import pandas as pd

    TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, max_length=16, verbose=1,
                                    fit_cache=False, contrastive_steps=1, random_state=0).fit(
        X, pd.DataFrame(Y, columns=LABELS))
    out = capsys.readouterr().out
    assert "contrastive warm-up: 1 step in" in out
    assert "head start: logistic" in out and "read for 0 of" not in out


def test_trial10_no_texts_centre_on_the_labels_as_none_does(tiny_st_model):
    import pandas as pd

    texts = ["football match", "the pizza recipe"]
    reference = _zero_shot(tiny_st_model).fit().predict_proba(texts)
    for empty in ([], (), np.array([], dtype=object), pd.Series([], dtype=object), iter([]),
                  (t for t in [])):
        np.testing.assert_array_equal(
            _zero_shot(tiny_st_model).fit(empty).predict_proba(texts), reference)
    with pytest.raises(TypeError, match="Wrap a single text"):
        _zero_shot(tiny_st_model).fit("")  # one str is not a list of texts


def test_trial10_labels_as_a_dict_say_where_the_descriptions_go(tiny_st_model):
    with pytest.raises(ValueError, match=r"labels is a dict \(\['sports', 'politics', 'food'\] "
                                         r"...\).*labels=list\(d\), label_descriptions=d\)\.$"):
        ZeroShotMultiLabelClassifier(dict(zip(LABELS, DESCRIPTIONS)),
                                     model_name_or_path=tiny_st_model).fit()
    with pytest.raises(ValueError, match=r"\(\['sports', 'politics'\]\).*label_descriptions=d\), "
                                         r"with the label_descriptions you give added to d"):
        ZeroShotMultiLabelClassifier({"sports": "a", "politics": "b"},
                                     label_descriptions={"sports": "match"},
                                     model_name_or_path=tiny_st_model).fit()


@pytest.mark.parametrize("texts, rule, words", [
    (None, "default", "0.5 for every label (no texts were given to calibrate them)"),
    (["football match", "the pizza recipe", "vote in the senate"], "label_rate",
     "each label fires on 1/n_labels of the texts given to fit"),
])
def test_trial11_a_zero_shot_model_says_how_its_thresholds_were_set(tiny_st_model, tmp_path,
                                                                     texts, rule, words):
    """It said f1_shrunk, "tuned on the validation split", though nothing was tuned."""
    zero = _zero_shot(tiny_st_model).fit(texts)
    assert zero.classifier_.threshold_metric_ == rule
    zero.save_pretrained(tmp_path / "z")
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "z")
    assert loaded.threshold_metric_ == rule
    card = (tmp_path / "z" / "README.md").read_text()
    assert words in card and "validation split (" not in card
    # a fine-tune from the folder tunes its own (threshold_metric="auto" on a few texts)
    X, Y = make_corpus(24, seed=0)
    import pandas as pd
    loaded.set_params(max_epochs=1, max_length=16, threshold="auto").fit(
        X, pd.DataFrame(Y, columns=LABELS))
    assert loaded.threshold_metric_ == "f1_shrunk"


def test_trial11_evaluate_describes_a_zero_shot_folder_s_thresholds(tiny_st_model, tmp_path,
                                                                      capsys):
    from skbert.cli import main

    _zero_shot(tiny_st_model).fit(["football match", "the pizza recipe"]).save_pretrained(
        tmp_path / "z")
    X, Y = make_corpus(12, seed=1)
    with open(tmp_path / "d.jsonl", "w") as fh:
        for t, y in zip(X, Y):
            fh.write(json.dumps({"text": t, "labels": [n for n, v in zip(LABELS, y) if v]})
                     + "\n")
    assert main(["evaluate", str(tmp_path / "z"), str(tmp_path / "d.jsonl")]) == 0
    out = capsys.readouterr().out
    assert ("threshold: auto, one per label, set so that each label fires on 1/n_labels of "
            "the texts given to fit: ") in out and "validation split" not in out

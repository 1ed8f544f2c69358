"""Trial 9: ``label_descriptions`` and the head's start (items 1 to 5 of the brief).

1. numpy-integer keys are saved (as the labels they name) and load back;
2. ``label_descriptions`` is checked on every fit, before any work, and a
   saved folder's is checked against its labels;
3. label texts that tell a ``"names"``/``"labels"`` head nothing warn;
4. descriptions the head that starts does not read warn, and ``verbose``
   says which head started;
5. a warm-up of 0 steps is reported without ``nan``.
"""

from __future__ import annotations

import io
import json
import math
import os
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from conftest import KEYWORDS, LABELS
from sklearn.preprocessing import MultiLabelBinarizer

from skbert import TransformerMultiLabelClassifier, _runner
from skbert._label_init import check_label_descriptions, label_descriptions_problem
from skbert._utils import SkbertWarning

FAST = dict(max_epochs=1, batch_size=16, max_length=32, random_state=0, device="cpu",
            precision="fp32", fit_cache=False)
DESCRIPTIONS = {name: " ".join(words) for name, words in KEYWORDS.items()}


def _clf(path, **kwargs):
    return TransformerMultiLabelClassifier(path, **{**FAST, **kwargs})


def _int_labels(Y):
    """``Y`` as MultiLabelBinarizer gives it for integer label ids: classes 0..3."""
    mlb = MultiLabelBinarizer()
    Ym = mlb.fit_transform([[int(j) for j in np.flatnonzero(row)] for row in Y])
    return mlb, Ym


def _skbert_messages(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, SkbertWarning)]


# ------------------------------------------------------------------------ item 1
def test_item1_numpy_int_keys_are_saved_and_load_back(tiny_st_model, corpus, tmp_path):
    X, Y = corpus
    mlb, Ym = _int_labels(Y)
    desc = dict(zip(mlb.classes_, [DESCRIPTIONS[name] for name in LABELS]))
    assert isinstance(next(iter(desc)), np.integer)
    clf = _clf(tiny_st_model, label_descriptions=desc, head_init="labels",
               contrastive_steps=0).fit(X, Ym)
    clf.save_pretrained(tmp_path / "m")
    assert clf.label_descriptions is desc  # the parameter is left as it was set
    assert all(isinstance(k, np.integer) for k in clf.label_descriptions)
    saved = json.loads((tmp_path / "m" / "skbert.json").read_text())["params"]
    assert saved["label_descriptions"] == {str(i): DESCRIPTIONS[n] for i, n in enumerate(LABELS)}
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m")
    # the keys read back name the same labels, and a refit reads them
    assert check_label_descriptions(loaded.label_descriptions, loaded.classes_) == {
        str(i): DESCRIPTIONS[n] for i, n in enumerate(LABELS)}
    loaded.set_params(model_name_or_path=tiny_st_model, head_init="labels",
                      contrastive_steps=0, max_epochs=1).fit(X, Ym)


def test_item1_joblib_round_trip_then_save(tiny_st_model, corpus, tmp_path):
    X, Y = corpus
    mlb, Ym = _int_labels(Y)
    desc = dict(zip(mlb.classes_, [DESCRIPTIONS[name] for name in LABELS]))
    clf = _clf(tiny_st_model, label_descriptions=desc, head_init="labels",
               contrastive_steps=0).fit(X, Ym)
    buffer = io.BytesIO()
    joblib.dump(clf, buffer)
    buffer.seek(0)
    back = joblib.load(buffer)
    back.save_pretrained(tmp_path / "m")
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(X[:5]), clf.predict_proba(X[:5]),
                               atol=1e-5)


def test_item1_descriptions_set_after_fit_are_refused_before_any_file(tiny_st_model, corpus,
                                                                      tmp_path):
    X, Y = corpus
    clf = _clf(tiny_st_model, contrastive_steps=0).fit(X, pd.DataFrame(Y, columns=LABELS))
    clf.set_params(label_descriptions={"sprots": "football match"})
    with pytest.raises(ValueError, match="'sprots', which is not one of the labels"):
        clf.save_pretrained(tmp_path / "m")
    assert not os.path.exists(tmp_path / "m")


@pytest.mark.parametrize("descriptions", [
    {1: "ball games", "1": "elections"},
    {np.int64(1): "ball games", "1": "elections"},
])
def test_item1_two_keys_of_one_label_are_refused(descriptions):
    # JSON would write both as "1": one of them would be lost in the saved folder
    with pytest.raises(ValueError, match="name the same label '1'"):
        check_label_descriptions(descriptions, np.array([0, 1, 2]))


# ------------------------------------------------------------------------ item 2
BAD = [{"sprots": "football match"}, {"food": 123}]


@pytest.mark.parametrize("bad", BAD, ids=["typo_key", "int_value"])
@pytest.mark.parametrize("model, kwargs", [
    ("tiny_st_model", dict(head_init="random", contrastive_steps=0)),
    ("tiny_model", dict()),  # cls pooling: "auto" starts random
    ("tiny_st_model", dict(head_init="logistic")),
], ids=["random", "cls_auto", "logistic"])
def test_item2_descriptions_checked_on_every_fit_before_any_work(
        request, monkeypatch, corpus, model, kwargs, bad):
    X, Y = corpus

    def no_work(*args, **kw):
        raise AssertionError("the fit started working before checking label_descriptions")

    monkeypatch.setattr(_runner, "_train", no_work)
    clf = _clf(request.getfixturevalue(model), label_descriptions=bad, **kwargs)
    with pytest.raises(ValueError, match="label_descriptions"):
        clf.fit(X, pd.DataFrame(Y, columns=LABELS))


def test_item2_refit_of_a_saved_folder_keeping_its_head_checks_them(tiny_st_model, corpus,
                                                                    tmp_path):
    X, Y = corpus
    Yd = pd.DataFrame(Y, columns=LABELS)
    _clf(tiny_st_model, contrastive_steps=0).fit(X, Yd).save_pretrained(tmp_path / "m")
    with pytest.raises(ValueError, match="'sprots', which is not one of the labels"):
        _clf(str(tmp_path / "m"), label_descriptions=BAD[0]).fit(X, Yd)


HOSTILE = {
    "nested": {"sports": {"text": "football"}},
    "nan": {"sports": math.nan},
    "unknown_key": {"sprots": "football"},
    "huge": {"sports": "x" * 5_000_000},
}


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
def test_item2_saved_descriptions_problem_names_the_bad_entry(value):
    problem = label_descriptions_problem(value, LABELS)
    assert problem is not None and "per label of 'classes'" in problem
    assert len(problem) < 400  # a 5 MB text is not echoed
    assert label_descriptions_problem(DESCRIPTIONS, LABELS) is None
    assert label_descriptions_problem({"0": "x"}, [0, 1]) is None  # JSON's key of label 0


def _hostile_folder(tiny_st_model, corpus, tmp_path, value):
    X, Y = corpus
    folder = tmp_path / "m"
    _clf(tiny_st_model, contrastive_steps=0).fit(X, pd.DataFrame(Y, columns=LABELS)
                                                  ).save_pretrained(folder)
    settings = json.loads((folder / "skbert.json").read_text())
    settings["params"]["label_descriptions"] = value
    (folder / "skbert.json").write_text(json.dumps(settings))
    return folder


@pytest.mark.parametrize("name", list(HOSTILE))
def test_item2_hostile_saved_descriptions_are_left_out_at_load(tiny_st_model, corpus,
                                                               tmp_path, name):
    """Only a refit reads them: an older skbert saved stray keys with a random head, and such
    a folder must still load and predict, so a bad value is dropped with a warning."""
    X, Y = corpus
    folder = _hostile_folder(tiny_st_model, corpus, tmp_path, HOSTILE[name])
    with pytest.warns(SkbertWarning, match=r"params.label_descriptions is .* left out") as rec:
        loaded = TransformerMultiLabelClassifier.from_pretrained(folder)
    assert all(len(str(w.message)) < 1000 for w in rec)  # a 5 MB text is not echoed
    assert [w.filename for w in rec] == [__file__]  # points at the from_pretrained call
    assert loaded.label_descriptions is None
    assert loaded.predict(X).shape == Y.shape
    loaded.set_params(max_epochs=1).fit(X, pd.DataFrame(Y, columns=LABELS))  # refits


# ------------------------------------------------------------------------ item 3
def _names_fit(path, corpus, Y=None, **kwargs):
    X, Yc = corpus
    Y = pd.DataFrame(Yc, columns=LABELS) if Y is None else Y
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _clf(path, head_init="names", contrastive_steps=0, **kwargs).fit(X, Y)
    return _skbert_messages(record)


def test_item3_names_head_warns_when_no_label_has_a_name(tiny_st_model, corpus):
    messages = _names_fit(tiny_st_model, corpus, Y=corpus[1])  # a bare array: labels 0..3
    assert any("4 of 4 labels ([0, 1, 2, 3]) have neither a name" in m
               and "label_descriptions" in m for m in messages), messages


def test_item3_unknown_token_descriptions_warn(tiny_st_model, corpus):
    messages = _names_fit(tiny_st_model, corpus,
                          label_descriptions={**DESCRIPTIONS, "sports": "zzzz qqqq"})
    assert any("unknown token '[UNK]'" in m and "'sports' (text 'zzzz qqqq')" in m
               for m in messages), messages


def test_item3_same_description_twice_warns(tiny_st_model, corpus):
    messages = _names_fit(tiny_st_model, corpus,
                          label_descriptions={**DESCRIPTIONS, "sports": "pizza",
                                              "food": "pizza"})
    assert any("same tokens for the labels 'food' and 'sports'" in m for m in messages), messages


def test_item3_informative_descriptions_do_not_warn(tiny_st_model, corpus):
    assert _names_fit(tiny_st_model, corpus, label_descriptions=DESCRIPTIONS) == []


# ------------------------------------------------------------------------ item 4
def test_item4_descriptions_a_logistic_head_ignores_warn(tiny_st_model, corpus, capsys):
    """With the warm-up's label texts off, the logistic head alone reads no description."""
    X, Y = corpus
    with pytest.warns(SkbertWarning, match=r"do not change this fit.*'logistic'.*"
                                           r"contrastive_label_texts=False keeps them out.*"
                                           r"head_init='labels'.*contrastive_steps=0.*"
                                           r"contrastive_label_texts=True"):
        _clf(tiny_st_model, label_descriptions=DESCRIPTIONS, contrastive_label_texts=False,
             verbose=1).fit(X, pd.DataFrame(Y, columns=LABELS))
    assert "head start: logistic (head_init='auto' after the contrastive warm-up)" in (
        capsys.readouterr().out)


def test_descriptions_the_warm_up_reads_do_not_warn(tiny_st_model, corpus, capsys):
    """By default the warm-up's batches hold the descriptions: they change the fit."""
    X, Y = corpus
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _clf(tiny_st_model, label_descriptions=DESCRIPTIONS, verbose=1).fit(
            X, pd.DataFrame(Y, columns=LABELS))
    assert not [m for m in _skbert_messages(record) if "label_descriptions" in m]
    out = capsys.readouterr().out
    assert f"with the texts of {len(LABELS)} of {len(LABELS)} labels" in out
    assert "head start: logistic" in out


def test_item4_descriptions_a_random_head_ignores_warn(tiny_model, corpus, capsys):
    X, Y = corpus
    with pytest.warns(SkbertWarning, match=r"do not change this fit.*'random'.*"
                                           r"pooling='cls'.*head_init='labels'"):
        _clf(tiny_model, label_descriptions=DESCRIPTIONS, verbose=1).fit(
            X, pd.DataFrame(Y, columns=LABELS))
    assert "head start: random" in capsys.readouterr().out


def test_item4_descriptions_a_labels_head_reads_do_not_warn(tiny_st_model, corpus, capsys):
    X, Y = corpus
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _clf(tiny_st_model, label_descriptions=DESCRIPTIONS, head_init="labels",
             verbose=1).fit(X, pd.DataFrame(Y, columns=LABELS))
    assert not [m for m in _skbert_messages(record) if "label_descriptions" in m]
    assert "head start: labels (head_init='labels')" in capsys.readouterr().out


# ------------------------------------------------------------------------ item 5
def test_item5_warm_up_of_no_step_is_reported_without_nan(tiny_st_model, corpus, capsys):
    X, Y = corpus
    with pytest.warns(SkbertWarning, match="ran 0 of contrastive_steps=5"):
        _clf(tiny_st_model, contrastive_steps=5, verbose=1).fit(
            X[:2], pd.DataFrame(Y[:2], columns=LABELS))
    out = capsys.readouterr().out
    assert "nan" not in out
    assert "contrastive warm-up: 0 of 5 steps run" in out


def test_item3_labels_head_without_names_does_not_advise_itself(tiny_st_model, corpus):
    X, Y = corpus  # a bare array: labels 0..3, no names
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _clf(tiny_st_model, head_init="labels", contrastive_steps=0).fit(X, Y)
    messages = [m for m in _skbert_messages(record) if "have neither a name" in m]
    assert messages, _skbert_messages(record)
    assert all("pass head_init='labels'" not in m and "{0: 'words" in m for m in messages)


def test_trial10_label_text_warnings_name_the_head_auto_chose_and_give_json(tiny_st_model):
    from conftest import make_corpus

    X, Y = make_corpus(24, seed=0)
    Y = pd.DataFrame(Y, columns=LABELS)  # the tiny vocabulary lacks the label names
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _clf(tiny_st_model, contrastive_steps=0).fit(X, Y)  # head_init "auto" is "labels"
    unknown = [m for m in _skbert_messages(record) if "only the unknown token" in m]
    assert len(unknown) == 1
    # the head the user asked for ("auto"), then the one it chose: not "head_init='labels'",
    # which the command line would print as a flag never given
    assert unknown[0].startswith("head_init='auto' (here 'labels') reads the name")
    example = unknown[0].split("label_descriptions=")[1].split(", ...}")[0] + "}"
    assert json.loads(example) == {LABELS[0]: "words saying what it means"}  # JSON as well

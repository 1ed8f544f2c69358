"""Findings of the tenth fresh-eye trial on saved folders: each test failed before its fix.

Every damaged value of a folder's ``skbert.json`` is a ``SavedFileError`` naming
the file, the key, the value and the fix; never a bare ``TypeError``, a plain
``ValueError``, the wrong file, or a silent load.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import KEYWORDS, LABELS, damaged_copy, make_corpus

from skbert import TransformerMultiLabelClassifier, ZeroShotMultiLabelClassifier
from skbert._load_errors import SavedFileError
from skbert._persistence import saved_head

FIX = "save the model again with save_pretrained"


def _fit(path, Y, **kwargs):
    texts, _ = make_corpus(16, seed=3)
    est = TransformerMultiLabelClassifier(path, precision="fp32", max_epochs=1, max_length=16,
                                          batch_size=8, device="cpu", random_state=0,
                                          verbose=0, fit_cache=False, **kwargs)
    return est.fit(texts, Y)


@pytest.fixture(scope="module")
def mean_folder(tiny_st_model, tmp_path_factory):
    """A mean-pooling folder (sentence-transformers files) of named labels, saved with a
    pos_weight Series (so ``label_indexed`` lists it)."""
    _, Y = make_corpus(16, seed=3)
    est = _fit(tiny_st_model, pd.DataFrame(Y, columns=LABELS),
               pos_weight=pd.Series([1.0, 2.0, 3.0, 4.0], index=LABELS))
    folder = tmp_path_factory.mktemp("trial10") / "mean"
    est.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def cls_folder(tiny_model, tmp_path_factory):
    """A cls-pooling folder fitted on a 0/1 matrix: int classes 0..3."""
    _, Y = make_corpus(16, seed=3)
    folder = tmp_path_factory.mktemp("trial10") / "cls"
    _fit(tiny_model, Y).save_pretrained(folder)
    return folder




def _refused(folder) -> str:
    with pytest.raises(SavedFileError) as info:
        TransformerMultiLabelClassifier.from_pretrained(folder)
    message = str(info.value)
    assert str(folder / "skbert.json") in message and FIX in message.lower()
    return message


# ----------------------------------------- 1: a list or object where a name is expected
@pytest.mark.parametrize("key, value", [
    ("y_dtype", ["<i8"]), ("y_dtype", {"dtype": "<i8"}), ("pooling", ["mean"]),
    ("threshold_metric_", ["f1"]), ("threshold_metric_", {"f1": 1}), ("format", [2]),
])
def test_finding1_unhashable_top_level_value_is_a_saved_file_error(mean_folder, tmp_path,
                                                                   key, value):
    message = _refused(damaged_copy(mean_folder, tmp_path, lambda s: s.__setitem__(key, value)))
    assert f"{key!r} is {value!r}" in message


# ----------------------------------------------- 2: labels equal as text in 'classes'
def test_finding2_classes_equal_as_text_is_a_saved_file_error(cls_folder, tmp_path):
    folder = damaged_copy(cls_folder, tmp_path, lambda s: s.__setitem__("classes", [1, 2, 3, "1"]))
    message = _refused(folder)
    assert "'classes'" in message and "1 (int) and '1' (str)" in message


# ------------------------------------------ 3: a damaged params.max_length is skbert.json's
@pytest.mark.parametrize("edit, shown", [
    (lambda p: p.__setitem__("max_length", 100_000), "'params.max_length' is 100000, more than "
                                                     "the 512 tokens"),
    (lambda p: p.pop("max_length"), "'params.max_length' is missing"),
])
def test_finding3_max_length_damage_names_skbert_json_not_sentence_config(mean_folder, tmp_path,
                                                                          edit, shown):
    message = _refused(damaged_copy(mean_folder, tmp_path, lambda s: edit(s["params"])))
    assert shown in message
    assert not message.startswith(str(tmp_path / "damaged" / "sentence_bert_config.json"))
    assert "max_seq_length 16" in message  # what the other file says


def test_finding3_two_plausible_lengths_name_both_files(mean_folder, tmp_path):
    folder = damaged_copy(mean_folder, tmp_path,
                          lambda s: s["params"].__setitem__("max_length", 64))
    message = _refused(folder)
    assert "'params.max_length' is 64 in skbert.json" in message
    assert "max_seq_length is 16 in sentence_bert_config.json" in message


def test_finding3_damaged_sentence_config_still_blames_that_file(mean_folder, tmp_path):
    folder = tmp_path / "edited"
    shutil.copytree(mean_folder, folder)
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 100_000, "do_lower_case": False}))
    with pytest.raises(ValueError, match=r"sentence_bert_config\.json does not match"):
        TransformerMultiLabelClassifier.from_pretrained(folder)


# ------------------------------------------------------- 4: a damaged saved pos_weight
@pytest.mark.parametrize("label_indexed", [True, False])
@pytest.mark.parametrize("value", [[0, 3, 2, 1], [True, 3, 2, 1], ["1", 3, 2, 1], [0, 3, 2],
                                   {"sports": 1}, [1, 3, 2, -1], [1, 3, 2, [1]]])
def test_finding4_damaged_pos_weight_names_the_key_and_the_list(mean_folder, tmp_path, value,
                                                                label_indexed):
    def edit(settings):
        settings["params"]["pos_weight"] = value
        if not label_indexed:
            settings["label_indexed"] = None

    message = _refused(damaged_copy(mean_folder, tmp_path, edit))
    assert f"params.pos_weight is {value!r}" in message
    assert "one per label in the order of 'classes'" in message
    assert "Name: pos_weight" not in message and "Pass e.g." not in message  # no Series, no code
    if isinstance(value, list) and any(v is True for v in value):
        assert "true/false are not numbers" in message


def test_finding4_pos_weight_beyond_a_float_is_refused():
    from skbert._params import _file_pos_weight

    assert _file_pos_weight([10**400, 1, 1, 1], LABELS) is not None  # no OverflowError
    assert _file_pos_weight([1, 2.5, 3, 4], LABELS) is None


def test_finding4_a_saved_pos_weight_series_still_loads_by_label(mean_folder):
    loaded = TransformerMultiLabelClassifier.from_pretrained(mean_folder)
    assert loaded.pos_weight.to_dict() == {"sports": 1.0, "politics": 2.0, "food": 3.0,
                                           "tech": 4.0}


# ------------------------------------------------- 5: 'classes' must match id2label
@pytest.mark.parametrize("name", ["mean_folder", "cls_folder"])
def test_finding5_permuted_classes_are_refused_naming_both_files(name, request, tmp_path):
    folder = request.getfixturevalue(name)
    saved = json.loads((folder / "skbert.json").read_text())["classes"]
    permuted = saved[::-1]
    damaged = damaged_copy(folder, tmp_path, lambda s: s.__setitem__("classes", permuted))
    message = _refused(damaged)
    assert str(damaged / "config.json") in message
    assert "'classes' in skbert.json" in message and "id2label in config.json" in message
    assert repr(permuted) in message and repr([str(c) for c in saved]) in message
    with pytest.raises(SavedFileError, match="id2label"):  # nor does a refit start from it
        saved_head(str(damaged))


def test_finding5_an_edited_id2label_is_refused(cls_folder, tmp_path):
    folder = tmp_path / "edited"
    shutil.copytree(cls_folder, folder)
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {"0": "0", "1": "2", "2": "1", "3": "3"}
    (folder / "config.json").write_text(json.dumps(config))
    _refused(folder)


def test_finding5_an_id2label_of_another_size_is_left_to_the_weight_checks(cls_folder,
                                                                           tmp_path):
    """They name the tensor that disagrees (tests/test_hostile_folders.py, item 6)."""
    folder = tmp_path / "edited"
    shutil.copytree(cls_folder, folder)
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {str(i): f"l{i}" for i in range(1000)}
    config["label2id"] = {f"l{i}": i for i in range(1000)}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"'classifier\.weight' is \[4, 32\] there") as info:
        TransformerMultiLabelClassifier.from_pretrained(folder)
    assert "disagree on the labels" not in str(info.value)


@pytest.mark.parametrize("id2label", [{"0": "a", "1": "b"}, None,
                                     {str(i): f"l{i}" for i in range(5)}])
def test_trial11_a_mean_folder_s_id2label_of_another_size_is_refused(mean_folder, tmp_path,
                                                                     id2label):
    """With mean pooling no weight is sized by id2label: nothing else would refuse it."""
    folder = tmp_path / "edited"
    shutil.copytree(mean_folder, folder)
    config = json.loads((folder / "config.json").read_text())
    config.pop("label2id", None)
    if id2label is None:
        config.pop("id2label")
    else:
        config["id2label"] = id2label
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(SavedFileError, match="disagree on the labels"):
        TransformerMultiLabelClassifier.from_pretrained(folder)


def test_finding5_every_kind_of_saved_folder_still_loads(mean_folder, cls_folder,
                                                        tiny_st_model, tmp_path):
    texts, Y = make_corpus(16, seed=3)
    for folder in (mean_folder, cls_folder):
        TransformerMultiLabelClassifier.from_pretrained(folder).predict(texts)
    # two labels named as transformers' default: config.json leaves id2label out
    est = _fit(tiny_st_model, pd.DataFrame(Y[:, :2], columns=["LABEL_0", "LABEL_1"]))
    est.save_pretrained(tmp_path / "default")
    assert "id2label" not in json.loads((tmp_path / "default" / "config.json").read_text())
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "default")
    assert list(loaded.classes_) == ["LABEL_0", "LABEL_1"]
    # a zero-shot classifier's folder (save_folder too)
    described = {name: " ".join(words) for name, words in KEYWORDS.items()}
    zero = ZeroShotMultiLabelClassifier(LABELS, label_descriptions=described, device="cpu",
                                        model_name_or_path=tiny_st_model,
                                        precision="fp32").fit(texts)
    zero.save_pretrained(tmp_path / "zs")
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "zs")
    np.testing.assert_allclose(loaded.predict_proba(texts), zero.predict_proba(texts),
                               atol=1e-5)

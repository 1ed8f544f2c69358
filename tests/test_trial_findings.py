"""Findings of the fresh-eye trial: each test failed before its fix.

Runs in-process through ``skbert.cli.main`` on the tiny random BERT of conftest.py.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from conftest import damaged_copy, make_corpus

from skbert import TransformerMultiLabelClassifier
from skbert.cli import main


@pytest.fixture(scope="module")
def int_model(tiny_model, tmp_path_factory):
    """A folder saved by ``save_pretrained`` from a fit on a 0/1 matrix: int classes 0..3."""
    texts, Y = make_corpus(16, seed=3)
    clf = TransformerMultiLabelClassifier(tiny_model, max_epochs=1, batch_size=8, verbose=0,
                                          device="cpu", precision="fp32", random_state=0)
    clf.fit(texts, Y)
    folder = tmp_path_factory.mktemp("trial") / "model"
    clf.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def texts_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("trial_texts") / "in.txt"
    path.write_text("football match today\nthe pizza recipe\n")
    return path


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# ------------------------------------------------- finding 1: label types in predict
def test_finding1_predict_jsonl_keeps_int_labels_as_ints_like_explain(capsys, int_model,
                                                                      texts_file):
    rc, out, _ = run(capsys, "predict", int_model, texts_file, "--threshold", "0")
    assert rc == 0
    records = [json.loads(line) for line in out.splitlines()]
    for r in records:
        assert r["labels"] == [0, 1, 2, 3]  # ints, not "0".."3"; threshold 0: every label
        assert all(type(n) is int for n in r["labels"])
        assert list(r["probabilities"]) == ["0", "1", "2", "3"]  # JSON keys are strings
    rc, out, _ = run(capsys, "explain", int_model, texts_file, "--threshold", "0",
                     "--method", "occlusion")
    assert rc == 0
    explained = [json.loads(line) for line in out.splitlines()]
    assert [[lab["label"] for lab in e["labels"] if lab["predicted"]] for e in explained] \
        == [r["labels"] for r in records]


def test_finding1_predict_csv_writes_int_labels_as_their_text(capsys, int_model, texts_file,
                                                              tmp_path):
    out_file = tmp_path / "pred.csv"
    rc, _, _ = run(capsys, "predict", int_model, texts_file, "--threshold", "0",
                   "--output", out_file)
    assert rc == 0
    rows = list(csv.reader(io.StringIO(out_file.read_text())))
    assert rows[0] == ["text", "labels", "proba_0", "proba_1", "proba_2", "proba_3"]
    assert [r[1] for r in rows[1:]] == ["0|1|2|3", "0|1|2|3"]


def test_finding1_write_predictions_converts_numpy_labels():
    from skbert._cli_io import write_predictions

    out = io.StringIO()
    write_predictions(out, ["t"], np.array([[1, 0, 1]]), np.array([[0.9, 0.1, 0.8]]),
                      [np.int64(7), np.int64(2), np.str_("x")], "jsonl")
    record = json.loads(out.getvalue())
    assert record["labels"] == [7, "x"] and type(record["labels"][0]) is int
    assert record["probabilities"] == {"7": 0.9, "2": 0.1, "x": 0.8}


# ------------------------------------- finding 2: a damaged skbert.json is not a bad flag
def _set_param(name, value):
    return lambda settings: settings["params"].__setitem__(name, value)


@pytest.mark.parametrize("command", ["predict", "explain"])
@pytest.mark.parametrize("name, value, flag", [
    ("min_labels", -3, "--min-labels"), ("min_labels", "x", "--min-labels"),
    ("threshold", 7, "--threshold"), ("max_length", -1, "--max-length"),
    ("predict_batch_size", 0, "--predict-batch-size"), ("long_text", "bogus", "--long-text"),
])
def test_finding2_damaged_saved_param_names_the_file_not_a_flag(command, name, value, flag,
                                                                capsys, int_model, texts_file,
                                                                tmp_path):
    folder = damaged_copy(int_model, tmp_path, _set_param(name, value))
    rc, out, err = run(capsys, command, folder, texts_file)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("skbert: error: ")
    assert str(folder / "skbert.json") in err  # the damaged file
    assert f"params.{name}" in err and repr(value) in err  # its key and value
    assert flag not in err  # not a flag the user did not pass
    assert "save_pretrained" in err and f"skbert train DATA --out {folder}" in err  # the fix


@pytest.mark.parametrize("key, value", [("pooling", "zz"), ("min_labels_", 5)])
def test_finding2_damaged_top_level_key_is_named_as_the_files(key, value, capsys, int_model,
                                                              texts_file, tmp_path):
    folder = damaged_copy(int_model, tmp_path, lambda s: s.__setitem__(key, value))
    rc, _, err = run(capsys, "predict", folder, texts_file)
    assert rc == 2 and f"{key!r} is {value!r}" in err
    assert "--pooling" not in err and "--min-labels" not in err


def test_finding2_python_api_still_raises_value_error(int_model, tmp_path):
    from skbert._load_errors import SavedFileError

    folder = damaged_copy(int_model, tmp_path, lambda s: s.__setitem__("pooling", "zz"))
    with pytest.raises(ValueError, match="'pooling' is 'zz'") as info:
        TransformerMultiLabelClassifier.from_pretrained(folder)
    assert isinstance(info.value, SavedFileError)


@pytest.mark.parametrize("key,value", [("min_labels", -3), ("threshold", 7.0)])
def test_finding2_python_api_names_damaged_params_as_a_saved_file_error(int_model, tmp_path,
                                                                        key, value):
    """from_pretrained itself (not only the command line) says the file holds the value."""
    from skbert._load_errors import SavedFileError

    folder = damaged_copy(int_model, tmp_path, lambda s: s["params"].__setitem__(key, value))
    with pytest.raises(SavedFileError,
                       match=rf"skbert.json holds .*params\.{key}.*save_pretrained"):
        TransformerMultiLabelClassifier.from_pretrained(folder)


def test_finding2_other_errors_still_speak_flags(capsys):
    from types import SimpleNamespace

    from skbert.cli import _run

    def fails(args, stack):
        raise ValueError("min_labels=-1 must be >= 0; pass min_labels=0 or more.")

    assert _run(SimpleNamespace(func=fails), debug=False) == 2
    assert capsys.readouterr().err == (
        "skbert: error: --min-labels -1 must be >= 0; pass --min-labels 0 or more.\n")


# -------------------------- finding 3: zero-shot labels the model cannot read fail at fit
def _zero_shot(path, labels, **kwargs):
    from skbert import ZeroShotMultiLabelClassifier

    return ZeroShotMultiLabelClassifier(labels, model_name_or_path=path, device="cpu",
                                        precision="fp32", **kwargs)


@pytest.mark.parametrize("X", [None, ["football match today", "the pizza recipe"]])
def test_finding3_out_of_vocabulary_labels_fail_at_fit(X, tiny_st_model):
    with pytest.raises(ValueError, match=r"All labels have a name .* vocabulary") as info:
        _zero_shot(tiny_st_model, ["xyzzy", "plugh"]).fit(X)
    message = str(info.value)
    assert "'xyzzy'" in message and "'plugh'" in message and "'[UNK]'" in message
    assert "label_descriptions=" in message and "learning_rate" not in message


def test_finding3_one_unknown_label_is_named_and_a_template_does_not_hide_it(tiny_st_model):
    with pytest.raises(ValueError, match=r"1 label\(s\) have .*'xyzzy' \(text 'xyzzy'\)"):
        _zero_shot(tiny_st_model, ["xyzzy", "pizza"], template="the {} news").fit()


def test_finding3_descriptions_in_known_words_fix_it(tiny_st_model):
    clf = _zero_shot(tiny_st_model, ["xyzzy", "plugh"],
                     label_descriptions={"xyzzy": "football match goal",
                                         "plugh": "pizza recipe cheese"}).fit()
    proba = clf.predict_proba(["football match today", "the pizza recipe"])
    assert np.isfinite(proba).all() and proba[0, 0] > proba[0, 1] and proba[1, 1] > proba[1, 0]


def test_finding3_labels_that_read_the_same_fail_at_fit(tiny_st_model):
    with pytest.raises(ValueError, match=r"'food' and 'meal' read as the same tokens"):
        _zero_shot(tiny_st_model, ["food", "meal"],
                   label_descriptions={"food": "pizza dinner", "meal": "pizza dinner"}).fit()


@pytest.mark.parametrize("X", [None, ["football match today", "the pizza recipe"]])
def test_finding3_one_label_fails_at_fit(X, tiny_st_model):
    # before: fit passed; predict gave NaN (no texts) or the same score for every text
    with pytest.raises(ValueError, match=r"one label \('pizza'\).*'other'"):
        _zero_shot(tiny_st_model, ["pizza"]).fit(X)


# ------------------------------------------------ second trial (same day), on the fixes above
@pytest.mark.parametrize("params", [
    {"long_text": "chunk", "stride": 100, "max_length": 16},
    {"max_length": 100000},
])
def test_trial2_settings_that_clash_with_the_tokenizer_are_the_files(capsys, int_model,
                                                                     texts_file, tmp_path,
                                                                     params):
    """Each value valid alone, together unusable with this tokenizer: named as the file's
    at load (Python and CLI), not as train flags the user never passed at predict."""
    from skbert._load_errors import SavedFileError

    folder = damaged_copy(int_model, tmp_path, lambda s: s["params"].update(params))
    with pytest.raises(SavedFileError, match=r"skbert.json holds parameters this model cannot"):
        TransformerMultiLabelClassifier.from_pretrained(folder)
    rc, _, err = run(capsys, "predict", folder, texts_file)
    assert rc == 2 and "skbert.json" in err and "--stride" not in err and "--max-length" \
        not in err


@pytest.mark.parametrize("given", [{"device": True}, {"device": 3}, {"precision": "fp8"}])
def test_trial2_from_pretrained_blames_the_callers_arguments_not_the_file(int_model, given):
    from sklearn.utils._param_validation import InvalidParameterError

    from skbert._load_errors import SavedFileError

    name = next(iter(given))
    with pytest.raises(InvalidParameterError, match=rf"'{name}'.*from_pretrained") as info:
        TransformerMultiLabelClassifier.from_pretrained(int_model, **given)
    assert not isinstance(info.value, SavedFileError)
    assert "skbert.json" not in str(info.value)


def test_trial2_a_threshold_of_bools_is_refused(int_model, tmp_path):
    from skbert._load_errors import SavedFileError

    clf = TransformerMultiLabelClassifier.from_pretrained(int_model)
    with pytest.raises(ValueError, match="True/False, not numbers"):
        clf.set_params(threshold=[True, False, True, False]).predict(["a text"])
    with pytest.raises(ValueError, match="True/False"):
        clf.set_params(threshold=np.array([True, False, True, False])).predict(["a text"])
    folder = damaged_copy(int_model, tmp_path,
                           _set_param("threshold", [True, False, True, False]))
    with pytest.raises(SavedFileError, match="True/False"):
        TransformerMultiLabelClassifier.from_pretrained(folder)


def test_trial2_a_newer_format_says_upgrade_and_not_train_again(capsys, int_model, texts_file,
                                                                tmp_path):
    folder = damaged_copy(int_model, tmp_path, lambda s: s.__setitem__("format", 99))
    rc, _, err = run(capsys, "predict", folder, texts_file)
    assert rc == 2 and "upgrade skbert" in err
    assert "train the model again" not in err and "save the model again" not in err


def test_trial2_python_message_names_the_files_key(int_model, tmp_path):
    """persistence.rst promises the key as the file holds it (params.min_labels)."""
    folder = damaged_copy(int_model, tmp_path, _set_param("min_labels", -3))
    with pytest.raises(ValueError, match=r"params\.min_labels .*Got -3"):
        TransformerMultiLabelClassifier.from_pretrained(folder)


def test_trial2_labels_that_differ_only_past_what_is_embedded_fail_at_fit(tiny_st_model):
    """max_length counts [CLS] and [SEP]: texts equal in the tokens embedded read the same."""
    descriptions = {"food": "football goal match team pizza recipe dinner",
                    "meal": "football goal match team pizza recipe cheese",
                    "sport": "football"}
    with pytest.raises(ValueError, match=r"'food' and 'meal' read as the same tokens"):
        _zero_shot(tiny_st_model, ["food", "meal", "sport"], max_length=8,
                   label_descriptions=descriptions).fit()
    _zero_shot(tiny_st_model, ["food", "meal", "sport"], max_length=9,  # room for the last word
               label_descriptions=descriptions).fit()


@pytest.mark.parametrize("classes", [[2**63, 1, 2, 3], [2**63, 2**63 + 1, 2, 3],
                                     [-2**63 - 1, 1, 2, 3]])
def test_trial2_int_labels_beyond_int64_are_a_damaged_file(int_model, tmp_path, classes):
    """Such labels became floats (two of them one label) when the folder loaded."""
    from skbert._load_errors import SavedFileError

    folder = damaged_copy(int_model, tmp_path, lambda s: s.__setitem__("classes", classes))
    with pytest.raises(SavedFileError, match=r"'classes'.*within int64"):
        TransformerMultiLabelClassifier.from_pretrained(folder)


def test_trial2_a_wrong_count_of_thresholds_names_the_flag_on_the_command_line(
        capsys, int_model, texts_file):
    """It said 'threshold has shape (2,)', the parameter's name, to a command-line user."""
    rc, _, err = run(capsys, "predict", int_model, texts_file, "--threshold", "0.1,0.2")
    assert rc == 2
    assert "--threshold 0.1,0.2 has 2 values but the model has 4 labels" in err, err
    clf = TransformerMultiLabelClassifier.from_pretrained(int_model)
    with pytest.raises(ValueError, match=r"threshold=\[0.1, 0.2\] has 2 values"):
        clf.set_params(threshold=[0.1, 0.2]).predict(["a text"])


def test_trial3_int_label_names_beyond_int64_are_refused_at_fit(tiny_model):
    """They fitted, then save_pretrained failed half-way calling its own file damaged."""
    import pandas as pd

    texts, Y = make_corpus(16, seed=3)
    clf = TransformerMultiLabelClassifier(tiny_model, max_epochs=1, device="cpu",
                                          precision="fp32")
    with pytest.raises(ValueError, match=r"column name 9223372036854775808, an int beyond int64"):
        clf.fit(texts, pd.DataFrame(Y, columns=[0, 1, 2, 2**63]))


@pytest.mark.parametrize("change", [{"long_text": "chunk", "stride": 10_000},
                                    {"max_length": 100_000}])
def test_trial3_save_refuses_settings_its_load_would_refuse(int_model, tmp_path, change):
    """set_params after fit could make a folder that skbert wrote but would not load."""
    clf = TransformerMultiLabelClassifier.from_pretrained(int_model).set_params(**change)
    target = tmp_path / "out"
    with pytest.raises(ValueError, match="stride|max_length"):
        clf.save_pretrained(target)
    assert not target.exists()


def test_trial3_a_zero_dimensional_array_threshold_is_one_number(int_model):
    """np.array(0.5) was refused as 'shape ()'."""
    clf = TransformerMultiLabelClassifier.from_pretrained(int_model)
    expected = clf.set_params(threshold=0.5).predict(["football match today"])
    got = clf.set_params(threshold=np.array(0.5)).predict(["football match today"])
    np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="True/False|not a bool"):
        clf.set_params(threshold=np.array(True)).predict(["football match today"])


def test_trial3_onnx_refuses_clashing_lengths_before_exporting(int_model, tmp_path):
    """A folder with an unusable stride was exported to folder/onnx/ first, then refused."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from skbert._load_errors import SavedFileError

    folder = damaged_copy(int_model, tmp_path,
                           lambda s: s["params"].update(long_text="chunk", stride=10_000))
    with pytest.raises(SavedFileError, match="holds parameters this model cannot use"):
        TransformerMultiLabelClassifier.from_pretrained(folder, backend="onnx")
    assert not (folder / "onnx").exists()


# ------------------------------------------------ fourth trial: the file's words, the CLI's
def _load_error(folder):
    from skbert._load_errors import SavedFileError

    with pytest.raises(SavedFileError) as info:
        TransformerMultiLabelClassifier.from_pretrained(folder)
    return str(info.value)


def test_trial4_item1_a_numeric_damage_reads_without_bool_wording(capsys, int_model,
                                                                   texts_file, tmp_path):
    """'must be an int (not a bool) in the range [8, inf). Got -3' spoke of bools nobody gave."""
    folder = damaged_copy(int_model, tmp_path, _set_param("max_length", -3))
    rc, _, err = run(capsys, "predict", folder, texts_file)
    message = _load_error(folder)
    for text in (err, message):
        assert "params.max_length must be an int in the range [8, inf). Got -3 instead" in text
        assert "bool" not in text
    assert rc == 2


def test_trial4_item1_bool_wording_only_where_a_bool_was_given(int_model, tmp_path):
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match=r"an int \(not a bool\) .*Got True"):
        TransformerMultiLabelClassifier(min_labels=True)._validate_params()
    with pytest.raises(InvalidParameterError, match=r"must be an int in the range") as info:
        TransformerMultiLabelClassifier(min_labels=-3)._validate_params()
    assert "bool" not in str(info.value)
    folder = damaged_copy(int_model, tmp_path, _set_param("min_labels", True))  # JSON true
    assert "params.min_labels must be an int (not a bool)" in _load_error(folder)


@pytest.mark.parametrize("value", [[0.3, 7.0], [0.3, 0.2], [0.3, 7.0, 0.1, 0.2],
                                   [0.3, True, 0.1, 0.2], [[0.5, 0.5, 0.5, 0.5]],
                                   ["0.1", "0.9", "0.5", "0.5"], {"a": 0.5}])
def test_trial4_item2_a_damaged_threshold_list_is_the_files_key(capsys, int_model, texts_file,
                                                                tmp_path, value):
    """It read 'threshold=[0.3, 7.0] has 2 values ...; pass one float', advice for a caller."""
    folder = damaged_copy(int_model, tmp_path, _set_param("threshold", value))
    message = _load_error(folder)
    rc, _, err = run(capsys, "predict", folder, texts_file)
    assert rc == 2
    for text in (message, err):
        assert f"params.threshold is {value!r}, expected" in text
        assert "4 numbers in [0, 1], one per label" in text and "save_pretrained" in text
        assert "threshold=" not in text and "pass one float" not in text
    assert "--threshold" not in err


def test_trial4_item2_clashing_lengths_name_the_files_keys(capsys, int_model, texts_file,
                                                           tmp_path):
    folder = damaged_copy(int_model, tmp_path, lambda s: s["params"].update(
        long_text="chunk", stride=100, max_length=16))
    message = _load_error(folder)
    rc, _, err = run(capsys, "predict", folder, texts_file)
    for text in (message, err):
        assert "params.stride" in text and "params.max_length" in text
        assert " stride=" not in text and " max_length=" not in text


@pytest.fixture(scope="module")
def negative_model(tiny_model, tmp_path_factory):
    """A folder whose int labels are -3, 4, 5 and 6."""
    import pandas as pd

    texts, Y = make_corpus(16, seed=3)
    clf = TransformerMultiLabelClassifier(tiny_model, max_epochs=1, batch_size=8, verbose=0,
                                          device="cpu", precision="fp32", random_state=0)
    clf.fit(texts, pd.DataFrame(Y, columns=[-3, 4, 5, 6]))
    folder = tmp_path_factory.mktemp("trial4") / "model"
    clf.save_pretrained(folder)
    return folder


def test_trial4_item3_a_label_list_may_begin_with_a_minus(capsys, negative_model, texts_file):
    """argparse read '-3,4' as an option: 'argument --labels: expected one argument'."""
    for argv in (["--labels", "-3,4"], ["--labels=-3,4"], ["--lab", "-3,4"]):
        rc, out, err = run(capsys, "explain", negative_model, texts_file, "--method",
                           "occlusion", *argv)
        assert rc == 0, err
        explained = [json.loads(line) for line in out.splitlines()]
        assert [[lab["label"] for lab in e["labels"]] for e in explained] == [[-3, 4]] * 2


@pytest.mark.parametrize("argv, expected", [
    (["train", "d.jsonl", "--out", "m", "--label-columns", "-1,-2"],
     {"label_columns": ["-1", "-2"]}),
    (["evaluate", "m", "d.jsonl", "--label-columns", "-x"], {"label_columns": ["-x"]}),
    (["train", "d.jsonl", "--out", "m", "--pos-weight", "-1,2"],
     {"pos_weight": [-1.0, 2.0]}),  # parsed; the estimator refuses it, naming --pos-weight
])
def test_trial4_item3_every_value_option_takes_a_value_that_begins_with_a_minus(argv,
                                                                               expected):
    from skbert.cli import build_parser

    args = build_parser().parse_args(argv)
    assert {k: getattr(args, k) for k in expected} == expected


def test_trial4_item3_a_missing_value_and_a_bad_one_are_still_named(capsys, int_model,
                                                                    texts_file):
    rc, _, err = run(capsys, "explain", int_model, texts_file, "--labels", "--top-k", "3")
    assert rc == 2 and "argument --labels: expected one argument" in err
    rc, _, err = run(capsys, "predict", int_model, texts_file, "--threshold", "-0.5,0.5")
    assert rc == 2 and "expected one argument" not in err
    rc, _, err = run(capsys, "explain", int_model, texts_file, "--labels", "-3")
    assert rc == 2 and "--labels holds '-3', which is not a label of this model" in err


@pytest.mark.parametrize("value", ["gpu9", "cuda:-1", "CUDA", "xpu", ""])
def test_trial4_item4_a_malformed_saved_device_is_the_files_damage(capsys, int_model,
                                                                   texts_file, tmp_path, value):
    """'gpu9' loaded silently (the caller's device replaced it) while 3 was refused."""
    folder = damaged_copy(int_model, tmp_path, _set_param("device", value))
    message = _load_error(folder)
    rc, _, err = run(capsys, "predict", folder, texts_file)
    assert rc == 2
    for text in (message, err):
        assert f"params.device is {value!r}, expected 'auto', 'cpu', 'cuda', 'cuda:N'" in text
        assert "save_pretrained" in text
    assert "--device" not in err


@pytest.mark.parametrize("value", ["cuda", "cuda:1", "mps", "auto", "cpu"])
def test_trial4_item4_a_folder_saved_on_another_machine_still_loads(int_model, tmp_path, value):
    """The file records where the model was trained; the caller's device wins."""
    folder = damaged_copy(int_model, tmp_path, _set_param("device", value))
    clf = TransformerMultiLabelClassifier.from_pretrained(folder, device="cpu")
    assert clf.device == "cpu" and clf.device_.type == "cpu"
    assert clf.predict(["football match today"]).shape == (1, 4)


@pytest.mark.parametrize("device", ["gpu9", "xpu"])
def test_trial4_item4_save_refuses_a_device_its_load_would_refuse(int_model, tmp_path, device):
    """set_params(device='gpu9') after fit wrote a folder that from_pretrained now refuses."""
    clf = TransformerMultiLabelClassifier.from_pretrained(int_model).set_params(device=device)
    target = tmp_path / "out"
    with pytest.raises(ValueError, match=rf"device='{device}' is not a device skbert runs on"):
        clf.save_pretrained(target)
    assert not target.exists()
    clf.set_params(device="cuda:1").save_pretrained(target)  # another machine's: loads here
    assert TransformerMultiLabelClassifier.from_pretrained(target, device="cpu").device == "cpu"


# ---- trial 5 (few-shot and zero-shot surface) ---------------------------------------------


def test_trial5_a_threshold_series_is_matched_by_its_index(tiny_model, tmp_path):
    import pandas as pd

    from skbert import TransformerMultiLabelClassifier
    from skbert._thresholds import check_threshold

    texts = ["good food here", "the match ended", "vote today", "new phone out"] * 4
    Y = pd.DataFrame(np.tile(np.eye(4, dtype=int), (4, 1)),
                     columns=["food", "sports", "politics", "tech"])
    clf = TransformerMultiLabelClassifier(tiny_model, max_epochs=1, max_length=16,
                                          precision="fp32", random_state=0, fit_cache=False,
                                          validation_fraction=0, early_stopping=False,
                                          threshold=0.5)
    clf.fit(texts, Y)
    # in an order other than classes_: only sports passes at 0.0, the others never do
    clf.set_params(threshold=pd.Series({"tech": 1.0, "food": 1.0, "politics": 1.0,
                                        "sports": 0.0}))
    proba = clf.predict_proba(texts)
    pred = clf.predict(texts)
    sports = list(clf.classes_).index("sports")
    assert pred[:, sports].all()
    others = [j for j in range(4) if j != sports]
    assert (pred[:, others] == (proba[:, others] >= 1.0)).all()
    assert check_threshold(pd.Series({"b": 0.9, "a": 0.1}), 2, ["a", "b"]).tolist() == [0.1, 0.9]
    # saved as it is in force, in classes_ order
    clf.save_pretrained(tmp_path / "m")
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m")
    assert list(loaded.threshold) == [0.0 if c == "sports" else 1.0 for c in clf.classes_]
    assert (loaded.predict(texts) == pred).all()


@pytest.mark.parametrize("series, words", [
    ({"food": 0.5, "sports": 0.5, "politics": 0.5, "sprots": 0.5}, "['sprots'] are not labels"),
    ({"food": 0.5, "sports": 0.5, "politics": 0.5}, "lacks the labels ['tech']"),
])
def test_trial5_a_threshold_series_with_other_labels_is_refused(series, words):
    import pandas as pd

    from skbert._thresholds import check_threshold

    with pytest.raises(ValueError, match="matched to the labels by its index") as info:
        check_threshold(pd.Series(series), 4, np.array(["food", "sports", "politics", "tech"]))
    assert words in str(info.value) and "threshold.to_numpy()" in str(info.value)


def test_trial5_a_threshold_series_needs_labels_to_match():
    import pandas as pd

    from skbert import apply_thresholds

    assert apply_thresholds([[0.2, 0.7]], pd.Series([0.5, 0.5])).tolist() == [[0, 1]]
    with pytest.raises(ValueError, match="no labels are known here"):
        apply_thresholds([[0.2, 0.7]], pd.Series({"b": 0.5, "a": 0.9}))


def test_trial5_a_pos_weight_series_is_matched_by_its_index(tiny_model, monkeypatch, tmp_path):
    import pandas as pd

    from skbert import TransformerMultiLabelClassifier, _runner

    seen, real = [], _runner.train
    monkeypatch.setattr(_runner, "train", lambda *a, **k: seen.append(k["pos_weight"])
                        or real(*a, **k))
    Y = pd.DataFrame(np.tile(np.eye(2, dtype=int), (4, 1)), columns=["a", "b"])
    clf = TransformerMultiLabelClassifier(tiny_model, max_epochs=1, max_length=16,
                                          fit_cache=False, threshold=0.5,
                                          validation_fraction=0, early_stopping=False,
                                          pos_weight=pd.Series({"b": 5.0, "a": 1.0}))
    clf.fit(["x y", "z w"] * 4, Y)
    assert seen[0].tolist() == [1.0, 5.0]  # in classes_ order, not the Series' order
    clf.save_pretrained(tmp_path / "m")  # saved in classes_ order too, as it is read back
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m")
    assert list(loaded.pos_weight) == [1.0, 5.0]
    with pytest.raises(ValueError, match="expected 2 finite positive floats"):
        clf.set_params(pos_weight=["1.0", "5.0"]).fit(["x y", "z w"] * 4, Y)  # text
    with pytest.raises(ValueError, match=r"pos_weight is a pandas Series .*\['c'\] are not "
                                         r"labels.*pos_weight.to_numpy\(\)"):
        clf.set_params(pos_weight=pd.Series({"a": 1.0, "c": 2.0})).fit(["x y", "z w"] * 4, Y)


@pytest.mark.parametrize("make", ["sparse", "sparse_bool"])
def test_trial5_y_as_a_sparse_dataframe_is_read(make):
    import pandas as pd
    import scipy.sparse as sp

    from skbert._validation import check_targets

    Y = np.array([[1, 0, 0], [0, 1, 1], [1, 1, 0]])
    if make == "sparse":  # MultiLabelBinarizer(sparse_output=True) with the label names
        frame = pd.DataFrame.sparse.from_spmatrix(sp.csr_matrix(Y), columns=["a", "b", "c"])
    else:
        frame = pd.DataFrame(Y.astype(bool), columns=["a", "b", "c"]).astype(
            pd.SparseDtype(bool, False))
    out, classes, _ = check_targets(frame, 3)
    assert out.tolist() == Y.tolist() and list(classes) == ["a", "b", "c"]


@pytest.mark.parametrize("make, words", [
    ("category", "is categorical (categories [0, 1])"),
    ("words", "is categorical (categories ['no', 'yes'])"),
    ("sparse_fill_1", "is sparse with fill_value=1"),
])
def test_trial5_y_columns_sklearn_cannot_score_are_refused_by_kind(make, words):
    import pandas as pd

    from skbert._validation import check_targets

    Y = pd.DataFrame({"a": [1, 0], "b": [0, 1]})
    frame = (Y.astype("category") if make == "category"
             else Y.replace({0: "no", 1: "yes"}).astype("category") if make == "words"
             else Y.astype(pd.SparseDtype(int, 1)))
    with pytest.raises(ValueError, match="column 'a'") as info:
        check_targets(frame, 2)
    assert words in str(info.value) and "must hold 0/1" not in str(info.value)


def test_trial5_model_kwargs_holding_a_torch_dtype_save(tiny_model, tmp_path):
    import json

    import torch

    from skbert import TransformerMultiLabelClassifier

    clf = TransformerMultiLabelClassifier(tiny_model, max_epochs=1, max_length=16,
                                          fit_cache=False, threshold=0.5,
                                          validation_fraction=0, early_stopping=False,
                                          model_kwargs={"torch_dtype": torch.float32})
    clf.fit(["x y", "z w"] * 4, np.tile(np.eye(2, dtype=int), (4, 1)))
    clf.save_pretrained(tmp_path / "m")  # raised TypeError: dtype is not JSON serializable
    saved = json.loads((tmp_path / "m" / "skbert.json").read_text())
    assert saved["params"]["model_kwargs"] == {"torch_dtype": "torch.float32"}
    assert TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m").predict(
        ["x y"]).shape == (1, 2)


def test_trial5_a_series_threshold_fits_with_a_validation_split(tiny_model):
    import pandas as pd

    from skbert import TransformerMultiLabelClassifier

    Y = pd.DataFrame(np.tile(np.eye(3, dtype=int), (6, 1)), columns=["a", "b", "c"])
    clf = TransformerMultiLabelClassifier(tiny_model, max_epochs=2, max_length=16,
                                          fit_cache=False, early_stopping=True,
                                          validation_fraction=0.3, random_state=0,
                                          threshold=pd.Series({"c": 0.2, "a": 0.4, "b": 0.6}))
    clf.fit(["x y", "z w", "q r"] * 6, Y)  # scored each epoch: a Series failed to compare
    assert clf.history_ and all(r["valid_loss"] is not None for r in clf.history_)
    assert all(np.isfinite(r["valid_score"]) for r in clf.history_)  # scored, not nan
    assert clf.predict(["x y"]).shape == (1, 3)


def test_trial5_text_and_nan_thresholds_name_the_problem():
    from skbert._thresholds import check_threshold

    with pytest.raises(ValueError, match="neither a number nor an array of numbers"):
        check_threshold(["0.1", "0.9"], 2)  # text, not numbers: it was read as floats
    with pytest.raises(ValueError, match="neither a number"):
        check_threshold({"a": 0.5}, 1)
    with pytest.raises(ValueError, match=r"NaN at label 'b' \(index 1\)"):
        check_threshold([0.5, float("nan")], 2, np.array(["a", "b"], dtype=object))
    with pytest.raises(ValueError, match=r"7.0 at label 3 \(index 0\)"):
        check_threshold([7.0, 0.5], 2, np.array([3, 4]))


@pytest.mark.parametrize("column", ["interval", "sparse_na"])
def test_review_odd_pandas_columns_in_y_are_refused_with_a_valueerror(column):
    import pandas as pd

    from skbert._validation import check_targets

    if column == "interval":
        frame = pd.DataFrame({"a": pd.arrays.IntervalArray.from_breaks([0, 1, 2]), "b": [0, 1]})
    else:
        frame = pd.DataFrame({c: pd.arrays.SparseArray(v, fill_value=pd.NA)
                              for c, v in (("a", [1.0, 0.0]), ("b", [0.0, 1.0]))})
    with pytest.raises(ValueError, match="column 'a'"):  # a TypeError escaped before
        check_targets(frame, 2)


def test_review_two_number_constraints_both_name_the_bool():
    from numbers import Integral, Real

    from sklearn.utils._param_validation import InvalidParameterError

    from skbert._params import check_parameters
    from skbert._validation import NumberInterval

    constraints = {"x": [NumberInterval(Integral, 0, None, closed="left"),
                         NumberInterval(Real, 0, 1, closed="both")]}
    with pytest.raises(InvalidParameterError) as info:
        check_parameters(constraints, {"x": True}, "f")
    assert str(info.value).count("(not a bool)") == 2
    with pytest.raises(InvalidParameterError) as info:  # no state left by the bool
        check_parameters(constraints, {"x": -3}, "f")
    assert "(not a bool)" not in str(info.value)


def test_review_y_mixing_sparse_and_dense_columns_is_refused():
    import pandas as pd

    from skbert._validation import check_targets

    frame = pd.DataFrame({"a": [1, 0], "b": [0, 1]})
    frame["a"] = frame["a"].astype(pd.SparseDtype(bool, False))
    if frame.to_numpy().dtype == object:  # pandas 3 makes this frame objects; pandas 2 ints
        with pytest.raises(ValueError, match="mixes sparse columns with columns of other"):
            check_targets(frame, 2)
    else:
        assert check_targets(frame, 2)[0].tolist() == [[1, 0], [0, 1]]
    same = frame.astype(pd.SparseDtype(int, 0))  # one sparse dtype: read
    assert check_targets(same, 2)[0].tolist() == [[1, 0], [0, 1]]


def test_trial7_the_onnx_exporter_prints_to_stderr_not_stdout(capsys):
    from skbert._export_onnx import _quiet_export

    with _quiet_export():
        print("[torch.onnx] Obtain model graph ...")  # what the exporter prints on a first run
    out, err = capsys.readouterr()
    assert out == "" and "Obtain model graph" in err


def test_trial7_the_cli_prints_a_saved_files_warning_with_its_keys(capsys, int_model, texts_file,
                                                                  tmp_path):
    from skbert.cli import main

    folder = damaged_copy(int_model, tmp_path, lambda s: s["params"].update(
        label_descriptions={"no-such-label": "text"}))
    assert main(["predict", str(folder), str(texts_file)]) == 0
    err = capsys.readouterr().err
    assert "params.label_descriptions is" in err and "--label-descriptions" not in err


def test_trial7_a_flag_value_with_spaces_keeps_its_quotes_on_the_command_line(capsys,
                                                                             int_model,
                                                                             texts_file):
    from skbert.cli import main

    assert main(["predict", str(int_model), str(texts_file), "--device", "cuda:0 "]) == 2
    assert "--device 'cuda:0 '" in capsys.readouterr().err  # the space is visible


@pytest.mark.parametrize("value, words", [
    (["2", 1.0], "is text, not numbers"),
    ({"a": 2.0, "b": 1.0}, "is a dict; give a pandas Series indexed by the labels"),
    ([1.0, 2.0, 3.0], "is 3 value(s) of shape (3,)"),
    ([1.0, -2.0], "is not all finite and > 0"),
])
def test_trial8_a_bad_pos_weight_says_what_is_wrong(tiny_model, value, words):
    import pandas as pd

    from skbert import TransformerMultiLabelClassifier

    Y = pd.DataFrame(np.tile(np.eye(2, dtype=int), (4, 1)), columns=["a", "b"])
    clf = TransformerMultiLabelClassifier(tiny_model, max_epochs=1, pos_weight=value)
    with pytest.raises(ValueError, match="expected 2 finite positive floats") as info:
        clf.fit(["x y", "z w"] * 4, Y)
    assert words in str(info.value)


def test_trial8_a_warning_turned_error_is_one_line_on_the_command_line(capsys, int_model,
                                                                       texts_file, tmp_path):
    import warnings

    from skbert.cli import main

    folder = damaged_copy(int_model, tmp_path, lambda s: s["params"].update(
        label_descriptions={"no-such-label": "text"}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as python -W error
        assert main(["predict", str(folder), str(texts_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("skbert: error:") and "params.label_descriptions" in err
    assert "Traceback" not in err


def test_trial8_all_sparse_columns_of_different_dtypes_are_read():
    import pandas as pd

    from skbert._validation import check_targets

    frame = pd.DataFrame({"a": [1, 0], "b": [0, 1]}).astype(pd.SparseDtype("int8", 0))
    frame["b"] = frame["b"].astype(pd.SparseDtype("int64", 0))
    assert check_targets(frame, 2)[0].tolist() == [[1, 0], [0, 1]]


@pytest.mark.filterwarnings("ignore:.*differ from the 2 of this fit")
def test_a_saved_series_is_a_series_again_so_a_refit_matches_it_by_label(
        tiny_model, monkeypatch, tmp_path):
    import json

    import pandas as pd

    from skbert import TransformerMultiLabelClassifier, _runner
    from skbert._load_errors import SavedFileError

    seen, real = [], _runner.train
    monkeypatch.setattr(_runner, "train", lambda *a, **k: seen.append(k["pos_weight"])
                        or real(*a, **k))
    texts = ["x y", "z w"] * 4
    Y = pd.DataFrame(np.tile(np.eye(2, dtype=int), (4, 1)), columns=["a", "b"])
    clf = TransformerMultiLabelClassifier(
        tiny_model, max_epochs=1, max_length=16, precision="fp32", fit_cache=False,
        validation_fraction=0, early_stopping=False,
        threshold=pd.Series({"b": 0.9, "a": 0.1}), pos_weight=pd.Series({"b": 5.0, "a": 1.0}))
    clf.fit(texts, Y).save_pretrained(tmp_path / "m")
    settings = json.loads((tmp_path / "m" / "skbert.json").read_text())
    assert settings["label_indexed"] == ["threshold", "pos_weight"]
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m")
    assert loaded.threshold.to_dict() == {"a": 0.1, "b": 0.9}
    assert loaded.pos_weight.to_dict() == {"a": 1.0, "b": 5.0}
    # a refit on the columns in another order: the values follow their labels, not positions
    seen.clear()
    loaded.set_params(max_epochs=1).fit(texts, Y[["b", "a"]])
    assert list(loaded.classes_) == ["b", "a"]
    assert seen[0].tolist() == [5.0, 1.0]
    proba = loaded.predict_proba(texts)
    assert (loaded.predict(texts) == (proba >= [0.9, 0.1])).all()
    # a list given by the user is not made a Series, and a file without the key (an older
    # skbert's) loads its list as before
    clf.set_params(threshold=[0.1, 0.9], pos_weight=None).save_pretrained(tmp_path / "plain")
    assert json.loads((tmp_path / "plain" / "skbert.json").read_text())["label_indexed"] is None
    assert TransformerMultiLabelClassifier.from_pretrained(tmp_path / "plain").threshold == \
        [0.1, 0.9]
    # a damaged key is named
    for bad in (["threshold", "threshold"], ["classes"], "threshold", [], [1]):
        (tmp_path / "m" / "skbert.json").write_text(json.dumps({**settings,
                                                                "label_indexed": bad}))
        with pytest.raises(SavedFileError, match="'label_indexed' is .*expected null or a list"):
            TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m")
    params = {**settings["params"], "threshold": 0.5}
    (tmp_path / "m" / "skbert.json").write_text(json.dumps({**settings, "params": params}))
    with pytest.raises(SavedFileError, match=r"lists 'threshold', but params.threshold is 0.5"):
        TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m")

"""Trial 13, command line: a CSV labels column that cannot be read back, JSON values
worded as JSON in ``--label-descriptions`` errors, ``~`` and non-UTF-8 files after its
``@``, the help's quoting, the documented label column, and per-label ``--threshold``
lists that name their bad item.

Everything runs in-process through ``skbert.cli.main`` on the tiny random BERT of
conftest.py (models of a few labels trained in about a second).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from skbert import cli
from skbert._cli_io import csv_label_problem, write_predictions
from skbert._params import cli_params
from skbert.cli import main
from skbert.datasets import load_texts_and_labels

DOCS = Path(__file__).resolve().parents[1] / "docs" / "user_guide" / "cli.rst"
TEXTS = ["football match today", "the pizza recipe", "the election result",
         "new phone released", "basketball game", "pasta dinner"]


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _train(tmp_path, tiny_model, labels_per_text, name="model", *extra):
    data = tmp_path / f"{name}.jsonl"
    with open(data, "w") as fh:
        for text, labels in zip(TEXTS, labels_per_text):
            fh.write(json.dumps({"text": text, "labels": labels}) + "\n")
    out = tmp_path / name
    assert main(["train", str(data), "--out", str(out), "--model", tiny_model,
                 "--max-epochs", "1", "--batch-size", "8", "--verbose", "0", *extra]) == 0
    return out


@pytest.fixture(scope="module")
def separator_model(tiny_model, tmp_path_factory):
    """A model whose labels hold each of the reader's separators (a JSON list keeps them)."""
    tmp = tmp_path_factory.mktemp("trial13_sep")
    return _train(tmp, tiny_model, [["a|b", "joy"], ["joy"], ["c,d"], ["a|b"], ["e;f", "joy"],
                                    ["c,d"]])


@pytest.fixture(scope="module")
def formula_model(tiny_model, tmp_path_factory):
    """A model with ordinary labels and one that starts like a spreadsheet formula."""
    tmp = tmp_path_factory.mktemp("trial13_formula")
    return _train(tmp, tiny_model, [["sports", "=cmd"], ["food"], ["=cmd"], ["sports"],
                                    ["sports", "food"], ["food"]])


@pytest.fixture
def texts_file(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("football match today\nthe pizza recipe\n")
    return path


# ------------------------------------------- 1: a CSV labels column that reads back
@pytest.mark.parametrize("how", [("--format", "csv"), ("--output", "preds.csv")])
def test_item1_csv_refuses_labels_holding_a_separator(how, capsys, separator_model, texts_file,
                                                      tmp_path, monkeypatch):
    """Before: rows such as ``a|b|c,d|joy`` that no reader can split back into labels."""
    monkeypatch.setattr(cli, "_predict_proba", lambda *a, **k: pytest.fail("predicted"))
    flag, value = how
    value = str(tmp_path / value) if flag == "--output" else value
    rc, out, err = run(capsys, "predict", separator_model, texts_file, flag, value)
    assert rc == 2 and out == "", err
    assert err.startswith("skbert: error: CSV output cannot write the labels ")
    for label in ('"a|b"', '"c,d"', '"e;f"'):
        assert label in err, err
    assert '"joy"' not in err
    fix = f"--output {tmp_path / 'preds'}.jsonl." if flag == "--output" else "--format jsonl."
    assert err.rstrip().endswith(fix), err
    assert not (tmp_path / "preds.csv").exists()


def test_item1_the_suggested_json_lines_keep_the_labels(capsys, separator_model, texts_file):
    rc, out, err = run(capsys, "predict", separator_model, texts_file, "--format", "jsonl",
                       "--threshold", "0")
    assert rc == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert records[0]["labels"] == ["a|b", "c,d", "e;f", "joy"]


def test_item1_the_writer_refuses_too_and_the_rule_is_the_readers(tmp_path):
    """The writer never writes an ambiguous column, whoever calls it; what it refuses is
    exactly what the reader would split or strip."""
    with pytest.raises(ValueError, match=r'label " joy" in its labels column'):
        write_predictions(io.StringIO(), ["x"], [[1, 1]], [[0.9, 0.8]], [" joy", "sad"], "csv")
    for name in ["a|b", "a,b", "a;b", " a", "a "]:
        path = tmp_path / "one.csv"
        with open(path, "w", newline="") as fh:
            csv.writer(fh).writerows([["text", "labels"], ["t", f"{name}|z"]])
        _, _, read = load_texts_and_labels(path)
        assert name not in read  # the reader would not give it back ...
        assert csv_label_problem([name, "z"]) is not None  # ... so the writer refuses it
    assert csv_label_problem(["sports", "=cmd", "bank account", 3, np.int64(-2)]) is None


def test_item1_formula_labels_get_the_documented_quote_and_the_rest_reads_back(
        capsys, formula_model, texts_file, tmp_path):
    """cli.rst: a text or label cell that starts with =, +, -, @ gets a ' in front."""
    target = tmp_path / "p.csv"
    rc, _, err = run(capsys, "predict", formula_model, texts_file, "--output", target,
                     "--threshold", "0")
    assert rc == 0, err
    rows = list(csv.DictReader(open(target, newline="")))
    assert [r["labels"] for r in rows] == ["'=cmd|food|sports"] * 2
    assert list(rows[0])[2:] == ["proba_=cmd", "proba_food", "proba_sports"]
    _, Y, names = load_texts_and_labels(target)
    assert names == ["'=cmd", "food", "sports"]  # the quote is kept, as cli.rst now says
    assert "(skbert's readers keep it)" in " ".join(DOCS.read_text().split())


# ------------------------------------- 2: --label-descriptions in JSON's words
@pytest.fixture
def parse_descriptions():
    return {o.name: o.parse for o in cli_params()}["label_descriptions"]


@pytest.mark.parametrize("text, said", [
    ("null", "holds null, not an object"), ('"x"', 'holds a string ("x"), not an object'),
    ("NaN", "holds a number (NaN), not an object"), ("3", "holds a number (3), not an object"),
    ("[1, 2]", "holds an array ([1, 2]), not an object"), ("true", "holds true, not an object"),
])
@pytest.mark.parametrize("in_file", [False, True])
def test_item2_a_value_that_is_not_an_object_is_named_in_json_words(
        text, said, in_file, parse_descriptions, tmp_path):
    if in_file:
        (tmp_path / "d.json").write_text(text)
        text = "@" + str(tmp_path / "d.json")
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_descriptions(text)
    message = str(info.value)
    assert said in message, message
    assert not re.search(r"NoneType|\bstr\b|\bfloat\b|\bint\b|\blist\b|\bbool\b", message)


@pytest.mark.parametrize("descriptions, said", [
    ({"joy": True}, 'gives the label "joy" true, not a description'),
    ({"joy": False}, 'gives the label "joy" false, not a description'),
    ({"joy": None}, 'gives the label "joy" null, not a description'),
    ({"joy": 3}, 'gives the label "joy" a number (3), not a description'),
    ({"joy": ["a"]}, 'gives the label "joy" an array (["a"]), not a description'),
    ({"joy": {}}, 'gives the label "joy" an object, not a description'),
    ({"joy": ""}, 'gives the label "joy" an empty string'),
    ({"joy": "x" * 1001}, 'gives the label "joy" a description of 1001 characters'),
    ({"jyo": "happy"}, 'has the key "jyo" (did you mean "joy"?), which is not one of the '
                       "model's label names (\"a|b\", \"c,d\", \"e;f\", \"joy\")"),
])
def test_item2_a_bad_entry_is_named_in_json_and_command_line_words(
        descriptions, said, capsys, tmp_path, tiny_model, monkeypatch):
    """Before: "--label-descriptions['joy'] is True", "... (classes_) as keys"."""
    monkeypatch.setattr(cli, "_fit", lambda *a, **k: pytest.fail("trained"))
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"text": t, "labels": labels}) + "\n" for t, labels in
                            zip(TEXTS, [["a|b"], ["joy"], ["c,d"], ["e;f"], ["joy"], ["a|b"]])))
    rc, out, err = run(capsys, "train", data, "--out", tmp_path / "m", "--model", tiny_model,
                       "--label-descriptions", json.dumps(descriptions))
    assert rc == 2 and "Training on" not in out, err
    assert err.startswith("skbert: error: --label-descriptions "), err
    assert said in err, err
    for python in ("True", "False", "None", "classes_", "['joy']", "'joy'"):
        assert python not in err, err


def test_item2_good_descriptions_still_train(capsys, tmp_path, tiny_model):
    folder = _train(tmp_path, tiny_model, [["sports"], ["food"], ["sports"], ["food"],
                                           ["sports"], ["food"]], "good",
                    "--label-descriptions", '{"food": "meals and cooking"}')
    saved = json.loads((folder / "skbert.json").read_text())
    assert saved["params"]["label_descriptions"] == {"food": "meals and cooking"}


# ------------------------------------------------ 3: the help's quoting
def test_item3_help_quotes_option_values_one_way(capsys):
    rc, out, _ = run(capsys, "train", "--help")
    assert rc == 0
    flat = " ".join(out.split())
    assert "labels/'names'" not in flat
    assert "read by --head-init labels and --head-init names," in flat
    # no option value written bare and the next one quoted (--flag a/'b', --flag a or 'b')
    assert not re.search(r"--[a-z-]+ \w+(/| or | and )'\w+'", flat), flat


# ---------------------------------------------- 4: ~ and encodings after the @
def test_item4_tilde_is_expanded_like_the_folder_options(parse_descriptions, tmp_path,
                                                         monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "tilde.json").write_text('{"joy": "happy"}')
    assert parse_descriptions("@~/tilde.json") == {"joy": "happy"}
    folder = {o.name: o.parse for o in cli_params()}["checkpoint_dir"]("~/ckpt")
    assert folder == str(tmp_path / "ckpt")  # the folder options do the same
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_descriptions("@~/missing.json")
    assert f"the file '~/missing.json' ({str(tmp_path / 'missing.json')!r}) does not exist" \
        in str(info.value)
    with pytest.raises(argparse.ArgumentTypeError, match="'~nosuchuser13', the home folder of a "
                                                         "user this system does not know"):
        parse_descriptions("@~nosuchuser13/d.json")


def test_item4_a_file_not_in_utf8_is_named_so(parse_descriptions, tmp_path):
    (tmp_path / "latin1.json").write_bytes('{"joy": "café"}'.encode("latin-1"))
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_descriptions("@" + str(tmp_path / "latin1.json"))
    message = str(info.value)
    assert "is not UTF-8 text" in message and "save it as UTF-8" in message, message
    assert "codec" not in message and "not valid JSON" not in message, message


# ------------------------------------------- 5: the documented label column
def test_item5_the_docs_say_what_the_label_column_reader_takes(tmp_path):
    from skbert.datasets._files import _LABEL_SEPARATORS

    text = " ".join(DOCS.read_text().split())
    assert "separated by ``,``, ``;`` or ``|``" in text
    assert sorted(_LABEL_SEPARATORS.pattern.strip("[]")) == sorted(",;|")
    assert "a list of numbers (``[0, 3]``) is refused" in text
    # what the docs promise, read by the reader
    path = tmp_path / "d.csv"
    path.write_text('text,labels\na,sports|tech\nb,sports;tech\nc,"sports, tech"\nd,\n')
    _, Y, names = load_texts_and_labels(path)
    assert names == ["sports", "tech"] and Y.tolist() == [[1, 1]] * 3 + [[0, 0]]
    assert "a cell ``3`` is the label ``\"3\"``" in text
    path.write_text("text,labels\na,3\nb,0\n")  # class ids: CSV cells are text
    assert load_texts_and_labels(path)[2] == ["0", "3"]
    path.write_text("text,labels\na,1\nb,0\n")  # only 0/1: one indicator column
    with pytest.raises(ValueError, match="label names"):
        load_texts_and_labels(path)


# ---------------------------------------- 6: a per-label list names its bad item
@pytest.mark.parametrize("given, item", [("nan,0.5", "item 1 of the list, 'nan',"),
                                         ("inf,0.5", "item 1 of the list, 'inf',"),
                                         ("abc,0.5", "item 1 of the list, 'abc',"),
                                         ("0.2,-inf", "item 2 of the list, '-inf',"),
                                         ("0.3,,0.5", "item 2 of the list is empty")])
def test_item6_a_bad_threshold_item_is_named_with_the_rule(given, item, capsys,
                                                           separator_model, texts_file):
    rc, out, err = run(capsys, "predict", separator_model, texts_file, "--threshold", given)
    assert rc == 2 and out == ""
    assert f"invalid threshold {given!r} for --threshold; {item}" in err, err
    assert "not a number in [0, 1]" in err or "is empty" in err, err
    assert "one number in [0, 1] for every label (--threshold 0.5)" in err, err


def test_item6_pos_weight_items_say_their_own_rule():
    parse = {o.name: o.parse for o in cli_params()}["pos_weight"]
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse("1,nan")
    assert "item 2 of the list, 'nan', is not a number greater than 0" in str(info.value)
    assert parse("1,2.5") == [1.0, 2.5]


def test_a_per_label_pos_weight_fix_is_written_as_the_flag_takes_it(capsys, tmp_path, tiny_model):
    """The estimator's ``pos_weight=[1.0] * 4`` came out as ``--pos-weight 1.0 * 4``."""
    data = tmp_path / "d.jsonl"
    with open(data, "w") as fh:
        for text, labels in zip(TEXTS, [["a"], ["b"], ["c"], ["d"], ["a", "b"], ["c"]]):
            fh.write(json.dumps({"text": text, "labels": labels}) + "\n")
    rc, _, err = run(capsys, "train", data, "--out", tmp_path / "m", "--model", tiny_model,
                     "--max-epochs", "1", "--verbose", "0", "--pos-weight", "1,0,1,1")
    assert rc == 2
    assert "--pos-weight 1.0,1.0,1.0,1.0" in err and " * " not in err, err


@pytest.mark.parametrize("labels, shown", [([0, 3], "holds 0 (a number)"),
                                           ([True], "holds True (true/false)"),
                                           ([{"a": 1}], "holds {'a': 1} (an object)")])
def test_a_label_list_item_that_is_not_text_is_named_without_python_types(
        capsys, tmp_path, labels, shown):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"text": "a text", "labels": labels}) + "\n")
    rc, _, err = run(capsys, "train", data, "--out", tmp_path / "m")
    assert rc == 2 and shown in err, err
    assert not re.search(r"\((int|bool|dict|str|float)\)", err), err


def test_evaluate_names_the_spreadsheet_quote_on_labels_read_back_from_csv(capsys, tmp_path,
                                                                          tiny_model):
    """A label starting with + or - (sentiment '+1'/'-1') is written to CSV behind a ' (the
    spreadsheet guard, as documented); evaluate reading that file back says so."""
    model = _train(tmp_path, tiny_model, [["+1"], ["-1"], ["+1"], ["-1"], ["+1", "-1"], ["+1"]])
    preds = tmp_path / "p.csv"
    texts = tmp_path / "t.txt"
    texts.write_text("football match today\nthe pizza recipe\n")
    assert run(capsys, "predict", model, texts, "--output", preds, "--threshold", "0")[0] == 0
    rc, _, err = run(capsys, "evaluate", model, preds)
    assert rc == 2 and "the model's labels behind the '" in err and "--format jsonl" in err, err


def test_class_ids_0_1_2_train_and_a_0_1_column_is_refused_by_evaluate_as_ambiguous(
        capsys, tmp_path, tiny_model):
    """Labels "0", "1", "2" from a CSV of class ids train; a test file whose label cells are
    only 0 and 1 reads as one 0/1 column as much as class ids (opposite answers for a model
    whose label "0" means yes), so evaluate refuses it and says how to give either."""
    data = tmp_path / "d.csv"
    rows = [("football match", "0"), ("the senate vote", "1"), ("pizza recipe", "2"),
            ("goal team", "0"), ("election policy", "1"), ("cheese dinner", '"0,2"')]
    data.write_text("text,labels\n" + "".join(f"{t},{c}\n" for t, c in rows))
    rc, _, err = run(capsys, "train", data, "--out", tmp_path / "m", "--model", tiny_model,
                     "--max-epochs", "1", "--verbose", "0", "--threshold", "0.5")
    assert rc == 0, err
    test = tmp_path / "t.csv"
    test.write_text("text,labels\nfootball goal,0\nsenate vote,1\n")
    rc, _, err = run(capsys, "evaluate", tmp_path / "m", test)
    assert rc == 2 and "--label-columns A,B,C" in err and "JSON Lines" in err, err
    lists = tmp_path / "t.jsonl"
    lists.write_text('{"text": "football goal", "labels": ["0"]}\n'
                     '{"text": "senate vote", "labels": ["1"]}\n')
    rc, out, err = run(capsys, "evaluate", tmp_path / "m", lists)
    assert rc == 0 and "micro-F1" in out, err

"""Tests for skbert.datasets (bundled GoEmotions sample and file loading).

These tests only read the data bundled in the package and files they write
themselves; they never touch torch, transformers or the shared data folder.
"""

from __future__ import annotations

import json
import re
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from skbert.datasets import load_goemotions, load_texts_and_labels

N_LABELS = 28
FIRST_LABELS = ["admiration", "amusement", "anger"]


# --------------------------------------------------------------------------
# load_goemotions
# --------------------------------------------------------------------------


@pytest.mark.parametrize("subset, n", [("train", 3000), ("test", 1000), ("all", 4000)])
def test_goemotions_shapes_and_types(subset, n):
    bunch = load_goemotions(subset=subset)
    assert isinstance(bunch.data, list) and len(bunch.data) == n
    assert all(isinstance(t, str) and t for t in bunch.data)
    assert bunch.target.shape == (n, N_LABELS)
    assert bunch.target.dtype == np.int64
    assert set(np.unique(bunch.target)) == {0, 1}
    # GoEmotions documents always carry at least one label (neutral included).
    assert bunch.target.sum(axis=1).min() >= 1
    assert len(bunch.ids) == n and len(set(bunch.ids)) == n
    assert bunch.frame is None
    assert len(bunch.target_names) == N_LABELS


def test_goemotions_target_names_order():
    names = load_goemotions().target_names
    assert names[:3] == FIRST_LABELS
    assert names[-1] == "neutral"
    assert len(set(names)) == N_LABELS
    bundled = (
        resources.files("skbert.datasets")
        .joinpath("data", "goemotions_labels.txt")
        .read_text(encoding="utf-8")
        .split()
    )
    assert names == bundled


@pytest.mark.parametrize("subset, minimum", [("train", 10), ("test", 5)])
def test_goemotions_every_label_present(subset, minimum):
    target = load_goemotions(subset=subset).target
    counts = target.sum(axis=0)
    assert counts.min() >= minimum, dict(zip(load_goemotions().target_names, counts))


def test_goemotions_all_is_train_then_test_and_parts_disjoint():
    train = load_goemotions(subset="train")
    test = load_goemotions(subset="test")
    both = load_goemotions(subset="all")
    assert both.data == train.data + test.data
    assert both.ids == train.ids + test.ids
    np.testing.assert_array_equal(both.target, np.vstack([train.target, test.target]))
    assert not set(train.ids) & set(test.ids)


def test_goemotions_as_frame():
    bunch = load_goemotions(subset="test", as_frame=True)
    names = bunch.target_names
    assert isinstance(bunch.data, pd.Series)
    assert bunch.data.name == "text"
    assert isinstance(bunch.target, pd.DataFrame)
    assert list(bunch.target.columns) == names
    assert isinstance(bunch.frame, pd.DataFrame)
    assert list(bunch.frame.columns) == ["text"] + names
    assert bunch.frame.shape == (1000, 1 + N_LABELS)
    plain = load_goemotions(subset="test")
    assert bunch.data.tolist() == plain.data
    np.testing.assert_array_equal(bunch.target.to_numpy(), plain.target)
    np.testing.assert_array_equal(bunch.frame[names].to_numpy(), plain.target)


def test_goemotions_return_X_y():
    X, Y = load_goemotions(subset="train", return_X_y=True)
    bunch = load_goemotions(subset="train")
    assert X == bunch.data
    np.testing.assert_array_equal(Y, bunch.target)

    X, Y = load_goemotions(subset="test", return_X_y=True, as_frame=True)
    assert isinstance(X, pd.Series) and len(X) == 1000
    assert isinstance(Y, pd.DataFrame) and Y.shape == (1000, N_LABELS)


def test_goemotions_returns_fresh_copies():
    first = load_goemotions(subset="test")
    assert first.target.flags.writeable
    first.target[:] = 7
    first.data[0] = "changed"
    first.ids.clear()
    first.target_names[0] = "changed"

    again = load_goemotions(subset="test")
    assert set(np.unique(again.target)) == {0, 1}
    assert again.data[0] != "changed"
    assert len(again.ids) == 1000
    assert again.target_names[0] == "admiration"


def test_goemotions_descr_has_licence_and_citation():
    descr = load_goemotions().DESCR
    assert "Apache" in descr
    assert "Demszky" in descr
    assert "3,000" in descr


def test_goemotions_licence_files_are_bundled():
    data = resources.files("skbert.datasets").joinpath("data")
    notice = " ".join(data.joinpath("GOEMOTIONS_LICENSE.txt").read_text(encoding="utf-8").split())
    assert "Apache License, Version 2.0" in notice
    assert "Demszky" in notice
    assert "google-research" in notice
    full = data.joinpath("APACHE-2.0.txt").read_text(encoding="utf-8")
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in full


@pytest.mark.parametrize("bad", ["validation", "TRAIN", "", None, 1])
def test_goemotions_bad_subset(bad):
    with pytest.raises(ValueError, match=re.escape(f"subset={bad!r}")) as info:
        load_goemotions(subset=bad)
    assert "'train', 'test', 'all'" in str(info.value)


# --------------------------------------------------------------------------
# load_texts_and_labels: round trips
# --------------------------------------------------------------------------

ROWS = [
    {"text": "great food, slow service", "labels": ["food", "service"]},
    {"text": "nothing to say", "labels": []},
    {"text": "cheap", "labels": ["price"]},
]
TEXTS = [r["text"] for r in ROWS]
SORTED_NAMES = ["food", "price", "service"]
Y_SORTED = np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0]])


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _check(result, texts, y, names):
    got_texts, got_y, got_names = result
    assert got_texts == texts
    assert got_names == names
    assert isinstance(got_y, np.ndarray)
    assert np.issubdtype(got_y.dtype, np.integer)
    np.testing.assert_array_equal(got_y, y)


def test_jsonl_label_lists(tmp_path):
    path = _write_jsonl(tmp_path / "data.jsonl", ROWS)
    _check(load_texts_and_labels(path), TEXTS, Y_SORTED, SORTED_NAMES)
    # str paths work too
    _check(load_texts_and_labels(str(path)), TEXTS, Y_SORTED, SORTED_NAMES)


def test_json_array_file(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps(ROWS), encoding="utf-8")
    _check(load_texts_and_labels(path), TEXTS, Y_SORTED, SORTED_NAMES)


def test_labels_fix_order_and_add_unseen_labels(tmp_path):
    path = _write_jsonl(tmp_path / "data.jsonl", ROWS)
    order = ["service", "ambience", "food", "price"]
    texts, Y, names = load_texts_and_labels(path, labels=order)
    assert names == order
    expected = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1]])
    np.testing.assert_array_equal(Y, expected)
    assert texts == TEXTS


def test_custom_column_names(tmp_path):
    rows = [{"body": r["text"], "tags": r["labels"], "extra": 1} for r in ROWS]
    path = _write_jsonl(tmp_path / "data.jsonl", rows)
    result = load_texts_and_labels(path, text_column="body", label_column="tags")
    _check(result, TEXTS, Y_SORTED, SORTED_NAMES)


def test_csv_label_names_with_separators(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(
        "id,text,labels\n"
        '1,"great food, slow service","food, service"\n'
        "2,nothing to say,\n"
        "3,cheap,price\n"
        "4,tasty and cheap;ish,food;price\n"
        "5,all of it,food|price|service\n",
        encoding="utf-8",
    )
    texts, Y, names = load_texts_and_labels(path)
    assert texts == TEXTS + ["tasty and cheap;ish", "all of it"]
    assert names == SORTED_NAMES
    np.testing.assert_array_equal(Y, np.vstack([Y_SORTED, [[1, 1, 0], [1, 1, 1]]]))


def test_csv_indicator_columns(tmp_path):
    path = tmp_path / "data.csv"
    frame = pd.DataFrame(
        {
            "text": TEXTS,
            "service": [1, 0, 0],
            "food": [1, 0, 0],
            "price": [0, 0, 1],
            "other": [5, 6, 7],  # not a label column, must be ignored
        }
    )
    frame.to_csv(path, index=False)
    result = load_texts_and_labels(path, label_columns=["service", "food", "price"])
    _check(result, TEXTS, np.array([[1, 1, 0], [0, 0, 0], [0, 0, 1]]),
           ["service", "food", "price"])


def test_tsv_file(tmp_path):
    path = tmp_path / "data.tsv"
    path.write_text(
        "text\tlabels\n"
        "great food, slow service\tfood,service\n"
        "nothing to say\t\n"
        "cheap\tprice\n",
        encoding="utf-8",
    )
    _check(load_texts_and_labels(path), TEXTS, Y_SORTED, SORTED_NAMES)


def test_parquet_label_lists(tmp_path):
    path = tmp_path / "data.parquet"
    pd.DataFrame(ROWS).to_parquet(path, index=False)
    _check(load_texts_and_labels(path), TEXTS, Y_SORTED, SORTED_NAMES)


def test_parquet_indicator_columns_bool(tmp_path):
    path = tmp_path / "data.parquet"
    pd.DataFrame(
        {"text": TEXTS, "food": [True, False, False], "price": [False, False, True]}
    ).to_parquet(path, index=False)
    result = load_texts_and_labels(path, label_columns=["food", "price"])
    _check(result, TEXTS, np.array([[1, 0], [0, 0], [0, 1]]), ["food", "price"])


def test_goemotions_round_trip_through_jsonl(tmp_path):
    bunch = load_goemotions(subset="test")
    rows = [
        {"text": text, "labels": [bunch.target_names[j] for j in np.flatnonzero(y)]}
        for text, y in zip(bunch.data, bunch.target)
    ]
    path = _write_jsonl(tmp_path / "goemotions.jsonl", rows)
    texts, Y, names = load_texts_and_labels(path, labels=bunch.target_names)
    assert texts == bunch.data
    assert names == bunch.target_names
    np.testing.assert_array_equal(Y, bunch.target)


# --------------------------------------------------------------------------
# load_texts_and_labels: errors
# --------------------------------------------------------------------------


def test_error_missing_file(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(FileNotFoundError, match="nope.jsonl.*check the path"):
        load_texts_and_labels(missing)


def test_error_unsupported_extension(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_text("whatever", encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"'\.xlsx'.*use one of \.jsonl, \.json, \.csv, \.tsv, \.parquet"
    ):
        load_texts_and_labels(path)


def test_error_empty_file(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="is empty"):
        load_texts_and_labels(path)


def test_error_missing_text_column(tmp_path):
    rows = [{"body": r["text"], "labels": r["labels"]} for r in ROWS]
    path = _write_jsonl(tmp_path / "data.jsonl", rows)
    with pytest.raises(
        ValueError,
        match=r"'text' not found.*set text_column to one of the available "
        r"columns: \['body', 'labels'\]",
    ):
        load_texts_and_labels(path)


def test_error_missing_label_column(tmp_path):
    rows = [{"text": r["text"], "tags": r["labels"]} for r in ROWS]
    path = _write_jsonl(tmp_path / "data.jsonl", rows)
    with pytest.raises(
        ValueError, match=r"'labels' not found.*set label_column to one of .*'tags'"
    ):
        load_texts_and_labels(path)


def test_error_missing_label_columns(tmp_path):
    path = tmp_path / "data.csv"
    pd.DataFrame({"text": TEXTS, "food": [1, 0, 0]}).to_csv(path, index=False)
    with pytest.raises(
        ValueError,
        match=r"\['price'\] not found.*label_columns must name columns among: "
        r"\['text', 'food'\]",
    ):
        load_texts_and_labels(path, label_columns=["food", "price"])


@pytest.mark.parametrize("bad", [2, -1, 0.5])
def test_error_non_binary_label_columns(tmp_path, bad):
    path = tmp_path / "data.csv"
    pd.DataFrame({"text": TEXTS, "food": [1, bad, 0]}).to_csv(path, index=False)
    with pytest.raises(
        ValueError, match=r"'food' holds .* at row 1; label_columns must hold only 0/1"
    ):
        load_texts_and_labels(path, label_columns=["food"])


def test_error_missing_value_in_label_columns(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,food\na,1\nb,\nc,0\n", encoding="utf-8")
    with pytest.raises(ValueError, match="at row 1; label_columns must hold only 0/1"):
        load_texts_and_labels(path, label_columns=["food"])


def test_error_non_str_text(tmp_path):
    rows = [ROWS[0], {"text": None, "labels": ["food"]}, ROWS[2]]
    path = _write_jsonl(tmp_path / "data.jsonl", rows)
    with pytest.raises(ValueError, match="at row 1; every text must be a string"):
        load_texts_and_labels(path)


def test_error_empty_text_cell_in_csv(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,labels\nfine,food\n,price\n", encoding="utf-8")
    with pytest.raises(ValueError, match="at row 1; every text must be a string"):
        load_texts_and_labels(path)


def test_error_unknown_labels(tmp_path):
    path = _write_jsonl(tmp_path / "data.jsonl", ROWS)
    with pytest.raises(
        ValueError,
        match=r"labels not in `labels`: \['price', 'service'\]; add them to labels",
    ):
        load_texts_and_labels(path, labels=["food"])


def test_error_non_str_label_names(tmp_path):
    rows = [{"text": "a", "labels": [1, 2]}]
    path = _write_jsonl(tmp_path / "data.jsonl", rows)
    with pytest.raises(ValueError, match="Row 0 .* must hold label names"):
        load_texts_and_labels(path)


def test_error_numeric_label_column_suggests_label_columns(tmp_path):
    path = tmp_path / "data.csv"
    pd.DataFrame({"text": TEXTS, "labels": [1, 0, 1]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"pass label_columns=\[\.\.\.\] instead"):
        load_texts_and_labels(path)


def test_error_labels_with_label_columns(tmp_path):
    path = tmp_path / "data.csv"
    pd.DataFrame({"text": TEXTS, "food": [1, 0, 0]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="order of label_columns already fixes"):
        load_texts_and_labels(path, label_columns=["food"], labels=["food"])


def test_error_duplicate_labels(tmp_path):
    path = _write_jsonl(tmp_path / "data.jsonl", ROWS)
    with pytest.raises(ValueError, match=r"\['food'\] more than once; name each label once"):
        load_texts_and_labels(path, labels=["food", "price", "food", "service"])


def test_error_label_columns_as_string(tmp_path):
    path = tmp_path / "data.csv"
    pd.DataFrame({"text": TEXTS, "food": [1, 0, 0]}).to_csv(path, index=False)
    with pytest.raises(TypeError, match=r"write label_columns=\['food'\]"):
        load_texts_and_labels(path, label_columns="food")


def test_error_unparsable_jsonl_line_names_it(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "a", "labels": ["x"]}\n\nnot json at all\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"^Line 3 of 'data.jsonl' is not valid JSON "
                                         r"\(Expecting value.*fix or remove that line"):
        load_texts_and_labels(path)


def test_error_unparsable_json_array_names_the_line(tmp_path):
    path = tmp_path / "data.json"
    path.write_text('[\n{"text": "a", "labels": ["x"]},\n{"text": "b" "labels": []}\n]\n',
                    encoding="utf-8")
    with pytest.raises(ValueError, match=r"^Line 3 of 'data.json' is not valid JSON "
                                         r"\(Expecting ',' delimiter, column 14\)"):
        load_texts_and_labels(path)


@pytest.mark.parametrize("line, kind", [('["a", "b"]', "list"), ('"just text"', "str")])
def test_error_jsonl_record_not_an_object(tmp_path, line, kind):
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"^Line 2 of 'data.jsonl' holds a JSON {kind}, "
                                         "not an object"):
        load_texts_and_labels(path)


def test_jsonl_missing_keys_and_blank_lines(tmp_path):
    """A record without the label key has no labels; blank lines are skipped."""
    path = tmp_path / "data.jsonl"
    path.write_text('\n{"text": "a", "labels": ["x"]}\n\n{"text": "b", "extra": 1}\n',
                    encoding="utf-8")
    _check(load_texts_and_labels(path), ["a", "b"], np.array([[1], [0]]), ["x"])


# --------------------------------------------------------------------------
# load_texts_and_labels: CSV rows of the wrong width and other CSV details
# --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix, sep", [(".csv", ","), (".tsv", "\t")])
def test_error_row_with_an_extra_field_names_its_line(tmp_path, suffix, sep):
    """An unquoted delimiter in the first row used to shift every column silently."""
    path = tmp_path / f"data{suffix}"
    path.write_text(f"text{sep}labels\ngreat food{sep} slow service{sep}food\n"
                    f"cheap{sep}price\n", encoding="utf-8")
    shown = "a tab" if sep == "\t" else "','"
    with pytest.raises(ValueError) as info:
        load_texts_and_labels(path)
    assert str(info.value) == (
        f"Line 2 of 'data{suffix}' has 3 field(s) but the header has 2; put double quotes "
        f"around any field that contains {shown} (e.g. \"good, cheap\") or fix that line.")


def test_error_short_row_counts_file_lines(tmp_path):
    """Line numbers are file lines: a quoted multi-line field and blank lines count."""
    path = tmp_path / "data.csv"
    path.write_text('text,labels\n"two\nlines",food\n\nshort\nfine,price\n',
                    encoding="utf-8")
    with pytest.raises(ValueError, match=r"^Line 5 of 'data.csv' has 1 field\(s\) but the "
                                         "header has 2"):
        load_texts_and_labels(path)


def test_error_unclosed_quote_names_the_line_it_opens(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text('text,labels\nfine,food\n"never closed,price\nmore,food\n',
                    encoding="utf-8")
    with pytest.raises(ValueError, match=r"^Line 3 of 'data.csv' is not valid CSV "
                                         r"\(unexpected end of data\); close the quotes"):
        load_texts_and_labels(path)


def test_error_duplicate_column_in_csv_header(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,labels,text\na,x,b\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"names column 'text' 2 times \(fields 1, 3\); "
                                         "rename the duplicates"):
        load_texts_and_labels(path)


def test_error_csv_not_utf8(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes("text,labels\ncaf\u00e9,food\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"'data.csv' is not UTF-8 text .*save it with UTF-8"):
        load_texts_and_labels(path)


def test_csv_cells_are_read_as_written(tmp_path):
    """Only an empty cell is missing: 'NA', 'None' and numbers are texts and label names."""
    path = tmp_path / "data.csv"
    path.write_text("text,labels\nNA,None|x\n42,\nnull,NA\n", encoding="utf-8")
    _check(load_texts_and_labels(path), ["NA", "42", "null"],
           np.array([[0, 1, 1], [0, 0, 0], [1, 0, 0]]), ["NA", "None", "x"])


def test_csv_bom_long_field_and_typed_indicator_columns(tmp_path):
    import csv

    limit = csv.field_size_limit()
    long_text = "word " * 40_000  # 200,000 characters, above csv's default field limit
    path = tmp_path / "data.csv"
    path.write_text(f'text,a,b,c\n"{long_text}",true,1.0,1\nshort,FALSE,0.0,0\n',
                    encoding="utf-8-sig")
    texts, Y, names = load_texts_and_labels(path, label_columns=["a", "b", "c"])
    assert texts == [long_text, "short"]  # the BOM is not part of the 'text' column name
    _check((texts, Y, names), texts, np.array([[1, 1, 1], [0, 0, 0]]), ["a", "b", "c"])
    assert csv.field_size_limit() == limit  # the module-wide limit is restored


def test_parquet_reads_only_the_needed_columns_and_all_rows(tmp_path):
    path = tmp_path / "data.parquet"
    pd.DataFrame({"text": TEXTS, "labels": [r["labels"] for r in ROWS],
                  "other": [[1.5]] * 3}).to_parquet(path, index=False)
    from skbert.datasets._files import _read_parquet

    table, available, n_rows = _read_parquet(path, ["text", "missing"])
    assert table == {"text": TEXTS} and available == ["text", "labels", "other"]
    assert n_rows == 3


def test_error_damaged_parquet(tmp_path):
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(ValueError, match=r"Could not read 'data.parquet' as Parquet .*check "
                                         "that the file is a complete Parquet file"):
        load_texts_and_labels(path)


# ------------------------------------------------ issue 20 item 13: deep nesting
def test_item13_deeply_nested_json_lines_name_the_line(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"text": "a", "labels": ["x"]}\n'
                    + '{"text": "b", "labels": ' + "[" * 200_000 + "]" * 200_000 + "}\n")
    with pytest.raises(ValueError, match=r"^Line 2 of 'deep.jsonl' nests JSON arrays or "
                                         r"objects too deeply"):
        load_texts_and_labels(path)


def test_item13_deeply_nested_json_array_is_a_value_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ValueError, match=r"The JSON array of 'deep.json' nests JSON arrays"):
        load_texts_and_labels(path)
    path.write_text('[{"text": "a", "labels": ["x"]}')  # the array never closes
    with pytest.raises(ValueError, match="is not valid JSON"):
        load_texts_and_labels(path)


def test_messages_name_parameters_as_the_caller_spells_them(tmp_path):
    from skbert.datasets._files import load_table

    path = tmp_path / "d.jsonl"
    path.write_text('{"body": "a", "tags": ["x"]}\n')
    spell = {"text_column": "--text-column", "label_column": "--label-column",
             "label_columns": "--label-columns", "label_columns=": "--label-columns A,B",
             "label_column=": "--label-column"}
    with pytest.raises(ValueError, match="set --text-column to one of"):
        load_table(path, spell=spell)
    with pytest.raises(ValueError, match="set --label-column to one of .* pass --label-columns"):
        load_table(path, text_column="body", spell=spell)
    with pytest.raises(ValueError, match="set text_column to one of"):  # the Python API's
        load_texts_and_labels(path)


def test_trial_item3_duplicate_key_in_a_jsonl_row_names_line_and_key(tmp_path):
    """{"text": real, "labels": [...], "text": "pizza"} used to train on "pizza" silently."""
    path = tmp_path / "dup.jsonl"
    path.write_text('{"text": "goal", "labels": ["sports"]}\n\n'
                    '{"text": "vote today", "labels": ["politics"], "text": "pizza"}\n')
    with pytest.raises(ValueError, match=r"Line 3 of 'dup.jsonl' gives the key 'text' twice"):
        load_texts_and_labels(path)


def test_trial_item3_duplicate_key_in_a_json_array_names_record_and_key(tmp_path):
    path = tmp_path / "dup.json"
    path.write_text('[{"text": "goal", "labels": ["sports"]},\n'
                    ' {"text": "vote", "labels": ["politics"], "labels": ["food"]}]')
    with pytest.raises(ValueError, match=r"Record 1 of 'dup.json' gives the key 'labels' twice"):
        load_texts_and_labels(path)
    # nested, and after it the array is broken: the key is still named
    path.write_text('[{"text": "a", "labels": ["x"], "meta": {"k": 1, "k": 2}} garbage')
    with pytest.raises(ValueError, match=r"gives the key 'k' twice"):
        load_texts_and_labels(path)


def test_trial_item3_same_key_in_different_rows_is_fine(tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_text('{"text": "a", "labels": ["x"], "meta": {"text": 1}}\n'
                    '{"text": "b", "labels": ["y"]}\n')
    texts, Y, names = load_texts_and_labels(path)
    assert texts == ["a", "b"] and names == ["x", "y"]


def test_a_quoted_0_or_1_in_a_label_column_is_named_as_text(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "a", "food": "1"}\n{"text": "b", "food": 0}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"holds '1' \(text, not a number\) at row 0"):
        load_texts_and_labels(path, label_columns=["food"])


def test_a_csv_label_column_read_as_text_names_the_cell_that_is_not_a_number(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,food\na,1\nb,0\nc,maybe\nd, 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"holds 'maybe' at row 2") as info:
        load_texts_and_labels(path, label_columns=["food"])
    assert "text, not a number" not in str(info.value)
    path.write_text("text,food\na,1\nb,0\nd, 1\n", encoding="utf-8")  # a space makes it text
    with pytest.raises(ValueError, match=r"holds ' 1' at row 2"):
        load_texts_and_labels(path, label_columns=["food"])


def test_csv_label_column_of_numbers_reads_them_as_label_names(tmp_path):
    """A CSV cell is text: a column of class ids (one per row, as GoEmotions' files write
    them) gives the labels "3" and "27", as it does when one row holds "3,27"."""
    path = tmp_path / "data.csv"
    path.write_text("text,labels\na,3\nb,27\nc,\n")
    texts, Y, names = load_texts_and_labels(path)
    assert names == ["27", "3"] and Y.tolist() == [[0, 1], [1, 0], [0, 0]]
    path.write_text('text,labels\na,3\nb,"3,27"\n')
    assert load_texts_and_labels(path, labels=["3", "27"])[1].tolist() == [[1, 0], [1, 1]]
    path.with_suffix(".tsv").write_text("text\tlabels\na\t1.5\nb\t-2\n")
    assert load_texts_and_labels(path.with_suffix(".tsv"))[2] == ["-2", "1.5"]


@pytest.mark.parametrize("cells", [["0", "1", ""], ["true", "false", "true"]])
def test_csv_label_column_of_only_indicators_is_still_refused(tmp_path, cells):
    path = tmp_path / "data.csv"
    path.write_text("text,labels\n" + "".join(f"t{i},{c}\n" for i, c in enumerate(cells)))
    with pytest.raises(ValueError, match=r"reads as one 0/1 column as much as label names.*"
                                         r"pass label_columns=\[\.\.\.\] instead; if these are "
                                         r"label names \(class ids\), pass labels="):
        load_texts_and_labels(path)


def test_csv_class_ids_0_and_1_are_names_where_labels_name_them(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,labels\na,1\nb,0\nc,\n")
    texts, Y, names = load_texts_and_labels(path, labels=["0", "1", "2"])
    assert names == ["0", "1", "2"] and Y.tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 0]]
    with pytest.raises(ValueError, match=r"holds only 0 and 1: that reads as one 0/1 column"):
        load_texts_and_labels(path, labels=["1", "2"])  # '0' is no label: one 0/1 column


def test_labels_given_as_numbers_are_told_to_be_text(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,labels\na,1\nb,0\n")
    with pytest.raises(ValueError, match=r"Label names are text: write \['0', '1'\] as strings"):
        load_texts_and_labels(path, labels=[0, 1])

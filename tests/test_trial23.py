"""Trial 23 (session of 2026-12-08): folders in the way, folder names UTF-8 cannot encode,
planted escape codes in messages; found by a user trial and an attacker trial."""

import json
import os

import numpy as np
import pytest

from skbert import TransformerMultiLabelClassifier
from skbert._safe_io import make_folders


def test_make_folders_names_the_file_in_the_way(tmp_path):
    notes = tmp_path / "notes"
    notes.write_text("mine")
    with pytest.raises(FileExistsError, match=r"'.*notes' is a file, not a folder.*notes/model"):
        make_folders(notes / "model")
    with pytest.raises(FileExistsError, match=r"'.*notes' is a file, not a folder"):
        make_folders(notes)
    assert notes.read_text() == "mine"
    assert make_folders(tmp_path / "a" / "b") == str(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()


def test_make_folders_names_a_link_to_nowhere(tmp_path):
    os.symlink(tmp_path / "missing", tmp_path / "gone")
    with pytest.raises(FileExistsError, match="is a link that leads to no folder"):
        make_folders(tmp_path / "gone" / "model")


def test_save_pretrained_under_a_file_keeps_the_file(tiny_st_model, corpus, tmp_path):
    X, Y = corpus
    clf = TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, max_length=16,
                                          precision="fp32", contrastive_steps=0,
                                          fit_cache=False).fit(X, Y)
    notes = tmp_path / "notes"
    notes.write_text("mine")
    with pytest.raises(FileExistsError, match=r"'.*notes' is a file, not a folder"):
        clf.save_pretrained(notes / "model")
    assert notes.read_text() == "mine"
    assert sorted(os.listdir(tmp_path)) == ["notes"]


@pytest.mark.parametrize("name", ["sur\udcffx", "sur\ud800x"])
def test_save_pretrained_refuses_a_folder_name_utf8_cannot_encode(tiny_st_model, corpus,
                                                                  tmp_path, name):
    X, Y = corpus
    clf = TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, max_length=16,
                                          precision="fp32", contrastive_steps=0,
                                          fit_cache=False).fit(X, Y)
    with pytest.raises(ValueError, match=r"UTF-8 cannot encode .*Choose a folder name"):
        clf.save_pretrained(os.path.join(str(tmp_path), name))
    assert os.listdir(tmp_path) == []


def test_cli_train_refuses_such_an_out_before_training(tiny_st_model, corpus, tmp_path,
                                                       capsys, train_calls):
    from skbert.cli import main

    X, Y = corpus
    data = tmp_path / "train.jsonl"
    data.write_text("".join(
        json.dumps({"text": t, "labels": [f"L{j}" for j in range(Y.shape[1]) if row[j]]}) + "\n"
        for t, row in zip(X, Y)))
    out = os.path.join(str(tmp_path), "m\udcff")
    rc = main(["train", str(data), "--out", out, "--model", tiny_st_model, "--max-epochs", "1",
               "--max-length", "16", "--contrastive-steps", "0", "--verbose", "0"])
    assert rc != 0
    assert "UTF-8 cannot encode" in capsys.readouterr().err
    assert train_calls == []
    assert sorted(os.listdir(tmp_path)) == ["train.jsonl"]


def test_cli_error_from_a_planted_config_shows_escape_codes(tiny_st_model, corpus, tmp_path,
                                                             capsys):
    """A model folder's config value quoted in an error reaches no terminal raw (trial 23)."""
    import transformers

    from skbert.cli import main

    if int(transformers.__version__.split(".")[0]) < 5:
        pytest.skip("transformers 4 builds a model whatever its config's dtype says")

    X, Y = corpus
    folder = tmp_path / "planted"
    TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, max_length=16,
                                    precision="fp32", contrastive_steps=0,
                                    fit_cache=False).fit(X, Y).save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config["dtype"] = "X\x1b]0;PWNED\x07\x1b[31mRED"
    (folder / "config.json").write_text(json.dumps(config))
    texts = tmp_path / "t.txt"
    texts.write_text("hello\n")
    rc = main(["predict", str(folder), str(texts), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc != 0
    assert "\x1b" not in err and "\x07" not in err
    assert "U+001B" in err


def test_cli_label_names_with_escape_codes_reach_no_terminal_raw(tiny_st_model, tmp_path,
                                                                 capsys):
    from skbert.cli import main

    evil = "\x1b[31mRED\x1b[0m\x1b]0;PWNED\x07"
    rows = [{"text": "good food", "labels": ["food", evil]},
            {"text": "bad service", "labels": ["service"]}] * 4
    data = tmp_path / "evil.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for flag, value in (("--pos-weight", "1,2"), ("--threshold", "0.5,0.5")):
        rc = main(["train", str(data), "--model", tiny_st_model, "--out", str(tmp_path / "o"),
                   "--max-epochs", "1", flag, value])
        err = capsys.readouterr().err
        assert rc != 0 and "U+001B[31mRED" in err
        assert "\x1b" not in err and "\x07" not in err


def test_parquet_too_large_once_read_is_refused_from_its_metadata(tmp_path, monkeypatch):
    """A small Parquet file can hold millions of rows of one repeated text: refused before
    it is read when those rows would not fit in the memory free (trial 23)."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    import numpy as np

    from skbert import _safe_io
    from skbert.datasets import load_texts_and_labels

    n = 200_000
    texts = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype="int32")),
                                           pa.array(["good food"]))
    labels = pa.array([["food"]] * n)
    path = tmp_path / "many.parquet"
    pq.write_table(pa.table({"text": texts, "labels": labels}), path, compression="zstd")
    assert path.stat().st_size < 200_000
    monkeypatch.setattr(_safe_io, "memory_available", lambda: 2**20)
    with pytest.raises(ValueError, match=r"holds 200,000 rows, about .* more than the .*"
                                         r"Parquet compresses"):
        load_texts_and_labels(path)
    # a few rows of one long text (the metadata counts the dictionary once), and a column
    # name holding a dot: both counted as the texts they decode to (retrial of trial 23)
    long_text = pa.DictionaryArray.from_arrays(pa.array(np.zeros(2000, dtype="int32")),
                                               pa.array(["pizza " * 2000]))
    for column in ("text", "my.text"):
        few = tmp_path / "few.parquet"
        pq.write_table(pa.table({column: long_text, "labels": labels[:2000]}), few)
        monkeypatch.setattr(_safe_io, "memory_available", lambda: 20 * 2**20)
        with pytest.raises(ValueError, match=r"holds 2,000 rows"):
            load_texts_and_labels(few, text_column=column)
    monkeypatch.setattr(_safe_io, "memory_available", lambda: None)
    X, Y, names = load_texts_and_labels(path)
    assert len(X) == n and list(names) == ["food"]


def test_save_pretrained_never_replaces_a_foreign_checkpoint(tiny_st_model, corpus, tmp_path):
    """A folder skbert did not save keeps its files: a Hugging Face checkpoint there is
    refused whole, a folder of other files gets the model beside them (trial 23)."""
    import hashlib
    import shutil

    X, Y = corpus
    clf = TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, max_length=16,
                                          precision="fp32", contrastive_steps=0,
                                          fit_cache=False).fit(X, Y)
    theirs = tmp_path / "their-checkpoint"
    shutil.copytree(tiny_st_model, theirs)

    def digests(folder):
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file()}

    before = digests(theirs)
    with pytest.raises(FileExistsError, match=r"skbert did not write .*config[.]json.*"
                                              r"Choose another folder"):
        clf.save_pretrained(theirs)
    assert digests(theirs) == before
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    clf.save_pretrained(project)  # no name taken: saved beside the note
    assert (project / "notes.txt").read_text() == "mine"
    clf.save_pretrained(project)  # now skbert's own folder: saved into again
    TransformerMultiLabelClassifier.from_pretrained(project)


def test_refit_from_a_folder_warns_that_explicit_head_settings_change_nothing(
        tiny_st_model, corpus, tmp_path):
    """head_init or label_descriptions given to a fit that keeps the folder's trained head
    warn (trial 23); the defaults do not."""
    import warnings

    import pandas as pd

    X, Y = corpus
    Yd = pd.DataFrame(Y, columns=[f"topic_{j}" for j in range(Y.shape[1])])
    kw = dict(max_epochs=1, max_length=16, precision="fp32", contrastive_steps=0,
              fit_cache=False)
    TransformerMultiLabelClassifier(tiny_st_model, **kw).fit(X, Yd).save_pretrained(
        tmp_path / "m")
    with pytest.warns(UserWarning, match=r"head_init='random' and label_descriptions for "
                                         r"\['topic_0'\] do not change this fit"):
        TransformerMultiLabelClassifier(
            tmp_path / "m", head_init="random", label_descriptions={"topic_0": "sports news"},
            **kw).fit(X, Yd)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TransformerMultiLabelClassifier(tmp_path / "m", **kw).fit(X, Yd)


def test_explanations_slice_and_join_keep_their_methods(tiny_st_model, corpus, tmp_path):
    """ex[:1] and ex + ex are Explanations (trial 23), and to_jsonl over the page explain
    wrote is refused with what it is."""
    from skbert._explain import Explanations

    X, Y = corpus
    clf = TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, max_length=16,
                                          precision="fp32", contrastive_steps=0,
                                          fit_cache=False).fit(X, Y)
    ex = clf.explain(X[:3], n_steps=4)
    for part in (ex[:1], ex + ex, ex[::2], ex * 2, ex.copy()):
        assert type(part) is Explanations
    assert ex[0] is list.__getitem__(ex, 0)
    page = ex[:2].to_html(tmp_path / "why.html")
    with pytest.raises(FileExistsError, match="is not a JSON Lines file that skbert explain"):
        ex.to_jsonl(page)


def test_cli_label_descriptions_file_named_without_at_gets_the_hint(tmp_path, monkeypatch):
    import argparse

    from skbert._params import _json_object

    monkeypatch.chdir(tmp_path)
    (tmp_path / "desc.json").write_text('{"food": "meals"}')
    with pytest.raises(argparse.ArgumentTypeError, match=r"put @ before its name: @desc\.json"):
        _json_object("desc.json")
    assert _json_object("@desc.json") == {"food": "meals"}
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        _json_object("no-such.txt")  # not a JSON file's name: no hint
    assert "put @" not in str(caught.value)


def test_cli_label_descriptions_missing_json_file_without_at_gets_the_hint(
        tmp_path, monkeypatch, capsys):
    # before: only an existing file got the @ hint; a mistyped (missing) one got none
    from skbert.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.csv").write_text("text,a,b\nhello,1,0\nworld,0,1\n")
    assert main(["train", "t.csv", "--label-descriptions", "missing.json", "--out", "m"]) == 2
    err = capsys.readouterr().err
    assert "put @ before its name: @missing.json" in err
    assert "no file 'missing.json'" in err
    assert not (tmp_path / "m").exists()


def test_zero_shot_int_labels_without_words_are_named_as_ints():
    from skbert import ZeroShotMultiLabelClassifier

    with pytest.raises(ValueError, match=r"labels \[1, 2\] have no words to embed; .* "
                                         r"label_descriptions=\{1: "):
        ZeroShotMultiLabelClassifier([1, 2]).fit()


def test_int_column_names_give_int64_classes_as_a_loaded_model_has(tiny_st_model, corpus,
                                                                  tmp_path):
    import pandas as pd

    X, Y = corpus
    Yd = pd.DataFrame(Y, columns=[10 * (j + 1) for j in range(Y.shape[1])])
    clf = TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, max_length=16,
                                          precision="fp32", contrastive_steps=0,
                                          fit_cache=False).fit(X, Yd)
    assert clf.classes_.dtype == np.int64 and list(clf.classes_) == list(Yd.columns)
    clf.save_pretrained(tmp_path / "m")
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m")
    assert loaded.classes_.dtype == clf.classes_.dtype
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)

"""A file where a folder must go is named in the error (make_folders and its callers)."""

import json
import os

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

"""A file where a folder must go is named in the error (make_folders and its callers)."""

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

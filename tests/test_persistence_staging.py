"""save_folder builds in _safe_io.staging_folder, next to the target (issue 21): one staging
path, no private copy in the system's temporary folder; a new folder appears whole or not
at all, an existing one keeps the files skbert does not write."""

from __future__ import annotations

import os
import stat
import tempfile

import pandas as pd
import pytest
from conftest import LABELS

from skbert import TransformerMultiLabelClassifier
from skbert._safe_io import file_mode, folder_mode

FAST = dict(max_epochs=1, batch_size=8, learning_rate=3e-3, random_state=0, device="cpu",
            precision="fp32", fit_cache=False)


@pytest.fixture(scope="module", params=["cls", "mean"])
def fitted(request, tiny_model, tiny_st_model, corpus):
    X, Y = corpus
    base = tiny_model if request.param == "cls" else tiny_st_model
    est = TransformerMultiLabelClassifier(base, **FAST).fit(X, pd.DataFrame(Y, columns=LABELS))
    assert est.pooling_ == request.param
    return est


@pytest.fixture
def no_system_tmp(monkeypatch):
    """Saving may not build in the system's temporary folder (tempfile's folders)."""
    def refused(*args, **kwargs):
        raise AssertionError("save_folder built in the system's temporary folder")

    monkeypatch.setattr(tempfile, "TemporaryDirectory", refused)
    monkeypatch.setattr(tempfile, "mkdtemp", refused)


def interrupt_tokenizer(est, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(est.tokenizer_, "save_pretrained", interrupted)


def test_a_new_folder_is_built_next_to_it_and_renamed_in(fitted, tmp_path, no_system_tmp):
    fitted.save_pretrained(tmp_path / "m")
    assert sorted(os.listdir(tmp_path)) == ["m"]  # nothing left beside it
    for here, dirs, files in os.walk(tmp_path / "m"):
        assert stat.S_IMODE(os.lstat(here).st_mode) == folder_mode()
        for name in files:
            assert stat.S_IMODE(os.lstat(os.path.join(here, name)).st_mode) == file_mode()
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m")
    assert loaded.classes_.tolist() == LABELS


def test_an_interrupted_save_of_a_new_folder_leaves_nothing(fitted, tmp_path, monkeypatch):
    interrupt_tokenizer(fitted, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        fitted.save_pretrained(tmp_path / "m")
    assert os.listdir(tmp_path) == []  # neither a half folder nor a staging folder


def test_an_existing_folder_keeps_other_files_and_gets_the_model(fitted, tmp_path,
                                                                 no_system_tmp):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    fitted.save_pretrained(folder)
    assert (folder / "notes.txt").read_text() == "mine"
    assert sorted(os.listdir(tmp_path)) == ["m"]
    TransformerMultiLabelClassifier.from_pretrained(folder)
    fitted.save_pretrained(folder)  # over itself
    assert (folder / "notes.txt").read_text() == "mine"
    assert sorted(os.listdir(tmp_path)) == ["m"]


def test_an_interrupted_save_into_an_existing_folder_changes_nothing(fitted, tmp_path,
                                                                     monkeypatch):
    folder = tmp_path / "m"
    fitted.save_pretrained(folder)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    interrupt_tokenizer(fitted, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        fitted.save_pretrained(folder)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert sorted(os.listdir(tmp_path)) == ["m"]


def test_a_folder_filled_while_saving_is_not_replaced(fitted, tmp_path, monkeypatch):
    folder = tmp_path / "m"
    real = fitted.tokenizer_.save_pretrained

    def fill_then_save(*args, **kwargs):
        folder.mkdir()
        (folder / "theirs.txt").write_text("theirs")
        return real(*args, **kwargs)

    monkeypatch.setattr(fitted.tokenizer_, "save_pretrained", fill_then_save)
    with pytest.raises(FileExistsError, match="not empty"):
        fitted.save_pretrained(folder)
    assert os.listdir(folder) == ["theirs.txt"]
    assert sorted(os.listdir(tmp_path)) == ["m"]


def test_a_linked_folder_is_saved_into_as_before(fitted, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    fitted.save_pretrained(tmp_path / "link")
    assert (real / "skbert.json").is_file() and (tmp_path / "link").is_symlink()
    assert sorted(os.listdir(tmp_path)) == ["link", "real"]

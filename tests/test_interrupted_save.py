"""An interrupted save_pretrained into an existing folder: the folder keeps a marker
(.skbert-save.json) while files are replaced, so the next save may replace skbert's own
files of the interrupted save (and only those), and from_pretrained says the save was
interrupted instead of loading half a model or calling it "not a folder skbert wrote"."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import LABELS

import skbert._persistence as persistence
from skbert import SkbertWarning, TransformerMultiLabelClassifier
from skbert._cli_paths import SAVE_MARKER, foreign_entries
from skbert._load_errors import SavedFileError

FAST = dict(max_epochs=1, batch_size=8, learning_rate=3e-3, random_state=0, device="cpu",
            precision="fp32", fit_cache=False, max_length=16)
TEXTS = ["football match", "parliament vote"]


def fit(base, corpus):
    X, Y = corpus
    return TransformerMultiLabelClassifier(base, **FAST).fit(X, pd.DataFrame(Y, columns=LABELS))


@pytest.fixture(scope="module")
def mean(tiny_st_model, corpus):
    est = fit(tiny_st_model, corpus)
    assert est.pooling_ == "mean"
    return est


@pytest.fixture(scope="module")
def cls(tiny_model, corpus):
    est = fit(tiny_model, corpus)
    assert est.pooling_ == "cls"
    return est


def interrupt_publish(monkeypatch, call):
    """Ctrl-C in the ``call``-th publish_folder of the next save (2: skbert.json's)."""
    real, calls = persistence.publish_folder, []

    def publish_folder(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(persistence, "publish_folder", publish_folder)


def interrupted_save(est, folder, monkeypatch, call=2):
    with monkeypatch.context() as m:
        interrupt_publish(m, call)
        with pytest.raises(KeyboardInterrupt):
            est.save_pretrained(folder)


def check_loads_as(folder, est):
    back = TransformerMultiLabelClassifier.from_pretrained(folder, device="cpu")
    np.testing.assert_allclose(back.predict_proba(TEXTS), est.predict_proba(TEXTS), atol=1e-6)
    assert not os.path.lexists(os.path.join(folder, SAVE_MARKER))


def test_a_save_interrupted_before_skbert_json_can_be_saved_again(mean, tmp_path, monkeypatch):
    folder = tmp_path / "m"
    folder.mkdir()  # an existing folder: files are published one at a time
    interrupted_save(mean, folder, monkeypatch)
    assert (folder / "config.json").exists() and not (folder / "skbert.json").exists()
    with pytest.raises(FileNotFoundError, match=r"(?s)was interrupted.*Save the model again"):
        TransformerMultiLabelClassifier.from_pretrained(folder, device="cpu")
    mean.save_pretrained(folder)  # before: refused as "files that skbert did not write"
    check_loads_as(folder, mean)


def test_a_cls_save_over_an_interrupted_mean_save_removes_its_sentence_files(
        mean, cls, tmp_path, monkeypatch):
    folder = tmp_path / "m"
    folder.mkdir()
    interrupted_save(mean, folder, monkeypatch)
    assert (folder / "modules.json").exists()
    interrupted_save(cls, folder, monkeypatch, call=1)  # again, before any file is replaced
    cls.save_pretrained(folder)
    assert not (folder / "modules.json").exists()  # SentenceTransformer would load the old head
    assert not (folder / "2_Dense").exists()
    check_loads_as(folder, cls)


def test_an_interrupted_save_over_an_earlier_model_is_refused_on_load(mean, tmp_path,
                                                                      monkeypatch):
    folder = tmp_path / "m"
    mean.save_pretrained(folder)
    other = copy.deepcopy(mean).set_params(threshold=0.25)  # another skbert.json
    interrupted_save(other, folder, monkeypatch)  # the earlier model's skbert.json stays
    with pytest.raises(SavedFileError, match=r"(?s)mixes the files of two models.*Save the "
                                             r"model again"):
        TransformerMultiLabelClassifier.from_pretrained(folder, device="cpu")
    other.save_pretrained(folder)
    check_loads_as(folder, other)


def test_a_save_interrupted_after_skbert_json_loads(mean, tmp_path, monkeypatch):
    folder = tmp_path / "m"
    folder.mkdir()
    real = persistence.remove_file

    def remove_file(path, **kwargs):
        if os.path.basename(path) == SAVE_MARKER:
            raise KeyboardInterrupt
        return real(path, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(persistence, "remove_file", remove_file)
        with pytest.raises(KeyboardInterrupt):
            mean.save_pretrained(folder)
    assert (folder / SAVE_MARKER).exists()  # yet skbert.json is the one this save wrote
    back = TransformerMultiLabelClassifier.from_pretrained(folder, device="cpu")
    np.testing.assert_allclose(back.predict_proba(TEXTS), mean.predict_proba(TEXTS), atol=1e-6)
    assert foreign_entries(folder) == []  # --overwrite may still replace the folder
    mean.save_pretrained(folder)
    check_loads_as(folder, mean)


def test_a_readme_of_the_user_is_kept_across_an_interrupted_save(mean, tmp_path, monkeypatch):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "README.md").write_text("# My notes\n")
    interrupted_save(mean, folder, monkeypatch)
    with pytest.warns(SkbertWarning, match="was not written by skbert"):
        mean.save_pretrained(folder)
    assert (folder / "README.md").read_text() == "# My notes\n"
    check_loads_as(folder, mean)


def checkpoint_with_marker(tiny_model, tmp_path, doc):
    """A Hugging Face checkpoint (not skbert's) holding ``doc`` as its marker."""
    folder = tmp_path / "hf"
    shutil.copytree(tiny_model, folder)
    if isinstance(doc, dict) and doc.get("files") == ["*"]:  # every file of the checkpoint
        doc = {**doc, "files": sorted(p.name for p in folder.iterdir())}
    if isinstance(doc, dict) and isinstance(doc.get("files"), list):
        doc = {**doc, "files": hashed(folder, doc["files"])}
    if doc is not None:
        (folder / SAVE_MARKER).write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return folder


def hashed(folder, names):
    """``names`` with the sha256 of what ``folder`` holds under each (zeros where nothing):
    a planted marker as strong as one can be made without the user's key."""
    def sha(name):
        path = folder / name
        if ".." in name.split("/") or not path.is_file():
            return "0" * 64
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return {name: [sha(name)] for name in names}


def marker(files, mac=None):
    """A well-formed marker of ``files``; with ``mac``, its (forged) signature."""
    doc = {"skbert_save": 1, "files": files, "settings_sha256": "0" * 64}
    return doc if mac is None else {**doc, "mac": mac}


@pytest.mark.parametrize("doc", [
    None,
    marker(["README.md"]),  # lists none of the checkpoint's files
    "not json",
    {**marker(["config.json", "model.safetensors"]), "skbert_save": 2},
    marker(["../config.json", "model.safetensors"]),
    {k: v for k, v in marker(["config.json"]).items() if k != "settings_sha256"},
    marker(["*"]),
    marker(["*"], ""),
    marker(["*"], "a" * 64),
    {**marker(["*"]), "skbert_save": True},
], ids=["none", "other-files", "not-json", "unknown-version", "dotdot", "no-digest",
        "unsigned", "empty-signature", "forged-signature", "bool-version"])
def test_a_checkpoint_without_a_valid_marker_of_its_files_is_not_replaced(
        cls, tiny_model, tmp_path, doc):
    folder = checkpoint_with_marker(tiny_model, tmp_path, doc)
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    with pytest.raises(FileExistsError, match=r"(?s)did not write \(.*config\.json.*"
                                              + SAVE_MARKER.replace(".", r"\.")):
        cls.save_pretrained(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before


def test_a_linked_marker_does_not_count(cls, tiny_model, tmp_path):
    folder = checkpoint_with_marker(tiny_model, tmp_path, None)
    names = sorted(p.name for p in folder.iterdir())
    real = tmp_path / "marker.json"
    real.write_text(json.dumps(marker(hashed(folder, names))))
    os.symlink(real, folder / SAVE_MARKER)
    with pytest.raises(FileExistsError, match="did not write"):
        cls.save_pretrained(folder)
    assert persistence.read_save_marker(str(folder)) is None
    with pytest.raises(FileNotFoundError, match="holds no skbert.json, so it is not a folder"):
        TransformerMultiLabelClassifier.from_pretrained(folder, device="cpu")


def test_a_marker_signed_for_another_folder_grants_nothing(mean, cls, tiny_model, tmp_path,
                                                           monkeypatch):
    """A marker is signed with this user's key for its own folder (attacker trial 24: a
    planted, well-formed marker made save_pretrained replace and delete a victim's files):
    one copied from a folder of an interrupted save into a checkpoint grants nothing there."""
    mine = tmp_path / "mine"
    mine.mkdir()
    interrupted_save(mean, mine, monkeypatch)
    assert persistence.written_by_marker(str(mine))  # signed: this user's own
    folder = checkpoint_with_marker(tiny_model, tmp_path, None)
    shutil.copy(mine / SAVE_MARKER, folder / SAVE_MARKER)
    assert persistence.read_save_marker(str(folder)) is not None
    assert persistence.written_by_marker(str(folder)) == {}
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    with pytest.raises(FileExistsError, match="did not write"):
        cls.save_pretrained(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before


def test_another_users_key_does_not_verify_a_marker(mean, tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    interrupted_save(mean, mine, monkeypatch)
    assert persistence.written_by_marker(str(mine))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "other-user-cache"))
    assert persistence.written_by_marker(str(mine)) == {}


@pytest.mark.parametrize("sub", ["1_Pooling", "2_Dense"])
@pytest.mark.parametrize("kind", ["file", "link"])
def test_a_file_or_link_in_place_of_a_sub_folder_stops_the_save_before_any_write(
        mean, tmp_path, sub, kind):
    """Attacker trial 24: a file named like a sub-folder failed the save with a bare
    NotADirectoryError after the top-level files were replaced (the earlier model lost,
    "save again" looping); now nothing is written and the error names the path."""
    folder = tmp_path / "m"
    mean.save_pretrained(folder)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    shutil.rmtree(folder / sub)
    if kind == "file":
        (folder / sub).write_text("in the way")
    else:
        os.symlink(theirs, folder / sub)
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    other = copy.deepcopy(mean).set_params(threshold=0.25)
    error = FileExistsError if kind == "file" else OSError
    with pytest.raises(error, match=r"where the model's sub-folder '" + sub + "' goes"):
        other.save_pretrained(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before
    assert not (folder / SAVE_MARKER).exists() and list(theirs.iterdir()) == []


def test_skbert_train_overwrite_completes_an_interrupted_folder(cls, tiny_model, corpus,
                                                                tmp_path, monkeypatch, capsys):
    """Attacker trial 24: `skbert train --out FOLDER --overwrite` called an interrupted save's
    folder 'files skbert did not write'; with this user's signed marker listing every file
    there it is skbert's, and the training saves into it. A file of the user's beside them
    still refuses it."""
    from conftest import LABELS as NAMES

    from skbert.cli import main

    X, Y = corpus
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"text": t, "labels": [n for n, v in zip(NAMES, y) if v]})
                            + "\n" for t, y in zip(X, Y)))
    folder = tmp_path / "m"
    folder.mkdir()
    interrupted_save(cls, folder, monkeypatch)
    with pytest.raises(FileNotFoundError, match=r"--out with --overwrite"):
        TransformerMultiLabelClassifier.from_pretrained(folder, device="cpu")
    argv = ["train", str(data), "--out", str(folder), "--model", tiny_model, "--max-epochs",
            "1", "--max-length", "16", "--precision", "fp32", "--verbose", "0"]
    (folder / "notes.txt").write_text("mine")
    assert main(argv + ["--overwrite"]) != 0
    err = capsys.readouterr().err
    assert "notes.txt (beside the files of an interrupted save)" in err  # the file named
    (folder / "notes.txt").unlink()
    assert main(argv + ["--overwrite"]) == 0
    TransformerMultiLabelClassifier.from_pretrained(folder, device="cpu")
    assert not (folder / SAVE_MARKER).exists()


def test_an_unsigned_marker_in_a_whole_folder_says_to_delete_it(mean, tmp_path):
    """Retrial of attacker trial 24: an unsigned marker planted in a whole model folder made
    from_pretrained say the folder 'mixes the files of two models' and to save again, which
    the refused save could not do; it says the marker is not the user's and what to do."""
    folder = tmp_path / "m"
    mean.save_pretrained(folder)
    (folder / SAVE_MARKER).write_text(json.dumps(marker(hashed(folder, ["config.json"]), "")))
    with pytest.raises(SavedFileError, match=r"(?s)not signed by your skbert key .*delete "
                                             r"\.skbert-save\.json; else save the model into "
                                             r"a new folder"):
        TransformerMultiLabelClassifier.from_pretrained(folder, device="cpu")
    (folder / SAVE_MARKER).unlink()
    check_loads_as(folder, mean)


def test_a_save_with_an_unusable_key_warns_that_it_is_unsigned(mean, tmp_path, monkeypatch):
    """Retrial of attacker trial 24: where this user's key cannot be read, the marker was
    written unsigned without a word (an interrupted save could then never be completed)."""
    cache = tmp_path / "cache"
    (cache / "skbert").mkdir(parents=True)
    key = cache / "skbert" / "onnx-key"
    key.write_bytes(b"k" * 32)
    key.chmod(0o644)  # readable by others: not used
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    folder = tmp_path / "m"
    folder.mkdir()
    with pytest.warns(SkbertWarning, match=r"(?s)cannot be used.*marked unsigned"):
        mean.save_pretrained(folder)
    check_loads_as(folder, mean)


def test_a_signed_marker_replayed_over_files_made_since_grants_nothing(mean, tmp_path,
                                                                      monkeypatch):
    """Retrial of attacker trial 24 (N2): a signed marker kept from an interrupted save and
    put back after the user recreated the folder with files of their own under the same
    names made the next save replace them. The marker records what the save wrote in each
    file; a file holding anything else is not skbert's."""
    folder = tmp_path / "m"
    folder.mkdir()
    interrupted_save(mean, folder, monkeypatch)
    kept = (folder / SAVE_MARKER).read_bytes()
    shutil.rmtree(folder)
    folder.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (folder / name).write_text(f"my own {name}")
    (folder / SAVE_MARKER).write_bytes(kept)
    assert persistence.marker_signed(str(folder))  # signed for this very path, yet
    assert persistence.written_by_marker(str(folder)) == {}  # none of these is its file
    with pytest.raises(FileExistsError, match="did not write"):
        mean.save_pretrained(folder)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert (folder / name).read_text() == f"my own {name}"

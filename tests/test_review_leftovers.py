"""Review leftovers: an output file that appears while skbert writes is kept, not replaced
(``atomic_writer(replace=False)``); the fit cache serialises an entry's JSON once."""

from __future__ import annotations

import errno
import json
import os
import sys

import pytest
from safetensors import safe_open

from skbert import TransformerMultiLabelClassifier, _cache, _cli_paths
from skbert import _safe_io as sio


def _leftovers(folder):
    return [n for n in os.listdir(folder) if sio.TMP_TAG in n]


# ------------------------------------------------- atomic_writer(replace=False)
def test_no_replace_writes_a_new_file_with_the_mode_policy(tmp_path):
    old = os.umask(0o022)
    try:
        with sio.atomic_writer(tmp_path / "a.txt", text=True, replace=False) as fh:
            fh.write("ours")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").read_text() == "ours"
    assert os.stat(tmp_path / "a.txt").st_mode & 0o777 == 0o644
    assert os.stat(tmp_path / "a.txt").st_nlink == 1  # the temporary name is gone
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("what", ["file", "link"])
def test_no_replace_refuses_what_is_there_before_the_block_runs(tmp_path, what):
    target = tmp_path / "out.json"
    if what == "file":
        target.write_text("theirs")
    else:
        os.symlink(tmp_path / "nowhere", target)  # a dangling link is something too
    ran = []
    with pytest.raises(sio.TargetExists, match="already exists and is kept") as info:
        with sio.atomic_writer(target, replace=False) as fh:
            ran.append(fh)
    assert ran == [] and info.value.path == str(target)
    assert os.path.islink(target) if what == "link" else target.read_text() == "theirs"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("hard_links", [True, False])
def test_no_replace_keeps_a_file_that_appears_while_it_writes(tmp_path, monkeypatch,
                                                               hard_links):
    """Another process creates the file between the check and the rename: it is kept,
    with hard links and on a file system without them (the name claimed with O_EXCL)."""
    if not hard_links:
        def no_link(*args, **kwargs):
            raise OSError(errno.EPERM, "Operation not permitted")
        monkeypatch.setattr(sio.os, "link", no_link)
    target = tmp_path / "out.jsonl"
    with pytest.raises(sio.TargetExists, match="appeared while skbert was writing"):
        with sio.atomic_writer(target, text=True, replace=False) as fh:
            fh.write("ours")
            target.write_text("theirs")
    assert target.read_text() == "theirs"
    assert _leftovers(tmp_path) == []
    if not hard_links:  # and without a race the fallback writes the file
        with sio.atomic_writer(tmp_path / "new.jsonl", text=True, replace=False) as fh:
            fh.write("ours")
        assert (tmp_path / "new.jsonl").read_text() == "ours"
        assert _leftovers(tmp_path) == []


def test_no_replace_lets_other_link_errors_through(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(sio.os, "link", full)
    with pytest.raises(OSError, match="No space left") as info:
        with sio.atomic_writer(tmp_path / "a.bin", replace=False) as fh:
            fh.write(b"x")
    assert not isinstance(info.value, FileExistsError)
    assert os.listdir(tmp_path) == []


def test_replace_stays_the_default(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with sio.atomic_writer(target, text=True) as fh:
        fh.write("new")
    assert target.read_text() == "new"


# ------------------------------------------------------------- skbert --output
def test_output_that_appears_while_skbert_writes_is_kept_without_overwrite(tmp_path):
    """``skbert predict/evaluate --output F``: F checked absent, then created by someone
    else while the records are written; without --overwrite it was replaced."""
    out = tmp_path / "predictions.jsonl"
    with pytest.raises(FileExistsError, match=r"--output .* appeared.*--overwrite"):
        with _cli_paths.output_file(str(out), sys.stdout, overwrite=False) as fh:
            fh.write("ours\n")
            out.write_text("theirs\n")
    assert out.read_text() == "theirs\n"
    assert _leftovers(tmp_path) == []


def test_output_with_overwrite_replaces_a_file_that_appears(tmp_path):
    out = tmp_path / "metrics.json"
    with _cli_paths.output_file(str(out), sys.stdout, overwrite=True) as fh:
        fh.write("ours\n")
        out.write_text("theirs\n")
    assert out.read_text() == "ours\n"


# ------------------------------------------------------------------ fit cache
def test_cache_entry_json_is_serialised_once_with_the_same_bytes(tiny_st_model, corpus,
                                                                 tmp_path, monkeypatch,
                                                                 train_calls):
    """The text on disk is what ``json.dumps`` of the parsed document writes (the bytes
    of the former dump, load, dump), ``entry_sha256`` last; the document is serialised
    once for the file and once, canonically, for its digest."""
    X, Y = corpus
    dumps, whole = json.dumps, []

    def counting(obj, *args, **kwargs):
        if isinstance(obj, dict) and "fitted" in obj:
            whole.append(kwargs.get("sort_keys", False))
        return dumps(obj, *args, **kwargs)

    monkeypatch.setattr(_cache.json, "dumps", counting)
    folder = tmp_path / "fits"
    kwargs = dict(max_epochs=1, batch_size=8, random_state=0, device="cpu", precision="fp32",
                  threshold="auto", validation_fraction=0.25, fit_cache=str(folder))
    first = TransformerMultiLabelClassifier(tiny_st_model, **kwargs).fit(X, Y)
    assert sorted(whole) == [False, True], whole
    monkeypatch.setattr(_cache.json, "dumps", dumps)

    (name,) = os.listdir(folder)
    with safe_open(str(folder / name), framework="pt") as fh:
        text = fh.metadata()[_cache._META_KEY]
    doc = json.loads(text)
    assert text == json.dumps(doc)
    assert list(doc)[-1] == "entry_sha256" and doc["entry_sha256"] == _cache.entry_sha256(doc)
    _cache.clear_fit_cache()  # memory only: the next fit reads the folder's entry
    again = TransformerMultiLabelClassifier(tiny_st_model, **kwargs).fit(X, Y)
    assert len(train_calls) == 1 and again.history_ == first.history_
    assert (again.thresholds_ == first.thresholds_).all()

"""Trial 12 findings: fit-cache entries with non-finite or flipped tensor data, path
parameters taken literally ("", "~", "$HOME", "True"), and a pickled TransformerEmbedder
fitted with a relative model path.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from sklearn.utils._param_validation import InvalidParameterError

from skbert import TransformerEmbedder, TransformerMultiLabelClassifier, _cache, _params
from skbert._checkpoint import FILE_NAME

FAST = dict(max_epochs=1, batch_size=8, learning_rate=3e-3, random_state=0, device="cpu",
            precision="fp32")
CPU = torch.device("cpu")


def make_est(path, folder, **kwargs):
    return TransformerMultiLabelClassifier(path, **{**FAST, "fit_cache": folder, **kwargs})


def entries(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(_cache.SUFFIX))


def read_entry(path):
    with safe_open(path, framework="pt") as fh:
        doc = json.loads(fh.metadata()[_cache._META_KEY])
        tensors = {name: fh.get_tensor(name) for name in fh.keys()}
    return doc, tensors


def write_entry(path, doc, tensors):
    save_file(tensors, path, metadata={_cache._META_KEY: json.dumps(doc)})


# ------------------------------------------------- 1. entries: finite, checksummed
def _fit_twice_after(damage, model, corpus, folder, train_calls, caplog):
    """Fit, damage the entry, fit again: the damage must be a miss, warned once, replaced."""
    X, Y = corpus
    first = make_est(model, folder).fit(X, Y)
    (name,) = entries(folder)
    damage(os.path.join(folder, name))
    with caplog.at_level(logging.WARNING, logger="skbert._cache"):
        second = make_est(model, folder).fit(X, Y)
    assert second.fit_cache_hit_ is False
    assert len(train_calls) == 2
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert name in caplog.text
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    assert entries(folder) == [name]  # replaced by the retrain
    third = make_est(model, folder).fit(X, Y)
    assert third.fit_cache_hit_ is True and len(train_calls) == 2
    np.testing.assert_array_equal(first.predict_proba(X), third.predict_proba(X))
    return caplog.text


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_entry_with_non_finite_tensor_is_a_miss(value, tiny_st_model, corpus, tmp_path,
                                                train_calls, caplog):
    def poison(path):
        doc, tensors = read_entry(path)
        tensors["head.weight"] = torch.full_like(tensors["head.weight"], value)
        digest = getattr(_cache, "tensors_sha256", None)  # (absent before the fix)
        if digest is not None:  # a consistent checksum: refused for its values, not its digest
            doc["tensors_sha256"] = digest(tensors)
        write_entry(path, doc, tensors)

    text = _fit_twice_after(poison, tiny_st_model, corpus, str(tmp_path / "fits"), train_calls,
                            caplog)
    assert "'head.weight' with non-finite values" in text


def test_entry_with_one_flipped_byte_is_a_miss(tiny_st_model, corpus, tmp_path, train_calls,
                                               caplog):
    def flip(path):
        data = bytearray(open(path, "rb").read())
        start = 8 + int.from_bytes(data[:8], "little")
        # the lowest mantissa byte of a float32 near the middle: still a finite weight
        at = start + ((len(data) - start) // 2) // 4 * 4
        data[at] ^= 0x01
        open(path, "wb").write(bytes(data))

    text = _fit_twice_after(flip, tiny_st_model, corpus, str(tmp_path / "fits"), train_calls,
                            caplog)
    assert "sha256" in text


@pytest.mark.parametrize("edit", ["drop", "wrong", "not hex"])
def test_entry_without_a_matching_checksum_is_a_miss(edit, tiny_st_model, corpus, tmp_path,
                                                     train_calls, caplog):
    def damage(path):
        doc, tensors = read_entry(path)
        if edit == "drop":
            doc.pop("tensors_sha256")
        elif edit == "wrong":
            doc["tensors_sha256"] = "0" * 64
        else:
            doc["tensors_sha256"] = "z" * 64
        write_entry(path, doc, tensors)

    text = _fit_twice_after(damage, tiny_st_model, corpus, str(tmp_path / "fits"), train_calls,
                            caplog)
    assert "sha256" in text


def test_entry_of_the_former_format_is_a_miss_not_an_error(tiny_st_model, corpus, tmp_path,
                                                           train_calls, caplog):
    assert _cache.ENTRY_FORMAT >= 2

    def downgrade(path):
        doc, tensors = read_entry(path)
        doc["format"] = 1
        doc.pop("tensors_sha256")
        write_entry(path, doc, tensors)

    text = _fit_twice_after(downgrade, tiny_st_model, corpus, str(tmp_path / "fits"),
                            train_calls, caplog)
    assert "format 1" in text


def test_written_entry_carries_the_digest_of_its_tensors(tiny_st_model, corpus, tmp_path):
    X, Y = corpus
    folder = str(tmp_path / "fits")
    make_est(tiny_st_model, folder).fit(X, Y)
    (name,) = entries(folder)
    doc, tensors = read_entry(os.path.join(folder, name))
    assert doc["format"] == _cache.ENTRY_FORMAT
    assert doc["tensors_sha256"] == _cache.tensors_sha256(tensors)
    # the digest covers names, dtypes and shapes, not only bytes
    renamed = {("x" + k if k == "head.bias" else k): v for k, v in tensors.items()}
    assert _cache.tensors_sha256(renamed) != doc["tensors_sha256"]
    reshaped = dict(tensors, **{"head.weight": tensors["head.weight"].reshape(-1)})
    assert _cache.tensors_sha256(reshaped) != doc["tensors_sha256"]


def test_a_fit_with_non_finite_weights_is_not_written_to_the_folder(tiny_st_model, corpus,
                                                                    tmp_path, caplog):
    X, Y = corpus
    est = make_est(tiny_st_model, False).fit(X, Y)
    with torch.no_grad():
        est.model_.head.weight.fill_(float("nan"))
    fitted = {"model": est.model_, "tokenizer": est.tokenizer_, "device": CPU,
              "history": est.history_, "best_epoch": est.best_epoch_, "interrupted": False,
              "still_improving": False, "pooling": est.pooling_, "precision": "fp32",
              "thresholds": None}
    folder = str(tmp_path / "fits")
    with caplog.at_level(logging.WARNING, logger="skbert._cache"):
        _cache.put("ab" * 16, folder, fitted)
    assert "'head.weight' with non-finite values" in caplog.text
    assert not os.path.exists(folder) or entries(folder) == []


# --------------------------------------------------------- 2. path parameters
@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fake home folder; the current folder is an empty ``cwd`` beside it."""
    home = tmp_path / "home"
    home.mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    return home


def _refused(est, corpus, match):
    X, Y = corpus
    with pytest.raises(InvalidParameterError, match=match):
        est.fit(X, Y)


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_fit_cache_is_refused_with_the_fix(value, tiny_st_model, corpus, home,
                                                 train_calls):
    _refused(make_est(tiny_st_model, value), corpus,
             r"names no folder.*False to switch the fit cache off.*True")
    assert os.listdir(".") == [] and train_calls == []


def test_empty_checkpoint_dir_is_refused(tiny_st_model, corpus, home, train_calls):
    _refused(make_est(tiny_st_model, False, checkpoint_dir=""), corpus,
             r"checkpoint_dir.*names no folder.*checkpoint_dir=None")
    assert os.listdir(".") == [] and train_calls == []


@pytest.mark.parametrize("value", ["True", "False", "true", "false", "None", "none"])
def test_fit_cache_as_the_text_of_a_bool_is_refused(value, tiny_st_model, corpus, home,
                                                    train_calls):
    _refused(make_est(tiny_st_model, value), corpus, r"the bool")
    assert os.listdir(".") == [] and train_calls == []


@pytest.mark.parametrize("name, value, var", [
    ("fit_cache", "$HOME/x", "$HOME"),
    ("fit_cache", "${HOME}/x", "${HOME}"),
    ("fit_cache", "fits/$USER/x", "$USER"),
    ("checkpoint_dir", "$HOME/ckpt", "$HOME"),
])
def test_shell_variables_are_refused_naming_them(name, value, var, tiny_st_model, corpus, home,
                                                 train_calls):
    est = make_est(tiny_st_model, False).set_params(**{name: value})
    _refused(est, corpus, rf"{name}=.*{var.replace('$', '[$]').replace('{', '[{]')}"
                          r".*os.path.expandvars")
    assert os.listdir(".") == [] and train_calls == []


def test_tilde_is_expanded_for_fit_cache(tiny_st_model, corpus, home, train_calls):
    X, Y = corpus
    est = make_est(tiny_st_model, "~/fits").fit(X, Y)
    assert est.get_params()["fit_cache"] == "~/fits"  # fit never changes a parameter
    assert os.listdir(".") == []
    assert len(entries(home / "fits")) == 1
    again = make_est(tiny_st_model, "~/fits").fit(X, Y)
    assert again.fit_cache_hit_ is True and len(train_calls) == 1
    _cache.clear_fit_cache("~/fits")
    assert entries(home / "fits") == []


def test_tilde_is_expanded_for_checkpoint_dir(tiny_st_model, corpus, home):
    X, Y = corpus
    est = make_est(tiny_st_model, False, checkpoint_dir="~/ckpt").fit(X, Y)
    assert est.get_params()["checkpoint_dir"] == "~/ckpt"
    assert os.listdir(".") == []
    assert os.path.isfile(home / "ckpt" / FILE_NAME)


def test_unknown_user_home_is_refused(tiny_st_model, corpus, home, train_calls):
    _refused(make_est(tiny_st_model, "~no-such-user-skbert/x"), corpus, r"no-such-user-skbert")
    assert os.listdir(".") == [] and train_calls == []


def test_good_paths_and_bools_still_validate(tiny_st_model, home):
    for value in (True, False, "fits", "/tmp/x", os.path.join("a", "b$c")):
        make_est(tiny_st_model, value)._validate_params()
    make_est(tiny_st_model, False, checkpoint_dir=home / "c")._validate_params()
    make_est(tiny_st_model, False, checkpoint_dir=None)._validate_params()


def test_cli_checkpoint_dir_parses_expands_and_refuses():
    import argparse

    (option,) = [o for o in _params.cli_params() if o.name == "checkpoint_dir"]
    assert option.parse("none") is None
    assert option.parse("ckpt") == "ckpt"
    assert option.parse("~/ckpt") == os.path.expanduser("~/ckpt")
    for text, match in [("", "names no folder"), ("$HOME/c", r"\$HOME")]:
        with pytest.raises(argparse.ArgumentTypeError, match=match):
            option.parse(text)


# ------------------------------------------- 3. TransformerEmbedder, relative model path
@pytest.fixture
def relative_model(tiny_st_model, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(tiny_st_model, work / "tc2")
    monkeypatch.chdir(work)
    return work


def test_embedder_pickled_with_a_relative_path_loads_from_elsewhere(relative_model, tmp_path,
                                                                    monkeypatch):
    emb = TransformerEmbedder("tc2", device="cpu", precision="fp32").fit(["x"])
    assert emb.get_params()["model_name_or_path"] == "tc2"
    assert emb.model_path_ == str(relative_model / "tc2")
    before = emb.transform(["the match", "a recipe"])
    blob = pickle.dumps(emb)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    back = pickle.loads(blob)
    assert back.get_params()["model_name_or_path"] == "tc2"
    np.testing.assert_array_equal(back.transform(["the match", "a recipe"]), before)


def test_embedder_whose_model_folder_is_gone_says_where_it_was_fitted(relative_model,
                                                                       tmp_path, monkeypatch):
    emb = TransformerEmbedder("tc2", device="cpu", precision="fp32").fit(["x"])
    blob = pickle.dumps(emb)
    moved = tmp_path / "moved"
    os.rename(relative_model, moved)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(FileNotFoundError, match=r"'tc2'.*relative to the folder it was "
                                                r"fitted in.*" + str(relative_model)):
        pickle.loads(blob)
    # where the relative path names a model folder again, that one is used
    monkeypatch.chdir(moved)
    back = pickle.loads(blob)
    assert back.transform(["the match"]).shape == (1, emb.n_features_out_)

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


@pytest.mark.parametrize("fmt, digest", [(1, "tensors_sha256"), (2, "entry_sha256")])
def test_entry_of_a_former_format_is_a_miss_not_an_error(fmt, digest, tiny_st_model, corpus,
                                                         tmp_path, train_calls, caplog):
    assert _cache.ENTRY_FORMAT > fmt

    def downgrade(path):
        doc, tensors = read_entry(path)
        doc["format"] = fmt
        doc.pop(digest)
        write_entry(path, doc, tensors)

    text = _fit_twice_after(downgrade, tiny_st_model, corpus, str(tmp_path / "fits"),
                            train_calls, caplog)
    assert f"format {fmt}" in text


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


# ------------------------------- 4. the entry's digest covers its JSON metadata too
AUTO = dict(threshold="auto", validation_fraction=0.25)


def _fit_twice_tuned(damage, model, corpus, folder, train_calls, caplog):
    """As ``_fit_twice_after``, for fits that tune thresholds (``threshold="auto"``)."""
    X, Y = corpus
    first = make_est(model, folder, **AUTO).fit(X, Y)
    (name,) = entries(folder)
    damage(os.path.join(folder, name))
    with caplog.at_level(logging.WARNING, logger="skbert._cache"):
        second = make_est(model, folder, **AUTO).fit(X, Y)
    assert second.fit_cache_hit_ is False
    assert len(train_calls) == 2
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert name in caplog.text
    np.testing.assert_array_equal(first.thresholds_, second.thresholds_)
    np.testing.assert_array_equal(first.predict(X), second.predict(X))
    assert entries(folder) == [name]  # replaced by the retrain
    third = make_est(model, folder, **AUTO).fit(X, Y)
    assert third.fit_cache_hit_ is True and len(train_calls) == 2
    np.testing.assert_array_equal(first.thresholds_, third.thresholds_)
    return caplog.text
def _edit_metadata_text(path, edit):
    """Rewrite the entry with its metadata text changed by ``edit`` (still valid JSON);
    the tensors and ``tensors_sha256`` are left as they were."""
    with safe_open(path, framework="pt") as fh:
        text = fh.metadata()[_cache._META_KEY]
        tensors = {name: fh.get_tensor(name) for name in fh.keys()}
    new = edit(text)
    assert new != text
    json.loads(new)  # still valid JSON: only the checksum can tell
    save_file(tensors, path, metadata={_cache._META_KEY: new})


def _flip_a_threshold_digit(text):
    """One bit of one digit of tuned_by_rule["f1_shrunk"]["thresholds"][0], in place."""
    doc = json.loads(text)
    assert doc["fitted"]["tuned_by_rule"], "the fit records no per-rule thresholds"
    rule = text.index('"f1_shrunk"', text.index('"tuned_by_rule"'))
    at = text.index('"thresholds": [', rule) + len('"thresholds": [')
    while not text[at + 1].isdigit():  # the first digit after "0." or "1."
        at += 1
    at += 1
    flipped = text[:at] + chr(ord(text[at]) ^ 0x01) + text[at + 1:]
    before = doc["fitted"]["tuned_by_rule"]["f1_shrunk"]["thresholds"]
    after = json.loads(flipped)["fitted"]["tuned_by_rule"]["f1_shrunk"]["thresholds"]
    assert after[0] != before[0] and after[1:] == before[1:] and 0 <= after[0] <= 1
    return flipped


def test_entry_with_one_flipped_byte_in_its_thresholds_is_a_miss(tiny_st_model, corpus,
                                                                  tmp_path, train_calls,
                                                                  caplog):
    def damage(path):
        _edit_metadata_text(path, _flip_a_threshold_digit)

    text = _fit_twice_tuned(damage, tiny_st_model, corpus, str(tmp_path / "fits"),
                            train_calls, caplog)
    assert "metadata whose sha256 differs" in text


def test_entry_with_an_edited_threshold_list_is_a_miss(tiny_st_model, corpus, tmp_path,
                                                        train_calls, caplog):
    def damage(path):
        def edit(text):
            doc = json.loads(text)
            rules = doc["fitted"]["tuned_by_rule"]
            assert rules, "the fit records no per-rule thresholds"
            for rule in rules.values():
                rule["thresholds"] = [0.0 if t > 0.5 else 1.0 for t in rule["thresholds"]]
            if doc["fitted"]["thresholds"] is not None:
                doc["fitted"]["thresholds"] = [1.0] * len(doc["fitted"]["thresholds"])
            return json.dumps(doc)

        _edit_metadata_text(path, edit)

    text = _fit_twice_tuned(damage, tiny_st_model, corpus, str(tmp_path / "fits"),
                            train_calls, caplog)
    assert "metadata whose sha256 differs" in text


def test_entry_with_an_edited_n_train_is_a_miss(tiny_st_model, corpus, tmp_path, train_calls,
                                                caplog):
    def damage(path):
        def edit(text):
            doc = json.loads(text)
            assert "n_train" in doc["fitted"], sorted(doc["fitted"])
            doc["fitted"]["n_train"] = 10**9
            return json.dumps(doc)

        _edit_metadata_text(path, edit)

    text = _fit_twice_tuned(damage, tiny_st_model, corpus, str(tmp_path / "fits"),
                            train_calls, caplog)
    assert "metadata whose sha256 differs" in text


def test_entry_digest_spelling_does_not_matter_and_an_intact_entry_hits(tiny_st_model, corpus,
                                                                         tmp_path,
                                                                         train_calls):
    X, Y = corpus
    folder = str(tmp_path / "fits")
    first = make_est(tiny_st_model, folder).fit(X, Y)
    (name,) = entries(folder)
    path = os.path.join(folder, name)
    doc, tensors = read_entry(path)
    assert doc["format"] == _cache.ENTRY_FORMAT >= 3
    assert doc["entry_sha256"] == _cache.entry_sha256(doc)
    # the same values spelt otherwise (indented, keys reordered): the same digest, a hit
    _edit_metadata_text(path, lambda text: json.dumps(json.loads(text), indent=1,
                                                      sort_keys=True))
    again = make_est(tiny_st_model, folder).fit(X, Y)
    assert again.fit_cache_hit_ is True and len(train_calls) == 1
    np.testing.assert_array_equal(first.predict_proba(X), again.predict_proba(X))




# -------------------------------------------- 5. a folder planted at an entry's name
def test_folder_at_an_entry_name_is_named_with_the_fix(tiny_st_model, corpus, tmp_path,
                                                        train_calls, caplog):
    X, Y = corpus
    folder = tmp_path / "fits"
    make_est(tiny_st_model, str(folder)).fit(X, Y)
    (name,) = entries(folder)
    os.remove(folder / name)
    (folder / name).mkdir()
    with caplog.at_level(logging.WARNING, logger="skbert._cache"):
        est = make_est(tiny_st_model, str(folder)).fit(X, Y)
    assert est.fit_cache_hit_ is False and len(train_calls) == 2
    text = caplog.text
    assert str(folder / name) in text
    assert "replaces it" not in text  # it cannot: it is not skbert's to remove
    assert "Remove that folder" in text
    assert "Pass a writable fit_cache folder" not in text
    assert os.path.isdir(folder / name)  # left alone


# ----------------------------------------- 6. clear_fit_cache refuses what fit refuses
@pytest.mark.parametrize("value, match", [
    ("$HOME/fits", r"\$HOME"),
    ("", "names no folder"),
    ("   ", "names no folder"),
    ("True", "not the bool"),
    ("~nosuchuser-skbert/x", "nosuchuser-skbert"),
])
def test_clear_fit_cache_refuses_what_fit_refuses(value, match, home):
    import skbert

    keep = home / "fits"
    keep.mkdir()
    (keep / ("ab" * 16 + _cache.SUFFIX)).write_bytes(b"x")
    with pytest.raises(ValueError, match=match) as info:
        skbert.clear_fit_cache(value)
    assert "clear_fit_cache" in str(info.value)
    assert os.listdir(keep) == ["ab" * 16 + _cache.SUFFIX]
    assert os.listdir(".") == []
    skbert.clear_fit_cache("~/fits")  # the path itself is accepted
    assert os.listdir(keep) == []
    skbert.clear_fit_cache(str(home / "missing"))  # a folder that is not there: nothing to do


# ------------------------- 7. TransformerEmbedder: weights and tokenizer by their sha256
def _embedder_folder(tmp_path):
    from conftest import build_tiny_bert

    folder = tmp_path / "model"
    folder.mkdir()
    build_tiny_bert(folder)
    return folder


def test_embedder_unpickle_tells_permuted_embedding_rows(tmp_path):
    from transformers import BertModel

    from skbert import SkbertWarning

    folder = _embedder_folder(tmp_path)
    emb = TransformerEmbedder(str(folder), device="cpu", precision="fp32").fit(["x"])
    blob = pickle.dumps(emb)
    model = BertModel.from_pretrained(folder)
    with torch.no_grad():  # the same rows in another order: every sum is unchanged
        rows = model.embeddings.word_embeddings.weight
        rows.copy_(rows.flip(0))
    model.save_pretrained(folder)
    with pytest.warns(SkbertWarning, match=r"The weights at .* differ from those"):
        pickle.loads(blob)


def test_embedder_unpickle_tells_a_changed_tokenizer(tmp_path):
    from skbert import SkbertWarning

    folder = _embedder_folder(tmp_path)
    emb = TransformerEmbedder(str(folder), device="cpu", precision="fp32").fit(["x"])
    before = emb.transform(["the match", "a recipe"])
    blob = pickle.dumps(emb)
    path = folder / "tokenizer.json"
    doc = json.loads(path.read_text())
    vocab = doc["model"]["vocab"]
    a, b = "the", "match"
    assert a in vocab and b in vocab
    vocab[a], vocab[b] = vocab[b], vocab[a]  # two token ids swapped
    path.write_text(json.dumps(doc))
    with pytest.warns(SkbertWarning, match=r"The tokenizer files at .* differ from those") as rec:
        back = pickle.loads(blob)
    assert "weights" not in str(rec[0].message).split(" at ")[0]
    assert not np.array_equal(back.transform(["the match", "a recipe"]), before)


def test_embedder_unpickle_of_an_unchanged_model_is_silent(tmp_path, recwarn):
    folder = _embedder_folder(tmp_path)
    emb = TransformerEmbedder(str(folder), device="cpu", precision="fp32").fit(["x"])
    before = emb.transform(["the match"])
    back = pickle.loads(pickle.dumps(emb))
    assert not [w for w in recwarn if "differ" in str(w.message)]
    np.testing.assert_array_equal(back.transform(["the match"]), before)


@pytest.mark.parametrize("old", ["sums", "sums changed", "garbage"])
def test_embedder_pickles_of_the_old_fingerprint_still_load(old, tmp_path):
    import warnings as _warnings

    from skbert import SkbertWarning, _embedder

    folder = _embedder_folder(tmp_path)
    emb = TransformerEmbedder(str(folder), device="cpu", precision="fp32").fit(["x"])
    before = emb.transform(["the match"])
    state = emb.__getstate__()
    state.pop("_weights_sha256")
    sums = _embedder._fingerprint(emb.model_)
    state["_weights_fingerprint"] = {"sums": sums, "sums changed": sums + 1.0,
                                     "garbage": ["not", "numbers"]}[old]
    back = TransformerEmbedder.__new__(TransformerEmbedder)
    with _warnings.catch_warnings(record=True) as rec:
        _warnings.simplefilter("always")
        back.__setstate__(state)
    messages = [str(w.message) for w in rec if issubclass(w.category, SkbertWarning)]
    if old == "sums":
        assert not [m for m in messages if "differ" in m or "not know" in m]
    elif old == "sums changed":
        assert any("The weights at" in m and "differ" in m for m in messages), messages
    else:
        assert any("does not know" in m for m in messages), messages
    np.testing.assert_array_equal(back.transform(["the match"]), before)

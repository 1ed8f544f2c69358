"""Hostile model folders for the export layer (issue 20): writes, ONNX exports, records, the Hub.

Every case is built here by fixtures (links, forged records, copies of a second model's
export); nothing binary is committed. Each test is named after its item in issue 20 and
fails on 1adb55c. Tiny random BERTs, fp32, no network (the Hub is stubbed).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import LABELS

from skbert import SkbertWarning, TransformerMultiLabelClassifier, _export, _export_onnx
from skbert._safe_io import UnsafePath, file_mode, folder_mode

FAST = dict(max_epochs=1, batch_size=8, learning_rate=3e-3, device="cpu", precision="fp32",
            fit_cache=False)


def fit(base, corpus, seed=0, **kwargs):
    X, Y = corpus
    est = TransformerMultiLabelClassifier(str(base), **{**FAST, "random_state": seed, **kwargs})
    return est.fit(X, pd.DataFrame(Y, columns=LABELS))


@pytest.fixture(scope="module", autouse=True)
def _own_onnx_key(tmp_path_factory):
    """This module's ONNX key lives in a private cache folder, never in the user's own."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg_cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture(scope="module")
def two_models(tiny_model, corpus, tmp_path_factory):
    """Two cls folders of the same architecture and labels, with different weights."""
    root = tmp_path_factory.mktemp("hostile_export")
    out = {}
    for name, seed in (("a", 0), ("b", 1)):
        est = fit(tiny_model, corpus, seed=seed, learning_rate=3e-2)
        est.save_pretrained(root / name)
        out[name] = (root / name, est.predict_proba(corpus[0]))
    return out


@pytest.fixture(scope="module")
def exported_b(two_models, tmp_path_factory):
    """Folder b exported to ONNX (fp32 and int8), in a copy."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    dst = shutil.copytree(two_models["b"][0], tmp_path_factory.mktemp("b_onnx") / "b")
    TransformerMultiLabelClassifier.from_pretrained(dst, backend="onnx", quantize=True)
    return dst


def copy_of(folder, tmp_path, name="m"):
    return shutil.copytree(folder, tmp_path / name)


def victims(tmp_path, *names):
    out = {}
    for name in names:
        path = tmp_path / f"victim_{name}"
        path.write_text(f"precious {name}\n")
        out[name] = path
    return out


def assert_untouched(found):
    for name, path in found.items():
        assert path.read_text() == f"precious {name}\n", f"{path} was written through a link"


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------- item 1: a folder can write outside itself
def test_item01_planted_tmp_links_in_onnx_folder_write_nothing_outside(two_models, corpus,
                                                                       tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    folder = copy_of(two_models["a"][0], tmp_path)
    (folder / "onnx").mkdir()
    found = victims(tmp_path, "meta", "onnx", "int8")
    os.symlink(found["meta"], folder / "onnx" / "skbert_onnx.json.tmp")
    os.symlink(found["onnx"], folder / "onnx" / "model.onnx.tmp")
    os.symlink(found["int8"], folder / "onnx" / "model_int8.onnx.tmp")
    est = TransformerMultiLabelClassifier.from_pretrained(folder, backend="onnx", quantize=True)
    assert_untouched(found)
    for name in ("model.onnx", "model_int8.onnx", "skbert_onnx.json"):
        assert stat.S_ISREG(os.lstat(folder / "onnx" / name).st_mode)
    np.testing.assert_allclose(
        TransformerMultiLabelClassifier.from_pretrained(folder, backend="onnx")
        .predict_proba(corpus[0]), two_models["a"][1], atol=1e-4)
    assert est.predict_proba(corpus[0]).shape == two_models["a"][1].shape


def test_item01_planted_links_at_the_export_names_are_replaced_not_followed(two_models,
                                                                            tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    folder = copy_of(two_models["a"][0], tmp_path)
    (folder / "onnx").mkdir()
    found = victims(tmp_path, "meta")
    os.symlink(found["meta"], folder / "onnx" / "skbert_onnx.json")
    TransformerMultiLabelClassifier.from_pretrained(folder, backend="onnx")
    assert_untouched(found)
    assert not os.path.islink(folder / "onnx" / "skbert_onnx.json")


def test_item01_onnx_folder_that_is_a_link_is_refused(two_models, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    folder = copy_of(two_models["a"][0], tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, folder / "onnx")
    with pytest.raises(UnsafePath, match="is a link"):
        TransformerMultiLabelClassifier.from_pretrained(folder, backend="onnx")
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_item01_save_pretrained_never_writes_through_planted_links(tiny_model, tiny_st_model,
                                                                  corpus, tmp_path, pooling):
    est = fit(tiny_model if pooling == "cls" else tiny_st_model, corpus)
    folder = tmp_path / "m"
    folder.mkdir()
    names = ["config.json", "model.safetensors", "skbert.json", "tokenizer.json",
             "tokenizer_config.json"]
    if pooling == "mean":
        names += ["modules.json", "skbert_head.safetensors"]
    found = victims(tmp_path, *names, "README.md.tmp")
    for name, path in found.items():
        os.symlink(path, folder / name)
    est.save_pretrained(folder)
    assert_untouched(found)
    for name in names:
        assert stat.S_ISREG(os.lstat(folder / name).st_mode), name
    loaded = TransformerMultiLabelClassifier.from_pretrained(folder, device="cpu")
    np.testing.assert_allclose(loaded.predict_proba(corpus[0]), est.predict_proba(corpus[0]),
                               atol=1e-6)


def test_item01_linked_sub_folder_of_a_mean_folder_is_refused(tiny_st_model, corpus, tmp_path):
    est = fit(tiny_st_model, corpus)
    folder = tmp_path / "m"
    folder.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, folder / "2_Dense")
    with pytest.raises(UnsafePath, match="is a link"):
        est.save_pretrained(folder)
    assert list(outside.iterdir()) == []


def test_item01_cls_save_over_a_mean_layout_deletes_nothing_through_a_linked_folder(
        tiny_st_model, tiny_model, corpus, tmp_path):
    folder = tmp_path / "m"
    fit(tiny_st_model, corpus).save_pretrained(folder)
    outside = tmp_path / "outside"
    shutil.move(folder / "1_Pooling", outside)  # the user's own folder, linked into the model
    os.symlink(outside, folder / "1_Pooling")
    with pytest.raises(UnsafePath, match="is a link"):
        fit(tiny_model, corpus).save_pretrained(folder)
    assert (outside / "config.json").is_file()


def test_item01_a_linked_readme_is_kept_and_its_target_untouched(tiny_st_model, corpus,
                                                                 tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    target = tmp_path / "notes.md"
    target.write_text(f"{_export.CARD_MARKER}\nmy notes\n")  # even one carrying the marker
    os.symlink(target, folder / "README.md")
    with pytest.warns(SkbertWarning, match="was not written by skbert"):
        fit(tiny_st_model, corpus).save_pretrained(folder)
    assert target.read_text() == f"{_export.CARD_MARKER}\nmy notes\n"
    assert os.path.islink(folder / "README.md")


# ----------------------------------------------- item 2: a forged ONNX export is served
def forge(folder, donor, names):
    """Copy ``donor``'s ONNX files into ``folder`` and record them as exports of its weights."""
    (folder / "onnx").mkdir(exist_ok=True)
    source = _export.weights_hash(str(folder))
    files = {}
    for name in names:
        shutil.copyfile(donor / "onnx" / name, folder / "onnx" / name)
        files[name] = {"sha256": sha256(folder / "onnx" / name), "source": source}
    meta = folder / "onnx" / "skbert_onnx.json"
    if meta.exists():
        old = json.loads(meta.read_text())["files"]
        files = {**old, **files}
    meta.write_text(json.dumps({"files": files}))


def spy_exports(monkeypatch):
    """Record every call to torch's exporter (it still runs)."""
    calls = []
    real = _export_onnx._torch_export

    def counted(*args):
        calls.append(args[2])
        return real(*args)

    monkeypatch.setattr(_export_onnx, "_torch_export", counted)
    return calls


def load_onnx(folder, **kwargs):
    return TransformerMultiLabelClassifier.from_pretrained(folder, backend="onnx", **kwargs)


def test_item02_forged_onnx_export_is_exported_again_not_served(two_models, exported_b, corpus,
                                                                tmp_path):
    folder = copy_of(two_models["a"][0], tmp_path)
    forge(folder, exported_b, ["model.onnx"])
    forged = (folder / "onnx" / "model.onnx").read_bytes()
    with pytest.warns(SkbertWarning, match="not made on this machine.*exported again"):
        est = load_onnx(folder)
    assert (folder / "onnx" / "model.onnx").read_bytes() != forged
    np.testing.assert_allclose(est.predict_proba(corpus[0]), two_models["a"][1], atol=1e-4)


def test_item02_forged_rows_the_check_texts_never_reach_are_not_served(two_models, tmp_path,
                                                                       monkeypatch):
    """The trial's forgery: rows of the word-embedding initializer for words the fixed check
    texts do not contain are changed, and the recorded sha256 is updated to match."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper
    from safetensors.numpy import load_file

    folder = copy_of(two_models["a"][0], tmp_path)
    load_onnx(folder)  # this user's own, signed export
    path = folder / "onnx" / "model.onnx"
    vocab = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]
    words = ["football", "goal", "match", "team"]
    rows = [vocab[w] for w in words]
    table = next(v for k, v in load_file(folder / "model.safetensors").items()
                 if "word_embeddings" in k)
    graph = onnx.load(str(path))
    patched = 0
    for init in graph.graph.initializer:
        array = numpy_helper.to_array(init)
        if array.shape == table.shape and np.allclose(array, table):
            array = array.copy()
            array[rows] = np.random.RandomState(1).randn(len(rows), table.shape[1]) * 3
            init.CopyFrom(numpy_helper.from_array(array, init.name))
            patched += 1
    assert patched == 1
    onnx.save(graph, str(path))
    meta = json.loads((folder / "onnx" / "skbert_onnx.json").read_text())
    meta["files"]["model.onnx"]["sha256"] = sha256(path)
    (folder / "onnx" / "skbert_onnx.json").write_text(json.dumps(meta))
    forged = path.read_bytes()
    texts = [" ".join(words), "the news about football"]
    want = TransformerMultiLabelClassifier.from_pretrained(
        folder, device="cpu", precision="fp32").predict_proba(texts)
    n_labels = want.shape[1]
    forged_probs = _export_onnx._onnx_probs(
        forged, _tokens(folder, texts), n_labels, str(path)).numpy()
    assert np.abs(forged_probs - want).max() > 1e-3  # the forgery does change predictions
    calls = spy_exports(monkeypatch)
    with pytest.warns(SkbertWarning, match="not made on this machine"):
        est = load_onnx(folder)
    assert len(calls) == 1 and path.read_bytes() != forged
    np.testing.assert_allclose(est.predict_proba(texts), want, atol=1e-4)


def _tokens(folder, texts):
    from transformers import AutoTokenizer

    enc = AutoTokenizer.from_pretrained(str(folder))(texts, padding=True, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"]


def test_item02_forged_int8_export_is_exported_again_not_served(two_models, exported_b, corpus,
                                                                tmp_path, monkeypatch):
    folder = copy_of(two_models["a"][0], tmp_path)
    load_onnx(folder)  # a's own fp32
    forge(folder, exported_b, ["model_int8.onnx"])
    forged = (folder / "onnx" / "model_int8.onnx").read_bytes()
    with pytest.warns(SkbertWarning, match="not made on this machine"):
        est = load_onnx(folder, quantize=True)
    assert (folder / "onnx" / "model_int8.onnx").read_bytes() != forged
    assert np.abs(est.predict_proba(corpus[0]) - two_models["a"][1]).max() < 0.05
    calls = spy_exports(monkeypatch)
    again = load_onnx(folder, quantize=True)  # now this user's own: reused as it is
    assert calls == []
    np.testing.assert_array_equal(again.predict_proba(corpus[0]), est.predict_proba(corpus[0]))


def test_item02_export_copied_from_another_user_is_exported_again(two_models, corpus, tmp_path,
                                                                  monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "alice"))
    folder = copy_of(two_models["a"][0], tmp_path)
    load_onnx(folder)  # alice's export, signed with alice's key
    alice = (folder / "onnx" / "model.onnx").stat().st_mtime_ns
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "bob"))
    calls = spy_exports(monkeypatch)
    with pytest.warns(SkbertWarning, match="not made on this machine"):
        est = load_onnx(folder)
    assert len(calls) == 1 and (folder / "onnx" / "model.onnx").stat().st_mtime_ns != alice
    np.testing.assert_allclose(est.predict_proba(corpus[0]), two_models["a"][1], atol=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_onnx(folder)  # now bob's own: reused, without a word
    assert len(calls) == 1


def test_item02_untrusted_export_in_a_read_only_folder_is_refused(two_models, exported_b,
                                                                  tmp_path, monkeypatch):
    folder = copy_of(two_models["a"][0], tmp_path)
    forge(folder, exported_b, ["model.onnx"])
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p).endswith("onnx")
                        else real(p, mode, **kw))  # as for a folder this user cannot write
    with pytest.raises(PermissionError, match="not trusted.*somewhere writable"):
        load_onnx(folder)


def make_key(kind, tmp_path):
    """``$XDG_CACHE_HOME/skbert/onnx-key`` as ``kind``; returns the cache folder and a check."""
    cache = tmp_path / "cache"
    (cache / "skbert").mkdir(parents=True)
    key = cache / "skbert" / "onnx-key"
    known = tmp_path / "known-key"
    known.write_bytes(b"k" * 32)
    os.chmod(known, 0o600)
    if kind == "link":
        os.symlink(known, key)
    elif kind == "folder":
        key.mkdir()
    elif kind == "shared":
        key.write_bytes(b"k" * 32)
        os.chmod(key, 0o644)
    elif kind == "short":
        key.write_bytes(b"k" * 5)
        os.chmod(key, 0o600)
    before = (os.path.islink(key), key.is_dir(), None if key.is_dir() else key.read_bytes())

    def unchanged():
        assert (os.path.islink(key), key.is_dir(),
                None if key.is_dir() else key.read_bytes()) == before
        assert known.read_bytes() == b"k" * 32
    return cache, unchanged


@pytest.mark.parametrize("kind", ["link", "folder", "shared", "short"])
def test_item02_a_key_file_that_cannot_be_used_is_not_used_nor_replaced(kind, tmp_path,
                                                                        monkeypatch):
    cache, unchanged = make_key(kind, tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    key, why = _export_onnx.user_key()
    assert key is None and "onnx-key cannot be used" in why and "delete it" in why
    unchanged()


def test_item02_the_key_is_made_once_private_to_the_user(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    key, why = _export_onnx.user_key()
    path = tmp_path / "c" / "skbert" / "onnx-key"
    assert len(key) == 32 and why == "" and path.read_bytes() == key
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
    assert _export_onnx.user_key() == (key, "")  # made once, then read
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # not absolute: ignored (XDG)
    assert _export_onnx.key_path() == os.path.join(os.path.expanduser("~"), ".cache", "skbert",
                                                   "onnx-key")


def test_item02_with_a_linked_key_every_export_is_made_again(two_models, corpus, tmp_path,
                                                             monkeypatch):
    cache, unchanged = make_key("link", tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    folder = copy_of(two_models["a"][0], tmp_path)
    calls = spy_exports(monkeypatch)
    load_onnx(folder)
    assert "mac" not in json.loads((folder / "onnx" / "skbert_onnx.json").read_text())
    with pytest.warns(SkbertWarning, match="onnx-key cannot be used"):
        est = load_onnx(folder)
    assert len(calls) == 2
    np.testing.assert_allclose(est.predict_proba(corpus[0]), two_models["a"][1], atol=1e-4)
    unchanged()


# ------------------------------------------------------------------------ item 14: leaks
def test_item14_skbert_json_holds_no_local_path(tiny_model, corpus, tmp_path):
    base = shutil.copytree(tiny_model, tmp_path / "private" / "base-model")
    est = fit(base, corpus, fit_cache=str(tmp_path / "private" / "cache"),
              checkpoint_dir=tmp_path / "private" / "checkpoints")
    folder = tmp_path / "private" / "out"
    est.save_pretrained(folder)
    text = (folder / "skbert.json").read_text()
    assert str(tmp_path) not in text and "private" not in text
    settings = json.loads(text)
    assert settings["params"]["model_name_or_path"] == "./base-model"
    assert settings["base_model"] == "./base-model"
    assert settings["params"]["fit_cache"] is None
    assert settings["params"]["checkpoint_dir"] is None
    assert str(tmp_path) not in (folder / "README.md").read_text()
    assert "`base-model (a local folder)`" in (folder / "README.md").read_text()
    loaded = TransformerMultiLabelClassifier.from_pretrained(folder, device="cpu")
    assert loaded.model_name_or_path == str(folder)
    np.testing.assert_allclose(loaded.predict_proba(corpus[0]), est.predict_proba(corpus[0]),
                               atol=1e-6)


def test_item14_a_hub_base_model_keeps_its_id(tiny_model, corpus, tmp_path):
    est = fit(tiny_model, corpus)
    settings = {"params": {**est.get_params(), "model_name_or_path": "google-bert/bert-base"},
                "base_model": "google-bert/bert-base"}
    out = _export.shareable_settings(settings)
    assert out["params"]["model_name_or_path"] == "google-bert/bert-base"
    assert out["base_model"] == "google-bert/bert-base"


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_item14_every_file_of_a_saved_folder_has_one_mode(tiny_model, tiny_st_model, corpus,
                                                          tmp_path, pooling):
    est = fit(tiny_model if pooling == "cls" else tiny_st_model, corpus)
    est.save_pretrained(tmp_path / "m")
    modes = {}
    for here, dirs, files in os.walk(tmp_path / "m"):
        for name in files:
            modes[os.path.relpath(os.path.join(here, name), tmp_path / "m")] = \
                stat.S_IMODE(os.lstat(os.path.join(here, name)).st_mode)
        for name in dirs:
            assert stat.S_IMODE(os.lstat(os.path.join(here, name)).st_mode) == folder_mode()
    assert "model.safetensors" in modes
    assert set(modes.values()) == {file_mode()}, modes


# ---------------------------------------------------- item 20: what the card records
def test_item20_card_records_the_rate_used_and_the_training_size(two_models, tmp_path):
    folder = copy_of(two_models["a"][0], tmp_path)
    settings = json.loads((folder / "skbert.json").read_text())
    settings["params"]["learning_rate"] = "auto"
    settings.update({"learning_rate_": 0.0002, "n_train_": 29, "n_valid_": 3,
                     "tuned_scores_": {"f1_micro": 0.75, "f1_macro": 0.5}})
    (folder / "skbert.json").write_text(json.dumps(settings))
    _export.write_model_card(str(folder))
    text = (folder / "README.md").read_text()
    assert "| `learning_rate` | 0.0002 (auto) |" in text
    assert "| texts trained on | 29 |" in text
    assert "| texts held out for validation | 3 |" in text
    assert "| f1_micro | 0.7500 |" in text and "| f1_macro | 0.5000 |" in text


def test_item20_card_without_the_new_records_still_writes(two_models, tmp_path):
    folder = copy_of(two_models["a"][0], tmp_path)
    settings = json.loads((folder / "skbert.json").read_text())
    for key in ("learning_rate_", "n_train_", "n_valid_", "tuned_scores_"):
        settings.pop(key, None)
    (folder / "skbert.json").write_text(json.dumps(settings))
    _export.write_model_card(str(folder))
    text = (folder / "README.md").read_text()
    assert "| `learning_rate` | 0.03 |" in text and "texts trained on" not in text


@pytest.mark.parametrize("key, value", [("learning_rate_", "x"), ("learning_rate_", -1),
                                        ("n_train_", 1.5), ("n_valid_", True),
                                        ("tuned_scores_", {"f1": 2}),
                                        ("tuned_scores_", [0.5]), ("interrupted_", 1)])
def test_item20_bad_card_records_are_refused(two_models, tmp_path, key, value):
    folder = copy_of(two_models["a"][0], tmp_path)
    settings = json.loads((folder / "skbert.json").read_text())
    settings[key] = value
    (folder / "skbert.json").write_text(json.dumps(settings))
    with pytest.raises(ValueError, match=key):
        TransformerMultiLabelClassifier.from_pretrained(folder)


# ------------------------------------------------------- item 23: the Hub both ways
class FakeSnapshots:
    """Stands in for huggingface_hub.snapshot_download (no network)."""

    def __init__(self, repos, error=None):
        self.repos, self.error, self.calls = repos, error, []

    def __call__(self, repo_id, **kw):
        import fnmatch

        self.calls.append((repo_id, kw))
        if self.error is not None:
            raise self.error
        src = self.repos[repo_id]
        dst = src.parent / f"snapshot-{len(self.calls)}"
        for here, _, files in os.walk(src):
            for name in files:
                rel = os.path.relpath(os.path.join(here, name), src).replace(os.sep, "/")
                if any(fnmatch.fnmatch(rel, p) for p in kw["allow_patterns"]) and not any(
                        fnmatch.fnmatch(rel, p) for p in kw["ignore_patterns"]):
                    os.makedirs(os.path.dirname(dst / rel), exist_ok=True)
                    shutil.copyfile(os.path.join(here, name), dst / rel)
        return str(dst)


def test_item23_a_hub_id_is_fetched_with_the_files_skbert_reads_only(two_models, corpus,
                                                                     tmp_path, monkeypatch):
    import huggingface_hub

    repo = copy_of(two_models["a"][0], tmp_path, "repo")
    for name in ("pytorch_model.bin", "modeling_evil.py", "adapter/adapter_model.bin"):
        os.makedirs(os.path.dirname(repo / name), exist_ok=True)
        (repo / name).write_bytes(b"not to be fetched")
    fake = FakeSnapshots({"me/tiny": repo})
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    folder = _export.resolve_pretrained_source("me/tiny", revision="v1")
    assert fake.calls[0][1]["revision"] == "v1"
    got = {os.path.relpath(os.path.join(h, f), folder) for h, _, fs in os.walk(folder)
           for f in fs}
    assert {"config.json", "model.safetensors", "skbert.json", "tokenizer.json"} <= got
    assert not any(n.endswith((".bin", ".py", ".onnx", ".md")) for n in got), got
    loaded = TransformerMultiLabelClassifier.from_pretrained(folder, device="cpu")
    np.testing.assert_allclose(loaded.predict_proba(corpus[0]), two_models["a"][1], atol=1e-6)
    _export.resolve_pretrained_source("me/tiny", onnx=True)
    assert "onnx/model.onnx" in fake.calls[1][1]["allow_patterns"]
    assert "onnx/model.onnx" not in fake.calls[0][1]["allow_patterns"]


def test_item23_from_pretrained_takes_a_hub_id_and_revision(two_models, corpus, tmp_path,
                                                           monkeypatch):
    import huggingface_hub

    fake = FakeSnapshots({"me/tiny": copy_of(two_models["a"][0], tmp_path, "repo")})
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    loaded = TransformerMultiLabelClassifier.from_pretrained("me/tiny", revision="v2",
                                                             device="cpu")
    assert fake.calls[0][1]["revision"] == "v2"
    np.testing.assert_allclose(loaded.predict_proba(corpus[0]), two_models["a"][1], atol=1e-6)


def test_item23_a_local_folder_is_returned_as_it_is(two_models):
    folder = str(two_models["a"][0])
    assert _export.resolve_pretrained_source(folder) == folder
    with pytest.raises(ValueError, match="revision=None"):
        _export.resolve_pretrained_source(folder, revision="main")


def test_item23_offline_is_one_clear_error(monkeypatch):
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    fake = FakeSnapshots({}, error=LocalEntryNotFoundError("offline and not cached"))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    with pytest.raises(OSError, match="Cannot download me/tiny.*no copy is cached.*local folder"):
        _export.resolve_pretrained_source("me/tiny")


@pytest.mark.parametrize("name", ["../x", "a/b/c", "no such/folder", "/no/such/folder"])
def test_item23_neither_folder_nor_hub_id_names_both(name, monkeypatch):
    import huggingface_hub

    fake = FakeSnapshots({})
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    with pytest.raises(FileNotFoundError, match="neither a folder nor a Hub repository id"):
        _export.resolve_pretrained_source(name)
    assert fake.calls == []


def test_item01_a_weights_file_linked_to_a_device_is_one_clear_error(two_models, tmp_path):
    pytest.importorskip("onnxruntime")
    folder = copy_of(two_models["a"][0], tmp_path)
    os.symlink("/dev/zero", folder / "extra.safetensors")
    with pytest.raises(ValueError, match="extra.safetensors cannot be read as a regular file"):
        _export.export_onnx(folder)


def test_item01_stale_shard_cleanup_removes_only_regular_files_in_the_folder(tmp_path):
    """A stale shard of an earlier save is removed; a link of that name and its target stay."""
    from skbert import _persistence

    theirs = tmp_path / "theirs.safetensors"
    theirs.write_bytes(b"the user's")
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model-00001-of-00002.safetensors").write_bytes(b"old")
    (folder / "model.safetensors").write_bytes(b"new")
    os.symlink(theirs, folder / "model-00002-of-00002.safetensors")
    _persistence._remove_stale_shards(str(folder), {"model.safetensors"})
    assert sorted(os.listdir(folder)) == ["model-00002-of-00002.safetensors", "model.safetensors"]
    assert theirs.read_bytes() == b"the user's"

"""The fit cache's folder entries: no pickles, damage is a miss, writes are atomic.

A ``fit_cache`` folder may be a shared place such as a temporary folder, so its
files are data from others: nothing read from it may run code, and a damaged
entry must make the fit retrain (and replace it) instead of failing.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from skbert import TransformerMultiLabelClassifier, _cache
from skbert import _utils as _cache_utils

FAST = dict(max_epochs=1, batch_size=8, learning_rate=3e-3, random_state=0, device="cpu",
            precision="fp32")
CPU = torch.device("cpu")


def make_est(path, folder, **kwargs):
    return TransformerMultiLabelClassifier(path, **{**FAST, "fit_cache": folder, **kwargs})


def entries(folder, suffix=_cache.SUFFIX):
    return sorted(name for name in os.listdir(folder) if name.endswith(suffix))


def only_key(folder) -> str:
    """The key of the one entry in ``folder``, whatever its format's suffix."""
    (name,) = [n for n in os.listdir(folder) if not n.startswith(".")]
    return name.split(".")[0]


def rewrite(path, edit_doc=None, edit_tensors=None) -> None:
    """Rewrite a valid entry as a well-formed safetensors file with edited contents."""
    with safe_open(path, framework="pt") as fh:
        doc = json.loads(fh.metadata()[_cache._META_KEY])
        tensors = {name: fh.get_tensor(name) for name in fh.keys()}
    if edit_doc is not None:
        edit_doc(doc)
    if edit_tensors is not None:
        edit_tensors(tensors)
    save_file(tensors, path, metadata={_cache._META_KEY: json.dumps(doc)})


class Planted:
    """A pickle that creates a folder when it is loaded: proof that it ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


# ------------------------------------------------------------------ round trip
@pytest.mark.parametrize("model, kwargs", [
    ("tiny_st_model", {}),                                                 # mean pooling
    ("tiny_model", {"threshold": "auto", "validation_fraction": 0.25}),    # cls, tuned
])
def test_folder_entry_round_trips(request, model, kwargs, corpus, tmp_path, train_calls):
    X, Y = corpus
    path = request.getfixturevalue(model)
    folder = str(tmp_path / "fits")
    first = make_est(path, folder, **kwargs).fit(X, Y)
    (name,) = entries(folder)
    assert entries(folder, _cache.OLD_SUFFIX) == []
    assert [n for n in os.listdir(folder) if n != name] == []  # no temporary file left
    with safe_open(os.path.join(folder, name), framework="pt") as fh:
        doc = json.loads(fh.metadata()[_cache._META_KEY])
        assert set(fh.keys()) == set(first.model_.state_dict())
    assert doc["model"]["pooling"] == first.pooling_
    assert doc["fitted"]["history"] == first.history_

    second = make_est(path, folder, **kwargs).fit(X, Y)
    assert len(train_calls) == 1
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    assert second.history_ == first.history_
    assert (second.best_epoch_, second.pooling_, second.precision_) == (
        first.best_epoch_, first.pooling_, first.precision_)
    assert second.model_ is not first.model_
    if "threshold" in kwargs:
        np.testing.assert_array_equal(second.thresholds_, first.thresholds_)
    else:
        assert not hasattr(second, "thresholds_")


def test_extra_fields_round_trip_and_unserialisable_ones_are_not_written(
        tiny_st_model, corpus, tmp_path, caplog):
    X, Y = corpus
    est = make_est(tiny_st_model, False).fit(X, Y)
    fitted = {"model": est.model_, "tokenizer": est.tokenizer_, "device": CPU,
              "history": est.history_, "best_epoch": est.best_epoch_, "interrupted": False,
              "still_improving": True, "pooling": est.pooling_, "precision": "fp32",
              "thresholds": np.full(4, 0.25), "n_chunks": np.int64(3), "notes": ["a", 1.5]}
    folder = str(tmp_path)
    _cache.put("ab" * 16, folder, fitted)
    back = _cache.get("ab" * 16, folder, CPU)
    assert back["n_chunks"] == 3 and back["notes"] == ["a", 1.5]
    assert back["thresholds"] == [0.25] * 4 and back["still_improving"] is True
    assert back["device"] == CPU and back["model"] is not est.model_

    with caplog.at_level(logging.WARNING, logger="skbert._cache"):
        _cache.put("cd" * 16, folder, {**fitted, "callback": object()})
    assert "not JSON serialisable" in caplog.text
    assert _cache.get("cd" * 16, folder, CPU) is None
    assert entries(folder) == ["ab" * 16 + _cache.SUFFIX]
    assert [n for n in os.listdir(folder) if n.endswith(_cache.TMP_SUFFIX)] == []


# ------------------------------------------------------------- planted pickles
@pytest.mark.parametrize("suffix", [_cache.OLD_SUFFIX, _cache.SUFFIX])
def test_planted_pickle_never_runs(suffix, tiny_st_model, corpus, tmp_path, train_calls):
    X, Y = corpus
    folder = str(tmp_path / "fits")
    first = make_est(tiny_st_model, folder).fit(X, Y)
    key = only_key(folder)
    _cache.clear_fit_cache(folder)
    marker = tmp_path / "pickle-ran"
    with open(os.path.join(folder, key + suffix), "wb") as fh:
        pickle.dump(Planted(str(marker)), fh)

    second = make_est(tiny_st_model, folder).fit(X, Y)
    assert not marker.exists()
    assert len(train_calls) == 2  # retrained instead of using the planted file
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    make_est(tiny_st_model, folder).fit(X, Y)
    assert len(train_calls) == 2  # the entry written by the retrain is a hit
    assert not marker.exists()


# ---------------------------------------------------------------- damaged entries
def _truncate(path):
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])


def _write(data):
    def damage(path):
        open(path, "wb").write(data)
    return damage


def _doc(edit):
    return lambda path: rewrite(path, edit_doc=edit)


def _tensors(edit):
    return lambda path: rewrite(path, edit_tensors=edit)


def _deeply_nested_field(path):
    """A valid entry plus one field nested deeper than Python's recursion limit."""
    with safe_open(path, framework="pt") as fh:
        text = fh.metadata()[_cache._META_KEY]
        tensors = {name: fh.get_tensor(name) for name in fh.keys()}
    text = text[:-1] + ', "notes": ' + "[" * 100_000 + "]" * 100_000 + "}"
    save_file(tensors, path, metadata={_cache._META_KEY: text})


def _first_tensor(tensors):
    return sorted(tensors)[0]


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def edit(doc):
        node = doc
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return edit


DAMAGE = {
    "empty": _write(b""),
    "truncated": _truncate,
    "garbage": _write(b"not a safetensors file " * 20),
    "huge header length": _write((10**12).to_bytes(8, "little") + b"{}"),
    "foreign safetensors": lambda p: save_file({"x": torch.zeros(2)}, p),
    "metadata not json": lambda p: save_file({"x": torch.zeros(2)}, p,
                                             metadata={_cache._META_KEY: "{not json"}),
    "deeply nested metadata": lambda p: save_file(
        {"x": torch.zeros(2)}, p, metadata={_cache._META_KEY: "[" * 100_000 + "]" * 100_000}),
    "deeply nested field": _deeply_nested_field,
    "newer format": _doc(_set("format", 99)),
    "pooling out of range": _doc(lambda d: (_set("model", "pooling", "max")(d),
                                            _set("fitted", "pooling", "max")(d))),
    "missing field": _doc(lambda d: d["fitted"].pop("best_epoch")),
    "ill-typed best_epoch": _doc(_set("fitted", "best_epoch", "1")),
    "history not records": _doc(_set("fitted", "history", [["epoch", 1]])),
    "thresholds out of range": _doc(_set("fitted", "thresholds", [2.0, 0.5, 0.5, 0.5])),
    "unknown threshold rule": _doc(_set("fitted", "tuned_by_rule", {
        "accuracy": {"thresholds": [0.5] * 4, "scores": {}}})),
    "rule's thresholds out of range": _doc(_set("fitted", "tuned_by_rule", {
        "f1": {"thresholds": [2.0, 0.5, 0.5, 0.5], "scores": {}}})),
    "rule's scores not numbers": _doc(_set("fitted", "tuned_by_rule", {
        "f1": {"thresholds": [0.5] * 4, "scores": {"f1_micro": "high"}}})),
    "learning rate not a number": _doc(_set("fitted", "learning_rate", "fast")),
    "learning rate not finite": _doc(_set("fitted", "learning_rate", float("inf"))),
    "bool as n_labels": _doc(_set("model", "n_labels", True)),
    "n_labels not matching": _doc(_set("model", "n_labels", 5)),
    "unknown model_type": _doc(_set("model", "config", "model_type", "no-such-model")),
    "tokenizer path traversal": _doc(_set("model", "tokenizer_files", "../evil.json", "e30=")),
    "tokenizer code file": _doc(_set("model", "tokenizer_files", "tokenization_x.py", "e30=")),
    "tokenizer not base64": _doc(_set("model", "tokenizer_files", "tokenizer.json", "%%%")),
    "missing tensor": _tensors(lambda t: t.pop(_first_tensor(t))),
    "extra tensor": _tensors(lambda t: t.update(planted=torch.zeros(1))),
    "wrong shape": _tensors(lambda t: t.update({_first_tensor(t): torch.zeros(3, 3)})),
    # a header nested past Python's recursion limit (retrial of trial 23)
    "header nested too deep": _write((100_000).to_bytes(8, "little") + b"[" * 100_000),
    # a sparse tail costs no disk but would be read into memory: refused from the header
    "sparse 64 GiB tail": lambda p: os.truncate(p, os.path.getsize(p) + 64 * 2**30),
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_damaged_entry_is_a_miss_then_replaced(damage, tiny_st_model, corpus, tmp_path,
                                               train_calls, caplog):
    X, Y = corpus
    folder = str(tmp_path / "fits")
    first = make_est(tiny_st_model, folder).fit(X, Y)
    (name,) = entries(folder)
    damage(os.path.join(folder, name))

    with caplog.at_level(logging.WARNING, logger="skbert._cache"):
        second = make_est(tiny_st_model, folder).fit(X, Y)
    assert len(train_calls) == 2
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert name in caplog.text
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    assert entries(folder) == [name]  # the retrain wrote a new entry in its place
    make_est(tiny_st_model, folder).fit(X, Y)
    assert len(train_calls) == 2


def test_entry_that_cannot_be_opened_is_a_miss_warned_once(tmp_path, caplog):
    key = "ef" * 16
    os.mkdir(tmp_path / (key + _cache.SUFFIX))  # a folder named like an entry
    with caplog.at_level(logging.DEBUG, logger="skbert._cache"):
        assert _cache.get(key, str(tmp_path), CPU) is None
        assert _cache.get(key, str(tmp_path), CPU) is None
    assert [r.levelname for r in caplog.records] == ["WARNING", "DEBUG"]


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="POSIX symlinks")
def test_symlinked_entry_is_not_followed(tiny_st_model, corpus, tmp_path, train_calls):
    X, Y = corpus
    folder = tmp_path / "fits"
    make_est(tiny_st_model, str(folder)).fit(X, Y)
    (name,) = entries(folder)
    elsewhere = tmp_path / "elsewhere.bin"
    os.replace(folder / name, elsewhere)
    os.symlink(elsewhere, folder / name)
    assert _cache.get(name.split(".")[0], str(folder), CPU) is None
    assert elsewhere.exists()  # what the link points to is left alone


# ------------------------------------------------------------------- keys, clearing
@pytest.mark.parametrize("key", ["../" + "a" * 32, "A" * 32, "", "a" * 32 + "/x", 12])
def test_keys_that_are_not_hex_are_rejected(key, tmp_path):
    with pytest.raises(ValueError, match="not a lowercase hex digest"):
        _cache.get(key, str(tmp_path / "fits"), CPU)
    with pytest.raises(ValueError, match=re.escape(f"key={key!r}")):
        _cache.put(key, str(tmp_path / "fits"), {})
    assert list(tmp_path.iterdir()) == []


def test_clear_fit_cache_removes_entries_of_both_formats_and_nothing_else(tmp_path):
    names = ["a" * 32 + _cache.SUFFIX, "b" * 32 + _cache.OLD_SUFFIX,
             ".c.123.ab" + _cache.TMP_SUFFIX, "notes.txt"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / ("d" * 32 + _cache.SUFFIX)).mkdir()
    _cache.clear_fit_cache(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == sorted(["notes.txt", "d" * 32 + _cache.SUFFIX])
    _cache.clear_fit_cache(str(tmp_path / "missing"))  # nothing to clear: no error


def test_put_to_a_folder_that_cannot_be_written_warns_and_returns(tiny_st_model, corpus,
                                                                  tmp_path, caplog):
    X, Y = corpus
    est = make_est(tiny_st_model, False).fit(X, Y)
    fitted = {"model": est.model_, "tokenizer": est.tokenizer_, "device": CPU,
              "history": est.history_, "best_epoch": est.best_epoch_, "interrupted": False,
              "still_improving": False, "pooling": est.pooling_, "precision": "fp32",
              "thresholds": None}
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with caplog.at_level(logging.WARNING, logger="skbert._cache"):
        _cache.put("ab" * 16, str(blocker / "fits"), fitted)
    assert "could not write" in caplog.text
    assert _cache.get("ab" * 16, str(blocker / "fits"), CPU) is None


# ------------------------------------------------------------------ check_writable
def test_check_writable_creates_the_folder_and_leaves_nothing(tmp_path):
    folder = tmp_path / "a" / "b"
    _cache.check_writable(str(folder))
    assert folder.is_dir() and list(folder.iterdir()) == []
    _cache.check_writable(str(folder))  # an existing folder is fine too


def test_check_writable_under_a_regular_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for path in (str(blocker / "fits"), str(blocker)):
        with pytest.raises(ValueError, match="cannot be written") as info:
            _cache.check_writable(path)
        assert repr(path) in str(info.value) and "fit_cache=True" in str(info.value)
        assert isinstance(info.value.__cause__, OSError)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs a Linux /proc")
def test_check_writable_under_proc():
    path = "/proc/skbert-fit-cache-test"
    assert not os.path.exists(path)
    with pytest.raises(ValueError, match="cannot be written") as info:
        _cache.check_writable(path)
    assert repr(path) in str(info.value)
    assert not os.path.exists(path)


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0,
                    reason="root (and Windows) ignore a folder's write permission")
def test_check_writable_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(ValueError, match="cannot be written"):
            _cache.check_writable(str(folder))
    finally:
        folder.chmod(0o755)


def test_check_writable_read_only_file_system(tmp_path, monkeypatch):
    """As root the test above skips, so a read-only mount is simulated here."""
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            raise OSError(30, "Read-only file system", path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(ValueError, match="Read-only file system.*fit_cache=True"):
        _cache.check_writable(str(tmp_path))


# ------------------------------------------------------------------ training lock
def test_training_lock_lets_one_process_train_and_the_others_wait(tmp_path):
    import threading
    import time

    key = "ab" * 16
    order = []

    def first():
        with _cache.training_lock(key, str(tmp_path)) as train:
            order.append(("first", train))
            time.sleep(0.6)
            (tmp_path / (key + _cache.SUFFIX)).write_bytes(b"x")  # the entry appears
            order.append(("first done", None))

    t = threading.Thread(target=first)
    t.start()
    time.sleep(0.2)
    with _cache.training_lock(key, str(tmp_path), poll=0.05) as train:
        order.append(("second", train))
    t.join()
    assert order == [("first", True), ("first done", None), ("second", False)]
    assert not list(tmp_path.glob("*" + _cache.LOCK_SUFFIX))


def test_joblib_calls_inside_a_fit_stay_in_its_thread(tiny_st_model, corpus, tmp_path):
    """A fit under an outer joblib backend (GridSearchCV on dask) sends no work to it.

    scikit-learn 1.6's LogisticRegression (the logistic head start) calls joblib; on a
    dask worker that call seceded, the worker took a fit of the same fold, and that fit
    waited for the training lock its own process held (CI, min-versions run).
    """
    import joblib
    from joblib._parallel_backends import ThreadingBackend

    started = []

    class Outer(ThreadingBackend):
        def configure(self, *args, **kwargs):
            started.append(type(self).__name__)
            return super().configure(*args, **kwargs)

    seen = []

    class ActiveBackend:
        def on_epoch_end(self, estimator, record):
            seen.append(type(joblib.parallel.get_active_backend()[0]).__name__)

    joblib.register_parallel_backend("skbert-test-outer", Outer)
    X, Y = corpus
    with joblib.parallel_config(backend="skbert-test-outer"):
        joblib.Parallel(n_jobs=2)(joblib.delayed(abs)(i) for i in range(2))
        assert started == ["Outer"]  # the outer backend is active out here
        make_est(tiny_st_model, str(tmp_path), head_init="logistic", contrastive_steps=0,
                 callbacks=[ActiveBackend()]).fit(X, Y)
    assert started == ["Outer"]
    assert seen == ["SequentialBackend"]


def test_stale_training_lock_is_taken_over(tmp_path, monkeypatch):
    import os
    import time

    key = "cd" * 16
    lock = tmp_path / (key + _cache.LOCK_SUFFIX)
    lock.write_text("dead")
    old = time.time() - 2 * _cache.LOCK_STALE_SECONDS
    os.utime(lock, (old, old))
    from skbert._utils import SkbertWarning

    with pytest.warns(SkbertWarning, match="took over the training lock"):
        with _cache.training_lock(key, str(tmp_path), poll=0.01) as train:
            assert train is True
    assert not lock.exists()


@pytest.mark.parametrize("where", ["memory", "folder"])
def test_a_grid_over_threshold_metric_reuses_the_weights(where, tiny_st_model, corpus, tmp_path,
                                                         train_calls):
    """threshold_metric acts after training only: each fold trains once, and each rule gets
    the thresholds a fit of its own would have tuned."""
    from sklearn.model_selection import GridSearchCV, KFold

    X, Y = corpus
    folder = True if where == "memory" else str(tmp_path / "fits")
    rules = ["f1_micro_global", "f1", "f1_shrunk"]
    est = make_est(tiny_st_model, folder, threshold="auto", validation_fraction=0.25)
    search = GridSearchCV(est, {"threshold_metric": rules}, cv=KFold(2), scoring="f1_micro")
    search.fit(X, Y)
    assert len(train_calls) == 2 + 1  # once per fold and once to refit, not once per rule
    train_calls.clear()
    reused = {rule: est.set_params(threshold_metric=rule).fit(X, Y).thresholds_.copy()
              for rule in rules}
    assert train_calls == [] and est.fit_cache_hit_
    for rule in rules:  # a fit without the cache tunes the same thresholds
        fresh = make_est(tiny_st_model, False, threshold="auto", validation_fraction=0.25,
                         threshold_metric=rule).fit(X, Y)
        assert fresh.threshold_metric_ == rule
        np.testing.assert_array_equal(reused[rule], fresh.thresholds_)


def test_trial13_a_path_folder_and_numpy_false_are_what_they_say(tiny_st_model, corpus,
                                                                 tmp_path, train_calls):
    """fit_cache=Path(...) kept fits in memory only; fit_cache=np.False_ reused fits."""
    from pathlib import Path

    X, Y = corpus
    folder = Path(tmp_path / "fits")
    make_est(tiny_st_model, folder).fit(X, Y)
    assert len(entries(folder)) == 1  # written to the folder
    _cache.clear_fit_cache()  # memory only: the folder's entry serves the next fit
    again = make_est(tiny_st_model, folder).fit(X, Y)
    assert again.fit_cache_hit_ and len(train_calls) == 1
    make_est(tiny_st_model, np.False_).fit(X, Y)
    off = make_est(tiny_st_model, np.False_).fit(X, Y)
    assert not off.fit_cache_hit_ and len(train_calls) == 3


@pytest.mark.parametrize("edit", ["rule removed", "rules null"])
def test_trial13_an_entry_without_the_rule_asked_for_is_a_miss(edit, tiny_st_model, corpus,
                                                               tmp_path, train_calls):
    """It gave another rule's thresholds under the rule asked for."""
    X, Y = corpus
    folder = str(tmp_path / "fits")
    kwargs = dict(threshold="auto", validation_fraction=0.25)
    make_est(tiny_st_model, folder, threshold_metric="f1", **kwargs).fit(X, Y)
    _cache.clear_fit_cache()  # the folder's entry is what the next fits find
    (name,) = entries(folder)
    path = os.path.join(folder, name)
    with safe_open(path, framework="pt") as fh:
        meta = fh.metadata()
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    doc = json.loads(meta[_cache._META_KEY])
    if edit == "rule removed":
        del doc["fitted"]["tuned_by_rule"]["f1_shrunk"]
    else:
        doc["fitted"]["tuned_by_rule"] = None
    save_file(tensors, path, metadata=dict(meta, **{_cache._META_KEY: json.dumps(doc)}))
    fresh = make_est(tiny_st_model, False, threshold_metric="f1_shrunk", **kwargs).fit(X, Y)
    got = make_est(tiny_st_model, folder, threshold_metric="f1_shrunk", **kwargs).fit(X, Y)
    np.testing.assert_array_equal(got.thresholds_, fresh.thresholds_)
    assert got.threshold_metric_ == "f1_shrunk"


def test_entry_larger_than_free_memory_is_skipped_not_read(tiny_st_model, corpus, tmp_path,
                                                           train_calls, caplog, monkeypatch):
    from skbert import _safe_io

    X, Y = corpus
    folder = str(tmp_path / "fits")
    make_est(tiny_st_model, folder).fit(X, Y)
    reads = []
    real_read = _safe_io.read_regular_file
    monkeypatch.setattr(_safe_io, "memory_available", lambda: 1000)
    monkeypatch.setattr(_cache_utils, "read_regular_file",
                        lambda *a, **k: reads.append(a) or real_read(*a, **k))
    with caplog.at_level(logging.WARNING, logger="skbert._cache"):
        make_est(tiny_st_model, folder).fit(X, Y)
    assert len(train_calls) == 2
    assert "GiB of memory free now" in caplog.text
    assert reads == []


def test_report_shows_escape_codes_as_code_points(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="skbert._cache"):
        _cache._report(str(tmp_path / "entry"), "has X\x1b]0;PWNED\x07 in it")
    assert "XU+001B]0;PWNEDU+0007 in it" in caplog.text and "\x1b" not in caplog.text


def test_planted_escape_codes_reach_no_log_raw(tiny_st_model, corpus, tmp_path, caplog):
    """A value of a planted entry quoted in the warning is shown as code points (trial 23)."""
    import transformers

    if int(transformers.__version__.split(".")[0]) < 5:
        pytest.skip("transformers 4 builds a model whatever its config's dtype says")
    X, Y = corpus
    folder = str(tmp_path / "fits")
    make_est(tiny_st_model, folder).fit(X, Y)
    (name,) = entries(folder)
    def plant(doc):  # as anyone who can write the folder can: the digest recomputed
        doc["model"]["config"]["dtype"] = "X\x1b]0;PWNED\x07\x1b[31mRED"
        doc["entry_sha256"] = _cache.entry_sha256(doc)

    _doc(plant)(os.path.join(folder, name))
    with caplog.at_level(logging.WARNING, logger="skbert._cache"):
        make_est(tiny_st_model, folder).fit(X, Y)
    assert "builds no network" in caplog.text
    assert "U+001B]0;PWNEDU+0007" in caplog.text
    assert "\x1b" not in caplog.text and "\x07" not in caplog.text


@pytest.mark.parametrize("field, value", [
    ("history", [{"epoch": 1}]),                                 # no train_loss
    ("history", [{"epoch": 0, "train_loss": 0.5}]),              # epoch 0
    ("tuned_by_rule", {"f1": {"thresholds": [0.5] * 4,
                              "scores": {"f1_micro_" + "x" * 60: 0.5}}}),   # name too long
])
def test_entry_holding_what_a_folder_refuses_is_a_miss(field, value, tiny_st_model, corpus,
                                                       tmp_path, train_calls, caplog):
    """An entry resealed with a value the saved folder would refuse (its digest recomputed,
    as anyone who can write the folder can) is a miss, so the fit saves a loadable folder."""
    X, Y = corpus
    folder = str(tmp_path / "fits")
    make_est(tiny_st_model, folder).fit(X, Y)
    (name,) = entries(folder)

    def plant(doc):
        doc["fitted"][field] = value
        doc["entry_sha256"] = _cache.entry_sha256(doc)

    _doc(plant)(os.path.join(folder, name))
    with caplog.at_level(logging.WARNING, logger="skbert._cache"):
        clf = make_est(tiny_st_model, folder).fit(X, Y)
    assert len(train_calls) == 2 and name in caplog.text
    clf.save_pretrained(tmp_path / "saved")
    TransformerMultiLabelClassifier.from_pretrained(tmp_path / "saved")

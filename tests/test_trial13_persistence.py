"""skbert.json's ``history_`` is checked record by record (trial of the sixth session of
2026-12-07): a record of strings where skbert writes numbers loaded, re-saved, and failed
later in ``plot_history``; it is now refused on loading, naming the file and the fix."""

from __future__ import annotations

import pytest
from conftest import damaged_copy, make_corpus

from skbert import TransformerMultiLabelClassifier
from skbert._load_errors import SavedFileError

FIX = "save the model again with save_pretrained"


@pytest.fixture(scope="module")
def folder(tiny_st_model, tmp_path_factory):
    X, Y = make_corpus(16, seed=3)
    est = TransformerMultiLabelClassifier(
        tiny_st_model, precision="fp32", max_epochs=2, max_length=16, batch_size=8,
        device="cpu", random_state=0, fit_cache=False, threshold="auto").fit(X, Y)
    out = tmp_path_factory.mktemp("trial13") / "model"
    est.save_pretrained(out)
    return out


def _edit_first(key, value):
    def edit(settings):
        settings["history_"][0][key] = value
    return edit


@pytest.mark.parametrize("key, value", [
    ("epoch", "x"), ("epoch", 0), ("epoch", 1.5), ("epoch", True), ("epoch", None),
    ("train_loss", "x"), ("train_loss", None), ("train_loss", [1.0]),
    ("valid_loss", "0.3"), ("valid_f1", {"f1": 1}), ("lr", True), ("dur", "1s"),
    ("my_note", "n" * 1001), ("my_note", [1, 2]),
])
def test_a_history_record_of_the_wrong_kind_is_refused(folder, tmp_path, key, value):
    damaged = damaged_copy(folder, tmp_path, _edit_first(key, value))
    with pytest.raises(SavedFileError) as info:
        TransformerMultiLabelClassifier.from_pretrained(damaged)
    message = str(info.value)
    assert "'history_'" in message and "an int 'epoch'" in message
    assert str(damaged / "skbert.json") in message and FIX in message.lower()


@pytest.mark.parametrize("edit", [
    _edit_first("my_note", "a callback's note"), _edit_first("my_count", 3),
    _edit_first("valid_score", None), lambda s: s.__setitem__("history_", []),
], ids=["callback str", "callback number", "null score", "no epochs"])
def test_what_skbert_or_a_callback_writes_still_loads(folder, tmp_path, edit):
    if edit.__name__ == "<lambda>":  # an empty history needs best_epoch_ 0
        def edit(settings, _edit=edit):
            _edit(settings)
            settings["best_epoch_"] = 0
    clf = TransformerMultiLabelClassifier.from_pretrained(damaged_copy(folder, tmp_path, edit))
    assert clf.predict_proba(["a text"]).shape == (1, 4)


def test_a_saved_history_loads_as_it_was(folder):
    clf = TransformerMultiLabelClassifier.from_pretrained(folder)
    assert [r["epoch"] for r in clf.history_] == [1, 2]
    assert all(isinstance(r["train_loss"], float) for r in clf.history_)

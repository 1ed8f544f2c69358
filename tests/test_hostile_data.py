"""Hostile data (issue 20): huge texts, label names that collide, values nested too deep.

Each test is named after its item of issue 20. The hostile inputs are built here by
fixtures and helpers; nothing is committed as a blob. Ranks given different data
(item 11) are in tests/test_distributed.py, which starts the processes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import FILLER, make_corpus

from skbert import TransformerMultiLabelClassifier, _data
from skbert._validation import check_sample_weight, check_targets, check_texts

FAST = dict(max_epochs=1, batch_size=8, random_state=0, device="cpu", precision="fp32",
            fit_cache=False)
MILLION = 1_000_000


class TextSpy:
    """Wraps a tokenizer and records the longest text it was handed."""

    def __init__(self, tok):
        self._tok = tok
        self.longest = 0
        self.calls = 0

    def __call__(self, texts, **kwargs):
        self.calls += 1
        self.longest = max([self.longest, *map(len, texts)])
        return self._tok(texts, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tok, name)

    def __len__(self):
        return len(self._tok)


def deep_list(depth: int = 100_000) -> list:
    """A list nested ``depth`` deep: ``repr`` of it raises RecursionError."""
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def million_character_text() -> str:
    words = (FILLER * (MILLION // 20))
    return " ".join(words)[:MILLION]


@pytest.fixture(scope="module")
def corpus_small():
    return make_corpus(16, seed=0)


@pytest.fixture(scope="module")
def fitted(tiny_model, corpus_small):
    X, Y = corpus_small
    return {
        "truncate": TransformerMultiLabelClassifier(tiny_model, max_length=32, **FAST).fit(X, Y),
        "chunk": TransformerMultiLabelClassifier(tiny_model, max_length=32, long_text="chunk",
                                                 stride=4, max_chunks=3, **FAST).fit(X, Y),
    }


# ----------------------------------------------- item 7: a text's cost is bounded
@pytest.mark.parametrize("mode", ["truncate", "chunk"])
def test_item07_million_character_text_reads_only_the_budget(fitted, mode, monkeypatch):
    est = fitted[mode]
    spy = TextSpy(est.tokenizer_)
    monkeypatch.setattr(est, "tokenizer_", spy)
    huge = million_character_text()
    X = ["football match", huge, "pizza recipe"]
    proba = est.predict_proba(X)
    assert spy.calls and spy.longest < 20_000  # the tokenizer never read the million
    budget = _data.char_budget(est.max_length, est.long_text, est.max_chunks)
    assert spy.longest <= budget
    assert proba.shape == (3, 4) and np.isfinite(proba).all()
    # what is kept is what the whole text gives: the same as its first `budget` characters
    np.testing.assert_allclose(proba[1], est.predict_proba([huge[:budget]])[0], atol=1e-6)


def test_item07_million_character_text_in_training(tiny_model, corpus_small, monkeypatch):
    import importlib

    from skbert import _modeling

    X, Y = corpus_small
    X = [*X[:-1], million_character_text()]
    spies = []
    real = _modeling.load_tokenizer

    def spying(*args, **kwargs):
        spies.append(TextSpy(real(*args, **kwargs)))
        return spies[-1]

    for name in ("skbert._runner", "skbert._estimator"):  # where fit loads its tokenizer
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "load_tokenizer"):
            monkeypatch.setattr(module, "load_tokenizer", spying)
    est = TransformerMultiLabelClassifier(tiny_model, max_length=16, **FAST).fit(X, Y)
    assert spies and 0 < spies[0].longest < 20_000
    assert spies[0].longest <= _data.char_budget(16)
    assert est.predict_proba(X[:2]).shape == (2, 4)


def test_item07_budget_is_proportional_to_what_is_kept():
    assert _data.char_budget(512) == 512 * _data.CHARS_PER_TOKEN
    assert _data.char_budget(8) == _data.MIN_CHARS
    assert _data.char_budget(128, "chunk", 8) == 8 * 128 * _data.CHARS_PER_TOKEN
    assert _data.char_budget(128, "chunk", None) is None  # every window: every character
    assert _data.char_budget(128, "chunk", 8, stride=32) == (128 + 7 * 96) * _data.CHARS_PER_TOKEN
    texts = ["ab", "abcdef"]
    assert _data.cut_texts(texts, 4) == ["ab", "abcd"]
    assert _data.cut_texts(texts, 4, "left") == ["ab", "cdef"]
    assert _data.cut_texts(texts, 6) is texts and _data.cut_texts(texts, None) is texts


# --------------------------------------------------- item 10: label names collide
@pytest.mark.parametrize("columns, shown", [
    ([1, "1", "b", "c"], "1 (int) and '1' (str)"),
    ([np.int64(2), "a", "2", "c"], "2 (int) and '2' (str)"),
    (["x", "y", "7", 7], "'7' (str) and 7 (int)"),
])
def test_item10_label_names_equal_as_text_are_refused(tiny_model, corpus_small, columns,
                                                       shown):
    X, Y = corpus_small
    frame = pd.DataFrame(Y, columns=columns)
    with pytest.raises(ValueError, match="same name once written as text") as info:
        check_targets(frame, len(X))
    assert shown in str(info.value) and "Y.columns" in str(info.value)
    with pytest.raises(ValueError, match="same name once written as text"):
        TransformerMultiLabelClassifier(tiny_model, **FAST).fit(X, frame)


def test_item10_distinct_names_still_work(corpus_small):
    X, Y = corpus_small
    _, classes, _ = check_targets(pd.DataFrame(Y, columns=[1, "01", "b", "B"]), len(X))
    assert list(classes) == [1, "01", "b", "B"]


@pytest.mark.parametrize("columns, shown", [
    (["caf\u00e9", "cafe\u0301", "b", "c"], r"'caf\xe9' and 'cafe\u0301'"),  # NFC, NFD
    (["a", "b", "a ", "c"], "'a' and 'a '"),
    # a tab or newline is refused on its own now (test_trial13_estimator); no-break and
    # ideographic spaces are stripped too
    (["x", "\u00a0x\u3000", "y", "z"], r"'x' and '\xa0x\u3000'"),
])
def test_item10_label_names_that_look_the_same_are_refused(tiny_model, corpus_small, columns,
                                                            shown):
    X, Y = corpus_small
    frame = pd.DataFrame(Y, columns=columns)
    with pytest.raises(ValueError, match="look the same") as info:
        check_targets(frame, len(X))
    message = str(info.value)
    assert shown in message and "NFC" in message and "Y.columns" in message
    with pytest.raises(ValueError, match="look the same"):
        TransformerMultiLabelClassifier(tiny_model, **FAST).fit(X, frame)


def test_item10_names_that_only_differ_in_case_or_inner_spaces_still_work(corpus_small):
    X, Y = corpus_small
    columns = ["a", "A", "a b", "ab"]
    _, classes, _ = check_targets(pd.DataFrame(Y, columns=columns), len(X))
    assert list(classes) == columns


# ------------------------------------------ item 13: values nested too deep to print
def test_item13_deeply_nested_values_get_messages_not_recursion_errors():
    deep = deep_list()
    with pytest.raises(TypeError, match=r"X\[1\] is list \(\[\[\[\[\.\.\.\]\]\]\]\)"):
        check_texts(["pizza", deep])
    with pytest.raises(ValueError, match="sample_weight=.*not an array of numbers"):
        check_sample_weight(deep, 1)
    with pytest.raises(ValueError, match="could not be read as a 2-D array"):
        check_targets(deep, 1)
    name = tuple(deep_list(5000))
    frame = pd.DataFrame([[0, 1]], columns=pd.Index([name, "b"], tupleize_cols=False))
    with pytest.raises(ValueError, match="column name .* label names must be str or int"):
        check_targets(frame, 1)
    from skbert._validation import brief

    assert brief(deep) == "[[[[...]]]]"

    class Hostile:
        def __repr__(self):
            raise RuntimeError("no")

    assert brief(Hostile()).startswith("<Hostile")
    assert len(brief("x" * MILLION)) <= 50


def test_item13_deeply_nested_text_through_fit(tiny_model, corpus_small):
    X, Y = corpus_small
    with pytest.raises(TypeError, match=r"X\[15\] is list"):
        TransformerMultiLabelClassifier(tiny_model, **FAST).fit([*X[:-1], deep_list()], Y)


# ------------------------------------------------------ item 9: hostile weights
def test_item09_weights_out_of_range_are_scaled_not_overflowed():
    w = check_sample_weight([1e300, 0.0, 5e299], 3)
    assert w.dtype == np.float32 and np.isfinite(w).all() and 0.5 <= w.max() < 1
    np.testing.assert_allclose(w / w.max(), [1.0, 0.0, 0.5])
    tiny = check_sample_weight([1e-300, 2e-300], 2)
    np.testing.assert_allclose(tiny / tiny.max(), [0.5, 1.0])
    exact = check_sample_weight([3 * 2.0 ** 900, 2.0 ** 900], 2)  # a power of two: exact
    np.testing.assert_array_equal(exact, np.float32([0.75, 0.25]))
    normal = [0.25, 3.0, 1000.0]
    np.testing.assert_array_equal(check_sample_weight(normal, 3), np.float32(normal))
    for bad, where in (([1.0, np.inf], r"sample_weight\[1\]"),
                       ([-1.0, 1.0], r"sample_weight\[0\]"),
                       ([np.nan, 1.0], r"sample_weight\[0\]"), ([0.0, 0.0], "zero for every"),
                       (["1", "2"], "not an array of numbers"),
                       ([1 + 2j, 1.0], "not an array of numbers"),
                       ([[1.0], [2.0, 3.0]], "not an array of numbers")):
        with pytest.raises(ValueError, match=where):
            check_sample_weight(bad, 2)


def test_item09_huge_equal_weights_train_like_no_weights(tiny_model, corpus_small):
    X, Y = corpus_small
    plain = TransformerMultiLabelClassifier(tiny_model, **FAST).fit(X, Y, sample_weight=np.ones(16))
    huge = TransformerMultiLabelClassifier(tiny_model, **FAST).fit(
        X, Y, sample_weight=np.full(16, 1e300))
    # the same weighted means, up to float rounding (1e300 is not a power of two)
    np.testing.assert_allclose(huge.predict_proba(X), plain.predict_proba(X), atol=1e-5)
    np.testing.assert_allclose(huge.history_[0]["train_loss"], plain.history_[0]["train_loss"],
                               rtol=1e-5)


@pytest.mark.parametrize("side", ["right", "left"])
def test_item07_explain_reads_only_the_budget(fitted, side, monkeypatch):
    """explain tokenises as prediction does: a million characters cost the budget only."""
    from skbert._explain import explain

    est = fitted["truncate"]
    monkeypatch.setattr(est.tokenizer_, "truncation_side", side)
    spy = TextSpy(est.tokenizer_)
    monkeypatch.setattr(est, "tokenizer_", spy)
    huge = million_character_text()
    budget = _data.char_budget(est.max_length, est.long_text, est.max_chunks)  # either side
    [whole] = explain(est, [huge], labels="all", n_steps=2)
    assert spy.longest <= budget  # neither predict_proba nor explain's own tokenising read more
    kept = huge[:budget] if side == "right" else huge[-budget:]
    [part] = explain(est, [kept], labels="all", n_steps=2)
    assert whole.words == part.words and whole.words
    shift = 0 if side == "right" else len(huge) - len(kept)
    np.testing.assert_array_equal(whole.offsets, part.offsets + shift)
    assert all(huge[s:e] == w for (s, e), w in zip(whole.offsets, whole.words))
    np.testing.assert_allclose(whole.attributions, part.attributions, rtol=0, atol=1e-6)

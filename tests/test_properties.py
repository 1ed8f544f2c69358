"""Property-based tests (hypothesis) of the pure modules: thresholds, collation,
tokenisation windows and text validation.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FILLER, KEYWORDS
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.metrics import f1_score

from skbert import apply_thresholds, tune_thresholds
from skbert._data import Encoded, collate, encode
from skbert._validation import check_texts

SETTINGS = settings(max_examples=50, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

probas = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def proba_matrices(draw, min_rows=1, max_rows=30, max_labels=5):
    n = draw(st.integers(min_rows, max_rows))
    k = draw(st.integers(1, max_labels))
    # Mix arbitrary floats with values on the 0.01 grid the tuner searches.
    elems = st.one_of(probas, st.integers(0, 100).map(lambda i: i / 100))
    return draw(hnp.arrays(np.float64, (n, k), elements=elems))


@st.composite
def labelled_probas(draw):
    P = draw(proba_matrices(max_rows=40))
    Y = draw(hnp.arrays(np.int64, P.shape, elements=st.integers(0, 1)))
    return Y, P


# ---------------------------------------------------------------------- thresholds
@SETTINGS
@given(proba_matrices(), probas, probas)
def test_apply_thresholds_is_monotone(P, t1, t2):
    lo, hi = min(t1, t2), max(t1, t2)
    low, high = apply_thresholds(P, lo), apply_thresholds(P, hi)
    assert np.all(high <= low)  # raising t never adds a positive
    np.testing.assert_array_equal(low, (P >= lo).astype(int))


@SETTINGS
@given(proba_matrices(), st.floats(1.0, 10.0, exclude_min=True))
def test_apply_thresholds_extremes(P, above_one):
    assert apply_thresholds(P, 0.0).all()
    assert not apply_thresholds(np.minimum(P, 1 - 1e-12), 1.0).any()
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        apply_thresholds(P, above_one)
    assert set(np.unique(apply_thresholds(P, 0.5))) <= {0, 1}
    assert apply_thresholds(P, 0.5).shape == P.shape


@SETTINGS
@given(proba_matrices(), st.data())
def test_apply_thresholds_per_label_equals_each_column_scalar(P, data):
    t = data.draw(hnp.arrays(np.float64, P.shape[1], elements=probas))
    out = apply_thresholds(P, t)
    for j in range(P.shape[1]):
        np.testing.assert_array_equal(out[:, j], apply_thresholds(P[:, [j]], float(t[j]))[:, 0])
    np.testing.assert_array_equal(apply_thresholds(P, list(t)), out)


@SETTINGS
@given(proba_matrices(), st.integers(0, 3))
def test_apply_thresholds_wrong_length_names_both_numbers(P, extra):
    k = P.shape[1]
    n_t = k + 1 + extra
    with pytest.raises(ValueError, match=rf"has {n_t} values .* {k} labels"):
        apply_thresholds(P, np.full(n_t, 0.5))


@SETTINGS
@given(labelled_probas(), st.sampled_from(["f1", "f1_micro"]), st.integers(1, 4))
def test_tune_thresholds_in_unit_interval(YP, metric, min_positives):
    Y, P = YP
    t = tune_thresholds(Y, P, metric=metric, min_positives=min_positives)
    assert t.shape == (Y.shape[1],)
    assert np.all((t >= 0) & (t <= 1))
    # Labels too rare to tune keep the default.
    rare = Y.sum(axis=0) < min_positives
    np.testing.assert_array_equal(t[rare], 0.5)


def _f1(y, pred):
    return f1_score(y, pred, zero_division=0)


def _micro_f1(Y, pred):
    # By hand: sklearn's average="micro" on a single column is binary accuracy-like.
    Y, pred = np.asarray(Y) > 0, np.asarray(pred)
    tp = np.sum(Y & pred)
    denom = 2 * tp + np.sum(~Y & pred) + np.sum(Y & ~pred)
    return 2 * tp / denom if denom else 0.0


@SETTINGS
@given(labelled_probas(), st.integers(1, 3))
def test_tune_thresholds_f1_never_worse_than_half_per_label(YP, min_positives):
    Y, P = YP
    t = tune_thresholds(Y, P, metric="f1", min_positives=min_positives)
    for j in range(Y.shape[1]):
        assert _f1(Y[:, j], P[:, j] >= t[j]) >= _f1(Y[:, j], P[:, j] >= 0.5) - 1e-12


@SETTINGS
@given(labelled_probas(), st.integers(1, 3))
def test_tune_thresholds_f1_micro_never_worse_than_half(YP, min_positives):
    Y, P = YP
    t = tune_thresholds(Y, P, metric="f1_micro", min_positives=min_positives)
    assert _micro_f1(Y, P >= t) >= _micro_f1(Y, P >= 0.5) - 1e-12
    if Y.shape[1] > 1:  # sklearn agrees where Y is really multi-label
        assert _micro_f1(Y, P >= t) == pytest.approx(
            f1_score(Y, P >= t, average="micro", zero_division=0))


@SETTINGS
@given(hnp.arrays(np.int64, st.tuples(st.integers(0, 20), st.integers(1, 4)),
                  elements=st.integers(0, 1)), probas, probas)
def test_tune_thresholds_finds_a_perfect_split(Y, a, b):
    # When a threshold separates a label's positives from its negatives, F1 reaches 1.
    Y = np.vstack([np.ones((3, Y.shape[1]), dtype=np.int64), Y])  # >= 3 positives per label
    lo, hi = min(a, b), max(a, b)
    assume(hi - lo > 0.02)
    P = np.where(Y == 1, hi, lo)
    t = tune_thresholds(Y, P, metric="f1")
    for j in range(Y.shape[1]):
        assert _f1(Y[:, j], P[:, j] >= t[j]) == 1.0


def test_tune_thresholds_rejects_bad_input():
    with pytest.raises(ValueError, match="f1_micro"):
        tune_thresholds([[1, 0]], [[0.5, 0.5]], metric="accuracy")
    with pytest.raises(ValueError, match="must be"):
        tune_thresholds([[1, 0]], [[0.5, 0.5, 0.5]])


# ----------------------------------------------------------------------- collation
windows = st.lists(st.integers(5, 99), min_size=1, max_size=12)


@st.composite
def encoded_docs(draw):
    """An Encoded with 1-4 windows per text, and a batch of text indices."""
    per_doc = draw(st.lists(st.lists(windows, min_size=1, max_size=4), min_size=1, max_size=10))
    ids = [w for doc in per_doc for w in doc]
    offsets = np.concatenate([[0], np.cumsum([len(d) for d in per_doc])]).astype(np.int64)
    docs = draw(st.lists(st.integers(0, len(per_doc) - 1), min_size=1, max_size=len(per_doc),
                         unique=True))
    return per_doc, Encoded.from_windows(ids, offsets), np.asarray(docs)


@SETTINGS
@given(encoded_docs(), st.integers(0, 4))
def test_collate_masks_order_and_padding(case, pad_id):
    per_doc, enc, docs = case
    batch = collate(enc, docs, pad_id)
    rows = [w for d in docs for w in per_doc[d]]  # windows in batch order
    ids, mask, owner = batch["input_ids"], batch["attention_mask"], batch["window_doc"]
    assert ids.shape == mask.shape == (len(rows), max(len(r) for r in rows))
    assert mask.sum(dim=1).tolist() == [len(r) for r in rows]
    for i, r in enumerate(rows):
        assert ids[i, :len(r)].tolist() == r
        assert (ids[i, len(r):] == pad_id).all()
        assert mask[i, :len(r)].all() and not mask[i, len(r):].any()
    assert owner.tolist() == [j for j, d in enumerate(docs) for _ in per_doc[d]]


@SETTINGS
@given(encoded_docs())
def test_encoded_subset_and_lengths(case):
    per_doc, enc, docs = case
    sub = enc.subset(docs)
    assert sub.n_docs == len(docs)
    assert sub.input_ids == [w for d in docs for w in per_doc[d]]
    np.testing.assert_array_equal(sub.doc_lengths(),
                                  [sum(len(w) for w in per_doc[d]) for d in docs])


# ----------------------------------------------------------- tokenisation windows
VOCAB = sorted({w for ws in KEYWORDS.values() for w in ws} | set(FILLER)) + ["unknownword"]
texts_st = st.lists(st.lists(st.sampled_from(VOCAB), max_size=40).map(" ".join),
                    min_size=1, max_size=6)


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


@SETTINGS
@given(texts=texts_st, max_length=st.integers(8, 20), data=st.data())
def test_chunk_windows_fit_and_cover_every_token(tokenizer, texts, max_length, data):
    room = max_length - tokenizer.num_special_tokens_to_add()
    stride = data.draw(st.integers(0, room - 1), label="stride")
    enc = encode(tokenizer, texts, max_length=max_length, long_text="chunk", stride=stride)
    assert enc.n_docs == len(texts)
    assert all(len(w) <= max_length for w in enc.input_ids)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    for i, text in enumerate(texts):
        full = tokenizer(text, add_special_tokens=False)["input_ids"]
        wins = enc.input_ids[enc.doc_offsets[i]:enc.doc_offsets[i + 1]]
        assert len(wins) >= 1
        assert all(w[0] == cls and w[-1] == sep for w in wins)
        body = [w[1:-1] for w in wins]
        rebuilt = list(body[0])
        for b in body[1:]:
            if stride:
                assert b[:stride] == rebuilt[-stride:]  # consecutive windows overlap by stride
            rebuilt += b[stride:]
        assert rebuilt == full  # every token is in some window, in order


@SETTINGS
@given(texts=texts_st, max_length=st.integers(8, 20))
def test_truncate_keeps_one_window_per_text(tokenizer, texts, max_length):
    enc = encode(tokenizer, texts, max_length=max_length)
    assert len(enc.input_ids) == enc.n_docs == len(texts)
    for text, ids in zip(texts, enc.input_ids):
        full = tokenizer(text)["input_ids"]
        assert len(ids) == min(len(full), max_length)
        assert ids[:-1] == full[:len(ids) - 1]


@SETTINGS
@given(texts=texts_st, max_chunks=st.integers(1, 3))
def test_max_chunks_caps_windows_per_text(tokenizer, texts, max_chunks):
    enc = encode(tokenizer, texts, max_length=8, long_text="chunk", stride=1,
                 max_chunks=max_chunks)
    assert enc.n_docs == len(texts)
    assert np.all(np.diff(enc.doc_offsets) >= 1)
    assert np.all(np.diff(enc.doc_offsets) <= max_chunks)


# ---------------------------------------------------------------------- validation
@SETTINGS
@given(st.lists(st.text(max_size=10), min_size=1, max_size=10))
def test_check_texts_passes_any_list_of_str(texts):
    out = check_texts(texts)
    assert out == texts and all(type(x) is str for x in out)
    assert check_texts(tuple(texts)) == texts
    assert check_texts(np.array(texts, dtype=object)) == texts


non_str = st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.binary(),
                    st.lists(st.text(max_size=3), max_size=2), st.booleans())


@SETTINGS
@given(st.lists(st.text(max_size=10), max_size=15), non_str, st.data())
def test_check_texts_reports_index_of_non_str(texts, bad, data):
    i = data.draw(st.integers(0, len(texts)), label="index")
    X = texts[:i] + [bad] + texts[i:]
    missing = bad is None or (isinstance(bad, float) and bad != bad)
    what = "a missing value" if missing else type(bad).__name__
    with pytest.raises(TypeError, match=rf"X\[{i}\] is {what} "):
        check_texts(X)

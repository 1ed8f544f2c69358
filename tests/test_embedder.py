"""TransformerEmbedder: frozen-encoder embeddings for any scikit-learn model."""

from __future__ import annotations

import pickle

import joblib
import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks as ec
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.fixes import parse_version

from skbert import SkbertWarning, TransformerEmbedder
from skbert._modeling import DEFAULT_MODEL

FP32 = dict(device="cpu", precision="fp32")


def make(path, **kwargs):
    return TransformerEmbedder(path, **{**FP32, **kwargs})


def manual_embeddings(path, texts, pooling, normalize=True):
    """The reference: a plain AutoModel forward, padded to the longest text."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    batch = tok(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        hidden = model(input_ids=batch["input_ids"],
                       attention_mask=batch["attention_mask"]).last_hidden_state
    if pooling == "mean":
        m = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * m).sum(1) / m.sum(1)
    else:
        pooled = hidden[:, 0]
    if normalize:
        pooled = torch.nn.functional.normalize(pooled, dim=1)
    return pooled.numpy()


@pytest.fixture(scope="module")
def fitted_st(tiny_st_model):
    return make(tiny_st_model).fit(["x"])


def test_fit_sets_frozen_encoder_and_attributes(tiny_model, tiny_st_model):
    emb = make(tiny_st_model)
    assert emb.fit(["some text"]) is emb
    assert emb.pooling_ == "mean"  # a sentence-transformers checkpoint
    assert emb.device_ == torch.device("cpu") and emb.precision_ == "fp32"
    assert emb.n_features_out_ == 32
    assert not emb.model_.training
    assert not any(p.requires_grad for p in emb.model_.parameters())
    assert emb.tokenizer_.is_fast
    assert make(tiny_model).fit(["x"]).pooling_ == "cls"
    assert make(tiny_model, pooling="mean").fit(["x"]).pooling_ == "mean"


def test_transform_shape_dtype_and_unit_norm(fitted_st, corpus):
    X, _ = corpus
    Z = fitted_st.transform(X)
    assert Z.shape == (len(X), 32) and Z.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, rtol=1e-5)
    raw = clone(fitted_st).set_params(normalize=False).fit(X).transform(X)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), Z, atol=1e-6)


def test_input_order_is_preserved(fitted_st, corpus):
    """Batches are sorted by length inside; the output must come back in input order."""
    X, _ = corpus
    X = [x + " news" * (i % 5) for i, x in enumerate(X)]  # varied lengths
    perm = np.random.default_rng(0).permutation(len(X))
    Z = fitted_st.set_params(batch_size=7).transform(X)
    Zp = fitted_st.transform([X[i] for i in perm])
    np.testing.assert_allclose(Zp, Z[perm], atol=1e-6)
    # Batch size does not change the result (padding is masked out).
    np.testing.assert_allclose(fitted_st.set_params(batch_size=64).transform(X), Z, atol=1e-5)


@pytest.mark.parametrize("fixture, pooling", [("tiny_st_model", "mean"), ("tiny_model", "cls")])
@pytest.mark.parametrize("normalize", [True, False])
def test_matches_a_manual_forward(request, corpus, fixture, pooling, normalize):
    path = request.getfixturevalue(fixture)
    X, _ = corpus
    Z = make(path, normalize=normalize, batch_size=5).fit(X).transform(X)
    np.testing.assert_allclose(Z, manual_embeddings(path, X, pooling, normalize), atol=1e-5)


def test_truncates_at_max_length(tiny_st_model):
    long = " ".join(["football"] * 300)
    emb = make(tiny_st_model, max_length=16).fit([long])
    Z = emb.transform([long, " ".join(["football"] * 14)])  # 14 words + CLS + SEP = 16 tokens
    np.testing.assert_allclose(Z[0], Z[1], atol=1e-6)


def test_transform_streams_in_chunks(fitted_st, corpus, monkeypatch):
    import skbert._embedder as mod

    X, _ = corpus
    Z = fitted_st.transform(X)
    monkeypatch.setattr(mod, "TRANSFORM_CHUNK", 5)
    np.testing.assert_allclose(fitted_st.transform(X), Z, atol=1e-6)
    # A datasets.Dataset is read slice by slice and gives the same embeddings.
    from datasets import Dataset

    np.testing.assert_allclose(fitted_st.transform(Dataset.from_dict({"text": X})), Z,
                               atol=1e-6)


def test_pipeline_with_a_classifier_on_top(tiny_st_model, corpus):
    X, Y = corpus
    pipe = make_pipeline(make(tiny_st_model), OneVsRestClassifier(LogisticRegression(C=10)))
    pipe.fit(X, Y)
    assert pipe.predict(X).shape == Y.shape
    assert pipe.predict_proba(X).shape == Y.shape
    # The literal nesting (one embedder per label) works too, and agrees.
    nested = MultiOutputClassifier(make_pipeline(make(tiny_st_model),
                                                 LogisticRegression(C=10))).fit(X, Y)
    np.testing.assert_array_equal(nested.predict(X), pipe.predict(X))


def test_feature_names_and_pandas_output(fitted_st):
    names = fitted_st.get_feature_names_out()
    assert names.tolist() == [f"embedding{i}" for i in range(32)]
    pd = pytest.importorskip("pandas")
    emb = clone(fitted_st).set_output(transform="pandas").fit(["a"])
    frame = emb.transform(pd.Series(["football match", "pizza"], index=[10, 20]))
    assert list(frame.columns[:2]) == ["embedding0", "embedding1"]
    if parse_version(sklearn.__version__) >= parse_version("1.8"):
        # scikit-learn keeps a Series' index in pandas output from 1.8 on (a DataFrame's always)
        assert frame.index.tolist() == [10, 20]
    frame = emb.transform(pd.DataFrame({"text": ["football match", "pizza"]}, index=[10, 20]))
    assert frame.index.tolist() == [10, 20]


def test_not_fitted_errors(tiny_st_model):
    emb = make(tiny_st_model)
    with pytest.raises(NotFittedError):
        emb.transform(["a"])
    with pytest.raises(NotFittedError):
        emb.get_feature_names_out()


def test_bad_input_and_parameter_errors(fitted_st, tiny_st_model):
    with pytest.raises(TypeError, match=r"Wrap a single text in a list"):
        fitted_st.transform("just one text")
    with pytest.raises(TypeError, match=r"X\[1\] is int"):
        fitted_st.transform(["a", 3])
    with pytest.raises(TypeError, match="Wrap a single text"):
        make(tiny_st_model).fit("just one text")
    with pytest.raises(InvalidParameterError, match="'pooling' parameter"):
        make(tiny_st_model, pooling="max").fit(["a"])
    with pytest.raises(InvalidParameterError, match="'batch_size' parameter"):
        make(tiny_st_model, batch_size=0).fit(["a"])
    with pytest.raises(ValueError, match="max_length<=512"):
        make(tiny_st_model, max_length=1024).fit(["a"])


def test_clone_get_params_and_defaults():
    emb = TransformerEmbedder()
    assert emb.get_params() == {
        "model_name_or_path": DEFAULT_MODEL, "pooling": "auto", "max_length": 128,
        "batch_size": 64, "normalize": True, "device": "auto", "precision": "auto",
        "compile": False, "model_kwargs": None, "tokenizer_kwargs": None}
    assert set(TransformerEmbedder._parameter_constraints) == set(emb.get_params())
    other = clone(TransformerEmbedder("x", batch_size=3, model_kwargs={"a": 1}))
    assert other.get_params()["batch_size"] == 3 and other.model_kwargs == {"a": 1}


@pytest.mark.parametrize("check", [
    ec.check_estimator_cloneable, ec.check_estimator_repr, ec.check_no_attributes_set_in_init,
    ec.check_get_params_invariance, ec.check_set_params,
    ec.check_parameters_default_constructible, ec.check_do_not_raise_errors_in_init_or_set_params,
    ec.check_mixin_order, ec.check_valid_tag_types, ec.check_estimator_tags_renamed,
], ids=lambda c: c.__name__)
def test_sklearn_checks_that_do_not_fit(check):
    check("TransformerEmbedder", TransformerEmbedder())


def test_tags():
    tags = TransformerEmbedder().__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array
    assert tags.requires_fit and tags.transformer_tags is not None
    assert not tags.target_tags.required


def test_joblib_round_trip_is_exact(tmp_path, tiny_st_model, corpus):
    X, _ = corpus
    emb = make(tiny_st_model).fit(X)
    Z = emb.transform(X)
    joblib.dump(emb, tmp_path / "emb.joblib")
    assert (tmp_path / "emb.joblib").stat().st_size < 10_000  # no weights inside
    loaded = joblib.load(tmp_path / "emb.joblib")
    np.testing.assert_array_equal(loaded.transform(X), Z)
    assert loaded.pooling_ == "mean" and loaded.n_features_out_ == 32
    assert loaded.model_ is not emb.model_
    assert "model_" in emb.__dict__  # pickling did not strip the live object
    # An unfitted one round-trips as unfitted.
    with pytest.raises(NotFittedError):
        pickle.loads(pickle.dumps(make(tiny_st_model))).transform(["a"])


def test_pipeline_pickles(tiny_st_model, corpus):
    X, Y = corpus
    pipe = make_pipeline(make(tiny_st_model), OneVsRestClassifier(LogisticRegression()))
    pipe.fit(X, Y)
    loaded = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))


def test_unpickle_warns_when_the_checkpoint_changed(tmp_path, corpus):
    from conftest import build_tiny_bert

    folder = tmp_path / "model"
    folder.mkdir()
    build_tiny_bert(folder)
    X, _ = corpus
    blob = pickle.dumps(make(str(folder)).fit(X))
    from transformers import BertModel

    model = BertModel.from_pretrained(folder)
    with torch.no_grad():
        model.embeddings.word_embeddings.weight.mul_(2.0)
    model.save_pretrained(folder)
    with pytest.warns(SkbertWarning, match="differ from those"):
        pickle.loads(blob)


def test_unpickle_falls_back_to_cpu(tiny_st_model, monkeypatch):
    """A pickle made with device='cuda' loads on a machine without a GPU."""
    from skbert import DeviceWarning

    emb = make(tiny_st_model).fit(["a"])
    emb.device = "cuda"  # as if fitted with device="cuda" on a GPU machine
    blob = pickle.dumps(emb)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning, match="loading it on the CPU"):
        loaded = pickle.loads(blob)
    assert loaded.device_ == torch.device("cpu")
    assert loaded.transform(["a"]).shape == (1, 32)


def test_pipeline_memory_embeds_training_texts_once(tmp_path, tiny_st_model, corpus,
                                                     monkeypatch):
    """The docs advise Pipeline(memory=...) for a grid search over the classifier."""
    X, Y = corpus
    calls = []
    real = TransformerEmbedder._embed

    def counting(self, texts):
        calls.append(len(texts))
        return real(self, texts)

    monkeypatch.setattr(TransformerEmbedder, "_embed", counting)
    pipe = make_pipeline(make(tiny_st_model), OneVsRestClassifier(LogisticRegression()),
                         memory=str(tmp_path))
    first = pipe.fit(X, Y).predict_proba(X)
    n_first = len(calls)
    second = clone(pipe).set_params(onevsrestclassifier__estimator__C=0.5).fit(X, Y)
    assert len(calls) == n_first  # the cached fit_transform: no new embedding
    assert second.predict_proba(X).shape == first.shape


def test_embedder_keeps_the_mean_pooling_of_a_folder_skbert_saved(tiny_model, corpus, tmp_path):
    import os

    from skbert import TransformerMultiLabelClassifier

    X, Y = corpus
    clf = TransformerMultiLabelClassifier(tiny_model, pooling="mean", max_epochs=1,
                                          random_state=0, device="cpu").fit(X, Y)
    clf.save_pretrained(tmp_path / "m")
    import shutil

    for name in ("modules.json", "sentence_bert_config.json",  # the older folder layout
                 "config_sentence_transformers.json"):
        if (tmp_path / "m" / name).exists():
            os.remove(tmp_path / "m" / name)
    for sub in ("1_Pooling", "2_Dense"):
        shutil.rmtree(tmp_path / "m" / sub, ignore_errors=True)
    emb = TransformerEmbedder(str(tmp_path / "m"), device="cpu").fit(X)
    assert emb.pooling_ == "mean"


@pytest.mark.parametrize("forced", ["bf16", "fp32"])
def test_cpu_precision_auto_is_fp32_as_for_the_classifier(tiny_st_model, corpus, monkeypatch,
                                                          forced):
    """transform is prediction: "auto" follows the classifier's rule (issue 20 item 19)."""
    from skbert._utils import CPU_PRECISION_ENV

    X, _ = corpus
    monkeypatch.setenv(CPU_PRECISION_ENV, forced)  # as on a CPU with (or without) bf16
    emb = TransformerEmbedder(tiny_st_model, device="cpu").fit(X)
    assert emb.precision_ == "fp32"
    np.testing.assert_array_equal(emb.transform(X), make(tiny_st_model).fit(X).transform(X))
    assert pickle.loads(pickle.dumps(emb)).precision_ == "fp32"
    bf16 = TransformerEmbedder(tiny_st_model, device="cpu", precision="bf16").fit(X)
    assert bf16.precision_ == "bf16"
    with pytest.raises(ValueError, match="fp16.*only supported on GPUs"):
        TransformerEmbedder(tiny_st_model, device="cpu", precision="fp16").fit(X)


def test_transform_runs_the_classifier_prediction_loop(fitted_st, corpus, monkeypatch):
    """One inference loop (issue 21): the embedder's batches go through predict_logits."""
    import skbert._embedder as mod

    X, _ = corpus
    calls = []
    real = mod.predict_logits
    monkeypatch.setattr(mod, "predict_logits",
                        lambda *a, **k: calls.append(a[3].predict_batch_size) or real(*a, **k))
    Z = fitted_st.transform(X)
    assert calls == [fitted_st.batch_size] and Z.shape == (len(X), 32)
    np.testing.assert_allclose(Z, manual_embeddings(fitted_st.model_name_or_path, X, "mean"),
                               atol=1e-5)

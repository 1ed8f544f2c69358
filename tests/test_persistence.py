"""Pickle/joblib round trips, Hugging Face folders, deep copies.

Each test fits its own estimator (a fraction of a second with the tiny model),
so no test depends on another's side effects.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import LABELS
from sklearn.base import clone
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

import skbert
from skbert import DeviceWarning, SkbertWarning, TransformerMultiLabelClassifier
from skbert._utils import resolve_device

FAST = dict(max_epochs=2, batch_size=8, learning_rate=3e-3, random_state=0, device="cpu")


def make_est(path, **kwargs):
    return TransformerMultiLabelClassifier(path, **{**FAST, **kwargs})




@pytest.fixture
def fitted(tiny_st_model, corpus):
    """A freshly fitted estimator (mean pooling, named labels, per-label threshold)."""
    X, Y = corpus
    est = make_est(tiny_st_model, threshold=[0.3, 0.4, 0.5, 0.6])
    return est.fit(X, pd.DataFrame(Y, columns=LABELS))


def _assert_same_fitted(a_proba, a, b, X):
    np.testing.assert_array_equal(b.predict_proba(X), a_proba)
    np.testing.assert_array_equal(np.asarray(b.threshold), np.asarray(a.threshold))
    np.testing.assert_array_equal(b.classes_, a.classes_)
    assert b.pooling_ == a.pooling_
    assert b.n_epochs_ == a.n_epochs_ and b.best_epoch_ == a.best_epoch_


# ------------------------------------------------------------------ pickle, joblib
def test_joblib_round_trip(fitted, corpus, tmp_path):
    X, _ = corpus
    proba, pred = fitted.predict_proba(X), fitted.predict(X)
    joblib.dump(fitted, tmp_path / "est.joblib")
    loaded = joblib.load(tmp_path / "est.joblib")
    _assert_same_fitted(proba, fitted, loaded, X)
    np.testing.assert_array_equal(loaded.predict(X), pred)
    assert loaded.predict(X).dtype == pred.dtype
    assert loaded.device_ == torch.device("cpu")


def test_pickle_round_trip_keeps_threshold_and_classes(fitted, corpus):
    X, _ = corpus
    proba, pred = fitted.predict_proba(X), fitted.predict(X)
    loaded = pickle.loads(pickle.dumps(fitted))
    _assert_same_fitted(proba, fitted, loaded, X)
    assert list(loaded.classes_) == LABELS
    np.testing.assert_array_equal(loaded.predict(X), pred)
    # The loaded estimator is an ordinary estimator: it clones, and its threshold
    # can still be changed without refitting.
    assert joblib.hash(clone(loaded).get_params()) == joblib.hash(loaded.get_params())
    loaded.set_params(threshold=0.0)
    assert loaded.predict(X).all()


def test_pickle_holds_cpu_weights_tokenizer_config_and_version(fitted):
    state = fitted.__getstate__()
    assert state["_skbert_version"] == skbert.__version__
    saved = state["model_"]
    assert isinstance(saved, dict) and "tokenizer_" not in state
    assert {"config", "state_dict", "tokenizer_files"} <= set(saved)
    assert all(t.device.type == "cpu" for t in saved["state_dict"].values())


@pytest.mark.parametrize("how", ["pickle", "joblib", "deepcopy"])
def test_pickling_leaves_the_original_usable(how, fitted, corpus, tmp_path):
    X, _ = corpus
    proba = fitted.predict_proba(X)
    model = fitted.model_
    if how == "pickle":
        pickle.dumps(fitted)
    elif how == "joblib":
        joblib.dump(fitted, tmp_path / "est.joblib")
    else:
        copy.deepcopy(fitted)
    assert fitted.model_ is model
    assert not hasattr(fitted, "_skbert_version")
    np.testing.assert_array_equal(fitted.predict_proba(X), proba)


def test_load_in_a_fresh_subprocess(fitted, corpus, tmp_path):
    X, _ = corpus
    np.save(tmp_path / "expected.npy", fitted.predict_proba(X))
    (tmp_path / "texts.json").write_text(json.dumps(X))
    joblib.dump(fitted, tmp_path / "est.joblib")
    script = textwrap.dedent(f"""
        import json, warnings
        import joblib, numpy as np
        warnings.simplefilter("error")  # no version or device warning on the same machine
        est = joblib.load({str(tmp_path / "est.joblib")!r})
        X = json.loads(open({str(tmp_path / "texts.json")!r}).read())
        np.save({str(tmp_path / "got.npy")!r}, est.predict_proba(X))
        print(type(est).__module__, list(est.classes_))
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.split()[0] == "skbert._estimator"
    np.testing.assert_array_equal(np.load(tmp_path / "got.npy"), np.load(tmp_path / "expected.npy"))


def test_version_mismatch_warns(fitted, corpus):
    X, _ = corpus
    proba = fitted.predict_proba(X)
    state = fitted.__getstate__()
    state["_skbert_version"] = "0.0.1"
    new = TransformerMultiLabelClassifier.__new__(TransformerMultiLabelClassifier)
    with pytest.warns(SkbertWarning, match=r"skbert 0\.0\.1.*save_pretrained"):
        new.__setstate__(state)
    np.testing.assert_array_equal(new.predict_proba(X), proba)


def test_same_version_does_not_warn(fitted):
    import warnings

    blob = pickle.dumps(fitted)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pickle.loads(blob)


def test_cuda_pickle_loads_on_cpu(fitted, corpus, monkeypatch):
    """Simulated as skorch does (test_net.py:456-460): no real GPU needed."""
    X, _ = corpus
    proba = fitted.predict_proba(X)
    fitted.device = "cuda"  # as if it had been trained with device="cuda"
    blob = pickle.dumps(fitted)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError):  # the patch is effective
        resolve_device("cuda")
    with pytest.warns(DeviceWarning, match="loading it on the CPU.*device='cpu'"):
        loaded = pickle.loads(blob)
    assert loaded.device_ == torch.device("cpu")
    assert next(loaded.model_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)


# ------------------------------------------------------- save_pretrained folders
@pytest.fixture(params=["mean", "cls"])
def fitted_pooling(request, tiny_st_model, tiny_model, corpus):
    X, Y = corpus
    path = tiny_st_model if request.param == "mean" else tiny_model
    est = make_est(path, threshold=[0.3, 0.4, 0.5, 0.6])
    est.fit(X, pd.DataFrame(Y, columns=LABELS))
    assert est.pooling_ == request.param
    return est


def test_save_pretrained_round_trip(fitted_pooling, corpus, tmp_path):
    X, _ = corpus
    est = fitted_pooling
    proba, pred = est.predict_proba(X), est.predict(X)
    folder = tmp_path / "model"
    est.save_pretrained(folder)
    files = set(os.listdir(folder))
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "skbert.json"} <= files
    assert not any(f.endswith((".bin", ".pkl", ".pickle", ".joblib")) for f in files)
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {str(i): name for i, name in enumerate(LABELS)}

    loaded = TransformerMultiLabelClassifier.from_pretrained(folder, device="cpu")
    _assert_same_fitted(proba, est, loaded, X)
    assert list(loaded.classes_) == LABELS
    np.testing.assert_array_equal(loaded.predict(X), pred)
    assert loaded.predict(X).dtype == pred.dtype
    assert loaded.history_ == json.loads(json.dumps(est.history_))
    for name in ("max_length", "learning_rate", "pooling", "long_text"):
        assert loaded.get_params()[name] == est.get_params()[name]


def test_save_pretrained_keeps_tuned_thresholds(tiny_st_model, corpus, tmp_path):
    X, Y = corpus
    est = make_est(tiny_st_model, threshold="auto", validation_fraction=0.25).fit(X, Y)
    est.save_pretrained(tmp_path / "m")
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m", device="cpu")
    assert loaded.threshold == "auto"
    np.testing.assert_allclose(loaded.thresholds_, est.thresholds_)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    np.testing.assert_array_equal(loaded.classes_, est.classes_)


def test_pickle_round_trip_both_poolings(fitted_pooling, corpus):
    X, _ = corpus
    proba = fitted_pooling.predict_proba(X)
    logits = fitted_pooling.decision_function(X)
    loaded = pickle.loads(pickle.dumps(fitted_pooling))
    _assert_same_fitted(proba, fitted_pooling, loaded, X)
    np.testing.assert_array_equal(loaded.decision_function(X), logits)
    assert type(loaded.model_.backbone).__name__ == (
        "BertModel" if loaded.pooling_ == "mean" else "BertForSequenceClassification")


def test_saved_folder_loads_with_transformers_automodel(fitted_pooling, tmp_path):
    est = fitted_pooling
    est.save_pretrained(tmp_path / "m")
    encoder = AutoModel.from_pretrained(tmp_path / "m")
    base = est.model_.backbone if est.pooling_ == "mean" else est.model_.backbone.bert
    expected = base.state_dict()
    got = encoder.state_dict()
    assert set(got) == set(expected)
    for k, v in got.items():
        assert torch.equal(v, expected[k].cpu()), k


@pytest.mark.parametrize("precision, tol", [("fp32", 1e-5), ("bf16", 3e-2)])
def test_cls_folder_loads_as_sequence_classifier(tiny_model, corpus, tmp_path, precision, tol):
    X, Y = corpus
    est = make_est(tiny_model, precision=precision).fit(X, pd.DataFrame(Y, columns=LABELS))
    assert est.pooling_ == "cls"
    est.save_pretrained(tmp_path / "m")
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "m").eval()
    assert model.config.id2label == dict(enumerate(LABELS))
    assert model.config.problem_type == "multi_label_classification"
    tok = AutoTokenizer.from_pretrained(tmp_path / "m")
    enc = tok(X, padding=True, truncation=True, max_length=est.max_length, return_tensors="pt")
    with torch.inference_mode():
        logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
    # transformers runs fp32 here; skbert's bf16 autocast gets bf16 tolerances
    np.testing.assert_allclose(logits.numpy(), est.decision_function(X), atol=tol, rtol=tol)


def test_from_pretrained_on_a_plain_checkpoint_folder(tiny_model):
    with pytest.raises(FileNotFoundError, match=r"save_pretrained.*model_name_or_path"):
        TransformerMultiLabelClassifier.from_pretrained(tiny_model)


def test_save_pretrained_with_randomstate_random_state(tiny_st_model, corpus, tmp_path):
    X, Y = corpus
    est = make_est(tiny_st_model, max_epochs=1, random_state=np.random.RandomState(0))
    est.fit(X, Y)
    est.save_pretrained(tmp_path / "m")
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m", device="cpu")
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))


# ------------------------------------------------------------------------ deepcopy
def test_deepcopy_predicts_the_same_and_shares_no_storage(fitted, corpus):
    X, _ = corpus
    proba = fitted.predict_proba(X)
    original_model = fitted.model_  # kept aside: deepcopy currently breaks the original
    dup = copy.deepcopy(fitted)
    np.testing.assert_array_equal(dup.predict_proba(X), proba)
    assert dup.model_ is not original_model
    ptrs = {t.data_ptr() for t in original_model.state_dict().values()}
    assert not ptrs & {t.data_ptr() for t in dup.model_.state_dict().values()}
    np.testing.assert_array_equal(np.asarray(dup.threshold), [0.3, 0.4, 0.5, 0.6])
    assert list(dup.classes_) == LABELS


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_pickle_keeps_the_attention_implementation(tiny_st_model, corpus, attn):
    # a config dict does not carry it, and transformers 4.x rebuilds eager attention from one
    X, Y = corpus
    est = make_est(tiny_st_model, max_epochs=1, model_kwargs={"attn_implementation": attn})
    est.fit(X, Y)
    back = pickle.loads(pickle.dumps(est))
    assert back.model_.backbone.config._attn_implementation == attn
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))


def test_pickle_falls_back_where_its_attention_is_missing(fitted, corpus):
    X, _ = corpus
    state = fitted.__getstate__()
    key = next(k for k, v in state.items() if isinstance(v, dict) and "attn_implementation" in v)
    state[key] = {**state[key], "attn_implementation": "no_such_attention"}
    back = TransformerMultiLabelClassifier.__new__(TransformerMultiLabelClassifier)
    back.__setstate__(state)
    assert back.model_.backbone.config._attn_implementation != "no_such_attention"
    np.testing.assert_allclose(back.predict_proba(X), fitted.predict_proba(X), atol=1e-6)

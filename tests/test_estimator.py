"""The output contract and the behaviour of TransformerMultiLabelClassifier.

Text rewrites of scikit-learn's fitting checks (estimator_checks.py:3285-3414 for the
multi-label output format), training-loop behaviour (early stopping, interruption,
convergence warnings), predict-time thresholds, and every bad-input path with the
fix-it part of its message.
"""

from __future__ import annotations

import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from conftest import LABELS
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

import skbert
from skbert import (
    SkbertWarning,
    TransformerMultiLabelClassifier,
    _estimator,
    _runner,
    _training,
)
from skbert._data import encode

FAST = dict(max_epochs=2, batch_size=8, learning_rate=3e-3, random_state=0, device="cpu")


def make_est(path, **kwargs):
    return TransformerMultiLabelClassifier(path, **{**FAST, **kwargs})




@pytest.fixture(scope="module")
def fitted_module(tiny_st_model, corpus):
    X, Y = corpus
    return make_est(tiny_st_model).fit(X, Y)


@pytest.fixture
def fitted(fitted_module):
    """The module's fitted estimator; parameters changed by a test are restored after it."""
    params = fitted_module.get_params(deep=False)
    yield fitted_module
    fitted_module.set_params(**params)




# ------------------------------------------------------------------ output contract
Y_VARIANTS = {
    "int64": (lambda Y: Y, np.int64),
    "int32": (lambda Y: Y.astype(np.int32), np.int32),
    "bool": (lambda Y: Y.astype(bool), np.bool_),
    "float64": (lambda Y: Y.astype(np.float64), np.float64),
    "float32": (lambda Y: Y.astype(np.float32), np.float32),
    "sparse_csr": (lambda Y: sp.csr_matrix(Y), np.int64),
    "list_of_rows": (lambda Y: Y.tolist(), np.int64),
}


@pytest.mark.parametrize("kind", list(Y_VARIANTS))
def test_fit_returns_self_and_predict_matches_y_shape_and_dtype(kind, tiny_st_model, corpus):
    X, Y = corpus
    convert, dtype = Y_VARIANTS[kind]
    est = make_est(tiny_st_model)
    assert est.fit(X, convert(Y)) is est
    pred = est.predict(X)
    assert type(pred) is np.ndarray
    assert pred.shape == Y.shape
    assert pred.dtype == dtype
    assert set(np.unique(pred)) <= {0, 1}
    np.testing.assert_array_equal(est.classes_, np.arange(Y.shape[1]))
    for attr in ("model_", "tokenizer_", "history_", "n_epochs_", "best_epoch_", "device_"):
        assert hasattr(est, attr), attr
    assert not hasattr(est, "n_features_in_")


def test_dataframe_y_column_names_become_classes(tiny_st_model, corpus):
    X, Y = corpus
    est = make_est(tiny_st_model).fit(X, pd.DataFrame(Y, columns=LABELS))
    assert list(est.classes_) == LABELS
    pred = est.predict(X)
    assert type(pred) is np.ndarray and pred.shape == Y.shape and pred.dtype == np.int64


def test_predict_proba_contract(fitted, corpus):
    X, Y = corpus
    proba = fitted.predict_proba(X)
    assert type(proba) is np.ndarray
    assert proba.shape == Y.shape
    assert np.issubdtype(proba.dtype, np.floating)
    assert np.all(proba > 0) and np.all(proba < 1)


def test_sigmoid_of_decision_function_is_predict_proba(fitted, corpus):
    X, _ = corpus
    logits = fitted.decision_function(X)
    assert logits.shape == (len(X), len(LABELS))
    np.testing.assert_allclose(1 / (1 + np.exp(-logits.astype(np.float64))),
                               fitted.predict_proba(X), rtol=1e-6, atol=1e-9)
    # Logits are not probabilities: some fall outside [0, 1].
    assert (logits < 0).any() or (logits > 1).any()


def test_default_threshold_is_half(fitted, corpus):
    X, _ = corpus
    proba, pred = fitted.predict_proba(X), fitted.predict(X)
    above = proba >= 0.5
    answered = above.any(axis=1)
    np.testing.assert_array_equal(pred[answered], above[answered])
    # min_labels="auto": every training text has a label, so a text with none above 0.5
    # gets its most probable one
    assert fitted.min_labels_ == 1 and (~answered).any()
    np.testing.assert_array_equal(pred[~answered].sum(axis=1), 1)
    np.testing.assert_array_equal(pred[~answered].argmax(axis=1),
                                  proba[~answered].argmax(axis=1))


def test_predictions_in_input_order(fitted, corpus):
    # Prediction batches are length-sorted; results must come back in input order.
    X, _ = corpus
    proba = fitted.predict_proba(X)
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(fitted.predict_proba([X[i] for i in order]), proba[order],
                               rtol=1e-5, atol=1e-6)
    fitted.set_params(predict_batch_size=5)
    np.testing.assert_allclose(fitted.predict_proba(X), proba, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "decision_function"])
def test_not_fitted_error_before_fit(method, tiny_st_model):
    est = make_est(tiny_st_model)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(est, method)(["a text"])


def test_save_pretrained_before_fit_raises_not_fitted(tiny_st_model, tmp_path):
    with pytest.raises(NotFittedError):
        make_est(tiny_st_model).save_pretrained(tmp_path / "m")


def test_get_params_unchanged_by_fit(tiny_st_model, corpus):
    X, Y = corpus
    est = make_est(tiny_st_model, threshold=[0.3, 0.4, 0.5, 0.6], pos_weight=np.ones(4),
                   model_kwargs={}, tokenizer_kwargs={})
    before = joblib.hash(est.get_params())
    est.fit(X, Y)
    assert joblib.hash(est.get_params()) == before


# --------------------------------------------------------------------- determinism
def _param_ptrs(model):
    return {p.data_ptr() for p in model.parameters()}


def test_same_random_state_identical_without_cache(tiny_st_model, corpus, train_calls):
    X, Y = corpus
    a = make_est(tiny_st_model, fit_cache=False).fit(X, Y)
    b = make_est(tiny_st_model, fit_cache=False).fit(X, Y)
    assert len(train_calls) == 2  # two real fine-tuning runs
    assert not _param_ptrs(a.model_) & _param_ptrs(b.model_)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert [r["train_loss"] for r in a.history_] == [r["train_loss"] for r in b.history_]
    # ... and the seed matters, so the equality above is not vacuous.
    c = make_est(tiny_st_model, fit_cache=False, random_state=1).fit(X, Y)
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


def test_same_random_state_identical_with_cache(tiny_st_model, corpus, train_calls,
                                                cache_hits):
    X, Y = corpus
    a = make_est(tiny_st_model).fit(X, Y)
    b = make_est(tiny_st_model).fit(X, Y)
    assert len(train_calls) == 1 and sum(cache_hits) == 1
    assert a.model_ is not b.model_
    assert not _param_ptrs(a.model_) & _param_ptrs(b.model_)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.history_ == b.history_ and a.n_epochs_ == b.n_epochs_
    # The cached result equals a fresh fit.
    c = make_est(tiny_st_model, fit_cache=False).fit(X, Y)
    np.testing.assert_array_equal(a.predict_proba(X), c.predict_proba(X))


def test_module_fixture_matches_a_fresh_fit(fitted, tiny_st_model, corpus):
    # Fits in other tests are compared with `fitted`; this makes that valid.
    X, Y = corpus
    est = make_est(tiny_st_model, fit_cache=False).fit(X, Y)
    np.testing.assert_array_equal(est.predict_proba(X), fitted.predict_proba(X))


# ---------------------------------------------------------------------- thresholds
def test_threshold_set_params_after_fit_needs_no_refit(fitted, corpus, monkeypatch):
    X, _ = corpus

    def no_training(*args, **kwargs):
        raise AssertionError("set_params(threshold=...) must not retrain")

    monkeypatch.setattr(_runner, "train", no_training)
    model = fitted.model_
    proba = fitted.predict_proba(X)
    fitted.set_params(min_labels=0)  # predict-time too: empty answers allowed
    assert fitted.predict(X).sum() < proba.size  # not all ones at 0.5 ...
    fitted.set_params(threshold=0.0)
    assert fitted.predict(X).sum() == proba.size  # ... but all ones at 0
    fitted.set_params(threshold=1.0)
    assert fitted.predict(X).sum() == 0
    t = float(np.median(proba))
    fitted.set_params(threshold=t)
    np.testing.assert_array_equal(fitted.predict(X), (proba >= t).astype(np.int64))
    assert fitted.model_ is model
    np.testing.assert_array_equal(fitted.predict_proba(X), proba)
    fitted.set_params(min_labels="auto")


def test_per_label_threshold_array(fitted, corpus):
    X, _ = corpus
    proba = fitted.predict_proba(X)
    t = np.array([0.0, 1.0, 0.5, float(np.median(proba[:, 3]))])
    fitted.set_params(threshold=t)
    pred = fitted.predict(X)
    np.testing.assert_array_equal(pred, (proba >= t).astype(np.int64))
    assert pred[:, 0].all() and not pred[:, 1].any()
    fitted.set_params(threshold=list(t))
    np.testing.assert_array_equal(fitted.predict(X), pred)


def test_threshold_array_of_wrong_length_names_both_numbers(fitted, tiny_st_model, corpus):
    X, Y = corpus
    fitted.set_params(threshold=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"has 3 values .* 4 labels.*or 4 floats"):
        fitted.predict(X)
    with pytest.raises(ValueError, match=r"has 3 values .* 4 labels"):
        make_est(tiny_st_model, threshold=[0.5] * 3).fit(X, Y)


def test_threshold_auto_tunes_thresholds_on_validation_split(tiny_st_model, corpus):
    X, Y = corpus
    est = make_est(tiny_st_model, threshold="auto", validation_fraction=0.25).fit(X, Y)
    assert est.thresholds_.shape == (Y.shape[1],)
    assert np.all((est.thresholds_ >= 0) & (est.thresholds_ <= 1))
    proba = est.predict_proba(X)
    np.testing.assert_array_equal(est.predict(X), (proba >= est.thresholds_).astype(np.int64))
    assert all(r["valid_loss"] is not None for r in est.history_)


def test_threshold_auto_needs_a_validation_split(tiny_st_model, corpus):
    X, Y = corpus
    with pytest.raises(ValueError, match="validation_fraction>0"):
        make_est(tiny_st_model, threshold="auto", validation_fraction=0.0).fit(X, Y)


def test_threshold_auto_on_model_fitted_without_validation(fitted, corpus):
    X, _ = corpus
    assert not hasattr(fitted, "thresholds_")
    fitted.set_params(threshold="auto")
    with pytest.raises(ValueError, match="Refit with threshold='auto'"):
        fitted.predict(X)


# ------------------------------------------------------------------ training loop
HISTORY_KEYS = {"train_loss", "valid_loss", "valid_f1", "lr", "dur"}


def test_history_records_one_entry_per_epoch(fitted):
    assert fitted.n_epochs_ == len(fitted.history_) == 2
    assert fitted.best_epoch_ == 2
    for r in fitted.history_:
        assert HISTORY_KEYS <= set(r)
        assert r["train_loss"] > 0 and r["dur"] >= 0 and r["lr"] > 0
        assert r["valid_loss"] is None and r["valid_f1"] is None  # no validation split


def test_early_stopping_history_and_best_epoch(tiny_st_model, corpus):
    X, Y = corpus
    est = make_est(tiny_st_model, early_stopping=True, validation_fraction=0.25, max_epochs=4,
                   n_iter_no_change=1, tol=0.0, scoring=None)  # selected by validation loss
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, Y)
    assert 1 <= est.best_epoch_ <= est.n_epochs_ <= 4
    assert len(est.history_) == est.n_epochs_
    for r in est.history_:
        assert HISTORY_KEYS <= set(r)
        assert r["valid_loss"] > 0 and 0 <= r["valid_f1"] <= 1
    losses = [r["valid_loss"] for r in est.history_]
    assert losses[est.best_epoch_ - 1] == min(losses)
    assert est.thresholds_.shape == (Y.shape[1],)


@pytest.fixture
def scripted_valid_losses(monkeypatch):
    """Replace the validation loss by a script and snapshot the weights after each epoch."""
    snapshots = []
    real_run_epoch = _training.run_epoch

    def run_epoch(state, *args, **kwargs):
        out = real_run_epoch(state, *args, **kwargs)
        model = getattr(state, "model", state)  # the loop's state object holds the model
        snapshots.append({k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        return out

    monkeypatch.setattr(_training, "run_epoch", run_epoch)

    def script(losses):
        it = iter(losses)
        monkeypatch.setattr(_training, "_bce", lambda *a, **k: next(it))
        return snapshots

    return script


def test_early_stopping_restores_best_weights(tiny_st_model, corpus, scripted_valid_losses):
    X, Y = corpus
    snapshots = scripted_valid_losses([0.50, 0.40, 0.45, 0.47, 0.30, 0.20])
    est = make_est(tiny_st_model, early_stopping=True, validation_fraction=0.25, max_epochs=6,
                   n_iter_no_change=2, fit_cache=False, scoring="loss")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # stopped early: no warning
        est.fit(X, Y)
    assert est.n_epochs_ == 4  # epochs 3 and 4 did not improve on epoch 2
    assert est.best_epoch_ == 2
    assert [r["valid_loss"] for r in est.history_] == [0.50, 0.40, 0.45, 0.47]
    final = est.model_.state_dict()
    assert all(torch.equal(v.cpu(), snapshots[1][k]) for k, v in final.items())
    assert not all(torch.equal(v.cpu(), snapshots[3][k]) for k, v in final.items())


def test_convergence_warning_when_still_improving_at_max_epochs(tiny_st_model, corpus,
                                                               scripted_valid_losses):
    X, Y = corpus
    scripted_valid_losses([0.50, 0.40])
    est = make_est(tiny_st_model, early_stopping=True, validation_fraction=0.25, max_epochs=2,
                   n_iter_no_change=10, fit_cache=False, scoring="loss")
    with pytest.warns(ConvergenceWarning, match="Increase max_epochs"):
        est.fit(X, Y)
    assert est.n_epochs_ == 2 and est.best_epoch_ == 2


def test_no_convergence_warning_without_early_stopping(tiny_st_model, corpus):
    X, Y = corpus
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_est(tiny_st_model, max_epochs=1).fit(X, Y)


def test_early_stopping_needs_validation_fraction(tiny_st_model, corpus):
    X, Y = corpus
    with pytest.raises(ValueError, match="validation_fraction>0"):
        make_est(tiny_st_model, early_stopping=True, validation_fraction=0.0).fit(X, Y)


def test_validation_fraction_too_small_for_data(tiny_st_model, corpus):
    X, Y = corpus
    with pytest.raises(ValueError, match="change validation_fraction"):
        make_est(tiny_st_model, early_stopping=True, validation_fraction=0.99).fit(X[:4], Y[:4])


def test_pos_weight_balanced_and_array(fitted, tiny_st_model, corpus):
    X, Y = corpus
    balanced = make_est(tiny_st_model, pos_weight="balanced").fit(X, Y)
    assert balanced.predict_proba(X).shape == Y.shape
    heavy = make_est(tiny_st_model, pos_weight=np.full(4, 20.0)).fit(X, Y)
    # Weighting positives 20x pushes every label's probabilities up.
    assert np.all(heavy.predict_proba(X).mean(axis=0) > fitted.predict_proba(X).mean(axis=0))


@pytest.mark.parametrize("pos_weight", [[1.0, 2.0, 3.0], [1.0, 1.0, -1.0, 1.0]])
def test_pos_weight_array_checked(pos_weight, tiny_st_model, corpus):
    X, Y = corpus
    with pytest.raises(ValueError, match="one per label.*or pos_weight='balanced'"):
        make_est(tiny_st_model, pos_weight=pos_weight).fit(X, Y)


def test_keyboard_interrupt_keeps_a_usable_estimator(tiny_st_model, corpus, interrupt_at_epoch,
                                                    train_calls):
    X, Y = corpus
    interrupt_at_epoch(2)
    est = make_est(tiny_st_model, max_epochs=3)
    # the model is kept (interrupted_) and Ctrl-C goes on up (issue 20 item 15)
    with pytest.warns(SkbertWarning, match="interrupted"), pytest.raises(KeyboardInterrupt):
        est.fit(X, Y)
    assert est.interrupted_ is True
    assert est.n_epochs_ == 1 and len(est.history_) == 1
    proba = est.predict_proba(X)
    assert proba.shape == Y.shape and np.all((proba > 0) & (proba < 1))
    assert est.predict(X).shape == Y.shape
    # An interrupted fit is not reused by the fit cache: fitting again trains again.
    interrupt_at_epoch(None)
    est2 = make_est(tiny_st_model, max_epochs=3).fit(X, Y)
    assert est2.n_epochs_ == 3 and len(train_calls) == 2


def test_verbose_0_prints_nothing(tiny_st_model, corpus, capsys):
    X, Y = corpus
    est = make_est(tiny_st_model, verbose=0, fit_cache=False).fit(X, Y)
    est.predict(X)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_verbose_1_prints_one_line_per_epoch(tiny_st_model, corpus, capsys):
    X, Y = corpus
    make_est(tiny_st_model, verbose=1, max_epochs=3, fit_cache=False).fit(X, Y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line[:20] for line in lines[:2]] == ["contrastive warm-up:"] * 2  # "auto": start, end
    assert lines[2].startswith("head start: logistic")
    lines = lines[3:]
    assert len(lines) == 3
    for i, line in enumerate(lines, 1):
        assert f"epoch   {i}/3" in line and "train_loss" in line


# ------------------------------------------------------------------------ X types
def _x_variants(texts):
    import datasets

    return {
        "list": list(texts),
        "tuple": tuple(texts),
        "ndarray": np.array(texts, dtype=object),
        "ndarray_str": np.array(texts),
        "series": pd.Series(texts, index=np.arange(len(texts)) * 3 + 7),
        "dataframe_1col": pd.DataFrame({"text": texts}),
        "2d_single_column": np.array(texts, dtype=object).reshape(-1, 1),
        "hf_dataset": datasets.Dataset.from_dict({"text": list(texts),
                                                  "idx": list(range(len(texts)))}),
    }


X_KINDS = ["list", "tuple", "ndarray", "ndarray_str", "series", "dataframe_1col",
           "2d_single_column", "hf_dataset"]


@pytest.mark.parametrize("kind", X_KINDS)
def test_predict_accepts_x_kind(kind, fitted, corpus):
    X, _ = corpus
    X_kind = _x_variants(X)[kind]
    expected = fitted.predict_proba(X)
    np.testing.assert_array_equal(fitted.predict_proba(X_kind), expected)
    assert fitted.predict(X_kind).shape == (len(X), len(LABELS))


def test_fit_accepts_every_x_kind(fitted, tiny_st_model, corpus, train_calls):
    X, Y = corpus
    expected = fitted.predict_proba(X)
    for kind, X_kind in _x_variants(X).items():
        est = make_est(tiny_st_model).fit(X_kind, Y)
        np.testing.assert_array_equal(est.predict_proba(X), expected, err_msg=kind)
    # Every kind is the same list of texts, so the fit cache trains once; a datasets.Dataset
    # is keyed by its fingerprint (hashing its rows would read it all), so it trains again.
    assert len(train_calls) == 1 + ("hf_dataset" in _x_variants(X))


def test_hf_dataset_without_text_column(fitted, corpus):
    import datasets

    X, _ = corpus
    with pytest.raises(ValueError, match=r"rename_column\(old, 'text'\)"):
        fitted.predict(datasets.Dataset.from_dict({"body": X}))


# ------------------------------------------------------------ pooling, long texts
def test_pooling_auto_resolves_per_checkpoint(fitted, tiny_model, corpus):
    X, Y = corpus
    assert fitted.pooling_ == "mean"
    assert hasattr(fitted.model_, "head")
    cls = make_est(tiny_model).fit(X, Y)
    assert cls.pooling_ == "cls"
    assert type(cls.model_.backbone).__name__ == "BertForSequenceClassification"
    assert cls.model_.backbone.config.num_labels == 4
    assert cls.predict_proba(X).shape == Y.shape


def test_pooling_explicit_overrides_auto(tiny_model, corpus):
    X, Y = corpus
    est = make_est(tiny_model, pooling="mean", max_epochs=1).fit(X, Y)
    assert est.pooling_ == "mean"


@pytest.mark.parametrize("chunk_pooling", ["max", "mean"])
def test_long_text_chunk(chunk_pooling, tiny_st_model, corpus):
    X, Y = corpus
    est = make_est(tiny_st_model, max_length=8, long_text="chunk", stride=2,
                   chunk_pooling=chunk_pooling).fit(X, Y)
    # The corpus really is chunked at max_length=8 ...
    enc = encode(est.tokenizer_, X, max_length=8, long_text="chunk", stride=2)
    assert len(enc.input_ids) > len(X)
    # ... and the output still has one row per text.
    proba = est.predict_proba(X)
    assert proba.shape == Y.shape and np.all((proba > 0) & (proba < 1))
    assert est.predict(X).shape == Y.shape
    truncated = make_est(tiny_st_model, max_length=8).fit(X, Y)
    assert not np.allclose(truncated.predict_proba(X), proba)


def test_keyboard_interrupt_restores_best_weights_so_far(tiny_st_model, corpus,
                                                        interrupt_at_epoch,
                                                        scripted_valid_losses):
    X, Y = corpus
    snapshots = scripted_valid_losses([0.40, 0.50])
    interrupt_at_epoch(3)  # wraps the scripted epoch
    est = make_est(tiny_st_model, early_stopping=True, validation_fraction=0.25, max_epochs=5,
                   n_iter_no_change=5, fit_cache=False, scoring="loss")
    with (pytest.warns(SkbertWarning, match="keeps the weights of epoch 1"),
          pytest.raises(KeyboardInterrupt)):
        est.fit(X, Y)
    assert est.n_epochs_ == 2 and est.best_epoch_ == 1
    final = est.model_.state_dict()
    assert all(torch.equal(v.cpu(), snapshots[0][k]) for k, v in final.items())
    assert est.predict(X).shape == Y.shape


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_texts_are_tokenised_once_per_fit(tiny_st_model, corpus, monkeypatch):
    X, Y = corpus
    calls = []
    real = _runner.encode

    def counting(tokenizer, texts, **kwargs):
        calls.append(len(texts))
        return real(tokenizer, texts, **kwargs)

    monkeypatch.setattr(_runner, "encode", counting)
    make_est(tiny_st_model, early_stopping=True, validation_fraction=0.25, max_epochs=2,
             fit_cache=False).fit(X, Y)
    # One call for all texts: the validation split and every epoch reuse the ids.
    assert calls == [len(X)]


def test_no_weight_decay_on_biases_and_layer_norm(fitted):
    from skbert._training import TrainConfig, make_optimizer

    opt = make_optimizer(fitted.model_, TrainConfig(weight_decay=0.01))
    names = {id(p): n for n, p in fitted.model_.named_parameters()}
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert all("bias" in names[id(p)] or "LayerNorm" in names[id(p)] for p in no_decay["params"])
    assert not any("bias" in names[id(p)] or "LayerNorm" in names[id(p)]
                   for p in decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(names)


def test_verbose_2_adds_progress_bars(tiny_st_model, corpus, capsys):
    X, Y = corpus
    make_est(tiny_st_model, verbose=2, fit_cache=False).fit(X, Y)
    out, err = capsys.readouterr()
    assert [line.split()[0] for line in out.strip().splitlines()] == [
        "contrastive", "contrastive", "head", "epoch", "epoch"]
    assert "epoch 1" in err and "epoch 2" in err  # tqdm bars on stderr


def test_predict_in_chunks_of_texts(fitted, corpus, monkeypatch):
    # predict* tokenises PREDICT_CHUNK texts at a time; the pieces are put back in order.
    X, _ = corpus
    expected = fitted.predict_proba(X)
    monkeypatch.setattr(_estimator, "PREDICT_CHUNK", 7)
    np.testing.assert_allclose(fitted.predict_proba(X), expected, rtol=1e-5, atol=1e-6)
    ds = _x_variants(X)["hf_dataset"]
    np.testing.assert_allclose(fitted.predict_proba(ds), expected, rtol=1e-5, atol=1e-6)


def test_score_is_subset_accuracy(fitted, corpus):
    from sklearn.metrics import accuracy_score

    X, Y = corpus
    fitted.set_params(threshold=0.3)
    assert fitted.score(X, Y) == accuracy_score(Y, fitted.predict(X))


# ----------------------------------------------------------- device and precision
def test_fp16_on_cpu_names_the_alternatives(tiny_st_model, corpus):
    X, Y = corpus
    with pytest.raises(ValueError, match="precision='bf16'.* or 'fp32'"):
        make_est(tiny_st_model, precision="fp16").fit(X, Y)


def test_missing_cuda_device_says_use_auto(tiny_st_model, corpus, monkeypatch):
    X, Y = corpus
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="Use device='auto'"):
        make_est(tiny_st_model, device="cuda").fit(X, Y)
    with pytest.raises(ValueError, match="Use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"):
        make_est(tiny_st_model, device="gpu0").fit(X, Y)


def test_device_auto_resolves_on_this_machine(fitted, tiny_st_model, corpus, monkeypatch):
    X, Y = corpus
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    est = make_est(tiny_st_model, device="auto").fit(X, Y)
    assert est.device_.type in ("cpu", "mps")
    assert est.precision_ in ("fp32", "bf16")
    assert fitted.device_ == torch.device("cpu")


# ---------------------------------------------------------------------- bad input
def test_bare_string_x(fitted, tiny_st_model, corpus):
    _, Y = corpus
    with pytest.raises(TypeError, match=r"Wrap a single text in a list: X=\[text\]"):
        make_est(tiny_st_model).fit("one text", Y[:1])
    with pytest.raises(TypeError, match=r"X=\[text\]"):
        fitted.predict("one text")


@pytest.mark.parametrize("bad", [None, 3, 2.5, b"bytes", ["nested"]])
def test_non_str_element_reported_by_index(bad, fitted, tiny_st_model, corpus):
    X, Y = corpus
    X = list(X)
    X[5] = bad
    fix = (r"fill missing texts with ''" if bad is None
           else r"x\.decode\('utf-8'\) for x in X" if isinstance(bad, bytes)
           else r"\[str\(x\) for x in X\]")
    with pytest.raises(TypeError, match=r"X\[5\] is .*" + fix):
        make_est(tiny_st_model).fit(X, Y)
    with pytest.raises(TypeError, match=r"X\[5\]"):
        fitted.predict_proba(X)


def test_missing_text_in_series_reported_by_index(fitted, corpus):
    X, _ = corpus
    s = pd.Series(X)
    s[7] = np.nan
    with pytest.raises(TypeError, match=r"X\[7\] is a missing value \(nan\).*fill missing texts"):
        fitted.predict(s)


MLB_FIX = r"MultiLabelBinarizer\(\)\.fit_transform\(label_lists\)"


def test_one_dimensional_y(tiny_st_model, corpus):
    X, Y = corpus
    with pytest.raises(ValueError, match=r"one 0/1 value per text.*pd.DataFrame\(\{'yes'"):
        make_est(tiny_st_model).fit(X, Y[:, 0])  # y = df["spam"]: one yes/no label
    with pytest.raises(ValueError, match=MLB_FIX):  # class ids, one per text
        make_est(tiny_st_model).fit(X, np.arange(len(X)) % 3)
    with pytest.raises(ValueError, match=r"one label column \(shape \(\d+, 1\)\); a multi-"
                                         r"label model needs at least two.*"
                                         r"pd.DataFrame\(\{'yes': np.ravel\(Y\), 'no': 1 - "
                                         r"np.ravel\(Y\)\}\)"):
        make_est(tiny_st_model).fit(X, Y[:, :1])  # the fix MultiLabelBinarizer gave is this
    with pytest.raises(ValueError, match=r"Y\['not_sports'\] = 1 - Y\['sports'\]"):
        make_est(tiny_st_model).fit(X, pd.DataFrame({"sports": Y[:, 0]}))
    with pytest.raises(ValueError, match=MLB_FIX):  # class ids in a column
        make_est(tiny_st_model).fit(X, np.arange(len(X))[:, None] % 3)


def test_list_of_label_lists(tiny_st_model, corpus):
    X, Y = corpus
    label_lists = [[LABELS[j] for j in np.flatnonzero(row)] for row in Y]
    with pytest.raises(ValueError, match="(?s)list of label lists.*" + MLB_FIX):
        make_est(tiny_st_model).fit(X, label_lists)
    ragged_ints = [list(np.flatnonzero(row)) for row in Y]
    with pytest.raises(ValueError, match=MLB_FIX):
        make_est(tiny_st_model).fit(X, ragged_ints)


def test_multiclass_y(tiny_st_model, corpus):
    X, Y = corpus
    with pytest.raises(ValueError, match=MLB_FIX):
        make_est(tiny_st_model).fit(X, np.arange(len(X)) % 3)
    Y2 = Y.copy()
    Y2[0, 0] = 2
    with pytest.raises(ValueError, match="(?s)Y holds the values.*" + MLB_FIX):
        make_est(tiny_st_model).fit(X, Y2)


def test_x_y_length_mismatch(tiny_st_model, corpus):
    X, Y = corpus
    with pytest.raises(ValueError, match=r"X has 47 texts but Y has 48 rows.*must match"):
        make_est(tiny_st_model).fit(X[:-1], Y)


def test_wide_dataframe_x(fitted, tiny_st_model, corpus):
    X, Y = corpus
    df = pd.DataFrame({"text": X, "author": ["me"] * len(X)})
    with pytest.raises(ValueError, match=r"Select the text column, e\.g\. X\['text'\]"):
        make_est(tiny_st_model).fit(df, Y)
    with pytest.raises(ValueError, match=r"X\['text'\]"):
        fitted.predict(df)


def test_wide_2d_array_x(fitted, corpus):
    X, _ = corpus
    with pytest.raises(ValueError, match=r"X\[:, 0\]"):
        fitted.predict(np.array([X, X], dtype=object).T)


def test_empty_x(fitted):
    with pytest.raises(ValueError, match="at least one text"):
        fitted.predict([])


def test_max_length_beyond_model_limit(tiny_st_model, corpus):
    X, Y = corpus
    est = make_est(tiny_st_model, max_length=1024)
    with pytest.raises(ValueError, match=r"Use max_length<=512, and long_text='chunk'"):
        est.fit(X, Y)
    assert not hasattr(est, "model_")


def test_stride_too_large_with_chunk(tiny_st_model, corpus):
    X, Y = corpus
    with pytest.raises(ValueError, match=r"lower stride \(e\.g\. 3\)"):
        make_est(tiny_st_model, max_length=16, long_text="chunk", stride=14).fit(X, Y)
    # The same stride is fine when nothing is chunked.
    make_est(tiny_st_model, max_length=16, stride=14, max_epochs=1).fit(X, Y)


@pytest.mark.parametrize("dtype", ["Int64", "boolean"])
def test_dataframe_y_with_nullable_dtype(dtype, tiny_st_model, corpus):
    from sklearn.metrics import accuracy_score

    from skbert.model_selection import MultilabelStratifiedKFold

    X, Y = corpus
    Y_df = pd.DataFrame(Y, columns=LABELS).astype(dtype)
    # read, with a warning: scikit-learn's metrics cannot read such a frame (a grid search
    # scoring "f1_micro" on it scores nan)
    with pytest.warns(SkbertWarning, match=rf"extension dtypes \({dtype}\).*score nan.*"
                                           r"Y = Y.astype\(int\)"):
        est = make_est(tiny_st_model, max_epochs=1).fit(X, Y_df)
    assert list(est.classes_) == LABELS
    pred = est.predict(X)
    assert type(pred) is np.ndarray and pred.shape == Y.shape
    assert pred.dtype in (np.int64, np.bool_)
    # the estimator's own score reads it as fit does (ClassifierMixin's raised)
    assert est.score(X, Y_df) == accuracy_score(Y, pred)
    with pytest.raises((ValueError, TypeError)):  # TypeError with older SciPy
        accuracy_score(Y_df, pred)
    with pytest.warns(SkbertWarning, match="extension dtypes"):
        folds = list(MultilabelStratifiedKFold(2).split(X, Y_df))
    assert [f[1].tolist() for f in folds] == [
        f[1].tolist() for f in MultilabelStratifiedKFold(2).split(X, Y)]
    # Y_val reaches no scikit-learn scorer: no warning about it (it named Y, already int)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkbertWarning)
        make_est(tiny_st_model, max_epochs=1).fit(
            X[:30], pd.DataFrame(Y[:30], columns=LABELS), X_val=X[30:], Y_val=Y_df[30:])
    with pytest.raises(ValueError, match=r"but Y has \[0, 1, 2, 3\]"):  # not np.int64(0)
        make_est(tiny_st_model, max_epochs=1).fit(X[:30], Y[:30], X_val=X[30:], Y_val=Y_df[30:])


def test_a_text_y_column_is_refused_without_a_warning_first():
    from skbert._validation import check_targets

    Y = pd.DataFrame({"a": ["1", "0"], "b": ["0", "1"]}).astype("string")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkbertWarning)  # not "fit reads them", then a refusal
        with pytest.raises(ValueError, match="column 'a' has dtype string"):
            check_targets(Y, 2)


def test_label_without_positives_warns(tiny_st_model, corpus):
    X, Y = corpus
    Y = pd.DataFrame(Y, columns=LABELS)
    Y["tech"] = 0
    with pytest.warns(SkbertWarning, match=r"1 label\(s\) have no positive.*\(tech\).*Drop those"):
        est = make_est(tiny_st_model, max_epochs=1).fit(X, Y)
    assert est.predict(X).shape == Y.shape


def test_bad_parameter_is_caught_before_loading_anything(corpus, tmp_path):
    # Validation runs before the (missing) model folder is touched.
    X, Y = corpus
    est = TransformerMultiLabelClassifier(str(tmp_path / "missing"), max_epochs=0)
    with pytest.raises(InvalidParameterError, match="'max_epochs'"):
        est.fit(X, Y)


def test_public_api_names():
    assert set(skbert.__all__) >= {"TransformerMultiLabelClassifier", "tune_thresholds",
                                   "apply_thresholds", "clear_fit_cache", "SkbertWarning",
                                   "DeviceWarning", "__version__"}
    assert issubclass(skbert.DeviceWarning, SkbertWarning)


def test_fit_warnings_point_at_the_callers_line(tiny_st_model, corpus, scripted_valid_losses):
    X, Y = corpus
    Y = Y.copy()
    Y[:, 3] = 0
    scripted_valid_losses([0.5, 0.4])
    est = make_est(tiny_st_model, early_stopping=True, validation_fraction=0.25,
                   n_iter_no_change=5, fit_cache=False, scoring="loss")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        est.fit(X, Y)
    kinds = {type(w.message) for w in record}
    assert {SkbertWarning, ConvergenceWarning} <= kinds
    assert [w.filename for w in record
            if isinstance(w.message, (SkbertWarning, ConvergenceWarning))] == [__file__] * 2

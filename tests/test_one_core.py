"""The estimator on one core (issue 21) and its soundness items (issue 20: 15, 16, 17, 19).

Fitted state is set in one place from the runner's FitResult, so a fit, a fit
served from the cache, a pickle and a model from from_pretrained have the same
public fitted attributes.
"""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest
from conftest import make_corpus
from sklearn.model_selection import GridSearchCV

from skbert import TransformerMultiLabelClassifier, _thresholds, _training, tune_thresholds

FAST = dict(max_epochs=2, batch_size=8, learning_rate=3e-3, random_state=0, device="cpu",
            precision="fp32")


def make_est(path, **kwargs):
    return TransformerMultiLabelClassifier(path, **{**FAST, **kwargs})


def _public_fitted(est) -> set[str]:
    return {k for k in vars(est) if k.endswith("_") and not k.startswith("_")}


# -------------------------------------------------------------- one _set_fitted
def test_from_pretrained_has_every_fitted_attribute_a_fit_gives(tiny_st_model, corpus,
                                                                 tmp_path):
    X, Y = corpus
    fitted = make_est(tiny_st_model, threshold="auto", fit_cache=False).fit(X, Y)
    fitted.save_pretrained(tmp_path / "m")
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m", device="cpu")
    assert _public_fitted(loaded) == _public_fitted(fitted)
    assert {"learning_rate_", "interrupted_", "fit_cache_hit_", "thresholds_"} <= _public_fitted(
        loaded)
    assert loaded.learning_rate_ == fitted.learning_rate_ == 3e-3
    assert (loaded.best_epoch_, loaded.n_epochs_, loaded.pooling_) == (
        fitted.best_epoch_, fitted.n_epochs_, fitted.pooling_)
    assert loaded.interrupted_ is False and loaded.fit_cache_hit_ is False
    np.testing.assert_array_equal(loaded.thresholds_, fitted.thresholds_)
    np.testing.assert_array_equal(loaded.classes_, fitted.classes_)
    settings = json.loads((tmp_path / "m" / "skbert.json").read_text())
    assert settings["learning_rate_"] == 3e-3  # the rate used, for the card and records
    assert settings["n_train_"] + settings["n_valid_"] == len(X) and settings["n_valid_"] > 0
    back = pickle.loads(pickle.dumps(fitted))
    assert _public_fitted(back) == _public_fitted(fitted)


def test_auto_learning_rate_of_an_older_folder_is_resolved(tiny_st_model, corpus, tmp_path):
    X, Y = corpus
    make_est(tiny_st_model, learning_rate="auto", fit_cache=False).fit(X, Y).save_pretrained(
        tmp_path / "m")
    path = tmp_path / "m" / "skbert.json"
    settings = json.loads(path.read_text())
    del settings["learning_rate_"]  # as skbert wrote folders before it recorded the rate
    path.write_text(json.dumps(settings))
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m", device="cpu")
    assert loaded.learning_rate_ == 2e-4  # what "auto" gives the tiny model


# ------------------------------------------------------------------- item 15
def _interrupt_on_call(monkeypatch, n):
    real = _training.run_epoch
    calls = []

    def run_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(_training, "run_epoch", run_epoch)
    return calls


def test_item15_ctrl_c_stops_a_grid_search(tiny_st_model, corpus, monkeypatch):
    X, Y = corpus
    calls = _interrupt_on_call(monkeypatch, 2)  # in the first fold's second epoch
    search = GridSearchCV(make_est(tiny_st_model, fit_cache=False),
                          {"max_epochs": [2, 3]}, cv=2, scoring="f1_micro")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(KeyboardInterrupt):
            search.fit(X, Y)
    assert len(calls) == 2  # no other fold or candidate was started
    assert not hasattr(search, "best_estimator_")


def test_item15_an_interrupted_fit_keeps_its_model_and_says_so(tiny_st_model, corpus,
                                                                monkeypatch):
    X, Y = corpus
    _interrupt_on_call(monkeypatch, 2)
    est = make_est(tiny_st_model, max_epochs=3, fit_cache=False)
    with pytest.warns(UserWarning, match="interrupted_ is True"), pytest.raises(
            KeyboardInterrupt):
        est.fit(X, Y)
    assert est.interrupted_ is True and est.n_epochs_ == 1
    assert est.predict_proba(X).shape == Y.shape
    monkeypatch.undo()
    est.fit(X, Y)  # a complete fit clears the flag
    assert est.interrupted_ is False and est.n_epochs_ == 3


# ------------------------------------------------------------------- item 16
class Recorder:
    def __init__(self):
        self.events = []

    def on_fit_begin(self, estimator):
        self.events.append("begin")

    def on_epoch_end(self, estimator, record):
        self.events.append("epoch")

    def on_fit_reused(self, estimator, info):
        self.events.append(("reused", len(info["history"]), info["learning_rate"]))

    def on_fit_end(self, estimator):
        self.events.append(("end", estimator.fit_cache_hit_))


def test_item16_a_fit_served_from_the_cache_is_visible(tiny_st_model, corpus, capsys):
    X, Y = corpus
    rec = Recorder()
    first = make_est(tiny_st_model, callbacks=[rec], verbose=1).fit(X, Y)
    assert first.fit_cache_hit_ is False
    assert rec.events == ["begin", "epoch", "epoch", ("end", False)]
    capsys.readouterr()
    rec.events.clear()
    second = make_est(tiny_st_model, callbacks=[rec], verbose=1).fit(X, Y)
    assert second.fit_cache_hit_ is True
    assert rec.events == ["begin", ("reused", 2, 3e-3), ("end", True)]
    out = capsys.readouterr().out
    assert "fit cache" in out and "epoch" in out
    np.testing.assert_array_equal(second.predict_proba(X), first.predict_proba(X))
    assert second.learning_rate_ == first.learning_rate_ and second.history_ == first.history_


# ------------------------------------------------------------------- item 17
def test_item17_thresholds_equal_tune_thresholds_with_defaults(tiny_st_model, corpus):
    X, Y = corpus
    Xv, Yv = make_corpus(40, seed=3)
    est = make_est(tiny_st_model, threshold="auto", learning_rate=5e-4, fit_cache=False)
    est.fit(X, Y, X_val=Xv, Y_val=Yv)
    expected = tune_thresholds(Yv, est.predict_proba(Xv), metric=est.threshold_metric_)
    np.testing.assert_array_equal(est.thresholds_, expected)  # the documented identity
    assert est.threshold_metric_ == "f1_shrunk"  # "auto" on a few texts
    # "f1_micro_global", what "auto" picks above FEW_TEXTS texts, is tune_thresholds' default
    est.set_params(threshold_metric="f1_micro_global").fit(X, Y, X_val=Xv, Y_val=Yv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        np.testing.assert_array_equal(est.thresholds_,
                                      tune_thresholds(Yv, est.predict_proba(Xv)))


def test_item17_the_changed_default_is_announced_once_where_it_matters(monkeypatch):
    monkeypatch.setitem(_thresholds._DEFAULT_NOTICE, "shown", False)
    Y = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    P = np.array([[0.40, 0.2], [0.35, 0.1], [0.10, 0.9], [0.30, 0.3]])
    same = np.array([[1, 0], [0, 1], [0, 0]]), np.array([[0.9, 0.1], [0.1, 0.9], [0.1, 0.1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tune_thresholds(*same)  # both metrics agree: nothing to announce
        t = tune_thresholds(Y, P, metric="f1_micro_global")
    with pytest.warns(FutureWarning, match="metric='f1'"):
        default = tune_thresholds(Y, P, min_positives=1)
    np.testing.assert_array_equal(default, t)
    assert np.all(default == default[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tune_thresholds(Y, P, min_positives=1)  # once per process


# ------------------------------------------------------------------- item 19
def test_item19_cpu_prediction_with_auto_precision_is_fp32(tiny_st_model, corpus,
                                                            monkeypatch):
    X, Y = corpus
    monkeypatch.setenv("SKBERT_CPU_PRECISION", "bf16")  # a CPU with native bf16
    est = make_est(tiny_st_model, precision="auto", fit_cache=False, max_epochs=1).fit(X, Y)
    assert est.precision_ == "bf16"  # it trained in bf16 ...
    auto = est.predict_proba(X)
    np.testing.assert_array_equal(auto, est.set_params(precision="fp32").predict_proba(X))
    bf16 = est.set_params(precision="bf16").predict_proba(X)  # ... and predicts so on request
    assert np.abs(bf16 - auto).max() > 0


def test_attributes_section_documents_every_public_fitted_attribute(tiny_st_model, corpus):
    import re

    X, Y = corpus
    fitted = make_est(tiny_st_model, threshold="auto", fit_cache=False).fit(X, Y)
    doc = TransformerMultiLabelClassifier.__doc__
    section = doc.split("Attributes\n    ----------\n")[1].split("\n    See Also\n")[0]
    documented = set(re.findall(r"^    (\w+_) : ", section, re.M))
    assert documented == _public_fitted(fitted)

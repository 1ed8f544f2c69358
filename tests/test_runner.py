"""skbert._runner: run_fit returns a typed FitResult for every path of a fit.

Trained, served from the fit cache, interrupted, with thresholds, with a
checkpoint. The estimator is only read: run_fit sets no attribute on it.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from skbert import TransformerMultiLabelClassifier, _runner, _training
from skbert._runner import FitResult, inference_config, run_fit
from skbert._validation import FitData, check_targets

FAST = dict(max_epochs=2, batch_size=8, learning_rate=3e-3, random_state=0, device="cpu",
            precision="fp32", fit_cache=False)


def fit_data(X, Y, sample_weight=None) -> FitData:
    Yf, classes, y_dtype = check_targets(Y, len(X))
    return FitData(list(X), Yf, classes, y_dtype, sample_weight)


def make(model, **kw):
    return TransformerMultiLabelClassifier(model, **{**FAST, **kw})


class Recorder:
    def __init__(self):
        self.calls = []

    def on_fit_begin(self, estimator):
        self.calls.append("begin")

    def on_epoch_end(self, estimator, record):
        self.calls.append(("epoch", record["epoch"]))

    def on_fit_reused(self, estimator, info):
        self.calls.append(("reused", len(info["history"])))

    def on_fit_end(self, estimator):
        self.calls.append("end")


def test_run_fit_trains_and_reads_the_estimator_only(tiny_st_model, corpus):
    X, Y = corpus
    est = make(tiny_st_model)
    before = dict(vars(est))
    result = run_fit(est, fit_data(X, Y))
    assert vars(est) == before  # no attribute set or changed
    assert isinstance(result, FitResult)
    assert not result.from_cache and not result.interrupted and result.checkpoint is None
    assert len(result.history) == 2 and result.best_epoch == 2
    assert result.n_train == len(X) and result.n_valid == 0 and result.thresholds is None
    assert result.learning_rate == 3e-3 and result.precision == "fp32"
    assert list(result.classes) == list(range(Y.shape[1]))
    # the same weights as the estimator's own fit
    fitted = make(tiny_st_model).fit(X, Y)
    a = {k: v for k, v in result.model.state_dict().items()}
    for k, v in fitted.model_.state_dict().items():
        assert np.array_equal(a[k].numpy(), v.cpu().numpy()), k


def test_run_fit_tunes_thresholds_on_the_validation_split(tiny_st_model, corpus):
    X, Y = corpus
    result = run_fit(make(tiny_st_model, threshold="auto", validation_fraction=0.25),
                     fit_data(X, Y))
    assert result.thresholds.shape == (Y.shape[1],)
    assert result.n_valid == 12 and result.n_train == 36
    assert set(result.tuned_scores) == {"f1_micro", "f1_macro"}
    assert all(0 <= v <= 1 for v in result.tuned_scores.values())


def test_tuned_scores_are_the_f1_of_the_thresholds_predict_applies():
    Y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    proba = np.array([[0.9, 0.2], [0.4, 0.7], [0.6, 0.3], [0.1, 0.1]])
    scores = _runner.tuned_scores(Y, proba, np.array([0.5, 0.5]))
    assert scores["f1_micro"] == pytest.approx(2 * 3 / (3 + 4))  # 3 hits, 3 said, 4 true
    assert scores["f1_macro"] == pytest.approx((1.0 + 2 * 1 / 3) / 2)


def test_run_fit_cache_hit_sets_from_cache_and_tells_callbacks(tiny_st_model, corpus, capsys):
    X, Y = corpus
    first = run_fit(make(tiny_st_model, fit_cache=True), fit_data(X, Y))
    assert not first.from_cache
    rec = Recorder()
    second = run_fit(make(tiny_st_model, fit_cache=True, callbacks=[rec], verbose=1),
                     fit_data(X, Y))
    assert second.from_cache and second.history == first.history
    assert second.tuned_scores == first.tuned_scores
    assert second.n_train == first.n_train == len(X)
    assert rec.calls == ["begin", ("reused", 2)]  # on_fit_end is the estimator's
    assert "fit cache" in capsys.readouterr().out


def test_run_fit_interrupted_keeps_the_weights_and_says_so(tiny_st_model, corpus, monkeypatch):
    X, Y = corpus
    real = _training.run_epoch
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(_training, "run_epoch", interrupted)
    result = run_fit(make(tiny_st_model, max_epochs=3, fit_cache=True), fit_data(X, Y))
    assert result.interrupted and len(result.history) == 1 and result.best_epoch == 1
    monkeypatch.setattr(_training, "run_epoch", real)
    again = run_fit(make(tiny_st_model, max_epochs=3, fit_cache=True), fit_data(X, Y))
    assert not again.from_cache  # an interrupted fit is never cached


def test_run_fit_names_the_checkpoint_file(tiny_st_model, corpus, tmp_path):
    X, Y = corpus
    result = run_fit(make(tiny_st_model, checkpoint_dir=tmp_path), fit_data(X, Y))
    assert result.checkpoint == os.path.join(str(tmp_path), "training_state.safetensors")
    assert os.path.isfile(result.checkpoint)


def test_inference_config_needs_no_learning_rate(tiny_st_model):
    import torch

    config = inference_config(make(tiny_st_model, predict_batch_size=7), torch.device("cpu"),
                              "fp32")
    assert config.predict_batch_size == 7 and config.precision == "fp32"
    assert config.compile is None and config.prefetch == 0


def test_run_fit_folder_cache_hit_keeps_the_counts(tiny_st_model, corpus, tmp_path):
    X, Y = corpus
    kw = dict(fit_cache=str(tmp_path / "cache"), threshold="auto", validation_fraction=0.25)
    first = run_fit(make(tiny_st_model, **kw), fit_data(X, Y))
    second = run_fit(make(tiny_st_model, **kw), fit_data(X, Y))
    assert not first.from_cache and second.from_cache
    assert (second.n_train, second.n_valid) == (36, 12)
    assert second.tuned_scores == pytest.approx(first.tuned_scores)
    np.testing.assert_allclose(second.thresholds, first.thresholds)

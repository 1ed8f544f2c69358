"""Issue 20, the training loop's items: each case fails on 1adb55c and passes after.

Item 9 (weights that are valid but made the loss 0/0), 13 (advice that does not
fit), 15 (Ctrl-C keeps the best weights and says so) and 20 (the epoch record's
learning rate). Item 16 (a fit served from the fit cache is visible) is in
test_one_core.py and, for the runner, test_runner.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from skbert import TransformerMultiLabelClassifier, _training
from skbert._utils import TrainingDivergedError

FAST = dict(max_epochs=1, batch_size=8, learning_rate=3e-3, random_state=0, device="cpu",
            precision="fp32", fit_cache=False)


def make(model, **kw):
    return TransformerMultiLabelClassifier(model, **{**FAST, **kw})


def corpus64():
    from conftest import make_corpus

    return make_corpus(64, seed=1)


# ------------------------------------------------------------------ item 9
def test_item09_batches_whose_weights_are_all_zero_train(tiny_st_model):
    X, Y = corpus64()
    w = np.zeros(len(X))
    w[::8] = 1.0  # 56 of 64 zeros: most batches of 8 weigh nothing at all
    est = make(tiny_st_model, max_epochs=2).fit(X, Y, sample_weight=w)
    assert all(math.isfinite(r["train_loss"]) for r in est.history_)
    assert np.isfinite(est.predict_proba(X)).all()


def test_item09_weights_scaled_by_2_to_the_900_give_the_same_fit(tiny_st_model):
    X, Y = corpus64()
    w = np.zeros(len(X))
    w[5] = 1.0
    small = make(tiny_st_model).fit(X, Y, sample_weight=w)
    huge = make(tiny_st_model).fit(X, Y, sample_weight=w * 2.0 ** 900)  # about 8e270
    np.testing.assert_array_equal(huge.predict_proba(X), small.predict_proba(X))


def test_item09_a_weight_of_1e300_trains(tiny_st_model):
    X, Y = corpus64()
    w = np.ones(len(X))
    w[0] = 1e300
    est = make(tiny_st_model).fit(X, Y, sample_weight=w)
    assert math.isfinite(est.history_[0]["train_loss"])
    assert np.isfinite(est.predict_proba(X)).all()


def test_item09_power_of_two_scaling_is_exact():
    w = np.array([0.0, 1.0, 3.0, 0.25], dtype=np.float32)
    scaled = _training._normalised_weights(w).numpy()
    assert scaled.max() < 1 and np.array_equal(scaled * 4, w)
    assert _training._normalised_weights(None) is None
    huge = _training._normalised_weights(np.array([1e300, 1.0])).numpy()
    assert np.isfinite(huge).all() and huge[0] > 0.5


# ----------------------------------------------------------------- item 13
def _diverging(monkeypatch):
    def nan_epoch(*args, **kwargs):
        return float("nan")

    monkeypatch.setattr(_training, "run_epoch", nan_epoch)


def test_item13_divergence_in_fp32_does_not_advise_fp32(tiny_st_model, corpus, monkeypatch):
    X, Y = corpus
    _diverging(monkeypatch)
    with pytest.raises(TrainingDivergedError) as err:
        make(tiny_st_model).fit(X, Y)
    assert "precision='fp32'" not in str(err.value)
    assert "learning_rate" in str(err.value)


def test_item13_divergence_in_bf16_still_advises_fp32(tiny_st_model, corpus, monkeypatch):
    X, Y = corpus
    _diverging(monkeypatch)
    with pytest.raises(TrainingDivergedError, match="precision='fp32'"):
        make(tiny_st_model, precision="bf16").fit(X, Y)


def test_item13_nan_weights_in_fp32_do_not_advise_fp32(tiny_st_model, corpus):
    X, Y = corpus
    est = make(tiny_st_model).fit(X, Y)
    with torch.no_grad():
        for p in est.model_.parameters():
            p.fill_(float("nan"))
    with pytest.raises(TrainingDivergedError) as err:
        est.predict_proba(X)
    assert "precision='fp32'" not in str(err.value)
    assert "learning_rate" in str(err.value)


# ----------------------------------------------------------------- item 15
def test_item15_ctrl_c_keeps_the_best_epoch_and_reports_it(tiny_st_model, corpus,
                                                            monkeypatch):
    from skbert._runner import run_fit
    from skbert._validation import FitData, check_targets

    X, Y = corpus
    real = _training.run_epoch
    snapshots, losses = [], iter([0.40, 0.50])

    def epoch(state, *args, **kwargs):
        if len(snapshots) == 2:
            raise KeyboardInterrupt
        out = real(state, *args, **kwargs)
        snapshots.append({k: v.clone() for k, v in state.model.state_dict().items()})
        return out

    monkeypatch.setattr(_training, "run_epoch", epoch)
    monkeypatch.setattr(_training, "_bce", lambda *a, **k: next(losses))
    Yf, classes, y_dtype = check_targets(Y, len(X))
    est = make(tiny_st_model, max_epochs=4, early_stopping=True, n_iter_no_change=5,
               validation_fraction=0.25, scoring="loss")
    result = run_fit(est, FitData(list(X), Yf, classes, y_dtype))
    assert result.interrupted and len(result.history) == 2 and result.best_epoch == 1
    for k, v in result.model.state_dict().items():
        assert torch.equal(v, snapshots[0][k]), k


# ----------------------------------------------------------------- item 20
def test_item20_the_epoch_records_the_peak_learning_rate(tiny_st_model, corpus):
    X, Y = corpus
    est = make(tiny_st_model, max_epochs=3, warmup_ratio=0.1).fit(X, Y)
    # 6 steps an epoch, 2 of warm-up: epoch 1 reaches the peak, the others decay from it
    lrs = [r["lr"] for r in est.history_]
    assert lrs[0] == pytest.approx(3e-3)
    assert lrs[0] > lrs[1] > lrs[2] > 0

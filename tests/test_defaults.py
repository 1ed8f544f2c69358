"""The defaults chosen with bench/quality/quality.py: learning_rate="auto", the shared
threshold of threshold_metric="f1_micro_global", and the kept epoch chosen by
validation micro-F1 (scoring="f1_micro").
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score
from sklearn.utils._param_validation import InvalidParameterError

from skbert import TransformerMultiLabelClassifier, _runner, tune_thresholds
from skbert._thresholds import DEFAULT_CANDIDATES
from skbert._training import (
    LARGE_MODEL_LEARNING_RATE,
    SMALL_MODEL_LEARNING_RATE,
    SMALL_MODEL_PARAMETERS,
    resolve_learning_rate,
)
from skbert._utils import SkbertWarning
from skbert.cli import main

FAST = dict(max_epochs=2, batch_size=8, random_state=0, device="cpu", precision="fp32",
            fit_cache=False)


# ----------------------------------------------------------- shared threshold
def _micro_f1_at(Y, P, t):
    return f1_score(Y, (P >= t).astype(int), average="micro", zero_division=0)


@pytest.mark.parametrize("seed", range(5))
def test_global_threshold_is_the_best_shared_candidate(seed):
    rng = np.random.default_rng(seed)
    Y = (rng.random((120, 6)) < [0.4, 0.2, 0.1, 0.05, 0.3, 0.02]).astype(int)
    P = np.clip(0.35 * Y + rng.random(Y.shape) * 0.7, 0, 1)
    t = tune_thresholds(Y, P, metric="f1_micro_global")
    assert t.shape == (6,) and np.all(t == t[0])
    best = max(_micro_f1_at(Y, P, c) for c in DEFAULT_CANDIDATES)
    assert _micro_f1_at(Y, P, t[0]) == pytest.approx(best, abs=1e-12)
    # per-label micro-F1 thresholds fit the same data at least as well (more freedom)
    per_label = tune_thresholds(Y, P, metric="f1_micro", min_positives=1)
    assert _micro_f1_at(Y, P, per_label) >= _micro_f1_at(Y, P, t[0]) - 1e-12


def test_global_threshold_ties_go_to_the_default():
    Y = np.array([[1, 0], [0, 1], [0, 0]])
    P = np.array([[0.9, 0.1], [0.1, 0.9], [0.1, 0.1]])  # any t in (0.1, 0.9] is perfect
    assert tune_thresholds(Y, P, metric="f1_micro_global").tolist() == [0.5, 0.5]
    assert tune_thresholds(Y, P, metric="f1_micro_global", default=0.7).tolist() == [0.7, 0.7]


def test_unknown_threshold_metric_names_the_choices():
    with pytest.raises(ValueError, match="f1_micro_global"):
        tune_thresholds([[1]], [[0.5]], metric="f1_global")


def test_auto_threshold_metric_is_shrunk_on_few_texts_and_shared_on_more(
        tiny_st_model, corpus, monkeypatch, tmp_path):
    import json

    from skbert import _runner, _thresholds
    from skbert._contrastive import AUTO_MAX_TEXTS

    asked, real = {}, _runner.tune_thresholds

    def tune(*args, **kwargs):
        asked[kwargs["metric"]] = real(*args, **kwargs)
        return asked[kwargs["metric"]]

    monkeypatch.setattr(_runner, "tune_thresholds", tune)
    X, Y = corpus
    clf = TransformerMultiLabelClassifier(tiny_st_model, threshold="auto", learning_rate=3e-3,
                                          **FAST).fit(X, Y)
    assert clf.threshold_metric == "auto" and clf.threshold_metric_ == "f1_shrunk"
    # every rule is tuned (a fit-cache hit may ask for another); f1_shrunk is in force
    assert set(asked) == set(_thresholds.THRESHOLD_METRICS)
    np.testing.assert_array_equal(clf.thresholds_, asked["f1_shrunk"])
    assert AUTO_MAX_TEXTS == _thresholds.FEW_TEXTS == 1000  # one "few texts" for both autos
    # more texts than FEW_TEXTS (the boundary moved below this training set): one shared
    monkeypatch.setattr(_thresholds, "FEW_TEXTS", clf._fit_info["n_train"] - 1)
    clf.fit(X, Y)
    assert clf.threshold_metric_ == "f1_micro_global"
    np.testing.assert_array_equal(clf.thresholds_, asked["f1_micro_global"])
    assert np.all(clf.thresholds_ == clf.thresholds_[0])
    # the resolved metric is saved, read back, and refused when damaged
    clf.save_pretrained(tmp_path / "m")
    settings = json.loads((tmp_path / "m" / "skbert.json").read_text())
    assert settings["threshold_metric_"] == "f1_micro_global"
    monkeypatch.setattr(_thresholds, "FEW_TEXTS", 1000)
    assert TransformerMultiLabelClassifier.from_pretrained(
        tmp_path / "m").threshold_metric_ == "f1_micro_global"
    (tmp_path / "m" / "skbert.json").write_text(json.dumps({**settings,
                                                            "threshold_metric_": "accuracy"}))
    with pytest.raises(ValueError, match="'threshold_metric_' is 'accuracy', expected null "
                                         "or one of"):
        TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m")
    del settings["threshold_metric_"]  # a folder saved before "auto": its own parameter
    (tmp_path / "m" / "skbert.json").write_text(json.dumps(settings))
    assert TransformerMultiLabelClassifier.from_pretrained(
        tmp_path / "m").threshold_metric_ == "f1_micro_global"
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(clf.predict(X), (proba >= clf.thresholds_[0]).astype(int))
    per_label = clf.set_params(threshold_metric="f1").fit(X, Y)  # same seed, same weights
    np.testing.assert_array_equal(per_label.predict_proba(X), proba)
    assert per_label.thresholds_.shape == (Y.shape[1],)


# --------------------------------------------------------------- learning rate
class _Sized(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.w = torch.nn.Parameter(torch.empty(n, device="meta"))


def test_auto_learning_rate_depends_on_the_model_size():
    assert resolve_learning_rate("auto", _Sized(22_700_000)) == SMALL_MODEL_LEARNING_RATE == 2e-4
    assert resolve_learning_rate("auto", _Sized(SMALL_MODEL_PARAMETERS)) == 2e-4
    assert resolve_learning_rate("auto", _Sized(SMALL_MODEL_PARAMETERS + 1)) == 5e-5
    assert resolve_learning_rate("auto", _Sized(110_000_000)) == LARGE_MODEL_LEARNING_RATE
    assert resolve_learning_rate(3e-5, _Sized(22_700_000)) == 3e-5  # a number is kept


def test_fit_records_the_learning_rate_it_used(tiny_st_model, corpus, monkeypatch):
    X, Y = corpus
    seen = []
    real = _runner.train_config

    def spy(*args, **kwargs):
        config = real(*args, **kwargs)
        seen.append((config.learning_rate, config.head_learning_rate))
        return config

    monkeypatch.setattr(_runner, "train_config", spy)
    clf = TransformerMultiLabelClassifier(tiny_st_model, **FAST)
    assert clf.get_params()["learning_rate"] == "auto"
    clf.fit(X, Y)
    assert clf.learning_rate_ == 2e-4  # the tiny model is small
    assert seen[0] == (2e-4, pytest.approx(2e-3))
    clf.set_params(learning_rate=1e-3, head_learning_rate=5e-3).fit(X, Y)
    assert clf.learning_rate_ == 1e-3
    assert seen[-1] == (1e-3, 5e-3)


@pytest.mark.parametrize("bad", ["fast", 0, -1e-4, None])
def test_bad_learning_rate_is_refused(tiny_st_model, corpus, bad):
    X, Y = corpus
    with pytest.raises(InvalidParameterError, match="learning_rate"):
        TransformerMultiLabelClassifier(tiny_st_model, learning_rate=bad, **FAST).fit(X, Y)


# ------------------------------------------------------------------ kept epoch
def test_kept_epoch_follows_validation_micro_f1_by_default(tiny_st_model, corpus):
    X, Y = corpus
    clf = TransformerMultiLabelClassifier(tiny_st_model, threshold="auto", learning_rate=3e-3,
                                          validation_fraction=0.25,
                                          **{**FAST, "max_epochs": 4}).fit(X, Y)
    scores = [r["valid_score"] for r in clf.history_]
    # the score is micro-F1 at 0.5 of the validation outputs, the same as valid_f1
    assert scores == pytest.approx([r["valid_f1"] for r in clf.history_])
    assert clf.best_epoch_ == 1 + int(np.argmax(scores))
    by_loss = clf.set_params(scoring="loss").fit(X, Y)
    assert all(r["valid_score"] is None for r in by_loss.history_)
    losses = [r["valid_loss"] for r in by_loss.history_]
    assert by_loss.best_epoch_ == 1 + int(np.argmin(losses))


# ------------------------------------------------------------------------- CLI
def _write_csv(path, X, Y):
    import pandas as pd

    names = ["a", "b", "c", "d"]
    labels = ["|".join(n for n, v in zip(names, row) if v) or "none" for row in Y]
    pd.DataFrame({"text": X, "labels": labels}).to_csv(path, index=False)


def test_cli_takes_auto_learning_rate_and_threshold_metric(tiny_st_model, corpus, tmp_path,
                                                           capsys):
    X, Y = corpus
    data = tmp_path / "train.csv"
    _write_csv(data, X, Y)
    out = tmp_path / "model"
    rc = main(["train", str(data), "--model", tiny_st_model, "--out", str(out),
               "--max-epochs", "1", "--learning-rate", "auto", "--threshold", "auto",
               "--threshold-metric", "f1", "--device", "cpu"])
    assert rc == 0
    clf = TransformerMultiLabelClassifier.from_pretrained(out)
    assert clf.learning_rate == "auto" and clf.threshold_metric == "f1"


@pytest.mark.parametrize("value", ["fast", "0", "-1", "inf"])
def test_cli_names_a_bad_learning_rate(tmp_path, capsys, value):
    assert main(["train", str(tmp_path / "x.csv"), "--learning-rate", value]) == 2
    assert f"learning rate {value}" in capsys.readouterr().err.replace("'", "")


def test_a_threshold_metric_with_nothing_to_tune_says_so(tiny_st_model, corpus):
    """scikit-learn warns of a parameter that cannot act (l1_ratio without elasticnet)."""
    X, Y = corpus
    with pytest.warns(SkbertWarning, match=r"threshold_metric='f1' has no effect.*"
                                           r"threshold='auto'") as record:
        TransformerMultiLabelClassifier(tiny_st_model, threshold_metric="f1", **FAST).fit(X, Y)
    assert {w.filename for w in record if "threshold_metric" in str(w.message)} == {__file__}
    cached = TransformerMultiLabelClassifier(tiny_st_model, threshold_metric="f1",
                                             **{**FAST, "fit_cache": True})
    for _ in range(2):  # the second fit is a fit-cache hit: it warns as well
        with pytest.warns(SkbertWarning, match="threshold_metric='f1' has no effect"):
            cached.fit(X, Y)
    assert cached.fit_cache_hit_
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkbertWarning)
        for params in ({"threshold": "auto", "threshold_metric": "f1"},  # tuned
                       {"threshold_metric": "auto"}):                    # the default: silent
            TransformerMultiLabelClassifier(tiny_st_model, learning_rate=3e-3,
                                            **{**FAST, **params}).fit(X, Y)

"""The estimator inside scikit-learn tooling: Pipeline, GridSearchCV, cross-validation,
and the fit cache that keeps a grid search over ``threshold`` from fine-tuning the
transformer once per candidate.
"""

from __future__ import annotations

import os
import pickle

import joblib
import numpy as np
import pytest
from sklearn.metrics import f1_score
from sklearn.model_selection import GridSearchCV, cross_val_predict, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

import skbert
from skbert import TransformerMultiLabelClassifier, _cache, tune_thresholds

FAST = dict(max_epochs=2, batch_size=8, learning_rate=3e-3, random_state=0, device="cpu")


def make_est(path, **kwargs):
    return TransformerMultiLabelClassifier(path, **{**FAST, **kwargs})


def lowercase(X):
    """Module-level (not a lambda) so that the pipeline pickles."""
    return [x.lower() for x in X]






def test_pipeline_with_text_cleaning_step(tiny_st_model, corpus):
    X, Y = corpus
    shouted = [x.upper() for x in X]  # the tokenizer's vocabulary is lower case
    pipe = Pipeline([("clean", FunctionTransformer(lowercase)), ("clf", make_est(tiny_st_model))])
    assert pipe.fit(shouted, Y) is pipe
    proba = pipe.predict_proba(shouted)
    direct = make_est(tiny_st_model, fit_cache=False).fit(X, Y)
    np.testing.assert_array_equal(proba, direct.predict_proba(X))
    assert pipe.predict(shouted).shape == Y.shape
    # Without the cleaning step every word is [UNK]: the step is really applied.
    raw = make_est(tiny_st_model, fit_cache=False).fit(shouted, Y)
    assert not np.allclose(raw.predict_proba(shouted), proba)
    # The pipeline pickles (hence the module-level function) and predicts the same.
    loaded = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(loaded.predict_proba(shouted), proba)


def test_grid_search_over_threshold(tiny_st_model, corpus, train_calls):
    X, Y = corpus
    search = GridSearchCV(make_est(tiny_st_model), {"threshold": [0.3, 0.4, 0.5]}, cv=2,
                          scoring="f1_micro", error_score="raise").fit(X, Y)
    assert search.best_params_["threshold"] in (0.3, 0.4, 0.5)
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    assert search.predict(X).shape == Y.shape
    assert len(train_calls) == 2 + 1  # once per fold, plus the refit


def test_grid_search_over_learning_rate(tiny_st_model, corpus, train_calls):
    X, Y = corpus
    search = GridSearchCV(make_est(tiny_st_model), {"learning_rate": [1e-4, 3e-3]}, cv=2,
                          scoring="f1_micro", error_score="raise").fit(X, Y)
    assert search.best_params_["learning_rate"] in (1e-4, 3e-3)
    assert search.best_estimator_.learning_rate == search.best_params_["learning_rate"]
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (2,) and np.all(np.isfinite(scores))
    assert len(train_calls) == 2 * 2 + 1  # the learning rate shapes the weights


def test_cross_val_score_f1_micro(tiny_st_model, corpus):
    X, Y = corpus
    scores = cross_val_score(make_est(tiny_st_model), X, Y, cv=2, scoring="f1_micro",
                             error_score="raise")
    assert scores.shape == (2,)
    assert np.all((scores >= 0) & (scores <= 1))


def test_cross_val_predict_proba_then_tune_thresholds(tiny_st_model, corpus):
    X, Y = corpus
    est = make_est(tiny_st_model)
    oof = cross_val_predict(est, X, Y, cv=2, method="predict_proba")
    assert oof.shape == Y.shape and np.all((oof > 0) & (oof < 1))
    t = tune_thresholds(Y, oof, min_positives=1)
    assert t.shape == (Y.shape[1],) and np.all((t >= 0) & (t <= 1))
    # Tuned on the out-of-fold probabilities, the thresholds score at least as well there.
    assert (f1_score(Y, oof >= t, average="macro", zero_division=0)
            >= f1_score(Y, oof >= 0.5, average="macro", zero_division=0))
    est.fit(X, Y).set_params(threshold=t)
    np.testing.assert_array_equal(est.predict(X), est.predict_proba(X) >= t)


# ----------------------------------------------------------------------- fit cache
THRESHOLDS = {"threshold": [0.2, 0.3, 0.4, 0.5]}


def _threshold_search(est):
    return GridSearchCV(est, THRESHOLDS, cv=3, scoring="f1_micro", error_score="raise")


def test_threshold_search_fine_tunes_once_per_fold(tiny_st_model, corpus, train_calls):
    X, Y = corpus
    cached = _threshold_search(make_est(tiny_st_model)).fit(X, Y)
    assert len(train_calls) == 3 + 1
    del train_calls[:]
    uncached = _threshold_search(make_est(tiny_st_model, fit_cache=False)).fit(X, Y)
    assert len(train_calls) == 4 * 3 + 1
    np.testing.assert_array_equal(cached.cv_results_["mean_test_score"],
                                  uncached.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(cached.cv_results_["std_test_score"],
                                  uncached.cv_results_["std_test_score"])
    assert cached.best_params_ == uncached.best_params_
    # The candidates really differ, so equal scores are not a coincidence of the grid.
    assert len(set(cached.cv_results_["mean_test_score"])) > 1


def test_fit_cache_folder_is_reused_across_a_pickled_search(tiny_st_model, corpus, tmp_path,
                                                          train_calls):
    X, Y = corpus
    folder = str(tmp_path / "fits")
    search = _threshold_search(make_est(tiny_st_model, fit_cache=folder))
    first = search.fit(X, Y)
    assert len(train_calls) == 3 + 1
    assert len([f for f in os.listdir(folder) if f.endswith(_cache.SUFFIX)]) == 4
    scores = first.cv_results_["mean_test_score"].copy()

    skbert.clear_fit_cache()  # the in-process cache is empty; only the folder remains
    joblib.dump(_threshold_search(make_est(tiny_st_model, fit_cache=folder)),
                tmp_path / "search.joblib")
    again = joblib.load(tmp_path / "search.joblib").fit(X, Y)
    assert len(train_calls) == 4  # every fold and the refit came from the folder
    np.testing.assert_array_equal(again.cv_results_["mean_test_score"], scores)

    skbert.clear_fit_cache(folder)
    assert not [f for f in os.listdir(folder) if f.endswith(_cache.SUFFIX)]
    make_est(tiny_st_model, fit_cache=folder).fit(X, Y)
    assert len(train_calls) == 5


def test_clear_fit_cache_forces_retraining(tiny_st_model, corpus, train_calls):
    X, Y = corpus
    a = make_est(tiny_st_model).fit(X, Y)
    make_est(tiny_st_model).fit(X, Y)
    assert len(train_calls) == 1
    skbert.clear_fit_cache()
    b = make_est(tiny_st_model).fit(X, Y)
    assert len(train_calls) == 2
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_random_state_none_is_never_reused(tiny_st_model, corpus, train_calls):
    X, Y = corpus
    a = make_est(tiny_st_model, random_state=None).fit(X, Y)
    b = make_est(tiny_st_model, random_state=None).fit(X, Y)
    assert len(train_calls) == 2
    assert not np.array_equal(a.predict_proba(X), b.predict_proba(X))


def test_training_parameters_change_the_cache_key(tiny_st_model, corpus, train_calls):
    X, Y = corpus
    make_est(tiny_st_model).fit(X, Y)
    make_est(tiny_st_model, max_epochs=1).fit(X, Y)          # a training parameter
    make_est(tiny_st_model).fit(X[:-1], Y[:-1])              # other data
    Y2 = Y.copy()
    Y2[0] = 1 - Y2[0]
    make_est(tiny_st_model).fit(X, Y2)                       # other labels
    assert len(train_calls) == 4
    make_est(tiny_st_model, threshold=0.1, verbose=0, predict_batch_size=3).fit(X, Y)
    assert len(train_calls) == 4  # predict-time parameters only: reused



def test_fit_cache_limit_zero_disables_reuse(tiny_st_model, corpus, train_calls):
    X, Y = corpus
    with pytest.raises(ValueError, match=">= 0"):
        skbert.set_fit_cache_limit(-1)
    previous = skbert._cache._limit["bytes"]
    skbert.set_fit_cache_limit(0)
    try:
        make_est(tiny_st_model).fit(X, Y)
        make_est(tiny_st_model).fit(X, Y)
    finally:
        skbert.set_fit_cache_limit(previous)
    assert len(train_calls) == 2

"""Issue 15: training controls (sample_weight, X_val/Y_val, scoring, callbacks, warm_start,
micro-batches, gradient checkpointing, the unseeded-refit warning)."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from conftest import LABELS, make_corpus
from sklearn.metrics import get_scorer
from sklearn.model_selection import GridSearchCV, cross_validate

from skbert import SkbertWarning, TransformerMultiLabelClassifier, tune_thresholds

FAST = dict(max_epochs=2, batch_size=8, learning_rate=3e-3, random_state=0, device="cpu",
            fit_cache=False, precision="fp32")
NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}


def make_est(path, **kwargs):
    return TransformerMultiLabelClassifier(path, **{**FAST, **kwargs})


# ---------------------------------------------------------------------- sample_weight
def test_upweighting_one_labels_positives_raises_its_probabilities(tiny_st_model, corpus):
    X, Y = corpus
    w = np.where(Y[:, 2] == 1, 20.0, 1.0)
    # a random head: one that starts from the centroids already separates the labels,
    # so the weights' effect is what this test isolates
    plain = make_est(tiny_st_model, head_init="random").fit(X, Y).predict_proba(X)
    heavy = make_est(tiny_st_model, head_init="random").fit(
        X, Y, sample_weight=w).predict_proba(X)
    assert heavy[:, 2].mean() > plain[:, 2].mean() + 0.02
    # the other labels move far less than the upweighted one
    others = np.abs(heavy[:, [0, 1, 3]].mean(0) - plain[:, [0, 1, 3]].mean(0)).max()
    assert others < heavy[:, 2].mean() - plain[:, 2].mean()


def test_unit_weights_equal_no_weights(tiny_model, corpus):
    X, Y = corpus
    a = make_est(tiny_model, model_kwargs=NO_DROPOUT).fit(X, Y).predict_proba(X)
    b = make_est(tiny_model, model_kwargs=NO_DROPOUT).fit(X, Y, sample_weight=np.ones(len(X)))
    np.testing.assert_allclose(b.predict_proba(X), a, atol=1e-6)


def test_zero_weight_texts_do_not_count(tiny_model):
    X, Y = make_corpus(40, seed=3)
    extra_X, extra_Y = make_corpus(8, seed=9)
    w = np.r_[np.ones(len(X)), np.zeros(len(extra_X))]
    base = make_est(tiny_model, model_kwargs=NO_DROPOUT, batch_size=48)
    a = base.fit(X, Y).predict_proba(X)
    b = make_est(tiny_model, model_kwargs=NO_DROPOUT, batch_size=48).fit(
        X + extra_X, np.r_[Y, extra_Y], sample_weight=w).predict_proba(X)
    # one batch per epoch holds every text: the zero-weight ones add nothing to the gradient
    # (the bias prior still sees them, so compare loosely)
    assert np.abs(a - b).max() < 0.05


@pytest.mark.parametrize("w, match", [([1.0] * 3, "shape"), ("x", "numbers"),
                                      (np.r_[np.ones(47), np.nan], "finite"),
                                      (np.r_[np.ones(47), -1.0], ">= 0"),
                                      (np.zeros(48), "zero for every text")])
def test_bad_sample_weight_is_named(tiny_st_model, corpus, w, match, train_calls):
    X, Y = corpus
    with pytest.raises(ValueError, match=match):
        make_est(tiny_st_model).fit(X, Y, sample_weight=w)
    assert train_calls == []


def test_sample_weight_routes_through_grid_search_and_cross_validate(tiny_st_model, corpus):
    X, Y = corpus
    w = np.where(Y[:, 2] == 1, 5.0, 1.0)
    seen = []

    class Spy(TransformerMultiLabelClassifier):
        def fit(self, X, Y, *, sample_weight=None, X_val=None, Y_val=None):
            seen.append(None if sample_weight is None else len(sample_weight))
            return super().fit(X, Y, sample_weight=sample_weight)

    with sklearn.config_context(enable_metadata_routing=True):
        est = Spy(tiny_st_model, **{**FAST, "max_epochs": 1}).set_fit_request(
            sample_weight=True)
        scorer = get_scorer("f1_micro").set_score_request(sample_weight=False)
        GridSearchCV(est, {"threshold": [0.4, 0.5]}, cv=2, scoring=scorer).fit(
            X, Y, sample_weight=w)
        assert seen and all(n is not None for n in seen)
        assert sorted(set(seen)) == [24, 48]  # the folds' halves, then the refit on all
        seen.clear()
        cross_validate(est, X, Y, cv=2, params={"sample_weight": w}, scoring=scorer)
        assert seen == [24, 24]


# ------------------------------------------------------------------------- X_val, Y_val
def test_validation_set_tunes_thresholds_and_fills_history(tiny_st_model, corpus):
    X, Y = corpus
    Xv, Yv = make_corpus(24, seed=5)
    est = make_est(tiny_st_model, threshold="auto").fit(X, Y, X_val=Xv, Y_val=Yv)
    assert all(r["valid_loss"] is not None for r in est.history_)
    for metric in ("f1_micro_global", "f1"):
        est.set_params(threshold_metric=metric).fit(X, Y, X_val=Xv, Y_val=Yv)
        expected = tune_thresholds(Yv, est.predict_proba(Xv), metric=metric)
        np.testing.assert_allclose(est.thresholds_, expected)


def test_validation_set_replaces_the_random_split(tiny_st_model, corpus, monkeypatch):
    from skbert import _runner

    X, Y = corpus
    Xv, Yv = make_corpus(24, seed=5)
    sizes = []
    real = _runner.train

    def spy(model, train_enc, Y_train, valid_enc, Y_valid, **kw):
        sizes.append((train_enc.n_docs, valid_enc.n_docs))
        return real(model, train_enc, Y_train, valid_enc, Y_valid, **kw)

    monkeypatch.setattr(_runner, "train", spy)
    make_est(tiny_st_model, early_stopping=True, validation_fraction=0.5).fit(
        X, Y, X_val=Xv, Y_val=Yv)
    assert sizes == [(48, 24)]  # all training texts kept, the given set validates


def test_validation_set_errors(tiny_st_model, corpus):
    X, Y = corpus
    with pytest.raises(ValueError, match="pass both"):
        make_est(tiny_st_model).fit(X, Y, X_val=X)
    with pytest.raises(ValueError, match="same columns"):
        make_est(tiny_st_model).fit(X, pd.DataFrame(Y, columns=LABELS), X_val=X,
                                    Y_val=pd.DataFrame(Y, columns=LABELS[::-1]))
    with pytest.raises(ValueError, match="X_val has 3 texts but Y_val has 48"):
        make_est(tiny_st_model).fit(X, Y, X_val=X[:3], Y_val=Y)


# ------------------------------------------------------------------------------ scoring
def test_scoring_selects_the_epoch_with_the_best_score(tiny_st_model, corpus):
    X, Y = corpus
    Xv, Yv = make_corpus(24, seed=5)
    est = make_est(tiny_st_model, max_epochs=4, scoring="f1_micro").fit(X, Y, X_val=Xv,
                                                                        Y_val=Yv)
    scores = [r["valid_score"] for r in est.history_]
    assert all(isinstance(s, float) for s in scores)
    assert est.best_epoch_ == int(np.argmax(scores)) + 1
    # the kept weights are that epoch's: predictions score what history says
    from sklearn.metrics import f1_score

    assert f1_score(Yv, est.predict(Xv), average="micro") == pytest.approx(max(scores))


@pytest.mark.parametrize("scoring", ["f1_macro", "r_precision", "precision_at_2", "roc_auc",
                                     lambda est, X, y: float(est.predict_proba(X).mean())])
def test_scoring_accepts_scorer_names_and_callables(tiny_st_model, corpus, scoring):
    X, Y = corpus
    est = make_est(tiny_st_model, scoring=scoring, early_stopping=True,
                   validation_fraction=0.25).fit(X, Y)
    assert all(np.isfinite(r["valid_score"]) for r in est.history_)


def test_scoring_none_follows_the_loss_and_the_default_is_micro_f1(tiny_st_model, corpus):
    X, Y = corpus
    a = make_est(tiny_st_model, early_stopping=True, scoring=None).fit(X, Y)
    b = make_est(tiny_st_model, early_stopping=True, scoring="loss").fit(X, Y)
    assert [r["valid_score"] for r in a.history_] == [None, None]
    assert a.best_epoch_ == b.best_epoch_
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = make_est(tiny_st_model, early_stopping=True).fit(X, Y)
    d = make_est(tiny_st_model, early_stopping=True, scoring="f1_micro").fit(X, Y)
    assert [r["valid_score"] for r in c.history_] == [r["valid_score"] for r in d.history_]
    assert all(s is not None for s in (r["valid_score"] for r in c.history_))


def test_unknown_scoring_is_named(tiny_st_model, corpus, train_calls):
    X, Y = corpus
    with pytest.raises(ValueError, match="scoring='f2_micro'"):
        make_est(tiny_st_model, scoring="f2_micro").fit(X, Y)
    assert train_calls == []


# ---------------------------------------------------------------------------- callbacks
class Recorder:
    def __init__(self):
        self.calls = []

    def on_fit_begin(self, est):
        self.calls.append(("begin", hasattr(est, "model_")))

    def on_epoch_end(self, est, record):
        self.calls.append(("epoch", record["epoch"]))

    def on_batch_end(self, est, batch):
        self.calls.append(("batch", batch["epoch"], batch["n_texts"]))

    def on_fit_end(self, est):
        self.calls.append(("end", len(est.history_)))


def test_callbacks_are_called_once_per_epoch_in_order(tiny_st_model, corpus):
    X, Y = corpus
    rec = Recorder()
    est = make_est(tiny_st_model, max_epochs=3, callbacks=[rec]).fit(X, Y)
    epochs = [c for c in rec.calls if c[0] == "epoch"]
    assert epochs == [("epoch", 1), ("epoch", 2), ("epoch", 3)]
    assert rec.calls[0] == ("begin", False) and rec.calls[-1] == ("end", 3)
    batches = [c for c in rec.calls if c[0] == "batch"]
    assert len(batches) == 3 * 6 and sum(c[2] for c in batches) == 3 * 48
    assert est.callbacks == [rec]


def test_callbacks_with_only_some_methods_and_bad_objects(tiny_st_model, corpus, train_calls):
    X, Y = corpus

    class OnlyEpochs:
        n = 0

        def on_epoch_end(self, est, record):
            OnlyEpochs.n += 1

    make_est(tiny_st_model, callbacks=[OnlyEpochs()]).fit(X, Y)
    assert OnlyEpochs.n == 2
    with pytest.raises(TypeError, match=r"callbacks\[1\].*none of the methods"):
        make_est(tiny_st_model, callbacks=[OnlyEpochs(), object()]).fit(X, Y)


def test_callbacks_survive_clone(tiny_st_model, corpus):
    from sklearn.base import clone

    X, Y = corpus
    rec = Recorder()
    c = clone(make_est(tiny_st_model, callbacks=[rec]))
    c.fit(X, Y)
    assert rec.calls == []  # the clone got its own copy
    assert [k[0] for k in c.callbacks[0].calls].count("epoch") == 2


# --------------------------------------------------------------------------- warm_start
def test_warm_start_continues_and_appends_to_history(tiny_st_model, corpus):
    X, Y = corpus
    est = make_est(tiny_st_model, warm_start=True).fit(X, Y)
    first = est.predict_proba(X)
    weights = est.model_.head.weight.detach().clone()
    est.fit(X, Y)
    assert [r["epoch"] for r in est.history_] == [1, 2, 3, 4]
    assert est.n_epochs_ == 4 and est.best_epoch_ == 4
    assert not np.allclose(est.predict_proba(X), first)
    assert not (est.model_.head.weight.detach() == weights).all()
    cold = make_est(tiny_st_model).fit(X, Y)
    cold.fit(X, Y)
    assert len(cold.history_) == 2  # without warm_start a refit starts over


def test_warm_start_with_other_labels_is_refused(tiny_st_model, corpus):
    X, Y = corpus
    est = make_est(tiny_st_model, warm_start=True).fit(X, Y)
    with pytest.raises(ValueError, match="warm_start=False"):
        est.fit(X, Y[:, :3])


# ------------------------------------------------------------- micro-batches, checkpointing
def test_micro_batches_give_the_full_batch_result(tiny_model, corpus):
    X, Y = corpus
    full = make_est(tiny_model, model_kwargs=NO_DROPOUT).fit(X, Y)
    for micro in (1, 3):
        part = make_est(tiny_model, model_kwargs=NO_DROPOUT, micro_batch_size=micro).fit(X, Y)
        np.testing.assert_allclose(part.predict_proba(X), full.predict_proba(X), atol=1e-4)
        assert part.history_[-1]["train_loss"] == pytest.approx(
            full.history_[-1]["train_loss"], abs=1e-5)


def test_micro_batches_with_sample_weight_and_chunking(tiny_model, corpus):
    X, Y = corpus
    X = [" ".join([x] * 6) for x in X]  # long texts: several windows each
    w = np.linspace(0.5, 2.0, len(X))
    kw = dict(model_kwargs=NO_DROPOUT, long_text="chunk", max_length=16, stride=4)
    full = make_est(tiny_model, **kw).fit(X, Y, sample_weight=w)
    part = make_est(tiny_model, micro_batch_size=3, **kw).fit(X, Y, sample_weight=w)
    np.testing.assert_allclose(part.predict_proba(X), full.predict_proba(X), atol=1e-4)


def test_gradient_checkpointing_gives_the_plain_result(tiny_model, corpus):
    X, Y = corpus
    plain = make_est(tiny_model, model_kwargs=NO_DROPOUT).fit(X, Y)
    with warnings.catch_warnings():  # transformers 5's names: no deprecation warning
        warnings.simplefilter("error", FutureWarning)
        ckpt = make_est(tiny_model, model_kwargs=NO_DROPOUT,
                        gradient_checkpointing=True).fit(X, Y)
    np.testing.assert_allclose(ckpt.predict_proba(X), plain.predict_proba(X), atol=1e-4)
    backbone = ckpt.model_.backbone
    on = getattr(backbone, "is_activation_checkpointing", None)
    if on is None:  # transformers 4.x
        on = backbone.is_gradient_checkpointing
    assert not on  # off again for prediction


def test_gradient_checkpointing_keeps_dropout_reproducible(tiny_st_model, corpus):
    X, Y = corpus
    plain = make_est(tiny_st_model).fit(X, Y)
    ckpt = make_est(tiny_st_model, gradient_checkpointing=True).fit(X, Y)
    np.testing.assert_allclose(ckpt.predict_proba(X), plain.predict_proba(X), atol=1e-4)


# ------------------------------------------------------------- random_state=None warning
def test_unseeded_repeat_fit_warns_once_naming_random_state(tiny_st_model, corpus, monkeypatch):
    from skbert import _runner

    monkeypatch.setattr(_runner, "_UNSEEDED_FITS", set())
    monkeypatch.setattr(_runner, "_UNSEEDED_WARNED", {"done": False})
    X, Y = corpus
    kw = {**FAST, "random_state": None, "fit_cache": True, "max_epochs": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkbertWarning)
        TransformerMultiLabelClassifier(tiny_st_model, **kw).fit(X, Y)
        TransformerMultiLabelClassifier(tiny_st_model, **kw).fit(X[:40], Y[:40])  # other data
    with pytest.warns(SkbertWarning, match="int random_state") as record:
        TransformerMultiLabelClassifier(tiny_st_model, **kw).fit(X, Y)
    assert [w.filename for w in record] == [__file__]  # the user's fit line, not sklearn's
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkbertWarning)
        TransformerMultiLabelClassifier(tiny_st_model, **kw).fit(X, Y)  # once per process


# ----------------------------------------------------------------------- checkpoint_dir
class StopAfter:
    """Ctrl-C after ``n`` epochs (the checkpoint of epoch n is already written)."""

    def __init__(self, n):
        self.n = n
        self.epochs = []

    def on_epoch_end(self, est, record):
        self.epochs.append(record["epoch"])
        if record["epoch"] == self.n:
            raise KeyboardInterrupt


@pytest.mark.parametrize("extra", [{}, {"early_stopping": True, "threshold": "auto",
                                        "validation_fraction": 0.25, "n_iter_no_change": 5}])
def test_interrupted_fit_resumes_from_checkpoint_bitwise(tiny_st_model, corpus, tmp_path, extra):
    X, Y = corpus
    kw = dict(max_epochs=3, **extra)
    full = make_est(tiny_st_model, **kw).fit(X, Y)
    stop = StopAfter(2)
    stopped = make_est(tiny_st_model, checkpoint_dir=str(tmp_path), callbacks=[stop], **kw)
    with pytest.warns(SkbertWarning, match="interrupted after 2"), \
            pytest.raises(KeyboardInterrupt):  # re-raised so a search stops (issue 20 item 15)
        stopped.fit(X, Y)
    assert stop.epochs == [1, 2]
    assert stopped.interrupted_ and stopped.n_epochs_ == 2
    seen = StopAfter(99)
    resumed = make_est(tiny_st_model, checkpoint_dir=str(tmp_path), callbacks=[seen],
                       **kw).fit(X, Y)
    assert seen.epochs == [3]  # only the third epoch ran
    np.testing.assert_array_equal(resumed.predict_proba(X), full.predict_proba(X))
    assert [r["train_loss"] for r in resumed.history_] == [r["train_loss"]
                                                           for r in full.history_]
    assert resumed.best_epoch_ == full.best_epoch_
    if "threshold" in extra:
        np.testing.assert_array_equal(resumed.thresholds_, full.thresholds_)


def test_checkpoint_of_other_parameters_is_ignored_with_a_warning(tiny_st_model, corpus,
                                                                  tmp_path):
    X, Y = corpus
    make_est(tiny_st_model, max_epochs=1, checkpoint_dir=str(tmp_path)).fit(X, Y)
    seen = StopAfter(99)
    with pytest.warns(SkbertWarning, match="other parameters or data"):
        make_est(tiny_st_model, max_epochs=1, learning_rate=1e-3, callbacks=[seen],
                 checkpoint_dir=str(tmp_path)).fit(X, Y)
    assert seen.epochs == [1]  # trained from the start


def test_finished_checkpoint_refits_nothing(tiny_st_model, corpus, tmp_path, train_calls):
    X, Y = corpus
    a = make_est(tiny_st_model, checkpoint_dir=str(tmp_path)).fit(X, Y)
    seen = StopAfter(99)
    b = make_est(tiny_st_model, checkpoint_dir=str(tmp_path), callbacks=[seen]).fit(X, Y)
    assert seen.epochs == []
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_unwritable_checkpoint_dir_fails_before_training(tiny_st_model, corpus, tmp_path,
                                                         train_calls):
    X, Y = corpus
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="checkpoint_dir=.*cannot be written.*checkpoint_dir=None"):
        make_est(tiny_st_model, checkpoint_dir=str(tmp_path / "file" / "ckpt")).fit(X, Y)
    assert train_calls == []


def test_max_grad_norm_reaches_the_loop(tiny_st_model, corpus, monkeypatch):
    from torch import nn

    seen = []
    real = nn.utils.clip_grad_norm_

    def spy(params, max_norm, *args, **kwargs):
        seen.append(max_norm)
        return real(params, max_norm, *args, **kwargs)

    monkeypatch.setattr(nn.utils, "clip_grad_norm_", spy)
    X, Y = corpus
    make_est(tiny_st_model, max_epochs=1, max_grad_norm=0.25).fit(X, Y)
    assert seen and set(seen) == {0.25}
    with pytest.raises(ValueError, match="max_grad_norm"):
        make_est(tiny_st_model, max_grad_norm=0).fit(X, Y)


def test_trial12_warm_start_refuses_another_model_or_pooling(tiny_st_model, tiny_model, corpus,
                                                              tmp_path):
    """It continued the old weights silently, and the card named the new model as the base."""
    X, Y = corpus
    est = TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, max_length=16,
                                          precision="fp32", random_state=0, fit_cache=False,
                                          warm_start=True).fit(X, Y)
    with pytest.raises(ValueError, match=r"continues the model fitted from .*but "
                                         r"model_name_or_path is now .*warm_start=False"):
        est.set_params(model_name_or_path=tiny_model).fit(X, Y)
    est.set_params(model_name_or_path=tiny_st_model, pooling="cls")
    with pytest.raises(ValueError, match=r"pooling='mean', but pooling is now 'cls'"):
        est.fit(X, Y)
    est.set_params(pooling="mean").fit(X, Y)  # the same model: continued
    assert len(est.history_) == 2
    est.save_pretrained(tmp_path / "m")  # a loaded folder continues from itself
    loaded = TransformerMultiLabelClassifier.from_pretrained(tmp_path / "m")
    loaded.set_params(warm_start=True, max_epochs=1).fit(X, Y)
    assert len(loaded.history_) == 3


@pytest.mark.parametrize("bad, words", [
    ("none", r"X_val\[3\] is a missing value \(None\)"),
    ("short", r"X_val has 5 texts but Y_val has 6 rows"),
    ("empty", r"X_val is empty"),
    ("values", r"Y_val holds the values \{0, 2\}"),
])
def test_trial12_validation_set_errors_name_x_val_and_y_val(tiny_st_model, corpus, bad, words,
                                                            train_calls):
    X, Y = corpus
    Xv, Yv = list(X[:6]), Y[:6]
    Xv, Yv = {"none": (Xv[:3] + [None] + Xv[4:], Yv), "short": (Xv[:5], Yv),
              "empty": ([], Yv[:0]), "values": (Xv, Yv * 2)}[bad]
    est = TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, fit_cache=False)
    with pytest.raises((ValueError, TypeError), match=words) as info:
        est.fit(X, Y, X_val=Xv, Y_val=Yv)
    assert not re.search(r"(?<![\w'.])[XY](?!\w)", str(info.value))  # no bare X or Y left
    assert train_calls == []


def test_trial13_warm_start_compares_folders_not_spellings_and_refuses_a_new_build(
        tiny_st_model, corpus):
    """The same folder with a trailing slash was refused; a new peft_config or model_kwargs
    was ignored (full fine-tuning went on)."""
    X, Y = corpus
    est = TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, max_length=16,
                                          precision="fp32", random_state=0, fit_cache=False,
                                          warm_start=True).fit(X, Y)
    est.set_params(model_name_or_path=str(tiny_st_model) + "/").fit(X, Y)  # the same folder
    assert len(est.history_) == 2
    with pytest.raises(ValueError, match=r"model_kwargs changed since it was built"):
        est.set_params(model_kwargs={"hidden_dropout_prob": 0.5}).fit(X, Y)
    est.set_params(model_kwargs=None).fit(X, Y)
    assert len(est.history_) == 3


def test_trial13_y_val_of_other_width_and_one_0_1_vector(tiny_st_model, corpus, train_calls):
    """Y_val with one column got the one-label advice; a 1-D 0/1 y got MultiLabelBinarizer's."""
    X, Y = corpus
    est = TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, fit_cache=False)
    with pytest.raises(ValueError, match=r"Y_val has 1 label column\(s\) but Y has 4"):
        est.fit(X, Y, X_val=X[:6], Y_val=Y[:6, :1])
    with pytest.raises(ValueError, match=r"Y has one 0/1 value per text \(shape \(\d+,\)\).*"
                                         r"pd.DataFrame\(\{'yes'"):
        est.fit(X, Y[:, 0])
    with pytest.raises(TypeError, match=r"DatasetDict of the splits \['train'\].*ds\['train'\]"):
        import datasets
        est.fit(datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": X})}), Y)
    assert train_calls == []

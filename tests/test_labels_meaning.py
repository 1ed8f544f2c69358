"""Issue 22: heads that start from the labels' meaning, max_epochs="auto", min_labels."""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import pandas as pd
import pytest
from conftest import KEYWORDS, LABELS
from sklearn.metrics import label_ranking_average_precision_score as lrap
from sklearn.utils._param_validation import InvalidParameterError

from skbert import TransformerMultiLabelClassifier, _label_init, _runner
from skbert._label_init import check_label_descriptions, head_from_features, readable
from skbert._runner import resolve_max_epochs
from skbert._thresholds import at_least

#: A fit that barely moves the weights: what is predicted is the head's start.
FROZEN = dict(max_epochs=1, batch_size=16, learning_rate=1e-12, head_learning_rate=1e-12,
              random_state=0, device="cpu", precision="fp32", fit_cache=False)
DESCRIPTIONS = {name: " ".join(words) for name, words in KEYWORDS.items()}


def _frozen(path, **kwargs):
    return TransformerMultiLabelClassifier(path, **{**FROZEN, **kwargs})


# ------------------------------------------------------------------ label texts
@pytest.mark.parametrize("name, text", [
    ("disappointment", "disappointment"), ("bank_account", "bank account"),
    ("moneyFx", "money fx"), ("money-supply", "money supply"), (3, None), ("L07", None),
    ("", None), (np.int64(2), None),
])
def test_readable_names(name, text):
    assert readable(name) == text


@pytest.mark.parametrize("descriptions, match", [
    ({"sportz": "football"}, "'sportz', which is not one of the labels"),
    ({"sports": ""}, r"label_descriptions\['sports'\] is ''"),
    ({"sports": 3}, r"label_descriptions\['sports'\] is 3"),
    ({"sports": "x" * 1001}, "1001 characters"),
])
def test_bad_label_descriptions_are_refused_by_name(descriptions, match):
    with pytest.raises(ValueError, match=match):
        check_label_descriptions(descriptions, LABELS)


def test_label_descriptions_must_be_a_dict(tiny_st_model, corpus):
    X, Y = corpus
    with pytest.raises(InvalidParameterError, match="label_descriptions"):
        _frozen(tiny_st_model, label_descriptions=["football"]).fit(X, Y)


def test_descriptions_accept_numpy_labels_and_fall_back_to_names():
    texts = _label_init.label_texts(np.array(["sports", "bank_account", "7"]),
                                    check_label_descriptions({"sports": " ball games "},
                                                             np.array(["sports", "x", "7"])))
    assert texts == ["ball games", "bank account", None]


# ------------------------------------------------------------------ the head math
def test_head_from_features_scores_cosine_to_each_label_and_starts_at_the_prior():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16)) * 3
    Y = np.eye(3, dtype=int)[rng.integers(0, 3, 300)]
    X = Y @ centres + rng.normal(size=(300, 16)) + 5.0  # an offset every text shares
    prior = Y.mean(axis=0)
    weight, bias, rows = head_from_features(X, Y, None, prior, use_names=False)
    assert rows.all()
    logits = X @ weight.T + bias
    assert (logits.argmax(axis=1) == Y.argmax(axis=1)).mean() > 0.95
    # the mean logit over the training texts is each label's prior log-odds
    np.testing.assert_allclose(logits.mean(axis=0), np.log(prior / (1 - prior)), atol=1e-4)
    # a label's weight has the norm SCALE / (mean distance of a text from the mean text)
    radius = np.linalg.norm(X - X.mean(axis=0), axis=1).mean()
    np.testing.assert_allclose(np.linalg.norm(weight, axis=1), _label_init.SCALE / radius,
                               rtol=1e-5)


def test_a_label_without_name_or_example_keeps_its_random_row():
    X = np.random.default_rng(1).normal(size=(20, 8))
    Y = np.zeros((20, 2), dtype=int)
    Y[:10, 0] = 1
    names = np.full((2, 8), np.nan)
    _, _, rows = head_from_features(X, Y, names, Y.mean(axis=0) + 0.01)
    assert rows.tolist() == [True, False]


@pytest.mark.parametrize("pooling_model", ["tiny_st_model", "tiny_model"])
def test_head_from_centroids_ranks_the_training_texts_before_any_training(
        pooling_model, corpus, request):
    path = request.getfixturevalue(pooling_model)
    X, Y = corpus
    random_head = _frozen(path, head_init="random").fit(X, Y)
    centroids = _frozen(path, head_init="centroids").fit(X, Y)
    assert lrap(Y, centroids.predict_proba(X)) > lrap(Y, random_head.predict_proba(X)) + 0.1
    assert lrap(Y, centroids.predict_proba(X)) > 0.8
    # the biases start at the priors: the mean probability is near each label's frequency
    np.testing.assert_allclose(centroids.predict_proba(X).mean(axis=0), Y.mean(axis=0),
                               atol=0.12)


def test_names_alone_come_from_label_descriptions(tiny_st_model, corpus):
    X, Y = corpus
    Y = pd.DataFrame(Y, columns=LABELS)  # the label names are the columns
    # the tiny tokenizer knows no label name ("sports" is [UNK]), only the keywords
    described = _frozen(tiny_st_model, head_init="names", label_descriptions=DESCRIPTIONS)
    described.fit(X, Y)
    unknown = _frozen(tiny_st_model, head_init="names").fit(X, Y)
    assert list(described.classes_) == LABELS
    assert lrap(Y, described.predict_proba(X)) > 0.8
    assert lrap(Y, described.predict_proba(X)) > lrap(Y, unknown.predict_proba(X)) + 0.1


def test_head_init_is_part_of_the_fit_cache_key(tiny_st_model, corpus, train_calls):
    X, Y = corpus
    est = _frozen(tiny_st_model, fit_cache=True).fit(X, Y)
    est.set_params(head_init="random").fit(X, Y)
    est.set_params(label_descriptions={0: "football"}).fit(X, Y)
    assert len(train_calls) == 3


def test_a_saved_trained_head_is_kept_not_re_initialised(tiny_st_model, corpus, tmp_path):
    X, Y = corpus
    est = TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, random_state=0,
                                          device="cpu", precision="fp32", fit_cache=False)
    est.fit(X, Y).save_pretrained(tmp_path / "m")
    again = _frozen(str(tmp_path / "m")).fit(X, Y)  # barely trains: the saved head shows
    np.testing.assert_allclose(again.predict_proba(X), est.predict_proba(X), atol=1e-5)


# ------------------------------------------------------------------ max_epochs="auto"
@pytest.mark.parametrize("n_train, batch_size, epochs", [
    (10_000, 16, 3), (403, 16, 12), (1, 16, 100), (4_800, 16, 3), (1_600, 16, 3),
    (1_584, 16, 4), (403, 32, 24),
])
def test_auto_epochs_take_at_least_min_auto_steps(n_train, batch_size, epochs):
    assert _runner.MIN_AUTO_STEPS == 300
    assert resolve_max_epochs("auto", n_train, batch_size) == epochs
    assert resolve_max_epochs(7, n_train, batch_size) == 7


def test_fit_with_auto_epochs_runs_them(tiny_st_model, corpus, monkeypatch):
    X, Y = corpus  # 48 texts, 10 % held out: 43 train, 3 steps of 16 per epoch
    monkeypatch.setattr(_runner, "MIN_AUTO_STEPS", 15)
    est = TransformerMultiLabelClassifier(tiny_st_model, max_epochs="auto", threshold="auto",
                                          random_state=0, device="cpu", fit_cache=False)
    est.fit(X, Y)
    assert est.n_epochs_ == 5 and len(est.history_) == 5
    with pytest.raises(InvalidParameterError, match="max_epochs"):
        est.set_params(max_epochs="many").fit(X, Y)


# ------------------------------------------------------------------ min_labels
def test_at_least_adds_the_most_probable_labels_only_where_too_few_pass():
    proba = np.array([[0.1, 0.3, 0.2], [0.9, 0.1, 0.8], [0.4, 0.4, 0.1], [0.0, 0.0, 0.0]])
    assert at_least(proba, 0.5).astype(int).tolist() == [[0, 0, 0], [1, 0, 1], [0, 0, 0],
                                                         [0, 0, 0]]
    assert at_least(proba, 0.5, 1).astype(int).tolist() == [[0, 1, 0], [1, 0, 1], [1, 0, 0],
                                                            [1, 0, 0]]
    assert at_least(proba, 0.5, 2).astype(int).tolist() == [[0, 1, 1], [1, 0, 1], [1, 1, 0],
                                                            [1, 1, 0]]
    assert at_least(proba, 0.5, 9).all()  # more than the labels: every label


def test_min_labels_is_read_at_predict_time_without_refitting(tiny_st_model, corpus,
                                                              train_calls):
    X, Y = corpus
    est = TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, threshold=0.999,
                                          min_labels=0, random_state=0, device="cpu",
                                          precision="fp32")
    est.fit(X, Y)
    assert est.predict(X).sum() == 0
    assert est.min_labels_ == 1  # every text of the corpus has a label
    est.set_params(min_labels="auto")
    np.testing.assert_array_equal(est.predict(X).sum(axis=1), 1)
    est.set_params(min_labels=1)
    pred = est.predict(X)
    assert (pred.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(pred.argmax(axis=1), est.predict_proba(X).argmax(axis=1))
    assert pred.dtype == Y.dtype
    est.fit(X, Y)  # the same fit with another min_labels comes from the fit cache
    assert len(train_calls) == 1
    with pytest.raises(InvalidParameterError, match="min_labels"):
        est.set_params(min_labels=-1).fit(X, Y)


def test_auto_min_labels_follows_whether_every_training_text_has_a_label(tiny_st_model,
                                                                        corpus, tmp_path):
    X, Y = corpus
    est = TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, threshold=0.999,
                                          random_state=0, device="cpu", precision="fp32")
    assert est.min_labels == "auto"
    labelled = est.fit(X, Y)
    assert labelled.min_labels_ == 1
    np.testing.assert_array_equal(labelled.predict(X).sum(axis=1), 1)

    Y0 = Y.copy()
    Y0[3] = 0  # one text without a label: an empty answer is a real answer
    unlabelled = est.fit(X, Y0)
    assert unlabelled.min_labels_ == 0 and unlabelled.predict(X).sum() == 0
    w = np.ones(len(X))
    w[3] = 0.0  # ... unless that text does not count
    assert est.fit(X, Y0, sample_weight=w).min_labels_ == 1
    # Y_val is labelled data too: an unlabelled row there allows empty answers
    assert est.fit(X[:-4], Y[:-4], X_val=X[-4:], Y_val=Y0[[3, 1, 2, 3]]).min_labels_ == 0
    assert est.fit(X[:-4], Y[:-4], X_val=X[-4:], Y_val=Y[-4:]).min_labels_ == 1

    est.fit(X, Y0).save_pretrained(tmp_path / "m")
    loaded = TransformerMultiLabelClassifier.from_pretrained(str(tmp_path / "m"))
    assert loaded.min_labels == "auto" and loaded.min_labels_ == 0
    assert loaded.predict(X).sum() == 0
    settings = json.loads((tmp_path / "m" / "skbert.json").read_text())
    for bad in (2, "1", True, None, 1.0):
        (tmp_path / "m" / "skbert.json").write_text(json.dumps({**settings, "min_labels_": bad}))
        with pytest.raises(ValueError, match="min_labels_"):
            TransformerMultiLabelClassifier.from_pretrained(str(tmp_path / "m"))
    assert settings["format"] == 2  # a reader of format 1 says to upgrade, not "damaged"
    (tmp_path / "m" / "skbert.json").write_text(json.dumps({**settings, "format": 3}))
    with pytest.raises(ValueError, match="newer than this skbert.*upgrade"):
        TransformerMultiLabelClassifier.from_pretrained(str(tmp_path / "m"))
    del settings["min_labels_"]  # a folder saved before min_labels_: no label is added
    settings["format"], settings["params"]["min_labels"] = 1, 0
    (tmp_path / "m" / "skbert.json").write_text(json.dumps(settings))
    old = TransformerMultiLabelClassifier.from_pretrained(str(tmp_path / "m"))
    assert old.min_labels == 0 and old.min_labels_ == 0 and old.predict(X).sum() == 0


def test_min_labels_travels_with_a_saved_folder(tiny_st_model, corpus, tmp_path):
    X, Y = corpus
    Y = pd.DataFrame(Y, columns=LABELS)
    est = TransformerMultiLabelClassifier(tiny_st_model, max_epochs=1, min_labels=2,
                                          label_descriptions={"food": "pizza dinner"},
                                          random_state=0, device="cpu", fit_cache=False)
    est.fit(X, Y).save_pretrained(tmp_path / "m")
    settings = json.loads((tmp_path / "m" / "skbert.json").read_text())
    loaded = TransformerMultiLabelClassifier.from_pretrained(str(tmp_path / "m"))
    assert loaded.min_labels == 2 and loaded.label_descriptions == {"food": "pizza dinner"}
    assert (loaded.predict(X).sum(axis=1) >= 2).all()
    assert "min_labels" in json.dumps(settings)


def test_min_labels_above_the_number_of_labels_gives_every_label(tiny_st_model, corpus,
                                                                  tmp_path, capsys):
    # pinned, no change: min_labels is read at predict time (a grid search tries it
    # unrefitted), so a value above the number of labels means every label, never an error
    from skbert.cli import main

    X, Y = corpus
    est = _frozen(tiny_st_model, min_labels=len(LABELS) + 3).fit(X, Y)
    assert est.predict(X[:3]).all()
    assert all(len(e.labels) == len(LABELS) and e.predicted.all()
               for e in est.explain(X[:2], method="occlusion"))
    est.set_params(min_labels=0).save_pretrained(tmp_path / "m")
    pd.DataFrame({"text": X[:2]}).to_csv(tmp_path / "t.csv", index=False)
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "m"), str(tmp_path / "t.csv"),
                 "--min-labels", "99"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["labels"] for r in rows] == [list(est.classes_)] * 2


@pytest.mark.parametrize("pooling_model, params, same_as", [
    ("tiny_st_model", {}, "logistic"),                          # after the warm-up
    ("tiny_st_model", {"contrastive_steps": 0}, "labels"),
    ("tiny_model", {}, "random"),
])
def test_auto_head_is_logistic_after_a_warm_up_else_labels_or_random(
        pooling_model, params, same_as, corpus, request):
    path = request.getfixturevalue(pooling_model)
    X, Y = corpus
    auto = _frozen(path, **params).fit(X, Y)
    assert auto.head_init == "auto"
    chosen = _frozen(path, head_init=same_as, **params).fit(X, Y)
    np.testing.assert_array_equal(auto.predict_proba(X), chosen.predict_proba(X))
    others = [h for h in ("labels", "logistic", "random") if h != same_as]
    for other in others:  # the comparison can tell the heads apart
        assert not np.array_equal(auto.predict_proba(X), _frozen(
            path, head_init=other, **params).fit(X, Y).predict_proba(X)), other


# ------------------------------------------------------------------ head_init="logistic"
def test_logistic_head_skips_labels_it_cannot_separate_and_reads_the_weights():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    Y = np.zeros((40, 4), dtype=int)
    Y[:, 0] = X[:, 0] > 0          # separable along feature 0
    Y[:, 1] = 1                     # on every text
    Y[:5, 3] = 1                    # only on texts of weight 0 below
    w = np.ones(40)
    w[:5] = 0
    weight, bias, fitted = _label_init.logistic_head(X, Y, sample_weight=w, C=10.0)
    assert fitted.tolist() == [True, False, False, False]
    assert np.argmax(np.abs(weight[0])) == 0 and weight[0, 0] > 0
    assert not weight[1:].any() and not bias[1:].any()
    # stronger shrinkage: a smaller row for the same label
    small, _, _ = _label_init.logistic_head(X, Y, sample_weight=w, C=0.01)
    assert np.linalg.norm(small[0]) < np.linalg.norm(weight[0]) / 2


@pytest.mark.parametrize("pooling_model", ["tiny_st_model", "tiny_model"])
def test_logistic_head_ranks_the_training_texts_before_any_training(pooling_model, corpus,
                                                                     request, monkeypatch):
    # a random tiny encoder and 60 texts: shrink less than on a real sentence encoder
    monkeypatch.setattr(_label_init, "LOGISTIC_C", 100.0)
    path = request.getfixturevalue(pooling_model)
    X, Y = corpus
    random_head = _frozen(path, head_init="random", contrastive_steps=0).fit(X, Y)
    logistic = _frozen(path, head_init="logistic", contrastive_steps=0).fit(X, Y)
    assert lrap(Y, logistic.predict_proba(X)) > lrap(Y, random_head.predict_proba(X)) + 0.1
    assert lrap(Y, logistic.predict_proba(X)) > 0.8


def test_the_command_line_takes_the_new_options(tmp_path):
    from skbert._params import cli_params

    parse = {o.name: o.parse for o in cli_params()}
    assert parse["max_epochs"]("auto") == "auto" and parse["max_epochs"]("4") == 4
    assert parse["min_labels"]("1") == 1
    assert parse["head_init"]("names") == "names"
    assert parse["label_descriptions"]('{"acq": "mergers"}') == {"acq": "mergers"}
    assert parse["label_descriptions"]("none") is None  # the default, spelled out
    (tmp_path / "d.json").write_text(json.dumps({"crude": "crude oil"}))
    assert parse["label_descriptions"]("@" + str(tmp_path / "d.json")) == {"crude": "crude oil"}
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link.json").symlink_to(tmp_path / "d.json")
    for bad, why in [("[1, 2]", "holds an array ([1, 2]), not an object"),
                     ("{not json", "is not valid JSON"),
                     ("@" + str(tmp_path / "missing.json"), "does not exist"),
                     ("@" + str(tmp_path / "fifo"), "not a regular file"),
                     ("@" + str(tmp_path / "link.json"), "cannot be opened as a regular file")]:
        with pytest.raises(argparse.ArgumentTypeError, match="--label-descriptions") as info:
            parse["label_descriptions"](bad)
        assert why in str(info.value) and "@FILE" in str(info.value)
    with pytest.raises(argparse.ArgumentTypeError, match="--min-labels"):
        parse["min_labels"]("-1")


def test_logistic_head_does_not_depend_on_the_scale_of_sample_weight():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    Y = (X[:, :2] > 0).astype(int)
    w = rng.uniform(0.5, 2.0, size=40)
    w[:3] = 0
    small = _label_init.logistic_head(X, Y, sample_weight=w)
    large = _label_init.logistic_head(X, Y, sample_weight=1e6 * w)
    for a, b in zip(small, large):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    unweighted = _label_init.logistic_head(X[3:], Y[3:])
    np.testing.assert_allclose(small[0], unweighted[0], rtol=0.2, atol=0.05)


@pytest.mark.parametrize("head_init", ["logistic", "labels"])
def test_texts_of_weight_zero_give_a_head_no_positives(head_init, tiny_st_model, corpus):
    """A label whose positives all weigh 0 starts as a label without positives: no
    centroid or regression is made from those texts."""
    X, Y = corpus
    w = np.ones(len(X))
    w[Y[:, 2] == 1] = 0
    est = _frozen(tiny_st_model, head_init=head_init, contrastive_steps=0)
    est.fit(X, Y, sample_weight=w)
    proba = est.predict_proba(X)
    assert proba[Y[:, 2] == 1, 2].max() < 0.05
    unweighted = _frozen(tiny_st_model, head_init=head_init, contrastive_steps=0).fit(X, Y)
    assert unweighted.predict_proba(X)[Y[:, 2] == 1, 2].mean() > 0.3

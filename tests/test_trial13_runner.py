"""Trial 13 (runner side): bad probabilities and indicators in tune_thresholds /
apply_thresholds, the label the head's warnings suggest describing, label names that
read alike in the contrastive warm-up, equivalent label_descriptions in the fit cache,
and a verbose line that spoke of sample_weight when none was given."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import KEYWORDS, LABELS

from skbert import TransformerMultiLabelClassifier, apply_thresholds, tune_thresholds
from skbert._contrastive import summary
from skbert._utils import SkbertWarning

FAST = dict(max_epochs=1, batch_size=16, max_length=16, random_state=0, device="cpu",
            precision="fp32", fit_cache=False)
DESCRIPTIONS = {name: " ".join(words) for name, words in KEYWORDS.items()}


def _fit(path, X, Y, **kwargs) -> tuple[TransformerMultiLabelClassifier, list]:
    """Fit with every warning recorded; returns the estimator and skbert's warnings."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        clf = TransformerMultiLabelClassifier(path, **{**FAST, **kwargs}).fit(X, Y)
    return clf, [w for w in record if issubclass(w.category, SkbertWarning)]


# ------------------------------------------------------------ 1. tune_thresholds' inputs
def _held_out(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((40, 3)) < 0.3).astype(int), rng.random((40, 3))


@pytest.mark.parametrize("metric", ["f1_micro_global", "f1", "f1_micro", "f1_shrunk", None])
def test_one_nan_probability_is_an_error_naming_where_it_is(metric):
    Y, P = _held_out()
    P[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"proba holds NaN at row 2, column \(label index\) "
                                         r"1 \(1 value\(s\) NaN or infinite\).*Drop or fill"):
        tune_thresholds(Y, P, metric=metric)


@pytest.mark.parametrize("value, shown", [(1.5, "1.5"), (-0.25, "-0.25"), (np.inf, "inf")])
def test_a_probability_outside_0_1_is_an_error(value, shown):
    Y, P = _held_out()
    P[5, 0] = value
    with pytest.raises(ValueError, match=rf"proba holds {shown} at row 5, column \(label "
                                         r"index\) 0") as info:
        tune_thresholds(Y, P, metric="f1_micro_global")
    assert "expit" in str(info.value) or "NaN" in str(info.value)  # the fix


@pytest.mark.parametrize("value, shown", [(2, "2.0"), (0.5, "0.5"), (np.nan, "NaN"), (-1, "-1.0")])
def test_an_indicator_other_than_0_or_1_is_an_error(value, shown):
    Y, P = _held_out()
    Y = Y.astype(float)
    Y[3, 2] = value
    Y[:3] = 0  # the bad value is the first one
    with pytest.raises(ValueError, match=rf"Y_true holds {shown} at row 3, column \(label "
                                         r"index\) 2 .*0/1 indicator matrix.*Binarise"):
        tune_thresholds(Y, P, metric="f1")


def test_good_indicators_in_any_dtype_tune_alike():
    Y, P = _held_out()
    expected = tune_thresholds(Y, P, metric="f1")
    for form in (Y.astype(bool), Y.astype(float), pd.DataFrame(Y)):
        np.testing.assert_array_equal(tune_thresholds(form, P, metric="f1"), expected)


def test_default_and_candidates_must_be_thresholds():
    Y, P = _held_out()
    with pytest.raises(ValueError, match=r"default=nan must be a number in \[0, 1\]"):
        tune_thresholds(Y, P, metric="f1", default=float("nan"))
    with pytest.raises(ValueError, match=r"it holds 2.0 at index 1"):
        tune_thresholds(Y, P, metric="f1", candidates=[0.1, 2])


def test_apply_thresholds_refuses_nan_and_out_of_range_probabilities():
    with pytest.raises(ValueError, match=r"proba holds NaN at row 1, column \(label index\) 0"):
        apply_thresholds([[0.1, 0.9], [np.nan, 0.2]])
    with pytest.raises(ValueError, match=r"proba holds 3.0 at row 0, column \(label index\) 1"):
        apply_thresholds([[0.1, 3.0]])
    assert apply_thresholds([[0.1, 0.9]]).tolist() == [[0, 1]]


# ------------------------------------------------------- 2. the label a fix suggests
def test_a_silent_description_suggests_describing_that_label(tiny_st_model, corpus):
    X, Y = corpus
    _, record = _fit(tiny_st_model, X, pd.DataFrame(Y, columns=LABELS),
                     label_descriptions={**DESCRIPTIONS, "food": "zzzz qqqq"},
                     head_init="labels", contrastive_steps=0)
    said = [str(w.message) for w in record if "says nothing about its label" in str(w.message)]
    assert len(said) == 1, [str(w.message) for w in record]
    assert "'food' (text 'zzzz qqqq')" in said[0]
    assert 'label_descriptions={"food": "words saying what it means", ...}' in said[0]
    assert '{"sports"' not in said[0]  # classes[0], not a label warned about


def test_a_label_without_text_suggests_describing_that_label(tiny_st_model, corpus):
    X, Y = corpus
    columns = ["sports", "politics", "L07", "tech"]
    _, record = _fit(tiny_st_model, X, pd.DataFrame(Y, columns=columns), head_init="names",
                     label_descriptions={k: DESCRIPTIONS[k] for k in ("sports", "politics",
                                                                      "tech")},
                     contrastive_steps=0)
    said = [str(w.message) for w in record if "have neither a name made of" in str(w.message)]
    assert len(said) == 1, [str(w.message) for w in record]
    assert 'label_descriptions={"L07": "words saying what it means", ...}' in said[0]


# ------------------------------------------- 3. label names that read alike, warm-up
SAME = ["football", "election", "pizza", "team_code", "team code", "Team-Code"]


def _six_labels(corpus):
    X, Y = corpus
    return X, pd.DataFrame(np.hstack([Y, Y[:, :2]]), columns=SAME)


def test_names_that_read_alike_warn_under_the_defaults(tiny_st_model, corpus, capsys):
    X, Y = _six_labels(corpus)
    _, record = _fit(tiny_st_model, X, Y, verbose=1)  # warm-up on, head 'auto' (logistic)
    said = [w for w in record if "leaves out the names of" in str(w.message)]
    assert len(said) == 1, [str(w.message) for w in record]
    message = str(said[0].message)
    assert ("names of 3 label(s) that read as the same tokens, so their names cannot tell "
            "them apart: 'team_code' ('team code'), 'team code' and 'Team-Code' ('team code')"
            ) in message
    assert "a word the model does not know reads as its unknown token" in message
    assert "merge their columns of Y" in message
    assert 'label_descriptions={"team_code": "words saying what it means", ...}' in message
    assert said[0].filename == __file__  # the user's fit line
    out = capsys.readouterr().out
    line = next(m for m in out.splitlines() if "pair loss" in m)
    assert "left out the texts of 3 of 6 labels: 'team_code' (text 'team code' reads as " \
           "the same tokens as the text of 'team code' and 'Team-Code')" in line
    assert "'Team-Code' (text 'team code'" in line


def test_names_that_read_alike_warn_once_with_a_labels_head(tiny_st_model, corpus):
    X, Y = _six_labels(corpus)
    _, record = _fit(tiny_st_model, X, Y, head_init="labels")
    messages = [str(w.message) for w in record]
    assert not [m for m in messages if "leaves out the names of" in m]  # the head says it
    assert [m for m in messages if "reads the same tokens for the labels" in m]


def test_described_labels_are_not_warned_about_as_names(tiny_st_model, corpus):
    X, Y = _six_labels(corpus)
    descriptions = {"team_code": "robot code", "team code": "laptop software",
                    "Team-Code": "match goal"}
    _, record = _fit(tiny_st_model, X, Y, label_descriptions=descriptions)
    assert not [w for w in record if "leaves out the names of" in str(w.message)]


def test_distinct_names_do_not_warn(tiny_st_model, corpus, capsys):
    X, Y = corpus
    _, record = _fit(tiny_st_model, X, pd.DataFrame(Y, columns=["football", "election",
                                                                "pizza", "laptop"]),
                     verbose=1)
    assert not [w for w in record if "leaves out" in str(w.message)]
    assert "left out the texts" not in capsys.readouterr().out


# ------------------------------------------- 4. equivalent descriptions share a key
@pytest.mark.parametrize("same", [
    {np.int64(0): "football goal", "3": "laptop code"},
    {0: " football goal ", 3: "laptop code\n"},
    {"0": "football goal", "3": "laptop code"},  # as a loaded folder's skbert.json has it
    {3: "laptop code", 0: "football goal"},      # another order
])
def test_equivalent_label_descriptions_hit_the_fit_cache(tiny_st_model, corpus, same):
    X, Y = corpus
    params = {**FAST, "fit_cache": True}
    first = TransformerMultiLabelClassifier(
        tiny_st_model, label_descriptions={0: "football goal", 3: "laptop code"},
        **params).fit(X, Y)
    assert not first.fit_cache_hit_
    again = TransformerMultiLabelClassifier(tiny_st_model, label_descriptions=same,
                                            **params).fit(X, Y)
    assert again.fit_cache_hit_
    np.testing.assert_allclose(again.predict_proba(X[:4]), first.predict_proba(X[:4]))
    other = TransformerMultiLabelClassifier(
        tiny_st_model, label_descriptions={0: "football match", 3: "laptop code"},
        **params).fit(X, Y)
    assert not other.fit_cache_hit_  # another text is another fit


def test_no_descriptions_and_an_empty_dict_share_a_key(tiny_st_model, corpus):
    X, Y = corpus
    params = {**FAST, "fit_cache": True, "contrastive_steps": 0}
    TransformerMultiLabelClassifier(tiny_st_model, **params).fit(X, Y)
    assert TransformerMultiLabelClassifier(tiny_st_model, label_descriptions={},
                                           **params).fit(X, Y).fit_cache_hit_


# ------------------------------------------- 5. sample_weight only when given
def test_summary_speaks_of_sample_weight_only_when_given():
    info = {"asked": 5, "steps": 0, "seconds": 0.0, "first_loss": float("nan"),
            "last_loss": float("nan")}
    assert summary(info).endswith("(fewer than two labels can be drawn from the training "
                                  "texts)")
    assert "non-zero sample_weight" in summary({**info, "weighted": True})


@pytest.mark.parametrize("weighted", [False, True])
def test_no_step_run_says_sample_weight_only_when_given(tiny_st_model, capsys, weighted):
    X = ["football goal", "election vote", "pizza recipe", "laptop code"]
    Y = pd.DataFrame(np.eye(4, dtype=int), columns=LABELS)
    with pytest.warns(SkbertWarning, match="ran 0 of contrastive_steps=3 steps") as record:
        TransformerMultiLabelClassifier(tiny_st_model, contrastive_steps=3, verbose=1,
                                        contrastive_label_texts=False, head_init="centroids",
                                        **FAST).fit(
            X, Y, sample_weight=[1.0, 1.0, 2.0, 1.0] if weighted else None)
    out = capsys.readouterr().out
    ran = [str(w.message) for w in record if "ran 0 of" in str(w.message)]
    assert {w.filename for w in record if "ran 0 of" in str(w.message)} == {__file__}
    if weighted:
        assert "drawn from the texts of non-zero sample_weight)" in out
        assert "(with non-zero sample_weight)" in ran[0]
    else:
        assert "0 of 3 steps run (fewer than two labels can be drawn from the training " \
               "texts)" in out
        assert "sample_weight" not in out
        assert "sample_weight" not in ran[0]

"""A second trial of the sixth session's fixes (2026-12-07) found these; each is pinned here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import LABELS, make_corpus

from skbert import TransformerMultiLabelClassifier, tune_thresholds
from skbert._thresholds import apply_thresholds
from skbert.plotting import threshold_curve

rng = np.random.default_rng(0)
Y = pd.DataFrame((rng.random((30, 3)) > 0.6).astype(int), columns=["a", "b", "c"])
P = rng.random((30, 3))


def _fit(model, X, Y, **params):
    """A one-epoch fit of the tiny model at fp32, no cache."""
    return TransformerMultiLabelClassifier(model, max_epochs=1, max_length=16, precision="fp32",
                                           fit_cache=False, **params).fit(X, Y)


@pytest.fixture(scope="module")
def array_fitted(tiny_st_model):
    """A model fitted on a 0/1 array (labels 0..3), with its texts and targets."""
    X, Yc = make_corpus(16, seed=0)
    return _fit(tiny_st_model, X, Yc, threshold=0.5), X, Yc


@pytest.mark.parametrize("dtype", ["Int8", "Int64", "boolean"])
def test_nullable_indicator_frames_tune_as_plain_ones(dtype):
    """fit and score read nullable columns; tune_thresholds and threshold_curve refused them."""
    plain = tune_thresholds(Y.to_numpy(), P, metric="f1")
    np.testing.assert_array_equal(tune_thresholds(Y.astype(dtype), P, metric="f1"), plain)
    np.testing.assert_array_equal(threshold_curve(Y.astype(dtype), P)[1],
                                  threshold_curve(Y.to_numpy(), P)[1])


def test_a_missing_value_in_a_nullable_frame_is_named_and_text_is_refused():
    missing = Y.astype("Int8")
    missing.iloc[2, 1] = pd.NA
    with pytest.raises(ValueError, match=r"Y_true holds NaN at row 2, column \(label index\) 1"):
        tune_thresholds(missing, P, metric="f1")
    with pytest.raises(ValueError, match="must hold the numbers 0 and 1"):
        tune_thresholds(Y.astype(str), P, metric="f1")


def test_rounding_noise_above_one_is_a_probability_and_more_is_refused():
    noisy = np.where(P > 0.9, 1 + 1e-12, P)
    exact = np.where(P > 0.9, 1.0, P)
    np.testing.assert_array_equal(tune_thresholds(Y.to_numpy(), noisy, metric="f1"),
                                  tune_thresholds(Y.to_numpy(), exact, metric="f1"))
    np.testing.assert_array_equal(apply_thresholds(noisy, 0.5), apply_thresholds(exact, 0.5))
    with pytest.raises(ValueError, match="outside"):
        apply_thresholds(np.where(P > 0.9, 1.001, P), 0.5)


@pytest.mark.parametrize("twin", ["joy\u200b", "\u2060joy", "jo\ufeffy"])
def test_names_that_differ_by_an_invisible_character_look_the_same(tiny_st_model, twin):
    X, Yc = make_corpus(16, seed=0)
    frame = pd.DataFrame(Yc, columns=["joy", twin, *LABELS[2:]])
    with pytest.raises(ValueError, match="look the same"):
        _fit(tiny_st_model, X, frame)


def test_score_names_its_own_argument_and_the_column_count(array_fitted):
    clf, X, Yc = array_fitted
    with pytest.raises(ValueError, match=r"y has one value per text .* 4 0/1 columns"):
        clf.score(X, Yc[:, 0])
    named = pd.DataFrame(Yc, columns=LABELS)  # fitted on an array: labels 0..3
    with pytest.raises(ValueError, match=r"y\.to_numpy\(\)") as info:
        clf.score(X, named)
    assert "y[list(clf.classes_)]" not in str(info.value)
    assert clf.score(X, named.to_numpy()) == clf.score(X, Yc)


def test_a_description_is_measured_as_it_is_read_stripped():
    from skbert._label_init import MAX_DESCRIPTION_CHARS, check_label_descriptions

    padded = "x" * MAX_DESCRIPTION_CHARS + "\n\n"
    assert check_label_descriptions({"a": padded}, ["a", "b"]) == {"a": padded.strip()}
    with pytest.raises(ValueError, match=f"has {MAX_DESCRIPTION_CHARS + 1} characters; keep "
                                         f"each description to at most {MAX_DESCRIPTION_CHARS}"):
        check_label_descriptions({"a": "x" * (MAX_DESCRIPTION_CHARS + 1)}, ["a", "b"])


def test_score_with_label_lists_is_told_the_binarizer_of_the_model_s_labels(array_fitted):
    clf, X, _ = array_fitted
    with pytest.raises(ValueError, match=r"MultiLabelBinarizer\(classes=list\(clf\.classes_\)\)"):
        clf.score(X[:2], [["a"], ["a", "b"]])  # ragged lists: check_targets words it


@pytest.mark.parametrize("name", ["\u200b", " \u2060 "])
def test_a_name_with_nothing_visible_is_refused(tiny_st_model, name):
    X, Yc = make_corpus(16, seed=0)
    frame = pd.DataFrame(Yc, columns=[name, *LABELS[1:]])
    with pytest.raises(ValueError, match="invisible|only spaces"):
        _fit(tiny_st_model, X, frame)


def test_the_look_alike_fix_given_makes_the_names_fit(tiny_st_model):
    """Following the message's normalisation line merges the twins, so a fit on the merged
    columns runs (it suggested NFC + strip only, which left a zero-width space in place)."""
    import re
    import unicodedata

    X, Yc = make_corpus(16, seed=0)
    Y = pd.DataFrame(Yc, columns=["joy", "joy\u200b", *LABELS[2:]])
    with pytest.raises(ValueError, match="look the same") as info:
        _fit(tiny_st_model, X, Y)
    code = re.search(r"\((Y\.columns = .*? for c in Y\.columns\])\)", str(info.value))[1]
    exec(code, {"Y": Y, "unicodedata": unicodedata})  # the line the message gives
    assert list(Y.columns[:2]) == ["joy", "joy"]


@pytest.mark.parametrize("where", ["memory", "folder"])
def test_a_fit_cache_hit_says_the_fit_s_warnings_again(tiny_st_model, tmp_path, where):
    """Warnings about the fit's data and parameters (here: names that read alike, left out
    of the warm-up) were lost when a re-run cell reused the fit from the cache."""
    import warnings

    from skbert._utils import SkbertWarning

    X, Yc = make_corpus(32, seed=0)
    Y = pd.DataFrame(Yc, columns=["football", "Football", "pizza", "robot"])  # read alike
    cache = True if where == "memory" else str(tmp_path / "cache")

    def fit():
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            clf = TransformerMultiLabelClassifier(
                tiny_st_model, max_epochs=1, max_length=16, precision="fp32",
                random_state=0, fit_cache=cache, contrastive_steps=2).fit(X, Y)
        said = [w for w in record if issubclass(w.category, SkbertWarning)
                and "leaves out the names of 2 label(s)" in str(w.message)]
        return clf, said

    first, said = fit()
    again, said_again = fit()
    assert not first.fit_cache_hit_ and again.fit_cache_hit_
    assert len(said) == 1 and [str(w.message) for w in said_again] == [str(said[0].message)]
    assert said_again[0].filename == __file__  # the user's fit line


def test_an_entry_without_or_with_damaged_warnings_says_none():
    from skbert._runner import _said_warnings

    assert _said_warnings(None) == [] and _said_warnings(["a", 3]) == []
    assert _said_warnings(["x" * 5000]) == [] and _said_warnings(["a", "b"]) == ["a", "b"]


def test_float32_probabilities_compare_alike_with_one_threshold_or_one_per_label():
    """NumPy 2 compares a float32 array with a Python float in float32: 0.35 passed 0.35 as
    one threshold but not as [0.35, 0.35], and tuned thresholds did not reproduce their
    score. Every comparison is now in float64, as tune_thresholds counts."""
    from skbert._thresholds import at_least

    P32 = np.array([[0.35, 0.35], [0.10, 0.90]], dtype=np.float32)
    expected = [[0, 0], [0, 1]]  # float32(0.35) is just below 0.35
    assert apply_thresholds(P32, 0.35).tolist() == expected
    assert apply_thresholds(P32, [0.35, 0.35]).tolist() == expected
    assert apply_thresholds(pd.DataFrame(P32), 0.35).tolist() == expected
    assert at_least(P32, 0.35).astype(int).tolist() == expected


@pytest.mark.parametrize("twin", ["joy\ufe0f", "joy\u3164", "joy\u2800"])
def test_names_that_differ_by_a_blank_letter_or_a_variation_selector_look_the_same(
        tiny_st_model, twin):
    X, Yc = make_corpus(16, seed=0)
    frame = pd.DataFrame(Yc, columns=["joy", twin, *LABELS[2:]])
    with pytest.raises(ValueError, match="look the same"):
        _fit(tiny_st_model, X, frame)


def test_recorded_warnings_with_control_characters_are_not_replayed():
    from skbert._runner import _said_warnings

    assert _said_warnings(["\x1b[2J\x1b[Hpwned"]) == []
    assert _said_warnings(["fake\rERROR: run this"]) == []
    assert _said_warnings(["two lines\nare fine"]) == ["two lines\nare fine"]


def test_a_torch_tensor_of_probabilities_is_read_bfloat16_too():
    import torch

    P32 = np.array([[0.2, 0.7], [0.6, 0.1]], dtype=np.float32)
    for dtype in (torch.float32, torch.bfloat16):
        assert apply_thresholds(torch.tensor(P32, dtype=dtype), 0.5).tolist() == [[0, 1], [1, 0]]

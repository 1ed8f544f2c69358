"""``--threshold 0.3,0.5,...``: the command line refuses a per-label threshold by the
estimator's one check (``check_threshold``), in its own words.

Before, ``check_threshold_list`` had its own rules, and the two disagreed: it took
``[True, 0.5]`` (True/False are not numbers to the estimator), crashed on text, None
and nested lists with a formatting error ("Unknown format code 'g'"), and called NaN
"outside [0, 1]". From the command line only finite numbers reach it (the parser
refuses the rest), so its messages there are unchanged.
"""

from __future__ import annotations

import pickle
from fractions import Fraction

import numpy as np
import pytest

from skbert._cli_args import check_threshold_list
from skbert._thresholds import ThresholdError, check_threshold

LABELS = ["food", "tech"]

CASES = {
    "valid": [0.3, 0.5], "tuple": (0.3, 0.5), "ints": [0, 1], "fraction": [Fraction(1, 3), 0.5],
    "float32": [np.float32(0.25), 0.5],
    "nan": [0.3, float("nan")], "inf": [0.3, float("inf")], "-inf": [float("-inf"), 0.5],
    "negative": [-0.1, 0.5], "above one": [0.3, 1.5], "too many": [0.3, 0.4, 0.5],
    "too few": [0.3], "empty": [], "bool": [True, 0.5], "numpy bool": [np.True_, 0.5],
    "text": ["0.3", "0.5"], "None": [None, 0.5], "nested": [[0.3, 0.5]],
    "complex": [0.3 + 1j, 0.5],
}


def _refusal(check):
    try:
        check()
    except ValueError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("name", list(CASES))
def test_the_command_line_refuses_what_the_estimator_refuses(name):
    value = CASES[name]
    estimator = _refusal(lambda: check_threshold(value, len(LABELS), LABELS))
    cli = _refusal(lambda: check_threshold_list(value, LABELS))
    assert (cli is None) == (estimator is None), (cli, estimator)
    if cli is not None:  # the command line's words: the flag, no Python names, no index
        assert cli.startswith("--threshold "), cli
        assert "classes_" not in cli and "index" not in cli and "threshold=" not in cli, cli
        assert "--threshold 0.5" in cli, cli  # a fix to copy


@pytest.mark.parametrize("name", ["bool", "numpy bool", "text", "None", "nested", "complex"])
def test_values_that_are_not_numbers_are_refused_not_taken_or_crashed_on(name):
    """[True, 0.5] was taken as [1, 0.5]; text, None and lists crashed on a format code."""
    with pytest.raises(ValueError, match=r"is not a list of numbers; give one number in \[0, 1\]"):
        check_threshold_list(CASES[name], LABELS)


def test_a_nan_is_not_a_number_not_outside_the_range():
    with pytest.raises(ValueError, match=r"holds nan for label 'tech', which is not a number"):
        check_threshold_list([0.3, float("nan")], LABELS)


def test_the_pinned_command_line_words_are_kept():
    with pytest.raises(ValueError) as info:
        check_threshold_list([0.3, 1.5], LABELS)
    assert str(info.value) == (
        "--threshold 0.3,1.5 holds 1.5 for label 'tech', outside [0, 1]; every threshold must "
        "lie in [0, 1] (0 predicts the label for every text, 1 for none), e.g. --threshold "
        "0.5,0.5.")
    with pytest.raises(ValueError) as info:
        check_threshold_list([0.3, 0.4, 0.5], LABELS)
    assert str(info.value) == (
        "--threshold 0.3,0.4,0.5 has 3 values but the model has 2 labels (food, tech); give "
        "one number for every label (--threshold 0.5), or 2 comma-separated numbers in that "
        "order (--threshold 0.5,0.5).")
    with pytest.raises(ValueError, match=r"holds -1 for label 3, outside"):  # an int label
        check_threshold_list([0.5, -1.0], [np.int64(2), np.int64(3)])


def test_one_number_and_auto_are_the_parsers():
    for value in (0.3, 1.5, "auto", None):
        check_threshold_list(value, LABELS)


def test_the_estimators_refusal_says_what_was_wrong():
    kinds = {"nan": ("nan", 1), "above one": ("range", 1), "negative": ("range", 0),
             "too many": ("count", None), "bool": ("type", None), "text": ("type", None),
             "None": ("type", None), "nested": ("shape", None)}
    for name, (kind, index) in kinds.items():
        with pytest.raises(ThresholdError) as info:
            check_threshold(CASES[name], 2, LABELS)
        assert (info.value.kind, info.value.index) == (kind, index), name
    with pytest.raises(ThresholdError) as info:
        check_threshold(7.0, 2)
    assert (info.value.kind, info.value.index) == ("range", None)
    again = pickle.loads(pickle.dumps(info.value))  # joblib workers pickle it
    assert (type(again), str(again), again.kind) == (ThresholdError, str(info.value), "range")


def test_none_in_a_threshold_list_is_not_called_nan():
    """NumPy reads None as NaN: the estimator said 'holds NaN', naming no bad value."""
    with pytest.raises(ValueError, match=r"threshold=\[None, 0.5\] is neither a number"):
        check_threshold([None, 0.5], 2, LABELS)

"""``threshold_curve`` (and the plots built on it) checks Y_true and proba as
``tune_thresholds`` does: a NaN probability, one outside [0, 1] or a label other than
0/1 is refused, naming where it is (trial of the sixth session of 2026-12-07)."""

from __future__ import annotations

import numpy as np
import pytest

from skbert.plotting import threshold_curve

Y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
P = np.array([[0.9, 0.2], [0.3, 0.8], [0.6, 0.7], [0.1, 0.4]])


@pytest.mark.parametrize("where, value, match", [
    ("proba", np.nan, r"proba holds NaN at row 1, column \(label index\) 0"),
    ("proba", 1.5, r"proba holds 1.5 at row 1, column \(label index\) 0, outside \[0, 1\]"),
    ("proba", -np.inf, r"proba holds -inf at row 1"),
    ("Y", 2, r"Y_true holds 2(\.0)? at row 1, column \(label index\) 0"),
    ("Y", np.nan, r"Y_true holds NaN at row 1"),
])
def test_bad_values_are_refused_naming_where(where, value, match):
    Yb, Pb = Y.astype(float), P.copy()
    (Pb if where == "proba" else Yb)[1, 0] = value
    with pytest.raises(ValueError, match=match):
        threshold_curve(Yb, Pb)


def test_boolean_and_float_indicators_give_the_same_curve():
    thresholds, scores = threshold_curve(Y, P)
    for same in (Y.astype(bool), Y.astype(float)):
        t2, s2 = threshold_curve(same, P)
        np.testing.assert_array_equal(t2, thresholds)
        np.testing.assert_array_equal(s2, scores)

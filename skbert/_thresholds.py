"""Decision thresholds for multi-label probabilities (pure numpy, no torch).

The rule everywhere is ``proba >= threshold``.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from ._docs import fill_doc

#: Candidate thresholds searched by :func:`tune_thresholds` (0.5 included).
DEFAULT_CANDIDATES = np.round(np.arange(0.02, 0.99, 0.01), 2)

THRESHOLD_METRICS = ("f1", "f1_micro", "f1_micro_global", "f1_shrunk")
#: What else ``threshold_metric_`` may say of ``thresholds_`` (a zero-shot classifier tunes
#: no metric): ``"label_rate"``, each label fires on ``1 / n_labels`` of the unlabelled texts
#: given to fit; ``"default"``, 0.5 for every label (no texts to calibrate on).
THRESHOLD_RULES = (*THRESHOLD_METRICS, "label_rate", "default")


def describe_rule(rule: str | None) -> str:
    """How ``thresholds_`` were chosen, in words, for the model card and the command line.

    Examples
    --------
    >>> describe_rule("f1_micro_global")
    'one for all labels, tuned on the validation split'
    >>> describe_rule("label_rate")
    'one per label, set so that each label fires on 1/n_labels of the texts given to fit'
    """
    return {"f1_micro_global": "one for all labels, tuned on the validation split",
            "label_rate": "one per label, set so that each label fires on 1/n_labels of the "
                          "texts given to fit",
            "default": "0.5 for every label (no texts were given to calibrate them)",
            }.get(rule, "one per label, tuned on the validation split")
#: ``metric="f1_shrunk"``: the weight, in validation positives, of the shared threshold.
SHRINKAGE = 10.0
#: tune_thresholds' default metric: what the estimator's ``threshold_metric="auto"`` picks
#: above :data:`FEW_TEXTS` training texts. Whatever it picked,
#: ``clf.thresholds_ == tune_thresholds(Y_val, clf.predict_proba(X_val),
#: metric=clf.threshold_metric_)``.
DEFAULT_METRIC = "f1_micro_global"
#: A fit on at most this many training texts (after any validation split) is a few-text fit:
#: ``threshold_metric="auto"`` is ``"f1_shrunk"`` there, and ``contrastive_steps="auto"``
#: warms the encoder up (:mod:`skbert._contrastive`).
FEW_TEXTS = 1000


def resolve_threshold_metric(metric: str, n_train: int) -> str:
    """The metric ``threshold_metric=metric`` tunes with on ``n_train`` training texts.

    ``"auto"`` is ``"f1_shrunk"`` on up to :data:`FEW_TEXTS` texts (a handful of
    validation positives per label: each label's own threshold, pulled toward the
    shared one), else ``"f1_micro_global"`` (one shared threshold); another value is
    itself.

    Examples
    --------
    >>> resolve_threshold_metric("auto", 448), resolve_threshold_metric("auto", 9000)
    ('f1_shrunk', 'f1_micro_global')
    >>> resolve_threshold_metric("f1", 448)
    'f1'
    """
    if metric != "auto":
        return metric
    return "f1_shrunk" if n_train <= FEW_TEXTS else DEFAULT_METRIC
_DEFAULT_NOTICE = {"shown": False}


class ThresholdError(ValueError):
    """:func:`check_threshold`'s refusal, with what it refused, so that a caller can word
    it in its own terms (the command line names ``--threshold`` and the label, not an index).

    Attributes
    ----------
    kind : {"type", "shape", "count", "nan", "range"} or None
        ``"type"``: not numbers (text, True/False, None, a dict); ``"shape"``: not one
        number nor a flat list; ``"count"``: a list of another length than the labels;
        ``"nan"`` / ``"range"``: a value that is NaN / outside [0, 1].
    index : int or None
        With ``"nan"`` and ``"range"`` of a per-label threshold: the first bad label's
        position (None for one number).
    """

    def __init__(self, message: str, kind: str | None = None, index: int | None = None):
        super().__init__(message)
        self.kind, self.index = kind, index

    def __reduce__(self):  # pickled (joblib workers) with its kind and index
        return type(self), (str(self), self.kind, self.index)


def check_threshold(threshold, n_labels: int, classes=None) -> np.ndarray | float:
    """Validate a scalar or per-label threshold against the number of labels.

    Parameters
    ----------
    threshold : float or array-like of shape (n_labels,)
        A pandas Series is matched to the labels by its index, not by its
        order: its index must hold each label of ``classes`` once.
    n_labels : int
    classes : array-like of shape (n_labels,), default=None
        The labels, in the order of the model's columns (``classes_``). Without
        them a Series is taken only when its index is ``0 .. n_labels - 1``.

    Returns
    -------
    float or ndarray of shape (n_labels,)

    Raises
    ------
    ValueError
        If the array's length differs from ``n_labels``, a value is not a
        number (text, True/False, None), is NaN or outside [0, 1], or a
        Series' index is not the labels. All but the last are a
        :class:`ThresholdError`, whose ``kind`` says which.

    Examples
    --------
    >>> check_threshold(0.3, 4)
    0.3
    >>> check_threshold([0.2, 0.4], 2)
    array([0.2, 0.4])
    >>> check_threshold(np.array(0.3), 4)
    0.3
    >>> import pandas as pd
    >>> check_threshold(pd.Series({"b": 0.9, "a": 0.1}), 2, classes=["a", "b"])
    array([0.1, 0.9])
    """
    if is_series(threshold):
        threshold = by_label(threshold, n_labels, classes)
    if isinstance(threshold, np.ndarray) and threshold.ndim == 0:
        threshold = threshold.item()  # np.array(0.5): one number
    if isinstance(threshold, numbers.Real) and not isinstance(threshold, bool):
        if np.isnan(threshold):
            raise ThresholdError("threshold is NaN; use a number in [0, 1] such as 0.5.", "nan")
        if not 0.0 <= threshold <= 1.0:
            raise ThresholdError(
                f"threshold={threshold!r} is outside [0, 1]; a probability threshold must lie "
                "in [0, 1] (0 predicts every label, 1 none). Use e.g. 0.5.", "range")
        return float(threshold)
    values = np.ravel(np.asarray(threshold, dtype=object))
    if any(isinstance(v, (bool, np.bool_)) for v in values):
        raise ThresholdError(
            f"threshold={threshold!r:.80} holds True/False, not numbers; pass one float in "
            f"[0, 1], or {n_labels} floats (one per label, in classes_ order).", "type")
    try:
        # None is not a number either, though NumPy reads it as NaN
        if isinstance(threshold, dict) or holds_text(threshold) or any(v is None for v in values):
            raise TypeError
        t = np.asarray(threshold, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ThresholdError(
            f"threshold={threshold!r:.80} is neither a number nor an array of numbers; pass one "
            f"float in [0, 1], or {n_labels} floats (one per label, in classes_ order).",
            "type") from exc
    if t.ndim != 1 or t.shape[0] != n_labels:
        given = (f"threshold={t.tolist()!r:.80} has {t.size} values" if t.ndim == 1
                 else f"threshold has shape {t.shape}")
        raise ThresholdError(
            f"{given} but the model has {n_labels} labels; pass one float, or "
            f"{n_labels} floats (one per label, in classes_ order).",
            "count" if t.ndim == 1 else "shape")
    def where(i: int) -> str:  # the label itself when known
        return (f"label index {i}" if classes is None
                else f"label {plain_label(list(classes)[i])!r} (index {i})")

    if np.isnan(t).any():
        first = int(np.flatnonzero(np.isnan(t))[0])
        raise ThresholdError(f"threshold holds NaN at {where(first)}; use numbers in [0, 1] "
                             "such as 0.5.", "nan", first)
    bad = np.flatnonzero((t < 0) | (t > 1))
    if bad.size:
        raise ThresholdError(
            f"threshold holds {float(t[bad[0]])!r} at {where(int(bad[0]))}, outside "
            f"[0, 1] ({bad.size} value(s) out of range). Use per-label thresholds in [0, 1], "
            "e.g. 0.5 for every label.", "range", int(bad[0]))
    return t


def holds_text(value) -> bool:
    """Whether ``value`` is text or an array-like holding text: ``"0.3"`` is not a number,
    though ``float()`` and NumPy would read it as one (per-label ``threshold``, ``pos_weight``).
    """
    return isinstance(value, (str, bytes)) or any(
        isinstance(v, (str, bytes)) for v in np.ravel(np.asarray(value, dtype=object)))


def plain_label(value):
    """A numpy scalar as the Python value it holds (``np.int64(3)`` -> ``3``); else ``value``.

    The one conversion of a label (an element of ``classes_``, a key naming one)
    to what JSON and ``repr`` show; here because this module needs no torch.
    """
    return value.item() if isinstance(value, np.generic) else value


def is_series(value) -> bool:
    """Whether ``value`` is a pandas Series (without importing pandas)."""
    return any(c.__name__ == "Series" and c.__module__.startswith("pandas")
               for c in type(value).__mro__)


def by_label(series, n_labels: int, classes, name: str = "threshold") -> np.ndarray:
    """The values of a Series parameter ``name`` (``threshold``, ``pos_weight``) in the
    order of ``classes``, matched by its index."""
    index = list(series.index)
    if classes is None:
        if index == list(range(len(index))):
            return series.to_numpy()
        raise ValueError(
            f"{name} is a pandas Series indexed by {index!r:.80}; a Series is matched to the "
            f"labels by its index, and no labels are known here. Pass {name}.to_numpy() to "
            "use its values in the order given.")
    labels, keys = [plain_label(c) for c in classes], [plain_label(k) for k in index]
    try:
        unmatched = [k for k in keys if k not in labels]
        missing = [c for c in labels if c not in keys]
    except TypeError:  # an unhashable or incomparable index value
        unmatched, missing = keys, labels
    if unmatched or missing or len(set(map(repr, keys))) != len(keys):
        problem = (f"{unmatched!r:.80} are not labels" if unmatched
                   else f"it lacks the labels {missing!r:.80}" if missing
                   else "a label appears twice in its index")
        raise ValueError(
            f"{name} is a pandas Series matched to the labels by its index, but "
            f"{problem}; the labels are classes_={labels!r:.120}. Index the Series by "
            f"classes_ (one value per label), or pass {n_labels} numbers in classes_ order "
            f"(a list, or {name}.to_numpy()).")
    return np.asarray([series.to_numpy()[keys.index(c)] for c in labels])


def _first_bad(bad: np.ndarray) -> tuple[int, int, int]:
    """(row, column, count) of the first True of a 2-D mask (row-major), and how many."""
    flat = int(np.argmax(bad))  # the first True, the mask holding one (checked by the caller)
    row, col = divmod(flat, bad.shape[1])
    return row, col, int(np.count_nonzero(bad))


#: How far outside [0, 1] a probability may be and still count as rounding noise
#: (clipped): a sum or a cast in another precision can give 1 + 1e-12.
PROBA_TOLERANCE = 1e-6


def check_proba(proba, name: str = "proba") -> np.ndarray:
    """``proba`` as a float (n_samples, n_labels) array of probabilities in [0, 1].

    Vectorised (a minimum and a maximum; masks only to name a bad value); the
    message names the first bad value, its row and column, how many there are,
    and the fix, as scikit-learn's metrics do. A float array is not copied.

    Raises
    ------
    ValueError
        If ``proba`` is not numbers, not 2-D, or holds NaN, an infinity, or a value
        outside [0, 1] by more than :data:`PROBA_TOLERANCE` (rounding noise within it
        is clipped).

    Examples
    --------
    >>> check_proba([[0.2, 0.7]])
    array([[0.2, 0.7]])
    >>> check_proba([[0.2, float("nan")]])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: proba holds NaN at row 0, column (label index) 1 (1 value(s) NaN or ...
    """
    if hasattr(proba, "toarray"):  # a scipy sparse matrix
        proba = proba.toarray()
    if hasattr(proba, "detach") and hasattr(proba, "float"):  # a torch tensor, bfloat16 too
        proba = proba.detach().float().cpu().numpy()
    if hasattr(proba, "to_numpy") and not isinstance(proba, np.ndarray):
        try:  # pandas, nullable Float64 too: NA as NaN (named below, by place)
            proba = proba.to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError):
            proba = proba.to_numpy()
    try:
        P = np.asarray(proba)  # float32 stays float32: no copy of a large matrix
        if P.dtype.kind != "f":
            P = P.astype(float)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be an array of numbers (probabilities in [0, 1]) of shape "
            f"(n_samples, n_labels); got {type(proba).__name__} that is not ({exc}).") from exc
    if P.ndim != 2:
        raise ValueError(
            f"{name} has shape {P.shape}; it must be 2-D, (n_samples, n_labels), e.g. "
            "clf.predict_proba(X_test) (reshape one label's column with "
            "p.reshape(-1, 1)).")
    lo, hi = (P.min(), P.max()) if P.size else (0.0, 0.0)  # NaN propagates: two passes
    if (np.isfinite(lo) and np.isfinite(hi) and lo >= -PROBA_TOLERANCE
            and hi <= 1 + PROBA_TOLERANCE):  # the usual case: no mask, no copy
        return np.clip(P, 0.0, 1.0) if lo < 0 or hi > 1 else P
    bad = ~np.isfinite(P)
    if bad.any():
        row, col, n = _first_bad(bad)
        value = float(P[row, col])
        shown = "NaN" if np.isnan(value) else repr(value)
        raise ValueError(
            f"{name} holds {shown} at row {row}, column "
            f"(label index) {col} ({n} value(s) NaN or infinite); probabilities must be "
            "numbers in [0, 1]. Drop or fill the rows that hold NaN (or find why the model "
            "gave NaN) before tuning or applying thresholds.")
    bad = (P < -PROBA_TOLERANCE) | (P > 1 + PROBA_TOLERANCE)
    if bad.any():
        row, col, n = _first_bad(bad)
        raise ValueError(
            f"{name} holds {float(P[row, col])!r} at row {row}, column (label index) {col}, "
            f"outside [0, 1] ({n} value(s) out of range); thresholds apply to "
            "probabilities. If these are scores or logits, turn them into probabilities "
            "first (scipy.special.expit), e.g. pass clf.predict_proba(X), not "
            "clf.decision_function(X).")
    if (P < 0).any() or (P > 1).any():  # rounding noise (1 + 1e-12): probabilities still
        return np.clip(P, 0.0, 1.0)
    return P


def _number_or_nan(value) -> float:
    """A cell as a float: None and pandas' NA as NaN (refused by the caller, by place)."""
    if value is None or type(value).__name__ == "NAType":
        return float("nan")
    if isinstance(value, str):
        raise TypeError("text")
    return float(value)


def check_indicators(Y_true, name: str = "Y_true") -> np.ndarray:
    """``Y_true`` as an int (n_samples, n_labels) 0/1 indicator array.

    True/False and 0.0/1.0 are taken; any other value (2, 0.5, -1, NaN, text) is
    refused, naming the first one, its row and column, and the fix.

    Examples
    --------
    >>> check_indicators([[True, False], [0.0, 1.0]])
    array([[1, 0],
           [0, 1]])
    >>> check_indicators([[0, 2]])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Y_true holds 2 at row 0, column (label index) 1 (1 value(s) neither ...
    """
    if hasattr(Y_true, "toarray"):  # a scipy sparse matrix
        Y_true = Y_true.toarray()
    if hasattr(Y_true, "to_numpy"):  # pandas, nullable Int8/boolean columns too: NA is NaN
        dtypes = getattr(Y_true, "dtypes", None)
        kinds = [d.kind for d in (dtypes if dtypes is not None and hasattr(dtypes, "__iter__")
                                  else [Y_true.dtype])]
        Y_true = (Y_true.to_numpy(dtype=float, na_value=np.nan)
                  if all(k in "biuf" for k in kinds) else Y_true.to_numpy())
    Y = np.asarray(Y_true)
    if Y.dtype == object and Y.ndim == 2:  # a nullable frame's to_numpy(): numbers, NA
        try:
            Y = np.vectorize(_number_or_nan, otypes=[float])(Y)
        except (TypeError, ValueError):  # text: refused below, by its dtype
            pass
    if Y.dtype == bool:
        return Y.astype(int)
    if Y.dtype.kind not in "iuf":
        raise ValueError(
            f"{name} must hold the numbers 0 and 1 (a 0/1 indicator matrix); it holds "
            f"values of dtype {Y.dtype} ({Y.ravel()[:3].tolist()!r:.60}). Binarise the "
            "labels first, e.g. with sklearn.preprocessing.MultiLabelBinarizer.")
    bad = (Y != 0) & (Y != 1)  # NaN too
    if bad.any():
        if Y.ndim != 2:  # the caller's shape check words it
            return Y
        row, col, n = _first_bad(bad)
        value = Y[row, col].item()
        shown = "NaN" if value != value else repr(value)
        raise ValueError(
            f"{name} holds {shown} at row {row}, column (label index) {col} ({n} value(s) "
            f"neither 0 nor 1); {name} must be a 0/1 indicator matrix (1: the text carries "
            f"the label). Binarise it first, e.g. ({name} > 0).astype(int), or "
            "sklearn.preprocessing.MultiLabelBinarizer for lists of labels.")
    return Y.astype(int)


def _per_label(threshold, n_labels: int) -> np.ndarray:
    """``threshold`` as a float64 array of one value per label, so that ``proba >= it``
    compares in float64 whatever ``proba``'s dtype, as :func:`tune_thresholds` counts
    (NumPy compares a float32 array with one number, or a 0-d array in NumPy 1, in
    float32: 0.35 would pass 0.35 as one threshold but not as one per label). A view,
    not a copy of ``proba``."""
    return np.broadcast_to(np.asarray(threshold, dtype=np.float64), (n_labels,))


def apply_thresholds(proba, threshold=0.5) -> np.ndarray:
    """Turn probabilities into 0/1 indicators with ``proba >= threshold``.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_labels)
    threshold : float or array-like of shape (n_labels,), default=0.5
        One threshold for all labels, or one per label.

    Returns
    -------
    ndarray of shape (n_samples, n_labels), int

    Raises
    ------
    ValueError
        If ``proba`` holds NaN, an infinity or a value outside [0, 1] (named with
        its row and column), or ``threshold`` is not valid (:func:`check_threshold`).

    Examples
    --------
    >>> apply_thresholds([[0.2, 0.7], [0.6, 0.1]], [0.5, 0.8])
    array([[0, 0],
           [1, 0]])
    """
    proba = check_proba(proba)
    return (proba >= _per_label(check_threshold(threshold, proba.shape[1]),
                                proba.shape[1])).astype(int)


def auto_min_labels(Y, sample_weight=None) -> int:
    """What ``min_labels="auto"`` means for a fit on ``Y``: 1 or 0.

    1 when every text of positive weight carries at least one label (the
    data says a text always has an answer, as in GoEmotions or Reuters
    topics), else 0 (an empty answer is a real answer, as for a clean comment
    in toxicity data).

    Parameters
    ----------
    Y : array-like of shape (n_samples, n_labels)
        0/1 indicators given to fit.
    sample_weight : array-like of shape (n_samples,), default=None
        Texts of weight 0 are left out.

    Returns
    -------
    int

    Examples
    --------
    >>> auto_min_labels([[0, 1], [1, 1]]), auto_min_labels([[0, 1], [0, 0]])
    (1, 0)
    >>> auto_min_labels([[0, 1], [0, 0]], sample_weight=[1.0, 0.0])
    1
    >>> from scipy.sparse import csr_matrix
    >>> auto_min_labels(csr_matrix([[0, 1], [0, 0]]))
    0
    """
    if hasattr(Y, "tocsr"):  # a scipy sparse matrix
        labelled = np.asarray(Y.tocsr().sum(axis=1)).ravel() > 0
    else:
        Y = np.asarray(Y)
        labelled = Y.reshape(len(Y), -1).sum(axis=1) > 0
    if sample_weight is not None:
        labelled = labelled[np.asarray(sample_weight) > 0]
    return int(labelled.size > 0 and bool(labelled.all()))


def min_labels_in_force(min_labels, auto_value) -> int:
    """The ``min_labels`` that ``predict`` applies: ``auto_value`` (``min_labels_``,
    0 when unknown) for ``"auto"``, else ``min_labels`` itself.

    Examples
    --------
    >>> min_labels_in_force("auto", 1), min_labels_in_force(2, 1), min_labels_in_force("auto", None)
    (1, 2, 0)
    """
    if isinstance(min_labels, str):
        return int(auto_value or 0)
    return int(min_labels)


def at_least(proba, threshold=0.5, min_labels: int = 0) -> np.ndarray:
    """``proba >= threshold``, with at least ``min_labels`` labels per row.

    A row with fewer labels above its thresholds gets its most probable ones
    (ties go to the first column), so no text is left without an answer.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_labels)
    threshold : float or array-like of shape (n_labels,), default=0.5
    min_labels : int, default=0
        Capped at the number of labels.

    Returns
    -------
    ndarray of bool, shape (n_samples, n_labels)

    Examples
    --------
    >>> at_least([[0.2, 0.4], [0.6, 0.1]], 0.5, min_labels=1).astype(int)
    array([[0, 1],
           [1, 0]])
    """
    proba = np.asarray(proba)
    chosen = proba >= _per_label(check_threshold(threshold, proba.shape[1]), proba.shape[1])
    k = min(int(min_labels), proba.shape[1])
    if k <= 0 or proba.shape[0] == 0:
        return chosen
    short = np.flatnonzero(chosen.sum(axis=1) < k)
    if short.size:
        top = np.argsort(-proba[short], axis=1, kind="stable")[:, :k]
        chosen[short[:, None], top] = True
    return chosen


def _counts(y: np.ndarray, p: np.ndarray, candidates: np.ndarray):
    """tp, fp, fn of one label at every candidate threshold."""
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    cum_tp = np.concatenate([[0], np.cumsum(y_sorted)])
    # number predicted positive at threshold t: count of p >= t
    n_pos_pred = np.searchsorted(-p_sorted, -candidates, side="right")
    tp = cum_tp[n_pos_pred]
    fp = n_pos_pred - tp
    fn = y_sorted.sum() - tp
    return tp.astype(float), fp.astype(float), fn.astype(float)


def _fbeta(tp, fp, fn, beta: float):
    b2 = beta * beta
    denom = (1 + b2) * tp + b2 * fn + fp
    return np.divide((1 + b2) * tp, denom, out=np.zeros_like(tp, dtype=float), where=denom > 0)


#: The ``Y_true`` and ``proba`` entries of the functions that score thresholds on
#: held-out probabilities (:func:`tune_thresholds`, ``plotting.threshold_curve``),
#: written once; :func:`~skbert._docs.fill_doc` puts them in.
PROBA_DOC = {"Y_true, proba": """\
Y_true : array-like of shape (n_samples, n_labels)
    0/1 indicator matrix.
proba : array-like of shape (n_samples, n_labels)
    Predicted probabilities."""}


def _best(scores: np.ndarray, candidates: np.ndarray, default: float) -> float:
    """Highest score; ties go to the candidate nearest the default."""
    top = np.flatnonzero(scores >= scores.max() - 1e-12)
    return float(candidates[top[np.argmin(np.abs(candidates[top] - default))]])


def _check_candidates(candidates, default) -> None:
    """Refuse a ``default`` or ``candidates`` of :func:`tune_thresholds` that is not a
    threshold (a number in [0, 1])."""
    if (not isinstance(default, numbers.Real) or isinstance(default, bool)
            or not 0.0 <= default <= 1.0):  # NaN fails the comparison
        raise ValueError(f"default={default!r} must be a number in [0, 1], e.g. 0.5.")
    if candidates is None:
        return
    try:
        c = np.asarray(candidates, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"candidates={candidates!r:.80} must be numbers in [0, 1].") from exc
    bad = np.flatnonzero(~((c >= 0) & (c <= 1)).ravel())  # NaN too
    if c.ndim != 1 or bad.size:
        raise ValueError(
            f"candidates={candidates!r:.80} must be a flat list of numbers in [0, 1]"
            + (f"; it holds {float(c.ravel()[bad[0]])!r} at index {int(bad[0])}" if bad.size
               else "") + ", e.g. numpy.arange(0.05, 1.0, 0.05).")


@fill_doc(PROBA_DOC)
def tune_thresholds(Y_true, proba, *, metric: str | None = None, beta: float = 1.0,
                    candidates=None, min_positives: int = 3, default: float = 0.5,
                    shrinkage: float = SHRINKAGE) -> np.ndarray:
    """Choose one threshold per label that maximises a metric on given data.

    Use it on held-out probabilities, e.g. from
    :func:`skbert.model_selection.cross_val_predict_proba`, then pass the
    result as ``clf.set_params(threshold=...)``; no retraining is needed.

    Parameters
    ----------
    %(Y_true, proba)s
    metric : {"f1_micro_global", "f1", "f1_micro", "f1_shrunk"} or None, default=None
        None is ``"f1_micro_global"``, what the estimator's default
        ``threshold_metric="auto"`` tunes with on more than 1,000 training
        texts. ``clf.thresholds_`` equals
        ``tune_thresholds(Y_val, clf.predict_proba(X_val), metric=clf.threshold_metric_)``.
        ``"f1"`` maximises each label's own F-beta (and so macro-F-beta);
        ``"f1_micro"`` maximises micro-F-beta over all labels by coordinate ascent
        starting from ``default``; ``"f1_micro_global"`` chooses one threshold,
        shared by every label, that maximises micro-F-beta. One value fitted
        instead of one per label overfits less: tuned on validation splits of
        200 to 1,000 texts it scored better on unseen data than per-label
        thresholds in micro-F1 in every run of the defaults measured, and in
        macro-F1 in 10 of 14 (the other 4 lost 0.005 to 0.053, three on
        Reuters, whose 90 topics are mostly rare; see "Getting good results"
        and "Thresholds" in the user guide).
        ``"f1_shrunk"`` takes each label's own F-beta threshold and pulls it
        toward the shared one by how few validation positives the label has:
        ``(n_j * t_j + shrinkage * t_shared) / (n_j + shrinkage)``, so a label
        with many positives keeps its own threshold and a rare one the shared
        threshold (empirical-Bayes style).

        .. versionchanged:: 0.2.0
           The default was ``"f1"`` (one threshold per label) up to skbert
           0.1.0; where that
           would have chosen other thresholds, a ``FutureWarning`` says so
           once per process. Pass ``metric`` to silence it.
    beta : float, default=1.0
        Weight of recall against precision (F-beta).
    candidates : array-like of float, default=None
        Thresholds to try; ``None`` tries 0.02, 0.03, ..., 0.98. ``default`` is always tried.
    min_positives : int, default=3
        Labels with fewer positive examples keep ``default``: too rare to tune
        (``"f1_micro_global"`` tunes one threshold from every label and ignores it).
    default : float, default=0.5
        Threshold for rare labels, the starting point, and the winner of ties.
    shrinkage : float, default=10.0
        With ``metric="f1_shrunk"``: how many validation positives the shared
        threshold counts for.

    Returns
    -------
    ndarray of shape (n_labels,)
        Thresholds in [0, 1], in column order.

    Raises
    ------
    ValueError
        If ``Y_true`` holds a value other than 0 and 1 (2, 0.5, -1, NaN), ``proba``
        holds NaN, an infinity or a value outside [0, 1], or ``default`` or
        ``candidates`` is not in [0, 1]: the message names the value, its row and
        column, and the fix.

    Examples
    --------
    >>> Y = [[1, 0], [1, 0], [0, 1], [0, 0]]
    >>> proba = [[0.40, 0.2], [0.35, 0.1], [0.10, 0.9], [0.30, 0.3]]
    >>> tune_thresholds(Y, proba, metric="f1", min_positives=1)
    array([0.35, 0.5 ])
    >>> tune_thresholds(Y, proba, metric="f1_micro_global")
    array([0.35, 0.35])
    """
    if metric is None:
        chosen = tune_thresholds(Y_true, proba, metric=DEFAULT_METRIC, beta=beta,
                                 candidates=candidates, min_positives=min_positives,
                                 default=default)
        if not _DEFAULT_NOTICE["shown"]:
            old = tune_thresholds(Y_true, proba, metric="f1", beta=beta, candidates=candidates,
                                  min_positives=min_positives, default=default)
            if not np.array_equal(old, chosen):
                _DEFAULT_NOTICE["shown"] = True
                warnings.warn(
                    "tune_thresholds now defaults to metric='f1_micro_global' (one threshold "
                    "shared by all labels, as the estimator's threshold_metric='auto' above "
                    "1,000 training texts); up to skbert "
                    "0.1.0 it defaulted to metric='f1' (one per label), which would have chosen "
                    "other thresholds here. Pass metric='f1_micro_global' or metric='f1' to "
                    "silence this.", FutureWarning, stacklevel=2)
        return chosen
    if metric not in THRESHOLD_METRICS:
        raise ValueError(f"metric={metric!r} is not supported; use one of {THRESHOLD_METRICS}.")
    Y = check_indicators(Y_true)
    P = check_proba(proba)
    if Y.shape != P.shape or Y.ndim != 2:
        raise ValueError(
            f"Y_true has shape {Y.shape} and proba {P.shape}; both must be "
            "(n_samples, n_labels) and equal.")
    _check_candidates(candidates, default)
    cands = DEFAULT_CANDIDATES if candidates is None else np.asarray(candidates, dtype=float)
    cands = np.unique(np.concatenate([cands, [default]]))
    n_labels = Y.shape[1]
    counts = [_counts((Y[:, j] > 0).astype(np.int64), P[:, j], cands) for j in range(n_labels)]
    tunable = (Y > 0).sum(axis=0) >= min_positives
    thresholds = np.full(n_labels, float(default))
    i_default = int(np.flatnonzero(cands == default)[0])
    if metric == "f1_micro_global":
        tp, fp, fn = (sum(c[k] for c in counts) for k in range(3))
        return np.full(n_labels, _best(_fbeta(tp, fp, fn, beta), cands, default))
    if metric == "f1_shrunk":
        tp, fp, fn = (sum(c[k] for c in counts) for k in range(3))
        shared = _best(_fbeta(tp, fp, fn, beta), cands, default)
        own = np.array([_best(_fbeta(*counts[j], beta), cands, default)
                        for j in range(n_labels)])
        n_pos = (Y > 0).sum(axis=0).astype(float)
        return (n_pos * own + shrinkage * shared) / (n_pos + shrinkage)
    if metric == "f1":
        for j in np.flatnonzero(tunable):
            thresholds[j] = _best(_fbeta(*counts[j], beta), cands, default)
        return thresholds
    choice = np.full(n_labels, i_default)
    totals = np.array([sum(c[k][i_default] for c in counts) for k in range(3)], dtype=float)
    for _ in range(3):  # a few sweeps of coordinate ascent; each never lowers the score
        changed = False
        for j in np.flatnonzero(tunable):
            tp, fp, fn = counts[j]
            rest = totals - np.array([tp[choice[j]], fp[choice[j]], fn[choice[j]]])
            scores = _fbeta(rest[0] + tp, rest[1] + fp, rest[2] + fn, beta)
            if scores.max() > scores[choice[j]] + 1e-12:
                new = int(np.flatnonzero(cands == _best(scores, cands, default))[0])
                totals = rest + np.array([tp[new], fp[new], fn[new]])
                choice[j], changed = new, True
        if not changed:
            break
    return cands[choice].astype(float)

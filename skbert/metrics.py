"""Ranking metrics for multi-label classification, and scorers for ``scoring=``.

scikit-learn has label-ranking metrics (``label_ranking_average_precision_score``,
``coverage_error``, ``ndcg_score``) but not the precision-oriented ones that
multi-label papers report: R-precision (the main metric of MultiEURLEX) and
precision/recall at k. They are here, with ready scorers for
:class:`~sklearn.model_selection.GridSearchCV` and
:func:`~sklearn.model_selection.cross_val_score`.

Conventions shared by every function:

* ``Y_true`` is a 0/1 indicator matrix of shape (n_samples, n_labels): an
  array, a sparse matrix or a DataFrame.
* ``y_score`` is a matrix of the same shape in which larger means "more
  likely": ``predict_proba`` or ``decision_function`` output. The list of
  ``(n_samples, 2)`` arrays that ``MultiOutputClassifier.predict_proba``
  returns is accepted too: column 1 of each (the positive class) is used.
* **Ties** are broken deterministically: labels are ranked by score,
  descending, and equal scores by label index, ascending (a stable sort).
  A model that gives every label the same score is thus not rewarded.
"""

from __future__ import annotations

import re
import warnings
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import get_scorer as _sklearn_get_scorer
from sklearn.metrics import label_ranking_average_precision_score
from sklearn.metrics._scorer import _Scorer
from sklearn.utils import check_array

from ._docs import fill_doc

__all__ = [
    "r_precision_score",
    "precision_at_k_score",
    "recall_at_k_score",
    "r_precision_scorer",
    "lrap_scorer",
    "precision_at_5_scorer",
    "get_scorer",
]

_MLB_FIX = (
    "Encode the labels as an indicator matrix first:\n"
    "    from sklearn.preprocessing import MultiLabelBinarizer\n"
    "    Y = MultiLabelBinarizer().fit_transform(label_lists)"
)

#: Scorers ask for probabilities first and fall back to logits; both rank alike.
_RESPONSE = ("predict_proba", "decision_function")

#: The parts of the metrics' docstrings that several share, each written once;
#: :func:`~skbert._docs.fill_doc` puts them in at the ``%(name)s`` lines.
_DOC_PARTS = {
    "Y_true, y_score": """\
Y_true : array-like, sparse matrix or DataFrame of shape (n_samples, n_labels)
    True 0/1 labels.
y_score : array-like of shape (n_samples, n_labels), or list of n_labels \
        arrays of shape (n_samples, 2)
    Scores (probabilities or logits); larger means more likely.""",
    "k": """\
k : int, default=5
    How many top-scored labels to look at, at most ``n_labels``.""",
    "average over samples with true labels": """\
average : {"samples"} or None, default="samples"
    ``"samples"`` returns the mean over the samples that have at least
    one true label; ``None`` returns every sample's value (NaN for the
    samples without true labels).""",
    "sample_weight, Returns": """\
sample_weight : array-like of shape (n_samples,) or None, default=None
    Weights of the samples in the mean.

Returns
-------
float or ndarray of shape (n_samples,)
    In [0, 1].""",
}


_fill_doc = fill_doc(_DOC_PARTS)


# --------------------------------------------------------------------- helpers
def _positive_scores(y_score) -> np.ndarray:
    """Turn ``y_score`` into a float array of shape (n_samples, n_labels).

    A list of per-label ``(n_samples, 2)`` arrays (``MultiOutputClassifier``'s
    ``predict_proba``) becomes the matrix of positive-class columns.
    """
    if isinstance(y_score, (list, tuple)) and len(y_score) and np.ndim(y_score[0]) == 2:
        cols = []
        for j, p in enumerate(y_score):
            p = np.asarray(p)
            if p.shape[1] != 2:
                raise ValueError(
                    f"y_score[{j}] has shape {p.shape}: the estimator for label {j} saw a single "
                    "class in training, so it has no positive-class probability. Make sure every "
                    "label has positive and negative training examples (e.g. "
                    "skbert.model_selection.MultilabelStratifiedKFold as cv), or drop the label.")
            cols.append(p[:, 1])
        y_score = np.column_stack(cols)
    return check_array(y_score, dtype=np.float64, ensure_all_finite=True, ensure_2d=False,
                       input_name="y_score")


def _check_inputs(Y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    columns = getattr(Y_true, "columns", None)
    if columns is not None:
        Y_true = Y_true.to_numpy()
    if sp.issparse(Y_true):
        Y_true = Y_true.toarray()
    Y = np.asarray(Y_true)
    if Y.ndim != 2:
        raise ValueError(
            f"Y_true has shape {Y.shape}; expected a 2-D 0/1 indicator matrix of shape "
            "(n_samples, n_labels). " + _MLB_FIX)
    if not np.isin(Y, (0, 1)).all():
        raise ValueError(
            "Y_true must hold only 0 and 1 (label absent/present); it holds "
            f"{np.unique(Y)[:10].tolist()}. " + _MLB_FIX)
    S = _positive_scores(y_score)
    if S.shape != Y.shape:
        hint = ""
        if S.ndim == 1 or S.shape[0] == Y.shape[0] and S.shape[1] < Y.shape[1]:
            hint = (" A 1-D score usually means scikit-learn took the estimator for a binary "
                    "classifier (two labels whose classes_ look like [0, 1]); call the metric "
                    "on predict_proba(X) directly.")
        raise ValueError(
            f"y_score has shape {S.shape} but Y_true has shape {Y.shape}; they must match: one "
            f"score per sample and label.{hint}")
    return Y.astype(bool), S


def _ranking(S: np.ndarray) -> np.ndarray:
    """Label indices of each row by score descending, ties by label index ascending."""
    return np.argsort(-S, axis=1, kind="stable")


def _check_k(k, n_labels: int) -> int:
    if not isinstance(k, Integral) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}.")
    if k > n_labels:
        raise ValueError(
            f"k={k} is larger than the number of labels ({n_labels}); use k<={n_labels}.")
    return int(k)


def _hits_in_top_k(Y_true, y_score, k) -> tuple[np.ndarray, np.ndarray, int]:
    """The checked ``Y``, each sample's number of true labels among its ``k``
    top-scored ones, and the checked ``k``."""
    Y, S = _check_inputs(Y_true, y_score)
    k = _check_k(k, Y.shape[1])
    return Y, np.take_along_axis(Y, _ranking(S)[:, :k], axis=1).sum(axis=1), k


def _share_of_true(hits: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``hits / R`` for the samples with true labels (``R > 0``), 0 for the others
    (left out of the mean), and which samples those are."""
    keep = R > 0
    values = np.zeros(len(R))
    values[keep] = hits[keep] / R[keep]
    return values, keep


def _average(values: np.ndarray, keep: np.ndarray, average, sample_weight, name: str):
    """Average the per-sample ``values`` over the samples in ``keep``."""
    if average is None:
        out = values.astype(np.float64)
        out[~keep] = np.nan
        return out
    if average != "samples":
        raise ValueError(f"average must be 'samples' or None, got {average!r}.")
    w = np.ones(len(values)) if sample_weight is None else np.asarray(sample_weight, float)
    if w.shape != (len(values),):
        raise ValueError(
            f"sample_weight has shape {w.shape}; expected ({len(values)},), one per sample.")
    w = np.where(keep, w, 0.0)
    if w.sum() == 0:
        warnings.warn(
            f"{name} is undefined when no sample has a true label; returning 0.0. Check that "
            "Y_true is not all zeros (e.g. a test fold without positives).",
            UndefinedMetricWarning, stacklevel=3)
        return 0.0
    return float(np.average(values, weights=w))


# --------------------------------------------------------------------- metrics
@_fill_doc
def r_precision_score(Y_true, y_score, *, average="samples", sample_weight=None):
    """R-precision: the share of each sample's top-R labels that are true.

    For a sample with ``R`` true labels, the ``R`` labels with the highest
    scores are taken and the share of them that are true is its R-precision
    (precision at ``k = R``, which equals recall at ``k = R``). A perfect
    ranking scores 1.0 whatever ``R`` is; this makes it fairer than precision
    at a fixed k when the number of labels varies between samples.

    Parameters
    ----------
    %(Y_true, y_score)s
    %(average over samples with true labels)s
    %(sample_weight, Returns)s

    See Also
    --------
    precision_at_k_score : Precision among the top k labels, k fixed.
    sklearn.metrics.label_ranking_average_precision_score : Averages precision
        over the rank of every true label.

    Notes
    -----
    Samples without true labels are skipped: their R-precision (0 of 0) is
    undefined. If no sample has a true label, the result is 0.0 with an
    ``UndefinedMetricWarning``. Ties are broken by label index (a stable sort
    by descending score), so equal scores do not favour the true labels.

    R-precision is the main metric of the MultiEURLEX benchmark
    (Chalkidis et al., 2021).

    References
    ----------
    Chalkidis I., Fergadiotis M., Androutsopoulos I. (2021). MultiEURLEX - A
    multi-lingual and multi-label legal document classification dataset for
    zero-shot cross-lingual transfer. EMNLP 2021.

    Examples
    --------
    >>> from skbert.metrics import r_precision_score
    >>> Y_true = [[1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    >>> y_score = [[0.9, 0.1, 0.8, 0.2], [0.1, 0.2, 0.7, 0.3], [0.5, 0.5, 0.5, 0.5]]
    >>> r_precision_score(Y_true, y_score)  # (1/2 + 1/1) / 2; the third row is skipped
    0.75
    >>> r_precision_score(Y_true, y_score, average=None)
    array([0.5, 1. , nan])
    """
    Y, S = _check_inputs(Y_true, y_score)
    R = Y.sum(axis=1)
    hits = np.take_along_axis(Y, _ranking(S), axis=1)
    ranks = np.arange(1, Y.shape[1] + 1)
    in_top_r = ranks[None, :] <= R[:, None]
    values, keep = _share_of_true((hits & in_top_r).sum(axis=1), R)
    return _average(values, keep, average, sample_weight, "R-precision")


@_fill_doc
def precision_at_k_score(Y_true, y_score, *, k=5, average="samples", sample_weight=None):
    """Precision at k: the share of each sample's k top-scored labels that are true.

    Parameters
    ----------
    %(Y_true, y_score)s
    %(k)s
    average : {"samples"} or None, default="samples"
        ``"samples"`` returns the mean over all samples; ``None`` every
        sample's value.
    %(sample_weight, Returns)s

    See Also
    --------
    recall_at_k_score : The share of the true labels found in the top k.
    r_precision_score : Precision at a per-sample k equal to its number of true labels.

    Notes
    -----
    The denominator is always ``k`` (the usual definition in extreme
    multi-label classification), and every sample counts, including samples
    with no true labels (they score 0). So a sample with fewer than ``k``
    true labels cannot reach 1.0 even when ranked perfectly; use
    :func:`r_precision_score` when the number of labels per sample varies.
    Ties are broken by label index.

    Examples
    --------
    >>> from skbert.metrics import precision_at_k_score
    >>> Y_true = [[1, 1, 0, 0], [0, 0, 1, 0]]
    >>> y_score = [[0.9, 0.1, 0.8, 0.2], [0.1, 0.2, 0.7, 0.3]]
    >>> precision_at_k_score(Y_true, y_score, k=2)  # (1/2 + 1/2) / 2
    0.5
    >>> precision_at_k_score(Y_true, y_score, k=1, average=None)
    array([1., 1.])
    """
    Y, hits, k = _hits_in_top_k(Y_true, y_score, k)
    return _average(hits / k, np.ones(len(Y), bool), average, sample_weight, "Precision at k")


@_fill_doc
def recall_at_k_score(Y_true, y_score, *, k=5, average="samples", sample_weight=None):
    """Recall at k: the share of each sample's true labels among its k top-scored labels.

    Parameters
    ----------
    %(Y_true, y_score)s
    %(k)s
    %(average over samples with true labels)s
    %(sample_weight, Returns)s

    See Also
    --------
    precision_at_k_score : The share of the top k that are true.

    Notes
    -----
    Samples without true labels are skipped (0 of 0 is undefined); if none
    has a true label the result is 0.0 with an ``UndefinedMetricWarning``.
    Ties are broken by label index.

    Examples
    --------
    >>> from skbert.metrics import recall_at_k_score
    >>> Y_true = [[1, 1, 0, 0], [0, 0, 1, 0]]
    >>> y_score = [[0.9, 0.1, 0.8, 0.2], [0.1, 0.2, 0.7, 0.3]]
    >>> recall_at_k_score(Y_true, y_score, k=2)  # (1/2 + 1/1) / 2
    0.75
    """
    Y, hits, _ = _hits_in_top_k(Y_true, y_score, k)
    values, keep = _share_of_true(hits, Y.sum(axis=1))
    return _average(values, keep, average, sample_weight, "Recall at k")


def _lrap(Y_true, y_score, sample_weight=None):
    """``label_ranking_average_precision_score`` that also accepts a list of (n, 2) arrays."""
    Y, S = _check_inputs(Y_true, y_score)
    return label_ranking_average_precision_score(Y.astype(int), S, sample_weight=sample_weight)


# --------------------------------------------------------------------- scorers
class _RankingScorer(_Scorer):
    """``make_scorer``'s scorer for the ranking metrics, given every label's scores.

    scikit-learn takes a classifier whose ``classes_`` has two entries for a
    binary one and keeps one column of ``predict_proba``; a multi-label model
    with two labels would lose the other label's scores (and the metric would
    refuse the 1-D response). For such a model the response is asked from the
    estimator itself, whole (once: not first through scikit-learn); otherwise
    scikit-learn's (cached) response is used as it is.
    """

    def _score(self, method_caller, estimator, X, y_true, **kwargs):
        def every_label(est, method, X_, **options):
            classes = getattr(est, "classes_", None)
            if np.ndim(y_true) == 2 and classes is not None and len(classes) == 2:
                return getattr(est, method)(X_)  # what scikit-learn would cut to a column
            return method_caller(est, method, X_, **options)

        return super()._score(every_label, estimator, X, y_true, **kwargs)


def _ranking_scorer(score_func, **kwargs) -> _RankingScorer:
    """``make_scorer(score_func, response_method=_RESPONSE, **kwargs)``, for multi-label
    scores (:class:`_RankingScorer`)."""
    return _RankingScorer(score_func=score_func, sign=1, kwargs=kwargs,
                          response_method=_RESPONSE)


r_precision_scorer = _ranking_scorer(r_precision_score)
r_precision_scorer.__doc__ = "Scorer for :func:`r_precision_score` (``scoring=``)."

lrap_scorer = _ranking_scorer(_lrap)
lrap_scorer.__doc__ = "Scorer for ``sklearn.metrics.label_ranking_average_precision_score``."

precision_at_5_scorer = _ranking_scorer(precision_at_k_score, k=5)
precision_at_5_scorer.__doc__ = "Scorer for :func:`precision_at_k_score` with ``k=5``."

_AT_K = re.compile(r"^(precision|recall)_at_(k|\d+)$")


def get_scorer(scoring):
    """Get a scorer by name: skbert's ranking metrics, else scikit-learn's.

    Parameters
    ----------
    scoring : str or callable
        ``"r_precision"``, ``"lrap"`` (label ranking average precision),
        ``"precision_at_k"`` / ``"recall_at_k"`` (k=5), or with a number
        ``"precision_at_3"``, ``"recall_at_10"``, ...; any other name goes
        to :func:`sklearn.metrics.get_scorer` (``"f1_micro"``, ``"roc_auc"``
        ...), and a callable is returned unchanged.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, Y)`` returns a float, larger is better. The
        ranking scorers call ``predict_proba`` (or ``decision_function``
        where there is no ``predict_proba``).

    Notes
    -----
    scikit-learn's ``scoring=`` does not look names up here: pass the scorer
    object, e.g. ``GridSearchCV(..., scoring=get_scorer("r_precision"))``, or
    a dict of them for several metrics.

    Examples
    --------
    >>> from skbert.metrics import get_scorer
    >>> get_scorer("precision_at_3")  # doctest: +ELLIPSIS
    make_scorer(precision_at_k_score, response_method=..., k=3)
    >>> get_scorer("f1_micro")._score_func.__name__  # scikit-learn's
    'f1_score'
    """
    if not isinstance(scoring, str):
        return _sklearn_get_scorer(scoring)
    if scoring == "r_precision":
        return r_precision_scorer
    if scoring == "lrap":
        return lrap_scorer
    match = _AT_K.match(scoring)
    if match:
        kind, k = match.groups()
        k = 5 if k == "k" else int(k)
        func = precision_at_k_score if kind == "precision" else recall_at_k_score
        return _ranking_scorer(func, k=k)
    try:
        return _sklearn_get_scorer(scoring)
    except ValueError as exc:
        raise ValueError(
            f"{scoring!r} is neither a skbert scorer ('r_precision', 'lrap', "
            "'precision_at_k', 'recall_at_k', 'precision_at_<k>', 'recall_at_<k>') nor a "
            "scikit-learn one (see sklearn.metrics.get_scorer_names()).") from exc

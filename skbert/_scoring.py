"""The validation score followed during fit (the ``scoring`` parameter).

A scikit-learn scorer expects an estimator and texts. During fit there are
only the epoch's validation logits, so the scorer is handed a small view of
them that answers ``predict``, ``predict_proba`` and ``decision_function``:
any scorer name (``"f1_micro"``, ``"roc_auc"``, skbert's ``"r_precision"``,
``"precision_at_5"`` ...) or callable ``scorer(estimator, X, Y)`` works.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from .metrics import get_scorer


class EpochView(ClassifierMixin, BaseEstimator):
    """What a scorer sees of the model after one epoch: its validation outputs.

    ``X`` is ignored by every method: the outputs are those of the
    validation texts, in their order.

    Parameters
    ----------
    logits : ndarray of shape (n_valid, n_labels)
    threshold : float or ndarray of shape (n_labels,)
        The decision threshold of ``predict``.
    classes : ndarray of shape (n_labels,)
        The labels; ``classes_`` is ``[array([0, 1])] * n_labels``, what
        scikit-learn's own multi-label classifiers give (one 0/1 pair per
        label), so scikit-learn reads the view as multi-label whatever the
        number of labels: with two labels named or numbered ``[0, 1]`` it
        would take a binary classifier and keep one column of its
        probabilities (``roc_auc_ovr`` then fails, ``average_precision``
        refuses ``pos_label=1`` for text names).
    """

    def __init__(self, logits=None, threshold=0.5, classes=None):
        self.logits = logits
        self.threshold = threshold
        self.classes = classes

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.input_tags.string = True
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return True

    @property
    def classes_(self):
        return [np.array([0, 1])] * len(self.classes)

    def decision_function(self, X=None) -> np.ndarray:
        """The validation logits."""
        return np.asarray(self.logits, dtype=np.float64)

    def predict_proba(self, X=None) -> np.ndarray:
        """Sigmoid of the validation logits."""
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-self.decision_function()))

    def predict(self, X=None) -> np.ndarray:
        """0/1 indicators, ``predict_proba >= threshold``."""
        return (self.predict_proba() >= self.threshold).astype(int)


def make_score_fn(scoring, threshold, classes) -> Callable[[np.ndarray, np.ndarray], float] | None:
    """``score(Y_valid, logits) -> float`` (higher is better), or None to follow the loss.

    Parameters
    ----------
    scoring : None, "loss", str or callable
        A scorer name (skbert's or scikit-learn's) or ``scorer(estimator, X, Y)``.
    threshold : float or ndarray
        Used by scorers that call ``predict`` (``"auto"`` thresholds are tuned
        only after fit, so 0.5 is used for them).
    classes : ndarray of shape (n_labels,)

    Raises
    ------
    ValueError
        If ``scoring`` names no scorer.
    """
    if scoring is None or (isinstance(scoring, str) and scoring == "loss"):
        return None
    scorer = get_scorer(scoring)
    t = 0.5 if isinstance(threshold, str) else threshold
    classes = np.asarray(classes)

    def score(Y: np.ndarray, logits: np.ndarray) -> float:
        return float(scorer(EpochView(logits, t, classes), None, Y))

    score.scoring = scoring  # what a warning about the score names
    score.scorer = scorer  # what check_scoring inspects: built once
    return score


#: scikit-learn metrics that read a row of probabilities as one distribution over classes.
_ONE_DISTRIBUTION = frozenset({"log_loss", "brier_score_loss", "d2_log_loss_score",
                               "d2_brier_score"})


def check_scoring(scoring, classes) -> None:
    """Refuse, before any training, a ``scoring`` that cannot score this target.

    The scorer is tried once on made-up validation outputs for the labels
    ``classes``, each with a positive and a negative text: a name that is no scorer
    (``"nope"``), a binary-only scorer (``"f1"``, ``"precision"``) or one asking
    for more labels than there are (``"precision_at_50"`` on 5 labels) fails
    here, not after the first epoch (or, without a validation split, never).

    Raises
    ------
    ValueError
        Naming ``scoring``, what the scorer said and the fix.
    """
    n_labels = len(classes)
    try:
        score = make_score_fn(scoring, 0.5, classes)
    except ValueError as exc:
        raise ValueError(f"scoring={scoring!r} is not usable: {exc}") from None
    if score is None:
        return
    func = getattr(score.scorer, "_score_func", None)
    name = getattr(func, "__name__", "")
    if name in _ONE_DISTRIBUTION and getattr(func, "__module__", "").startswith("sklearn."):
        raise ValueError(
            f"scoring={scoring!r} uses scikit-learn's {name}, which reads each text's "
            "probabilities as one distribution over classes (they sum to 1), which "
            "independent label probabilities are not, so its value would not rank epochs by "
            "how well they label the texts. Use 'loss' (the validation BCE, the per-label "
            "log loss), 'average_precision' or 'f1_micro'.")
    eye = np.eye(n_labels, dtype=int)
    Y = np.vstack([eye, 1 - eye]) if n_labels > 1 else np.array([[1], [0]])
    logits = np.random.RandomState(0).normal(size=Y.shape)
    try:
        with warnings.catch_warnings():  # made-up outputs: what the scorer says of them is noise
            warnings.simplefilter("ignore")
            score(Y, logits)
    except (ValueError, TypeError, IndexError) as exc:
        shown = " ".join(str(exc).split())[:300].rstrip(".")
        fix = ("'f1_micro', 'roc_auc' or 'loss' (one label)" if n_labels == 1 else
               "'f1_micro', 'f1_macro', 'average_precision', 'lrap', or 'precision_at_K' "
               f"with K at most {n_labels}")
        raise ValueError(
            f"scoring={scoring!r} cannot score a multi-label target of {n_labels} label(s): "
            f"{shown}. Use a multi-label scorer, e.g. {fix}.") from None


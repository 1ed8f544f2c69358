"""Cross-validation for multi-label data.

:class:`MultilabelStratifiedKFold` wraps the iterative stratification of the
``iterative-stratification`` package (Sechidis et al., 2011) so that it takes
texts as ``X`` and any label-indicator format as ``y``, and says what is wrong
when the labels cannot be stratified.
"""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import check_consistent_length
from sklearn.utils.multiclass import type_of_target

from ._utils import SkbertWarning
from ._validation import check_targets

__all__ = ["MultilabelStratifiedKFold", "cross_val_predict_proba"]

_MLB_FIX = (
    "Encode the labels as an indicator matrix first:\n"
    "    from sklearn.preprocessing import MultiLabelBinarizer\n"
    "    Y = MultiLabelBinarizer().fit_transform(label_lists)"
)


def _iterstrat_kfold():
    try:
        from iterstrat.ml_stratifiers import MultilabelStratifiedKFold as _Impl
    except ImportError as exc:
        raise ImportError(
            "MultilabelStratifiedKFold needs the iterative-stratification package. Install it "
            "with:\n    pip install iterative-stratification"
        ) from exc
    return _Impl


def _indicator_matrix(y) -> tuple[np.ndarray, list]:
    """``y`` as a dense 0/1 matrix, and the label names to show in messages."""
    columns = getattr(y, "columns", None)
    names = list(columns) if columns is not None else None
    if columns is not None:  # a frame is read as fit reads Y, with fit's errors and warnings
        y = check_targets(y, len(y), warn_missing=False)[0]
    if y is None:
        raise ValueError(
            "MultilabelStratifiedKFold.split needs y, the label indicator matrix of shape "
            "(n_samples, n_labels): call split(X, Y).")
    kind = type_of_target(y)
    if kind != "multilabel-indicator":
        shape = getattr(y, "shape", None) or (len(y),)
        raise ValueError(
            f"MultilabelStratifiedKFold needs a multi-label indicator matrix y of shape "
            f"(n_samples, n_labels) with 0/1 values; got a {kind!r} target of shape {shape}. "
            "For single-label targets use sklearn.model_selection.StratifiedKFold. " + _MLB_FIX)
    Y = y.toarray() if sp.issparse(y) else np.asarray(y)
    if names is None:
        names = list(range(Y.shape[1]))
    return Y.astype(bool), names


class MultilabelStratifiedKFold(BaseCrossValidator):
    """K-fold cross-validation that spreads every label's positives over the folds.

    Plain :class:`~sklearn.model_selection.KFold` can leave a rare label out
    of a test fold (that fold then cannot score it) or out of a training fold.
    Iterative stratification (Sechidis et al., 2011) assigns texts label by
    label, rarest label first, so that each fold receives its share of every
    label's positives. The work is done by the ``iterative-stratification``
    package (``iterstrat``); this class lets ``X`` be a list of texts and ``y``
    a DataFrame or a sparse matrix, and checks ``y``.

    Use it as ``cv=`` in :class:`~sklearn.model_selection.GridSearchCV`,
    :func:`~sklearn.model_selection.cross_val_score`,
    :func:`~sklearn.model_selection.cross_val_predict` and the like.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds, at least 2.
    shuffle : bool, default=False
        Shuffle the texts before stratifying.
    random_state : int, RandomState instance or None, default=None
        Breaks the ties of the stratification, and seeds the shuffle. Unlike
        in :class:`~sklearn.model_selection.StratifiedKFold` it matters even
        with ``shuffle=False``. With ``shuffle=False`` and ``None``, ties are
        broken with a fixed seed, so ``split`` gives the same folds on every
        call (as ``KFold(shuffle=False)`` does); with ``shuffle=True`` and
        ``None`` the folds change from call to call: pass an int to fix them.

    See Also
    --------
    sklearn.model_selection.KFold : Folds that ignore the labels.
    sklearn.model_selection.StratifiedKFold : Stratified folds for single-label targets.

    Notes
    -----
    Fold sizes may differ by a few texts. A label with fewer positives than
    ``n_splits`` cannot be in every test fold; ``split`` then warns and
    names it, as ``StratifiedKFold`` does for small classes.

    The fit cache of :class:`~skbert.TransformerMultiLabelClassifier` reuses
    a fine-tuning run only for identical training data, so give an int
    ``random_state`` when two searches should share their fits.

    References
    ----------
    Sechidis K., Tsoumakas G., Vlahavas I. (2011). On the Stratification of
    Multi-Label Data. ECML PKDD 2011, LNCS 6913, pp. 145-158.

    Examples
    --------
    >>> import numpy as np
    >>> from skbert.model_selection import MultilabelStratifiedKFold
    >>> texts = ["a", "b", "c", "d", "e", "f", "g", "h"]
    >>> Y = np.array([[0, 0], [0, 0], [0, 1], [0, 1], [1, 1], [1, 1], [1, 0], [1, 0]])
    >>> cv = MultilabelStratifiedKFold(n_splits=2, random_state=0)
    >>> for train, test in cv.split(texts, Y):
    ...     print(test, Y[test].sum(axis=0))
    [1 2 5 7] [2 2]
    [0 3 4 6] [2 2]
    """

    def __init__(self, n_splits=5, *, shuffle=False, random_state=None):
        # Checked here, not in split, as scikit-learn's own splitters do: a
        # splitter is not cloned or fitted, so this is the earliest useful place.
        if not isinstance(n_splits, Integral) or isinstance(n_splits, bool) or n_splits < 2:
            raise ValueError(
                f"n_splits must be an int of at least 2, got {n_splits!r}. Use e.g. n_splits=5.")
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be True or False, got {shuffle!r}.")
        _iterstrat_kfold()  # fail now, with the pip command, if the package is missing
        self.n_splits = int(n_splits)
        self.shuffle = shuffle
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None):
        """Return the number of folds.

        Parameters
        ----------
        X, y, groups : object
            Ignored, present for API compatibility.

        Returns
        -------
        n_splits : int
            The number of folds.
        """
        return self.n_splits

    def split(self, X, y, groups=None):
        """Generate train and test indices of each fold.

        Parameters
        ----------
        X : sequence of length n_samples
            The texts (or any features); only their number is used.
        y : array-like, sparse matrix or DataFrame of shape (n_samples, n_labels)
            0/1 label indicators; the stratification follows them.
        groups : object
            Ignored, present for API compatibility.

        Yields
        ------
        train : ndarray of int
            The training indices of the fold.
        test : ndarray of int
            The test indices of the fold.

        Raises
        ------
        ValueError
            If ``y`` is not a multi-label indicator matrix, if ``X`` and ``y``
            have different lengths, or if there are fewer texts than folds.

        Warns
        -----
        UserWarning
            (a :class:`~skbert.SkbertWarning`) naming the labels with fewer
            positives than ``n_splits``.
        """
        Y, names = _indicator_matrix(y)
        if X is not None:
            check_consistent_length(X, Y)
        n = Y.shape[0]
        if self.n_splits > n:
            raise ValueError(
                f"Cannot have number of splits n_splits={self.n_splits} greater than the number "
                f"of samples: n_samples={n}. Lower n_splits.")
        counts = Y.sum(axis=0)
        rare = [(name, int(c)) for name, c in zip(names, counts) if c < self.n_splits]
        if rare:
            shown = ", ".join(f"{name!r} ({c})" for name, c in rare[:10])
            more = f" and {len(rare) - 10} more" if len(rare) > 10 else ""
            warnings.warn(
                f"{len(rare)} label(s) have fewer positives than n_splits={self.n_splits}, so "
                f"some test folds will not contain them: {shown}{more}. Lower n_splits, or "
                "drop or merge these labels.", SkbertWarning, stacklevel=2)
        impl = _iterstrat_kfold()(n_splits=self.n_splits, shuffle=self.shuffle)
        # iterstrat breaks ties with random_state even without shuffling, but
        # scikit-learn's _BaseKFold refuses random_state with shuffle=False in
        # __init__; set it afterwards. Without shuffling, None means a fixed
        # seed, so that split is deterministic as KFold(shuffle=False) is.
        impl.random_state = (0 if self.random_state is None and not self.shuffle
                             else self.random_state)
        yield from impl.split(np.zeros((n, 1)), Y)


def cross_val_predict_proba(estimator, X, Y, *, groups=None, cv=5, n_jobs=None, params=None):
    """Out-of-fold probabilities of every label, each fold fitted on ``Y`` as given.

    What ``cross_val_predict(estimator, X, Y, method="predict_proba")``
    gives, for tuning thresholds on texts no fit has seen
    (:func:`skbert.tune_thresholds`), except that each fold is fitted on
    ``Y`` indexed as it was passed. scikit-learn's ``cross_val_predict``
    label-encodes a classifier's targets first, so every fold gets a plain
    array: the names of a DataFrame's columns are lost (``label_descriptions``
    keyed by them is refused, and the contrastive warm-up and the head's
    start read no label names), and a later ``cross_validate`` or grid search
    on the DataFrame, whose folds keep the names, does not find those fits in
    the fit cache. Here the folds are the ones those functions fit, so with
    the same ``cv`` and an int ``random_state`` they reuse these fits.

    Parameters
    ----------
    estimator : estimator
        A :class:`~skbert.TransformerMultiLabelClassifier` (or a Pipeline
        ending in one): anything whose ``predict_proba`` gives one column per
        label of ``Y``. It is cloned for each fold and not fitted itself.
    X : list, array or Series of str, or a DataFrame a Pipeline reads
        The texts.
    Y : array-like, sparse matrix or DataFrame of shape (n_samples, n_labels)
        0/1 label indicators.
    groups : array-like of shape (n_samples,), default=None
        Group of each text, for a splitter that keeps groups apart
        (``GroupKFold``). As in scikit-learn, only while metadata routing is
        off; with ``sklearn.set_config(enable_metadata_routing=True)`` pass
        ``params={"groups": groups}``.
    cv : int, cross-validation generator or iterable of (train, test), default=5
        An int is ``KFold`` with that many folds, as in scikit-learn's
        ``cross_val_predict`` and ``cross_validate`` (so they share the
        folds, and the fit cache's fits); pass
        ``MultilabelStratifiedKFold(n_splits=5)`` for folds that spread every
        label's positives. The test folds must hold every text exactly once.
    n_jobs : int, default=None
        Folds fitted in parallel with joblib (``None``: one at a time).
        Give ``fit_cache`` a folder to share fits between processes.
    params : dict, default=None
        Keyword arguments of ``fit``: ``sample_weight`` (one value per text)
        is cut to each training fold, the others (``X_val``, ``Y_val``) are
        passed whole. With metadata routing on, they are routed as
        scikit-learn's ``cross_val_predict`` routes them: to ``fit`` only
        what the estimator requested (``set_fit_request(sample_weight=True)``;
        otherwise scikit-learn's ``UnsetMetadataPassedError``), and
        ``groups`` to the splitter.

    Returns
    -------
    ndarray of shape (n_samples, n_labels)
        Row ``i`` is the probabilities given by the fit whose test fold
        holds text ``i``; columns in the order of ``Y``'s.

    Raises
    ------
    ValueError
        If the test folds do not hold every text exactly once, or a fold's
        probabilities do not have one column per label of ``Y``.

    See Also
    --------
    sklearn.model_selection.cross_val_predict : The same for array targets.
    skbert.tune_thresholds : Thresholds from these probabilities.

    Examples
    --------
    >>> from skbert import TransformerMultiLabelClassifier, tune_thresholds
    >>> from skbert.datasets import load_goemotions
    >>> from skbert.model_selection import cross_val_predict_proba
    >>> X, Y = load_goemotions(return_X_y=True, as_frame=True)  # doctest: +SKIP
    >>> clf = TransformerMultiLabelClassifier(random_state=0)  # doctest: +SKIP
    >>> proba = cross_val_predict_proba(clf, X, Y, cv=5)  # doctest: +SKIP
    >>> clf.set_params(threshold=tune_thresholds(Y, proba)).fit(X, Y)  # doctest: +SKIP
    """
    from joblib import Parallel, delayed
    from sklearn.base import clone
    from sklearn.model_selection import check_cv
    from sklearn.utils import _safe_indexing
    from sklearn.utils.validation import _num_samples

    n = _num_samples(X)
    check_consistent_length(X, Y)
    n_labels = check_targets(Y, n, warn_missing=False, warn_scorers=False)[0].shape[1]
    if isinstance(cv, (bool, np.bool_)):
        raise TypeError(f"cv={cv!r} is a bool; pass a number of folds (e.g. cv=5) or a "
                        "splitter such as MultilabelStratifiedKFold(n_splits=5).")
    cv = check_cv(cv, Y, classifier=True)  # an int: KFold for multi-label Y, as scikit-learn
    split_params, params = _route(estimator, cv, groups, dict(params or {}))
    splits = [(np.asarray(train), np.asarray(test))
              for train, test in cv.split(X, Y, **split_params)]
    tested = np.concatenate([test for _, test in splits]) if splits else np.zeros(0, int)
    if len(tested) != n or not np.array_equal(np.sort(tested), np.arange(n)):
        outside = tested[(tested < 0) | (tested >= n)] if tested.size else tested
        why = (f"{len(outside)} index(es) outside 0..{n - 1} (e.g. {outside[0]})"
               if outside.size else f"{len(tested)} test indices, {len(np.unique(tested))} "
               f"distinct, for {n} texts")
        raise ValueError(
            f"cv's test folds are not a partition of the texts ({why}); every text must be in "
            "exactly one test fold (KFold, MultilabelStratifiedKFold, GroupKFold), as for "
            "cross_val_predict.")
    weights = params.get("sample_weight")
    if weights is not None and _num_samples(weights) != n:
        raise ValueError(
            f"params['sample_weight'] has {_num_samples(weights)} values for the {n} texts of "
            "X; give one weight per text.")

    def fold_params(train):
        return {k: _safe_indexing(v, train) if k == "sample_weight" and v is not None else v
                for k, v in params.items()}

    def run(train, test):
        fitted = clone(estimator).fit(_safe_indexing(X, train), _safe_indexing(Y, train),
                                      **fold_params(train))
        return test, np.asarray(fitted.predict_proba(_safe_indexing(X, test)))

    out = np.zeros((n, n_labels), dtype=np.float64)
    for test, proba in Parallel(n_jobs=n_jobs)(delayed(run)(tr, te) for tr, te in splits):
        if proba.shape != (len(test), n_labels):
            raise ValueError(
                f"A fold's predict_proba gave shape {proba.shape}; expected "
                f"({len(test)}, {n_labels}), one column per label of Y. The estimator must "
                "give multi-label probabilities, as TransformerMultiLabelClassifier does.")
        out[test] = proba
    return out


def _route(estimator, cv, groups, params: dict) -> tuple[dict, dict]:
    """The splitter's ``split`` and the estimator's ``fit`` keyword arguments.

    With metadata routing off, ``groups`` goes to the splitter and ``params``
    to ``fit``; with it on, as scikit-learn's ``cross_val_predict`` routes
    them (``groups`` only inside ``params``, and to ``fit`` only what the
    estimator requested).
    """
    from sklearn import get_config

    if not get_config().get("enable_metadata_routing", False):
        if "groups" in params:
            raise TypeError(
                "params holds 'groups', which goes to the splitter only while metadata routing "
                "is on (sklearn.set_config(enable_metadata_routing=True)); with it off, as "
                "now, pass groups=groups, as to scikit-learn's cross_val_predict.")
        return {"groups": groups}, params
    from sklearn.exceptions import UnsetMetadataPassedError
    from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, process_routing

    if groups is not None:
        raise ValueError(
            "groups= can only be passed while metadata routing is off, as in scikit-learn's "
            "cross_val_predict. With sklearn.set_config(enable_metadata_routing=True), pass "
            "it with the other metadata: params={'groups': groups}.")
    router = (MetadataRouter(owner="cross_val_predict_proba")
              .add(splitter=cv, method_mapping=MethodMapping().add(caller="fit", callee="split"))
              .add(estimator=estimator,
                   method_mapping=MethodMapping().add(caller="fit", callee="fit")))
    try:
        routed = process_routing(router, "fit", **params)
    except UnsetMetadataPassedError as exc:  # the user called this function, not a fit
        raise UnsetMetadataPassedError(
            message=str(exc).replace("cross_val_predict_proba.fit", "cross_val_predict_proba"),
            unrequested_params=exc.unrequested_params, routed_params=exc.routed_params) from None
    return dict(routed.splitter.split), dict(routed.estimator.fit)

"""Plots for looking at a fine-tuned model: training curves, precision-recall, thresholds,
the words behind a label.

matplotlib is an optional dependency (``pip install "skbert[plot]"``) and is
imported only when a function here is called. Every function draws on the
given ``ax`` (or a new figure's) and returns that Axes, so plots compose with
the rest of a matplotlib figure.
"""

from __future__ import annotations

import numpy as np

from ._thresholds import check_indicators, check_proba

__all__ = ["plot_history", "plot_precision_recall", "plot_threshold_curve", "plot_top_words",
           "threshold_curve"]

_THRESHOLD_METRICS = ("f1_micro", "f1_macro", "f1_samples")


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            'skbert.plotting needs matplotlib, which is not installed; install it with '
            'pip install "skbert[plot]" (or pip install matplotlib).') from exc
    return plt


def _axes(ax):
    if ax is None:
        _, ax = _pyplot().subplots()
    else:
        _pyplot()
    return ax


def _check_Y_proba(Y_true, proba):
    """``(Y, P)``: 0/1 indicators and probabilities of one shape, as
    :func:`~skbert.tune_thresholds` takes them (NaN, values outside [0, 1] and
    labels other than 0/1 are refused, naming the first)."""
    Y, P = check_indicators(Y_true), check_proba(proba)
    if Y.ndim != 2 or Y.shape != P.shape:
        raise ValueError(
            f"Y_true has shape {Y.shape} and proba {P.shape}; both must be "
            "(n_samples, n_labels) and equal, e.g. Y_test and clf.predict_proba(X_test).")
    if Y.shape[0] == 0:
        raise ValueError("Y_true and proba hold no samples; pass at least one row.")
    return Y, P


def plot_history(clf_or_history, ax=None):
    """Plot training and validation loss per epoch, and validation micro-F1.

    Parameters
    ----------
    clf_or_history : TransformerMultiLabelClassifier or list of dict
        A fitted estimator, or its ``history_``: one dict per epoch with
        ``epoch``, ``train_loss`` and optionally ``valid_loss`` and ``valid_f1``.
    ax : matplotlib Axes, default=None
        Where to draw the losses; a new figure if None. Validation micro-F1,
        when the fit held out a validation split, goes on a twin y-axis at the
        right.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes holding the loss curves.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If an estimator is passed before ``fit``.
    ValueError
        If the history is empty or its records lack ``train_loss``.
    """
    history = clf_or_history
    if hasattr(clf_or_history, "get_params"):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(clf_or_history, "history_")
        history = clf_or_history.history_
    history = list(history) if history is not None else []
    if not history:
        raise ValueError("The history is empty; fit the estimator first (history_ holds one "
                         "record per epoch).")
    if not all(isinstance(r, dict) and r.get("train_loss") is not None for r in history):
        raise ValueError("Every history record must be a dict with a 'train_loss', like the "
                         "records of TransformerMultiLabelClassifier.history_.")
    ax = _axes(ax)
    epochs = [r.get("epoch", i + 1) for i, r in enumerate(history)]
    ax.plot(epochs, [r["train_loss"] for r in history], "o-", label="train loss")
    handles = None
    if any(r.get("valid_loss") is not None for r in history):
        ax.plot(epochs, [_nan(r.get("valid_loss")) for r in history], "s-", label="valid loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (BCE)")
    ax.set_xticks(epochs)
    if any(r.get("valid_f1") is not None for r in history):
        ax2 = ax.twinx()
        ax2.plot(epochs, [_nan(r.get("valid_f1")) for r in history], "^--", color="C2",
                 label="valid micro-F1")
        ax2.set_ylabel("micro-F1 (threshold 0.5)")
        ax2.set_ylim(0, 1)
        handles = ax.get_legend_handles_labels()
        h2 = ax2.get_legend_handles_labels()
        handles = (handles[0] + h2[0], handles[1] + h2[1])
    ax.legend(*(handles or ax.get_legend_handles_labels()), loc="best")
    ax.set_title("Training history")
    return ax


def _nan(value):
    return np.nan if value is None else value


def plot_precision_recall(Y_true, proba, labels=None, label_names=None, ax=None):
    """Plot one precision-recall curve per label, plus the micro-average.

    Parameters
    ----------
    Y_true : array-like or DataFrame of shape (n_samples, n_labels)
        0/1 indicator matrix of the true labels. A DataFrame's columns give
        the label names.
    proba : array-like of shape (n_samples, n_labels)
        Predicted probabilities, e.g. ``clf.predict_proba(X_test)``.
    labels : list of int or str, default=None
        Which labels to draw, as column indices or names. None draws every
        label when there are at most 10, else the 10 with the most positive
        examples (the micro-average always covers all labels).
    label_names : list of str, default=None
        Names of the columns, e.g. ``clf.classes_``; defaults to a
        DataFrame's columns or the column indices.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure if None.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes; each curve's legend entry gives its average precision (AP).

    Raises
    ------
    ValueError
        If the shapes differ, ``label_names`` has the wrong length, a label
        is unknown, or a chosen label has no positive example.
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve

    if label_names is None and hasattr(Y_true, "columns"):
        label_names = [str(c) for c in Y_true.columns]
    Y, P = _check_Y_proba(Y_true, proba)
    n_labels = Y.shape[1]
    names = [str(i) for i in range(n_labels)] if label_names is None else [str(n) for n in
                                                                           label_names]
    if len(names) != n_labels:
        raise ValueError(f"label_names has {len(names)} names but the data has {n_labels} "
                         "label columns; pass one name per column (e.g. clf.classes_).")
    support = Y.sum(axis=0)
    if labels is None:
        chosen = [j for j in np.argsort(-support, kind="stable")[:10] if support[j] > 0]
        chosen = sorted(chosen) if n_labels <= 10 else chosen
    else:
        chosen = [_label_index(lab, names) for lab in labels]
        empty = [names[j] for j in chosen if support[j] == 0]
        if empty:
            raise ValueError(f"Label(s) {empty} have no positive example in Y_true, so they "
                             "have no precision-recall curve; choose other labels.")
    ax = _axes(ax)
    for j in chosen:
        precision, recall, _ = precision_recall_curve(Y[:, j], P[:, j])
        ap = average_precision_score(Y[:, j], P[:, j])
        ax.plot(recall, precision, lw=1.2, label=f"{names[j]} (AP {ap:.2f})",
                drawstyle="steps-post")
    if Y.sum() > 0:
        precision, recall, _ = precision_recall_curve(Y.ravel(), P.ravel())
        ap = average_precision_score(Y, P, average="micro")
        ax.plot(recall, precision, "k--", lw=2, label=f"micro-average (AP {ap:.2f})",
                drawstyle="steps-post")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper right", fontsize="small")
    ax.set_title("Precision-recall per label")
    return ax


def _label_index(label, names: list[str]) -> int:
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        if not 0 <= label < len(names):
            raise ValueError(f"Label index {label} is out of range; there are {len(names)} "
                             "labels (0 to n_labels - 1).")
        return int(label)
    if str(label) in names:
        return names.index(str(label))
    raise ValueError(f"Unknown label {label!r}; choose among {names} or pass column indices.")


def threshold_curve(Y_true, proba, metric="f1_micro", thresholds=None):
    """Scores of one threshold shared by all labels, for a grid of thresholds.

    Parameters
    ----------
    Y_true : array-like of shape (n_samples, n_labels)
        0/1 indicator matrix.
    proba : array-like of shape (n_samples, n_labels)
        Predicted probabilities.
    metric : {"f1_micro", "f1_macro", "f1_samples"}, default="f1_micro"
        The F1 average to compute.
    thresholds : array-like of float, default=None
        Thresholds to try; None tries 0.01, 0.02, ..., 0.99.

    Returns
    -------
    thresholds : ndarray of shape (n_thresholds,)
    scores : ndarray of shape (n_thresholds,)

    Examples
    --------
    >>> t, s = threshold_curve([[1, 0], [0, 1]], [[0.8, 0.3], [0.2, 0.6]],
    ...                        thresholds=[0.25, 0.5, 0.7])
    >>> s.round(2).tolist()
    [0.8, 1.0, 0.67]
    """
    from sklearn.metrics import f1_score

    if metric not in _THRESHOLD_METRICS:
        raise ValueError(f"metric={metric!r} is not supported; use one of "
                         f"{', '.join(repr(m) for m in _THRESHOLD_METRICS)}.")
    Y, P = _check_Y_proba(Y_true, proba)
    grid = np.round(np.arange(0.01, 1.0, 0.01), 2) if thresholds is None else np.asarray(
        thresholds, dtype=float)
    average = metric.split("_", 1)[1]
    scores = np.array([f1_score(Y, (P >= t).astype(int), average=average, zero_division=0)
                       for t in grid])
    return grid, scores


def plot_threshold_curve(Y_true, proba, ax=None, metric="f1_micro"):
    """Plot an F1 score against a decision threshold shared by all labels.

    Marks the best threshold and the default 0.5, which shows how much
    ``set_params(threshold=...)`` (no refit needed) can gain. Per-label
    thresholds (:func:`skbert.tune_thresholds`) can do better still.

    Parameters
    ----------
    Y_true : array-like of shape (n_samples, n_labels)
        0/1 indicator matrix; use held-out data, not the training texts.
    proba : array-like of shape (n_samples, n_labels)
        Predicted probabilities.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure if None.
    metric : {"f1_micro", "f1_macro", "f1_samples"}, default="f1_micro"
        The score on the y-axis.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes.

    Raises
    ------
    ValueError
        If the shapes differ or ``metric`` is unknown.
    """
    grid, scores = threshold_curve(Y_true, proba, metric=metric)
    ax = _axes(ax)
    label = metric.replace("f1_", "") + "-F1"
    ax.plot(grid, scores, "-", label=label)
    best = int(np.argmax(scores))
    ax.plot([grid[best]], [scores[best]], "o", color="C3",
            label=f"best: {scores[best]:.3f} at {grid[best]:.2f}")
    at_half = int(np.argmin(np.abs(grid - 0.5)))
    ax.axvline(0.5, color="grey", ls=":", lw=1, label=f"0.5: {scores[at_half]:.3f}")
    ax.set_xlabel("threshold (same for every label)")
    ax.set_ylabel(label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, max(1e-3, float(scores.max())) * 1.1)
    ax.legend(loc="best")
    ax.set_title(f"{label} against the decision threshold")
    return ax


def plot_top_words(explanations, label, k=15, ax=None, *, aggregate="sum", min_count=1,
                   lowercase=True):
    """Bar chart of the words that drive ``label`` over a set of texts.

    Each word's attributions to the label (from ``clf.explain``) are added up
    over every text where the label was explained; the ``k`` largest are
    drawn as horizontal bars, strongest at the top (red: pushes the label on,
    blue: pushes it off). What drives "anger" overall, not in one text.

    Parameters
    ----------
    explanations : list of Explanation
        What ``clf.explain(X, labels=[label])`` returned.
    label : label name
        A label explained in at least one of them.
    k : int, default=15
        Bars to draw.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure if None.
    aggregate : {"sum", "mean"}, default="sum"
        Total attribution (frequent, strong words first) or the mean per
        occurrence (pair it with ``min_count`` to leave out rare words).
    min_count : int, default=1
        Leave out words seen fewer times.
    lowercase : bool, default=True
        Count ``Anger`` and ``anger`` as one word.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes.

    Raises
    ------
    ValueError
        If ``label`` was explained for none of the texts, or ``k < 1``.
    """
    from ._explain import word_totals
    from ._explain_html import NEGATIVE, POSITIVE

    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k={k!r} must be a positive int, e.g. 15.")
    rows = word_totals(explanations, label, aggregate=aggregate, lowercase=lowercase,
                       min_count=min_count)[:k]
    ax = _axes(ax)
    words = [w for w, _, _ in rows][::-1]
    values = np.array([v for _, v, _ in rows][::-1])
    colours = [tuple(c / 255 for c in (POSITIVE if v > 0 else NEGATIVE)) for v in values]
    ax.barh(np.arange(len(words)), values, color=colours)
    ax.set_yticks(np.arange(len(words)))
    ax.set_yticklabels([f"{w} ({n})" for w, _, n in rows][::-1])
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel(f"{'total' if aggregate == 'sum' else 'mean'} attribution to {label!r}")
    n_texts = sum(1 for e in explanations if any(str(x) == str(label) for x in e.labels))
    ax.set_title(f"Words behind {label!r} over {n_texts} texts (occurrences in brackets)")
    return ax

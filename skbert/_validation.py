"""Checks of texts (X) and multi-label targets (Y).

Every message names what was received, what was expected and the one change
that fixes it. The checks take the argument's name (``name="X_val"``), so a
validation set's errors speak of ``X_val``/``Y_val`` from the start.
"""

from __future__ import annotations

import reprlib
import unicodedata
import warnings
from collections.abc import ItemsView, KeysView, Mapping, Set, ValuesView
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import type_of_target

from ._safe_io import UNSAFE_CHARS
from ._thresholds import plain_label
from ._utils import SkbertWarning, user_stacklevel


def _mlb_fix(name: str = "Y") -> str:
    """The MultiLabelBinarizer fix of a target named ``name``: for ``Y_val`` the binarizer
    fitted on ``Y``'s labels, so that the columns are the same labels in the same order."""
    if name == "y":  # compared with a model's predictions: its labels, in their order
        return ("Encode the labels as an indicator matrix whose columns are the model's "
                "labels, in their order:\n"
                "    from sklearn.preprocessing import MultiLabelBinarizer\n"
                "    y = MultiLabelBinarizer(classes=list(clf.classes_)).fit_transform("
                "label_lists)")
    if name != "Y":
        return ("Encode the labels as an indicator matrix with the binarizer fitted on Y's "
                "label lists, so the columns match Y's:\n"
                "    mlb = MultiLabelBinarizer().fit(label_lists)   # Y = mlb.transform(...)\n"
                f"    {name} = mlb.transform(val_label_lists)")
    return ("Encode the labels as an indicator matrix first:\n"
            "    from sklearn.preprocessing import MultiLabelBinarizer\n"
            f"    {name} = MultiLabelBinarizer().fit_transform(label_lists)")


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = _REPR.maxother = 60


def brief(value, width: int = 50) -> str:
    """A repr of ``value`` cut to ``width`` characters, safe on any input.

    ``repr`` of a list nested 100,000 deep raises RecursionError, and of a
    huge container costs its whole size; :mod:`reprlib` stops at 3 levels
    and a few items, so an error message about a hostile value stays an
    error message.

    Examples
    --------
    >>> brief([[[[[1]]]]])
    '[[[[...]]]]'
    """
    try:
        text = _REPR.repr(value)
    except Exception:  # a __repr__ that raises: name the type only
        text = f"<{type(value).__name__}>"
    return text[:width]


def is_hf_dataset(X, name: str = "X") -> bool:
    """Whether X is a ``datasets.Dataset`` (checked by duck typing; no import).

    A streaming ``IterableDataset`` is refused here, naming the fix: it has no
    length, and skbert reads a ``Dataset`` by slices. ``name`` is how the
    message names the argument (``"X_val"``).
    """
    if not type(X).__module__.startswith("datasets."):
        return False
    if type(X).__name__ == "DatasetDict":
        raise TypeError(
            f"{name} is a datasets.DatasetDict of the splits {list(X)[:5]}; pass one split, "
            f"e.g. {name}=ds[{list(X)[0]!r}].")
    if type(X).__name__ == "IterableDataset":
        raise TypeError(
            f"{name} is a streaming datasets.IterableDataset, which has no length and cannot be "
            "read in slices. Load it without streaming=True (a map-style Dataset is "
            "memory-mapped, not read into memory), or pass its texts as a list, e.g. "
            "[row['text'] for row in ds].")
    return hasattr(X, "column_names")


def check_texts(X, *, text_column: str = "text", name: str = "X") -> list[str]:
    """Validate texts and return them as a list of str.

    Parameters
    ----------
    X : list, tuple, 1-D ndarray, pandas Series, single-column 2-D array or DataFrame, \
            or datasets.Dataset
        The texts. A ``datasets.Dataset`` must have a column named ``text_column``.
    text_column : str, default="text"
        The column read from a ``datasets.Dataset``.
    name : str, default="X"
        How the messages name the argument (``"X_val"`` for a validation set);
        the targets they speak of are named after it (``"Y_val"``).

    Returns
    -------
    list of str

    Raises
    ------
    TypeError
        If X is a bare string or holds a non-str element (reported by position,
        and for a pandas Series by index label too).
    TypeError
        Also a ValueError, as scikit-learn's error for NaN input is: if X holds
        a missing value (None, NaN, NA).
    ValueError
        If X is empty, or is 2-D with more than one column.

    Examples
    --------
    >>> check_texts(("a", "b"))
    ['a', 'b']
    """
    if isinstance(X, (str, bytes)):
        raise TypeError(
            "Iterable over raw text documents expected, string object received. "
            f"Wrap a single text in a list: {name}=[text]."
        )
    if is_hf_dataset(X, name):
        if text_column not in X.column_names:
            raise ValueError(
                f"The datasets.Dataset has no column {text_column!r}; its columns are "
                f"{X.column_names}. Rename the text column to {text_column!r} "
                "(dataset.rename_column(old, 'text'))."
            )
        X = X[text_column]
    columns = getattr(X, "columns", None)
    if columns is not None:  # pandas DataFrame
        if len(columns) != 1:
            raise ValueError(
                f"{name} is a DataFrame with {len(columns)} columns {list(columns)[:5]}; a "
                "text estimator needs one column of texts. Select the text column, e.g. "
                f"{name}['text']."
            )
        X = X.iloc[:, 0]
    index = getattr(X, "index", None) if hasattr(X, "iloc") else None  # a pandas Series
    if hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):
        X = X.to_numpy()
    if isinstance(X, np.ndarray):
        if X.ndim == 2 and X.shape[1] == 1:
            X = X.ravel()
        elif X.ndim != 1:
            raise ValueError(
                f"{name} has shape {X.shape}; expected a 1-D array of texts or a single "
                f"column. Select the text column, e.g. {name}[:, 0]."
            )
        X = X.tolist()
    elif not isinstance(X, list):
        if isinstance(X, (Set, Mapping, KeysView, ValuesView, ItemsView)):
            raise TypeError(
                f"{name} is a {type(X).__name__}, which has no fixed order, so its texts could "
                f"not be matched to the rows of {_targets_of(name)}. Pass an ordered sequence: "
                "a list, tuple, array or pandas Series (e.g. list(texts) in the order of "
                f"{_targets_of(name)}'s rows).")
        try:
            X = list(X)
        except TypeError as exc:
            raise TypeError(
                f"{name} must be a list of str, got {type(X).__name__}. Pass the texts as a "
                "list."
            ) from exc
    if len(X) == 0:
        raise ValueError(f"{name} is empty: pass at least one text.")
    for i, x in enumerate(X):
        if not isinstance(x, str):
            where = _position(name, i, index)
            if is_missing(x):  # None, NaN, pandas' NA (a str column's gap reads as NaN)
                raise MissingTextError(
                    f"{where} is a missing value ({brief(x)}), but every element of "
                    f"{name} must be a str. Drop that text, or fill missing texts with '' "
                    f"(e.g. {name}.fillna('') for a pandas Series).")
            if isinstance(x, (bytes, bytearray)):  # str() would give "b'...'", not the text
                fix = (f"Decode the bytes, e.g. [x.decode('utf-8') for x in {name}] (with the "
                       "encoding they were written in).")
            else:
                fix = (f"Convert or drop it, e.g. [str(x) for x in {name}] or fill missing "
                       "texts with ''.")
            raise TypeError(
                f"{where} is {type(x).__name__} ({brief(x)}), but every element of {name} "
                f"must be a str. {fix}")
    return X


class MissingTextError(TypeError, ValueError):
    """A text that is missing (None, NaN, pandas' NA): a TypeError, since a text must be a
    str, and a ValueError, as scikit-learn's own error for NaN in its input is."""


def _position(name: str, i: int, index) -> str:
    """Where element ``i`` of ``name`` is: ``X[3]``, or for a pandas Series whose index is
    not ``0 .. n-1``, its position and index label (``X.iloc[3] (index label 103)``)."""
    if index is None:
        return f"{name}[{i}]"
    try:
        label = index[i]
    except Exception:  # noqa: BLE001 - an index that cannot say; the position still can
        return f"{name}.iloc[{i}]"
    if isinstance(label, np.generic):
        label = label.item()
    elif isinstance(label, tuple):  # a MultiIndex
        label = tuple(v.item() if isinstance(v, np.generic) else v for v in label)
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool) and label == i:
        return f"{name}[{i}]"
    return f"{name}.iloc[{i}] (index label {brief(label)})"


def is_missing(x) -> bool:
    """None, a float NaN (NumPy's too) or pandas' ``NA``/``NaT``: a missing value, in a
    text column or a data file's cell."""
    if x is None or type(x).__name__ in ("NAType", "NaTType"):
        return True
    return isinstance(x, (float, np.floating)) and x != x


def _targets_of(name: str) -> str:
    """The name of the targets that go with the texts ``name``: ``"Y_val"`` for ``"X_val"``."""
    return "Y" + name[1:] if name.startswith("X") else "Y"


def iter_text_chunks(X, size: int):
    """Validate texts and split them into lists of at most ``size`` texts.

    A ``datasets.Dataset`` is read slice by slice, so a corpus larger than
    memory is never materialised; anything else goes through :func:`check_texts`.

    Returns
    -------
    n : int
        The number of texts.
    chunks : iterator of list of str
        Consecutive chunks, in input order.
    """
    if is_hf_dataset(X):
        n = len(X)
        return n, (check_texts(X.select(range(i, min(i + size, n))))
                   for i in range(0, n, size))
    texts = check_texts(X)
    return len(texts), (texts[i:i + size] for i in range(0, len(texts), size))


@dataclass
class FitData:
    """The checked inputs of one ``fit``."""

    X: list
    Y: np.ndarray
    classes: np.ndarray
    y_dtype: np.dtype
    sample_weight: np.ndarray | None = None
    X_val: list | None = None
    Y_val: np.ndarray | None = None


#: Largest weights outside this range are scaled to 1 (see :func:`check_sample_weight`).
WEIGHT_RANGE = (1e-6, 1e6)


def check_sample_weight(sample_weight, n_samples: int) -> np.ndarray | None:
    """Validate per-text weights: shape (n_samples,), finite, non-negative, not all zero.

    The loss is the weighted mean over each batch, so multiplying every
    weight by the same factor changes nothing. Weights whose largest value is
    outside :data:`WEIGHT_RANGE` are therefore scaled by the power of two
    that brings that largest value into [0.5, 1) (an exact scaling) before
    they are stored as float32, where ``1e300`` would overflow and
    ``1e-300`` vanish; weights inside the range are kept as given.

    Returns
    -------
    ndarray of shape (n_samples,), float32, or None

    Raises
    ------
    ValueError
        If the weights are not numbers, have the wrong shape, hold a negative
        or non-finite value (the first is named), or are all zero.
    """
    if sample_weight is None:
        return None
    try:
        raw = np.asarray(sample_weight)
        if raw.dtype.kind in "USVcmM":  # text, bytes, complex, times: never read as weights
            raise TypeError(raw.dtype)
        w = raw.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"sample_weight={brief(sample_weight, 60)} is not an array of numbers; pass one "
            "non-negative weight per text.") from None
    if w.ndim == 0:
        w = np.full(n_samples, float(w))
    if w.shape != (n_samples,):
        raise ValueError(
            f"sample_weight has shape {w.shape} but X has {n_samples} texts; pass one weight "
            "per text, shape (n_samples,).")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise ValueError(
            f"sample_weight[{bad[0]}] is {float(w[bad[0]])!r}; weights must be finite and >= 0. "
            "Fix or drop that text.")
    if not (w > 0).any():
        raise ValueError("sample_weight is zero for every text, so no text would count in the "
                         "loss; pass a positive weight for at least one text, or "
                         "sample_weight=None to weigh all texts equally.")
    top = float(w.max())
    if not WEIGHT_RANGE[0] <= top <= WEIGHT_RANGE[1]:
        # the loss is a weighted mean, so only ratios matter: bring the largest into
        # [0.5, 1) by a power of two (exact) before float32, where 1e300 would become
        # inf, 1e-300 zero, and their sums 0/0
        w = np.ldexp(w, -int(np.frexp(top)[1]))
    return w.astype(np.float32)


def check_targets(Y, n_samples: int, *, warn_missing: bool = True, warn_scorers: bool = True,
                  name: str = "Y"):
    """Validate a multi-label indicator matrix.

    Parameters
    ----------
    Y : array-like or sparse matrix of shape (n_samples, n_labels), or DataFrame
        0/1 indicators. A DataFrame's column names become the label names.
    n_samples : int
        The number of texts, which Y must match.
    warn_missing : bool, default=True
        Warn about labels with no positive row.
    warn_scorers : bool, default=True
        Warn about a DataFrame whose columns have pandas extension dtypes
        (nullable ``Int64``, ``boolean``, pyarrow): read here, but
        scikit-learn's multi-label metrics cannot read them.
    name : str, default="Y"
        How the messages name the argument (``"Y_val"`` for a validation
        set); its texts are named after it (``"X_val"``).

    Returns
    -------
    Y : ndarray of shape (n_samples, n_labels), float32
    classes : ndarray of shape (n_labels,)
        Column names of a DataFrame, else ``arange(n_labels)``.
    dtype : numpy dtype
        The dtype ``predict`` should return.

    Raises
    ------
    ValueError
        If Y is not a multi-label indicator matrix, with the MultiLabelBinarizer fix.
    """
    classes = None
    if getattr(Y, "columns", None) is not None:
        Y, classes = _frame_targets(Y, name, warn_scorers)
    Y = _target_array(Y, name)
    _check_target_shape(Y, classes, name)
    _check_target_values(Y, name)
    if Y.shape[0] != n_samples:
        raise ValueError(
            f"{_texts_of(name)} has {n_samples} texts but {name} has {Y.shape[0]} rows; they "
            f"must match. Pass one row of {name} per text, in the order of {_texts_of(name)}."
        )
    if classes is None:
        classes = np.arange(Y.shape[1])
    dtype = Y.dtype
    Yf = Y.astype(np.float32)
    no_pos = np.flatnonzero(Yf.sum(axis=0) == 0)
    if no_pos.size and warn_missing:
        names = [str(classes[i]) for i in no_pos[:10]]
        warnings.warn(
            f"{no_pos.size} label(s) have no positive example in the training data "
            f"({', '.join(names)}{', ...' if no_pos.size > 10 else ''}); the model can only "
            "learn to never predict them. Drop those columns or add examples.",
            SkbertWarning,
            stacklevel=user_stacklevel(),
        )
    return Yf, classes, dtype


def _texts_of(name: str) -> str:
    """The name of the texts that go with the targets ``name``: ``"X_val"`` for ``"Y_val"``."""
    return "X" + name[1:] if name.startswith("Y") else "X"


def _frame_targets(Y, name: str, warn_scorers: bool):
    """A DataFrame ``Y`` (named ``name`` in messages) as a numpy array and its label names."""
    columns = Y.columns
    classes = _label_names(columns, name=name)
    if Y.isna().to_numpy().any():
        raise ValueError(f"{name} has missing values; fill them with 0 (label absent), e.g. "
                         f"{name}.fillna(0), or drop those rows.")
    # pandas nullable dtypes (Int64, boolean) map to their plain numpy dtype
    dtypes = [_numpy_dtype(d) for d in Y.dtypes]
    if len(columns) == 0:
        raise ValueError(
            f"{name} has no label columns (shape {Y.shape}); pass one 0/1 column per label, "
            "e.g. from MultiLabelBinarizer.")
    kinds = {str(d) for d in Y.dtypes}
    if (len(kinds) > 1 and any(_is_sparse(d) for d in Y.dtypes)
            and Y.iloc[:1].to_numpy().dtype == object):  # e.g. sparse bool among ints
        raise ValueError(
            f"{name} mixes sparse columns with columns of other dtypes ({sorted(kinds)[:4]}); "
            "scikit-learn's scorers read such a frame as objects, so score and "
            "cross_val_score would fail or score nan. Give every column one sparse dtype, "
            f"e.g. {name} = {name}.astype(pd.SparseDtype(int, 0)), or pass "
            f"{name}.sparse.to_dense().")
    for column, dt in zip(columns, dtypes):
        _check_column_kind(column, Y[column].dtype, name)
        if dt is None or dt.kind not in "biuf":
            if _object_zero_one(Y[column]):
                raise ValueError(
                    f"{name}'s column {column!r} holds 0/1 (or True/False) values but has "
                    "dtype object, which "
                    "scikit-learn's multi-label metrics cannot read (cross_val_score would "
                    f"fail or score nan). Convert {name} first: {name} = {name}.astype(int).")
            first = brief(Y[column].iloc[0], 30) if len(Y) else "no rows"
            raise ValueError(
                f"{name}'s column {column!r} has dtype {Y[column].dtype} ({first} in "
                f"its first row); every column of {name} must hold 0/1 (or True/False). Encode "
                "label lists with MultiLabelBinarizer, or convert the column, e.g. "
                f"{name}[col].astype(int).")
    extension = sorted({str(d) for d in Y.dtypes  # read: every column is 0/1 numbers
                        if not isinstance(d, np.dtype) and not _is_sparse(d)})
    if extension and warn_scorers:
        warnings.warn(
            f"{name}'s columns have pandas extension dtypes ({', '.join(extension[:4])}); fit "
            "reads them, but scikit-learn's multi-label metrics cannot, so "
            "cross_val_score and GridSearchCV with a scoring such as 'f1_micro' would "
            f"score nan. Convert {name} first: {name} = {name}.astype(int).", SkbertWarning,
            stacklevel=user_stacklevel())
    return Y.to_numpy(dtype=np.result_type(*dtypes)), classes


def _target_array(Y, name: str) -> np.ndarray:
    """``Y`` (a list, sparse matrix or array) as a numpy array; label lists are refused."""
    if isinstance(Y, (list, tuple)) and len(Y) and isinstance(Y[0], (list, tuple, set)):
        if any(isinstance(v, str) for row in Y for v in row) or len({len(r) for r in Y}) > 1:
            raise ValueError(
                f"{name} looks like a list of label lists (e.g. [['joy'], ['anger', 'fear']]); "
                "expected a 2-D indicator matrix of shape (n_samples, n_labels). "
                + _mlb_fix(name))
    if sp.issparse(Y):
        Y = Y.toarray()
    try:
        return np.asarray(Y)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(
            f"{name} could not be read as a 2-D array ({exc}); expected an indicator matrix of "
            "shape (n_samples, n_labels) with one row per text. " + _mlb_fix(name)) from None


def _object_zero_one(column) -> bool:
    """Whether a pandas column of dtype object holds only the numbers 0 and 1 (or bools)."""
    if str(getattr(column, "dtype", "")) != "object" or not len(column):
        return False
    return all(isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating))
               and v in (0, 1) for v in column.to_numpy())


def _check_target_shape(Y: np.ndarray, classes, name: str) -> None:
    """Refuse a ``Y`` that is not 2-D with at least two label columns, saying the fix."""
    if (Y.ndim in (1, 2) and Y.shape[0] and (Y.ndim == 1 or Y.shape[1] == 1)
            and Y.dtype.kind in "biuf" and np.isin(Y, (0, 1)).all()):
        # one yes/no label: y = df["spam"], or MultiLabelBinarizer of one class
        column = f"{name}[{classes[0]!r}]" if classes is not None else name
        what = "one label column" if Y.ndim == 2 else "one 0/1 value per text"
        fix = (f"{name}['not_{classes[0]}'] = 1 - {column}" if classes is not None else
               # named columns: labels 0 and 1 would read as the 0/1 values they are not
               f"{name} = pd.DataFrame({{'yes': np.ravel({name}), 'no': 1 - np.ravel({name})}})")
        raise ValueError(
            f"{name} has {what} (shape {Y.shape}); a multi-label model needs at least two "
            f"labels. For one yes/no label, add its complement as a second label, e.g. {fix}"
            "; predict_proba's first column is then the label's probability."
            + ("" if Y.ndim == 2 else
               " If a wrapper such as MultiOutputClassifier or OneVsRestClassifier hands it "
               "one label at a time, fit this estimator itself on the whole indicator matrix "
               "instead: it is multi-label already."))
    if Y.ndim == 1 or (Y.ndim == 2 and Y.shape[1] == 1):
        raise ValueError(
            f"{name} has shape {Y.shape}: one label per text. This estimator is multi-label "
            "and expects a 2-D 0/1 indicator matrix of shape (n_samples, n_labels). "
            + _mlb_fix(name)
        )
    if Y.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_labels), got shape {Y.shape} "
            f"({type(Y).__name__}). Pass a 0/1 matrix with one row per text and one column per "
            "label. " + _mlb_fix(name))
    if Y.shape[1] == 0:
        raise ValueError(
            f"{name} has no label columns (shape {Y.shape}); pass one 0/1 column per label, "
            "e.g. from MultiLabelBinarizer.")


def _check_target_values(Y: np.ndarray, name: str) -> None:
    """Refuse a 2-D ``Y`` holding anything but 0 and 1, naming what it holds."""
    if Y.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} has dtype {Y.dtype}; expected numbers 0/1 (or True/False) in a matrix of "
            "shape (n_samples, n_labels). " + _mlb_fix(name))
    if Y.dtype.kind == "f" and not np.isfinite(Y).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(Y))[0])
        raise ValueError(
            f"{name} holds {Y[bad]!r} at row {bad[0]}, column {bad[1]}; every value must be 0 "
            "or 1. Fill missing labels with 0 (label absent), e.g. "
            f"np.nan_to_num({name}, nan=0).")
    values = np.unique(Y) if Y.size else np.zeros(0)
    extra = values[~np.isin(values, (0, 1))]
    if extra.size:
        shown = ", ".join(repr(v.item()) for v in values[:6])
        raise ValueError(
            f"{name} holds the values {{{shown}{', ...' if values.size > 6 else ''}}}; a "
            "multi-label target must hold only 0 and 1 (or True/False), one column per label. "
            f"Recode it, e.g. ({name} == positive_value).astype(int) for {{-1, 1}} or {{1, 2}} "
            "targets." + (" Class ids per text? " + _mlb_fix(name) if values.size > 2 else ""))
    kind = type_of_target(Y)
    if kind != "multilabel-indicator":
        raise ValueError(
            f"{name} must be a multi-label indicator matrix of 0/1 values, but "
            f"type_of_target({name}) is {kind!r}. " + _mlb_fix(name)
        )


def subset_accuracy(estimator, X, y, sample_weight=None) -> float:
    """``estimator.score``: subset accuracy of ``estimator.predict(X)``, with ``y`` read
    as ``fit`` reads Y (so a DataFrame of nullable columns scores too) and lined up with
    ``classes_`` (:func:`check_target_columns`)."""
    from sklearn.metrics import accuracy_score
    from sklearn.utils.validation import _num_samples, check_is_fitted

    check_is_fitted(estimator)
    n_labels = len(estimator.classes_)
    try:
        ndim = np.ndim(y)
    except ValueError:  # label lists of different lengths: check_targets words it
        ndim = None
    if ndim == 1 and not hasattr(y, "columns"):  # one column: not what predict gives
        raise ValueError(
            f"y has one value per text (shape {np.shape(y)}), but score compares it with the "
            f"predictions' {n_labels} columns, one per label of clf.classes_; pass y with "
            f"{n_labels} 0/1 columns in that order.")
    Y = check_targets(y, _num_samples(y), warn_missing=False, warn_scorers=False,
                      name="y")[0]
    check_target_columns(y, estimator.classes_, name="y")
    return float(accuracy_score(Y.astype(np.int8), estimator.predict(X),
                                sample_weight=sample_weight))


def check_target_columns(Y, classes, *, name: str = "Y", labels: str = "clf.classes_",
                         reorder: str | None = None) -> None:
    """Refuse targets whose columns are not the labels ``classes``, in that order.

    Predictions have one column per label of ``classes``; a ``Y`` compared
    with them (``score``, a zero-shot ``fit`` inside ``cross_val_score`` or
    ``GridSearchCV``) must have the same columns in the same order, or each
    label would silently be scored against another's column. A DataFrame is
    matched by its column names: the labels in another order, or names that
    are not labels, are refused. A plain array or sparse matrix is
    positional (scikit-learn's rule): only its number of columns is checked.
    Called on a ``Y`` that :func:`check_targets` accepted.

    Parameters
    ----------
    Y : array-like, sparse matrix or DataFrame of shape (n_samples, n_columns)
    classes : sequence of str or int
        The labels, in the order of the predictions' columns.
    name : str, default="Y"
        How the messages name the targets (``"y"``).
    labels : str, default="clf.classes_"
        How the messages name ``classes`` in the code of the fix.
    reorder : str or None, default=None
        Another fix the messages offer (a zero-shot classifier's ``labels``
        can be reordered instead).

    Raises
    ------
    ValueError
        Naming the columns, the labels and the fix (``Y[list(clf.classes_)]``).
    """
    expected = [plain_label(c) for c in classes]
    also = f", or {reorder}" if reorder else ""
    columns = getattr(Y, "columns", None)
    if columns is None:
        shape = getattr(Y, "shape", None) or np.shape(Y)
        if len(shape) == 2 and shape[1] != len(expected):
            raise ValueError(
                f"{name} has {shape[1]} column(s) but there are {len(expected)} labels "
                f"({brief(expected, 80)}), the columns of the predictions it is compared "
                f"with; pass one 0/1 column per label of {labels}, in that order{also}.")
        return
    given = [plain_label(c) for c in columns]
    if given == expected:
        return
    shown = f"{name}'s columns {brief(given, 80)}"
    known = set(expected)
    if len(given) == len(expected) and set(given) == known:
        raise ValueError(
            f"{shown} are the labels {brief(expected, 80)} in another order: each label's "
            f"predictions would be compared with another label's column. Put the columns in "
            f"the order of the labels: {name}[list({labels})]{also}.")
    missing = [c for c in expected if c not in set(given)]
    unknown = [c for c in given if c not in known]
    parts = ([f"{brief(unknown, 60)} {'is' if len(unknown) == 1 else 'are'} not among them"]
             if unknown else []) + ([f"{brief(missing, 60)} missing"] if missing else [])
    if missing:  # no column to pick for them: only a positional array can be meant
        fix = (f"If its columns are the labels in their order under other names, pass a "
               f"plain array, {name}.to_numpy(), which is compared by column position"
               f"{also}.")
    else:
        fix = (f"Pass the columns of the labels, in their order: {name}[list({labels})]"
               f"{also} (a plain array, {name}.to_numpy(), is compared by column position).")
    raise ValueError(
        f"{shown} are not the labels {brief(expected, 80)} ({'; '.join(parts)}), so they "
        f"cannot be matched with the predictions' columns. {fix}")


def _check_column_kind(column, dtype, name: str = "Y") -> None:
    """Refuse the pandas column kinds scikit-learn's scorers cannot read back as Y.

    ``fit`` could convert them, but ``score``, ``cross_val_score`` and
    ``GridSearchCV`` hand the same Y to scikit-learn's metrics, which fail
    on a categorical column (or score nan) and on a sparse one whose
    ``fill_value`` is not 0. ``name`` is how the messages name the frame.
    """
    if getattr(dtype, "name", "") == "category":
        raise ValueError(
            f"{name}'s column {column!r} is categorical (categories "
            f"{list(dtype.categories)[:4]!r}); scikit-learn's scorers cannot read a categorical "
            f"{name}, so cross_val_score and GridSearchCV would score nan. Convert it to 0/1 "
            f"numbers, e.g. {name} = {name}.astype(int).")
    fill = getattr(dtype, "fill_value", 0)
    if _is_sparse(dtype) and not (fill is False or (
            isinstance(fill, (int, float, np.number)) and fill == 0)):  # pd.NA: not 0
        raise ValueError(
            f"{name}'s column {column!r} is sparse with fill_value={fill!r}; scikit-learn's "
            f"scorers need a sparse {name} to leave out 0s (fill_value=0). Build it with "
            "pd.DataFrame.sparse.from_spmatrix(MultiLabelBinarizer(sparse_output=True)"
            f".fit_transform(...), columns=...), or pass {name}.sparse.to_dense().")


def _is_sparse(dtype) -> bool:
    """Whether ``dtype`` is pandas' ``SparseDtype`` (an ``IntervalDtype`` has a subtype too)."""
    return type(dtype).__name__ == "SparseDtype"


def _numpy_dtype(dtype) -> np.dtype | None:
    """The numpy dtype of a pandas column dtype (nullable Int64/boolean, and sparse
    columns too: their values'), or None."""
    if _is_sparse(dtype):  # the stored values' dtype
        dtype = dtype.subtype
    try:
        return np.dtype(getattr(dtype, "numpy_dtype", dtype))
    except TypeError:  # pandas string, category, ... dtypes
        return None


def _y_columns(name: str = "Y") -> tuple[str, str, str, str]:
    """How :func:`_label_names` speaks of the columns of the targets ``name`` (by default):
    (what holds a bad name, the list's name, the fix of a bad name, the fix of a repeated
    one)."""
    return (f"{name} has the column name", f"{name}'s column names",
            f"Rename the columns, e.g. {name}.columns = [str(c) for c in {name}.columns].",
            "Rename or merge the duplicated columns.")


def _label_names(columns, speak=None, *, name: str = "Y") -> np.ndarray:
    """A DataFrame's column names (or another list of labels) as ``classes_``: scalars
    (str or int within int64), unique, told apart by their text.

    ``speak``: ``(holds, what, fix, fix_repeated)``, how the messages name
    the list and its fixes: by default the columns of the targets ``name``
    (:func:`_y_columns`); ``ZeroShotMultiLabelClassifier`` passes its ``labels``',
    with a fifth item, a function of a bad name (empty, or holding a control
    character: refused) giving how to rename it.
    """
    holds, what, fix, fix_repeated, *rest = speak or _y_columns(name)
    rename = rest[0] if rest else None  # label -> how to rename it
    if getattr(columns, "nlevels", 1) > 1:
        raise ValueError(
            f"{name}'s columns are a {columns.nlevels}-level MultiIndex "
            f"({list(columns)[:2]}...); label names must be single str or int values. Flatten "
            f"them, e.g. {name}.columns = ['_'.join(map(str, c)) for c in {name}.columns].")
    names = list(columns)
    for label in names:
        if not isinstance(label, (str, Integral)) or isinstance(label, bool):
            raise ValueError(
                f"{holds} {brief(label)} ({type(label).__name__}); label names must be str or "
                f"int (what a saved model can hold). {fix}")
        if isinstance(label, str):
            old_name = repr(label) if len(repr(label)) <= 60 else "OLD_NAME"  # valid code
            _check_printable(label, holds, rename(label) if rename else (
                f"Rename the column, e.g. {name} = {name}.rename(columns={{{old_name}: "
                "'new_name'})."))
        if isinstance(label, Integral) and not -2**63 <= int(label) < 2**63:
            raise ValueError(
                f"{holds} {int(label)}, an int beyond int64: a saved model could not hold it as "
                f"an int label (label names must be str or int within int64). {fix}")
    seen = set()
    dupes = [n for n in names if n in seen or seen.add(n)]
    if dupes:
        raise ValueError(
            f"{holds} {dupes[0]!r} more than once; each label needs its own unique name. "
            f"{fix_repeated}")
    check_distinct_names(names, what, name=name)
    # plain str and int, whatever the container held (np.str_, np.int64); int names
    # alone are int64, as an indicator array's columns and a loaded model's classes_ are
    if all(isinstance(n, Integral) for n in names):
        return np.asarray([int(n) for n in names], dtype=np.int64)
    return np.asarray([str(n) if isinstance(n, str) else int(n) for n in names], dtype=object)


#: Unicode categories a label name may not hold: control characters (``"\x00"``, tab,
#: newline) and the line and paragraph separators, which break CSV rows and the model
#: card's table.
_UNPRINTABLE = ("Cc", "Zl", "Zp")
#: Bidirectional embeddings, overrides and isolates (U+202A-202E, U+2066-2069): they
#: reorder the text shown after them (the "Trojan Source" trick).
_BIDI_CONTROLS = ("LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI")


def unsafe_char(ch: str) -> bool:
    """Whether ``ch`` is what a label name may not hold: a control character (Unicode
    Cc, line and paragraph separators), a lone surrogate (Cs: no UTF-8 can write it) or a
    bidirectional embedding, override or isolate (:data:`_BIDI_CONTROLS`). A writer of
    outside text (the model card) shows it as its code point."""
    return (unicodedata.category(ch) in (*_UNPRINTABLE, "Cs")
            or unicodedata.bidirectional(ch) in _BIDI_CONTROLS)




def json_line(record: dict) -> str:
    r"""``record`` as one JSON line, every character a terminal could act on escaped.

    ``json.dumps`` escapes the C0 controls (an ESC becomes ``\u001b``) but
    leaves DEL, the C1 controls and bidi overrides raw; here they are
    ``\uXXXX`` escapes too (:data:`UNSAFE_CHARS`), which JSON reads back as
    the same characters.

    Examples
    --------
    >>> print(json_line({"text": "a\u202eb\x1bc"}))
    {"text": "a\u202eb\u001bc"}
    """
    import json

    line = json.dumps(record, ensure_ascii=False)
    return UNSAFE_CHARS.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


def _check_printable(label: str, holds: str, fix: str) -> None:
    """Refuse a label name that is empty, shows nothing (spaces, invisible format
    characters: :func:`_looks`), or holds a control character.

    Such a name is a valid DataFrame column, but the CLI's CSV header and
    JSON keys, ``id2label`` and the model card's table would show a blank
    label or break a row. ``holds`` and ``fix`` word the message.
    """
    bad = next((ch for ch in label if unicodedata.category(ch) == "Cs"), None)
    if bad is not None:  # first: it cannot even be encoded to be shown or written
        raise ValueError(
            f"{holds} {brief(label)}, which holds the lone surrogate {bad!r}: it is not valid "
            "Unicode, so it cannot be written to a file or shown. Repair the name, e.g. "
            "name.encode('utf-8', 'replace').decode('utf-8'). " + fix)
    if not _looks(label):  # nothing visible: spaces or invisible format characters only
        raise ValueError(
            f"{holds} {brief(label)}, which is "
            f"{'empty' if not label else 'only spaces' if not label.strip() else 'invisible'}: "
            f"CSV headers, reports and the model card would show a blank label. {fix}")
    found = UNSAFE_CHARS.search(label)  # the one rule; the message says which kind
    bad = found.group() if found else None
    if bad is not None and unicodedata.bidirectional(bad) not in _BIDI_CONTROLS:
        raise ValueError(
            f"{holds} {brief(label)}, which holds the control character {bad!r}: it would "
            "break the CLI's CSV rows and the model card's table (or not show there at all). "
            f"{fix}")
    if bad is not None:
        raise ValueError(
            f"{holds} {brief(label)}, which holds the bidirectional control {bad!r} "
            f"(U+{ord(bad):04X}): it reorders how the text after it shows, so the name and the "
            "rows beside it in a terminal, a report or the model card would read other than "
            f"they are. {fix}")


def _look_alike_fix(name: str = "Y") -> str:
    """The fix of look-alike column names of the targets ``name``."""
    return ("Rename the clashing columns so they differ in visible text, or normalise the "
            f"names ({name}.columns = [''.join(ch for ch in unicodedata.normalize('NFC', str(c)) "
            f"if unicodedata.category(ch) != 'Cf').strip() for c in {name}.columns]) and merge "
            "the columns that then share a name.")


def _looks(text: str) -> str:
    """How a name prints: NFC-normalised, stripped of surrounding spaces and of invisible
    characters (format characters such as the zero-width space, joiners and BOM: Unicode
    category Cf; variation selectors; the Hangul fillers and the Braille blank).

    Examples
    --------
    >>> _looks(" joy\u200b") == _looks("joy")
    True
    """
    text = "".join(ch for ch in unicodedata.normalize("NFC", text)
                   if unicodedata.category(ch) != "Cf" and ch not in _BLANKS
                   and not _VARIATION_SELECTOR(ord(ch)))
    return text.strip()


#: Letters and symbols that print as nothing: the Hangul fillers and the Braille blank.
_BLANKS = frozenset("ᅟᅠㅤﾠ⠀")


def _VARIATION_SELECTOR(code: int) -> bool:  # noqa: N802  (a predicate on code points)
    """Whether ``code`` is a variation selector (U+FE00-FE0F, U+E0100-E01EF): it only
    picks how the character before it looks."""
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF


def check_distinct_names(names, what: str = "The label names", *, look_alike: bool = True,
                         fix: str | None = None, name: str = "Y") -> None:
    """Refuse label names that are different values but the same, or look-alike, text.

    ``1`` and ``"1"`` are distinct DataFrame columns, but a model's
    ``id2label``/``label2id``, the CLI's JSON keys and CSV headers all write a
    name as ``str(name)``: one of the two labels would silently vanish there.
    With ``look_alike``, names whose text is equal once Unicode-normalised
    (NFC: ``"caf\\u00e9"`` and ``"cafe\\u0301"``) and stripped of surrounding
    whitespace (``"a"`` and ``"a "``) are refused too: they print identically
    in CSV headers, reports and model cards.

    Parameters
    ----------
    names : sequence of str or int
    what : str, default="The label names"
        How the message names the names.
    look_alike : bool, default=True
        Also refuse names equal after NFC normalisation, ``strip()`` and removing
        invisible format characters (:func:`_looks`).
    fix : str or None, default=None
        The fix the message ends with; by default how to rename the columns of
        the targets ``name``.
    name : str, default="Y"
        The targets whose columns the default fixes rename (``"Y_val"``).

    Raises
    ------
    ValueError
        Naming the colliding names (``repr``) and how to rename them.
    """
    rename = fix or ("Give each label a distinct text name, e.g. "
                     f"{name}.columns = ['label_' + str(c) for c in {name}.columns] or rename "
                     "the clashing ones.")
    by_text: dict[str, list] = {}
    for label in names:
        by_text.setdefault(str(label), []).append(label)
    clash = next((group for group in by_text.values() if len(group) > 1), None)
    if clash is not None:
        shown = " and ".join(f"{int(n)!r} (int)" if isinstance(n, Integral)
                             else f"{n!r} ({type(n).__name__})" for n in clash[:3])
        raise ValueError(
            f"{what} {shown} are the same name once written as text ({str(clash[0])!r}), "
            "which is how label2id, skbert.json and the CLI's JSON and CSV outputs store "
            f"them: one label would be lost. {rename}")
    if not look_alike:
        return
    by_look: dict[str, list[str]] = {}
    for text in by_text:
        by_look.setdefault(_looks(text), []).append(text)
    clash = next((group for group in by_look.values() if len(group) > 1), None)
    if clash is not None:
        shown = " and ".join(ascii(t) for t in clash[:3])  # repr, with the code points shown
        raise ValueError(
            f"{what} {shown} look the same (equal once Unicode-normalised to NFC, stripped "
            "of surrounding spaces and of invisible format characters such as the zero-width "
            "space): CSV headers, reports and the model card would show two "
            f"identical labels. {fix or _look_alike_fix(name)}")


def check_text_dataset(X, text_column: str = "text", name: str = "X") -> int:
    """Check that a ``datasets.Dataset`` has a text column and rows; returns its length.

    The texts themselves are checked while they are tokenised (the dataset is
    never turned into a list). ``name`` is how the messages name the argument
    (``"X_val"``).
    """
    if text_column not in X.column_names:
        raise ValueError(
            f"The datasets.Dataset has no column {text_column!r}; its columns are "
            f"{X.column_names}. Rename the text column to {text_column!r} "
            "(dataset.rename_column(old, 'text')).")
    if len(X) == 0:
        raise ValueError(f"{name} is an empty datasets.Dataset: pass at least one text.")
    return len(X)


def check_encodable(texts, offset: int = 0, name: str = "X") -> None:
    """Raise a ValueError naming the first text that is not valid Unicode.

    Tokenizers reject a str holding a lone surrogate (e.g. ``"\\ud800"``, left
    by a broken decode) with a TypeError that names no text; this finds it.
    Called only after the tokenizer failed, so valid input costs nothing.
    ``name`` is how the message names the texts (``"X_val"``).
    """
    for i, text in enumerate(texts):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"{name}[{offset + i}] holds {text[exc.start:exc.end]!r} at character "
                f"{exc.start}, a lone surrogate that is not valid Unicode, so it cannot be "
                "tokenised. Repair the text, e.g. text.encode('utf-8', 'replace')"
                ".decode('utf-8').") from None


class NumberInterval(Interval):
    """scikit-learn's ``Interval`` constraint that refuses ``True`` and ``False``.

    A bool is an ``Integral`` to Python, so ``Interval(Integral, ...)`` takes
    ``min_labels=True`` as 1 and ``Interval(Real, ...)`` takes
    ``threshold=True`` as 1.0: almost always a slip (a flag meant for another
    parameter). Every numeric parameter of skbert's estimators uses this.

    The constraint keeps no state between checks. Its description
    (scikit-learn's error message, ``str``) is the plain one, "an int in the
    range [0, inf)"; ``refusing(value)`` is the same constraint described for
    the value it refuses, "an int (not a bool) in the range [0, inf)" when
    that value is a bool (``skbert._params.check_parameters`` re-checks a
    refused value with it, so ``min_labels=True`` reads that way while
    ``min_labels=-3``, a damaged file's ``params.max_length`` or a
    command-line option reads plainly). :meth:`describe` is the plain wording.

    Examples
    --------
    >>> from numbers import Integral
    >>> c = NumberInterval(Integral, 0, None, closed="left")
    >>> c.is_satisfied_by(1), c.is_satisfied_by(True)
    (True, False)
    >>> str(c.refusing(True))
    'an int (not a bool) in the range [0, inf)'
    >>> c.is_satisfied_by(-3), str(c.refusing(-3)), str(c)
    (False, 'an int in the range [0, inf)', 'an int in the range [0, inf)')
    """

    _refused_bool = False

    def is_satisfied_by(self, val):
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)

    def refusing(self, val) -> NumberInterval:
        """This constraint, described for ``val``: "(not a bool)" when it is one."""
        told = NumberInterval(self.type, self.left, self.right, closed=self.closed)
        told._refused_bool = isinstance(val, (bool, np.bool_))
        return told

    def describe(self) -> str:
        """The constraint in words: ``'an int in the range [0, inf)'``."""
        return super().__str__()

    def __str__(self):
        text = self.describe()
        if not self._refused_bool:
            return text
        for kind in ("an int", "a float"):
            if text.startswith(kind + " "):
                return f"{kind} (not a bool){text[len(kind):]}"
        return text

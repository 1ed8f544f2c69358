"""Load texts and multi-label targets from the user's own data files."""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from numbers import Number
from pathlib import Path

import numpy as np

# Extension -> builder name of the `datasets` library (packaged builders, no hub access).
_FORMATS = {
    ".jsonl": "json",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
}
_LABEL_SEPARATORS = re.compile(r"[,;|]")


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Hide the progress bars of `datasets`, restoring the previous setting."""
    try:
        from datasets.utils import logging as ds_logging

        enabled = ds_logging.is_progress_bar_enabled()
        ds_logging.disable_progress_bar()
    except (ImportError, AttributeError):  # layout differs across versions
        enabled = False
    try:
        yield
    finally:
        if enabled:
            ds_logging.enable_progress_bar()


def _read_table(
    path: Path, columns_needed: Sequence[str]
) -> tuple[dict[str, list], list[str], int]:
    """Read ``path`` with `datasets`.

    Returns the columns of ``columns_needed`` that exist, as Python lists,
    the names of all columns of the file and its number of rows.
    """
    import datasets

    builder = _FORMATS[path.suffix.lower()]
    kwargs = {}
    if path.suffix.lower() == ".tsv":
        kwargs["sep"] = "\t"
    # A private cache directory: nothing is left in ~/.cache and a file edited
    # in place is never served from a stale cache.
    with tempfile.TemporaryDirectory(
        prefix="skbert-load-", ignore_cleanup_errors=True
    ) as cache_dir, _quiet_datasets():
        try:
            ds = datasets.load_dataset(
                builder,
                data_files=str(path),
                split="train",
                cache_dir=cache_dir,
                keep_in_memory=True,
                **kwargs,
            )
        except Exception as exc:  # parse errors come in many types
            raise ValueError(
                f"Could not read {str(path)!r} as {builder.upper()} "
                f"({type(exc).__name__}: {exc}); check that the file is valid "
                f"{builder.upper()} and matches its extension."
            ) from exc
        available = list(ds.column_names)
        present = [c for c in columns_needed if c in available]
        table = ds.select_columns(present).to_dict() if present else {}
        n_rows = ds.num_rows
    return table, available, n_rows


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _parse_label_cell(value, row: int, label_column: str) -> list[str]:
    """Turn one cell of the label column into a list of label names."""
    if _is_missing(value):
        return []
    if isinstance(value, str):
        return [part.strip() for part in _LABEL_SEPARATORS.split(value) if part.strip()]
    if isinstance(value, (list, tuple, np.ndarray)):
        names = []
        for item in value:
            if not isinstance(item, str):
                raise ValueError(
                    f"Row {row} of label column {label_column!r} holds "
                    f"{item!r} ({type(item).__name__}); the column must hold "
                    "label names (str), as a list or as a string separated by "
                    "',', ';' or '|'."
                )
            if item.strip():
                names.append(item.strip())
        return names
    raise ValueError(
        f"Row {row} of label column {label_column!r} holds {value!r} "
        f"({type(value).__name__}); the column must hold a list of label names "
        "or a string of names separated by ',', ';' or '|' (for 0/1 columns, "
        "pass label_columns=[...] instead)."
    )


def _indicator_value(value, row: int, column: str) -> int:
    """Validate one cell of a 0/1 label column."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, Number) and not _is_missing(value) and value in (0, 1):
        return int(value)
    raise ValueError(
        f"Label column {column!r} holds {value!r} at row {row}; label_columns "
        "must hold only 0/1 (or true/false) values, so recode that column or "
        "use label_column= for a column of label names."
    )


def load_texts_and_labels(
    path,
    *,
    text_column="text",
    label_column="labels",
    label_columns=None,
    labels=None,
):
    """Load texts and a multi-label target from a JSON Lines, CSV or Parquet file.

    The file is read with the Hugging Face ``datasets`` library, using its
    built-in ``json``, ``csv`` and ``parquet`` readers on the local file only
    (nothing is downloaded).

    Labels can be given in one of two ways:

    * one column (``label_column``) holding, for each row, a list of label
      names, or a string of names separated by ``","``, ``";"`` or ``"|"``
      (convenient in CSV files); an empty or missing cell means no label;
    * several 0/1 indicator columns, one per label (``label_columns``).

    Parameters
    ----------
    path : str or os.PathLike
        File to read. Supported extensions: ``.jsonl``, ``.json`` (JSON Lines
        or a JSON array of objects), ``.csv``, ``.tsv`` (tab-separated) and
        ``.parquet``. CSV and TSV files need a header row.
    text_column : str, default="text"
        Column holding the documents; every value must be a string.
    label_column : str, default="labels"
        Column holding the label names of each row. Ignored when
        ``label_columns`` is given.
    label_columns : list of str, default=None
        Names of 0/1 columns, one per label, used instead of
        ``label_column``. Their order is the order of the label columns of
        ``Y`` and of ``label_names``.
    labels : list of str, default=None
        Label names fixing the column order of ``Y`` (labels that never
        occur in the file get an all-zero column). If None, the sorted set of
        label names found in ``label_column`` is used. Only valid together
        with ``label_column``.

    Returns
    -------
    texts : list of str
        The documents, in file order.
    Y : ndarray of shape (n_samples, n_labels), dtype int64
        Label indicator matrix, 1 where the label applies to the document.
    label_names : list of str
        Label name of each column of ``Y``.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not an existing file.
    ValueError
        If the extension is not supported, the file cannot be parsed, a
        column is missing, a text is not a string, a label column holds
        values other than 0/1, or the data holds label names missing from
        ``labels``.

    See Also
    --------
    load_goemotions : The GoEmotions sample that ships with skbert.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from skbert.datasets import load_texts_and_labels
    >>> tmpdir = tempfile.TemporaryDirectory()
    >>> path = pathlib.Path(tmpdir.name) / "toy.csv"
    >>> _ = path.write_text('text,labels\\n"good, cheap",price|quality\\nslow,\\n')
    >>> texts, Y, names = load_texts_and_labels(path)
    >>> texts
    ['good, cheap', 'slow']
    >>> names
    ['price', 'quality']
    >>> Y.tolist()
    [[1, 1], [0, 0]]
    >>> tmpdir.cleanup()
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"path must be a str or os.PathLike, got {type(path).__name__}; "
            "pass the file name as a string or pathlib.Path."
        )
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No such file: {str(path)!r}; check the path (relative paths are "
            f"resolved from the working directory {os.getcwd()!r})."
        )
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise ValueError(
            f"Unsupported file extension {path.suffix or '(none)'!r} for "
            f"{path.name!r}; use one of {', '.join(_FORMATS)}."
        )
    if path.stat().st_size == 0:
        raise ValueError(f"File {str(path)!r} is empty; it needs a header/rows of data.")

    if label_columns is not None:
        if isinstance(label_columns, str):
            raise TypeError(
                f"label_columns must be a list of column names, got the string "
                f"{label_columns!r}; write label_columns=[{label_columns!r}] or "
                f"use label_column={label_columns!r} for a column of label names."
            )
        label_columns = list(label_columns)
        if not label_columns:
            raise ValueError("label_columns is empty; pass at least one column name.")
        duplicated = sorted({c for c in label_columns if label_columns.count(c) > 1})
        if duplicated:
            raise ValueError(
                f"label_columns lists {duplicated} more than once; name each column once."
            )
        if labels is not None:
            raise ValueError(
                "labels cannot be combined with label_columns; the order of "
                "label_columns already fixes the label order."
            )
    if labels is not None:
        if isinstance(labels, str):
            raise TypeError(
                f"labels must be a list of label names, got the string {labels!r}; "
                f"write labels=[{labels!r}, ...]."
            )
        labels = list(labels)
        duplicated = sorted({lab for lab in labels if labels.count(lab) > 1})
        if duplicated:
            raise ValueError(
                f"labels lists {duplicated} more than once; name each label once."
            )

    wanted = [text_column] + (label_columns if label_columns is not None else [label_column])
    table, available, n_rows = _read_table(path, wanted)

    if text_column not in available:
        raise ValueError(
            f"Text column {text_column!r} not found in {path.name!r}; set "
            f"text_column to one of the available columns: {available}."
        )
    texts = table[text_column]
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(
                f"Text column {text_column!r} holds {text!r} "
                f"({type(text).__name__}) at row {i}; every text must be a "
                "string, so fill in or drop that row."
            )

    if label_columns is not None:
        missing = [c for c in label_columns if c not in available]
        if missing:
            raise ValueError(
                f"Label columns {missing} not found in {path.name!r}; "
                f"label_columns must name columns among: {available}."
            )
        Y = np.zeros((n_rows, len(label_columns)), dtype=np.int64)
        for j, column in enumerate(label_columns):
            for i, value in enumerate(table[column]):
                Y[i, j] = _indicator_value(value, i, column)
        return list(texts), Y, list(label_columns)

    if label_column not in available:
        raise ValueError(
            f"Label column {label_column!r} not found in {path.name!r}; set "
            f"label_column to one of the available columns {available}, or "
            "pass label_columns=[...] for 0/1 columns."
        )
    row_labels = [
        _parse_label_cell(value, i, label_column)
        for i, value in enumerate(table[label_column])
    ]
    found = {name for names in row_labels for name in names}
    if labels is None:
        label_names = sorted(found)
    else:
        unknown = sorted(found - set(labels))
        if unknown:
            raise ValueError(
                f"The data holds labels not in `labels`: {unknown}; add them to "
                "labels or pass labels=None to use every label in the file."
            )
        label_names = labels
    column_of = {name: j for j, name in enumerate(label_names)}
    Y = np.zeros((n_rows, len(label_names)), dtype=np.int64)
    for i, names in enumerate(row_labels):
        for name in names:
            Y[i, column_of[name]] = 1
    return list(texts), Y, list(label_names)

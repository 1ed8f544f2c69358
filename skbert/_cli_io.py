"""What the command line reads (data files, stdin) and the records it writes.

Files are read by :mod:`skbert.datasets._files`, with messages that name the
command line's flags. ``-`` reads stdin: its bytes are kept in a private
temporary file named after the input format, so every reader works on it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
import tempfile
from pathlib import Path

from ._safe_io import terminal_safe, write_bytes
from ._validation import json_line
from .datasets._files import _LABEL_SEPARATORS, _read_table, load_table

_TEXT_FORMATS = (".jsonl", ".json", ".csv", ".tsv", ".parquet", ".txt")
_OUTPUT_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv"}
#: How the command line names the loader's parameters in its errors.
FLAG_SPELLING = {
    "text_column": "--text-column",
    "label_column": "--label-column",
    "label_columns": "--label-columns",
    "label_columns=": "--label-columns A,B,C",
    "label_column=": "--label-column",
    "labels=": 'give the labels as lists in a JSON Lines file ({"labels": ["0"]})',
}
#: Most bytes read from stdin (1 GiB): a runaway pipe ends with an error, not a hang.
MAX_STDIN = 1 << 30


def stdin_as_file(path: str, fmt: str | None, default: str, stack: contextlib.ExitStack) -> str:
    """``path``, or for ``-`` a private temporary copy of stdin named ``stdin.<fmt>``.

    Raises
    ------
    ValueError
        If ``fmt`` (``--input-format``) is given for a file path, or stdin is
        a terminal (nothing piped in).
    """
    if path != "-":
        if fmt is not None:
            raise ValueError(f"--input-format applies to - (stdin); the extension of {path!r} "
                             "gives its format, so drop --input-format or rename the file.")
        return path
    stream = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else None
    if stream is None or sys.stdin.isatty():
        raise ValueError("- reads the input from stdin, but nothing is piped in; pipe a file "
                         "(cat data.jsonl | skbert ...) or give its path instead of -.")
    data = stream.read(MAX_STDIN + 1)
    if len(data) > MAX_STDIN:
        raise ValueError(f"stdin holds more than {MAX_STDIN} bytes; save it to a file and give "
                         "its path instead of -.")
    folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="skbert-stdin-"))
    return write_bytes(os.path.join(folder, f"stdin.{fmt or default}"), data)


def load_labelled(path: str, **columns):
    """Texts, label matrix and names of a labelled file; errors name the flags."""
    return load_table(path, spell=FLAG_SPELLING, **columns)


def _missing_text_column(column: str, where: str, available) -> str:
    return (f"Text column {column!r} not found in {where!r}; set --text-column to one of the "
            f"available columns: {list(available)}.")


def read_texts(path: str, text_column: str, name: str = "INPUT") -> list[str]:
    """Texts from a .txt (one per line), JSON Lines, JSON array, CSV/TSV or Parquet file.

    JSON records may be objects holding ``text_column`` or plain strings. ``name`` is
    the argument's name in the command's usage, for the message of a missing file.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"No such file: {path!r}; check the path of {name}.")
    suffix = p.suffix.lower()
    if suffix not in _TEXT_FORMATS:
        raise ValueError(f"Unsupported input extension {p.suffix or '(none)'!r} for {p.name!r}; "
                         f"use one of {', '.join(_TEXT_FORMATS)}.")
    if suffix == ".txt":
        try:
            with open(p, encoding="utf-8-sig") as fh:
                return [line.rstrip("\r\n") for line in fh if line.strip()]
        except UnicodeDecodeError:
            raise ValueError(f"{p.name!r} is not UTF-8 text; save it with UTF-8 encoding and "
                             "try again.") from None
    table, available, _ = _read_table(p, [text_column], (text_column,), bare_strings=text_column)
    if text_column not in available:
        raise ValueError(_missing_text_column(text_column, p.name, available))
    texts = table[text_column]
    if suffix in (".csv", ".tsv"):  # an empty cell is an empty text, as written
        return ["" if t is None else t for t in texts]
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"Record {i} of {p.name!r} has {text!r} as its text; every text "
                             "must be a string, so fill in or drop that record.")
    return texts


def output_format(fmt: str | None, output: str | None) -> str:
    """The predictions' format: ``fmt`` (``--format``), else the ``output`` file's extension."""
    if fmt:
        return fmt
    if output is None or output == "-":
        return "jsonl"
    suffix = Path(output).suffix.lower()
    if suffix not in _OUTPUT_FORMATS:
        raise ValueError(f"Cannot tell the output format from {output!r}; name it "
                         "FILE.jsonl or FILE.csv, or pass --format jsonl|csv.")
    return _OUTPUT_FORMATS[suffix]


#: First characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """``cell`` with a ``'`` in front when it starts like a formula (:data:`FORMULA_START`).

    Excel, LibreOffice and Google Sheets run a cell such as ``=HYPERLINK(...)`` or
    ``+cmd|' /C calc'!A0`` as a formula when a CSV file is opened; the leading
    quote makes them show it as text (OWASP's advice for CSV output).

    Examples
    --------
    >>> spreadsheet_safe("=1+1"), spreadsheet_safe("fine"), spreadsheet_safe("")
    ("'=1+1", 'fine', '')
    """
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def json_label(label):
    """``label`` as the Python value JSON writes with its type: a NumPy scalar becomes
    its Python value (``np.int64(3)`` -> ``3``, ``np.str_("a")`` -> ``"a"``).

    Examples
    --------
    >>> import numpy as np
    >>> json_label(np.int64(3)), json_label("sports")
    (3, 'sports')
    """
    return label.item() if hasattr(label, "item") else label


def csv_label_problem(names, output: str | None = None, *, by_extension: bool = False
                      ) -> str | None:
    """Why a CSV ``labels`` column cannot hold the labels ``names``, or None when it can.

    The column joins a text's labels with ``|``, and skbert's reader
    (:func:`skbert.datasets.load_texts_and_labels`) splits a cell at every ``,``,
    ``;`` and ``|`` and strips the spaces around each name: a label holding one of
    those characters, or starting or ending with a space, would read back as other
    labels. Such a model's predictions are written as JSON Lines, whose ``labels``
    is a list: the fix names ``--format jsonl`` and a ``.jsonl`` name for the
    ``output`` file; only the name with ``by_extension`` (CSV chosen by that name).

    Examples
    --------
    >>> csv_label_problem(["sports", "food"]) is None
    True
    >>> print(csv_label_problem(["a|b", "joy"]))  # doctest: +NORMALIZE_WHITESPACE
    CSV output cannot write the label "a|b" in its labels column: that column joins
    a text's labels with '|', and skbert reads every ',', ';' and '|' in it as a separator
    (and strips the spaces around each name), so "a|b" would read back as other labels.
    Write JSON Lines instead, whose "labels" is a list: --format jsonl.
    """
    bad = [str(n) for n in map(json_label, names)
           if _LABEL_SEPARATORS.search(str(n)) or str(n) != str(n).strip()]
    if not bad:
        return None
    shown = ", ".join(json.dumps(n, ensure_ascii=False) for n in bad[:5])
    shown += f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    s = "s" if len(bad) > 1 else ""
    fix = "--format jsonl"
    if output not in (None, "-"):  # a .csv file named for JSON Lines would mislead
        fix = f"--output {os.path.splitext(output)[0]}.jsonl" + ("" if by_extension
                                                                  else f" {fix}")
    return (f"CSV output cannot write the label{s} {shown} in its labels column: that column "
            "joins a text's labels with '|', and skbert reads every ',', ';' and '|' in it as a "
            "separator (and strips the spaces around each name), so "
            f"{'they' if s else shown} would read back as other labels. Write JSON Lines "
            f'instead, whose "labels" is a list: {fix}.')


def write_predictions(out: io.TextIOBase, texts, pred, proba, names, fmt: str) -> None:
    """Write one record per text: the text, its labels and every label's probability.

    JSON Lines records are ``{"text", "labels": [...], "probabilities": {label: p}}``,
    the texts exactly as read;
    CSV rows hold ``text``, ``labels`` (names joined by ``|``, the separator
    :func:`skbert.datasets.load_texts_and_labels` reads back; a model with a label
    that would not read back is refused, :func:`csv_label_problem`) and one
    ``proba_<label>`` column per label. JSON escapes every control character
    and bidi override (:func:`json_line`); CSV written to a terminal shows
    them as code points (:func:`terminal_safe`), and to a file or pipe as
    read. A CSV text or label cell that starts
    with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a ``'`` in
    front (:func:`spreadsheet_safe`), so a spreadsheet shows it instead of
    running it as a formula.

    ``names`` are the model's classes: in JSON Lines, ``labels`` keeps each
    label's JSON type, as ``skbert explain --json`` does (an int label is an int,
    a NumPy int a Python int), while ``probabilities``' keys, which JSON makes
    strings, and CSV cells are the labels' text.
    """
    plain = [json_label(n) for n in names]
    text_names = [str(n) for n in plain]
    if fmt == "csv":
        problem = csv_label_problem(plain)
        if problem is not None:  # cmd_predict refuses before predicting; never a lossy column
            raise ValueError(problem)
        writer = csv.writer(out)
        shown = terminal_safe if _is_terminal(out) else (lambda cell: cell)
        writer.writerow(["text", "labels"] + [f"proba_{n}" for n in text_names])
        for text, row, p in zip(texts, pred, proba):
            labels = [n for n, on in zip(text_names, row) if on]
            writer.writerow([shown(spreadsheet_safe(text)), spreadsheet_safe("|".join(labels))]
                            + [f"{float(v):.6g}" for v in p])
        return
    for text, row, p in zip(texts, pred, proba):
        record = {"text": text, "labels": [n for n, on in zip(plain, row) if on],
                  "probabilities": {n: round(float(v), 6) for n, v in zip(text_names, p)}}
        out.write(json_line(record) + "\n")


def _is_terminal(out) -> bool:
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def file_columns(path: str) -> list[str]:
    """Column names of a data file, or [] if they cannot be read cheaply."""
    p = Path(path)
    suffix = p.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            with open(p, encoding="utf-8-sig", newline="") as fh:
                return next(csv.reader(fh, delimiter="\t" if suffix == ".tsv" else ","), [])
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(p).names)
        if suffix in (".jsonl", ".json"):
            with open(p, encoding="utf-8-sig") as fh:
                for line in fh:
                    if line.strip():
                        first = json.loads(line)
                        return list(first) if isinstance(first, dict) else []
    except (OSError, ValueError, StopIteration, RecursionError):
        pass
    return []


def load_eval_data(path: str, names: list[str], *, text_column="text", label_column=None,
                   label_columns=None):
    """Texts and a 0/1 matrix whose columns follow the model's label names ``names``.

    Without ``label_column``/``label_columns``, a ``labels`` column is used if
    the file has one, else the 0/1 columns named like the model's labels; a file
    with columns for some of the model's labels but not all is refused, naming
    the labels that have none (:func:`missing_label_columns`).
    """
    import numpy as np

    if label_columns is None and label_column is None:
        columns = file_columns(path)
        if "labels" not in columns and columns and all(n in columns for n in names):
            label_columns = list(names)
        elif "labels" not in columns and any(n in columns for n in names):
            raise ValueError(missing_label_columns(path, names, columns))
        else:
            label_column = "labels"
    kwargs = ({"label_columns": label_columns} if label_columns is not None
              else {"label_column": label_column})
    texts, Y, found = load_labelled(path, text_column=text_column, **kwargs)
    unknown = [n for n in found if n not in names]
    if unknown:
        guarded = [n for n in unknown if n.startswith("'") and n[1:] in names]
        why = (f" {guarded[:3]} are the model's labels behind the ' that skbert predict puts "
               "before a CSV cell starting with =, +, - or @ (so that a spreadsheet shows it "
               "as text): give evaluate labels without it, e.g. predictions written with "
               "--format jsonl." if guarded else "")
        raise ValueError(
            f"{os.path.basename(path)!r} holds label(s) the model was not trained on: "
            f"{unknown}; the model knows {names}.{why} Fix the labels or evaluate a model "
            "trained with them.")
    Y_full = np.zeros((len(texts), len(names)), dtype=np.int64)
    index = {n: j for j, n in enumerate(names)}
    for j, n in enumerate(found):
        Y_full[:, index[n]] = Y[:, j]
    return texts, Y_full


def missing_label_columns(path: str, names: list[str], columns) -> str:
    """The message for a file that has 0/1 columns for some of the model's labels
    ``names`` but not for the others (and no ``labels`` column).

    Examples
    --------
    >>> print(missing_label_columns("d.csv", ["tech", "food"], ["text", "food"]))
    ... # doctest: +NORMALIZE_WHITESPACE
    'd.csv' has a 0/1 column for the model's label food but none for its label tech;
    add a 0/1 column named 'tech', or pass --label-columns food to score with the
    columns it has (tech then counts as absent from every text).
    """
    def listed(labels, most=10):
        return ", ".join(map(str, labels[:most])) + (f" and {len(labels) - most} more"
                                                     if len(labels) > most else "")

    have = [n for n in names if n in columns]
    missing = [n for n in names if n not in columns]
    s_have, s_missing = ("s" if len(have) > 1 else ""), ("s" if len(missing) > 1 else "")
    return (f"{os.path.basename(path)!r} has {'0/1 columns' if s_have else 'a 0/1 column'} "
            f"for the model's label{s_have} {listed(have)} but none for its "
            f"label{s_missing} {listed(missing)}; add a 0/1 column named {missing[0]!r}"
            f"{' (one per missing label)' if s_missing else ''}, or pass --label-columns "
            f"{','.join(have)} to score with the columns it has ({listed(missing)} then "
            f"count{'' if s_missing else 's'} as absent from every text).")


def score(Y_true, pred, proba, names) -> tuple[dict, str]:
    """Metrics as a dict, and sklearn's per-label classification report as text."""
    from sklearn.metrics import (
        classification_report,
        f1_score,
        label_ranking_average_precision_score,
    )

    report = classification_report(Y_true, pred, target_names=names, zero_division=0, digits=3)
    per_label = classification_report(Y_true, pred, target_names=names, zero_division=0,
                                      output_dict=True)
    metrics = {
        "n_texts": int(len(Y_true)),
        "f1_micro": float(f1_score(Y_true, pred, average="micro", zero_division=0)),
        "f1_macro": float(f1_score(Y_true, pred, average="macro", zero_division=0)),
        "f1_samples": float(f1_score(Y_true, pred, average="samples", zero_division=0)),
        "lrap": float(label_ranking_average_precision_score(Y_true, proba)),
        "labels": {n: {k.replace("-score", ""): float(v) for k, v in per_label[n].items()}
                   for n in names},
    }
    return metrics, report

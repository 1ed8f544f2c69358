"""Load texts and multi-label targets from the user's own data files.

CSV/TSV and JSON (Lines) files are read with Python's ``csv`` and ``json``
modules, Parquet files with ``pyarrow``. Only the columns asked for are kept
in memory, and a malformed row is an error that names its line: a CSV row with
one field too many (an unquoted comma) must not shift every column silently.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from numbers import Number
from pathlib import Path

import numpy as np

from .._validation import is_missing as _is_missing

#: Supported extensions, in the order error messages list them.
_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet")
_DELIMITERS = {".csv": ",", ".tsv": "\t"}
_LABEL_SEPARATORS = re.compile(r"[,;|]")
# How a CSV cell becomes a number or a boolean (the spellings pandas accepts).
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_BOOLS = {"True": True, "TRUE": True, "true": True,
          "False": False, "FALSE": False, "false": False}
# csv's default limit (128 KiB per field) is below a long document.
_FIELD_SIZE_LIMIT = 2**31 - 1

#: How messages name the loader's parameters: as Python keywords here; the
#: command line passes its own spelling (flags), so its errors name flags.
PYTHON_SPELLING = {
    "text_column": "text_column",
    "label_column": "label_column",
    "label_columns": "label_columns",
    "label_columns=": "label_columns=[...]",
    "label_column=": "label_column=",
    "labels=": "pass labels=['0', '1', ...] naming every label",
}


@contextlib.contextmanager
def _large_csv_fields() -> Iterator[None]:
    """Allow CSV fields up to 2 GiB, restoring the previous limit afterwards."""
    previous = csv.field_size_limit()
    csv.field_size_limit(max(previous, _FIELD_SIZE_LIMIT))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _not_utf8(path: Path, where: str) -> ValueError:
    return ValueError(
        f"{path.name!r} is not UTF-8 text ({where}); save it with UTF-8 encoding "
        "(e.g. 'Save as: CSV UTF-8') and try again."
    )


def _read_csv(
    path: Path, columns_needed: Sequence[str]
) -> tuple[dict[str, list[str]], list[str], int]:
    """Read the columns ``columns_needed`` of a CSV/TSV file as raw strings.

    The file is streamed with :mod:`csv`; blank lines are skipped. Every row
    must have as many fields as the header: otherwise a ``ValueError`` names
    the row's 1-based line number in the file.

    Returns
    -------
    table : dict of str to list of str
        The cells of each column of ``columns_needed`` present in the header.
    header : list of str
        All column names, in file order.
    n_rows : int
        Number of data rows.
    """
    delimiter = _DELIMITERS[path.suffix.lower()]
    shown = "a tab" if delimiter == "\t" else repr(delimiter)
    header: list[str] | None = None
    table: dict[str, list[str]] = {}
    index: dict[str, int] = {}
    n_rows = 0
    line = 1  # first line of the record being read
    with open(path, encoding="utf-8-sig", newline="") as fh, _large_csv_fields():
        reader = csv.reader(fh, delimiter=delimiter, strict=True)
        try:
            for row in reader:
                if not row:  # a blank line
                    line = reader.line_num + 1
                    continue
                if header is None:
                    header = row
                    for name in columns_needed:
                        positions = [i for i, h in enumerate(header) if h == name]
                        if len(positions) > 1:
                            raise ValueError(
                                f"The header of {path.name!r} names column {name!r} "
                                f"{len(positions)} times (fields "
                                f"{', '.join(str(i + 1) for i in positions)}); rename the "
                                "duplicates so each column name is unique."
                            )
                        if positions:
                            index[name] = positions[0]
                            table[name] = []
                elif len(row) != len(header):
                    raise ValueError(
                        f"Line {line} of {path.name!r} has {len(row)} field(s) but the "
                        f"header has {len(header)}; put double quotes around any field "
                        f"that contains {shown} (e.g. \"good, cheap\") or fix that line."
                    )
                else:
                    for name, i in index.items():
                        table[name].append(row[i])
                    n_rows += 1
                line = reader.line_num + 1
        except csv.Error as exc:
            raise ValueError(
                f"Line {line} of {path.name!r} is not valid {path.suffix[1:].upper()} "
                f"({exc}); close the quotes of that field, or double a quote inside a "
                "quoted field (\"\")."
            ) from None
        except UnicodeDecodeError:
            raise _not_utf8(path, f"near line {reader.line_num + 1}") from None
    if header is None:
        raise ValueError(f"{path.name!r} holds no header row; its first line must name "
                         "the columns, e.g. text,labels.")
    return table, header, n_rows


def _typed_csv_column(cells: list[str]) -> list:
    """Cells of a CSV column as None (empty), int, float, bool or str.

    A column is numeric (or boolean) only when every non-empty cell is: one
    stray word keeps the whole column as text, as pandas does.
    """
    present = {c for c in cells if c != ""}
    if present and all(_INT.fullmatch(c) for c in present):
        convert = int
    elif present and all(_FLOAT.fullmatch(c) for c in present):
        convert = float
    elif present and present <= _BOOLS.keys():
        convert = _BOOLS.__getitem__
    else:
        convert = str
    return [None if c == "" else convert(c) for c in cells]


def _read_json(
    path: Path, columns_needed: Sequence[str], bare_strings: str | None = None
) -> tuple[dict[str, list], list[str], int]:
    """Read JSON Lines (one object per line) or a JSON array of objects.

    JSON Lines files are streamed; a malformed line is an error naming its
    1-based line number, and so is one nested too deeply for Python's parser.
    A key missing from a record reads as None. With ``bare_strings``, a record
    that is a plain string reads as ``{bare_strings: record}`` (a list of texts).
    """
    try:
        with open(path, encoding="utf-8-sig") as fh:
            first = ""
            while not first.strip():
                first = fh.read(1)
                if not first:
                    break
    except UnicodeDecodeError:
        raise _not_utf8(path, "at its start") from None
    table: dict[str, list] = {name: [] for name in columns_needed}
    seen: dict[str, None] = {}  # every key, in order of first appearance

    def add(record, where: str) -> None:
        if bare_strings is not None and isinstance(record, str):
            record = {bare_strings: record}
        if not isinstance(record, dict):
            raise ValueError(
                f"{where} of {path.name!r} holds a JSON {type(record).__name__}, not an "
                'object; each record must be an object such as {"text": "...", '
                '"labels": ["a", "b"]}.'
            )
        for name in record:
            seen.setdefault(name)
        for name in columns_needed:
            table[name].append(record.get(name))

    n_rows = 0
    if first == "[":
        with open(path, encoding="utf-8-sig") as fh:
            try:
                records = _parse_json(
                    path, _load_unique, fh, "The JSON array",
                    "fix the JSON array there, or save the file as JSON Lines (one object "
                    "per line).")
            except UnicodeDecodeError:
                raise _not_utf8(path, "somewhere in the array") from None
            except _DuplicateKey as exc:
                raise _duplicate_in_array(path, exc.key) from None
        if not isinstance(records, list):
            raise ValueError(f"{path.name!r} holds a JSON {type(records).__name__} after its "
                             "'['; a JSON file must hold an array of records.")
        for i, record in enumerate(records):
            add(record, f"Record {i}")
        n_rows = len(records)
    else:
        with open(path, encoding="utf-8-sig") as fh:
            n = 0
            try:
                for n, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    try:
                        record = _parse_json(
                            path, _loads_unique, line, f"Line {n}",
                            "JSON Lines files hold one complete object per line, so fix or "
                            "remove that line.", line_number=n)
                    except _DuplicateKey as exc:
                        raise ValueError(_duplicate_message(path, f"Line {n}", exc.key)) \
                            from None
                    add(record, f"Line {n}")
                    n_rows += 1
            except UnicodeDecodeError:
                raise _not_utf8(path, f"line {n + 1}") from None
    present = {name: values for name, values in table.items() if name in seen}
    return present, list(seen), n_rows


class _DuplicateKey(Exception):
    """A JSON object names the same key twice (raised by :func:`_unique_keys`)."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list) -> dict:
    """``object_pairs_hook`` that refuses a key given twice in one JSON object.

    Python's parser keeps the last value silently, so ``{"text": "real", "text":
    "pizza"}`` would train on "pizza"; which value was meant cannot be known.
    """
    record = dict(pairs)
    if len(record) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return record


def _loads_unique(text: str):
    return json.loads(text, object_pairs_hook=_unique_keys)


def _load_unique(fh):
    return json.load(fh, object_pairs_hook=_unique_keys)


def _duplicate_message(path: Path, where: str, key: str) -> str:
    return (f"{where} of {path.name!r} gives the key {key!r} twice in one object; JSON keeps "
            "only the last value, so which one is meant is unclear. Keep one "
            f"{key!r} in that record.")


def _duplicate_in_array(path: Path, key: str) -> ValueError:
    """The error for a key given twice in a JSON array, naming the first record that does."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            records = json.load(fh, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):  # invalid after the duplicate: say so next time
        records = None
    for i, record in enumerate(records if isinstance(records, list) else []):
        if _has_duplicate(record):
            return ValueError(_duplicate_message(path, f"Record {i}", key))
    return ValueError(_duplicate_message(path, "A record", key))


class _Pairs(list):
    """A JSON object read as its list of (key, value) pairs."""


def _has_duplicate(value) -> bool:
    if isinstance(value, _Pairs):
        keys = [k for k, _ in value]
        return len(set(keys)) != len(keys) or any(_has_duplicate(v) for _, v in value)
    if isinstance(value, list):
        return any(_has_duplicate(v) for v in value)
    return False


def _parse_json(path: Path, load, source, where: str, fix: str, line_number=None):
    """``load(source)``; invalid or too deeply nested JSON is a ValueError naming the
    line (``line_number``, else the parser's) and the ``fix``."""
    try:
        return load(source)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"Line {line_number or exc.lineno} of {path.name!r} is not valid JSON ({exc.msg}, "
            f"column {exc.colno}); {fix}"
        ) from None
    except RecursionError:
        raise _too_deep(path, where) from None


def _too_deep(path: Path, where: str) -> ValueError:
    return ValueError(
        f"{where} of {path.name!r} nests JSON arrays or objects too deeply for Python's "
        "parser; records are flat objects such as {\"text\": \"...\", \"labels\": "
        "[\"a\"]}, so fix or remove it."
    )


#: Bytes one value of a Parquet column costs once read into Python lists, besides its
#: characters: the Python object, the list's pointer to it and pyarrow's buffers while the
#: lists are built (measured peaks, pyarrow 25 and CPython 3.11: 102 for a short text, 97
#: for a text in a list, 71 for an int, 87 for a timestamp).
_PY_VALUE_BYTES = 128

#: Encodings of text values that pyarrow cannot read as a dictionary (it has to decode
#: every value), and whose metadata do not bound the texts' size (DELTA_BYTE_ARRAY stores
#: each value as a prefix of the one before plus a suffix).
_UNCHECKED_ENCODINGS = ("DELTA_BYTE_ARRAY", "DELTA_LENGTH_BYTE_ARRAY")


def _is_list_like(t) -> bool:
    import pyarrow as pa

    return any(getattr(pa.types, f"is_{kind}", lambda _: False)(t) for kind in (
        "list", "large_list", "fixed_size_list", "list_view", "large_list_view"))


def _value_type(t):
    """The Arrow type the values of type ``t`` hold: an extension type's storage, a
    dictionary's values."""
    import pyarrow as pa

    while isinstance(t, pa.ExtensionType):
        t = t.storage_type
    return t.value_type if pa.types.is_dictionary(t) else t


def _leaf_weights(arrow_type, above: int = 0) -> list[int]:
    """How many :data:`_PY_VALUE_BYTES` a value of each Parquet leaf column of a column of
    ``arrow_type`` costs once read into Python, in Parquet's order of leaves (depth first).

    One for the value itself (two for a ``Decimal``), one more for each list it is in (the
    list object, counted per value since a list holds at least one value or stands for one
    in Parquet's count), two for each struct or map (a dict, a list of tuples).
    """
    import pyarrow as pa

    t = _value_type(arrow_type)
    if pa.types.is_map(t):
        return _leaf_weights(t.key_type, above + 2) + _leaf_weights(t.item_type, above + 2)
    if pa.types.is_struct(t):
        return [w for i in range(t.num_fields) for w in _leaf_weights(t.field(i).type, above + 2)]
    if _is_list_like(t):
        return _leaf_weights(t.value_type, above + 1)
    return [above + (2 if pa.types.is_decimal(t) else 1)]


def _parquet_leaves(parquet, columns: Sequence[str]) -> list[tuple[int, str, int, bool, int]]:
    """The Parquet leaf columns (what the metadata describe, a list column's values being
    one) of the top-level ``columns`` of ``parquet``: ``(index, column, weight, text,
    width)``, where ``weight`` is :func:`_leaf_weights`', ``text`` whether its values are
    strings or bytes of any length (read as a dictionary, counted once decoded) and
    ``width`` the length of a fixed-length binary value (else 0)."""
    paths = parquet.reader.column_paths  # a name may hold a dot: "my.text" is one name
    schema = parquet.schema
    weights, i = [], 0
    for field in parquet.schema_arrow:
        field_weights = _leaf_weights(field.type)
        if any(p[0] != field.name for p in paths[i:i + len(field_weights)]):
            break
        weights += field_weights
        i += len(field_weights)
    if len(weights) != len(paths):  # a layout the walk does not know: a weight per level
        weights = [len(p) + 1 for p in paths]
    wanted = set(columns)
    leaves = []
    for index, path in enumerate(paths):
        if path[0] not in wanted:
            continue
        leaf = schema.column(index)
        text = leaf.physical_type == "BYTE_ARRAY" and leaf.logical_type.type != "DECIMAL"
        width = leaf.length if leaf.physical_type == "FIXED_LEN_BYTE_ARRAY" else 0
        leaves.append((index, path[0], weights[index], text, max(int(width or 0), 0)))
    return leaves


def _parquet_bytes(parquet, columns: Sequence[str], decoded: Mapping[str, int] | None = None,
                   ) -> int:
    """Bytes the ``columns`` of the Parquet file ``parquet`` come to once read into Python
    lists: each value's overhead (:data:`_PY_VALUE_BYTES`, times the lists, dicts it is in:
    :func:`_leaf_weights`), plus each column's texts.

    Parquet compresses: a file of a few hundred kilobytes can hold two hundred
    million copies of one text, or one row whose list holds a hundred million labels,
    which no reader of its size would expect to take gigabytes. The metadata gives each
    leaf column's values (a list column's: its items, not its rows) and uncompressed
    bytes, which are its texts' for a plainly encoded column, but the dictionary's for
    a dictionary-encoded one. So a column of ``decoded`` (name: bytes of its texts
    once decoded, :func:`_decoded_bytes`) counts those bytes instead of the
    metadata's, once; the other columns count the metadata's (which bound what pyarrow
    holds when it reads the texts as dictionaries).

    Parameters
    ----------
    parquet : pyarrow.parquet.ParquetFile
    columns : sequence of str
        The columns to be read.
    decoded : mapping of str to int, optional
        The columns whose decoded bytes are known, read as dictionaries.

    Returns
    -------
    int
    """
    wanted = set(columns)
    decoded = {w: n for w, n in (decoded or {}).items() if w in wanted}
    meta = parquet.metadata
    need = 0
    for index, column, weight, text, width in _parquet_leaves(parquet, columns):
        for g in range(meta.num_row_groups):
            chunk = meta.row_group(g).column(index)
            values = max(int(chunk.num_values), 0)
            need += values * weight * _PY_VALUE_BYTES
            if not (text and column in decoded):
                need += max(int(chunk.total_uncompressed_size), values * width, 0)
    return need + sum(decoded.values())


def _parquet_fit_problem(path: Path, parquet, columns: Sequence[str],
                         decoded: Mapping[str, int] | None = None) -> str | None:
    """Why a Parquet file cannot be read: its ``columns`` would need more memory than is
    free now once read into Python lists (None: they fit). The need is
    :func:`_parquet_bytes` (``decoded`` as there)."""
    from .._safe_io import memory_available

    meta = parquet.metadata
    need = _parquet_bytes(parquet, columns, decoded)
    free = memory_available()
    if free is not None and need > free:
        rows = meta.num_rows
        items = max((sum(meta.row_group(g).column(index).num_values
                         for g in range(meta.num_row_groups))
                     for index, *_ in _parquet_leaves(parquet, columns)), default=0)
        # a list column's items, when they outnumber the rows: one row can hold millions
        held = f"{rows:,} row{'s' if rows != 1 else ''}" + (
            f" with {items:,} values in a column's lists" if items > rows else "")
        return (f"{path.name!r} holds {held}, about {_in_units(need)} once read, more than "
                f"the {_in_units(free)} of memory free now (the file itself is "
                f"{path.stat().st_size:,} bytes: Parquet compresses). Split it into smaller "
                "files, or free memory.")
    return None


def _in_units(n: int) -> str:
    """``n`` bytes in GiB, or MiB below one GiB (so that 0.0 GiB never reads as nothing)."""
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def _parquet_type_problem(path: Path, parquet, columns: Sequence[str],
                          text_columns: Sequence[str]) -> str | None:
    """Why the ``columns`` of a Parquet file are refused from its schema, before any value
    is read (None: they are not): a column of ``text_columns`` (texts, label names) that
    holds bytes, not strings; or texts stored with an encoding of
    :data:`_UNCHECKED_ENCODINGS`, whose size once read the metadata do not give."""
    import pyarrow as pa

    for name in text_columns:
        if name not in columns:
            continue
        t = _value_type(parquet.schema_arrow.field(name).type)
        while _is_list_like(t):  # a label column: a list of names
            t = _value_type(t.value_type)
        if (pa.types.is_binary(t) or pa.types.is_large_binary(t)
                or pa.types.is_fixed_size_binary(t)
                or getattr(pa.types, "is_binary_view", lambda _: False)(t)):
            return (f"Column {name!r} of {path.name!r} holds bytes (Parquet binary, type {t}), "
                    "not text: texts and label names are read as strings. Write that column "
                    "as UTF-8 strings (with pyarrow, cast it to pa.string(), or a list of "
                    "pa.string() for label lists).")
    meta = parquet.metadata
    for index, column, _, text, _ in _parquet_leaves(parquet, columns):
        for g in range(meta.num_row_groups if text else 0):
            used = [e for e in meta.row_group(g).column(index).encodings
                    if e in _UNCHECKED_ENCODINGS]
            if used:
                return (f"Column {column!r} of {path.name!r} stores its values with Parquet's "
                        f"{used[0]} encoding, which skbert cannot read without decoding every "
                        "value first, so what it comes to in memory cannot be checked. Write "
                        "the file with dictionary or plain encoding (pyarrow's default: "
                        "pyarrow.parquet.write_table(table, path)).")
    return None


def _text_arrays(array):
    """The dictionary, string and binary arrays of ``array``: itself, or the values of its
    lists, structs and maps."""
    import pyarrow as pa

    if isinstance(array, pa.ExtensionArray):
        array = array.storage
    t = array.type
    if pa.types.is_struct(t):
        for child in array.flatten():
            yield from _text_arrays(child)
    elif pa.types.is_map(t) or _is_list_like(t):
        yield from _text_arrays(array.flatten())
    elif pa.types.is_dictionary(t) or _is_text(t):
        yield array


def _is_text(t) -> bool:
    import pyarrow as pa

    return (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t))


def _python_bytes(values):
    """Bytes of each of ``values`` (strings or bytes) once a Python object: a string's
    characters take 1, 2 or 4 bytes each, by the largest of them (PEP 393), not the
    UTF-8 bytes stored (one emoji makes a text of ASCII letters take four bytes each)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    stored = pc.cast(pc.binary_length(values), pa.int64())
    if pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type):
        return stored
    chars = pc.cast(pc.utf8_length(values), pa.int64())
    if pc.sum(stored).as_py() == pc.sum(chars).as_py():  # ASCII: a byte a character
        return chars
    wide = pc.match_substring_regex(values, r"[^\x{0}-\x{FF}]")
    astral = pc.match_substring_regex(values, r"[^\x{0}-\x{FFFF}]")
    size = pc.if_else(astral, 4, pc.if_else(wide, 2, 1))
    return pc.multiply_checked(chars, pc.cast(size, pa.int64()))


def _decoded_bytes(table, columns: Sequence[str]) -> dict[str, int]:
    """Bytes the texts (strings, bytes) of each column of ``columns`` of ``table`` come to
    once Python objects (:func:`_python_bytes`), a list column's items included: for a
    dictionary, each value's times the rows that use it, computed on the indices (nothing
    decoded).

    Returns
    -------
    dict of str to int
        By column name; a column without texts is left out.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    out = {}
    for name in columns:
        for chunk in table.column(name).chunks:
            for array in _text_arrays(chunk):
                if pa.types.is_dictionary(array.type):
                    if not _is_text(array.type.value_type):
                        continue  # numbers: each one's cost is the per-value overhead
                    out[name] = out.get(name, 0)
                    if not len(array):
                        continue
                    counts = pc.value_counts(array.indices)
                    sizes = pc.take(_python_bytes(array.dictionary), counts.field("values"))
                    total = pc.sum(pc.multiply_checked(sizes, counts.field("counts")))
                else:
                    out[name] = out.get(name, 0)
                    total = pc.sum(_python_bytes(array)) if len(array) else None
                out[name] += int((total.as_py() if total is not None else 0) or 0)
    return out


def _read_parquet(
    path: Path, columns_needed: Sequence[str], text_columns: Sequence[str] = (),
) -> tuple[dict[str, list], list[str], int]:
    """Read the columns ``columns_needed`` of a Parquet file with pyarrow.

    Texts (every string or bytes value, a list column's items included) are read as
    dictionaries (a text repeated on many rows is held once), so that what they come
    to once decoded into Python strings is known before it is built
    (:func:`_parquet_fit_problem`). A column of ``text_columns`` that holds bytes is
    refused from the schema (:func:`_parquet_type_problem`).
    """
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        available = list(parquet.schema_arrow.names)
        present = [c for c in dict.fromkeys(columns_needed) if c in available]
        fits = _parquet_type_problem(path, parquet, present, text_columns)
        if fits is None:
            fits = _parquet_fit_problem(path, parquet, present)
        if fits is None and present:
            texts = [index for index, _, _, text, _ in _parquet_leaves(parquet, present)
                     if text]
            arrow = pq.ParquetFile(path, read_dictionary=texts).read(columns=present)
            # every dictionary column counts: one written from a DictionaryArray reads as one
            fits = _parquet_fit_problem(path, parquet, present, _decoded_bytes(arrow, present))
            if fits is None:
                table = arrow.to_pydict()
        elif fits is None:
            table = {}
        n_rows = parquet.metadata.num_rows
    except MemoryError:
        fits = (f"{path.name!r} does not fit in the memory free now once read; split it into "
                "smaller files.")
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise ValueError(
            f"Could not read {path.name!r} as Parquet ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())}); check that the file is a complete Parquet "
            "file and matches its extension."
        ) from None
    if fits is not None:
        raise ValueError(fits)
    return table, available, n_rows


def _read_table(
    path: Path, columns_needed: Sequence[str], text_columns: Sequence[str] = (),
    bare_strings: str | None = None,
) -> tuple[dict[str, list], list[str], int]:
    """Read the columns ``columns_needed`` of ``path``.

    Returns the columns of ``columns_needed`` that exist, as Python lists,
    the names of all columns of the file and its number of rows. CSV cells are
    typed by :func:`_typed_csv_column`, except those of ``text_columns`` (the
    texts, and a column of label names, where ``3`` is the label ``"3"``),
    which stay strings (an empty cell reads as None).
    """
    suffix = path.suffix.lower()
    if suffix in _DELIMITERS:
        raw, available, n_rows = _read_csv(path, columns_needed)
        table = {
            name: ([None if c == "" else c for c in cells] if name in text_columns
                   else _typed_csv_column(cells))
            for name, cells in raw.items()
        }
        return table, available, n_rows
    if suffix == ".parquet":
        return _read_parquet(path, columns_needed, text_columns)
    return _read_json(path, columns_needed, bare_strings)


def _kind(value) -> str:
    """What a cell's value is, in words that serve Python and the command line alike
    (never a Python type's name).

    Examples
    --------
    >>> _kind(True), _kind(3), _kind(2.5), _kind(None), _kind({"a": 1}), _kind([1])
    ('true/false', 'a number', 'a number', 'no value', 'an object', 'a list')
    """
    import numbers

    if isinstance(value, (bool, np.bool_)):
        return "true/false"
    if isinstance(value, numbers.Number):
        return "a number"
    if value is None:
        return "no value"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "a list"
    return "not text"


def _parse_label_cell(value, row: int, label_column: str,
                      spell: dict = PYTHON_SPELLING) -> list[str]:
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
                    f"{item!r} ({_kind(item)}); the column must hold "
                    "label names as text, as a list or as a string separated by "
                    "',', ';' or '|'."
                )
            if item.strip():
                names.append(item.strip())
        return names
    raise ValueError(
        f"Row {row} of label column {label_column!r} holds {value!r} "
        f"({_kind(value)}); the column must hold a list of label names "
        "or a string of names separated by ',', ';' or '|' (for 0/1 columns, "
        f"pass {spell['label_columns=']} instead)."
    )


#: A 0/1 cell written as text (JSON's "1"): named as text, not as a bad value.
_QUOTED_INDICATORS = ("0", "1", "true", "false")


def _indicator_value(value, row: int, column: str, spell: dict = PYTHON_SPELLING) -> int:
    """Validate one cell of a 0/1 label column."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, Number) and not _is_missing(value) and value in (0, 1):
        return int(value)
    kind = " (text, not a number)" if value in _QUOTED_INDICATORS else ""
    raise ValueError(
        f"Label column {column!r} holds {value!r}{kind} at row {row}; "
        f"{spell['label_columns']} must hold only 0/1 (or true/false) values, so recode that "
        f"column or use {spell['label_column=']} for a column of label names."
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

    CSV/TSV and JSON files are read with Python's ``csv`` and ``json``
    modules, Parquet files with ``pyarrow``; only the columns asked for are
    kept in memory, and nothing is downloaded.

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
        ``.parquet``. CSV and TSV files need a header row, and every row must
        have as many fields as the header: quote a field that holds the
        delimiter (``"good, cheap"``). An empty CSV cell is a missing value
        and any other cell is read as written (``NA`` is the text ``"NA"``);
        cells of ``label_column`` are label names (``3`` is the label
        ``"3"``), except that a label column of only ``0``/``1`` or
        ``true``/``false`` cells is refused as an indicator column (pass
        ``label_columns``, or ``labels=["0", "1"]`` when those are label
        names), and ``label_columns`` cells are read as numbers or booleans.
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
        If the extension is not supported, the file cannot be parsed (the
        message names the line of a malformed JSON line, or of a CSV row whose
        field count differs from the header's), a column is missing, a text
        is not a string, a label column holds values other than 0/1, or the
        data holds label names missing from ``labels``.

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
    return load_table(path, text_column=text_column, label_column=label_column,
                      label_columns=label_columns, labels=labels)


def load_table(path, *, text_column="text", label_column="labels", label_columns=None,
               labels=None, spell: dict = PYTHON_SPELLING):
    """:func:`load_texts_and_labels`, with messages naming parameters as ``spell`` says.

    The command line passes ``spell`` mapping each parameter to its flag
    (``"text_column": "--text-column"``), so its errors speak in flags.
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
    if suffix not in _SUFFIXES:
        raise ValueError(
            f"Unsupported file extension {path.suffix or '(none)'!r} for "
            f"{path.name!r}; use one of {', '.join(_SUFFIXES)}."
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
    # a CSV column of label names is text: labels 3 and 4 are the names "3" and "4"
    as_text = (text_column,) if label_columns is not None else (text_column, label_column)
    table, available, n_rows = _read_table(path, wanted, as_text)
    if suffix in _DELIMITERS and label_columns is None and label_column in table:
        present = {c for c in table[label_column] if c is not None}
        names = {str(n) for n in labels} if labels is not None else set()
        if present and (present <= {"0", "1"} or present <= _BOOLS.keys()) and not (
                present <= names):
            # only 0/1 or true/false: it reads as one indicator column as much as the class
            # ids 0 and 1, and the two readings give opposite answers; labels= says which
            raise ValueError(
                f"Label column {label_column!r} of {path.name!r} holds only "
                f"{' and '.join(sorted(present))}: that reads as one 0/1 column as much as "
                "label names, so it is not guessed. For 0/1 columns, one per label, pass "
                f"{spell['label_columns=']} instead; if these are label names (class ids), "
                f"{spell['labels=']}.")

    if text_column not in available:
        raise ValueError(
            f"Text column {text_column!r} not found in {path.name!r}; set "
            f"{spell['text_column']} to one of the available columns: {available}."
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
                f"{spell['label_columns']} must name columns among: {available}."
            )
        Y = np.zeros((n_rows, len(label_columns)), dtype=np.int64)
        for j, column in enumerate(label_columns):
            values = list(table[column])
            # a CSV column is text when one cell is not a number: name that cell first
            words = next(((i, v) for i, v in enumerate(values) if isinstance(v, str)
                          and v not in _QUOTED_INDICATORS), None)
            if words is not None:
                _indicator_value(words[1], words[0], column, spell)
            for i, value in enumerate(values):
                Y[i, j] = _indicator_value(value, i, column, spell)
        return list(texts), Y, list(label_columns)

    if label_column not in available:
        raise ValueError(
            f"Label column {label_column!r} not found in {path.name!r}; set "
            f"{spell['label_column']} to one of the available columns {available}, or "
            f"pass {spell['label_columns=']} for 0/1 columns."
        )
    row_labels = [
        _parse_label_cell(value, i, label_column, spell)
        for i, value in enumerate(table[label_column])
    ]
    found = {name for names in row_labels for name in names}
    if labels is None:
        label_names = sorted(found)
    else:
        unknown = sorted(found - set(labels))
        if unknown:
            label_texts = {str(lab) for lab in labels}
            as_text = [n for n in unknown if n in label_texts]
            raise ValueError(
                f"The data holds labels not in `labels`: {unknown}; add them to "
                "labels or pass labels=None to use every label in the file."
                + (f" Label names are text: write {as_text[:3]} as strings in labels "
                   f"(labels={[str(lab) for lab in labels][:4]}...)." if as_text else "")
            )
        label_names = labels
    column_of = {name: j for j, name in enumerate(label_names)}
    Y = np.zeros((n_rows, len(label_names)), dtype=np.int64)
    for i, names in enumerate(row_labels):
        for name in names:
            Y[i, column_of[name]] = 1
    return list(texts), Y, list(label_names)

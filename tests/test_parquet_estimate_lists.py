"""What a Parquet file comes to once read is estimated from its values, not its rows, and
from every text's decoded bytes, before any value is decoded (trial 24).

Before, one row whose list column held 100 million copies of "ab" (an 860-byte file) was
estimated at 295 bytes and took about 10 GB to read; a bytes column of 100,000 copies of
one 10 kB value (a 1,223-byte file) was estimated at 12.8 MB and took 2.9 GB. The files
here are small versions of those: what is checked is that the estimate grows with the
values and their decoded bytes, and that a file too large for the memory free is refused
with a message naming it and the sizes (the memory free is monkeypatched).
"""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from skbert import _safe_io  # noqa: E402
from skbert.datasets import load_texts_and_labels  # noqa: E402
from skbert.datasets._files import _parquet_bytes, _read_table  # noqa: E402

#: Peak bytes a short text held in a list costs once read (measured: 97 with pyarrow 25
#: and CPython 3.11, its characters, list pointer and pyarrow's buffers included).
ITEM_BYTES = 90


def _repeated(value, n: int, type_=None):
    """``n`` copies of ``value`` as an Arrow array, without building a Python list of n."""
    return pa.array([value], type_).take(pa.array(np.zeros(n, dtype=np.int32)))


def _memory(monkeypatch, free: int | None) -> None:
    monkeypatch.setattr(_safe_io, "memory_available", lambda: free)


def _python_peak(path, **kwargs) -> int:
    """Peak bytes Python allocates to load ``path`` (pyarrow's buffers not included)."""
    tracemalloc.start()
    try:
        load_texts_and_labels(path, **kwargs)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture
def one_row_of_many_labels(tmp_path):
    """The list attack: one row whose labels list holds N copies of one label."""
    n = 200_000
    labels = pa.ListArray.from_arrays(pa.array([0, n], pa.int32()), _repeated("ab", n))
    path = tmp_path / "one_row.parquet"
    pq.write_table(pa.table({"text": ["hello world"], "labels": labels}), path,
                   compression="zstd")
    assert path.stat().st_size < 5_000  # the file says next to nothing about its size
    return path, n


def test_a_list_column_is_estimated_by_its_items_not_its_rows(one_row_of_many_labels,
                                                               monkeypatch):
    path, n = one_row_of_many_labels
    need = _parquet_bytes(pq.ParquetFile(path), ["text", "labels"])  # metadata only
    assert need >= n * ITEM_BYTES
    _memory(monkeypatch, None)
    assert need >= _python_peak(path)  # what Python builds to read it, at most the estimate
    _memory(monkeypatch, 16 * 2**20)
    with pytest.raises(ValueError, match=re.escape(
            f"'one_row.parquet' holds 1 row with {n:,} values in a column's lists, about "
            f"{need / 2**20:.1f} MiB once read, more than the 16.0 MiB of memory free now "
            f"(the file itself is {path.stat().st_size:,} bytes: Parquet compresses)")):
        load_texts_and_labels(path)


def test_a_list_column_counts_its_items_decoded_bytes(tmp_path, monkeypatch):
    """Each item of a dictionary-encoded list counts its text: 2,000 copies of a 10 kB
    label are 20 MB once read, in a file of a few kilobytes."""
    n, label = 2_000, "x" * 10_000
    labels = pa.ListArray.from_arrays(pa.array([0, n], pa.int32()), _repeated(label, n))
    path = tmp_path / "long_labels.parquet"
    pq.write_table(pa.table({"text": ["hello"], "labels": labels}), path, compression="zstd")
    assert path.stat().st_size < 5_000
    _memory(monkeypatch, 16 * 2**20)
    with pytest.raises(ValueError, match=r"'long_labels.parquet' holds 1 row with 2,000 "
                                         r"values in a column's lists, about 19\.\d MiB"):
        load_texts_and_labels(path)
    _memory(monkeypatch, None)
    texts, Y, names = load_texts_and_labels(path)
    assert names == [label] and Y.tolist() == [[1]]


@pytest.fixture
def bytes_file(tmp_path):
    """The bytes attack: N rows of one 10 kB bytes value, as text and as a 0/1 column."""
    n = 1_000
    blob = _repeated(b"x" * 10_000, n, pa.binary())
    path = tmp_path / "blobs.parquet"
    pq.write_table(pa.table({"text": blob, "labels": pa.array([["a"]] * n),
                             "flag": blob, "words": _repeated("good", n)}), path,
                   compression="zstd")
    assert path.stat().st_size < 10_000
    return path, n


def test_a_bytes_text_column_is_refused_from_the_schema(bytes_file, monkeypatch):
    path, n = bytes_file

    def no_read(*args, **kwargs):
        raise AssertionError("the values were read")

    monkeypatch.setattr(pq.ParquetFile, "read", no_read)
    message = (r"Column 'text' of 'blobs.parquet' holds bytes \(Parquet binary, type "
               r"binary\), not text: .* Write that column as UTF-8 strings")
    with pytest.raises(ValueError, match=message):
        load_texts_and_labels(path)
    with pytest.raises(ValueError, match=message.replace("'text'", "'flag'")):
        load_texts_and_labels(path, text_column="words", label_column="flag")
    with pytest.raises(ValueError, match=message):  # the command line's reader of texts
        _read_table(path, ["text"], ("text",), bare_strings="text")


def test_a_bytes_column_counts_its_decoded_bytes(bytes_file, monkeypatch):
    """A bytes column read for another use (a 0/1 column here) counts its values' bytes
    once decoded, not the few bytes the file stores them in."""
    path, n = bytes_file
    _memory(monkeypatch, 8 * 2**20)
    with pytest.raises(ValueError, match=r"'blobs.parquet' holds 1,000 rows, about "
                                         r"(9|1\d)\.\d MiB once read, more than the 8\.0 MiB"):
        load_texts_and_labels(path, text_column="words", label_columns=["flag"])
    _memory(monkeypatch, 64 * 2**20)  # read, then refused as no 0/1 column
    with pytest.raises(ValueError, match=r"Label column 'flag' holds b'xxx"):
        load_texts_and_labels(path, text_column="words", label_columns=["flag"])


def test_a_text_counts_the_bytes_python_holds_it_in(tmp_path, monkeypatch):
    """One emoji makes Python hold every character of a text in 4 bytes: 1,000 copies of
    a 1,000-character text are 4 MB once read, not the 1 MB of their UTF-8."""
    import sys

    text = "\N{GRINNING FACE}" + "a" * 999
    n = 1_000
    path = tmp_path / "emoji.parquet"
    pq.write_table(pa.table({"text": _repeated(text, n), "labels": pa.array([["a"]] * n)}),
                   path)
    assert sys.getsizeof(text) > 4 * len(text)
    _memory(monkeypatch, 4 * 2**20)
    with pytest.raises(ValueError, match=r"'emoji.parquet' holds 1,000 rows, about 4\.\d MiB"):
        load_texts_and_labels(path)
    _memory(monkeypatch, 8 * 2**20)
    assert load_texts_and_labels(path)[0] == [text] * n


def test_prefix_encoded_texts_are_refused_with_the_fix(tmp_path):
    """DELTA_BYTE_ARRAY stores a text as a prefix of the one before plus a suffix: its
    metadata do not bound the texts, and pyarrow cannot read it as a dictionary."""
    n = 1_000
    labels = pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)),
                                      _repeated("x" * 1_000, n))
    path = tmp_path / "delta.parquet"
    try:
        pq.write_table(pa.table({"text": _repeated("hi", n), "labels": labels}), path,
                       use_dictionary=False,
                       column_encoding={"labels.list.element": "DELTA_BYTE_ARRAY"})
    except (NotImplementedError, pa.ArrowNotImplementedError, TypeError, ValueError, OSError):
        pytest.skip("this pyarrow cannot write DELTA_BYTE_ARRAY")
    group = pq.ParquetFile(path).metadata.row_group(0)
    if not any("DELTA_BYTE_ARRAY" in group.column(c).encodings  # pyarrow 12 names the leaf
               for c in range(group.num_columns)):              # labels.list.item: not applied
        pytest.skip("this pyarrow did not write DELTA_BYTE_ARRAY")
    with pytest.raises(ValueError, match=r"Column 'labels' of 'delta.parquet' stores its "
                                         r"values with Parquet's DELTA_BYTE_ARRAY encoding"
                                         r".*Write the file with dictionary or plain"):
        load_texts_and_labels(path)


def test_an_ordinary_file_of_texts_and_label_lists_is_read(tmp_path, monkeypatch):
    """A GoEmotions-like file (10,000 short texts, one to three labels each) is estimated
    near what reading it takes, and read with the memory a small machine has free."""
    rng = np.random.default_rng(0)
    emotions = [f"emotion_{i}" for i in range(28)]
    n = 10_000
    texts = [f"comment {i} " + "so this is what it feels like " * int(rng.integers(1, 6))
             + ("\N{HEAVY BLACK HEART}" if i % 10 == 0 else "") for i in range(n)]
    labels = [list(rng.choice(emotions, size=int(rng.integers(1, 4)), replace=False))
              for _ in range(n)]
    path = tmp_path / "goemotions.parquet"
    pq.write_table(pa.table({"text": texts, "labels": labels}), path)
    need = _parquet_bytes(pq.ParquetFile(path), ["text", "labels"])
    assert need < 20 * 2**20
    _memory(monkeypatch, 256 * 2**20)
    X, Y, names = load_texts_and_labels(path)
    assert X == texts and names == sorted(emotions) and Y.sum() == sum(map(len, labels))

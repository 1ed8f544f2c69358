"""The memory a Parquet file's columns need once read counts each text column's texts
once: a plainly encoded column was counted twice (its metadata's uncompressed bytes and
its texts decoded from the dictionary it is read as), so a file that fit was refused."""

from __future__ import annotations

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from skbert import _safe_io  # noqa: E402
from skbert.datasets import load_texts_and_labels  # noqa: E402
from skbert.datasets._files import _PY_VALUE_BYTES, _decoded_bytes, _parquet_bytes  # noqa: E402

ROWS = 200
PLAIN = [f"{i:05d}" + "x" * 4995 for i in range(ROWS)]  # distinct texts: 1,000,000 bytes
REPEATED = ["same text " * 500] * ROWS  # one 5,000-byte text on every row: 1,000,000 bytes
TEXT_BYTES = 1_000_000


@pytest.fixture
def parquet_file(tmp_path):
    """``plain`` written without a dictionary, ``repeated`` with one, and labels."""
    path = tmp_path / "texts.parquet"
    table = pa.table({"plain": PLAIN, "repeated": REPEATED, "labels": [["food"]] * ROWS})
    pq.write_table(table, path, use_dictionary=["repeated"], compression="zstd")
    encodings = {pq.ParquetFile(path).metadata.row_group(0).column(c).path_in_schema:
                 pq.ParquetFile(path).metadata.row_group(0).column(c).encodings
                 for c in range(2)}
    assert "RLE_DICTIONARY" not in encodings["plain"]
    assert "RLE_DICTIONARY" in encodings["repeated"]
    return path


def estimate(path, columns):
    """As the reader takes it: text columns read as dictionaries, then decoded bytes."""
    arrow = pq.ParquetFile(path, read_dictionary=columns).read(columns=columns)
    return _parquet_bytes(pq.ParquetFile(path), columns, _decoded_bytes(arrow, columns))


@pytest.mark.parametrize("column", ["plain", "repeated"])
def test_the_estimate_counts_a_text_column_once(parquet_file, column):
    need = estimate(parquet_file, [column])
    assert TEXT_BYTES + ROWS * _PY_VALUE_BYTES <= need <= 1.05 * (TEXT_BYTES
                                                                  + ROWS * _PY_VALUE_BYTES)


def test_the_estimate_of_two_text_columns_is_their_sum(parquet_file):
    both = estimate(parquet_file, ["plain", "repeated"])
    assert both == estimate(parquet_file, ["plain"]) + estimate(parquet_file, ["repeated"])


def test_a_plain_text_column_that_fits_in_memory_is_read(parquet_file, monkeypatch):
    monkeypatch.setattr(_safe_io, "memory_available", lambda: int(1.5 * TEXT_BYTES))
    X, Y, names = load_texts_and_labels(parquet_file, text_column="plain")
    assert list(X) == PLAIN and list(names) == ["food"]
    monkeypatch.setattr(_safe_io, "memory_available", lambda: int(0.9 * TEXT_BYTES))
    with pytest.raises(ValueError, match=r"holds 200 rows, about .* once read, more than"):
        load_texts_and_labels(parquet_file, text_column="plain")

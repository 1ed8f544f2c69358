"""Tokenisation, the token store, batching and collation.

Texts are tokenised once, a few thousand at a time, into one flat integer
array: every window's token ids back to back, special tokens included
(:class:`Encoded`). A text becomes one window (``long_text="truncate"``) or
several overlapping windows (``long_text="chunk"``); the store keeps where each
window starts, its length and which windows belong to which text. No list of
Python ints for the corpus exists at any time: a token costs 2 bytes (4 when
the vocabulary has more than 65,536 ids) instead of about 36.

A ``datasets.Dataset`` is tokenised with ``Dataset.map`` into an Arrow file and
read back through a memory map (:func:`encode_dataset`), so a corpus larger
than memory trains; only the per-window index (12 bytes a window) and the
per-text offsets (8 bytes a text) live in RAM.

Batches are padded to their own longest window (dynamic padding), never to
``max_length``, optionally rounded up to a few fixed widths
(:func:`bucket_width`) so that shapes repeat. :func:`prefetch` collates the
next batches in a background thread while the model runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import mmap
import os
import queue
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

logger = logging.getLogger(__name__)

#: Texts per tokenizer call: big enough for the Rust tokenizer's threads, small
#: enough that the Python lists it returns stay a few MiB.
TOKEN_CHUNK = 4096
#: Bytes of a memory-mapped token file touched before its pages are handed back.
RELEASE_BYTES = 32 * 2**20
#: Bumped whenever the layout of the Arrow token cache changes.
_CACHE_FORMAT = "skbert-tokens-1"
_PAGE = mmap.PAGESIZE


def token_dtype(tokenizer) -> np.dtype:
    """The smallest integer type that holds every id of ``tokenizer``.

    ``uint16`` when the vocabulary (added tokens included) has at most 65,536
    ids, which covers BERT, RoBERTa, MiniLM and most English checkpoints;
    ``int32`` otherwise (XLM-R, mT5, ...).
    """
    try:
        n = len(tokenizer)
    except TypeError:
        n = None
    if n is None or n > np.iinfo(np.uint16).max + 1:
        return np.dtype(np.int32)
    return np.dtype(np.uint16)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + n) for s, n in zip(starts, lengths)])``, vectorised."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    first = np.cumsum(lengths) - lengths  # where each range begins in the output
    return np.repeat(np.asarray(starts, dtype=np.int64) - first, lengths) + np.arange(total)


# ------------------------------------------------------------------ token stores
#: Pages the kernel maps on one read fault of a file mapping ("fault-around",
#: 64 KiB by default on Linux): touching one id maps this much of the file.
_FAULT_AROUND = 64 * 1024


class ArrowTokens:
    """Token ids in Arrow IPC stream files, read through read-only memory maps.

    Made by :func:`encode_dataset`. Each record batch's id buffer is a numpy
    view into the map (zero-copy); :meth:`take` reads the positions it is
    given and nothing else.

    Pages of a memory-mapped file that a process touches count in its resident
    set (``VmRSS``, ``VmHWM``) until they are unmapped, although the kernel can
    drop them, and one read fault maps 64 KiB around the page. So once
    ``release_bytes`` have been mapped that way, the maps are advised
    ``MADV_DONTNEED``: RSS falls back, and a later read faults the page in
    again from the page cache. Nothing is lost (the maps are read-only views
    of files), and an epoch over a corpus larger than memory keeps a bounded RSS.

    Parameters
    ----------
    maps : list of mmap.mmap
        Read-only maps of the files, kept open while the store lives.
    views : list of ndarray
        One id array per record batch, views into ``maps``, in row order.
    release_bytes : int, default=RELEASE_BYTES
    owner : object, default=None
        Kept alive with the store, e.g. the ``TemporaryDirectory`` holding
        the files, so that they are deleted with it.
    """

    def __init__(self, maps: list[mmap.mmap], views: list[np.ndarray], *,
                 release_bytes: int = RELEASE_BYTES, owner=None):
        self._maps = maps
        self._views = views
        sizes = np.array([len(v) for v in views], dtype=np.int64)
        self._bases = np.cumsum(sizes) - sizes
        self._size = int(sizes.sum())
        self.dtype = views[0].dtype if views else np.dtype(np.uint16)
        self._release_bytes = int(release_bytes)
        self._owner = owner
        self._touched = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        """Size of the token ids in the files (not in memory)."""
        return self._size * self.dtype.itemsize

    def take(self, positions) -> np.ndarray:
        """The ids at ``positions`` (int array into the store), as a new array."""
        positions = np.asarray(positions, dtype=np.int64)
        out = np.empty(len(positions), dtype=self.dtype)
        if len(positions) == 0:
            return out
        which = np.searchsorted(self._bases, positions, side="right") - 1
        for k in np.unique(which):
            sel = which == k
            out[sel] = self._views[k][positions[sel] - self._bases[k]]
        per_block = _FAULT_AROUND // self.dtype.itemsize
        self._count(np.unique(positions // per_block).size * _FAULT_AROUND)
        return out

    def _count(self, nbytes: int) -> None:
        with self._lock:
            self._touched += nbytes
            if self._touched < self._release_bytes:
                return
            self._touched = 0
        self.release()

    def release(self) -> None:
        """Hand the mapped pages back to the kernel (a no-op without ``madvise``)."""
        if hasattr(mmap, "MADV_DONTNEED"):
            for mm in self._maps:
                if len(mm):
                    mm.madvise(mmap.MADV_DONTNEED)


def _read_token_files(paths: Sequence[str], *, release_bytes: int, owner) -> Encoded:
    """Map :func:`encode_dataset`'s Arrow files; only the window index is read into memory."""
    import pyarrow as pa

    maps, batches = [], []
    for path in paths:
        with open(path, "rb") as fh:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        maps.append(mm)
        batches.extend(b for b in pa.ipc.open_stream(pa.py_buffer(mm)) if b.num_rows)
    n_docs = sum(b.num_rows for b in batches)
    n_windows = sum(len(b.column("window_lengths").flatten()) for b in batches)
    starts = np.empty(n_windows, dtype=np.int64)
    lengths = np.empty(n_windows, dtype=np.int32)
    offsets = np.zeros(n_docs + 1, dtype=np.int64)
    views = []
    w = d = n_tokens = 0
    for b in batches:
        ids, wl = b.column("input_ids"), b.column("window_lengths")
        lo, hi = ids.offsets[0].as_py(), ids.offsets[-1].as_py()
        views.append(ids.values.to_numpy(zero_copy_only=True)[lo:hi])
        win = wl.flatten().to_numpy(zero_copy_only=False)
        lengths[w:w + len(win)] = win
        starts[w:w + len(win)] = np.cumsum(win, dtype=np.int64) - win + n_tokens
        counts = np.diff(wl.offsets.to_numpy(zero_copy_only=False))
        np.cumsum(counts, out=offsets[d + 1:d + 1 + len(counts)])
        offsets[d + 1:d + 1 + len(counts)] += w
        w, d, n_tokens = w + len(win), d + len(counts), n_tokens + hi - lo
    del batches
    store = ArrowTokens(maps, views, release_bytes=release_bytes, owner=owner)
    store.release()  # reading the index touched the offset and length pages
    return Encoded(store, starts, lengths, offsets)


def _libc_madvise():
    """libc's ``madvise(addr, length, advice)``, or None off Linux."""
    if not sys.platform.startswith("linux") or not hasattr(mmap, "MADV_DONTNEED"):
        return None
    import ctypes

    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


class _SourcePages:
    """Hands back the pages of a memory-mapped dataset's own files once a batch is read.

    ``Dataset.map`` reads the texts through datasets' memory maps, so every
    page of text it touches would stay in this process's RSS. After each batch
    this advises ``MADV_DONTNEED`` on the pages of that batch's buffers, but
    only where ``/proc/self/maps`` shows them inside a read-only mapping of one
    of ``paths`` (the dataset's cache files): dropping such a page loses
    nothing, the next read faults it in from the file. Anything else (an
    in-memory table, a copy made by an indices mapping, another OS) is left
    alone.
    """

    def __init__(self, paths: Iterable[str]):
        self._paths = {os.path.realpath(p) for p in paths}
        self._madvise = _libc_madvise() if self._paths else None

    def _file_ranges(self) -> list[tuple[int, int]]:
        ranges = []
        with open("/proc/self/maps") as fh:
            for line in fh:
                parts = line.split(maxsplit=5)
                if (len(parts) == 6 and parts[1][:2] == "r-"
                        and parts[5].rstrip("\n") in self._paths):
                    lo, hi = parts[0].split("-")
                    ranges.append((int(lo, 16), int(hi, 16)))
        return ranges

    def release(self, column) -> None:
        """Release the file pages under ``column``'s buffers (a pyarrow (Chunked)Array)."""
        if self._madvise is None:
            return
        buffers = [buf for chunk in getattr(column, "chunks", [column])
                   for buf in chunk.buffers() if buf is not None and buf.size]
        if not buffers:
            return
        try:
            ranges = self._file_ranges()
        except OSError:
            self._madvise = None
            return
        for buf in buffers:
            for lo, hi in ranges:
                if lo <= buf.address < hi:
                    a = max(lo, buf.address // _PAGE * _PAGE)
                    b = min(hi, -(-(buf.address + buf.size) // _PAGE) * _PAGE)
                    self._madvise(a, b - a, mmap.MADV_DONTNEED)
                    break


class _WindowList(Sequence):
    """Read-only ``list of list of int`` view of an :class:`Encoded` (inspection and tests)."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, encoded: Encoded):
        self._enc = encoded

    def __len__(self) -> int:
        return self._enc.n_windows

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self._enc.window(int(i)).tolist()

    def __eq__(self, other) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == list(b) for a, b in zip(self, other))

    def __repr__(self) -> str:
        head = ", ".join(repr(self[i]) for i in range(min(3, len(self))))
        return f"<{len(self)} windows: [{head}{', ...' if len(self) > 3 else ''}]>"


@dataclasses.dataclass(eq=False)
class Encoded:
    """Token ids of a set of texts, one or more windows per text.

    Attributes
    ----------
    tokens : ndarray of shape (n_tokens,) or ArrowTokens
        Token ids, windows back to back (``uint16`` or ``int32``, see
        :func:`token_dtype`). Anything with ``take(positions)`` and ``dtype``.
        Subsets share it.
    starts : ndarray of shape (n_windows,), int64
        Where each window's ids begin in ``tokens``.
    lengths : ndarray of shape (n_windows,), int32
        Tokens of each window, special tokens included.
    doc_offsets : ndarray of shape (n_texts + 1,), int64
        Windows of text ``i`` are ``doc_offsets[i]:doc_offsets[i + 1]``.

    Examples
    --------
    >>> enc = Encoded.from_windows([[2, 7, 3], [2, 8, 9, 3], [2, 5, 3]], [0, 2, 3])
    >>> enc.n_docs, enc.n_windows, enc.doc_lengths().tolist()
    (2, 3, [7, 3])
    >>> enc.subset([1]).input_ids[0]
    [2, 5, 3]
    """

    tokens: np.ndarray | ArrowTokens
    starts: np.ndarray
    lengths: np.ndarray
    doc_offsets: np.ndarray

    @classmethod
    def from_windows(cls, windows: Sequence[Sequence[int]], doc_offsets,
                     dtype=np.int32) -> Encoded:
        """An in-memory Encoded from one id list per window (small inputs and tests)."""
        lengths = np.fromiter((len(w) for w in windows), dtype=np.int32, count=len(windows))
        tokens = np.fromiter(itertools.chain.from_iterable(windows), dtype=dtype,
                             count=int(lengths.sum()))
        starts = np.cumsum(lengths, dtype=np.int64) - lengths
        return cls(tokens, starts, lengths, np.asarray(doc_offsets, dtype=np.int64))

    @property
    def n_docs(self) -> int:
        """Number of texts."""
        return len(self.doc_offsets) - 1

    @property
    def n_windows(self) -> int:
        """Number of windows (equal to ``n_docs`` with ``long_text="truncate"``)."""
        return len(self.starts)

    @property
    def n_tokens(self) -> int:
        """Tokens over all windows, special tokens included."""
        return int(self.lengths.sum(dtype=np.int64))

    @property
    def input_ids(self) -> _WindowList:
        """The windows as a read-only sequence of ``list[int]`` (slow; for inspection)."""
        return _WindowList(self)

    def window(self, i: int) -> np.ndarray:
        """Token ids of window ``i``."""
        return self.tokens.take(np.arange(self.starts[i], self.starts[i] + self.lengths[i]))

    def doc_lengths(self) -> np.ndarray:
        """Total tokens of each text over all its windows, int64 of shape (n_texts,)."""
        csum = np.zeros(self.n_windows + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=csum[1:])
        return csum[self.doc_offsets[1:]] - csum[self.doc_offsets[:-1]]

    def subset(self, docs) -> Encoded:
        """The windows of the texts ``docs``, in that order (token ids are shared, not copied)."""
        docs = np.asarray(docs, dtype=np.int64)
        first = self.doc_offsets[docs]
        counts = self.doc_offsets[docs + 1] - first
        win = _ranges(first, counts)
        offsets = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return Encoded(self.tokens, self.starts[win], self.lengths[win], offsets)


# ---------------------------------------------------------------- tokenisation
def _check_long_text(long_text: str) -> None:
    if long_text not in ("truncate", "chunk"):
        raise ValueError(f"long_text={long_text!r} is not one of 'truncate', 'chunk'. Use "
                         "long_text='chunk' to read every window of long texts.")


def _tokenise(tokenizer, texts: list[str], *, max_length: int, long_text: str, stride: int,
              max_chunks: int | None, dtype: np.dtype):
    """One tokenizer call: (flat ids, window lengths, windows per text)."""
    if long_text == "truncate":
        enc = tokenizer(texts, truncation=True, max_length=max_length,
                        return_attention_mask=False, return_token_type_ids=False)
        counts = np.ones(len(texts), dtype=np.int64)
    else:
        enc = tokenizer(texts, truncation=True, max_length=max_length, stride=stride,
                        return_overflowing_tokens=True, return_attention_mask=False,
                        return_token_type_ids=False)
        mapping = np.asarray(enc["overflow_to_sample_mapping"], dtype=np.int64)
        counts = np.bincount(mapping, minlength=len(texts)).astype(np.int64)
    ids = enc["input_ids"]
    lengths = np.fromiter(map(len, ids), dtype=np.int32, count=len(ids))
    flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32,
                       count=int(lengths.sum()))
    del enc, ids
    if flat.size and dtype != np.int32:
        top = int(flat.max())
        if top > np.iinfo(dtype).max:
            raise ValueError(
                f"The tokenizer produced id {top}, beyond the {dtype} token store chosen from "
                f"its {len(tokenizer)} ids; its vocabulary has holes. Report this with the "
                "model name; meanwhile set skbert._data.token_dtype to return np.int32.")
        flat = flat.astype(dtype)
    if max_chunks is not None and counts.max(initial=0) > max_chunks:
        rank = np.arange(len(lengths)) - np.repeat(np.cumsum(counts) - counts, counts)
        keep = rank < max_chunks
        flat = flat[np.repeat(keep, lengths)]
        lengths = lengths[keep]
        counts = np.minimum(counts, max_chunks)
    return flat, lengths, counts


def encode(
    tokenizer,
    texts: Sequence[str],
    *,
    max_length: int,
    long_text: str = "truncate",
    stride: int = 0,
    max_chunks: int | None = None,
    chunk_size: int = TOKEN_CHUNK,
) -> Encoded:
    """Tokenise texts once, without padding, ``chunk_size`` texts at a time.

    Parameters
    ----------
    tokenizer : transformers tokenizer
        A fast (Rust-backed) tokenizer.
    texts : sequence of str
    max_length : int
        Maximum tokens per window, special tokens included.
    long_text : {"truncate", "chunk"}, default="truncate"
        ``"truncate"`` keeps the first window only; ``"chunk"`` keeps every window.
    stride : int, default=0
        Tokens shared by consecutive windows when chunking.
    max_chunks : int or None, default=None
        Keep at most this many windows per text (the first ones).
    chunk_size : int, default=TOKEN_CHUNK
        Texts per tokenizer call. Only the ids of one call exist as Python ints.

    Returns
    -------
    Encoded
        With an in-memory ``tokens`` array.

    Examples
    --------
    >>> from transformers import PreTrainedTokenizerFast
    >>> from tokenizers import Tokenizer, models, pre_tokenizers
    >>> t = Tokenizer(models.WordLevel({"[PAD]": 0, "[UNK]": 1, "a": 2, "b": 3}, "[UNK]"))
    >>> t.pre_tokenizer = pre_tokenizers.Whitespace()
    >>> tok = PreTrainedTokenizerFast(tokenizer_object=t, pad_token="[PAD]")
    >>> enc = encode(tok, ["a b a", "b"], max_length=2)
    >>> enc.input_ids[:], enc.tokens.dtype
    ([[2, 3], [3]], dtype('uint16'))
    """
    _check_long_text(long_text)
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size} must be at least 1, e.g. {TOKEN_CHUNK}.")
    dtype = token_dtype(tokenizer)
    n = len(texts)
    parts, lengths, counts = [], [], []
    for lo in range(0, n, chunk_size):
        chunk = texts[lo:lo + chunk_size]
        f, ln, c = _tokenise(tokenizer, list(chunk), max_length=max_length,
                             long_text=long_text, stride=stride, max_chunks=max_chunks,
                             dtype=dtype)
        parts.append(f)
        lengths.append(ln)
        counts.append(c)
    tokens = np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
    del parts
    lengths = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int32)
    counts = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)
    starts = np.cumsum(lengths, dtype=np.int64) - lengths
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return Encoded(tokens, starts, lengths, offsets)


def _tokenizer_fingerprint(tokenizer) -> str:
    """What decides a tokenizer's ids: its serialised pipeline, without the truncation
    and padding settings that every call of a transformers tokenizer overwrites."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        state = json.loads(backend.to_str())
        state.pop("truncation", None)
        state.pop("padding", None)
        state = json.dumps(state, sort_keys=True)
    else:  # a slow tokenizer: let datasets hash it
        from datasets.fingerprint import Hasher

        state = Hasher.hash(tokenizer)
    side = getattr(tokenizer, "truncation_side", "right")
    return f"{type(tokenizer).__name__}:{side}:{state}"


def _check_text_feature(dataset, text_column: str) -> None:
    if text_column not in dataset.column_names:
        raise ValueError(
            f"The datasets.Dataset has no column {text_column!r}; its columns are "
            f"{dataset.column_names}. Pass text_column=<the text column> or rename it "
            f"(dataset.rename_column(old, {text_column!r})).")
    feature = dataset.features[text_column]
    dtype = getattr(feature, "dtype", None)
    if dtype not in ("string", "large_string"):
        raise TypeError(
            f"Column {text_column!r} of the datasets.Dataset holds {feature}, not strings. "
            f"Convert it first, e.g. dataset.cast_column({text_column!r}, Value('string')).")
    if len(dataset) == 0:
        raise ValueError("The datasets.Dataset has no rows: pass at least one text.")


def encode_dataset(
    tokenizer,
    dataset,
    *,
    text_column: str = "text",
    max_length: int,
    long_text: str = "truncate",
    stride: int = 0,
    max_chunks: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = TOKEN_CHUNK,
    progress: bool = False,
    release_bytes: int = RELEASE_BYTES,
) -> Encoded:
    """Tokenise a ``datasets.Dataset`` into a memory-mapped Arrow file.

    ``Dataset.map(batched=True)`` writes one row per text (its windows' ids
    back to back, ``uint16`` or ``int32``, and the window lengths) into an
    Arrow cache file; the returned :class:`Encoded` reads ids from that file
    (:class:`ArrowTokens`), so neither the texts nor their ids need to fit in
    memory. Collation, subsets and batching work as with :func:`encode`, and
    give the same batches.

    Parameters
    ----------
    tokenizer : transformers tokenizer
    dataset : datasets.Dataset
        With a string column ``text_column``; it may be memory-mapped
        (``load_from_disk``, ``load_dataset``) or in memory, and may carry an
        indices mapping (``shuffle``, ``select``).
    text_column : str, default="text"
    max_length, long_text, stride, max_chunks
        As in :func:`encode`.
    cache_dir : path or None, default=None
        Folder of the token file, which later calls with the same dataset
        fingerprint, tokenizer and parameters reuse. None: next to the
        dataset's own cache files (datasets' usual place, also reused); for an
        in-memory dataset, a temporary folder deleted with the returned
        Encoded (datasets gives every in-memory dataset a random fingerprint,
        so there is nothing to reuse).
    batch_size : int, default=TOKEN_CHUNK
        Texts per tokenizer call (and rows per Arrow record batch).
    progress : bool, default=False
        Show datasets' progress bar while tokenising.
    release_bytes : int, default=RELEASE_BYTES
        See :class:`ArrowTokens`.

    Returns
    -------
    Encoded
        Whose ``tokens`` is an :class:`ArrowTokens`.

    Raises
    ------
    ValueError
        If the column is missing, the dataset is empty, or a text is None.
    TypeError
        If the column does not hold strings.
    """
    import pyarrow as pa
    from datasets import Features, Value
    from datasets.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    try:
        from datasets import List as ListFeature
    except ImportError:  # datasets < 4
        from datasets import Sequence as ListFeature

    _check_long_text(long_text)
    _check_text_feature(dataset, text_column)
    dtype = token_dtype(tokenizer)
    key = "\n".join(map(str, (_CACHE_FORMAT, dataset._fingerprint, text_column, max_length,
                              long_text, stride, max_chunks, dtype,
                              _tokenizer_fingerprint(tokenizer))))
    fingerprint = hashlib.sha256(key.encode()).hexdigest()[:40]
    owner = None
    cache_file = None
    if cache_dir is not None:
        os.makedirs(cache_dir, exist_ok=True)
        cache_file = os.path.join(os.fspath(cache_dir), f"skbert-tokens-{fingerprint}.arrow")
    elif not dataset.cache_files:
        owner = tempfile.TemporaryDirectory(prefix="skbert-tokens-",
                                            ignore_cleanup_errors=True)
        cache_file = os.path.join(owner.name, "tokens.arrow")

    source = _SourcePages(f["filename"] for f in dataset.cache_files)

    def tokenise(batch, indices):
        column = batch.column(text_column)
        if column.null_count:
            import pyarrow.compute as pc

            row = indices[pc.index(column.is_null(), True).as_py()]
            raise ValueError(
                f"Row {row} of column {text_column!r} is None, but every text must be a str. "
                "Fill or drop missing texts first, e.g. dataset.filter(lambda r: r["
                f"{text_column!r}] is not None).")
        texts = column.to_pylist()
        source.release(column)
        flat, lengths, counts = _tokenise(
            tokenizer, texts, max_length=max_length, long_text=long_text,
            stride=stride, max_chunks=max_chunks, dtype=dtype)
        del texts
        win_offsets = np.zeros(len(counts) + 1, dtype=np.int32)
        np.cumsum(counts, out=win_offsets[1:])
        tok_offsets = np.zeros(len(counts) + 1, dtype=np.int32)
        np.cumsum(np.add.reduceat(lengths, win_offsets[:-1]) if len(lengths) else counts,
                  out=tok_offsets[1:])
        return pa.table({
            "input_ids": pa.ListArray.from_arrays(pa.array(tok_offsets), pa.array(flat)),
            "window_lengths": pa.ListArray.from_arrays(pa.array(win_offsets),
                                                       pa.array(lengths)),
        })

    features = Features({"input_ids": ListFeature(Value(str(dtype))),
                         "window_lengths": ListFeature(Value("int32"))})
    bars = not are_progress_bars_disabled()
    if bars and not progress:
        disable_progress_bars()
    try:
        mapped = dataset.with_format("arrow").map(
            tokenise, batched=True, batch_size=batch_size, with_indices=True,
            remove_columns=dataset.column_names, cache_file_name=cache_file,
            writer_batch_size=batch_size, features=features, new_fingerprint=fingerprint,
            desc="skbert: tokenising")
    finally:
        if bars and not progress:
            enable_progress_bars()
    paths = [f["filename"] for f in mapped.cache_files]
    del mapped
    encoded = _read_token_files(paths, release_bytes=release_bytes, owner=owner)
    if encoded.n_docs != len(dataset):
        raise RuntimeError(
            f"The token cache {paths} holds {encoded.n_docs} texts, but the dataset has "
            f"{len(dataset)}. Delete the file(s) and call again.")
    logger.debug("token cache %s: %d texts, %d windows, %d tokens of %s", paths,
                 encoded.n_docs, encoded.n_windows, encoded.n_tokens, dtype)
    return encoded


# ------------------------------------------------------------------- collation
def pad_token_id(tokenizer) -> int:
    """The tokenizer's padding id (0 when it defines none)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def pad_multiple(device: torch.device) -> int:
    """Batch widths are rounded up to this: 8 on CUDA (see :func:`collate`), 1 elsewhere."""
    return 8 if device.type == "cuda" else 1


def length_buckets(max_length: int, multiple: int = 8) -> tuple[int, ...]:
    """Batch widths two per octave (8, 12, 16, 24, 32, 48, ...) up to ``max_length``.

    Rounded up to ``multiple``; the last is ``max_length`` itself, which no
    window exceeds. Past 16 tokens, padding adds less than a third of a
    batch's width.

    Examples
    --------
    >>> length_buckets(128)
    (8, 16, 24, 32, 48, 64, 96, 128)
    >>> length_buckets(100, multiple=1)
    (8, 12, 16, 24, 32, 48, 64, 96, 100)
    """
    if max_length < 1 or multiple < 1:
        raise ValueError(f"max_length={max_length} and multiple={multiple} must be at least 1.")
    out = set()
    p = 8
    while p < max_length:
        for w in (p, p * 3 // 2):
            w = -(-w // multiple) * multiple
            if w < max_length:
                out.add(w)
        p *= 2
    return tuple(sorted(out)) + (max_length,)


def check_buckets(buckets) -> tuple[int, ...] | None:
    """Validate batch-width buckets; returns them sorted, or None for no buckets.

    Raises
    ------
    ValueError
        If a bucket is not a positive int.
    """
    if buckets is None:
        return None
    try:
        out = tuple(sorted(int(b) for b in buckets))
        bad = [b for b, o in zip(sorted(buckets), out) if o != b or o < 1]
    except (TypeError, ValueError):
        bad = [buckets]
    if bad or not out:
        raise ValueError(
            f"buckets={buckets!r} must be a non-empty sequence of positive ints (widths in "
            f"tokens), e.g. {length_buckets(128)}; got bad value(s) {bad!r}.")
    return out


def bucket_width(width: int, buckets: Sequence[int] | None = None, multiple: int = 1) -> int:
    """The padded width of a batch whose longest window has ``width`` tokens.

    The smallest bucket that holds ``width``; without buckets, or past the
    largest, ``width`` rounded up to ``multiple``.

    Examples
    --------
    >>> bucket_width(13, (8, 16, 32)), bucket_width(40, (8, 16, 32), multiple=8)
    (16, 40)
    >>> bucket_width(13), bucket_width(13, multiple=8)
    (13, 16)
    """
    if buckets:
        fits = [b for b in buckets if b >= width]
        if fits:
            return min(fits)
    return -(-int(width) // multiple) * multiple


def collate(encoded: Encoded, docs, pad_id: int, pad_to_multiple_of: int = 1,
            buckets: Sequence[int] | None = None) -> dict[str, torch.Tensor]:
    """Pad the windows of ``docs`` to the longest one in the batch.

    The batch is built with numpy from the flat token store: one gather of the
    ids, one masked write into the padded matrix.

    Parameters
    ----------
    encoded : Encoded
    docs : array-like of int
        Text indices of the batch, in batch order.
    pad_id : int
    pad_to_multiple_of : int, default=1
        Round the width up to this (8 on GPUs: fewer distinct shapes for
        kernels planned per shape, and aligned tensor cores).
    buckets : sequence of int or None, default=None
        Pad to the smallest of these widths that holds the longest window
        instead (see :func:`bucket_width`), so that only ``len(buckets)``
        shapes occur. The attention mask hides the padding: outputs do not
        change.

    Returns
    -------
    dict
        ``input_ids`` and ``attention_mask``, int64 tensors of shape
        (n_windows, width), and ``window_doc``, the batch-local text index
        of every window, int64 of shape (n_windows,).
    """
    docs = np.asarray(docs, dtype=np.int64)
    if docs.size == 0:
        raise ValueError("collate got an empty batch; pass at least one text index.")
    first = encoded.doc_offsets[docs]
    counts = encoded.doc_offsets[docs + 1] - first
    win = _ranges(first, counts)
    lengths = encoded.lengths[win].astype(np.int64)
    width = bucket_width(int(lengths.max(initial=0)), buckets, pad_to_multiple_of)
    flat = encoded.tokens.take(_ranges(encoded.starts[win], lengths))
    mask = np.arange(width) < lengths[:, None]
    ids = np.full((len(win), width), pad_id, dtype=np.int64)
    ids[mask] = flat
    return {"input_ids": torch.from_numpy(ids),
            "attention_mask": torch.from_numpy(mask.astype(np.int64)),
            "window_doc": torch.from_numpy(np.repeat(np.arange(len(docs)), counts))}


# -------------------------------------------------------------------- prefetch
def _pin(batch):
    """``batch`` with its tensors pinned, through dicts, lists, tuples and dataclasses."""
    if isinstance(batch, torch.Tensor):
        return batch.pin_memory()
    if isinstance(batch, dict):
        return {k: _pin(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_pin(v) for v in batch)
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        return dataclasses.replace(batch, **{f.name: _pin(getattr(batch, f.name))
                                             for f in dataclasses.fields(batch) if f.init})
    return batch


_END = object()


def prefetch(items: Iterable, collate_fn: Callable, depth: int = 2, *,
             pin_memory: bool = False) -> Iterator:
    """``collate_fn(item)`` for every item, computed ``depth`` items ahead in a thread.

    Yields exactly what ``(collate_fn(item) for item in items)`` yields, in
    the same order, while the consumer works on the previous batch (numpy and
    torch release the GIL in the heavy parts). An exception raised by
    ``items`` or ``collate_fn`` is re-raised in the consumer at the point its
    batch would have come. When the consumer stops early (``break``,
    ``close()``, an exception, garbage collection), the thread is stopped and
    joined before control returns.

    Parameters
    ----------
    items : iterable
        E.g. the text-index batches of :func:`length_grouped_batches`;
        iterated in the thread.
    collate_fn : callable
        Turns one item into a batch (any object; with ``pin_memory``, tensors
        in it and in its dicts, lists, tuples and dataclasses are pinned).
    depth : int, default=2
        Batches collated ahead; memory holds at most ``depth + 1`` batches
        beyond the consumer's.
    pin_memory : bool, default=False
        Put the tensors in page-locked memory, so that
        ``.to("cuda", non_blocking=True)`` copies asynchronously. Only when
        the model runs on CUDA.

    Examples
    --------
    >>> list(prefetch(range(4), lambda i: i * i))
    [0, 1, 4, 9]
    """
    if depth < 1:
        raise ValueError(f"depth={depth} must be at least 1 (batches collated ahead), e.g. 2.")
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                batch = collate_fn(item)
                if pin_memory:
                    batch = _pin(batch)
                slots.put((True, batch))
            slots.put((True, _END))
        except BaseException as exc:  # handed to the consumer, re-raised there
            slots.put((False, exc))

    thread = threading.Thread(target=work, name="skbert-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, value = slots.get()
            if not ok:
                raise value
            if value is _END:
                return
            yield value
    finally:
        stop.set()
        while thread.is_alive():  # free a slot for a blocked put, then wait
            try:
                slots.get_nowait()
            except queue.Empty:
                pass
            thread.join(timeout=0.01)


# -------------------------------------------------------------------- batching
def length_grouped_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, group_factor: int = 50
) -> list[np.ndarray]:
    """Shuffled batches of texts of similar length, for training.

    Texts are shuffled, cut into groups of ``group_factor * batch_size``,
    sorted by length inside each group and cut into batches; the batches are
    then shuffled. Padding falls while every epoch still sees a new order.
    """
    order = rng.permutation(len(lengths))
    group = batch_size * group_factor
    batches = []
    for start in range(0, len(order), group):
        chunk = order[start:start + group]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def sorted_batches(lengths: np.ndarray, batch_size: int,
                   token_budget: int | None = None) -> Iterator[np.ndarray]:
    """Batches of texts sorted by length (longest first), for prediction.

    With ``token_budget``, a batch holds as many texts as fit in that many
    padded tokens (its first, longest text's length times the count), up to
    ``batch_size`` texts: short texts then travel in large batches, long ones
    in small. Without it, every batch holds ``batch_size`` texts.

    Examples
    --------
    >>> [b.tolist() for b in sorted_batches(np.array([3, 9, 4, 2]), 2)]
    [[1, 2], [0, 3]]
    >>> [b.tolist() for b in sorted_batches(np.array([3, 9, 4, 2]), 4, token_budget=12)]
    [[1], [2, 0, 3]]
    """
    order = np.argsort(-lengths, kind="stable")
    if token_budget is None:
        for i in range(0, len(order), batch_size):
            yield order[i:i + batch_size]
        return
    i = 0
    while i < len(order):
        longest = max(int(lengths[order[i]]), 1)
        n = max(1, min(batch_size, token_budget // longest))
        yield order[i:i + n]
        i += n

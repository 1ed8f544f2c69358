"""The token store: every window's ids of a set of texts in one flat integer array.

:class:`Encoded` holds the ids back to back (special tokens included), where
each window starts, its length and which windows belong to which text. The ids
live in a numpy array (:func:`skbert._data.encode`) or in Arrow IPC files read
through memory maps (:class:`ArrowTokens`, made by
:func:`skbert._data.encode_dataset`). A token costs 2 bytes (4 when the
vocabulary has more than 65,536 ids) instead of a Python int's 36.

This module knows nothing of tokenizers' calls or batches: tokenisation is in
:mod:`skbert._data`, batching and collation in :mod:`skbert._batches`.
"""

from __future__ import annotations

import dataclasses
import itertools
import mmap
import threading
import weakref
from collections.abc import Sequence

import numpy as np

#: Bytes of a memory-mapped token file touched before its pages are handed back.
RELEASE_BYTES = 32 * 2**20


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
        the files, so that they are deleted with it. An owner with a
        ``cleanup()`` method has it called when the store is collected (an
        explicit cleanup, so no ``ResourceWarning`` of an implicit one).
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
        if callable(getattr(owner, "cleanup", None)):
            weakref.finalize(self, owner.cleanup)
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
    def input_ids(self) -> list[list[int]]:
        """Every window's ids as a new ``list[int]`` (slow and large; for inspection)."""
        return [self.window(i).tolist() for i in range(self.n_windows)]

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

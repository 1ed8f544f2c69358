"""Tokenisation: texts into the token store (:mod:`skbert._tokens`).

Texts are tokenised once, a few thousand at a time, into one flat integer
array: every window's token ids back to back, special tokens included
(:class:`~skbert._tokens.Encoded`). A text becomes one window
(``long_text="truncate"``) or several overlapping windows
(``long_text="chunk"``). No list of Python ints for the corpus exists at any
time.

Before a text reaches the tokenizer it is cut to a character budget
proportional to the tokens kept (:func:`char_budget`): a tokenizer's cost grows
with the text it reads (a tokenizer.json pre-tokenizer regex can even be
quadratic), and skbert never reads more than ``max_length`` tokens of a text
with ``"truncate"``, or ``max_chunks`` windows with ``"chunk"``.

A ``datasets.Dataset`` is tokenised with ``Dataset.map`` into an Arrow file and
read back through a memory map (:func:`encode_dataset`), so a corpus larger
than memory trains; only the per-window index (12 bytes a window) and the
per-text offsets (8 bytes a text) live in RAM.

Batching and collation are in :mod:`skbert._batches`; the names are also
importable from here.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import mmap
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence

import numpy as np

from ._batches import (  # noqa: F401  (re-exported: the loop and the estimator import them here)
    collate,
    length_buckets,
    length_grouped_batches,
    pad_multiple,
    pad_token_id,
    prefetch,
    sorted_batches,
)
from ._safe_io import make_folders
from ._tokens import (  # noqa: F401  (ArrowTokens re-exported)
    RELEASE_BYTES,
    ArrowTokens,
    Encoded,
    _read_token_files,
    token_dtype,
)

logger = logging.getLogger(__name__)

#: Texts per tokenizer call: big enough for the Rust tokenizer's threads, small
#: enough that the Python lists it returns stay a few MiB.
TOKEN_CHUNK = 4096
#: Bumped whenever the layout of the Arrow token cache changes.
_CACHE_FORMAT = "skbert-tokens-1"
_PAGE = mmap.PAGESIZE


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



# ---------------------------------------------------------------- tokenisation
def _check_long_text(long_text: str) -> None:
    if long_text not in ("truncate", "chunk"):
        raise ValueError(f"long_text={long_text!r} is not one of 'truncate', 'chunk'. Use "
                         "long_text='chunk' to read every window of long texts.")


#: Characters of a text read per token kept (see :func:`char_budget`). Measured
#: with the bundled all-MiniLM-L6-v2 tokenizer (``bench/quality/long_text.py --budget``):
#: Reuters stories and GoEmotions comments run 4.0 to 4.3 characters a token;
#: no Reuters prefix of 8 tokens or more ran past 9.75, and the worst GoEmotions
#: one, 50, was 8 tokens ending in a 100-digit number (one ``[UNK]``), far
#: inside :data:`MIN_CHARS`. A text's kept tokens would have to average 32
#: characters to be cut.
CHARS_PER_TOKEN = 32
#: No text is cut shorter than this many characters, whatever ``max_length``.
MIN_CHARS = 2048


def char_budget(max_length: int, long_text: str = "truncate",
                max_chunks: int | None = None, stride: int = 0) -> int | None:
    """The characters of a text read before it is tokenised, or None for all of them.

    skbert keeps at most ``max_length`` tokens of a text with
    ``long_text="truncate"``, and at most ``max_chunks`` windows of
    ``max_length`` tokens (overlapping by ``stride``, so fewer tokens in all)
    with ``"chunk"``: ``max_length`` tokens and ``max_length - stride`` more for each
    window after the first. A tokenizer reads the whole text it is given, and its
    cost grows with the text: a ``tokenizer.json`` pre-tokenizer regex can even
    take quadratic time. So every text is cut to :data:`CHARS_PER_TOKEN`
    characters per token kept (at least :data:`MIN_CHARS`) first. Real text
    runs about 4 to 5 characters a token, so the kept tokens are the same as
    without the cut; only a text whose kept tokens span more than the budget
    (e.g. a run of thousands of spaces, or one "word" of thousands of
    characters, which WordPiece makes one ``[UNK]``) can lose tokens that it
    would otherwise keep.

    ``"chunk"`` with ``max_chunks=None`` reads every window, so every
    character: the text is not cut (None), and the tokenizer's cost grows with
    the text like the model's forward passes over its windows do. Set
    ``max_chunks`` to bound both. A tokenizer that truncates on the left keeps
    a text's end (its first window is the text's last tokens, and the
    windows go back from there): the text's last characters are kept
    instead (:func:`cut_texts` with ``side="left"``); the budget is the same.

    Examples
    --------
    >>> char_budget(128), char_budget(128, "chunk", max_chunks=4), char_budget(16)
    (4096, 16384, 2048)
    >>> char_budget(128, "chunk", max_chunks=4, stride=96)  # windows 32 tokens apart
    7168
    >>> char_budget(128, "chunk") is None
    True
    """
    if long_text == "chunk" and max_chunks is None:
        return None
    tokens = int(max_length)
    if long_text == "chunk":  # each later window starts max_length - stride tokens on
        tokens += (int(max_chunks) - 1) * max(int(max_length) - int(stride), 1)
    return max(CHARS_PER_TOKEN * tokens, MIN_CHARS)


def cut_texts(texts: list[str], budget: int | None, side: str = "right") -> list[str]:
    """``texts`` with each cut to ``budget`` characters (its end kept when ``side="left"``).

    Texts within the budget are passed through as they are (no copy).
    """
    if budget is None or all(len(t) <= budget for t in texts):
        return texts
    if side == "left":
        return [t if len(t) <= budget else t[-budget:] for t in texts]
    return [t if len(t) <= budget else t[:budget] for t in texts]


def call_tokenizer(tokenizer, texts: list[str], **kwargs):
    """``tokenizer(texts, **kwargs)``, with a panic of the Rust library as a ValueError.

    A regex of a ``tokenizer.json`` step that backtracks too far makes the
    library panic (``pyo3_runtime.PanicException``, a BaseException that no
    ``except Exception`` catches).
    """
    try:
        return tokenizer(texts, **kwargs)
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":
            raise
        raise ValueError(
            f"The tokenizer failed inside its Rust library on a batch of {len(texts)} texts "
            f"({str(exc)[:200]}): a step of its tokenizer.json (a regex of a Split or Replace "
            "step) cannot read them. Use the tokenizer saved with the model, or one from a "
            "source you trust.") from None


def _tokenise(tokenizer, texts: list[str], *, max_length: int, long_text: str, stride: int,
              max_chunks: int | None, dtype: np.dtype):
    """One tokenizer call: (flat ids, window lengths, windows per text).

    Each text is first cut to :func:`char_budget` characters.
    """
    side = getattr(tokenizer, "truncation_side", "right")
    texts = cut_texts(texts, char_budget(max_length, long_text, max_chunks, stride), side)
    if long_text == "truncate":
        enc = call_tokenizer(tokenizer, texts, truncation=True, max_length=max_length,
                             return_attention_mask=False, return_token_type_ids=False)
        counts = np.ones(len(texts), dtype=np.int64)
    else:
        enc = call_tokenizer(tokenizer, texts, truncation=True, max_length=max_length,
                             stride=stride, return_overflowing_tokens=True,
                             return_attention_mask=False, return_token_type_ids=False)
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
        make_folders(cache_dir)  # the file itself is written by datasets' own writer
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

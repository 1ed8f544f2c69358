"""Batches of texts and their collation into padded tensors.

Batches are padded to their own longest window (dynamic padding), never to
``max_length``, optionally rounded up to a few fixed widths
(:func:`bucket_width`) so that shapes repeat. Training batches group texts of
similar length (:func:`length_grouped_batches`); prediction batches go longest
first (:func:`sorted_batches`). :func:`prefetch` collates the next batches in a
background thread while the model runs.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from ._tokens import Encoded, _ranges


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

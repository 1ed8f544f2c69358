"""Tokenisation, batching and collation.

Texts are tokenised once into unpadded token-id lists. A text becomes one
window (``long_text="truncate"``) or several overlapping windows
(``long_text="chunk"``); :class:`Encoded` keeps the mapping from windows back
to texts. Batches are padded to their own longest window (dynamic padding),
never to ``max_length``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

logger = logging.getLogger(__name__)


@dataclass
class Encoded:
    """Token ids of a set of texts, one or more windows per text.

    Attributes
    ----------
    input_ids : list of list of int
        One unpadded id list per window, special tokens included.
    doc_offsets : ndarray of shape (n_texts + 1,)
        Windows of text ``i`` are ``input_ids[doc_offsets[i]:doc_offsets[i + 1]]``.
    """

    input_ids: list[list[int]]
    doc_offsets: np.ndarray

    @property
    def n_docs(self) -> int:
        return len(self.doc_offsets) - 1

    def doc_lengths(self) -> np.ndarray:
        """Total tokens of each text over all its windows."""
        win = np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64,
                          count=len(self.input_ids))
        return np.add.reduceat(win, self.doc_offsets[:-1]) if len(win) else win

    def subset(self, docs: np.ndarray) -> Encoded:
        """The windows of the texts ``docs``, in that order."""
        ids: list[list[int]] = []
        offsets = [0]
        for d in docs:
            ids.extend(self.input_ids[self.doc_offsets[d]:self.doc_offsets[d + 1]])
            offsets.append(len(ids))
        return Encoded(ids, np.asarray(offsets, dtype=np.int64))


def encode(
    tokenizer,
    texts: Sequence[str],
    *,
    max_length: int,
    long_text: str = "truncate",
    stride: int = 0,
    max_chunks: int | None = None,
) -> Encoded:
    """Tokenise texts once, without padding.

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

    Returns
    -------
    Encoded
    """
    texts = list(texts)
    if long_text == "truncate":
        enc = tokenizer(texts, truncation=True, max_length=max_length,
                        return_attention_mask=False, return_token_type_ids=False)
        return Encoded(enc["input_ids"], np.arange(len(texts) + 1, dtype=np.int64))
    enc = tokenizer(texts, truncation=True, max_length=max_length, stride=stride,
                    return_overflowing_tokens=True, return_attention_mask=False,
                    return_token_type_ids=False)
    mapping = np.asarray(enc["overflow_to_sample_mapping"], dtype=np.int64)
    counts = np.bincount(mapping, minlength=len(texts))
    ids = enc["input_ids"]
    if max_chunks is not None and counts.max(initial=0) > max_chunks:
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        keep = np.concatenate([np.arange(s, s + min(c, max_chunks))
                               for s, c in zip(starts, counts)])
        ids = [ids[i] for i in keep]
        counts = np.minimum(counts, max_chunks)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return Encoded(ids, offsets)


def pad_token_id(tokenizer) -> int:
    """The tokenizer's padding id (0 when it defines none)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def pad_multiple(device: torch.device) -> int:
    """Batch widths are rounded up to this: 8 on CUDA (see :func:`collate`), 1 elsewhere."""
    return 8 if device.type == "cuda" else 1


def collate(encoded: Encoded, docs: np.ndarray, pad_id: int,
            pad_to_multiple_of: int = 1) -> dict[str, torch.Tensor]:
    """Pad the windows of ``docs`` to the longest one in the batch.

    ``pad_to_multiple_of`` rounds that width up (8 on GPUs: fewer distinct
    shapes for kernels that are planned per shape, and aligned tensor cores).

    Returns a dict with ``input_ids`` and ``attention_mask`` (long tensors of
    shape (n_windows, batch_max_len)) and ``window_doc`` (the batch-local text
    index of every window, shape (n_windows,)).
    """
    rows: list[list[int]] = []
    owner: list[int] = []
    for j, d in enumerate(docs):
        lo, hi = encoded.doc_offsets[d], encoded.doc_offsets[d + 1]
        rows.extend(encoded.input_ids[lo:hi])
        owner.extend([j] * (hi - lo))
    width = max(len(r) for r in rows)
    width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r)
        ids[i, :n] = torch.as_tensor(r, dtype=torch.long)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask,
            "window_doc": torch.as_tensor(owner, dtype=torch.long)}


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


def sorted_batches(lengths: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Batches of texts sorted by length (longest first), for prediction."""
    order = np.argsort(-lengths, kind="stable")
    for i in range(0, len(order), batch_size):
        yield order[i:i + batch_size]

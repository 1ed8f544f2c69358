"""Why this label: per-word, per-label attributions of a fitted estimator.

:func:`explain` is the engine behind ``TransformerMultiLabelClassifier.explain``.
Two methods:

``"integrated_gradients"``
    Integrated gradients (Sundararajan et al., 2017) on the input word
    embeddings, from a baseline text of padding tokens (the special tokens kept),
    with Gauss-Legendre quadrature over ``n_steps`` points. One forward pass
    covers every step of several windows at once; one backward pass per label
    slot gives that label's gradients for all of them. The attributions of a
    label add up to ``logit(text) - logit(baseline)`` up to the quadrature
    error, which is reported as ``completeness_gap`` (never hidden).
``"occlusion"``
    Word deletion, model-agnostic: a word's attribution is
    ``logit(text) - logit(text without that word)``, computed with the
    estimator's own ``decision_function`` (so chunking, pooling and any backend
    are the ones of prediction).

Sub-word pieces are merged back into the words of the text, with character
offsets from the fast tokenizer's offset mapping. With ``long_text="chunk"``
every window is explained and mapped back to the whole text through those
offsets: with ``chunk_pooling="mean"`` a word's attribution is the mean over
windows (a word in two overlapping windows collects both), with ``"max"`` it
comes from the window whose logit is the text's logit for that label.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import numpy as np
import torch

from ._thresholds import plain_label

__all__ = ["Explanation", "Explanations", "explain", "word_totals", "METHODS"]

METHODS = ("integrated_gradients", "occlusion")

#: Explanation records carry this format tag (JSON Lines output, HTML data).
FORMAT = "skbert-explain-1"

#: Padded tokens per forward/backward pass of integrated gradients (bounds memory:
#: about 200 kB of activations per token for MiniLM-L6 in fp32).
IG_TOKEN_BUDGET = 8192

#: The integrated-gradients engine: "auto" (Captum when installed), "captum" or "skbert".
ENGINE = "auto"

#: Texts passed to ``decision_function`` at once by occlusion.
OCCLUSION_CHUNK = 1024


# ------------------------------------------------------------------ results
@dataclass
class Explanation:
    """Why a text got its labels: one attribution per word for each label asked.

    Attributes
    ----------
    text : str
        The text explained.
    words : list of str
        Its words as the model saw them (sub-word pieces merged), in order.
        With ``long_text="truncate"`` words past the first window are absent.
    offsets : ndarray of shape (n_words, 2), int
        Character ``[start, end)`` of each word in ``text``:
        ``text[start:end] == words[i]``.
    labels : list
        The labels explained (names from ``classes_``): in the order
        ``explain(labels=[...])`` named them, most probable first with
        ``top_k``, else in ``classes_`` order.
    label_index : ndarray of shape (n_labels_asked,), int
        Their columns in ``classes_``.
    attributions : ndarray of shape (n_labels_asked, n_words), float
        Contribution of each word to each label's logit; positive pushes the
        label on.
    probabilities : ndarray of shape (n_labels_asked,), float
        ``predict_proba`` of the labels asked.
    threshold : ndarray of shape (n_labels_asked,), float
        The decision threshold in force for each label.
    predicted : ndarray of shape (n_labels_asked,), bool
        Whether ``predict`` gives the label: ``probabilities >= threshold``,
        or among the most probable that ``min_labels`` adds.
    method : str
        ``"integrated_gradients"`` or ``"occlusion"``.
    logit : ndarray of shape (n_labels_asked,), float
        The logit that was explained, computed in float32 (integrated
        gradients) or by ``decision_function`` (occlusion).
    baseline_logit : ndarray of shape (n_labels_asked,) or None
        Integrated gradients: the logit of the baseline (all words replaced by
        padding).
    completeness_gap : ndarray of shape (n_labels_asked,) or None
        Integrated gradients: ``|sum(attributions) - (logit - baseline_logit)|``
        relative to ``|logit - baseline_logit|`` (0.05 is 5 %). ``None`` for
        occlusion, which has no such identity. Where the label's logit barely
        moves from the baseline the ratio is large while the difference is
        not: see ``completeness_delta``.
    completeness_delta : ndarray of shape (n_labels_asked,) or None
        The same difference in logits, not relative.
    seen_chars : int
        Characters of ``text`` the model read (the end of the last word seen).
    windows : list of tuple of int
        Character spans of the windows read (one with ``long_text="truncate"``).
    all_probabilities : ndarray of shape (n_classes,)
        ``predict_proba`` of every label.
    """

    text: str
    words: list
    offsets: np.ndarray
    labels: list
    label_index: np.ndarray
    attributions: np.ndarray
    probabilities: np.ndarray
    threshold: np.ndarray
    predicted: np.ndarray
    method: str
    logit: np.ndarray
    baseline_logit: np.ndarray | None = None
    completeness_gap: np.ndarray | None = None
    completeness_delta: np.ndarray | None = None
    seen_chars: int = 0
    windows: list = field(default_factory=list)
    all_probabilities: np.ndarray | None = None

    def _row(self, label) -> int:
        for i, name in enumerate(self.labels):
            if name == label or str(name) == str(label):
                return i
        raise KeyError(
            f"label {label!r} was not explained for this text; explained: "
            f"{[str(x) for x in self.labels]}. If it is a label of the model, pass "
            f"labels=[{label!r}] (or labels='all') to explain().")

    def top_words(self, label, k: int = 5, *, positive_only: bool = True) -> list:
        """The ``k`` words with the largest attribution to ``label``.

        Parameters
        ----------
        label : label name
            One of ``labels``.
        k : int, default=5
        positive_only : bool, default=True
            Only words that push the label on; otherwise ranked by absolute value.

        Returns
        -------
        list of (str, float)
            ``(word, attribution)``, strongest first.
        """
        a = self.attributions[self._row(label)]
        order = np.argsort(-(a if positive_only else np.abs(a)), kind="stable")
        out = [(self.words[i], float(a[i])) for i in order[:k]]
        return [w for w in out if w[1] > 0] if positive_only else out

    def to_dict(self) -> dict:
        """A JSON-ready dict (one line of ``skbert explain --json``)."""
        def num(v):
            return None if v is None else [float(x) for x in np.asarray(v).ravel()]

        return {
            "format": FORMAT,
            "text": self.text,
            "method": self.method,
            "words": list(self.words),
            "offsets": [[int(s), int(e)] for s, e in self.offsets],
            "seen_chars": int(self.seen_chars),
            "windows": [[int(s), int(e)] for s, e in self.windows],
            "labels": [
                {"label": plain_label(name),
                 "probability": float(self.probabilities[i]),
                 "threshold": float(self.threshold[i]),
                 "predicted": bool(self.predicted[i]),
                 "logit": float(self.logit[i]),
                 "baseline_logit": (None if self.baseline_logit is None
                                    else float(self.baseline_logit[i])),
                 "completeness_gap": (None if self.completeness_gap is None
                                      else float(self.completeness_gap[i])),
                 "completeness_delta": (None if self.completeness_delta is None
                                        else float(self.completeness_delta[i])),
                 "attributions": [round(float(x), 6) for x in self.attributions[i]]}
                for i, name in enumerate(self.labels)],
        }

    def _repr_html_(self) -> str:
        from ._explain_html import explanation_html

        return explanation_html(self)


class Explanations(list):
    """A list of :class:`Explanation`, one per text, that renders and saves itself.

    A slice, ``+`` and ``*`` give an :class:`Explanations` again, so
    ``ex[:10].to_html(...)`` works; ``Explanations(some_list)`` wraps any list.
    """

    def __getitem__(self, index):
        got = super().__getitem__(index)
        return Explanations(got) if isinstance(index, slice) else got

    def __add__(self, other):
        return Explanations(list(self) + list(other))

    def __radd__(self, other):
        return Explanations(list(other) + list(self))

    def __mul__(self, n):
        return Explanations(list(self) * n)

    __rmul__ = __mul__

    def copy(self):
        return Explanations(self)

    def _repr_html_(self) -> str:
        from ._explain_html import explanations_html

        return explanations_html(self)

    def to_html(self, path, *, overwrite: bool = False) -> str:
        """Write one standalone page (no network: inline CSS and script) for all texts.

        Parameters
        ----------
        path : str or path-like
            The ``.html`` file. An existing file that skbert did not write is
            kept unless ``overwrite=True``.
        overwrite : bool, default=False

        Returns
        -------
        str
            The path written.
        """
        from ._explain_html import page_html
        from ._safe_io import write_text

        replace = _check_overwrite(path, overwrite, _HTML_MARK, "page")
        return write_text(path, page_html(self), replace=replace)

    def to_jsonl(self, path, *, overwrite: bool = False) -> str:
        """Write one JSON object per text (see :meth:`Explanation.to_dict`).

        Parameters
        ----------
        path : str or path-like
            The ``.jsonl`` file, or ``"-"`` for standard output (as
            ``skbert explain --json -``); a file named ``-`` is ``"./-"``. An
            existing file that skbert did not write is kept unless
            ``overwrite=True``.
        overwrite : bool, default=False

        Returns
        -------
        str
            The path written (``"-"`` for standard output).
        """
        import sys

        from ._safe_io import write_text
        from ._validation import json_line

        lines = [json_line(e.to_dict()) for e in self]  # controls escaped
        text = "".join(line + "\n" for line in lines)
        if isinstance(path, str) and path == "-":
            sys.stdout.write(text)
            sys.stdout.flush()
            return path
        replace = _check_overwrite(path, overwrite, f'"format": "{FORMAT}"', "JSON Lines file")
        return write_text(path, text, replace=replace)

    def completeness_gaps(self) -> np.ndarray:
        """Every (text, label) completeness gap of integrated gradients, flat."""
        gaps = [e.completeness_gap for e in self if e.completeness_gap is not None]
        return np.concatenate(gaps) if gaps else np.zeros(0)


_HTML_MARK = '<meta name="generator" content="skbert explain">'


def _check_overwrite(path, overwrite: bool, mark: str, what: str) -> bool:
    """Refuse to replace a file skbert did not write (it may be the user's).

    Its first 4 KiB are read through :mod:`skbert._safe_io` (a regular file only,
    opened without following a link or blocking on a FIFO); a link, a folder or
    anything else is not skbert's file. Returns whether the write may replace
    what is at ``path``: False when nothing is there, so that a file someone
    creates meanwhile is kept (``TargetExists``), not replaced.
    """
    import os

    from ._safe_io import DamagedFile, open_regular, read_upto

    path = os.fspath(path)
    if overwrite:
        return True
    if not os.path.lexists(path):
        return False
    try:
        fd, _ = open_regular(path)
    except FileNotFoundError:  # removed meanwhile: nothing to keep
        return False
    except DamagedFile:
        head = b""
    else:
        try:
            head = read_upto(fd, 4096)
        finally:
            os.close(fd)
    if mark.encode() not in head:
        raise ForeignOutput(path, what)
    return True


class ForeignOutput(FileExistsError):
    """An explain output path holding a file that is not the output skbert explain wrote."""

    def __init__(self, path, what: str):
        self.path, self.what = path, what
        self.reason = (f"is not a {what} that skbert explain wrote (a file of the user's, or "
                       "the other kind of explain output)")
        super().__init__(f"{path!r} exists and {self.reason}; choose another path, or pass "
                         "overwrite=True (--overwrite on the command line) to replace it.")




# ---------------------------------------------------------------- words
def _is_cjk(ch: str) -> bool:
    return ord(ch) >= 0x2E80 and ch.isalpha()


def _is_punct(s: str) -> bool:
    return bool(s) and all(unicodedata.category(c)[0] in "PS" for c in s)


def _merge_words(text: str, spans: list[tuple[int, int]]) -> tuple[list[tuple[int, int]], list]:
    """Merge the tokenizer's pre-tokenised words into the words of the text.

    Pre-tokenizers split ``don't`` into ``don ' t``; contiguous pieces are
    joined back, except punctuation at either end of a run (``pizza!`` stays
    ``pizza`` and ``!``) and CJK characters (one word each).

    Returns the merged spans and, for each input span, its merged word index.
    """
    merged: list[list[int]] = []
    owner = []
    runs: list[list[int]] = []
    for i, (s, e) in enumerate(spans):
        if runs and spans[runs[-1][-1]][1] == s and not (
                _is_cjk(text[s:s + 1]) or _is_cjk(text[s - 1:s])):
            runs[-1].append(i)
        else:
            runs.append([i])
    owner = [0] * len(spans)
    for run in runs:
        lo, hi = 0, len(run)
        while lo < hi and _is_punct(text[slice(*spans[run[lo]])]):
            lo += 1
        while hi > lo and _is_punct(text[slice(*spans[run[hi - 1]])]):
            hi -= 1
        groups = [[j] for j in run[:lo]] + ([run[lo:hi]] if hi > lo else []) + \
            [[j] for j in run[hi:]]
        for g in groups:
            for j in g:
                owner[j] = len(merged)
            merged.append([spans[g[0]][0], spans[g[-1]][1]])
    return [tuple(m) for m in merged], owner


@dataclass
class _Window:
    doc: int
    ids: np.ndarray            # token ids, special tokens included
    word: np.ndarray           # merged word index of each token, -1 for special tokens


@dataclass
class _Doc:
    text: str
    spans: list                # merged word spans
    windows: list              # indices into the window list
    window_chars: list


def _tokenise(estimator, texts: list[str]) -> tuple[list[_Doc], list[_Window]]:
    """Tokenise as prediction does (same truncation, stride, max_chunks), with offsets."""
    tok = estimator.tokenizer_
    if not getattr(tok, "is_fast", False):
        raise ValueError("explain needs a fast (Rust) tokenizer for character offsets; this "
                         "model's tokenizer is not one.")
    from ._data import call_tokenizer, char_budget, cut_texts

    long_text = getattr(estimator, "long_text", "truncate")
    chunk = long_text == "chunk"
    max_chunks = getattr(estimator, "max_chunks", None) if chunk else None
    kwargs = dict(truncation=True, max_length=estimator.max_length, return_offsets_mapping=True,
                  return_attention_mask=False, return_token_type_ids=False)
    if chunk:
        kwargs.update(stride=estimator.stride, return_overflowing_tokens=True)
    # the characters prediction reads (issue 20 item 7): a huge text costs its budget only
    side = getattr(tok, "truncation_side", "right")
    cut = cut_texts(list(texts), char_budget(estimator.max_length, long_text, max_chunks,
                                             estimator.stride if chunk else 0), side)
    # a left cut keeps a text's end: its offsets move by the characters cut off
    shift = [len(t) - len(c) if side == "left" else 0 for t, c in zip(texts, cut)]
    enc = call_tokenizer(tok, cut, **kwargs)
    n_win = len(enc["input_ids"])
    mapping = (np.asarray(enc["overflow_to_sample_mapping"]) if chunk
               else np.arange(n_win))
    docs = [_Doc(t, [], [], []) for t in texts]
    raw: list[tuple[int, list, list, list]] = []
    per_doc_spans: list[dict] = [dict() for _ in texts]
    for w in range(n_win):
        d = int(mapping[w])
        if max_chunks is not None and len(docs[d].windows) >= max_chunks:
            continue
        word_ids = enc.word_ids(w)
        offs = enc["offset_mapping"][w]
        if shift[d]:
            offs = [(s + shift[d], e + shift[d]) for s, e in offs]
        spans = per_doc_spans[d]
        for wid, (s, e) in zip(word_ids, offs):
            if wid is None or e <= s:
                continue
            lo, hi = spans.get(wid, (s, e))
            spans[wid] = (min(lo, s), max(hi, e))
        docs[d].windows.append(len(raw))
        chars = [(s, e) for wid, (s, e) in zip(word_ids, offs) if wid is not None and e > s]
        docs[d].window_chars.append((chars[0][0], chars[-1][1]) if chars else (0, 0))
        raw.append((d, enc["input_ids"][w], word_ids, offs))
    owners = []
    for d, doc in enumerate(docs):
        wids = sorted(per_doc_spans[d])
        spans = [per_doc_spans[d][k] for k in wids]
        merged, owner = _merge_words(doc.text, spans)
        doc.spans = merged
        owners.append(dict(zip(wids, owner)))
    windows = []
    for d, ids, word_ids, offs in raw:
        word = np.array([owners[d][wid] if wid is not None and e > s else -1
                         for wid, (s, e) in zip(word_ids, offs)], dtype=np.int64)
        windows.append(_Window(d, np.asarray(ids, dtype=np.int64), word))
    return docs, windows


# ----------------------------------------------------------- label choice
def _resolve_labels(estimator, proba: np.ndarray, labels, top_k,
                    chosen: np.ndarray) -> list[np.ndarray]:
    """The columns to explain for each text (``chosen``: what ``predict`` gives)."""
    classes = list(estimator.classes_)
    n = len(proba)
    if labels is not None and top_k is not None:
        raise ValueError("Pass labels or top_k, not both: labels names the labels to explain, "
                         "top_k explains each text's k most probable labels.")
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ValueError(f"top_k={top_k!r} must be a positive int (e.g. top_k=3) or None.")
        k = min(int(top_k), len(classes))
        return [np.argsort(-p, kind="stable")[:k] for p in proba]  # most probable first
    if labels is None:
        out = []
        for p, row in zip(proba, chosen):
            cols = np.flatnonzero(row)
            out.append(cols if cols.size else np.array([int(np.argmax(p))]))
        return out
    if isinstance(labels, str) and labels == "all" and "all" not in [str(c) for c in classes]:
        return [np.arange(len(classes))] * n
    if isinstance(labels, (str, int, np.integer)) or not hasattr(labels, "__iter__"):
        labels = [labels]
    cols = []
    for lab in labels:
        hit = [i for i, c in enumerate(classes) if c == lab or str(c) == str(lab)]
        if not hit:
            shown = ", ".join(repr(plain_label(c)) for c in classes[:10])
            more = ", ..." if len(classes) > 10 else ""
            raise ValueError(f"labels holds {lab!r}, which is not a label of this model; its "
                             f"labels (classes_) are [{shown}{more}].")
        cols.append(hit[0])
    if not cols:
        raise ValueError("labels is empty; pass None (the predicted labels), 'all', or names "
                         "from classes_.")
    return [np.array(list(dict.fromkeys(cols)))] * n  # in the order asked, once each


def _thresholds(estimator) -> np.ndarray:
    thr = estimator._effective_threshold()
    return np.broadcast_to(np.asarray(thr, dtype=float), (len(estimator.classes_),)).copy()


# ------------------------------------------------------------------ engine
def explain(estimator, X, labels=None, *, method="integrated_gradients", n_steps=32,
            top_k=None) -> Explanations:
    """Explain which words drove each label of each text.

    Parameters
    ----------
    estimator : TransformerMultiLabelClassifier
        A fitted estimator.
    X : list of str
        The texts.
    labels : None, label name, list of label names, or "all", default=None
        The labels to explain. None explains each text's predicted labels
        (in ``classes_`` order), plus its most probable label when none is
        predicted; a list keeps its order.
    method : {"integrated_gradients", "occlusion"}, default="integrated_gradients"
    n_steps : int, default=32
        Integration points of integrated gradients (Gauss-Legendre).
    top_k : int or None, default=None
        Explain each text's ``top_k`` most probable labels instead, most
        probable first (not with ``labels``).

    Returns
    -------
    Explanations
        One :class:`Explanation` per text.
    """
    from sklearn.utils.validation import check_is_fitted

    from ._validation import check_texts

    check_is_fitted(estimator)
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not one of {', '.join(map(repr, METHODS))}.")
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"n_steps={n_steps!r} must be a positive int, e.g. 32.")
    texts = list(check_texts(X))
    proba = estimator.predict_proba(texts)
    thr = _thresholds(estimator)
    chosen = estimator._labels_from_proba(proba, dtype=bool)  # predict's rule (min_labels too)
    cols = _resolve_labels(estimator, proba, labels, top_k, chosen)
    docs, windows = _tokenise(estimator, texts)
    if method == "integrated_gradients":
        parts = _integrated_gradients(estimator, docs, windows, cols, int(n_steps))
    else:
        parts = _occlusion(estimator, docs, cols)
    out = Explanations()
    for d, doc in enumerate(docs):
        c = cols[d]
        attr, logit, base, delta = parts[d]
        gap = None if delta is None else delta / np.maximum(np.abs(logit - base), 1e-6)
        offsets = np.asarray(doc.spans, dtype=np.int64).reshape(-1, 2)
        out.append(Explanation(
            text=doc.text, words=[doc.text[s:e] for s, e in doc.spans], offsets=offsets,
            labels=[plain_label(estimator.classes_[i]) for i in c], label_index=c,
            attributions=attr, probabilities=proba[d, c], threshold=thr[c],
            predicted=chosen[d, c], method=method, logit=logit,
            baseline_logit=base, completeness_gap=gap, completeness_delta=delta,
            seen_chars=int(offsets[-1, 1]) if len(offsets) else 0,
            windows=list(doc.window_chars), all_probabilities=proba[d]))
    return out


def _torch_model(estimator):
    model = estimator.model_
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "backbone"):
        raise ValueError(
            "method='integrated_gradients' needs the torch model (gradients); this estimator "
            "predicts with another backend (e.g. ONNX). Use method='occlusion', or load the "
            "folder with backend='torch'.")
    return model


def ig_engine() -> str:
    """``"captum"`` when Captum is installed (``pip install "skbert[explain]"``), else ``"skbert"``.

    Both compute the same integrated gradients (Gauss-Legendre points, the
    same baseline); bench/explain/explain_speed.py measured their attributions within
    1e-6 of each other, Captum as fast for one label and skbert's batched path
    1.4x faster for all 28 GoEmotions labels at once (short of the 2x that
    would have justified keeping it alone), so Captum is preferred when present.
    """
    if ENGINE != "auto":
        return ENGINE
    try:
        import captum.attr  # noqa: F401
    except ImportError:
        return "skbert"
    return "captum"


def _integrated_gradients(estimator, docs, windows, cols, n_steps):
    """Per document: (attributions, logit, baseline logit, completeness delta)."""
    from ._data import pad_token_id

    engine = ig_engine()

    model = _torch_model(estimator)
    device = next(model.parameters()).device
    emb_layer = model.backbone.get_input_embeddings()
    pad = pad_token_id(estimator.tokenizer_)
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    alphas = torch.tensor(np.concatenate([(nodes + 1) / 2, [0.0, 1.0]]), dtype=torch.float32,
                          device=device)
    w_steps = torch.tensor(weights / 2, dtype=torch.float32, device=device)
    rows_per = n_steps + 2  # the quadrature points, then the baseline and the text
    # per window: token attributions (n_labels_of_doc, T), logit and baseline logit per label
    win_attr: list = [None] * len(windows)
    win_logit: list = [None] * len(windows)
    win_base: list = [None] * len(windows)
    order = sorted(range(len(windows)), key=lambda w: -len(windows[w].ids))
    state: dict = {}

    def hook(module, inputs, output):
        return state["embeds"] if "embeds" in state else output

    handle = emb_layer.register_forward_hook(hook)
    was_training = model.training
    model.eval()
    try:
        start = 0
        while start < len(order):
            width = len(windows[order[start]].ids)
            per_batch = max(1, IG_TOKEN_BUDGET // (rows_per * width))
            batch = order[start:start + per_batch]
            start += len(batch)
            if engine == "captum":
                with torch.enable_grad():
                    _captum_batch(model, emb_layer, windows, batch, cols, n_steps, pad, device,
                                  win_attr, win_logit, win_base)
                continue
            _ig_batch(model, emb_layer, windows, batch, cols, alphas, w_steps, rows_per, pad,
                      device, state, win_attr, win_logit, win_base)
    finally:
        handle.remove()
        state.clear()
        model.train(was_training)
    return [_pool_doc(estimator, doc, cols[d], windows, win_attr, win_logit, win_base)
            for d, doc in enumerate(docs)]


def _padded(windows, batch, pad, device):
    """Token ids, attention mask and baseline ids (words -> padding) of some windows."""
    width = max(len(windows[w].ids) for w in batch)
    n = len(batch)
    ids = torch.full((n, width), pad, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    base = torch.full((n, width), pad, dtype=torch.long)
    for i, w in enumerate(batch):
        win = windows[w]
        t = len(win.ids)
        ids[i, :t] = torch.from_numpy(win.ids)
        mask[i, :t] = 1
        special = torch.from_numpy(win.word < 0)
        base[i, :t] = torch.where(special, torch.from_numpy(win.ids), torch.tensor(pad))
    return ids.to(device), mask.to(device), base.to(device)


def _captum_batch(model, emb_layer, windows, batch, cols, n_steps, pad, device,
                  win_attr, win_logit, win_base):
    """The same quantities through Captum's LayerIntegratedGradients (Gauss-Legendre).

    One row per (window, label) pair; Captum runs their steps ``IG_TOKEN_BUDGET``
    tokens at a time.
    """
    from captum.attr import LayerIntegratedGradients

    ids, mask, base = _padded(windows, batch, pad, device)
    n, width = ids.shape
    labs = [cols[windows[w].doc] for w in batch]
    rows = np.repeat(np.arange(n), [len(c) for c in labs])
    target = [int(c) for lab in labs for c in lab]
    rows_t = torch.from_numpy(rows).to(device)

    def forward(input_ids, attention_mask):
        with torch.autocast(device_type=device.type, enabled=False):
            return model(input_ids=input_ids, attention_mask=attention_mask).float()

    lig = LayerIntegratedGradients(forward, emb_layer)
    attr = lig.attribute(ids[rows_t], baselines=base[rows_t],
                         additional_forward_args=(mask[rows_t],), target=target,
                         n_steps=n_steps, method="gausslegendre",
                         internal_batch_size=max(n_steps, IG_TOKEN_BUDGET // width))
    tok = attr.detach().float().sum(-1).cpu().numpy().astype(np.float64)   # (pairs, T)
    with torch.no_grad():
        ends = forward(torch.cat([ids, base]), torch.cat([mask, mask])).cpu().numpy()
    k = 0
    for i, w in enumerate(batch):
        t = len(windows[w].ids)
        c = labs[i]
        win_attr[w] = tok[k:k + len(c), :t]
        k += len(c)
        win_logit[w] = ends[i, c].astype(np.float64)
        win_base[w] = ends[n + i, c].astype(np.float64)


def _ig_batch(model, emb_layer, windows, batch, cols, alphas, w_steps, rows_per, pad, device,
              state, win_attr, win_logit, win_base):
    ids, mask, base = _padded(windows, batch, pad, device)
    n, width = ids.shape
    with torch.no_grad(), torch.autocast(device_type=device.type, enabled=False):
        x = emb_layer(ids).float()
        x0 = emb_layer(base).float()
    diff = x - x0                                              # (n, T, H)
    a = alphas.view(1, -1, 1, 1)
    embeds = (x0.unsqueeze(1) + a * diff.unsqueeze(1)).reshape(n * rows_per, width, -1)
    embeds = embeds.to(emb_layer.weight.dtype).requires_grad_(True)
    rep_ids = ids.repeat_interleave(rows_per, 0)
    rep_mask = mask.repeat_interleave(rows_per, 0)
    state["embeds"] = embeds
    with torch.enable_grad(), torch.autocast(device_type=device.type, enabled=False):
        logits = model(input_ids=rep_ids, attention_mask=rep_mask).float()
    state.pop("embeds", None)
    logits3 = logits.detach().view(n, rows_per, -1)
    labs = [cols[windows[w].doc] for w in batch]
    n_slots = max(len(c) for c in labs)
    n_steps = rows_per - 2
    token_attr = [np.zeros((len(c), width), dtype=np.float64) for c in labs]
    for j in range(n_slots):
        grad_out = torch.zeros_like(logits)
        view = grad_out.view(n, rows_per, -1)
        for i, c in enumerate(labs):
            if j < len(c):
                view[i, :n_steps, int(c[j])] = w_steps
        (g,) = torch.autograd.grad(logits, embeds, grad_outputs=grad_out,
                                   retain_graph=j < n_slots - 1)
        avg = g.float().view(n, rows_per, width, -1)[:, :n_steps].sum(1)   # weighted already
        tok = (avg * diff).sum(-1).cpu().numpy()                          # (n, T)
        for i, c in enumerate(labs):
            if j < len(c):
                token_attr[i][j] = tok[i]
    for i, w in enumerate(batch):
        t = len(windows[w].ids)
        c = labs[i]
        win_attr[w] = token_attr[i][:, :t]
        win_logit[w] = logits3[i, n_steps + 1, c].cpu().numpy().astype(np.float64)
        win_base[w] = logits3[i, n_steps, c].cpu().numpy().astype(np.float64)


def _pool_doc(estimator, doc, c, windows, win_attr, win_logit, win_base):
    """Map window attributions back to the words of the text, as the windows are pooled."""
    n_words = len(doc.spans)
    n_lab = len(c)
    ws = doc.windows
    per_win = []
    for w in ws:
        word = windows[w].word
        a = np.zeros((n_lab, n_words))
        keep = word >= 0
        for row in range(n_lab):
            np.add.at(a[row], word[keep], win_attr[w][row][keep])
        per_win.append(a)
    if not ws:  # an empty text: nothing to attribute
        z = np.zeros(n_lab)
        return np.zeros((n_lab, 0)), z, z, z
    logits = np.stack([win_logit[w] for w in ws])              # (n_windows, n_lab)
    bases = np.stack([win_base[w] for w in ws])
    stack = np.stack(per_win)                                   # (n_windows, n_lab, n_words)
    if len(ws) == 1 or getattr(estimator, "chunk_pooling", "max") == "max":
        pick = np.argmax(logits, axis=0)                        # per label
        attr = stack[pick, np.arange(n_lab)]
        logit = logits[pick, np.arange(n_lab)]
        base = bases[pick, np.arange(n_lab)]
    else:
        attr, logit, base = stack.mean(0), logits.mean(0), bases.mean(0)
    return attr, logit, base, np.abs(attr.sum(1) - (logit - base))


def _occlusion(estimator, docs, cols):
    """Per document: word-deletion attributions from ``decision_function``."""
    variants, owner = [], []
    for d, doc in enumerate(docs):
        variants.append(doc.text)
        owner.append((d, -1))
        for k, (s, e) in enumerate(doc.spans):
            variants.append(doc.text[:s] + doc.text[e:])
            owner.append((d, k))
    logits = np.concatenate([
        estimator.decision_function(variants[i:i + OCCLUSION_CHUNK])
        for i in range(0, len(variants), OCCLUSION_CHUNK)]).astype(np.float64)
    out = []
    pos = 0
    for d, doc in enumerate(docs):
        c = cols[d]
        full = logits[pos, c]
        k = len(doc.spans)
        dropped = logits[pos + 1:pos + 1 + k][:, c]            # (n_words, n_lab)
        out.append(((full[None, :] - dropped).T.copy(), full, None, None))
        pos += 1 + k
    return out



def word_totals(explanations, label, *, aggregate: str = "sum", lowercase: bool = True,
                min_count: int = 1) -> list[tuple[str, float, int]]:
    """Each word's attribution to ``label`` over many texts, strongest first.

    Parameters
    ----------
    explanations : iterable of Explanation
        Texts where ``label`` was not explained are skipped.
    label : label name
    aggregate : {"sum", "mean"}, default="sum"
        Add a word's attributions over its occurrences (frequent, strong words
        first), or average them.
    lowercase : bool, default=True
        Count ``Anger`` and ``anger`` as one word.
    min_count : int, default=1
        Leave out words seen fewer times.

    Returns
    -------
    list of (word, value, count)
        Sorted by value, largest first.
    """
    if aggregate not in ("sum", "mean"):
        raise ValueError(f"aggregate={aggregate!r} is not one of 'sum', 'mean'.")
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    seen = False
    for e in explanations:
        try:
            row = e._row(label)
        except KeyError:
            continue
        seen = True
        for word, value in zip(e.words, e.attributions[row]):
            key = word.lower() if lowercase else word
            totals[key] = totals.get(key, 0.0) + float(value)
            counts[key] = counts.get(key, 0) + 1
    if not seen:
        raise ValueError(f"label {label!r} was explained for none of these texts; explain them "
                         f"with labels=[{label!r}].")
    out = [(w, totals[w] / (counts[w] if aggregate == "mean" else 1), counts[w])
           for w in totals if counts[w] >= min_count]
    return sorted(out, key=lambda t: (-t[1], t[0]))

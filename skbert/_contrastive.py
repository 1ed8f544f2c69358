"""A contrastive warm-up of the encoder, for training sets of a few texts per label.

With few labelled texts, three epochs of binary cross-entropy teach a sentence
encoder little: 448 texts are 80 optimiser steps. SetFit's answer is to train
the encoder on pairs first (texts that share a label pulled together, the
others pushed apart), which compares every text with many others. This module
does that inside ``fit``, more cheaply: each step draws a label-balanced batch
(:data:`LABELS_PER_BATCH` labels, :data:`TEXTS_PER_LABEL` texts carrying each)
and applies SetFit's cosine-similarity loss to *every* pair of the batch, so a
batch of 32 texts gives 496 pairs where SetFit's gives 16.

With ``contrastive_label_texts`` (the default), each batch also holds the
texts of the labels it carries (their ``label_descriptions``, else their names
made readable), each as one more member carrying its label alone: the loss
then pulls every text toward the names of its labels as well as toward the
texts that share them, which the few-shot benchmark measured as better
ranking with 8 texts per label.

Only the encoder is trained here (mean-pooled text vectors), its word-embedding
matrix left as it is; the head then starts from the warmed vectors
(``head_init``) and the usual loop follows. On a CPU each batch goes forward in
groups of texts of similar length, so that short texts are not padded to the
longest of the batch.

API
---
``resolve_steps(steps, pooling, n_train, peft=False)`` -> int
    ``contrastive_steps`` as a number of steps (``"auto"``: :data:`AUTO_STEPS`
    for mean pooling, at most :data:`AUTO_MAX_TEXTS` training texts and no
    ``peft_config``, else 0).
``skip_reason(steps, pooling, n_train, peft=False, kept_head=False, Y=None)`` -> str or None
    Why a fit runs no warm-up (for ``verbose``).
``pair_labels(Y, named=None)`` -> ndarray of label indices
    The labels a batch can draw: on at least two texts, or on one when the
    label's text (``named``) joins the batch as its pair.
``balanced_batch(Y, rng, named=None)`` -> ndarray of text indices
``pair_loss(vectors, Y)`` -> tensor
``warm_up(model, encoded, Y, config, pad_id, steps, seed, labels=None)`` -> dict
    Train ``model``'s encoder in place; returns the steps, seconds, losses and
    the labels whose texts (``labels``) took part.
``warn_short(info, stacklevel=2)``
    The warning that ``warm_up`` ran fewer steps than a number asked for.
``summary(info)`` -> str
    ``warm_up``'s result in words.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from ._thresholds import FEW_TEXTS
from ._utils import fit_warning

logger = logging.getLogger("skbert")

#: Steps that ``contrastive_steps="auto"`` runs on a small training set.
AUTO_STEPS = 100
#: Largest training set (texts) on which ``"auto"`` warms the encoder up.
AUTO_MAX_TEXTS = FEW_TEXTS
#: Labels drawn per batch, and texts drawn for each: 32 texts a step.
LABELS_PER_BATCH = 8
TEXTS_PER_LABEL = 4
#: AdamW learning rate of the warm-up (SetFit's default body rate), constant.
LEARNING_RATE = 2e-5
#: On a CPU a batch runs as forwards of this many texts of similar length, so
#: short texts are not padded to the longest of the 32 (same vectors, less work).
CPU_FORWARD_TEXTS = 8
#: Keep the word-embedding matrix (half of MiniLM's weights) out of the warm-up.
FREEZE_WORD_EMBEDDINGS = True
#: At most this many label texts join a step (``contrastive_label_texts``): those of the
#: labels most of the batch's texts carry, so a step's cost stays bounded with many labels
#: (at most as many as its texts; a GoEmotions batch carries 17 to 19 labels on average).
MAX_LABEL_TEXTS = LABELS_PER_BATCH * TEXTS_PER_LABEL


def resolve_steps(steps, pooling: str, n_train: int, peft: bool = False) -> int:
    """The number of warm-up steps that ``contrastive_steps`` asks for.

    ``peft``: the fit trains adapters (``peft_config``) and keeps the encoder's
    own weights frozen, which the warm-up would change.

    Examples
    --------
    >>> resolve_steps("auto", "mean", 448) > 0   # AUTO_STEPS, 100
    True
    >>> resolve_steps("auto", "mean", 10_000)
    0
    >>> resolve_steps("auto", "cls", 448)
    0
    >>> resolve_steps(0, "mean", 448)
    0
    >>> resolve_steps("auto", "mean", 448, peft=True)
    0
    """
    if steps == "auto":  # the rule lives once, in skip_reason
        return 0 if skip_reason(steps, pooling, n_train, peft=peft) else AUTO_STEPS
    if steps and peft:
        raise ValueError(
            f"contrastive_steps={steps!r} trains the encoder's own weights, which peft_config "
            "keeps frozen (only the adapters train). Pass contrastive_steps=0 or 'auto' (which "
            "skips the warm-up with peft_config), or peft_config=None.")
    if steps and pooling != "mean":
        raise ValueError(
            f"contrastive_steps={steps!r} trains mean-pooled text vectors, but this fit uses "
            f"pooling={pooling!r}. Pass pooling='mean', or contrastive_steps=0 (or 'auto', "
            "which warms up only mean-pooling encoders).")
    return int(steps)


def skip_reason(steps, pooling: str, n_train: int, peft: bool = False,
                kept_head: bool = False, Y: np.ndarray | None = None,
                named=None) -> str | None:
    """Why ``contrastive_steps`` runs no warm-up on this fit, or None when it runs one.

    ``Y``: the training labels, when known; ``"auto"`` runs none when no label
    is on two of them, or on one with a label text (``named``: the labels whose
    text joins the batches) (a number of steps asked for warms up, see
    :func:`warm_up`).

    Examples
    --------
    >>> skip_reason("auto", "mean", 5000)
    '5000 texts trained on, more than 1000'
    >>> skip_reason("auto", "mean", 448) is None
    True
    >>> skip_reason("auto", "mean", 4, Y=np.eye(4))
    'no label is on two training texts'
    >>> skip_reason("auto", "mean", 4, Y=np.eye(4), named=[0, 2]) is None   # text + name
    True
    """
    if steps == 0:
        return "contrastive_steps=0"
    if steps != "auto":
        return None
    if pooling != "mean":
        return f"pooling={pooling!r}; it needs mean pooling"
    if peft:
        return "peft_config keeps the encoder frozen"
    if n_train > AUTO_MAX_TEXTS:
        return f"{n_train} texts trained on, more than {AUTO_MAX_TEXTS}"
    if kept_head:
        return "the saved head keeps the encoder it was trained with"
    if Y is not None and pair_labels(Y, named).size < 2:
        return _too_few_labels(pair_labels(Y, named).size, named is not None and len(named))
    return None


def _too_few_labels(n_usable: int, with_texts: bool) -> str:
    """Why no warm-up step can run: fewer than two labels a batch can draw.

    Examples
    --------
    >>> _too_few_labels(0, False)
    'no label is on two training texts'
    >>> _too_few_labels(1, True)  # doctest: +NORMALIZE_WHITESPACE
    'only one label is on two training texts, or on one with a label text,
     and a step needs two labels to tell apart'
    """
    which = "two training texts" + (", or on one with a label text" if with_texts else "")
    if n_usable == 0:
        return f"no label is on {which}"
    return f"only one label is on {which}, and a step needs two labels to tell apart"


def pair_labels(Y: np.ndarray, named=None) -> np.ndarray:
    """Indices of the labels a batch can draw: carried by at least two texts of ``Y``, or
    by one when the label is in ``named`` (its text joins the batch and pairs with it).

    Examples
    --------
    >>> Y = np.array([[1, 0, 1], [1, 0, 0], [0, 1, 0]])
    >>> pair_labels(Y).tolist(), pair_labels(Y, named=[1]).tolist()
    ([0], [0, 1])
    """
    counts = (Y > 0).sum(axis=0)
    usable = counts >= 2
    if named is not None and len(named):
        named = np.asarray(named, dtype=np.int64)
        usable[named] |= counts[named] >= 1
    return np.flatnonzero(usable)


def balanced_batch(Y: np.ndarray, rng: np.random.Generator,
                   n_labels: int = LABELS_PER_BATCH,
                   per_label: int = TEXTS_PER_LABEL, named=None) -> np.ndarray:
    """Text indices of one batch: ``n_labels`` labels at random, ``per_label`` texts of each.

    Only the labels of :func:`pair_labels` are drawn (a label with one text
    gives no pair unless its text, ``named``, joins the batch); a text is
    taken once even when it carries several of the drawn labels. Empty when
    fewer than two labels can be drawn (the loss would only pull together).
    """
    usable = pair_labels(Y, named)
    if usable.size < 2:  # one label alone: nothing to push apart
        return np.zeros(0, dtype=np.int64)
    labels = rng.choice(usable, min(n_labels, usable.size), replace=False)
    picked: list[int] = []
    for j in labels:
        candidates = np.setdiff1d(np.flatnonzero(Y[:, j] > 0), picked)
        take = min(per_label, candidates.size)
        picked.extend(rng.choice(candidates, take, replace=False).tolist())
    return np.asarray(picked, dtype=np.int64)


def pair_loss(vectors: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """SetFit's cosine-similarity loss over every pair of the batch.

    ``(cos - 1) ** 2`` for two texts that share a label, ``cos ** 2`` for two
    that share none; the two kinds weigh the same whatever their counts.

    Parameters
    ----------
    vectors : tensor of shape (n, d)
    Y : tensor of shape (n, n_labels)

    Examples
    --------
    >>> v = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> Y = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> float(pair_loss(v, Y))
    0.0
    """
    unit = torch.nn.functional.normalize(vectors.float(), dim=1)
    cos = unit @ unit.T
    share = (Y.float() @ Y.float().T) > 0
    off = ~torch.eye(len(unit), dtype=torch.bool, device=unit.device)
    terms = []
    pos, neg = share & off, ~share & off
    if pos.any():
        terms.append((cos[pos] - 1).pow(2).mean())
    if neg.any():
        terms.append(cos[neg].pow(2).mean())
    if not terms:
        return cos.sum() * 0.0
    return sum(terms) / len(terms)


def _text_vectors(model, batch, device) -> torch.Tensor:
    """Mean-pooled vectors of a collated batch, one per text (windows averaged)."""
    from ._modeling import mean_pool

    ids = batch["input_ids"].to(device)
    mask = batch["attention_mask"].to(device)
    hidden = model.backbone(input_ids=ids, attention_mask=mask)[0]
    windows = mean_pool(hidden.float(), mask)
    doc = batch["window_doc"].to(device)
    n_docs = int(doc.max()) + 1
    sums = torch.zeros(n_docs, windows.shape[1], device=device).index_add_(0, doc, windows)
    counts = torch.bincount(doc, minlength=n_docs).clamp(min=1).unsqueeze(1)
    return sums / counts


def _forward_groups(encoded, docs: np.ndarray, device) -> list[np.ndarray]:
    """``docs`` in groups run as one forward each: by length, in groups of
    :data:`CPU_FORWARD_TEXTS` on a CPU (padding costs compute there), else one group."""
    if torch.device(device).type != "cpu" or docs.size <= CPU_FORWARD_TEXTS:
        return [docs]
    lengths = encoded.subset(docs).doc_lengths()
    ordered = docs[np.argsort(lengths, kind="stable")]
    return [ordered[i:i + CPU_FORWARD_TEXTS]
            for i in range(0, ordered.size, CPU_FORWARD_TEXTS)]


def _steps(model, encoded, Y, Yt, config, pad_id, steps, rng, optimizer, params,
           losses, labels=None, used=None) -> None:
    from ._batches import collate
    from ._training import autocast

    named = None if labels is None else labels[1]
    for _ in range(steps):
        docs = balanced_batch(Y, rng, named=named)
        if docs.size == 0:  # fewer than two labels to draw
            break
        groups = _forward_groups(encoded, docs, config.device)
        order = np.concatenate(groups)
        targets = Yt[order]
        label_groups: list[np.ndarray] = []
        if labels is not None:  # the texts of the labels this batch carries, one member each
            label_enc, label_idx = labels
            label_groups = _forward_groups(label_enc, label_rows(Y[order], label_idx),
                                           config.device)
            rows = np.concatenate(label_groups)
            own = Yt.new_zeros(rows.size, Yt.shape[1])  # a label text carries its label only
            own[np.arange(rows.size), label_idx[rows]] = 1.0
            targets = torch.cat([targets, own])  # in the order the groups go forward
            used[label_idx[rows]] = True
        with autocast(config.device, config.precision):
            vectors = [_text_vectors(model, collate(encoded, g, pad_id), config.device)
                       for g in groups]
            vectors += [_text_vectors(model, collate(label_enc, g, pad_id), config.device)
                        for g in label_groups if g.size]
        loss = pair_loss(torch.cat(vectors), targets.to(config.device))
        optimizer_step(loss, optimizer, params, config, losses)


def label_rows(Y_batch: np.ndarray, label_idx: np.ndarray,
               limit: int | None = None) -> np.ndarray:
    """Rows of ``label_idx`` (the labels that have a text) whose label a text of the batch
    carries: at most ``limit`` (:data:`MAX_LABEL_TEXTS`), those carried by the most texts
    first (ties: the lower label index), in ``label_idx`` order.

    Examples
    --------
    >>> Y_batch = np.array([[1, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]])
    >>> label_rows(Y_batch, np.array([0, 2, 3])).tolist()   # label 3: on no text
    [0, 1]
    >>> label_rows(Y_batch, np.array([0, 1, 2]), limit=2).tolist()   # label 0 on two texts
    [0, 1]
    """
    limit = MAX_LABEL_TEXTS if limit is None else limit
    counts = (np.asarray(Y_batch) > 0).sum(axis=0)[label_idx]
    carried = np.flatnonzero(counts > 0)
    if carried.size > limit:
        carried = np.sort(carried[np.argsort(-counts[carried], kind="stable")[:limit]])
    return carried


def optimizer_step(loss, optimizer, params, config, losses: list) -> None:
    """One warm-up update from ``loss`` (gradients clipped to ``config.max_grad_norm``);
    the loss is appended to ``losses``."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if np.isfinite(config.max_grad_norm):
        torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
    optimizer.step()
    losses.append(float(loss.detach()))


def _frozen_word_embeddings(model) -> list[torch.nn.Parameter]:
    """The word-embedding weights the warm-up leaves out (:data:`FREEZE_WORD_EMBEDDINGS`)."""
    if not FREEZE_WORD_EMBEDDINGS:
        return []
    get = getattr(model.backbone, "get_input_embeddings", None)
    emb = get() if get is not None else None
    weight = getattr(emb, "weight", None)
    return [weight] if isinstance(weight, torch.nn.Parameter) and weight.requires_grad else []


def warm_up(model, encoded, Y: np.ndarray, config, pad_id: int, steps: int,
            seed: int, labels=None) -> dict:
    """Train the encoder of ``model`` (mean pooling) with :func:`pair_loss` for ``steps``.

    Parameters
    ----------
    model : MultiLabelModel
        Its ``backbone`` is trained in place; the head is not touched.
    encoded : Encoded
        The training texts.
    Y : ndarray of shape (n_texts, n_labels)
    config : TrainConfig
        Device, precision and gradient clipping; runs on this process alone
        (every rank of a process group computes the same steps from ``seed``).
    pad_id : int
    steps : int
    seed : int
    labels : tuple of (Encoded, ndarray of int) or None, default=None
        The label texts (names or descriptions) and the label index of each:
        every step adds to its batch the texts of the labels its texts carry,
        one member per label carrying that label alone, so the loss pulls
        each text toward its labels' texts too and pushes it from the
        others'. Labels without a text take no part.

    Returns
    -------
    dict
        ``asked`` (``steps``), ``steps`` run (fewer when fewer than two labels
        can be drawn: see :func:`pair_labels`; the caller warns with
        :func:`warn_short`),
        ``seconds``, the mean loss of the first and
        last tenth of the steps (``first_loss``, ``last_loss``), and
        ``label_texts``: a boolean array, the labels whose text took part
        (all False without ``labels``). The caller may add ``weighted`` (``fit`` was
        given ``sample_weight``), which :func:`summary` and :func:`warn_short` read.
    """
    rng = np.random.default_rng(seed)
    frozen = _frozen_word_embeddings(model)
    for p in frozen:
        p.requires_grad_(False)
    params = [p for p in model.backbone.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=LEARNING_RATE, weight_decay=config.weight_decay)
    Yt = torch.as_tensor(Y, dtype=torch.float32)
    losses: list[float] = []
    used = np.zeros(Y.shape[1], dtype=bool)
    if labels is not None:
        labels = (labels[0], np.asarray(labels[1], dtype=np.int64))
    start = time.perf_counter()
    was_training = model.training
    model.train()
    dev = torch.device(config.device)
    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):  # dropout: seeded, the caller's RNG kept
        torch.manual_seed(seed)
        try:
            _steps(model, encoded, Y, Yt, config, pad_id, steps, rng, optimizer, params, losses,
                   labels, used)
        finally:
            model.train(was_training)
            optimizer.zero_grad(set_to_none=True)
            for p in frozen:
                p.requires_grad_(True)
    tenth = max(1, len(losses) // 10)
    info = {"asked": steps, "steps": len(losses), "seconds": time.perf_counter() - start,
            "first_loss": float(np.mean(losses[:tenth])) if losses else float("nan"),
            "last_loss": float(np.mean(losses[-tenth:])) if losses else float("nan"),
            "label_texts": used}
    logger.info("contrastive warm-up: %s", summary(info))
    return info


def warn_short(info: dict, stacklevel: int = 2) -> None:
    """Warn when :func:`warm_up` ran fewer steps than asked (only a number of steps asked
    for: ``"auto"`` runs none then); ``sample_weight`` is named only when ``fit`` was given
    one (``info["weighted"]``)."""
    if info["steps"] >= info["asked"]:
        return
    weight = " (with non-zero sample_weight)" if info.get("weighted") else ""
    fit_warning(
        f"The contrastive warm-up ran {info['steps']} of contrastive_steps={info['asked']} "
        f"steps: a step needs two labels, each carried by at least two training texts{weight} "
        "or by one whose name or description joins the batch (contrastive_label_texts=True), "
        "and this training set has fewer. Label more texts per label, or pass "
        "contrastive_steps=0.", stacklevel=stacklevel + 1)


def summary(info: dict) -> str:
    """What :func:`warm_up` did, in words (``verbose`` and the log).

    Examples
    --------
    >>> summary({"asked": 5, "steps": 0, "seconds": 0.0, "first_loss": float("nan"),
    ...          "last_loss": float("nan")})
    '0 of 5 steps run (fewer than two labels can be drawn from the training texts)'
    >>> summary({"asked": 5, "steps": 0, "seconds": 0.0, "first_loss": float("nan"),
    ...          "last_loss": float("nan"), "weighted": True})
    '0 of 5 steps run (fewer than two labels can be drawn from the texts of non-zero sample_weight)'
    >>> summary({"asked": 5, "steps": 5, "seconds": 1.25, "first_loss": 0.5, "last_loss": 0.25})
    '5 steps in 1.2 s, pair loss 0.500 -> 0.250'
    >>> summary({"asked": 5, "steps": 5, "seconds": 1.25, "first_loss": 0.5, "last_loss": 0.25,
    ...          "label_texts": np.array([True, True, False])})
    '5 steps in 1.2 s, pair loss 0.500 -> 0.250, with the texts of 2 of 3 labels'
    """
    if not info["steps"]:
        drawn = ("texts of non-zero sample_weight" if info.get("weighted")
                 else "training texts")  # sample_weight only when fit was given one
        return (f"0 of {info['asked']} steps run (fewer than two labels can be drawn from the "
                f"{drawn})")
    steps = f"{info['steps']} step{'s' if info['steps'] != 1 else ''}"
    used = info.get("label_texts")
    texts = (f", with the texts of {int(used.sum())} of {used.size} labels"
             if used is not None and used.any() else "")
    return (f"{steps} in {info['seconds']:.1f} s, pair loss "
            f"{info['first_loss']:.3f} -> {info['last_loss']:.3f}{texts}")

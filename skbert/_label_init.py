"""Heads that start from what the labels mean.

A new head starts random in most fine-tuning code, so the first steps are
spent learning what each label is. With an encoder that already places
similar texts near each other, each label's row of the head can start from
the encoder's own vector of

* the label's name or description (``label_descriptions``, or the class name
  made readable: ``"disappointment"``, ``"bank account"``), and
* the centroid of the training texts that carry the label,

so that a text starts near the labels it resembles, and each label's bias
starts at its prior (the log-odds of its training frequency). The head is
then a nearest-centroid classifier on centred, normalised vectors, which the
fine-tuning refines.

Pure torch and numpy; the runner computes the vectors with the model itself
(:func:`output_features`).
"""

from __future__ import annotations

import contextlib
import re
import warnings
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
import torch

from ._safe_io import is_int
from ._thresholds import plain_label

#: Most characters of one label description.
MAX_DESCRIPTION_CHARS = 1000
#: Most training texts read (a seeded sample) to compute the centroids.
MAX_CENTROID_TEXTS = 4096
#: Cosine similarity is multiplied by this to give a logit (before the bias).
SCALE = 5.0
#: Weight of the name's direction against the centroid's, both unit vectors.
NAME_WEIGHT = 0.5
#: ``head_init="logistic"``: scikit-learn's ``C`` (inverse L2 strength) of each
#: label's logistic regression, on centred text vectors divided by their mean
#: length (so it does not depend on the encoder's scale). On warmed MiniLM
#: vectors of GoEmotions (mean centred length 4.2 to 4.5), 0.5 is about the C
#: of 0.03 on the raw vectors, which beat 0.003 to 1 with 8 and 16 texts per label
#: (one seed; 0.25 and 1 here ranked lower on the same vectors).
LOGISTIC_C = 0.5
HEAD_INITS = ("labels", "names", "centroids", "logistic", "random")


def readable(name) -> str | None:
    """A class name as words, or None when it carries no words (``3``, ``"L07"``).

    Examples
    --------
    >>> readable("disappointment")
    'disappointment'
    >>> readable("bank_account")
    'bank account'
    >>> readable("moneyFx")
    'money fx'
    >>> readable(3) is None
    True
    """
    if not isinstance(name, str):
        return None
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
    text = re.sub(r"[_\-./:]+", " ", text).strip().lower()
    letters = sum(ch.isalpha() for ch in text)
    return text if letters >= 2 and letters >= len(text.replace(" ", "")) / 2 else None


class DescriptionProblem(NamedTuple):
    """The first bad entry of a ``label_descriptions`` dict (:func:`description_problem`).

    ``kind`` is ``"key"`` (not one of the labels), ``"same"`` (two keys name one
    label), ``"text"`` (not a non-empty string) or ``"long"`` (over
    :data:`MAX_DESCRIPTION_CHARS` characters); ``key`` and ``text`` are the entry's;
    ``names`` are the labels as text. ``message`` and ``fix`` say it in Python's words;
    the command line words it in JSON's.
    """

    kind: str
    key: object
    text: object
    names: list
    message: str
    fix: str


def description_problem(descriptions, classes) -> DescriptionProblem | None:
    """The first bad entry of the dict ``descriptions`` against ``classes``, or None: the one
    place that says what a label description must be."""
    names = {str(plain_label(c)): c for c in classes}
    taken: dict[str, object] = {}

    def problem(kind, key, text, message, fix):
        return DescriptionProblem(kind, key, text, list(names), message, fix)

    for key, text in descriptions.items():
        plain = plain_label(key)
        label = (str(plain) if isinstance(plain, (str, int)) and not isinstance(plain, bool)
                 else None)
        if label not in names:
            labels = [plain_label(c) for c in names.values()]
            shown = f"{labels[:8]}{' ...' if len(labels) > 8 else ''}"
            fix = "Use the label names (classes_) as keys."
            if all(is_int(c) for c in labels) and not is_int(plain):
                fix = ("The labels are integers (a Y given as an array has the column "
                       "numbers 0 .. n-1): key the descriptions by those, or pass Y as a "
                       "DataFrame named by the labels (e.g. pd.DataFrame(Y, "
                       "columns=mlb.classes_)).")
            return problem("key", key, text,
                           f"label_descriptions has the key {key!r:.80}, which is not one of "
                           f"the labels ({shown}).", fix)
        if label in taken:
            return problem("same", key, text,
                           f"label_descriptions has the keys {taken[label]!r} and {key!r}, "
                           f"which name the same label {label!r}.",
                           "Give each label one description.")
        taken[label] = key
        if not isinstance(text, str) or not text.strip():
            return problem("text", key, text,
                           f"label_descriptions[{key!r}] is {text!r:.60}; each description "
                           "must be a non-empty string,",
                           "e.g. 'acquisitions and mergers of companies'.")
        if len(text.strip()) > MAX_DESCRIPTION_CHARS:  # what is read: the text stripped
            return problem("long", key, text,
                           f"label_descriptions[{key!r}] has {len(text.strip())} characters;",
                           f"keep each description to at most {MAX_DESCRIPTION_CHARS} (a "
                           "sentence or two is enough).")
    return None


def check_label_descriptions(descriptions, classes) -> dict:
    """Validate ``label_descriptions`` against the fitted labels.

    Every key must name one label of ``classes`` (a numpy integer or string
    names it as the Python value it holds; ``"3"`` names the label ``3``, as
    a JSON file writes it), no two keys the same label, and every value must
    be a non-empty string of at most :data:`MAX_DESCRIPTION_CHARS` characters.

    Returns
    -------
    dict
        ``str(label)`` -> description text, stripped.

    Raises
    ------
    ValueError
        Naming the key or value that is wrong and what to pass instead.

    Examples
    --------
    >>> check_label_descriptions({np.int64(0): " ball games "}, np.array([0, 1]))
    {'0': 'ball games'}
    """
    if descriptions is None:
        return {}
    problem = description_problem(descriptions, classes)
    if problem is not None:
        raise ValueError(f"{problem.message} {problem.fix}")
    return normalised_descriptions(descriptions)


def normalised_descriptions(descriptions) -> dict:
    """``label_descriptions`` as every fit reads them: ``str(label)`` -> text stripped
    (``3``, ``np.int64(3)`` and ``"3"`` name one label). A value that is not text is kept
    as its ``repr`` (only :func:`check_label_descriptions`' callers rely on text; a
    signature of an unchecked dict needs a comparable value).

    Examples
    --------
    >>> normalised_descriptions({np.int64(0): " ball games ", "1": "food"})
    {'0': 'ball games', '1': 'food'}
    """
    return {str(plain_label(key)): text.strip() if isinstance(text, str) else repr(text)
            for key, text in descriptions.items()}


def saved_descriptions(descriptions) -> dict | None:
    """``label_descriptions`` as ``skbert.json`` records it: numpy keys and texts as Python's.

    JSON writes an int key as its string (``3`` -> ``"3"``), which
    :func:`check_label_descriptions` reads back as the label ``3``. The
    parameter itself is left as the caller set it.

    Examples
    --------
    >>> saved_descriptions({np.int64(2): np.str_("pizza")})
    {2: 'pizza'}
    """
    if not isinstance(descriptions, dict):
        return descriptions
    return {plain_label(key): plain_label(text) for key, text in descriptions.items()}


def label_descriptions_problem(value, classes) -> str | None:
    """What a saved ``label_descriptions`` must be, if ``value`` is not it (else None).

    For a folder's ``skbert.json``: ``classes`` is the file's list of labels.
    None and a value that is not a dict are left to the parameter's own
    constraint.

    Examples
    --------
    >>> label_descriptions_problem({"sports": "ball games"}, ["sports", "food"]) is None
    True
    >>> print(label_descriptions_problem({"sprots": "ball games"}, ["sports"])[-44:])
    which is not one of the labels (['sports']))
    """
    if not isinstance(value, dict) or not isinstance(classes, list):
        return None
    problem = description_problem(value, classes)
    if problem is None:
        return None
    return (f"null or an object of one non-empty text of at most {MAX_DESCRIPTION_CHARS} "
            f"characters per label of 'classes' ({problem.message.rstrip(';,.')})")


def description_example(label) -> str:
    """``label_descriptions={...}`` for ``label``, written so that it also reads as the JSON
    ``--label-descriptions`` takes when the label is text.

    Examples
    --------
    >>> description_example("L07")
    'label_descriptions={"L07": "words saying what it means", ...}'
    >>> description_example(3)
    "label_descriptions={3: 'words saying what it means', ...}"
    """
    import json

    label = plain_label(label)
    if isinstance(label, str):
        return ("label_descriptions={" + json.dumps(label)
                + ': "words saying what it means", ...}')
    return f"label_descriptions={{{label!r}: 'words saying what it means', ...}}"


def label_texts(classes, descriptions: dict) -> list[str | None]:
    """One text per label: its description, else its readable name, else None."""
    return [descriptions.get(str(plain_label(c))) or readable(plain_label(c)) for c in classes]


@dataclass(frozen=True)
class LabelTexts:
    """The label texts of one fit: ``label_descriptions`` checked, and one text per label.

    Computed once per fit (:meth:`check`) and handed to the contrastive
    warm-up and the head's start, which read the same texts.

    Attributes
    ----------
    described : dict
        ``str(label)`` -> description, as :func:`check_label_descriptions`
        returns it (empty without ``label_descriptions``).
    texts : list of (str or None)
        One text per label of ``classes``, as :func:`label_texts` gives it.

    Examples
    --------
    >>> labels = LabelTexts.check({"acq": " mergers "}, np.array(["acq", "moneyFx", "L07"]))
    >>> labels.described, labels.texts
    ({'acq': 'mergers'}, ['mergers', 'money fx', None])
    """

    described: dict
    texts: list

    @classmethod
    def check(cls, descriptions, classes) -> LabelTexts:
        """Check ``descriptions`` against ``classes`` and give each label its text.

        Parameters
        ----------
        descriptions : dict or None
            The ``label_descriptions`` parameter.
        classes : ndarray of shape (n_labels,)
            The fit's labels.

        Returns
        -------
        LabelTexts

        Raises
        ------
        ValueError
            As :func:`check_label_descriptions`.
        """
        described = check_label_descriptions(descriptions, classes)
        return cls(described, label_texts(classes, described))


@contextlib.contextmanager
def output_features(model):
    """Make ``model`` return the input of its output layer instead of the logits.

    Inside the block a forward pass gives the vector the head reads (the
    pooled text vector, after the classifier's own dense layer with cls
    pooling); the layer is restored on leaving.
    """
    layer = model.output_layer()
    layer.forward = lambda x: x.float()  # instance attribute: shadows the class's forward
    try:
        yield model
    finally:
        del layer.forward


def _unit(a: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(a, axis=-1, keepdims=True)
    return np.divide(a, norm, out=np.zeros_like(a), where=norm > 0)


def head_from_features(train: np.ndarray, Y: np.ndarray, names: np.ndarray | None,
                       prior: np.ndarray, *, use_names: bool = True,
                       use_centroids: bool = True, relative: bool = False,
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The weight and bias of a head that scores cosine similarity to each label.

    Parameters
    ----------
    train : ndarray of shape (n_texts, n_features)
        Feature vectors of training texts.
    Y : ndarray of shape (n_texts, n_labels)
        Their 0/1 labels.
    names : ndarray of shape (n_labels, n_features) or None
        Feature vectors of the label texts; a row of NaN for a label without one.
    prior : ndarray of shape (n_labels,)
        Each label's training frequency.
    use_names, use_centroids : bool
        Which directions to use.
    relative : bool, default=False
        Score each label against the mean of the labels: the mean direction
        is subtracted from every row, which shifts all of a text's logits by
        the same amount (its ranking of the labels is unchanged), so a text
        near every label (short, emphatic) does not pass every threshold.

    Returns
    -------
    weight : ndarray of shape (n_labels, n_features)
    bias : ndarray of shape (n_labels,)
        So that ``features @ weight.T + bias`` is ``SCALE`` times the cosine
        similarity of the centred, normalised text vector to each label's
        direction, shifted so the mean training logit is the prior's log-odds.
    has_direction : ndarray of bool, shape (n_labels,)
        False for a label with neither a text nor a positive example (its row
        is zero: keep the layer's random row for it).
    """
    train = np.asarray(train, dtype=np.float64)
    mu = train.mean(axis=0)
    centred = train - mu
    radius = float(np.linalg.norm(centred, axis=1).mean()) or 1.0
    n_labels = Y.shape[1]
    direction = np.zeros((n_labels, train.shape[1]))
    if use_centroids:
        unit_train = _unit(centred)
        for j in range(n_labels):
            pos = Y[:, j] > 0
            if pos.any():
                direction[j] = _unit(unit_train[pos].mean(axis=0))
    if use_names and names is not None:
        named = ~np.isnan(names).any(axis=1)
        weight = NAME_WEIGHT if use_centroids else 1.0
        direction[named] += weight * _unit(np.asarray(names, np.float64)[named] - mu)
    has_direction = np.linalg.norm(direction, axis=1) > 0
    direction = _unit(direction)
    if relative:
        direction = direction - direction[has_direction].mean(axis=0)
    weight = SCALE * direction / radius
    p = np.clip(prior, 1e-4, 1 - 1e-4)
    mean_logit = (centred @ weight.T).mean(axis=0)
    bias = np.log(p / (1 - p)) - mean_logit - mu @ weight.T
    return weight.astype(np.float32), bias.astype(np.float32), has_direction


def logistic_head(features: np.ndarray, Y: np.ndarray, sample_weight=None,
                  C: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One L2-regularised logistic regression per label on fixed text vectors.

    With a few texts per label this is SetFit's classifier: the encoder stays
    as it is and each label gets the linear rule that best separates its
    texts, shrunk toward zero (``C``, as in
    :class:`sklearn.linear_model.LogisticRegression`, on the centred vectors
    divided by their mean length; the intercept is not shrunk).

    Parameters
    ----------
    features : ndarray of shape (n_texts, n_features)
    Y : ndarray of shape (n_texts, n_labels)
    sample_weight : ndarray of shape (n_texts,) or None
        Relative weights: divided by their mean over the texts of non-zero
        weight, so that their scale does not change the shrinkage.
    C : float or None, default=None
        None: :data:`LOGISTIC_C`.

    Returns
    -------
    weight : ndarray of float32, shape (n_labels, n_features)
    bias : ndarray of float32, shape (n_labels,)
    fitted : ndarray of bool, shape (n_labels,)
        False for a label that is on every (weighted) text or on none: no
        regression separates it, and its row and bias are zero.

    Examples
    --------
    >>> X = np.array([[0.0, 1.0], [0.1, 0.9], [1.0, 0.0], [0.9, 0.1]])
    >>> Y = np.array([[1, 0], [1, 0], [0, 1], [0, 1]])
    >>> weight, bias, fitted = logistic_head(X, Y, C=10.0)
    >>> fitted.tolist(), bool(weight[0, 1] > weight[0, 0]), bool(weight[1, 0] > weight[1, 1])
    ([True, True], True, True)
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    C = LOGISTIC_C if C is None else C
    features = np.asarray(features, dtype=np.float64)
    mu = features.mean(axis=0)
    scale = float(np.linalg.norm(features - mu, axis=1).mean()) or 1.0
    features = (features - mu) / scale
    n_labels = Y.shape[1]
    weight = np.zeros((n_labels, features.shape[1]), dtype=np.float32)
    bias = np.zeros(n_labels, dtype=np.float32)
    fitted = np.zeros(n_labels, dtype=bool)
    counted = np.ones(len(Y), bool) if sample_weight is None else np.asarray(sample_weight) > 0
    if sample_weight is not None and counted.any():  # the scale of the weights is not C's
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        sample_weight = sample_weight / sample_weight[counted].mean()
    separable = logistic_labels(Y, sample_weight)
    for j in range(n_labels):
        y = Y[:, j] > 0
        if not separable[j]:
            continue
        with warnings.catch_warnings():  # a start that fine-tuning refines: no user action
            warnings.simplefilter("ignore", ConvergenceWarning)
            lr = LogisticRegression(C=C, max_iter=1000).fit(features, y,
                                                            sample_weight=sample_weight)
        weight[j] = lr.coef_[0] / scale
        bias[j], fitted[j] = lr.intercept_[0] - weight[j] @ mu, True
    return weight, bias, fitted


def logistic_labels(Y: np.ndarray, sample_weight=None) -> np.ndarray:
    """Which labels :func:`logistic_head` fits: those on some texts of non-zero weight, not all.

    The others keep the row of :func:`head_from_features` (their name or
    description, and centroid).

    Examples
    --------
    >>> logistic_labels(np.array([[1, 1, 0], [0, 1, 0]])).tolist()
    [True, False, False]
    """
    Y = np.asarray(Y) > 0
    counted = np.ones(len(Y), bool) if sample_weight is None else np.asarray(sample_weight) > 0
    return (Y & counted[:, None]).any(axis=0) & (~Y & counted[:, None]).any(axis=0)


def silent_ids(tokenizer) -> frozenset[int]:
    """The token ids that say nothing of a label: the unknown token and the special tokens.

    ``[UNK]``, ``[PAD]``, ``[CLS]``, ``[SEP]``, ``[MASK]`` and the like: a label
    text made of them alone is embedded as no word of its own.
    """
    silent = set(getattr(tokenizer, "all_special_ids", None) or ())
    if getattr(tokenizer, "unk_token_id", None) is not None:
        silent.add(tokenizer.unk_token_id)
    return frozenset(silent)


def says_nothing(ids, silent: frozenset[int]) -> bool:
    """Whether a label text read as the token ``ids`` says nothing of its label.

    The one rule the contrastive warm-up (:func:`distinct_label_texts`), the
    head's start and the zero-shot classifier (:func:`silent_labels`) judge a
    label text by: no token at all, or only ``silent`` ones
    (:func:`silent_ids`: the unknown token and the special tokens). Its vector
    says nothing of the label, and is the same for every such label.

    Examples
    --------
    >>> says_nothing([100, 102], frozenset({0, 100, 102})), says_nothing([], frozenset())
    (True, True)
    >>> says_nothing([100, 2307], frozenset({0, 100, 102}))
    False
    """
    return all(t in silent for t in ids)


class _WordTokenizer:
    """A whitespace tokenizer of three words for the examples: ``[UNK]`` is 0, ``[SEP]`` 9."""

    unk_token_id, all_special_ids = 0, [0, 9]
    _vocab = {"joy": 1, "anger": 2, "[SEP]": 9}

    def num_special_tokens_to_add(self) -> int:
        return 2

    def __call__(self, texts, **kwargs) -> dict:
        return {"input_ids": [[self._vocab.get(w, 0) for w in t.split()] for t in texts]}


def silent_labels(tokenizer, classes, texts, max_length: int = 512) -> list[tuple]:
    """The ``(label, text)`` pairs whose text says nothing (:func:`says_nothing`).

    Such a text (a word-level vocabulary without the word, a script the
    vocabulary lacks, ``"[PAD] [SEP]"``) is read as the unknown token and
    special tokens alone. Labels whose text is None are skipped; only the
    first ``max_length`` tokens (what is embedded) count.

    Examples
    --------
    >>> silent_labels(_WordTokenizer(), ["a", "b", "c", "d"], ["joy", "xyz", "[SEP] xyz", None])
    [('b', 'xyz'), ('c', '[SEP] xyz')]
    """
    silent = silent_ids(tokenizer)
    pairs = [(c, t) for c, t in zip(classes, texts) if t is not None]
    ids = _token_ids(tokenizer, [t for _, t in pairs], max_length)
    return [(c, t) for (c, t), i in zip(pairs, ids) if says_nothing(i, silent)]


def silent_tokens_named(tokenizer, limit: int = 4) -> str:
    """The tokens :func:`says_nothing` counts, in words for a message.

    Examples
    --------
    >>> class Tok:
    ...     unk_token, all_special_tokens = "[UNK]", ["[UNK]", "[SEP]", "[PAD]"]
    >>> silent_tokens_named(Tok())
    "the unknown token '[UNK]' or special tokens ('[SEP]', '[PAD]')"
    """
    unk = getattr(tokenizer, "unk_token", None)
    special = [t for t in getattr(tokenizer, "all_special_tokens", None) or () if t != unk]
    shown = ", ".join(repr(t) for t in special[:limit]) + (", ..." if len(special) > limit
                                                         else "")
    parts = ([f"the unknown token {unk!r}"] if unk is not None else []) + (
        [f"special tokens ({shown})"] if special else [])
    return " or ".join(parts) or "no tokens"


def same_token_labels(tokenizer, classes, texts, max_length: int = 512) -> list[tuple]:
    """``(label, earlier label, text)`` for each label whose text reads as an earlier one's tokens.

    Two such labels get the same vector from their texts. Labels whose text
    is None are skipped.
    """
    pairs = [(c, t) for c, t in zip(classes, texts) if t is not None]
    seen: dict[tuple, int] = {}
    same = []
    for k, i in enumerate(_token_ids(tokenizer, [t for _, t in pairs], max_length)):
        first = seen.setdefault(tuple(i), k)
        if first != k:
            same.append((pairs[k][0], pairs[first][0], pairs[k][1]))
    return same


def distinct_label_texts(tokenizer, texts, max_length: int = 512) -> tuple[np.ndarray, dict]:
    """The label texts that tell their label apart from the others, and why the rest do not.

    A text that is None, that says nothing (:func:`says_nothing`: the tokenizer
    reads it as nothing but its unknown and special tokens, ``"[UNK]"``,
    ``"[PAD] [SEP]"``), or that reads as the
    same tokens as another label's text is left out (both of two such
    labels): its vector could not say which label it is. Only the first
    ``max_length`` tokens count (what is embedded with ``long_text=
    "truncate"``; under ``"chunk"`` two long texts that differ only later are
    still left out as the same). The contrastive warm-up adds only the texts
    kept to its batches.

    Returns
    -------
    keep : ndarray of int
        Indices into ``texts`` of the texts kept.
    problems : dict
        Index -> ``(why, others)``: why that text (not None) is left out, in
        words, and the indices of the other labels whose texts read the same
        (empty for a text of unknown or special tokens).

    Examples
    --------
    >>> keep, problems = distinct_label_texts(_WordTokenizer(),
    ...                                       ["joy", None, "anger", "xyz [SEP]", "joy"])
    >>> keep.tolist()
    [2]
    >>> problems[3]
    ('it reads as unknown or special tokens only', [])
    >>> problems[0]
    ('it reads as the same tokens as the text of', [4])
    """
    named = [i for i, t in enumerate(texts) if t is not None]
    ids = [tuple(i) for i in _token_ids(tokenizer, [texts[i] for i in named], max_length)]
    silent = silent_ids(tokenizer)
    readers: dict[tuple, list[int]] = {}
    for j, i in zip(named, ids):
        readers.setdefault(i, []).append(j)
    keep, problems = [], {}
    for j, i in zip(named, ids):
        if says_nothing(i, silent):
            problems[j] = ("it reads as unknown or special tokens only", [])
        elif len(readers[i]) > 1:
            problems[j] = ("it reads as the same tokens as the text of",
                           [k for k in readers[i] if k != j])
        else:
            keep.append(j)
    return np.asarray(keep, dtype=np.int64), problems


def _token_ids(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    if not texts:
        return []
    from ._data import call_tokenizer  # a tokenizer's panic as a ValueError

    room = max(1, max_length - tokenizer.num_special_tokens_to_add())  # what is embedded
    return call_tokenizer(tokenizer, list(texts), add_special_tokens=False, truncation=True,
                          max_length=room)["input_ids"]


def start_head(model, config, pad_id: int, texts, labels, Y: np.ndarray, prior: np.ndarray, *,
               use_names: bool = True, use_centroids: bool = True,
               relative: bool = False, logistic: bool = False,
               sample_weight=None) -> np.ndarray:
    """Compute the text and label vectors with ``model`` itself and start its head from them.

    Parameters
    ----------
    model : MultiLabelModel
    config : TrainConfig
        Inference settings; the pass runs eagerly on this process alone.
    pad_id : int
    texts : Encoded
        Training (or unlabelled) texts: their mean centres the vectors and,
        with ``Y``, gives the centroids.
    labels : list of (Encoded or None)
        ``[encoded label texts, indices of the labels they belong to]``, or
        None when no label has a text.
    Y : ndarray of shape (n_texts, n_labels)
    prior : ndarray of shape (n_labels,)
    use_names, use_centroids, relative : bool
        As in :func:`head_from_features`.
    logistic : bool, default=False
        Then replace the row and bias of every label that has texts with it
        and without it by :func:`logistic_head` on the text vectors; the
        others keep the rows of :func:`head_from_features`.
    sample_weight : ndarray of shape (n_texts,) or None
        Weights of ``texts`` for ``logistic``.

    Returns
    -------
    ndarray of float32, shape (n_texts, n_features)
        The text vectors (the zero-shot classifier calibrates on them).
    """
    from ._distributed import SINGLE
    from ._training import predict_logits

    config = replace(config, compile=None, group=SINGLE)  # every rank: the same head
    model.to(config.device)
    with output_features(model):
        vectors = predict_logits(model, texts, pad_id, config)
        names = None
        if use_names and labels is not None:
            encoded, which = labels
            found = predict_logits(model, encoded, pad_id, config)
            names = np.full((Y.shape[1], found.shape[1]), np.nan)
            names[which] = found
    weight, bias, rows = head_from_features(vectors, Y, names, prior, use_names=use_names,
                                            use_centroids=use_centroids, relative=relative)
    if logistic:
        lr_weight, lr_bias, fitted = logistic_head(vectors, Y, sample_weight)
        weight[fitted], bias[fitted] = lr_weight[fitted], lr_bias[fitted]
        rows = rows | fitted
    set_head(model, weight, bias, rows)
    return vectors


@torch.no_grad()
def set_head(model, weight: np.ndarray, bias: np.ndarray, rows: np.ndarray) -> None:
    """Copy ``weight[rows]`` and all of ``bias`` into the model's output layer."""
    layer = model.output_layer()
    rows_t = torch.from_numpy(np.flatnonzero(rows))
    layer.weight[rows_t] = torch.from_numpy(weight[rows]).to(layer.weight)
    if layer.bias is not None:
        layer.bias.copy_(torch.from_numpy(bias).to(layer.bias))

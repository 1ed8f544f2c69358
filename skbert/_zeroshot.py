"""A multi-label classifier that has seen no labelled text: it answers from the label names."""

from __future__ import annotations

import os
import string
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import _num_samples, check_is_fitted

from ._batches import pad_token_id
from ._estimator import TransformerMultiLabelClassifier
from ._label_init import (
    MAX_CENTROID_TEXTS,
    check_label_descriptions,
    description_example,
    label_texts,
    same_token_labels,
    silent_labels,
    silent_tokens_named,
    start_head,
)
from ._modeling import DEFAULT_MODEL, build_model, check_model_source, load_tokenizer
from ._modeling import resolve_model_path as _resolve
from ._params import validate_params
from ._runner import FitResult, encode_texts, inference_config
from ._thresholds import plain_label
from ._training import resolve_learning_rate
from ._utils import resolve_device, resolve_precision
from ._validation import (
    NumberInterval,
    _label_names,
    check_distinct_names,
    check_target_columns,
    check_targets,
    check_texts,
    subset_accuracy,
)

#: Parameters handed to the inner classifier as they are.
_SHARED = ("model_name_or_path", "label_descriptions", "max_length", "predict_batch_size",
           "threshold", "min_labels", "device", "precision")


class ZeroShotMultiLabelClassifier(ClassifierMixin, BaseEstimator):
    """Multi-label text classification from the label names alone, no labelled text.

    Each label's name (or description) and each text are embedded by a
    sentence encoder (by default the bundled all-MiniLM-L6-v2); a label's
    score is the cosine similarity of the text to the label, centred on the
    texts given to :meth:`fit` (which need no labels). It is the head that
    :class:`TransformerMultiLabelClassifier` starts from with
    ``head_init="names"``, without any training: save it with
    :meth:`save_pretrained` and fine-tune it later on a few labelled texts
    (the saved head is kept as the starting point).

    Parameters
    ----------
    labels : list of str or int
        The label names, in column order; they become ``classes_`` as plain
        Python str and int, whatever the container (a numpy array's
        ``np.str_`` and ``np.int64`` included). Only str and int names can be
        saved, so others (floats, bools, tuples, None) are refused by
        :meth:`fit`, as are empty names and names holding a control
        character (tab, newline, ``"\\x00"``).
    label_descriptions : dict or None, default=None
        Label -> text saying what it means (``{"acq": "mergers and
        acquisitions"}``); other labels use their name made readable. Each
        description must be a non-empty text of at most 1,000 characters.
    template : str, default="{}"
        Puts a readable label name into a sentence, e.g. ``"This text
        expresses {}."``; descriptions are used as they are.
    model_name_or_path : str, default=the bundled all-MiniLM-L6-v2
        A sentence-embedding checkpoint (mean pooling is used).
    max_length : int, default=128
        Tokens read per text.
    predict_batch_size : int, default=64
        Texts per forward pass.
    threshold : float, array-like of shape (n_labels,) or "auto", default="auto"
        Decision threshold of ``predict``. ``"auto"`` uses ``thresholds_``:
        with texts given to ``fit``, each label's threshold lets it fire on
        ``1 / n_labels`` of them (before ``min_labels`` adds a label to the
        texts left without one); without texts, 0.5. A label's score is its
        similarity to the text relative to the mean of all labels, so a
        text close to every label does not pass every threshold.
    min_labels : int or "auto", default=1
        ``predict`` gives every text at least this many labels (the most
        probable), so a zero-shot answer is never empty unless set to 0.
        ``"auto"`` is ``min_labels_`` of the fine-tuned classifier, which a
        zero-shot fit (no training labels to learn it from) sets to 1: the
        saved folder answers ``min_labels="auto"`` (``skbert predict
        --min-labels auto``) never empty too.
    device : str, default="auto"
    precision : {"auto", "bf16", "fp16", "fp32"}, default="auto"

    Attributes
    ----------
    classes_ : ndarray of shape (n_labels,)
    thresholds_ : ndarray of shape (n_labels,)
    classifier_ : TransformerMultiLabelClassifier
        The fitted classifier that predicts; ``save_pretrained`` writes it.

    See Also
    --------
    TransformerMultiLabelClassifier : fine-tunes on labelled texts.

    Examples
    --------
    >>> from skbert import ZeroShotMultiLabelClassifier
    >>> clf = ZeroShotMultiLabelClassifier(["sports", "politics"])  # doctest: +SKIP
    >>> clf.fit(["an unlabelled text", "another one"]).predict(["the match"])  # doctest: +SKIP
    array([[1, 0]])
    """

    _parameter_constraints: dict = {
        "labels": ["array-like"],
        "label_descriptions": [dict, None],
        "template": [str],
        "model_name_or_path": [str, os.PathLike],
        "max_length": [NumberInterval(Integral, 8, None, closed="left")],
        "predict_batch_size": [NumberInterval(Integral, 1, None, closed="left")],
        "threshold": [StrOptions({"auto"}), NumberInterval(Real, 0, 1, closed="both"),
                      "array-like"],
        "min_labels": [NumberInterval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "device": [str, torch.device],
        "precision": [StrOptions({"auto", "bf16", "fp16", "fp32"})],
    }

    def __init__(self, labels, *, label_descriptions=None, template="{}",
                 model_name_or_path=DEFAULT_MODEL,
                 max_length=128, predict_batch_size=64, threshold="auto", min_labels=1,
                 device="auto", precision="auto"):
        self.labels = labels
        self.label_descriptions = label_descriptions
        self.template = template
        self.model_name_or_path = model_name_or_path
        self.max_length = max_length
        self.predict_batch_size = predict_batch_size
        self.threshold = threshold
        self.min_labels = min_labels
        self.device = device
        self.precision = precision

    # scikit-learn's check, naming a bool given as a number as such
    _validate_params = validate_params

    def fit(self, X=None, y=None):
        """Embed the labels and centre the scores on ``X``; nothing is trained.

        Parameters
        ----------
        X : list of str or None, default=None
            Unlabelled texts like those to classify (up to 4,096 are read):
            their mean vector centres the similarities and they calibrate
            ``thresholds_``. None (or no texts) centres on the labels' own
            vectors.
        y : None, array-like, sparse matrix or DataFrame of shape (n_samples, n_labels), \
                default=None
            Not learnt from (nothing is trained); accepted so that the
            estimator fits in a Pipeline, ``cross_val_score`` and
            ``GridSearchCV``, which score ``predict`` against it. Given, it
            must line up with ``labels``: a DataFrame's column names must be
            the labels in the same order (pass ``y[list(clf.labels)]``, or
            reorder ``labels``), an array must have one column per label.

        Returns
        -------
        self : ZeroShotMultiLabelClassifier

        Raises
        ------
        ValueError
            If ``labels`` is empty, holds one label (its score could not depend
            on the text), a name that is not a str or int (within int64) or two
            names that read as the same text, if ``template`` is not text with
            exactly one ``{}`` (``{{``/``}}`` for a literal brace), or a label
            whose name or description says nothing to the model (read as its
            unknown token or special tokens alone), or two labels that read as
            the same tokens: pass ``label_descriptions`` for them; if a name is
            empty (or only spaces) or holds a control character (``"\\t"``,
            ``"\\n"``, ``"\\x00"``), which would break the CLI's CSV rows and
            the model card; or if ``y`` is given and its columns are not the
            labels in the same order.
        """
        if isinstance(self.labels, dict):  # names -> descriptions: only the keys would count
            names = list(self.labels)
            raise ValueError(
                f"labels is a dict ({names[:3]!r:.120}{' ...' if len(names) > 3 else ''}); "
                "pass its keys as labels and its texts in label_descriptions: "
                "ZeroShotMultiLabelClassifier(labels=list(d), label_descriptions=d)"
                + (", with the label_descriptions you give added to d"
                   if self.label_descriptions else "") + ".")
        self._validate_params()
        if isinstance(self.labels, (set, frozenset)):  # its order changes between runs
            raise ValueError(
                f"labels is a set ({sorted(map(str, self.labels))[:4]!r}...), whose order, "
                "and so the order of classes_ and of predict's columns, changes from one "
                "Python process to the next. Pass a list, e.g. labels=sorted(labels).")
        classes = _check_labels(list(self.labels))
        _check_template(self.template)
        described = check_label_descriptions(self.label_descriptions, classes)
        words = label_texts(classes, described)
        texts = [t if t is None or str(c) in described else self.template.format(t)
                 for c, t in zip(classes, words)]
        missing = [plain_label(c) for c, t in zip(classes, texts) if t is None]
        if missing:
            raise ValueError(
                f"labels {missing[:5]} have no words to embed; give them a text in "
                f"label_descriptions, e.g. {description_example(missing[0])}.")
        shared = {name: getattr(self, name) for name in _SHARED}
        if described:  # keyed by the labels as saved (numpy ints become ints)
            shared["label_descriptions"] = {c: described[str(c)] for c in classes
                                            if str(c) in described}
        inner = TransformerMultiLabelClassifier(**shared, pooling="mean", head_init="names",
                                                fit_cache=False)
        if X is not None and not isinstance(X, (str, bytes)) and not hasattr(X, "__len__"):
            X = list(X)  # an iterator or a generator: read once, here
        if X is not None and not isinstance(X, (str, bytes)) and len(X) == 0:
            X = None  # no texts: centred on the labels, as with None
        unlabelled = None if X is None else check_texts(X)
        if y is not None:  # scored against predict's columns: they must line up
            n = len(unlabelled) if unlabelled is not None else _num_samples(y)
            check_targets(y, n, warn_missing=False, name="y")
            check_target_columns(y, classes, name="y", labels="clf.labels",
                                 reorder="put labels in the order of y's columns "
                                         "(labels=list(y.columns))"
                                 if hasattr(y, "columns") else None)
        inner._set_fitted(_zero_shot_fit(inner, classes, texts, unlabelled, words))
        self.classifier_ = inner
        self.classes_ = inner.classes_
        self.thresholds_ = inner.thresholds_
        return self

    def _inner(self) -> TransformerMultiLabelClassifier:
        check_is_fitted(self, "classifier_")
        self._validate_params()
        return self.classifier_.set_params(threshold=self.threshold,
                                           min_labels=self.min_labels,
                                           predict_batch_size=self.predict_batch_size)

    def predict_proba(self, X) -> np.ndarray:
        """Scores in (0, 1) of shape (n_samples, n_labels): sigmoid of the scaled similarity."""
        return self._inner().predict_proba(X)

    def decision_function(self, X) -> np.ndarray:
        """The scaled, centred cosine similarities, shape (n_samples, n_labels)."""
        return self._inner().decision_function(X)

    def predict(self, X) -> np.ndarray:
        """0/1 indicators of shape (n_samples, n_labels), at least ``min_labels`` per text."""
        return self._inner().predict(X)

    def score(self, X, y, sample_weight=None) -> float:
        """Subset accuracy of ``predict(X)`` against ``y`` (see
        :meth:`TransformerMultiLabelClassifier.score`)."""
        return subset_accuracy(self, X, y, sample_weight)

    def explain(self, X, labels=None, **kwargs):
        """Which words tie each text to its labels (see ``TransformerMultiLabelClassifier``)."""
        return self._inner().explain(X, labels, **kwargs)

    def save_pretrained(self, folder) -> None:
        """Save as a :class:`TransformerMultiLabelClassifier` folder (to load or to fine-tune)."""
        self._inner().save_pretrained(folder)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.classifier_tags.multi_class = False
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.target_tags.required = False  # fit reads no labels
        tags.target_tags.multi_output = True  # predicts an indicator matrix, as the fine-tuned one
        tags.target_tags.single_output = False
        return tags


def _check_labels(labels: list) -> np.ndarray:
    """``labels`` as ``classes_``: str or int names (numpy ints as ints), distinct, 2 or more.

    The check is the one ``TransformerMultiLabelClassifier.fit`` makes of Y's
    column names (:func:`~skbert._validation._label_names`), in words about
    ``labels``: a saved folder holds only str and int (within int64) names.
    """
    if not labels:
        raise ValueError("labels is empty; pass the label names, e.g. ['sports', 'politics'].")
    check_distinct_names(labels, "labels", fix=_REPEATED_FIX)  # the same text twice
    classes = _label_names(labels, _LABELS)
    if classes.size == 1:
        raise ValueError(
            f"labels holds one label ({str(classes[0])!r}): a zero-shot score is a text's "
            "similarity to a label relative to its mean over all the labels, so with one "
            "label every text would get the same score. Give the other labels the texts "
            "may have, or a catch-all one, e.g. labels=[..., 'other'].")
    return classes


_REPEATED_FIX = "Give each label its own name, or drop the repeated one."
#: How :func:`~skbert._validation._label_names` speaks of ``labels``.
_LABELS = ("labels holds", "labels",
           "Pass str names, e.g. labels=[str(c) for c in labels].", _REPEATED_FIX,
           lambda label: f"Rename it in labels (and in label_descriptions), e.g. "
                         f"labels=['new_name' if c == "
                         f"{repr(label) if len(repr(label)) <= 60 else 'OLD_NAME'} "
                         "else c for c in labels]; "
                         "if the labels are the columns of y, rename the column too.")


def _check_template(template: str) -> None:
    """Refuse a ``template`` that is not text with exactly one ``{}`` (``{{``/``}}`` are braces)."""
    try:
        fields = [(name, spec, conversion)
                  for _, name, spec, conversion in string.Formatter().parse(template)
                  if name is not None]
    except ValueError as error:  # a lone '{' or '}'
        problem = f" ({error})"
    else:
        problem = "" if fields == [("", "", None)] else (
            f" (it has {len(fields)} replacement field(s)"
            f"{': ' + ', '.join(_field(*f) for f in fields) if fields else ''})")
    if problem:
        raise ValueError(
            f"template={template!r} must hold one '{{}}' where the label name goes, and no "
            f"other replacement field{problem}; e.g. 'This text is about {{}}.' Write a literal "
            "brace as '{{' or '}}'.")


def _field(name, spec, conversion) -> str:
    return "{%s%s%s}" % (name, f"!{conversion}" if conversion else "", f":{spec}" if spec else "")


def _zero_shot_fit(est, classes, texts, unlabelled, words) -> FitResult:
    """A model whose head was built from the label texts alone, nothing trained.

    ``texts`` are what is embedded (names in the template, descriptions);
    ``words`` the names or descriptions before the template.
    """
    path = _resolve(str(est.model_name_or_path))
    check_model_source(path)
    tokenizer = load_tokenizer(path)
    n = len(classes)
    check_label_tokens(tokenizer, classes, words, texts,
                       str(est.model_name_or_path), est.max_length)
    device = resolve_device(est.device)
    precision = resolve_precision(est.precision, device)
    model = build_model(path, "mean", list(classes), seed=0)
    est_config = inference_config(est, device, precision)
    pad_id = pad_token_id(tokenizer)
    names = (encode_texts(est, tokenizer, texts), list(range(n)))
    # without unlabelled texts the label vectors themselves are what is centred on
    reference = names[0] if unlabelled is None else encode_texts(
        est, tokenizer, unlabelled[:MAX_CENTROID_TEXTS])
    prior = np.full(n, 1.0 / n)
    vectors = start_head(model, est_config, pad_id, reference, names,
                         np.zeros((reference.n_docs, n)), prior, use_centroids=False,
                         relative=True)
    layer = model.output_layer()
    if not all(bool(torch.isfinite(t).all()) for t in (layer.weight, layer.bias)):
        raise ValueError(  # the checks above leave no known way here; never predict NaN
            f"The label texts {texts[:5]} give no direction to score texts against with "
            f"{str(est.model_name_or_path)!r} (their vectors coincide with the texts' mean). "
            "Give the labels more distinct texts in label_descriptions, or pass other "
            "unlabelled texts to fit.")
    model.trained_head = True
    model.eval()
    thresholds = np.full(n, 0.5)
    if unlabelled is not None:  # each label fires on 1/n of the texts given
        with torch.no_grad():
            proba = torch.sigmoid(model.output_layer()(torch.from_numpy(vectors).to(device)))
        proba = proba.cpu().numpy()
        thresholds = np.clip(np.quantile(proba, 1.0 - 1.0 / n, axis=0), 0.0, 1.0)
    return FitResult(model=model, tokenizer=tokenizer, classes=classes,
                     y_dtype=np.dtype(np.int64), pooling="mean", device=device,
                     precision=precision, thresholds=thresholds,
                     threshold_metric="default" if unlabelled is None else "label_rate",
                     # the rate a fine-tune from this model would use (none was used here)
                     learning_rate=resolve_learning_rate(est.learning_rate, model),
                     # no training labels: "auto" keeps the zero-shot promise, never empty
                     auto_min_labels=1)


def check_label_tokens(tokenizer, classes, words, texts, model_name: str,
                       max_length: int = 512) -> None:
    """Refuse label texts the model cannot tell apart from nothing, or from each other.

    A label whose name or description (``words``, before the template) the
    tokenizer reads as its unknown token and special tokens alone (a
    word-level vocabulary without the word, a script the vocabulary lacks,
    ``"[PAD] [SEP]"``; :func:`~skbert._label_init.says_nothing`, the rule the
    fine-tuned classifier's head and warm-up judge by too) is embedded as
    those tokens: its vector says nothing of the label, and all such labels
    get the same scores.
    Two labels whose embedded ``texts`` are the same tokens (in their first
    ``max_length``, what is embedded) always get the same score.

    Raises
    ------
    ValueError
        Naming the labels, their texts and the fix (``label_descriptions``).
    """
    unknown = [(str(c), w) for c, w in silent_labels(tokenizer, classes, words, max_length)]
    if unknown:
        shown = ", ".join(f"{c!r} (text {w!r})" for c, w in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        which = "All labels have" if len(unknown) == len(words) else f"{len(unknown)} label(s) have"
        raise ValueError(
            f"{which} a name (or description) made only of words the vocabulary of "
            f"{model_name!r} does not know, or of its special tokens: {shown}{more}. The model "
            f"reads such a text as {silent_tokens_named(tokenizer)} alone, which says nothing "
            "about the label (all such labels would get the same scores). Describe them in "
            "known words with "
            f"{description_example(unknown[0][0])}, or "
            "use a model whose vocabulary has them.")
    for c, other, t in same_token_labels(tokenizer, classes, texts, max_length)[:1]:
        raise ValueError(
            f"Labels {str(other)!r} and {str(c)!r} read as the same tokens to {model_name!r} "
            f"(text {t!r}), so they would always get the same score. Give one of them "
            "another text in label_descriptions.")

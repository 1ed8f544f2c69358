"""Loader for the GoEmotions sample bundled with skbert."""

from __future__ import annotations

import functools
import gzip
import json
from importlib import resources

import numpy as np
from sklearn.utils import Bunch

_DATA_PACKAGE = "skbert.datasets"
_DATA_DIR = "data"
_FILES = {
    "train": "goemotions_train.jsonl.gz",
    "test": "goemotions_test.jsonl.gz",
}
_LABELS_FILE = "goemotions_labels.txt"
_SUBSETS = ("train", "test", "all")

_DESCR_TEMPLATE = """\
.. _goemotions_sample:

GoEmotions sample (bundled with skbert)
---------------------------------------

Multi-label emotion classification of English Reddit comments: 27 emotion
categories plus "neutral" (28 labels). A comment carries one or more labels.

**Data Set Characteristics:**

:Number of documents: 3,000 (train, from the official train split) and
    1,000 (test, from the official dev/validation split)
:Number of labels: 28
:Documents in this subset ({subset!r}): {n_docs}
:Label cardinality in this subset: {cardinality:.3f} labels per document

The sample was drawn with a fixed seed (tools/make_goemotions_sample.py).
Rare labels were oversampled so that each label occurs at least 10 times in
the train part and 5 times in the test part; label frequencies therefore
differ from those of the full data set, and scores on this sample are not
comparable to published GoEmotions results. Some texts are offensive.

Licence: Apache License 2.0 (google-research/google-research, goemotions/).
The full notice is in skbert/datasets/data/GOEMOTIONS_LICENSE.txt.

.. topic:: References

  - Dorottya Demszky, Dana Movshovitz-Attias, Jeongwoo Ko, Alan Cowen,
    Gaurav Nemade, Sujith Ravi. 2020. GoEmotions: A Dataset of Fine-Grained
    Emotions. In Proceedings of ACL 2020, pages 4040-4054.
    https://arxiv.org/abs/2005.00547
"""


def _data_file(name: str):
    return resources.files(_DATA_PACKAGE).joinpath(_DATA_DIR, name)


@functools.lru_cache(maxsize=None)
def _load_label_names() -> tuple[str, ...]:
    text = _data_file(_LABELS_FILE).read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


@functools.lru_cache(maxsize=None)
def _load_part(part: str) -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray]:
    """Parse one bundled part once; the returned array is read-only."""
    label_names = _load_label_names()
    column = {name: j for j, name in enumerate(label_names)}
    ids: list[str] = []
    texts: list[str] = []
    rows: list[list[int]] = []
    with _data_file(_FILES[part]).open("rb") as raw, gzip.open(
        raw, "rt", encoding="utf-8"
    ) as fh:
        for line in fh:
            if not line.strip():
                continue
            record = json.loads(line)
            ids.append(record["id"])
            texts.append(record["text"])
            rows.append([column[name] for name in record["labels"]])
    target = np.zeros((len(texts), len(label_names)), dtype=np.int64)
    for i, cols in enumerate(rows):
        target[i, cols] = 1
    target.setflags(write=False)
    return tuple(ids), tuple(texts), target


def load_goemotions(*, subset="train", return_X_y=False, as_frame=False):
    """Load the bundled GoEmotions sample (multi-label, 28 labels).

    A small, seeded sample of GoEmotions (Demszky et al., ACL 2020): English
    Reddit comments labelled with 27 emotions and "neutral". The train part
    holds 3,000 comments from the official train split and the test part
    1,000 comments from the official dev split. Every label occurs at least
    10 times in the train part and 5 times in the test part. The data ships
    with skbert (Apache-2.0, see ``DESCR``); nothing is downloaded.

    =================   ==========================
    Labels                                      28
    Documents (train)                        3,000
    Documents (test)                         1,000
    Features                       text (str)
    Target              0/1 indicator matrix (int)
    =================   ==========================

    Parameters
    ----------
    subset : {"train", "test", "all"}, default="train"
        Part to load. ``"all"`` is the train part followed by the test part.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, ``data`` is a pandas Series named ``"text"``, ``target`` a
        DataFrame with one 0/1 column per label and ``frame`` a DataFrame
        holding ``"text"`` followed by the label columns.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        data : list of str or pandas.Series of shape (n_samples,)
            The comment texts.
        target : ndarray of shape (n_samples, 28) or pandas.DataFrame
            Label indicator matrix (int64, 1 where the label applies).
        target_names : list of str
            The 28 label names, in column order of ``target``.
        frame : pandas.DataFrame or None
            ``"text"`` and label columns when ``as_frame=True``, else None.
        ids : list of str
            Reddit comment ids.
        DESCR : str
            Description of the sample, its licence and citation.

    (data, target) : tuple if ``return_X_y`` is True
        ``data`` and ``target`` as described above.

    Raises
    ------
    ValueError
        If ``subset`` is not one of ``"train"``, ``"test"``, ``"all"``.

    Notes
    -----
    The parsed files are cached in memory; every call returns new lists and
    arrays, so modifying a result does not affect later calls.

    Examples
    --------
    >>> from skbert.datasets import load_goemotions
    >>> bunch = load_goemotions()
    >>> bunch.target.shape
    (3000, 28)
    >>> bunch.target_names[:3]
    ['admiration', 'amusement', 'anger']
    >>> X, Y = load_goemotions(subset="test", return_X_y=True)
    >>> len(X), Y.shape
    (1000, (1000, 28))
    """
    if not isinstance(subset, str) or subset not in _SUBSETS:
        raise ValueError(
            f"subset={subset!r} is not supported; use one of "
            f"{', '.join(repr(s) for s in _SUBSETS)}."
        )
    parts = ("train", "test") if subset == "all" else (subset,)
    loaded = [_load_part(part) for part in parts]
    ids = [i for part in loaded for i in part[0]]
    texts = [t for part in loaded for t in part[1]]
    target = np.concatenate([part[2] for part in loaded], axis=0)  # new array
    target_names = list(_load_label_names())

    frame = None
    if as_frame:
        import pandas as pd

        data = pd.Series(texts, name="text", dtype=object)
        target = pd.DataFrame(target, columns=target_names)
        frame = pd.concat([data, target], axis=1)
    else:
        data = texts

    if return_X_y:
        return data, target

    cardinality = float(np.asarray(target).sum(axis=1).mean()) if len(texts) else 0.0
    descr = _DESCR_TEMPLATE.format(
        subset=subset, n_docs=len(texts), cardinality=cardinality
    )
    return Bunch(
        data=data,
        target=target,
        target_names=target_names,
        frame=frame,
        ids=ids,
        DESCR=descr,
    )

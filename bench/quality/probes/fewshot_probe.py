"""One few-shot skbert fit on GoEmotions (a probe for issue 22; not the few-shot table).

Samples up to K texts per label of ``goemotions/train.jsonl`` (the labels in the
order ``numpy.random.default_rng(SEED).permutation``, for each up to K texts not yet
picked that carry it), fits ``TransformerMultiLabelClassifier(threshold="auto",
max_length=64, random_state=SEED, fit_cache=False, **PARAMS)`` on them with Y as a
DataFrame named by the labels, scores the first N_TEST texts of
``goemotions/validation.jsonl`` and prints one JSON line: K, seed, params, fit
seconds, epochs, LRAP, micro-F1 and macro-F1. Runs on 2 torch threads.

    python bench/quality/probes/fewshot_probe.py 16 0 '{"head_init": "random"}' 2000
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import f1_score
from sklearn.metrics import label_ranking_average_precision_score as lrap

from skbert import TransformerMultiLabelClassifier

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))  # the repository root
DEFAULT_DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))


def read_labels(folder: str) -> list[str]:
    """The label names of ``labels.txt`` in ``folder``, one a line, blank lines skipped."""
    with open(os.path.join(folder, "labels.txt"), encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def read_split(path: str) -> tuple[list[str], list[list[str]]]:
    """Texts and label lists of a JSON Lines file of ``{"text", "labels"}`` records."""
    texts, labels = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            texts.append(record["text"])
            labels.append(record["labels"])
    return texts, labels


def indicator(label_lists: list[list[str]], names: list[str]) -> np.ndarray:
    """The multi-hot matrix (n_texts, n_labels) of ``label_lists`` over ``names``."""
    Y = np.zeros((len(label_lists), len(names)), int)
    for i, labels in enumerate(label_lists):
        for label in labels:
            Y[i, names.index(label)] = 1
    return Y


def per_label_sample(Y: np.ndarray, k: int, seed: int) -> list[int]:
    """Sorted row indices: for each label in a seeded order, up to ``k`` unpicked rows with it."""
    rng = np.random.default_rng(seed)
    picked = set()
    for j in rng.permutation(Y.shape[1]):
        cand = [i for i in np.flatnonzero(Y[:, j]) if i not in picked]
        picked.update(rng.choice(cand, min(k, len(cand)), replace=False).tolist())
    return sorted(picked)


def load_goemotions(data: str):
    """Label names, training texts and Y, validation texts and Y of ``data/goemotions``."""
    folder = os.path.join(data, "goemotions")
    names = read_labels(folder)
    train_texts, train_labels = read_split(os.path.join(folder, "train.jsonl"))
    valid_texts, valid_labels = read_split(os.path.join(folder, "validation.jsonl"))
    return (names, train_texts, indicator(train_labels, names),
            valid_texts, indicator(valid_labels, names))


def probe_sample(k: int, seed: int, n_test: int, data: str = DEFAULT_DATA):
    """What the issue-22 probes fit and score: ``k`` GoEmotions training texts per label
    (:func:`per_label_sample`, ``seed``) with their labels as a DataFrame named by the
    labels, and the first ``n_test`` validation texts with their 0/1 labels."""
    import pandas as pd

    names, train_texts, Ytr, valid_texts, Yva = load_goemotions(data)
    idx = per_label_sample(Ytr, k, seed)
    return ([train_texts[i] for i in idx], pd.DataFrame(Ytr[idx], columns=names),
            valid_texts[:n_test], Yva[:n_test])


def probe_fit(X, Y, seed: int, params: dict | None = None, patches=()):
    """Fit ``TransformerMultiLabelClassifier(threshold="auto", max_length=64,
    random_state=seed, fit_cache=False, **params)`` with each ``(module, name, value)``
    of ``patches`` set during the fit (and put back after); returns the estimator and
    the fit's wall seconds."""
    import time

    from skbert import TransformerMultiLabelClassifier

    saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
    for module, name, value in patches:
        setattr(module, name, value)
    try:
        clf = TransformerMultiLabelClassifier(threshold="auto", max_length=64,
                                              random_state=seed, fit_cache=False,
                                              **(params or {}))
        start = time.time()
        clf.fit(X, Y)
        return clf, time.time() - start
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    """The command line: K SEED PARAMS_JSON [N_TEST] [--data FOLDER]."""
    ap = argparse.ArgumentParser(
        description=description or __doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("k", type=int, metavar="K", help="texts sampled per label")
    ap.add_argument("seed", type=int, metavar="SEED", help="sampling and random_state seed")
    ap.add_argument("params", type=json.loads, metavar="PARAMS_JSON",
                    help='estimator parameters as a JSON object, e.g. \'{"max_epochs": "auto"}\'')
    ap.add_argument("n_test", type=int, nargs="?", default=2000, metavar="N_TEST",
                    help="first validation texts scored (default: 2000)")
    ap.add_argument("--data", default=DEFAULT_DATA,
                    help="the shared data folder, with goemotions/ in it "
                         "(default: ../shared/data from the repository root)")
    return ap


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv``, fit once and print the JSON line."""
    args = build_parser().parse_args(argv)
    torch.set_num_threads(2)
    names, train_texts, Ytr, valid_texts, Yva = load_goemotions(args.data)
    K, seed, params, ntest = args.k, args.seed, args.params, args.n_test
    idx = per_label_sample(Ytr, K, seed)
    X = [train_texts[i] for i in idx]
    Y = Ytr[idx]
    clf = TransformerMultiLabelClassifier(
        threshold="auto", max_length=64, random_state=seed, fit_cache=False, **params)
    Yd = pd.DataFrame(Y, columns=names)
    t = time.time()
    clf.fit(X, Yd)
    ft = time.time() - t
    P = clf.predict_proba(valid_texts[:ntest])
    Yt = Yva[:ntest]
    pred = clf.predict(valid_texts[:ntest])
    print(json.dumps(dict(
        K=K, seed=seed, params=params, fit_s=round(ft, 1), epochs=clf.n_epochs_,
        lrap=round(lrap(Yt, P), 3),
        micro=round(f1_score(Yt, pred, average="micro", zero_division=0), 3),
        macro=round(f1_score(Yt, pred, average="macro", zero_division=0), 3))))


if __name__ == "__main__":
    main()

"""Would the fitted encoder's own similarities add to its head's ranking? (issue 22 probe)

Fits the defaults once (``fewshot_probe.probe_fit``), then reads the text vectors
the head sees (the fitted encoder's pooled output) for the training texts, the
label texts (readable names) and the first 2,000 validation texts, and scores
LRAP of the head's logits alone and with, added after a per-text z-score, the
cosine similarity of a text to each label's name, to the centroid of its
training texts, or to its nearest training text (1-NN). All three come from the
one fitted encoder: no second model at predict time. One JSON line.

    python bench/quality/probes/similarity_blend_probe.py 16 0 '{}'
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from fewshot_probe import probe_fit, probe_sample
from sklearn.metrics import label_ranking_average_precision_score as lrap

from skbert._data import pad_token_id
from skbert._estimator import encode_texts, inference_config
from skbert._label_init import label_texts, output_features
from skbert._training import predict_logits


def _z(a: np.ndarray) -> np.ndarray:
    return (a - a.mean(axis=1, keepdims=True)) / (a.std(axis=1, keepdims=True) + 1e-9)


def _unit(a: np.ndarray) -> np.ndarray:
    return a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-12)


def vectors(clf, texts) -> np.ndarray:
    """The vectors the head of ``clf`` reads, one row per text."""
    config = inference_config(clf, clf.device_, clf._predict_precision(clf.device_))
    with output_features(clf.model_):
        out = predict_logits(clf.model_, encode_texts(clf, clf.tokenizer_, list(texts), 0),
                             pad_token_id(clf.tokenizer_), config)
    return np.asarray(out, dtype=np.float64)


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    k, seed = int(argv[0]), int(argv[1])
    params = json.loads(argv[2]) if len(argv) > 2 else {}
    X, Yd, test_texts, Yt = probe_sample(k, seed, 2000)
    clf, fit_s = probe_fit(X, Yd, seed, params)
    Ytr = Yd.to_numpy()
    logits = clf.decision_function(test_texts).astype(np.float64)
    train = vectors(clf, X)
    mean = train.mean(axis=0)
    test = _unit(vectors(clf, test_texts) - mean)
    train_c = _unit(train - mean)
    names = _unit(vectors(clf, label_texts(clf.classes_, {})) - mean)
    centroids = _unit(np.stack([train_c[Ytr[:, j] == 1].mean(axis=0)
                                for j in range(Ytr.shape[1])]))
    sims = test @ train_c.T
    nn = np.stack([sims[:, Ytr[:, j] == 1].max(axis=1) for j in range(Ytr.shape[1])], axis=1)
    extra = {"names": test @ names.T, "centroids": test @ centroids.T, "nn": nn}
    out = dict(K=k, seed=seed, params=params, fit_s=round(fit_s, 1),
               final=round(lrap(Yt, logits), 4))
    for key, s in extra.items():
        out[key] = round(lrap(Yt, s), 4)
        for w in (0.2, 0.35, 0.5):
            out[f"{key}_{w}"] = round(lrap(Yt, (1 - w) * _z(logits) + w * _z(s)), 4)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

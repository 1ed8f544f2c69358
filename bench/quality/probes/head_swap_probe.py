"""Is it the encoder or the head that loses the start's ranking? (issue 22 probe)

Fits the defaults once with hooks that keep the start's weights (the logistic
head on the warmed encoder, before BCE) and its logits on the first 2,000
validation texts, then scores LRAP of: the start's head on the fitted encoder,
the fitted head on the start's encoder, the two-encoder blend (per-text
z-scored logits of the start and the fitted model, averaged) and the
one-encoder blend (the same with the start's head on the fitted encoder in
place of the start, weights 0.5 and 0.7). One JSON line.

    python bench/quality/probes/head_swap_probe.py 8 0 '{}'
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from fewshot_probe import probe_fit, probe_sample
from head_start_probe import start_hook
from sklearn.metrics import label_ranking_average_precision_score as lrap
from wise_probe import keep_weights

from skbert import _runner


def _z(a: np.ndarray) -> np.ndarray:
    return (a - a.mean(axis=1, keepdims=True)) / (a.std(axis=1, keepdims=True) + 1e-9)


def _logits(clf, texts) -> np.ndarray:
    p = clf.predict_proba(texts).astype(np.float64)
    return np.log(p + 1e-12) - np.log1p(-p + 1e-12)


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    k, seed = int(argv[0]), int(argv[1])
    params = json.loads(argv[2]) if len(argv) > 2 else {}
    X, Yd, texts, Yt = probe_sample(k, seed, 2000)
    kept, seen = {}, {}
    hook = keep_weights(start_hook(_runner._init_head, texts, Yt, seen), kept)
    clf, fit_s = probe_fit(X, Yd, seed, params, [(_runner, "_init_head", hook)])
    fitted = {n: v.detach().clone() for n, v in clf.model_.state_dict().items()}
    start = kept["start"]
    heads = [n for n in fitted if n.startswith("head.")]
    F = _logits(clf, texts)
    clf.model_.load_state_dict({**fitted, **{n: start[n] for n in heads}})
    B = _logits(clf, texts)  # the start's head on the fitted encoder
    clf.model_.load_state_dict({**start, **{n: fitted[n] for n in heads}})
    C = _logits(clf, texts)  # the fitted head on the start's encoder
    clf.model_.load_state_dict(start)
    S = _logits(clf, texts)
    clf.model_.load_state_dict(fitted)
    print(json.dumps(dict(
        K=k, seed=seed, params=params, fit_s=round(fit_s, 1), start=seen["start_lrap"],
        final=round(lrap(Yt, F), 4), start_head_fitted_enc=round(lrap(Yt, B), 4),
        fitted_head_start_enc=round(lrap(Yt, C), 4),
        blend_two_enc=round(lrap(Yt, _z(S) + _z(F)), 4),
        blend_one_enc=round(lrap(Yt, _z(B) + _z(F)), 4),
        blend_one_enc_07=round(lrap(Yt, 0.7 * _z(B) + 0.3 * _z(F)), 4))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

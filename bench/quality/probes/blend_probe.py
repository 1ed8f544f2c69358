"""Would the logistic start and the fitted model rank better together? (issue 22 probe)

Fits the defaults once (``fewshot_probe.probe_fit``) with a hook that keeps the
logits of the start (the logistic head on the warmed encoder, before BCE) on the
first 2,000 validation texts, then scores LRAP of blends of the start and the
fitted model: probabilities averaged, logits averaged, and per-text z-scored
logits averaged, with the start weighted 0.3, 0.5 and 0.7. A blend needs both
encoders at predict time; this only asks whether it would pay. One JSON line.

    python bench/quality/probes/blend_probe.py 8 0 '{}'
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from fewshot_probe import probe_fit, probe_sample
from head_start_probe import start_hook
from sklearn.metrics import label_ranking_average_precision_score as lrap

from skbert import _runner


def _z(a: np.ndarray) -> np.ndarray:
    return (a - a.mean(axis=1, keepdims=True)) / (a.std(axis=1, keepdims=True) + 1e-9)


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    k, seed = int(argv[0]), int(argv[1])
    params = json.loads(argv[2]) if len(argv) > 2 else {}
    X, Yd, test_texts, Yt = probe_sample(k, seed, 2000)
    kept = {}
    hook = start_hook(_runner._init_head, test_texts, Yt, {}, logits_out=kept)
    clf, fit_s = probe_fit(X, Yd, seed, params, [(_runner, "_init_head", hook)])
    start = kept["start"]
    proba = clf.predict_proba(test_texts)
    logits = np.log(proba + 1e-12) - np.log1p(-proba + 1e-12)
    start_proba = 1 / (1 + np.exp(-start))
    out = dict(K=k, seed=seed, params=params, fit_s=round(fit_s, 1),
               start=round(lrap(Yt, start), 4), final=round(lrap(Yt, proba), 4))
    for w in (0.3, 0.5, 0.7):
        out[f"prob_avg_{w}"] = round(lrap(Yt, w * start_proba + (1 - w) * proba), 4)
        out[f"logit_avg_{w}"] = round(lrap(Yt, w * start + (1 - w) * logits), 4)
        out[f"z_avg_{w}"] = round(lrap(Yt, w * _z(start) + (1 - w) * _z(logits)), 4)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

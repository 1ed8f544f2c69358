"""Few-shot GoEmotions fits with variants of the contrastive warm-up (issue 22 probe).

For one K and seed, samples the training texts as ``fewshot_probe`` does, then
fits ``TransformerMultiLabelClassifier(threshold="auto", max_length=64,
random_state=SEED, fit_cache=False, **params)`` once per variant and prints a
JSON line each: fit seconds, epochs, LRAP, micro- and macro-F1 on the first
N_TEST validation texts, and the warm-up's own log line (steps, seconds, loss).

A variant is a JSON object of estimator parameters plus, optionally, module
settings of ``skbert._contrastive`` for the probe: ``_freeze`` (bool,
``FREEZE_WORD_EMBEDDINGS``) and ``_steps`` (``AUTO_STEPS``). Runs on 1 torch thread.

    python bench/quality/probes/warmup_variants_probe.py 8 0 \\
        '{"new": {}, "nofreeze": {"_freeze": false}, "new200": {"_steps": 200}}'
"""

from __future__ import annotations

import json
import logging
import sys
import time

import pandas as pd
import torch
from fewshot_probe import DEFAULT_DATA, load_goemotions, per_label_sample
from sklearn.metrics import f1_score
from sklearn.metrics import label_ranking_average_precision_score as lrap

import skbert._contrastive as contrastive
from skbert import TransformerMultiLabelClassifier


class _Messages(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    k, seed, variants = int(argv[0]), int(argv[1]), json.loads(argv[2])
    n_test = int(argv[3]) if len(argv) > 3 else 2000
    log = _Messages()
    logger = logging.getLogger("skbert")
    logger.addHandler(log)
    logger.setLevel(logging.INFO)
    names, train_texts, Ytr, valid_texts, Yva = load_goemotions(DEFAULT_DATA)
    idx = per_label_sample(Ytr, k, seed)
    X = [train_texts[i] for i in idx]
    Yd = pd.DataFrame(Ytr[idx], columns=names)
    Yt = Yva[:n_test]
    for name, given in variants.items():
        params = dict(given)
        contrastive.FREEZE_WORD_EMBEDDINGS = params.pop("_freeze", True)
        contrastive.AUTO_STEPS = params.pop("_steps", 100)
        log.messages.clear()
        clf = TransformerMultiLabelClassifier(threshold="auto", max_length=64,
                                              random_state=seed, fit_cache=False, **params)
        start = time.time()
        clf.fit(X, Yd)
        fit_s = time.time() - start
        P = clf.predict_proba(valid_texts[:n_test])
        pred = clf.predict(valid_texts[:n_test])
        warm = [m for m in log.messages if "warm-up" in m]
        print(json.dumps(dict(
            name=name, K=k, seed=seed, params=given, fit_s=round(fit_s, 1),
            epochs=clf.n_epochs_, lrap=round(lrap(Yt, P), 4),
            micro=round(f1_score(Yt, pred, average="micro", zero_division=0), 4),
            macro=round(f1_score(Yt, pred, average="macro", zero_division=0), 4),
            warm=warm[-1:])), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

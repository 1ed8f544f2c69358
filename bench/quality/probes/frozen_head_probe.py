"""After the warm-up and the logistic start, train only the head (issue 22 probe).

As ``head_start_probe.py`` (same sample, hook and scores), but the hook also
freezes the encoder right after the head starts, so the BCE epochs train the
head alone on the warmed vectors: does BCE keep the start's ranking when the
encoder cannot move? Prints one JSON line per variant. Runs on 1 torch thread.

    python bench/quality/probes/frozen_head_probe.py 8 0 '{"frozen10": {"max_epochs": 10}}'
"""

from __future__ import annotations

import json
import sys

import torch
from fewshot_probe import probe_fit, probe_sample
from head_start_probe import start_hook
from sklearn.metrics import f1_score
from sklearn.metrics import label_ranking_average_precision_score as lrap

from skbert import _runner


def freezing_hook(hook):
    """``hook`` (a stand-in for ``_runner._init_head``), then the encoder frozen."""
    def run(est, model, *args, **kwargs):
        hook(est, model, *args, **kwargs)
        for p in model.backbone.parameters():
            p.requires_grad_(False)
    return run


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    k, seed, variants = int(argv[0]), int(argv[1]), json.loads(argv[2])
    n_test = int(argv[3]) if len(argv) > 3 else 2000
    X, Yd, test_texts, Yt = probe_sample(k, seed, n_test)
    real = _runner._init_head
    for name, params in variants.items():
        seen = {}
        hook = freezing_hook(start_hook(real, test_texts, Yt, seen))
        clf, fit_s = probe_fit(X, Yd, seed, params, [(_runner, "_init_head", hook)])
        P = clf.predict_proba(test_texts)
        pred = clf.predict(test_texts)
        print(json.dumps(dict(
            name=name, K=k, seed=seed, params=params, frozen_encoder=True,
            fit_s=round(fit_s, 1), **seen, lrap=round(lrap(Yt, P), 4),
            micro=round(f1_score(Yt, pred, average="micro", zero_division=0), 4),
            macro=round(f1_score(Yt, pred, average="macro", zero_division=0), 4))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

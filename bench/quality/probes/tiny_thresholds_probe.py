"""With one or two texts per label, which threshold rule gives the best F1? (issue 22 probe)

Fits the defaults (``threshold="auto"``: a validation split of 10 %, thresholds tuned
on it) and the same with ``threshold=0.5`` (no split: every text trains), then scores
the first N_TEST validation texts with each fit's own ``predict``, with the top label
only, and (the second fit) with fixed thresholds 0.3 and 0.7 and ``min_labels=1``.
One JSON line per fit.

    python bench/quality/probes/tiny_thresholds_probe.py 1 0 [N_TEST [auto|fixed05 ...]]
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
from fewshot_probe import probe_fit, probe_sample
from sklearn.metrics import f1_score
from sklearn.metrics import label_ranking_average_precision_score as lrap

from skbert import TransformerMultiLabelClassifier


def _scores(Yt, pred) -> dict:
    return {"micro": round(f1_score(Yt, pred, average="micro", zero_division=0), 4),
            "macro": round(f1_score(Yt, pred, average="macro", zero_division=0), 4)}


def _top1(P) -> np.ndarray:
    out = np.zeros_like(P, dtype=int)
    out[np.arange(len(P)), P.argmax(axis=1)] = 1
    return out


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    k, seed = int(argv[0]), int(argv[1])
    n_test = int(argv[2]) if len(argv) > 2 else 2000
    X, Yd, test_texts, Yt = probe_sample(k, seed, n_test)
    names = sys.argv[4:] if len(sys.argv) > 4 else ["auto", "fixed05"]
    for name in names:
        if name == "auto":
            clf, fit_s = probe_fit(X, Yd, seed, {})
        else:  # probe_fit pins threshold="auto": the same estimator, a fixed threshold
            start = time.time()
            clf = TransformerMultiLabelClassifier(threshold=0.5, max_length=64,
                                                  random_state=seed, fit_cache=False)
            clf.fit(X, Yd)
            fit_s = time.time() - start
        P = clf.predict_proba(test_texts)
        out = dict(probe=f"tiny_thresholds_probe.py {k} {seed}", name=name, K=k, seed=seed,
                   fit_s=round(fit_s, 1), lrap=round(lrap(Yt, P), 4), n_test=n_test,
                   own=_scores(Yt, clf.predict(test_texts)), top1=_scores(Yt, _top1(P)))
        if name == "fixed05":
            for t in (0.3, 0.7):
                clf.set_params(threshold=t)
                out[f"t{t}"] = _scores(Yt, clf.predict(test_texts))
        else:
            out["thresholds"] = [round(float(t), 3) for t in np.ravel(clf.thresholds_)][:28]
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
